import { errorCode, errorMessage, isCallerLevel, isTransient } from './errors';
import { retryTransient, RetryOptions } from './retry';

export interface ItemResult {
  readonly id: string;
  readonly ok: boolean;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Applies `call` to ids in chunks of `maxPerCall`. Calls such as TerminateInstances fail as a whole
 * when one id is bad (termination protection, already gone), so a failed chunk is retried id by id
 * and only the ids that fail alone are reported as failed. Caller-level errors (access denied) are
 * not retried per item: they would fail the same way for each. Nor is a batch that stayed throttled
 * through every retry: calling once per id would multiply the calls against an API that is already
 * refusing them, and could run the function into its timeout before it reports.
 */
export async function actInBatches(
  ids: readonly string[],
  maxPerCall: number,
  call: (batch: string[]) => Promise<unknown>,
  retry: RetryOptions = {},
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  for (const batch of chunk(ids, maxPerCall)) {
    try {
      await retryTransient(() => call(batch), retry);
      results.push(...batch.map((id) => ({ id, ok: true })));
      continue;
    } catch (error) {
      if (batch.length === 1 || isCallerLevel(error) || isTransient(error)) {
        results.push(...batch.map((id) => failure(id, error)));
        continue;
      }
    }
    let stopWith: unknown;
    for (const id of batch) {
      if (stopWith !== undefined) {
        results.push(failure(id, stopWith));
        continue;
      }
      try {
        await retryTransient(() => call([id]), retry);
        results.push({ id, ok: true });
      } catch (error) {
        results.push(failure(id, error));
        // Access denied or sustained throttling says nothing about the next id: stop calling.
        if (isCallerLevel(error) || isTransient(error)) stopWith = error;
      }
    }
  }
  return results;
}

function failure(id: string, error: unknown): ItemResult {
  return { id, ok: false, errorCode: errorCode(error), errorMessage: errorMessage(error) };
}
