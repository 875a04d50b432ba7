import type { Change, ResourceRecord, ResourceRecordSet } from '@aws-sdk/client-route-53';
import { addressInDnsName, canonicalAddress, isReverseZoneName, reverseName } from './reverse';
import { addressesOf, dnsNamesOf, InstanceSnapshot } from './snapshot';
import { normalizeName } from '../../src/instance-decommissioner/record-template';

/*
 * Which DNS records a decommissioned instance leaves behind, decided from the record sets seen (the
 * few names an event points at, or whole zones in a reconcile sweep) with no I/O. A value is
 * removed only when it is provably this instance's and nothing live answers at it now.
 */

/** A hosted zone the construct may change. */
export interface Zone {
  readonly id: string;
  /** Lower case, without the trailing dot. */
  readonly name: string;
}

/** One record set as ListResourceRecordSets returned it, with its zone. */
export interface SeenRecordSet {
  readonly zoneId: string;
  readonly recordSet: ResourceRecordSet;
}

export interface RemovedValue {
  readonly instanceId: string;
  /** The value as listed; `ALIAS <target>` for an alias set deleted by its set identifier. */
  readonly value: string;
}

/** The change of one record set, carried out by one DELETE, or a DELETE and a CREATE in the same batch. */
export interface PlannedChange {
  readonly zoneId: string;
  /** The record name as compared: lower case, no trailing dot, escapes undone. */
  readonly name: string;
  readonly type: string;
  readonly setIdentifier?: string;
  /** DELETE: the whole set goes. SHRINK: the set is replaced by one without the removed values. */
  readonly kind: 'DELETE' | 'SHRINK';
  /** Every instance whose values this change removes (several when they shared a multi-value record). */
  readonly instanceIds: readonly string[];
  readonly removed: readonly RemovedValue[];
  /** The Route 53 changes: the set exactly as listed (a DELETE must match it), then the set that remains. */
  readonly changes: readonly Change[];
}

/** A value that was the instance's but stays, with the reason. */
export interface KeptRecord {
  readonly zoneId: string;
  readonly name: string;
  readonly type: string;
  readonly setIdentifier?: string;
  readonly instanceId: string;
  readonly value: string;
  readonly reason: string;
  /** The live instance that holds the address now, when that is the reason. */
  readonly heldBy?: string;
}

export interface RecordPlan {
  readonly changes: PlannedChange[];
  readonly kept: KeptRecord[];
}

/** One name to list in one zone, and the instances it is looked at for. */
export interface NameLookup {
  readonly zone: Zone;
  readonly name: string;
  readonly instanceIds: readonly string[];
}

/** Route 53's limits on one ChangeResourceRecordSets request (DELETE and CREATE count once; UPSERT is never used). */
export const CHANGE_BATCH_LIMITS = { records: 1_000, valueChars: 32_000 } as const;

/** Types whose presence at a name makes it answer address lookups. */
const ANSWERING_TYPES = new Set(['A', 'AAAA', 'CNAME']);

/**
 * Every zone that can hold `name`: the zone of that name or of a suffix at a label boundary. All of
 * them, not the closest: split-horizon zones of the same name both serve it, and a parent zone may
 * hold a record for a name it never delegated.
 */
export function zoneFor(name: string, zones: readonly Zone[]): Zone[] {
  const wanted = bare(name);
  return zones.filter((zone) => {
    const suffix = bare(zone.name);
    return wanted === suffix || wanted.endsWith(`.${suffix}`);
  });
}

/**
 * The names to list for an event batch, each (zone, name) once: the template names in the forward
 * zones that contain them, the reverse names of the instances' addresses in the reverse zones.
 */
