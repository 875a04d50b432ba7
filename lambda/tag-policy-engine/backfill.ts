import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { launchFromRecord } from './creators';
import type { CreatorStatus, ObservedInstance } from './decide';
import { CLOUDTRAIL_LOOKUP_DAYS } from '../../src/tag-policy-engine/contract';
import { errorCode, errorMessage, isTransient } from '../shared/errors';
import { createPacer } from '../shared/pace';
import { retryTransient, RetryOptions } from '../shared/retry';

/*
 * Creators of instances launched before the engine (or whose launch event was missed), from
 * CloudTrail's event history: LookupEvents for RunInstances over time windows around the launches,
 * merged so that instances launched close together cost one listing, never one lookup per instance.
 * LookupEvents allows 2 requests per second per account and region, and returns 50 events a page.
 */

/** The RunInstances call comes shortly before the instance's network interface is attached. */
const BEFORE_LAUNCH_MS = 15 * 60_000;
const AFTER_LAUNCH_MS = 5 * 60_000;
/** LookupEvents' limit: 2 requests per second. */
export const LOOKUP_INTERVAL_MS = 500;
const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

export interface BackfillOptions {
  readonly now: Date;
  /** Most LookupEvents calls this run; the windows left are searched by later runs. */
  readonly maxLookups: number;
  readonly intervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly clock?: () => number;
  readonly retry?: RetryOptions;
}

export interface BackfillResult {
  readonly statuses: Map<string, CreatorStatus>;
  /** Creators found by this run (to be cached). */
  readonly found: Map<string, string>;
  readonly lookups: number;
  readonly windows: number;
  /**
   * Set when LookupEvents failed (after retries, or with an error no retry helps, such as access
   * denied): the search stopped there and the instances not searched yet are left pending. The
   * creators found before it are kept, and the rest of the run goes on without them.
   */
  readonly error?: { readonly code: string; readonly message: string };
}

interface Window {
  start: number;
  end: number;
  instanceIds: string[];
}

/** Merged search windows around the launches, oldest first; instances CloudTrail cannot know are left out. */
export function lookupWindows(instances: readonly ObservedInstance[], now: Date): { windows: Window[]; unknown: Map<string, string> } {
  const horizon = now.getTime() - CLOUDTRAIL_LOOKUP_DAYS * DAY_MS;
  const unknown = new Map<string, string>();
  const spans: Window[] = [];
  for (const instance of instances) {
    const launched = instance.launchedAt?.getTime();
    if (launched === undefined || Number.isNaN(launched)) {
      unknown.set(instance.instanceId, 'its launch time is unknown');
    } else if (launched < horizon) {
      unknown.set(instance.instanceId, `launched more than ${CLOUDTRAIL_LOOKUP_DAYS} days ago, beyond CloudTrail's event history`);
    } else {
      // A launch time ahead of the clock (skew) would give a window starting after it ends, which
      // LookupEvents refuses (InvalidTimeRangeException): search up to now from before the clock.
      const at = Math.min(launched, now.getTime());
      spans.push({
        start: Math.max(horizon, at - BEFORE_LAUNCH_MS),
        end: Math.min(now.getTime(), launched + AFTER_LAUNCH_MS),
        instanceIds: [instance.instanceId],
      });
    }
  }
  spans.sort((a, b) => a.start - b.start);
  const windows: Window[] = [];
  for (const span of spans) {
    const last = windows[windows.length - 1];
    if (last && span.start <= last.end) {
      last.end = Math.max(last.end, span.end);
      last.instanceIds.push(...span.instanceIds);
    } else {
      windows.push({ ...span, instanceIds: [...span.instanceIds] });
    }
  }
  return { windows, unknown };
}

export async function backfillCreators(
  cloudtrail: CloudTrailClient, instances: readonly ObservedInstance[], options: BackfillOptions,
): Promise<BackfillResult> {
  const pacer = createPacer({ intervalMs: options.intervalMs ?? LOOKUP_INTERVAL_MS, clock: options.clock, sleep: options.sleep });
  const { windows, unknown } = lookupWindows(instances, options.now);
  const statuses = new Map<string, CreatorStatus>();
  for (const [id, why] of unknown) statuses.set(id, { kind: 'unknown', why });
  const found = new Map<string, string>();
  let lookups = 0;
  let searched = 0;
  let failure: BackfillResult['error'];
  const retryOn = options.retry?.retryOn ?? isTransient;
  // A retry is a call too: it counts against the budget, and is not made once the budget is spent.
  const retry: RetryOptions = { ...options.retry, retryOn: (error) => lookups < options.maxLookups && retryOn(error) };

  for (const window of windows) {
    const wanted = new Set(window.instanceIds);
    let token: string | undefined;
    let complete = false;
    while (failure === undefined && lookups < options.maxLookups) {
      let out;
      try {
        out = await retryTransient(async () => {
          // Pace every request, retries included: throttling here would only slow the listing down more.
          await pacer.wait();
          lookups++;
          return cloudtrail.send(new LookupEventsCommand({
            LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'RunInstances' }],
            StartTime: new Date(window.start),
            EndTime: new Date(window.end),
            MaxResults: PAGE_SIZE,
            NextToken: token,
          }));
        }, retry);
      } catch (error) {
        // The creators are an enrichment: a CloudTrail failure must not cost the run its other fixes.
        failure = { code: errorCode(error), message: errorMessage(error) };
        break;
      }
      for (const event of out.Events ?? []) {
        const launch = parseRecord(event.CloudTrailEvent);
        for (const id of launch?.instanceIds ?? []) {
          if (wanted.has(id) && !found.has(id)) found.set(id, launch!.creator);
        }
      }
      token = out.NextToken;
      if (!token) {
        complete = true;
        break;
      }
    }
    for (const id of window.instanceIds) {
      const creator = found.get(id);
      if (creator !== undefined) statuses.set(id, { kind: 'known', creator });
      else if (complete) statuses.set(id, { kind: 'unknown', why: 'no RunInstances event for it in CloudTrail around its launch' });
      else statuses.set(id, { kind: 'pending' });
    }
    if (complete) searched++;
  }
  return { statuses, found, lookups, windows: searched, ...(failure ? { error: failure } : {}) };
}

function parseRecord(text: string | undefined) {
  if (!text) return undefined;
  try {
    return launchFromRecord(JSON.parse(text));
  } catch {
    return undefined;
  }
}
