/**
 * Alert state, silences and run history in one DynamoDB table (pk/sk, TTL on expiresAt).
 *   ALERT#<stack>#<host>   <runbook>#<check>#<target>   open alert states (ok ones are deleted)
 *   SILENCE                <id>                          one-off silences
 *   RUN#<stack>            <time>#<runbook>#<host>        run history, kept runHistoryDays
 *   OUTBOX#<commandId>     <host>#<n>                    notices waiting for the command to finish
 *   OUTBOX#<commandId>     #flushed                       the command finished; send at once
 *   BACKUP#<stack>#<host>  sizes                         recent verified archive sizes per source
 *   REMEDIATION#<stack>#<host> restarts                  recent automatic restarts per service
 *   SEEN#<stack>           <runbook>#<host>              last run of a runbook on a host (the watchdog reads it)
 *   SEEN#<stack>           backup-verified#<host>        last verified backup of a host
 *   DISPATCH#<stack>       <runbook>                     last dispatch of a runbook to the stack
 *   WATCH                  <stack>#<runbook>             since when the watchdog expects a scheduled runbook
 */
import { BatchWriteCommand, DeleteCommand, GetCommand, paginateQuery, PutCommand, UpdateCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Finding } from '../../lib/results/findings.js';
import type { AlertState, Notice } from './alert-state.js';
import type { HostOutcome } from './outcome.js';
import type { Silence } from './silences.js';

export interface StoredAlert {
  readonly key: string;
  readonly state: AlertState;
  readonly commandId: string;
  readonly finding: Finding;
}

export interface RunRecord {
  readonly stack: string;
  readonly host: string;
  readonly runbook: string;
  readonly runId: string;
  readonly commandId: string;
  readonly status: string;
  readonly at: number;
  readonly critical: number;
  readonly warning: number;
  readonly notices: number;
  /** What shipshape did about it (automatic restarts). */
  readonly actions?: string[];
  /** A backup run whose archives were verified. */
  readonly verified?: boolean;
}

/** Pseudo-runbook under which the last verified backup of a host is kept in SEEN#<stack>. */
export const VERIFIED_BACKUP = 'backup-verified';

/** The last time a host reported a runbook (or, as VERIFIED_BACKUP, its last verified backup). */
export interface SeenRecord {
  readonly runbook: string;
  readonly host: string;
  readonly at: number;
  readonly runId: string;
  readonly commandId: string;
  readonly status: string;
}

/** The last dispatch of a runbook to a stack, as the dispatcher recorded it. */
export interface DispatchRecord {
  readonly at: number;
  readonly runId: string;
  readonly commandIds: string[];
  /** The targets, for people: e.g. "tag Role=web" or "3 instance IDs". */
  readonly targets: string;
}

/** Seen and dispatch items outlive the longest backup age the schema allows (2,160 h = 90 days). */
export const SEEN_DAYS = 100;

/** A notice with the host it belongs to, parked until the whole command has finished. */
export interface OutboxEntry {
  readonly id: string;
  readonly host: Omit<HostOutcome, 'findings'>;
  readonly notice: Notice;
}

export interface StateStore {
  /** Restart times per service of a host, for the remediation cap. */
  remediations(stack: string, host: string): Promise<Record<string, number[]>>;
  /** Appends a restart (once per time stamp, also when two deliveries race). */
  recordRemediation(stack: string, host: string, service: string, at: number): Promise<void>;
  /** Sizes of the last verified archives of each source of a host, oldest first. */
  backupSizes(stack: string, host: string): Promise<Record<string, number[]>>;
  /**
   * Appends one verified run's sizes, once per run: false when this run's sizes were already
   * recorded (a redelivered event), so the caller does not mark it verified again.
   */
  recordBackupSizes(stack: string, host: string, sizes: Record<string, number>, runId?: string): Promise<boolean>;
  /** Parks notices of one host of a command. */
  addOutbox(commandId: string, entries: OutboxEntry[]): Promise<void>;
  /** Takes the parked notices of a command; each entry is handed out once, whoever asks. */
  claimOutbox(commandId: string): Promise<OutboxEntry[]>;
  markFlushed(commandId: string): Promise<void>;
  isFlushed(commandId: string): Promise<boolean>;
  loadAlerts(stack: string, host: string): Promise<Map<string, StoredAlert>>;
  /** Writes open states and deletes closed ones. */
  saveAlerts(stack: string, host: string, open: StoredAlert[], closed: string[]): Promise<void>;
  activeSilences(now: number): Promise<Silence[]>;
  putSilence(silence: Silence): Promise<void>;
  recordRun(run: RunRecord): Promise<void>;
  /** The newest runs of a stack, newest first. */
  recentRuns(stack: string, limit: number): Promise<RunRecord[]>;
  /** Last run per runbook and host of a stack, and last verified backup per host (runbook VERIFIED_BACKUP); one Query. */
  lastSeen(stack: string): Promise<SeenRecord[]>;
  recordDispatch(stack: string, runbook: string, dispatch: DispatchRecord): Promise<void>;
  /** Last dispatch per runbook of a stack; one Query. */
  lastDispatches(stack: string): Promise<Record<string, DispatchRecord>>;
  /** Since when the watchdog expects each scheduled runbook, by "<stack>#<runbook>"; one Query for the fleet. */
  watchMarks(): Promise<Record<string, number>>;
  setWatchMarks(set: Record<string, number>, remove: string[]): Promise<void>;
}

