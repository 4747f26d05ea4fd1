/**
 * Stack specs reach hosts at run time, through the synthesized document: its aws:downloadContent
 * step fetches specs/v1/<stack>.spec (served here by the local runner as S3 would), and the
 * script reads it. A missing spec or one of an unknown format is refused with a clear result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthResult } from '../../lib/results/health.js';
import { fleetSpecs, specKey } from '../../lib/runbooks/spec.js';
import { documentsOf, runDocument, type CommandDocument } from '../support/document-runner.js';
import { FakeHost, running } from '../support/fake-host.js';
import { demoFleet } from '../support/fleets.js';
import { synthFleet } from '../support/synth.js';

let doc: CommandDocument;
let host: FakeHost;
// No compose directory: the fake host has none, and the disk probe would report it.
const fleet = demoFleet((f) => delete f.stacks[0]!.composeDir);
beforeAll(() => {
  doc = Object.values(documentsOf(synthFleet(fleet).template.toJSON() as never)).find((d) => d.mainSteps.at(-1)!.name === 'healthCheck')!;
  host = new FakeHost({ 'web-api-1': running(), 'web-db-1': running() });
});
afterAll(() => host.dispose());

describe('stack specs fetched at run time', () => {
  it('runs the probes of the spec the agent fetched for the stack', async () => {
    // Act
    const run = await runDocument(doc, { Stack: 'web', RunId: 'spec-1' }, { env: host.env(), specs: fleetSpecs(fleet) });
    // Assess
    const result = HealthResult.parse(JSON.parse(run.stdout));
    expect(run.status).toBe('Success');
    expect(result.errors).toEqual([]);
    expect(result.containers.map((c) => c.service)).toEqual(['api', 'db']);
  });

  it('sees a spec change without a new document', async () => {
    // Prepare: the same document, a spec with one service less
    const changed = demoFleet((f) => {
      delete f.stacks[0]!.composeDir;
      f.stacks[0]!.services = [f.stacks[0]!.services[0]!];
    });
    // Act
    const run = await runDocument(doc, { Stack: 'web', RunId: 'spec-2' }, { env: host.env(), specs: fleetSpecs(changed) });
    // Assess
    expect(HealthResult.parse(JSON.parse(run.stdout)).containers.map((c) => c.service)).toEqual(['api']);
  });

  it('fails when the stack has no spec, and says so in its one result', async () => {
    // Act: a valid stack name that is not in the config
    const run = await runDocument(doc, { Stack: 'ghost', RunId: 'spec-3' }, { env: host.env(), specs: fleetSpecs(fleet) });
    // Assess
    expect(run.status).toBe('Failed');
    const result = HealthResult.parse(JSON.parse(run.stdout));
    expect(result.errors[0]).toMatch(/^no spec for stack ghost: .*shipshape-spec\/ghost\.spec was not fetched/);
    expect(result.containers).toEqual([]);
  });

  it('fails when the fetched spec has a format the script does not know, and probes nothing', async () => {
    // Prepare
    const specs = new Map(fleetSpecs(fleet));
    specs.set(specKey('web'), specs.get(specKey('web'))!.replace(/^shipshape-spec\t1/, 'shipshape-spec\t2'));
    const before = host.calls().length;
    // Act
    const run = await runDocument(doc, { Stack: 'web', RunId: 'spec-4' }, { env: host.env(), specs });
    // Assess
    const result = HealthResult.parse(JSON.parse(run.stdout));
    expect(result.errors).toEqual(['spec format shipshape-spec?2 is not supported by this script (it reads format 1): deploy matching documents and specs']);
    expect(result.containers).toEqual([]);
    expect(host.calls().slice(before).filter((c) => c.includes('inspect') || c.includes('exec'))).toEqual([]);
  });
});
