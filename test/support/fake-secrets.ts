/**
 * One in-memory Secrets Manager for the rotation tests (unit and e2e), over aws-sdk-client-mock:
 * versions with their staging labels, values and creation dates, as the API reference describes
 * them:
 *   - UpdateSecretVersionStage refuses to move a label another version holds unless that version
 *     is named in RemoveFromVersionId; moving AWSCURRENT puts AWSPREVIOUS on the version it left
 *     (and, as a finished rotation does, takes AWSPENDING off the new current version);
 *   - RotateSecret refuses while AWSPENDING is on a version that is not AWSCURRENT, else labels a
 *     new version AWSPENDING (without a value: createSecret puts it) and says which;
 *   - LastRotatedDate is set when AWSCURRENT moves onto a version that was AWSPENDING.
 * With `stageDir`, the value of each stage is also kept in a file of that name, which is what
 * the fake hosts' AWS CLI reads (`--version-stage X` prints stageDir/X).
 */
import {
  DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, PutSecretValueCommand, RotateSecretCommand, SecretsManagerClient, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const fail = (name: string, message: string) => Object.assign(new Error(message), { name });

export interface FakeSecretOptions {
  readonly arn: string;
  readonly name: string;
  /** Version ID to value; the first is AWSCURRENT unless `stages` says otherwise. */
  readonly values: Record<string, string>;
  readonly stages?: Record<string, string[]>;
  readonly created?: Record<string, Date>;
  readonly lastRotated?: Date;
  readonly rotationEnabled?: boolean;
}

class Secret {
  stages: Record<string, string[]>;
  values: Record<string, string>;
  created: Record<string, Date>;
  lastRotated: Date | undefined;
  constructor(readonly arn: string, readonly name: string, o: FakeSecretOptions, now: () => Date, readonly rotationEnabled = true) {
    this.values = { ...o.values };
    const first = Object.keys(o.values)[0];
    this.stages = structuredClone(o.stages ?? (first ? { [first]: ['AWSCURRENT'] } : {}));
    this.created = { ...Object.fromEntries(Object.keys(this.stages).map((v) => [v, now()])), ...o.created };
    this.lastRotated = o.lastRotated;
  }
  holder(label: string): string | undefined {
    return Object.entries(this.stages).find(([, s]) => s.includes(label))?.[0];
  }
}

export class FakeSecretsManager {
  readonly mock = mockClient(SecretsManagerClient);
  readonly client = new SecretsManagerClient({ region: 'us-east-1' });
  private readonly secrets: Secret[] = [];
  private seq = 0;
  now: () => Date = () => new Date();

  constructor(private readonly stageDir?: string) {
    if (stageDir) mkdirSync(stageDir, { recursive: true });
    this.mock.on(DescribeSecretCommand).callsFake(({ SecretId }) => {
      const s = this.find(SecretId);
      return { ARN: s.arn, Name: s.name, RotationEnabled: s.rotationEnabled, VersionIdsToStages: structuredClone(s.stages), LastRotatedDate: s.lastRotated, CreatedDate: new Date('2026-01-01T00:00:00Z') };
    });
    this.mock.on(GetSecretValueCommand).callsFake(({ SecretId, VersionId, VersionStage }) => {
      const s = this.find(SecretId);
      const v = VersionId ?? s.holder(VersionStage ?? 'AWSCURRENT');
      if (!v || s.values[v] === undefined || (VersionStage && !(s.stages[v] ?? []).includes(VersionStage))) throw fail('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId ${v ?? '-'} and stage ${VersionStage ?? '-'}`);
      return { ARN: s.arn, Name: s.name, VersionId: v, SecretString: s.values[v], VersionStages: [...(s.stages[v] ?? [])] };
    });
    this.mock.on(PutSecretValueCommand).callsFake(({ SecretId, ClientRequestToken, SecretString, VersionStages }) => {
      const s = this.find(SecretId);
      if (s.values[ClientRequestToken] !== undefined) {
        if (s.values[ClientRequestToken] !== SecretString) throw fail('ResourceExistsException', `You can't use ClientRequestToken ${ClientRequestToken} because that value is already in use for a version of secret ${s.arn}`);
        return { ARN: s.arn, VersionId: ClientRequestToken };
      }
      s.values[ClientRequestToken] = SecretString;
      s.created[ClientRequestToken] ??= this.now();
      for (const label of VersionStages ?? ['AWSCURRENT']) this.attach(s, label, ClientRequestToken);
      this.sync();
      return { ARN: s.arn, VersionId: ClientRequestToken, VersionStages };
    });
    this.mock.on(UpdateSecretVersionStageCommand).callsFake(({ SecretId, VersionStage, MoveToVersionId, RemoveFromVersionId }) => {
      const s = this.find(SecretId);
      const holder = s.holder(VersionStage);
      if (RemoveFromVersionId && holder !== RemoveFromVersionId) throw fail('InvalidParameterException', `The staging label ${VersionStage} is not attached to version ${RemoveFromVersionId}`);
      if (MoveToVersionId) {
        if (!s.stages[MoveToVersionId]) throw fail('ResourceNotFoundException', `no version ${MoveToVersionId}`);
        if (holder && holder !== MoveToVersionId && holder !== RemoveFromVersionId) throw fail('InvalidParameterException', `The staging label ${VersionStage} is currently attached to version ${holder}, so you must explicitly reference that version in RemoveFromVersionId.`);
        const wasPending = (s.stages[MoveToVersionId] ?? []).includes('AWSPENDING');
        this.attach(s, VersionStage, MoveToVersionId);
        if (VersionStage === 'AWSCURRENT' && holder && holder !== MoveToVersionId) this.attach(s, 'AWSPREVIOUS', holder);
        if (VersionStage === 'AWSCURRENT' && wasPending) {
          s.stages[MoveToVersionId] = s.stages[MoveToVersionId]!.filter((x) => x !== 'AWSPENDING');
          s.lastRotated = this.now();
        }
      } else if (RemoveFromVersionId) {
        s.stages[RemoveFromVersionId] = s.stages[RemoveFromVersionId]!.filter((x) => x !== VersionStage);
      }
      this.sync();
      return { ARN: s.arn, Name: s.name };
    });
    this.mock.on(ListSecretVersionIdsCommand).callsFake(({ SecretId }) => {
      const s = this.find(SecretId);
      return { ARN: s.arn, Name: s.name, Versions: Object.entries(s.stages).map(([VersionId, VersionStages]) => ({ VersionId, VersionStages: [...VersionStages], CreatedDate: s.created[VersionId] })) };
    });
    this.mock.on(RotateSecretCommand).callsFake(({ SecretId, ClientRequestToken }) => {
      const s = this.find(SecretId);
      const pending = s.holder('AWSPENDING');
      if (pending && !(s.stages[pending] ?? []).includes('AWSCURRENT')) throw fail('InvalidRequestException', `A previous rotation isn't complete. That rotation will be reattempted.`);
      const v = ClientRequestToken ?? `v-rot-${String(++this.seq).padStart(4, '0')}-0000-0000-000000000000`;
      s.stages[v] = [];
      s.created[v] = this.now();
      this.attach(s, 'AWSPENDING', v);
      this.sync();
      return { ARN: s.arn, Name: s.name, VersionId: v };
    });
  }

  add(o: FakeSecretOptions): this {
    this.secrets.push(new Secret(o.arn, o.name, o, this.now, o.rotationEnabled ?? true));
    this.sync();
    return this;
  }

  /** Labels by version, and values by version, of one secret. */
  versions(id: string): Record<string, string[]> {
    return structuredClone(this.find(id).stages);
  }

  value(id: string, version: string): string | undefined {
    return this.find(id).values[version];
  }

  /** Every value ever stored, for leak scans. */
  allValues(): string[] {
    return this.secrets.flatMap((s) => Object.values(s.values));
  }

  holder(id: string, label: string): string | undefined {
    return this.find(id).holder(label);
  }

  /** As RotateSecret leaves it before createSecret: a new version labelled AWSPENDING, without a value. */
  startRotation(id: string, token: string): void {
    const s = this.find(id);
    s.stages[token] = [];
    s.created[token] = this.now();
    this.attach(s, 'AWSPENDING', token);
    this.sync();
  }

  reset(): void {
    this.secrets.length = 0;
    this.mock.resetHistory();
    this.sync();
  }

  restore(): void {
    this.mock.restore();
  }

  private find(id: string): Secret {
    const s = this.secrets.find((x) => x.arn === id || x.name === id || id.startsWith(`${x.arn.replace(/-[A-Za-z0-9]{6}$/, '')}`));
    if (!s) throw fail('ResourceNotFoundException', `Secrets Manager can't find the specified secret ${id}`);
    return s;
  }

  private attach(s: Secret, label: string, to: string): void {
    for (const v of Object.keys(s.stages)) s.stages[v] = s.stages[v]!.filter((x) => x !== label);
    s.stages[to] = [...(s.stages[to] ?? []), label];
  }

  private sync(): void {
    if (!this.stageDir) return;
    const s = this.secrets[0];
    for (const stage of ['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']) {
      const v = s?.holder(stage);
      if (s && v && s.values[v] !== undefined) writeFileSync(join(this.stageDir, stage), `${s.values[v]}\n`);
      else rmSync(join(this.stageDir, stage), { force: true });
    }
  }
}