const DAY_S = 86_400;
/** Verified sizes kept per source for the size-drop check. */
export const BACKUP_SIZE_HISTORY = 10;

export class DynamoStateStore implements StateStore {
  constructor(
    /** A real client (the SDK's paginators check it); aws-sdk-client-mock stubs its send in tests. */
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly runHistoryDays = 30,
  ) {}

  // History lists are appended in place (list_append with a condition), never read, changed
  // and written back: two concurrent runs cannot lose each other's update, and a redelivered
  // event cannot append twice. One item per service or source; the single-item layout of
  // earlier versions ("restarts", "sizes") is still read.

  async remediations(stack: string, host: string): Promise<Record<string, number[]>> {
    const items = await this.query({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `REMEDIATION#${stack}#${host}` }, ConsistentRead: true });
    const out: Record<string, number[]> = { ...((items.find((i) => i.sk === 'restarts')?.restarts as Record<string, number[]> | undefined) ?? {}) };
    for (const i of items) if (String(i.sk).startsWith('restarts#')) out[String(i.sk).slice('restarts#'.length)] = (i.restarts as number[]).slice(-20);
    return out;
  }

  async recordRemediation(stack: string, host: string, service: string, at: number): Promise<void> {
    await this.append({ pk: `REMEDIATION#${stack}#${host}`, sk: `restarts#${service}` }, 'restarts', at, String(at), Math.ceil(at / 1000) + 7 * DAY_S, 20);
  }

  async backupSizes(stack: string, host: string): Promise<Record<string, number[]>> {
    const items = await this.query({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `BACKUP#${stack}#${host}` }, ConsistentRead: true });
    const out: Record<string, number[]> = { ...((items.find((i) => i.sk === 'sizes')?.sizes as Record<string, number[]> | undefined) ?? {}) };
    for (const i of items) if (String(i.sk).startsWith('sizes#')) out[String(i.sk).slice('sizes#'.length)] = (i.sizes as number[]).slice(-BACKUP_SIZE_HISTORY);
    return out;
  }

  async recordBackupSizes(stack: string, host: string, sizes: Record<string, number>, runId?: string): Promise<boolean> {
    let fresh = false;
    for (const [source, bytes] of Object.entries(sizes)) {
      if (await this.append({ pk: `BACKUP#${stack}#${host}`, sk: `sizes#${source}` }, 'sizes', bytes, runId ?? `at-${Date.now()}`, undefined, BACKUP_SIZE_HISTORY)) fresh = true;
    }
    return fresh;
  }

  /**
   * Appends a value to a list item unless this event (`eventId`) was appended already; keeps
   * the list short with a trim that only applies if nobody appended in between. False when the
   * event was there.
   */
  private async append(key: { pk: string; sk: string }, list: string, value: number, eventId: string, expiresAt: number | undefined, keep: number): Promise<boolean> {
    let after: Record<string, unknown> | undefined;
    try {
      const r = await this.doc.send(new UpdateCommand({
        TableName: this.table, Key: key, ReturnValues: 'ALL_NEW',
        UpdateExpression: `SET #list = list_append(if_not_exists(#list, :empty), :v), #events = list_append(if_not_exists(#events, :empty), :e)${expiresAt ? ', expiresAt = :exp' : ''}`,
        ConditionExpression: 'attribute_not_exists(#events) OR NOT contains(#events, :id)',
        ExpressionAttributeNames: { '#list': list, '#events': 'events' },
        ExpressionAttributeValues: { ':empty': [], ':v': [value], ':e': [eventId], ':id': eventId, ...(expiresAt ? { ':exp': expiresAt } : {}) },
      }));
      after = r.Attributes;
    } catch (err) {
      if ((err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
    const values = (after?.[list] as number[] | undefined) ?? [];
    const events = (after?.events as string[] | undefined) ?? [];
    if (values.length > 2 * keep) {
      try {
        await this.doc.send(new UpdateCommand({
          TableName: this.table, Key: key,
          UpdateExpression: 'SET #list = :vals, #events = :evs',
          ConditionExpression: 'size(#events) = :n',
          ExpressionAttributeNames: { '#list': list, '#events': 'events' },
          ExpressionAttributeValues: { ':vals': values.slice(-keep), ':evs': events.slice(-keep), ':n': events.length },
        }));
      } catch (err) {
        // Someone appended meanwhile: the next append trims.
        if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
      }
    }
    return true;
  }

  async addOutbox(commandId: string, entries: OutboxEntry[]): Promise<void> {
    const expiresAt = Math.ceil(Date.now() / 1000) + 2 * DAY_S;
    for (const e of entries) {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: `OUTBOX#${commandId}`, sk: e.id, entry: e, expiresAt } }));
    }
  }

  async claimOutbox(commandId: string): Promise<OutboxEntry[]> {
    const items = await this.query({
      TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `OUTBOX#${commandId}` }, ConsistentRead: true,
    });
    const claimed: OutboxEntry[] = [];
    for (const item of items) {
      if (item.sk === '#flushed') continue;
      try {
        // The conditional delete is the claim: of two callers, exactly one wins.
        await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: item.pk, sk: item.sk }, ConditionExpression: 'attribute_exists(pk)' }));
        claimed.push(item.entry as OutboxEntry);
      } catch (err) {
        if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
      }
    }
    return claimed;
  }

  async markFlushed(commandId: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: `OUTBOX#${commandId}`, sk: '#flushed', expiresAt: Math.ceil(Date.now() / 1000) + 2 * DAY_S } }));
  }

  async isFlushed(commandId: string): Promise<boolean> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: `OUTBOX#${commandId}`, sk: '#flushed' }, ConsistentRead: true }));
    return r.Item !== undefined;
  }

  async loadAlerts(stack: string, host: string): Promise<Map<string, StoredAlert>> {
    const out = new Map<string, StoredAlert>();
    for (const item of await this.queryAll(`ALERT#${stack}#${host}`)) {
      out.set(item.sk as string, { key: item.sk as string, state: item.state as AlertState, commandId: item.commandId as string, finding: item.finding as Finding });
    }
    return out;
  }

  async saveAlerts(stack: string, host: string, open: StoredAlert[], closed: string[]): Promise<void> {
    const pk = `ALERT#${stack}#${host}`;
    const writes = [
      ...open.map((a) => ({ PutRequest: { Item: { pk, sk: a.key, state: a.state, commandId: a.commandId, finding: a.finding, updatedAt: Date.now() } } })),
      ...closed.map((sk) => ({ DeleteRequest: { Key: { pk, sk } } })),
    ];
    await this.batchWrite(writes, 'alert state writes');
  }

  async activeSilences(now: number): Promise<Silence[]> {
    return (await this.queryAll('SILENCE')).map((i) => i.silence as Silence).filter((s) => s.until > now);
  }

  async putSilence(silence: Silence): Promise<void> {
    await this.doc.send(new PutCommand({
      TableName: this.table,
      Item: { pk: 'SILENCE', sk: silence.id, silence, expiresAt: Math.ceil(silence.until / 1000) + DAY_S },
    }));
  }

  /** The newest `limit` runs; a page can end at 1 MB before `limit` items, so the paginator reads on until there are enough. */
  async recentRuns(stack: string, limit: number): Promise<RunRecord[]> {
    const items: Record<string, unknown>[] = [];
    const input: QueryCommandInput = { TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `RUN#${stack}` }, ScanIndexForward: false };
    for await (const page of paginateQuery({ client: this.doc, pageSize: limit }, input)) {
      items.push(...(page.Items ?? []));
      if (items.length >= limit) break;
    }
    return items.slice(0, limit).map(({ pk: _pk, sk: _sk, expiresAt: _e, ...run }) => run as unknown as RunRecord);
  }

  async recordRun(run: RunRecord): Promise<void> {
    await this.doc.send(new PutCommand({
      TableName: this.table,
      Item: { pk: `RUN#${run.stack}`, sk: `${new Date(run.at).toISOString()}#${run.runbook}#${run.host}`, ...run, expiresAt: Math.ceil(run.at / 1000) + this.runHistoryDays * DAY_S },
    }));
    await this.markSeen(run, run.runbook);
    if (run.verified) await this.markSeen(run, VERIFIED_BACKUP);
  }

  /**
   * Moves last-seen forward only, so a result processed late never hides a newer one. A
   * conditional PutItem (not UpdateItem), so the result function needs no new permission.
   */
  private async markSeen(run: RunRecord, runbook: string): Promise<void> {
    try {
      await this.doc.send(new PutCommand({
        TableName: this.table,
        Item: {
          pk: `SEEN#${run.stack}`, sk: `${runbook}#${run.host}`, at: run.at, runId: run.runId, commandId: run.commandId, status: run.status,
          expiresAt: Math.ceil(run.at / 1000) + SEEN_DAYS * DAY_S,
        },
        ConditionExpression: 'attribute_not_exists(#at) OR #at <= :at',
        ExpressionAttributeNames: { '#at': 'at' },
        ExpressionAttributeValues: { ':at': run.at },
      }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
    }
  }

  private queryAll(pk: string): Promise<Record<string, unknown>[]> {
    return this.query({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk } });
  }

  /** Every item of a Query, through the SDK's paginator (a page ends at 1 MB). */
  private async query(input: QueryCommandInput): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for await (const page of paginateQuery({ client: this.doc }, input)) items.push(...(page.Items ?? []));
    return items;
  }

  async lastSeen(stack: string): Promise<SeenRecord[]> {
    return (await this.queryAll(`SEEN#${stack}`)).map((item) => {
      const sk = item.sk as string;
      const cut = sk.lastIndexOf('#');
      return { runbook: sk.slice(0, cut), host: sk.slice(cut + 1), at: item.at as number, runId: item.runId as string, commandId: item.commandId as string, status: item.status as string };
    });
  }

  async recordDispatch(stack: string, runbook: string, d: DispatchRecord): Promise<void> {
    await this.doc.send(new PutCommand({
      TableName: this.table,
      Item: { pk: `DISPATCH#${stack}`, sk: runbook, at: d.at, runId: d.runId, commandIds: d.commandIds, targets: d.targets, expiresAt: Math.ceil(d.at / 1000) + SEEN_DAYS * DAY_S },
    }));
  }

  async lastDispatches(stack: string): Promise<Record<string, DispatchRecord>> {
    return Object.fromEntries((await this.queryAll(`DISPATCH#${stack}`)).map((i) => [
      i.sk as string, { at: i.at as number, runId: i.runId as string, commandIds: (i.commandIds as string[] | undefined) ?? [], targets: (i.targets as string | undefined) ?? '' },
    ]));
  }

  async watchMarks(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.queryAll('WATCH')).map((i) => [i.sk as string, i.since as number]));
  }

  async setWatchMarks(set: Record<string, number>, remove: string[]): Promise<void> {
    const writes = [
      ...Object.entries(set).map(([sk, since]) => ({ PutRequest: { Item: { pk: 'WATCH', sk, since } } })),
      ...remove.map((sk) => ({ DeleteRequest: { Key: { pk: 'WATCH', sk } } })),
    ];
    await this.batchWrite(writes, 'watch marks');
  }

  /**
   * BatchWriteItem in groups of 25 (its limit), sending UnprocessedItems again with a doubling
   * pause: the SDK retries errors, not items DynamoDB left unprocessed.
   */
  private async batchWrite(writes: readonly Record<string, unknown>[], what: string): Promise<void> {
    for (let i = 0; i < writes.length; i += 25) {
      let batch: Record<string, unknown[]> | undefined = { [this.table]: writes.slice(i, i + 25) };
      for (let attempt = 0; batch && Object.keys(batch).length && attempt < 5; attempt++) {
        const r = await this.doc.send(new BatchWriteCommand({ RequestItems: batch as never }));
        batch = r.UnprocessedItems as Record<string, unknown[]> | undefined;
        if (batch && Object.keys(batch).length) await new Promise((res) => setTimeout(res, 100 * 2 ** attempt));
      }
      if (batch && Object.keys(batch).length) throw new Error(`DynamoDB left ${what} unprocessed after 5 attempts`);
    }
  }
}