export function namesToLookUp(snapshots: readonly InstanceSnapshot[], zones: readonly Zone[]): NameLookup[] {
  const forward = zones.filter((z) => !isReverseZoneName(z.name));
  const reverse = zones.filter((z) => isReverseZoneName(z.name));
  const lookups = new Map<string, { zone: Zone; name: string; instanceIds: string[] }>();
  const add = (zone: Zone, name: string, instanceId: string) => {
    const key = `${zone.id}\n${name}`;
    const lookup = lookups.get(key) ?? { zone, name, instanceIds: [] };
    if (!lookup.instanceIds.includes(instanceId)) lookup.instanceIds.push(instanceId);
    lookups.set(key, lookup);
  };
  for (const snapshot of snapshots) {
    for (const recordName of snapshot.recordNames) {
      const name = normalizeName(recordName);
      if (name) for (const zone of zoneFor(name, forward)) add(zone, name, snapshot.instanceId);
    }
    for (const address of addressesOf(snapshot)) {
      const name = reverseName(address);
      if (name) for (const zone of zoneFor(name, reverse)) add(zone, name, snapshot.instanceId);
    }
  }
  return [...lookups.values()];
}

/** Route 53 lists some characters as `\ooo` octal escapes (`*` as `\052`). */
export function unescapeName(name: string): string {
  return name.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** A listed name or CNAME/PTR value as compared: escapes undone, lower case, no trailing dot. */
export function comparableName(name: string | undefined): string | undefined {
  return name === undefined ? undefined : normalizeName(unescapeName(name.trim()));
}

/** Where an A/AAAA value is claimed by the instance whose address it is. */
export interface MatchScope {
  /**
   * At any name (the reconcile sweep: "records whose values belong to instances the table knows as
   * decommissioned"), not only at the names the instance's templates render (an event's lookups).
   * @default false
   */
  readonly addressesAtAnyName?: boolean;
}

/**
 * The addresses whose current holder decides the plan: the caller asks EC2 which of them a live
 * instance holds now and passes the answer to planRecordChanges. In the snapshots' own form (EC2's).
 */
export function addressesToCheck(recordSets: readonly SeenRecordSet[], snapshots: readonly InstanceSnapshot[], scope: MatchScope = {}): string[] {
  const out = new Set<string>();
  for (const match of matchRecordSets(recordSets, snapshots, scope).matches) {
    for (const claim of match.claims) if (claim.address !== undefined) out.add(claim.address);
  }
  return [...out];
}

/**
 * The changes that remove what the decommissioned instances left in the record sets seen.
 * `liveHolders` maps addresses some live instance holds now to its id (findLiveHolders). A holder
 * that is one of the instances being decommissioned does not count: EC2 reported it shutting down
 * or terminated, and DescribeInstances, being eventually consistent, can still show it running
 * with its addresses for a moment after that event.
 */
export function planRecordChanges(
  recordSets: readonly SeenRecordSet[], snapshots: readonly InstanceSnapshot[], liveHolders: ReadonlyMap<string, string>, scope: MatchScope = {},
): RecordPlan {
  const dying = new Set(snapshots.map((s) => s.instanceId));
  const live = new Map<string, string>();
  for (const [address, holder] of liveHolders) {
    if (!dying.has(holder)) live.set(canonicalAddress(address) ?? address, holder);
  }
  const { matches, listed } = matchRecordSets(recordSets, snapshots, scope);

  // A CNAME to a template name may go only if nothing answers at that name afterwards (the name may
  // be shared with the instance that replaced this one). Keeping one CNAME can keep a name alive
  // that another CNAME points at, hence the repetition until nothing changes.
  const keptTargets = new Set<Claim>();
  let decisions = matches.map((m) => decide(m, live, keptTargets));
  for (;;) {
    const answering = answeringNames(listed, matches, decisions);
    let changed = false;
    for (const match of matches) {
      for (const claim of match.claims) {
        if (claim.target !== undefined && !keptTargets.has(claim) && answering.has(claim.target)) {
          keptTargets.add(claim);
          changed = true;
        }
      }
    }
    if (!changed) break;
    decisions = matches.map((m) => decide(m, live, keptTargets));
  }

  const changes: PlannedChange[] = [];
  const kept: KeptRecord[] = [];
  matches.forEach((match, i) => {
    const decision = decisions[i];
    kept.push(...decision.kept);
    if (decision.removed.length > 0) changes.push(toChange(match, decision));
  });
  return { changes, kept };
}

/** Instances whose changes must succeed or fail together: those that share a record set, transitively. */
export interface ChangeGroup {
  readonly instanceIds: readonly string[];
  readonly changes: readonly PlannedChange[];
}

/** The changes of one zone in groups of connected instances, in the order they first appear. */
export function groupChanges(changes: readonly PlannedChange[]): ChangeGroup[] {
  const parent = new Map<string, string>();
  const root = (id: string): string => {
    let r = id;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(id, r);
    return r;
  };
  for (const change of changes) {
    for (const id of change.instanceIds) if (!parent.has(id)) parent.set(id, id);
    const [first, ...rest] = change.instanceIds.map(root);
    for (const other of rest) parent.set(other, first);
  }
  const groups = new Map<string, { instanceIds: string[]; changes: PlannedChange[] }>();
  for (const id of parent.keys()) {
    const r = root(id);
    const group = groups.get(r) ?? { instanceIds: [], changes: [] };
    group.instanceIds.push(id);
    groups.set(r, group);
  }
  for (const change of changes) {
    if (change.instanceIds.length > 0) groups.get(root(change.instanceIds[0]))!.changes.push(change);
  }
  return [...groups.values()];
}

/**
 * Groups packed into as few requests as Route 53's limits allow, never splitting a group. A group
 * over the limits on its own goes alone (Route 53 then refuses it, and only it).
 */
export function chunkGroups(groups: readonly ChangeGroup[], limits: { records: number; valueChars: number } = CHANGE_BATCH_LIMITS): ChangeGroup[][] {
  const chunks: ChangeGroup[][] = [];
  let current: ChangeGroup[] = [];
  let records = 0;
  let chars = 0;
  for (const group of groups) {
    const cost = groupCost(group);
    if (current.length > 0 && (records + cost.records > limits.records || chars + cost.valueChars > limits.valueChars)) {
      chunks.push(current);
      current = [];
      records = 0;
      chars = 0;
    }
    current.push(group);
    records += cost.records;
    chars += cost.valueChars;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** What a group counts against the request limits: ResourceRecord elements (an alias change as one) and Value characters. */
export function groupCost(group: ChangeGroup): { records: number; valueChars: number } {
  let records = 0;
  let valueChars = 0;
  for (const planned of group.changes) {
    for (const change of planned.changes) {
      const values = change.ResourceRecordSet?.ResourceRecords ?? [];
      records += Math.max(1, values.length);
      for (const v of values) valueChars += v.Value?.length ?? 0;
    }
  }
  return { records, valueChars };
}

// ---------------------------------------------------------------------------------------------

/** One value of one record set that a snapshot's cleanup would remove, and what could keep it. */
interface Claim {
  readonly valueIndex: number;
  readonly instanceId: string;
  /** The address whose live holder, if any, keeps the value (A/AAAA value, PTR name, EC2 DNS name). */
  readonly address?: string;
  /** A template name the CNAME points at: the value stays while something answers there. */
  readonly target?: string;
}

/** Every record set seen, once. */
interface ListedSet {
  readonly key: string;
  readonly name: string;
  /** Whether it makes its name answer address lookups (A, AAAA, CNAME, or an alias). */
  readonly answers: boolean;
}

interface Match {
  readonly key: string;
  readonly seen: SeenRecordSet;
  readonly name: string;
  readonly type: string;
  readonly values: readonly string[];
  /** The instance whose id is the set identifier: the whole set is its. */
  readonly wholeSetOf?: string;
  readonly claims: readonly Claim[];
  /** PTRs for an instance's address that name someone else. */
  readonly foreign: readonly KeptRecord[];
}

interface Decision {
  readonly removed: RemovedValue[];
  readonly removedIndexes: Set<number>;
  readonly kept: KeptRecord[];
}

interface Known {
  readonly snapshot: InstanceSnapshot;
  readonly names: Set<string>;
  readonly dnsNames: Set<string>;
  /** canonical form → the snapshot's own form */
  readonly addresses: Map<string, string>;
}

function matchRecordSets(
  recordSets: readonly SeenRecordSet[], snapshots: readonly InstanceSnapshot[], scope: MatchScope,
): { matches: Match[]; listed: ListedSet[] } {
  const byId = new Map<string, Known>();
  const byAddress = new Map<string, Known[]>();
  const byName = new Map<string, Known[]>();
  const byDnsName = new Map<string, Known[]>();
  const byReverse = new Map<string, Array<{ known: Known; address: string }>>();
  const push = <K, V>(map: Map<K, V[]>, key: K, value: V) => map.set(key, [...(map.get(key) ?? []), value]);
  for (const snapshot of snapshots) {
    const addresses = new Map<string, string>();
    for (const address of addressesOf(snapshot)) {
      const canonical = canonicalAddress(address);
      if (canonical) addresses.set(canonical, address);
    }
    const names = new Set(snapshot.recordNames.map((n) => normalizeName(n)).filter((n): n is string => n !== undefined));
    const known: Known = { snapshot, names, dnsNames: new Set(dnsNamesOf(snapshot)), addresses };
    byId.set(snapshot.instanceId, known);
    for (const name of names) push(byName, name, known);
    for (const name of known.dnsNames) push(byDnsName, name, known);
    for (const canonical of addresses.keys()) push(byAddress, canonical, known);
    for (const address of addresses.values()) {
      const name = reverseName(address);
      if (name) push(byReverse, name, { known, address });
    }
  }

  const matches: Match[] = [];
  const listed: ListedSet[] = [];
  const seenKeys = new Set<string>();
  for (const seen of recordSets) {
    const rs = seen.recordSet;
    const name = comparableName(rs.Name);
    const type = rs.Type ?? '';
    if (name === undefined) continue;
    // The same set listed twice (overlapping listings) must not become two DELETEs of it in one batch.
    const key = [seen.zoneId, name, type, rs.SetIdentifier ?? ''].join('\n');
    if (seenKeys.has(key)) continue;
    seenKeys.add(key);
    listed.push({ key, name, answers: ANSWERING_TYPES.has(type) || rs.AliasTarget !== undefined });
    const values = (rs.ResourceRecords ?? []).map((r) => r.Value ?? '');
    const base = { key, seen, name, type, values };

    const owner = rs.SetIdentifier === undefined ? undefined : byId.get(rs.SetIdentifier);
    if (owner) {
      matches.push({ ...base, wholeSetOf: owner.snapshot.instanceId, claims: [], foreign: [] });
      continue;
    }
    // An alias answers with whatever its target is; nothing in it is an instance's value.
    if (rs.AliasTarget) continue;

    const claims: Claim[] = [];
    const foreign: KeptRecord[] = [];
    values.forEach((value, valueIndex) => {
      if (type === 'A' || type === 'AAAA') {
        const canonical = canonicalAddress(value);
        const candidates = scope.addressesAtAnyName ? (canonical === undefined ? [] : byAddress.get(canonical) ?? []) : byName.get(name) ?? [];
        for (const known of candidates) {
          const own = canonical === undefined ? undefined : known.addresses.get(canonical);
          if (own !== undefined) claims.push({ valueIndex, instanceId: known.snapshot.instanceId, address: own });
        }
      } else if (type === 'CNAME') {
        const target = comparableName(value);
        if (target === undefined) return;
        const address = addressInDnsName(target);
        for (const known of byDnsName.get(target) ?? []) claims.push({ valueIndex, instanceId: known.snapshot.instanceId, address });
        for (const known of byName.get(target) ?? []) claims.push({ valueIndex, instanceId: known.snapshot.instanceId, target });
      } else if (type === 'PTR') {
        const target = comparableName(value);
        const holders = byReverse.get(name) ?? [];
        const mine = holders.filter(({ known }) => target !== undefined && (known.dnsNames.has(target) || known.names.has(target)));
        for (const { known, address } of mine) claims.push({ valueIndex, instanceId: known.snapshot.instanceId, address });
        // The address's PTR names another host: the address was handed on, and the record is the new holder's.
        if (mine.length === 0) {
          for (const { known } of holders) {
            foreign.push(keptOf(seen, name, type, known.snapshot.instanceId, value, `points at ${target ?? value}, not at this instance`));
          }
        }
      }
    });
    if (claims.length > 0 || foreign.length > 0) matches.push({ ...base, claims, foreign });
  }
  return { matches, listed };
}

function decide(match: Match, live: ReadonlyMap<string, string>, keptTargets: ReadonlySet<Claim>): Decision {
  const { seen, name, type, values } = match;
  if (match.wholeSetOf !== undefined) {
    const alias = seen.recordSet.AliasTarget;
    const listed = alias ? [`ALIAS ${alias.DNSName ?? ''}`] : values;
    return {
      removed: listed.map((value) => ({ instanceId: match.wholeSetOf!, value })),
      removedIndexes: new Set(values.map((_, i) => i)),
      kept: [],
    };
  }
  const kept: KeptRecord[] = [...match.foreign];
  const keptIndexes = new Set<number>();
  for (const claim of match.claims) {
    const value = values[claim.valueIndex];
    const holder = claim.address === undefined ? undefined : live.get(canonicalAddress(claim.address) ?? claim.address);
    if (holder !== undefined) {
      keptIndexes.add(claim.valueIndex);
      kept.push({ ...keptOf(seen, name, type, claim.instanceId, value, `reused by ${holder}`), heldBy: holder });
    } else if (keptTargets.has(claim)) {
      keptIndexes.add(claim.valueIndex);
      kept.push(keptOf(seen, name, type, claim.instanceId, value, `its target ${claim.target} still has records`));
    }
  }
  // A value any claim keeps stays for all: it points at something live.
  const removed: RemovedValue[] = [];
  const removedIndexes = new Set<number>();
  for (const claim of match.claims) {
    if (keptIndexes.has(claim.valueIndex)) continue;
    removedIndexes.add(claim.valueIndex);
    const value = values[claim.valueIndex];
    if (!removed.some((r) => r.instanceId === claim.instanceId && r.value === value)) removed.push({ instanceId: claim.instanceId, value });
  }
  return { removed, removedIndexes, kept: dedupeKept(kept) };
}

/** Names that still answer address lookups once the decisions are carried out. */
function answeringNames(listed: readonly ListedSet[], matches: readonly Match[], decisions: readonly Decision[]): Set<string> {
  const emptied = new Set<string>();
  matches.forEach((match, i) => {
    if (match.wholeSetOf !== undefined || decisions[i].removedIndexes.size === match.values.length) emptied.add(match.key);
  });
  return new Set(listed.filter((set) => set.answers && !emptied.has(set.key)).map((set) => set.name));
}

function toChange(match: Match, decision: Decision): PlannedChange {
  const rs = match.seen.recordSet;
  const remaining: ResourceRecord[] = (rs.ResourceRecords ?? []).filter((_, i) => !decision.removedIndexes.has(i));
  const whole = match.wholeSetOf !== undefined || remaining.length === 0;
  const changes: Change[] = [{ Action: 'DELETE', ResourceRecordSet: rs }];
  if (!whole) changes.push({ Action: 'CREATE', ResourceRecordSet: { ...rs, ResourceRecords: remaining } });
  return {
    zoneId: match.seen.zoneId,
    name: match.name,
    type: match.type,
    ...(rs.SetIdentifier !== undefined ? { setIdentifier: rs.SetIdentifier } : {}),
    kind: whole ? 'DELETE' : 'SHRINK',
    instanceIds: [...new Set(decision.removed.map((r) => r.instanceId))].sort(),
    removed: decision.removed,
    changes,
  };
}

function keptOf(seen: SeenRecordSet, name: string, type: string, instanceId: string, value: string, reason: string): KeptRecord {
  const setIdentifier = seen.recordSet.SetIdentifier;
  return { zoneId: seen.zoneId, name, type, ...(setIdentifier !== undefined ? { setIdentifier } : {}), instanceId, value, reason };
}

function dedupeKept(kept: KeptRecord[]): KeptRecord[] {
  const seen = new Set<string>();
  return kept.filter((k) => {
    const key = `${k.instanceId}\n${k.value}\n${k.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function bare(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
