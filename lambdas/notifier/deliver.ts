/**
 * HTTP delivery with retries: 429 and 5xx (and network errors) are retried with exponential
 * backoff and full jitter, waiting at least what a Retry-After header asks (seconds or an
 * HTTP date) up to a cap; any other 4xx is final. Secrets come from Secrets Manager, read
 * once per cold start.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { realSleep } from '../shared/retry.js';
import type { HttpRequest } from './payloads.js';

export class DeliveryError extends Error {
  constructor(message: string, readonly status: number | null, readonly retryable: boolean) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export interface DeliverOptions {
  /** Attempts in all, the first included. @default 5 */
  readonly attempts?: number;
  readonly baseMs?: number;
  readonly maxMs?: number;
  /** The longest Retry-After honoured; longer ones give up (the Lambda retry and the DLQ follow). @default 60 s */
  readonly maxRetryAfterMs?: number;
  /** Per request. @default 10 s */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly onRetry?: (info: { attempt: number; status: number | null; delayMs: number }) => void;
}

/** Milliseconds a Retry-After header asks for, or undefined. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Where a request goes, for logs: scheme and host only (webhook paths are secrets). */
export const redact = (url: string) => url.replace(/^(https?:\/\/[^/]+).*$/, '$1/...');

export async function deliver(req: HttpRequest, opts: DeliverOptions = {}): Promise<{ status: number; attempts: number; body: string }> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 20_000;
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  for (let attempt = 1; ; attempt++) {
    let status: number | null = null;
    let wait: number | undefined;
    let text = '';
    try {
      const res = await fetch(req.url, {
        method: req.method, headers: req.headers, body: JSON.stringify(req.body), signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000), redirect: 'error',
      });
      status = res.status;
      text = (await res.text()).slice(0, 2000);
      if (res.ok) return { status, attempts: attempt, body: text };
      if (status !== 429 && status < 500) throw new DeliveryError(`${redact(req.url)} answered ${status}: ${text.slice(0, 200)}`, status, false);
      wait = retryAfterMs(res.headers.get('retry-after'), now());
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      if (status === null) text = (err as Error).message;
    }
    if (attempt >= attempts) throw new DeliveryError(`${redact(req.url)} still failing after ${attempt} attempts (last: ${status ?? text})`, status, true);
    if (wait !== undefined && wait > (opts.maxRetryAfterMs ?? 60_000)) {
      throw new DeliveryError(`${redact(req.url)} asks to wait ${Math.round(wait / 1000)} s (Retry-After); leaving it to the next invocation`, status, true);
    }
    const backoff = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
    const delay = Math.max(backoff, wait ?? 0);
    opts.onRetry?.({ attempt, status, delayMs: delay });
    await sleep(delay);
  }
}

/** Secret values by ARN, fetched once per cold start. */
export class SecretCache {
  private readonly values = new Map<string, Promise<string>>();

  constructor(private readonly client: Pick<SecretsManagerClient, 'send'>) {}

  get(arn: string): Promise<string> {
    let v = this.values.get(arn);
    if (!v) {
      v = (async () => {
        const r = await this.client.send(new GetSecretValueCommand({ SecretId: arn }));
        const s = r.SecretString?.trim();
        if (!s) throw new DeliveryError(`secret ${arn} has no string value`, null, false);
        return s;
      })();
      // A failed read is not cached: the next message tries again.
      v.catch(() => this.values.delete(arn));
      this.values.set(arn, v);
    }
    return v;
  }
}
