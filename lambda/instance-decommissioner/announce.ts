import { EventBridgeClient, PutEventsCommand, PutEventsRequestEntry, PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import type { InstanceSnapshot } from './snapshot';
import { DECOMMISSIONED_EVENT } from '../../src/instance-decommissioner/contract';
import { errorCode, errorMessage, isTransient } from '../shared/errors';
import { byteLength } from '../shared/report';
import { retryTransient, RetryOptions, sleep } from '../shared/retry';

/*
 * One "Instance Decommissioned" event per instance on the user's bus, for their own rules (Chef,
 * Consul, a CMDB). The hooks receive the same detail, so both audiences read one shape.
 */

export interface CleanedRecord {
  readonly zoneId: string;
  readonly name: string;
  readonly type: string;
  readonly setIdentifier?: string;
  readonly values: readonly string[];
}

export interface KeptRecord {
  readonly zoneId: string;
  readonly name: string;
  readonly type: string;
  readonly reason: string;
}

export interface CleanedCounts {
  readonly records: number;
  readonly keptRecords: number;
  readonly alarms: number;
}

export interface Cleaned {
  /** Records deleted (or, in a dry run, that would have been). */
  readonly records: readonly CleanedRecord[];
  /** Records that matched the instance but were left alone, with why. */
  readonly keptRecords: readonly KeptRecord[];
  readonly alarms: readonly string[];
  /** How many there were: set with `truncated`, when some of the lists above were emptied to fit. */
  readonly counts?: CleanedCounts;
}

/** The `detail` of the bus event and of the hooks' payload. */
export interface DecommissionDetail {
  readonly instanceId: string;
  readonly state: 'shutting-down' | 'terminated';
  readonly snapshot: InstanceSnapshot;
  /** Where the snapshot came from: the table (taken while the instance ran), EC2's describe of it now, or both merged. */
  readonly snapshotSource: 'table' | 'describe' | 'table+describe';
  readonly dryRun: boolean;
  readonly cleaned: Cleaned;
  /** The detail was too large for its channel: lists in `cleaned` were emptied and `cleaned.counts` says how many there were. */
  readonly truncated?: true;
}

/** PutEvents takes up to 10 entries per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/**
 * EventBridge's limit on an entry, computed as the UTF-8 bytes of Source, DetailType, Detail and each
 * Resources item. The documentation words it as the total of the entries batched into one request,
 * so a request's entries are kept under it together, not only one by one.
 */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;
/** Room left under the entry limit for Source and DetailType. */
export const DETAIL_MAX_BYTES = 250 * 1024;
/** Calls made for the entries of one request that EventBridge failed transiently (throttling, InternalFailure). */
export const ENTRY_ATTEMPTS = 3;

/**
 * The detail as JSON of at most `maxBytes`: if it is larger, the lists of `cleaned` are emptied
 * (records first, then kept records, then alarms) with their counts kept and `truncated: true`.
 * `fits` is false when even that is too large (a snapshot cannot realistically get there).
 */
export function fitDetail(detail: DecommissionDetail, maxBytes: number, wrap: (d: DecommissionDetail) => unknown = (d) => d):
{ detail: DecommissionDetail; json: string; fits: boolean } {
  let json = JSON.stringify(wrap(detail));
  if (byteLength(json) <= maxBytes) return { detail, json, fits: true };
  const { cleaned } = detail;
  const counts: CleanedCounts = { records: cleaned.records.length, keptRecords: cleaned.keptRecords.length, alarms: cleaned.alarms.length };
  const stages: Cleaned[] = [
    { records: [], keptRecords: cleaned.keptRecords, alarms: cleaned.alarms, counts },
    { records: [], keptRecords: [], alarms: cleaned.alarms, counts },
    { records: [], keptRecords: [], alarms: [], counts },
  ];
  let cut: DecommissionDetail = detail;
  for (const stage of stages) {
    cut = { ...detail, cleaned: stage, truncated: true };
    json = JSON.stringify(wrap(cut));
    if (byteLength(json) <= maxBytes) return { detail: cut, json, fits: true };
  }
  return { detail: cut, json, fits: false };
}

export interface AnnounceResult {
  readonly instanceId: string;
  readonly ok: boolean;
  /** A dry run: nothing was put on the bus. */
  readonly dryRun?: true;
  /** The event's detail was cut to fit (see DecommissionDetail.truncated). */
  readonly truncated?: true;
  /** The EventBridge id of the event put. */
  readonly eventId?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

interface Pending {
  readonly index: number;
  readonly entry: PutEventsRequestEntry;
  readonly size: number;
  readonly truncated: boolean;
}

/**
 * Puts one event per detail on `busName` (a name or an ARN). Entries EventBridge refuses one by one
 * with a transient code are sent again, alone of their request, so the events it accepted are not
 * duplicated. Returns one result per detail, in order.
 */
export async function announce(
  eventbridge: EventBridgeClient,
  busName: string,
  details: readonly DecommissionDetail[],
  dryRun: boolean,
  retry: RetryOptions = {},
): Promise<AnnounceResult[]> {
  const results: AnnounceResult[] = new Array(details.length);
  const pending: Pending[] = [];
  details.forEach((detail, index) => {
    const fitted = fitDetail(detail, DETAIL_MAX_BYTES);
    const flags = fitted.detail.truncated ? { truncated: true as const } : {};
    const entry: PutEventsRequestEntry = {
      EventBusName: busName,
      Source: DECOMMISSIONED_EVENT.source,
      DetailType: DECOMMISSIONED_EVENT.detailType,
      Detail: fitted.json,
    };
    const size = byteLength(entry.Source!) + byteLength(entry.DetailType!) + byteLength(entry.Detail!);
    // DETAIL_MAX_BYTES leaves room for Source and DetailType, so a detail that fits makes an entry that does.
    if (!fitted.fits) {
      results[index] = {
        instanceId: detail.instanceId,
        ok: false,
        ...flags,
        errorCode: 'EntryTooLarge',
        errorMessage: `the event is ${size} bytes even with its lists cut to counts; EventBridge takes up to ${PUT_EVENTS_MAX_BYTES}`,
      };
    } else if (dryRun) {
      results[index] = { instanceId: detail.instanceId, ok: true, dryRun: true, ...flags };
    } else {
      pending.push({ index, entry, size, truncated: fitted.detail.truncated === true });
    }
  });
  for (const request of requests(pending)) {
    const outcomes = await putWithRetries(eventbridge, request, retry);
    for (const p of request) {
      results[p.index] = { instanceId: details[p.index].instanceId, ...outcomes.get(p.index)!, ...(p.truncated ? { truncated: true as const } : {}) };
    }
  }
  return results;
}

/** Groups entries into requests of up to 10 whose sizes add up to less than the limit. */
function requests(pending: readonly Pending[]): Pending[][] {
  const out: Pending[][] = [];
  let current: Pending[] = [];
  let bytes = 0;
  for (const p of pending) {
    if (current.length === PUT_EVENTS_MAX_ENTRIES || (current.length > 0 && bytes + p.size >= PUT_EVENTS_MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(p);
    bytes += p.size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

type EntryOutcome = Pick<AnnounceResult, 'ok' | 'eventId' | 'errorCode' | 'errorMessage'>;

async function putWithRetries(eventbridge: EventBridgeClient, request: readonly Pending[], retry: RetryOptions): Promise<Map<number, EntryOutcome>> {
  const outcomes = new Map<number, EntryOutcome>();
  const wait = retry.sleep ?? sleep;
  let left = [...request];
  for (let attempt = 1; left.length > 0; attempt++) {
    let entries: PutEventsResultEntry[];
    try {
      const output = await retryTransient(() => eventbridge.send(new PutEventsCommand({ Entries: left.map((p) => p.entry) })), retry);
      entries = output.Entries ?? [];
    } catch (error) {
      for (const p of left) outcomes.set(p.index, { ok: false, errorCode: errorCode(error), errorMessage: errorMessage(error) });
      break;
    }
    const again: Pending[] = [];
    left.forEach((p, i) => {
      // The response lists one entry per request entry, in the same order.
      const entry = entries[i];
      if (entry === undefined) {
        outcomes.set(p.index, { ok: false, errorCode: 'MissingResultEntry', errorMessage: 'PutEvents returned fewer entries than it was sent' });
      } else if (entry.ErrorCode) {
        if (attempt < ENTRY_ATTEMPTS && isTransient({ name: entry.ErrorCode })) again.push(p);
        else outcomes.set(p.index, { ok: false, errorCode: entry.ErrorCode, ...(entry.ErrorMessage ? { errorMessage: entry.ErrorMessage } : {}) });
      } else {
        outcomes.set(p.index, { ok: true, ...(entry.EventId ? { eventId: entry.EventId } : {}) });
      }
    });
    left = again;
    if (left.length > 0) {
      // Full jitter, as retryTransient does, so concurrent containers do not retry in lockstep.
      await wait(Math.random() * Math.min(retry.maxDelayMs ?? 5_000, (retry.baseDelayMs ?? 200) * 2 ** attempt));
    }
  }
  return outcomes;
}
