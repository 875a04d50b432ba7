import { errorCode, errorMessage, isCallerLevel, isTransient } from './errors';
import { retryTransient, RetryOptions } from './retry';

export interface ItemResult {
  readonly id: string;
  readonly ok: boolean;
  /**
   * Set when the item was found already done by this run's first and only attempt at it, so the
   * work was not this run's: another run (or someone else) got there first. The value is the
   * evidence, e.g. "InvalidGroup.NotFound" or "was-terminated".
   */
  readonly alreadyDone?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

/** What a call may report beyond success: the ids it found already done, with the evidence. */
export interface CallOutcome {
  readonly alreadyDone?: ReadonlyMap<string, string>;
}

export interface AlreadyDoneOptions {
  /**
   * The caller's IAM grant has conditions on each resource (`ec2:ResourceTag/...`), so an
   * authorization error (UnauthorizedOperation) may be about one id of the batch, e.g. an instance
   * that got the protection tag after it was described: the batch is then retried id by id like
   * any item-level failure. Only after `MAX_CONSECUTIVE_DENIED` ids in a row are refused is the
   * rest taken as refused too (the grant itself is missing), so a missing permission never costs
   * one call per id. @default false: an authorization error is the caller's, for every id
   */
  readonly perResourceAuthorization?: boolean;
  /**
   * Whether an error means the item named is already gone, i.e. the action is already done
   * (DeleteSecurityGroup's InvalidGroup.NotFound). A call of one id failing so counts as done; a
   * batch of several failing so names no culprit and is retried id by id like any item-level
   * failure. @default never
   */
  readonly isAlreadyGone?: (error: unknown) => boolean;
}

/** Ids refused in a row, one by one, after which a per-resource authorization error is taken as the caller's. */
export const MAX_CONSECUTIVE_DENIED = 3;

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
 *
 * Overlapping runs: an item found already done (the call's own report, or an `isAlreadyGone` error
 * on a call of that one id) is a success marked `alreadyDone`, never a failure. It is marked only
 * when the work cannot have been this run's own: not after a retry (the earlier attempt may have
 * landed and lost its answer), and not in the one-by-one fallback after a batch that failed for
 * another reason (TerminateInstances may apply part of a batch it refuses, e.g. termination
 * protection in one Availability Zone). There it is a plain success, as before.
 */
export async function actInBatches(
  ids: readonly string[],
  maxPerCall: number,
  call: (batch: string[]) => Promise<CallOutcome | void>,
  retry: RetryOptions = {},
  options: AlreadyDoneOptions = {},
): Promise<ItemResult[]> {
  const isAlreadyGone = options.isAlreadyGone ?? (() => false);
  const perResource = options.perResourceAuthorization === true;
  /** Calls made by the latest attempt() (1 unless it retried). */
  let tries = 0;
  /** One call with transient retries; `trusted` says whether "already done" evidence may be believed. */
  const attempt = async (batch: string[], trusted: boolean): Promise<ItemResult[]> => {
    tries = 0;
    let outcome: CallOutcome | void;
    try {
      outcome = await retryTransient(() => {
        tries++;
        return call(batch);
      }, retry);
    } catch (error) {
      if (batch.length !== 1 || !isAlreadyGone(error)) throw error;
      const firstTry = trusted && tries === 1 && sdkAttempts(error) <= 1;
      return [firstTry ? { id: batch[0], ok: true, alreadyDone: errorCode(error) } : { id: batch[0], ok: true }];
    }
    const found = trusted && tries === 1 ? outcome?.alreadyDone : undefined;
    return batch.map((id) => {
      const evidence = found?.get(id);
      return evidence === undefined ? { id, ok: true } : { id, ok: true, alreadyDone: evidence };
    });
  };

  const results: ItemResult[] = [];
  for (const batch of chunk(ids, maxPerCall)) {
    let batchError: unknown;
    try {
      results.push(...await attempt(batch, true));
      continue;
    } catch (error) {
      if (batch.length === 1 || (isCallerLevel(error) && !perResource) || isTransient(error)) {
        results.push(...batch.map((id) => failure(id, error)));
        continue;
      }
      batchError = error;
    }
    // A batch refused because one id is gone changed nothing (EC2: "none of the instances are
    // terminated"); one refused for another reason may have changed part of it.
    const trusted = isAlreadyGone(batchError) && tries === 1 && sdkAttempts(batchError) <= 1;
    let stopWith: unknown;
    let denied = 0;
    for (const id of batch) {
      if (stopWith !== undefined) {
        results.push(failure(id, stopWith));
        continue;
      }
      try {
        results.push(...await attempt([id], trusted));
        denied = 0;
      } catch (error) {
        results.push(failure(id, error));
        // Access denied or sustained throttling says nothing about the next id: stop calling.
        denied = isCallerLevel(error) ? denied + 1 : 0;
        if (isTransient(error) || (isCallerLevel(error) && (!perResource || denied >= MAX_CONSECUTIVE_DENIED))) stopWith = error;
      }
    }
  }
  return results;
}

/** How many HTTP attempts the SDK made for a call (it retries throttling itself); 1 when unknown. */
export function sdkAttempts(outputOrError: unknown): number {
  const attempts = (outputOrError as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata?.attempts;
  return typeof attempts === 'number' && attempts > 0 ? attempts : 1;
}

function failure(id: string, error: unknown): ItemResult {
  return { id, ok: false, errorCode: errorCode(error), errorMessage: errorMessage(error) };
}

/**
 * `fn` over every item with at most `limit` calls in flight; the results in the items' order. The
 * first failure is thrown once the calls in flight have settled, and no new call starts after it.
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`concurrency must be a positive integer, got ${limit}`);
  const results: R[] = new Array(items.length);
  let next = 0;
  let firstFailure: { error: unknown } | undefined;
  const worker = async () => {
    while (firstFailure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]);
      } catch (error) {
        firstFailure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstFailure) throw firstFailure.error;
  return results;
}
