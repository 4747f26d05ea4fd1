import type { z } from 'zod';

/**
 * Bad input: retrying cannot help, so handlers log it and return instead of throwing
 * (a throw would make Lambda retry and then park the event in the DLQ).
 */
export class InputError extends Error {
  constructor(message: string, readonly details: string[] = []) {
    super(details.length ? `${message}: ${details.join('; ')}` : message);
    this.name = 'InputError';
  }
}

export function zodProblems(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(event)'}: ${i.message}`);
}

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new InputError(`invalid ${what}`, zodProblems(r.error));
  return r.data;
}

interface AwsLikeError {
  name?: string;
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number };
}

const THROTTLE_NAMES = new Set(['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'Throttling', 'TooManyUpdates']);

export function isThrottle(err: unknown): boolean {
  const e = err as AwsLikeError;
  return !!e && (THROTTLE_NAMES.has(e.name ?? '') || e.$retryable?.throttling === true || e.$metadata?.httpStatusCode === 429);
}

export function isTransient(err: unknown): boolean {
  const e = err as AwsLikeError;
  if (isThrottle(err)) return true;
  const status = e?.$metadata?.httpStatusCode ?? 0;
  return status >= 500 || e?.$retryable !== undefined || e?.name === 'TimeoutError';
}
