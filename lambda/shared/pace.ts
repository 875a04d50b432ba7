import { sleep as realSleep } from './retry';

/*
 * Spacing for APIs whose rate limit is a hard per-account budget rather than a bucket the SDK's
 * retries can ride out (CloudTrail LookupEvents at 2/s, Route 53 at 5/s): hitting it would only
 * turn each call into a throttled attempt plus a backoff, slower than waiting our turn.
 */

export interface PacerOptions {
  /** Least time between the starts of two calls. */
  readonly intervalMs: number;
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface Pacer {
  /** Resolves when the caller may start its call; every call, retries included, waits its turn. */
  wait(): Promise<void>;
}

export function createPacer(options: PacerOptions): Pacer {
  const interval = options.intervalMs;
  if (!Number.isFinite(interval) || interval < 0) throw new Error(`a pacer's interval must be a finite number of milliseconds >= 0, got ${interval}`);
  const clock = options.clock ?? Date.now;
  const pause = options.sleep ?? realSleep;
  let last = -Infinity;
  // Callers that wait at the same time (parallel listings) are served one after the other, so each
  // one's start is measured from the start before it, not from the same stale one.
  let queue: Promise<void> = Promise.resolve();
  const turn = async () => {
    const due = last + interval - clock();
    if (due > 0) await pause(due);
    last = clock();
  };
  return {
    wait() {
      const mine = queue.then(turn);
      queue = mine.catch(() => undefined);
      return mine;
    },
  };
}
