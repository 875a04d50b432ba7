import { isTransient } from './errors';

/*
 * The SDK retries throttling itself (standard mode). This second, slower layer exists because a
 * fleet-wide sweep can drain EC2's request-rate bucket for longer than the SDK's attempts last;
 * giving up there would abandon a half-done run.
 */
export interface RetryOptions {
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Which errors are worth another attempt. @default isTransient: throttling and server faults */
  readonly retryOn?: (error: unknown) => boolean;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function retryTransient<T>(call: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 4;
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 5_000;
  const wait = opts.sleep ?? sleep;
  const retryable = opts.retryOn ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || !retryable(error)) throw error;
      // Full jitter keeps concurrent callers from retrying in lockstep.
      await wait(Math.random() * Math.min(max, base * 2 ** attempt));
    }
  }
}
