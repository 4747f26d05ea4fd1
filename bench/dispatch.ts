/**
 * Dispatch at scale against a simulated SSM: every SendCommand costs `latencyMs` of
 * virtual time and a token bucket throttles the account's SendCommand rate. The shipped
 * dispatcher (one command per stack by tag, or per 50 instance IDs) runs side by side
 * with a naive loop that sends one command per host, through the same backoff.
 */
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { dispatch } from '../lambdas/dispatcher/dispatch.js';
import { withBackoff } from '../lambdas/shared/retry.js';
import { parseFleet } from '../lib/config/load.js';

export interface DispatchRow { hosts: number; selector: string; strategy: string; calls: number; throttled: number; failed: number; virtualSeconds: number }

interface Sim { now: number; tokens: number; last: number; calls: number; throttled: number }

export function simulatedSsm(opts: { latencyMs: number; ratePerSecond: number; burst: number }) {
  const sim: Sim = { now: 0, tokens: opts.burst, last: 0, calls: 0, throttled: 0 };
  const mock = mockClient(SSMClient);
  mock.on(SendCommandCommand).callsFake(async () => {
    sim.calls++;
    sim.tokens = Math.min(opts.burst, sim.tokens + ((sim.now - sim.last) / 1000) * opts.ratePerSecond);
    sim.last = sim.now;
    sim.now += opts.latencyMs;
    if (sim.tokens < 1) {
      sim.throttled++;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    }
    sim.tokens -= 1;
    return { Command: { CommandId: `cmd-${sim.calls}` } };
  });
  const sleep = async (ms: number) => { sim.now += ms; };
  return { sim, mock, client: new SSMClient({ region: 'us-east-1' }), sleep };
}

let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

/** The dispatcher's calls with the same jittered backoff as the naive baseline (the SDK's own retries are off in this simulation). */
async function dispatchWithBackoff(client: Parameters<typeof dispatch>[0], ctx: Parameters<typeof dispatch>[1], sleep: (ms: number) => Promise<void>, random: () => number) {
  const retrying = { send: (cmd: Parameters<typeof client.send>[0]) => withBackoff(() => client.send(cmd), { sleep, random }) } as Parameters<typeof dispatch>[0];
  return dispatch(retrying, ctx, { runbook: 'health-check', stack: 'app', trigger: 'schedule' });
}

export async function benchDispatch(sizes = [1, 100, 1000, 5000]): Promise<DispatchRow[]> {
  const rows: DispatchRow[] = [];
  const opts = { latencyMs: 60, ratePerSecond: 10, burst: 20 };
  for (const n of sizes) {
    const ids = Array.from({ length: n }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);
    for (const selector of ['tag', 'instanceIds'] as const) {
      const fleet = parseFleet({
        fleet: 'bench',
        stacks: [{ name: 'app', hosts: selector === 'tag' ? { tag: { key: 'Role', value: 'app' } } : { instanceIds: ids.slice(0, 1000) }, services: [{ name: 'app', container: 'app' }] }],
      });
      if (selector === 'instanceIds' && n > 1000) continue; // the config caps ID lists at 1,000; larger fleets use tags
      // Shipped dispatcher
      {
        const { sim, mock, client, sleep } = simulatedSsm(opts);
        const fleetForN = selector === 'instanceIds' ? parseFleet({ ...fleet, stacks: [{ ...fleet.stacks[0]!, hosts: { instanceIds: ids } }] }) : fleet;
        let failed = 0;
        await dispatchWithBackoff(client, { fleet: fleetForN, documents: { 'health-check': 'Doc' }, outputBucket: 'b' }, sleep, random).catch(() => failed++);
        rows.push({ hosts: n, selector, strategy: 'shipshape', calls: sim.calls, throttled: sim.throttled, failed, virtualSeconds: sim.now / 1000 });
        mock.restore();
      }
      // Naive baseline: one SendCommand per host, same backoff
      {
        const { sim, mock, client, sleep } = simulatedSsm(opts);
        let failed = 0;
        for (const id of ids) {
          await withBackoff(() => client.send(new SendCommandCommand({ DocumentName: 'Doc', InstanceIds: [id] })), { sleep, random }).catch(() => failed++);
        }
        rows.push({ hosts: n, selector, strategy: 'naive per host', calls: sim.calls, throttled: sim.throttled, failed, virtualSeconds: sim.now / 1000 });
        mock.restore();
      }
    }
  }
  return rows;
}
