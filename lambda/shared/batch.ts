import { errorCode, errorMessage, isCallerLevel } from './errors';
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
 * not retried per item: they would fail the same way for each.
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
      if (batch.length === 1 || isCallerLevel(error)) {
        results.push(...batch.map((id) => failure(id, error)));
        continue;
      }
    }
    for (const id of batch) {
      try {
        await retryTransient(() => call([id]), retry);
        results.push({ id, ok: true });
      } catch (error) {
        results.push(failure(id, error));
      }
    }
  }
  return results;
}

function failure(id: string, error: unknown): ItemResult {
  return { id, ok: false, errorCode: errorCode(error), errorMessage: errorMessage(error) };
}
