import type { StateChange } from './events';
import type { DescribedInstance } from './observe';
import type { InstanceSnapshot } from './snapshot';
import type { CleanedBefore, StoredSnapshot } from './table';
import { SNAPSHOT_STATUS } from '../../src/instance-decommissioner/contract';
import { isProtected } from '../shared/guards';

/*
 * What to do for each instance of an event batch: pure, from the state changes, the snapshots the
 * table holds and what EC2 says now.
 */

/** States in which an instance still exists with its addresses: its snapshot can be taken. */
const LIVE_STATES = new Set(['pending', 'running', 'stopping', 'stopped']);

export type InstancePlan =
  /** `running`: store (or refresh) the snapshot. */
  | { readonly kind: 'SNAPSHOT'; readonly instanceId: string; readonly snapshot: InstanceSnapshot }
  /** `shutting-down` / `terminated`: clean up after it, from this snapshot. */
  | {
    readonly kind: 'DECOMMISSION';
    readonly instanceId: string;
    readonly state: string;
    readonly snapshot: InstanceSnapshot;
    /** Where the snapshot came from: the table (taken while it ran), EC2 now, or both merged. */
    readonly source: 'table' | 'describe' | 'table+describe';
    readonly hooksDone: ReadonlySet<string>;
    /** What earlier deliveries removed (their cleanup did not complete). */
    readonly cleanedBefore: CleanedBefore;
  }
  /** Nothing to do; `reported` ones appear in the notification, the others in the logs only. */
  | { readonly kind: 'SKIP'; readonly instanceId: string; readonly why: SkipReason; readonly reason: string };

export type SkipReason = 'already-decommissioned' | 'protected' | 'not-selected' | 'unknown' | 'not-live';

export interface DecideConfig {
  readonly instanceSelector: Readonly<Record<string, string>>;
  readonly protectionTagKey: string;
}

/**
 * One plan per instance. The events of one instance in a batch are folded: any `shutting-down` or
 * `terminated` wins over `running` (events arrive out of order, and a dying instance needs no
 * snapshot but its cleanup).
 */
export function decide(
  changes: readonly StateChange[],
  stored: ReadonlyMap<string, StoredSnapshot>,
  described: ReadonlyMap<string, DescribedInstance>,
  config: DecideConfig,
): InstancePlan[] {
  const byInstance = new Map<string, StateChange>();
  for (const change of changes) {
    const seen = byInstance.get(change.instanceId);
    if (!seen || (seen.state === 'running' && change.state !== 'running')) byInstance.set(change.instanceId, change);
  }
  return [...byInstance.values()].map((change) => planFor(change, stored.get(change.instanceId), described.get(change.instanceId), config));
}

function planFor(
  change: StateChange, stored: StoredSnapshot | undefined, described: DescribedInstance | undefined, config: DecideConfig,
): InstancePlan {
  const instanceId = change.instanceId;
  if (stored?.status === SNAPSHOT_STATUS.decommissioned) {
    return { kind: 'SKIP', instanceId, why: 'already-decommissioned', reason: `already decommissioned at ${stored.decommissionedAt ?? 'an earlier run'}` };
  }
  if (change.state === 'running') {
    if (!described || !LIVE_STATES.has(described.state)) {
      const now = described ? described.state : 'no such instance';
      return { kind: 'SKIP', instanceId, why: 'not-live', reason: `running event, but EC2 reports ${now}: its shutdown event does the cleanup` };
    }
    return { kind: 'SNAPSHOT', instanceId, snapshot: described.snapshot };
  }
  const snapshot = mergeSnapshots(stored?.snapshot, described?.snapshot);
  if (!snapshot) {
    return { kind: 'SKIP', instanceId, why: 'unknown', reason: 'no snapshot in the table and EC2 no longer describes the instance: nothing is known to clean up' };
  }
  if (!selected(snapshot.tags, config.instanceSelector)) {
    return { kind: 'SKIP', instanceId, why: 'not-selected', reason: 'does not carry the instanceSelector tags' };
  }
  if (isProtected(snapshot.tags, config.protectionTagKey)) {
    return { kind: 'SKIP', instanceId, why: 'protected', reason: `carries the protection tag "${config.protectionTagKey}"` };
  }
  const source = stored && described ? 'table+describe' : stored ? 'table' : 'describe';
  return {
    kind: 'DECOMMISSION',
    instanceId,
    state: change.state,
    snapshot,
    source,
    hooksDone: stored?.hooksDone ?? new Set(),
    cleanedBefore: stored?.cleanedBefore ?? { records: [], alarms: [] },
  };
}

function selected(tags: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([key, value]) => tags[key] === value);
}

/**
 * The snapshot taken while the instance ran, completed by what EC2 says now: tags added after the
 * launch render names the first snapshot could not know. Addresses and names are the union of both,
 * which is safe: a record is only changed where its value is this instance's.
 */
export function mergeSnapshots(stored: InstanceSnapshot | undefined, current: InstanceSnapshot | undefined): InstanceSnapshot | undefined {
  if (!stored || !current) return stored ?? current;
  const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];
  return {
    ...current,
    ...stripUndefined(stored),
    tags: { ...stored.tags, ...current.tags },
    privateIps: union(stored.privateIps, current.privateIps),
    publicIps: union(stored.publicIps, current.publicIps),
    ipv6s: union(stored.ipv6s, current.ipv6s),
    recordNames: union(stored.recordNames, current.recordNames),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
