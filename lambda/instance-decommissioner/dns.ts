import { isIPv4 } from 'net';
import { EC2Client, Instance, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, ResourceRecordSet, Route53Client } from '@aws-sdk/client-route-53';
import {
  addressesToCheck, chunkGroups, comparableName, groupChanges, namesToLookUp, planRecordChanges, PlannedChange, RecordPlan, SeenRecordSet, Zone,
} from './dns-plan';
import { canonicalAddress } from './reverse';
import type { InstanceSnapshot } from './snapshot';
import { chunk } from '../shared/batch';
import { USER_AGENT } from '../shared/clients';
import { errorCode, errorMessage, isTransient } from '../shared/errors';
import { createPacer, Pacer } from '../shared/pace';
import { collectPages } from '../shared/paginate';
import { truncateText } from '../shared/report';
import { retryTransient, RetryOptions } from '../shared/retry';

/*
 * The Route 53 side of decommissioning: list the record sets at the names an event batch points at,
 * ask EC2 who holds the addresses now, and carry the plan out with one change batch per zone.
 */

/** Route 53 allows 5 requests per second per account: one call start every 200 ms. */
export const ROUTE53_INTERVAL_MS = 200;
/**
 * Every Route 53 call of this container waits its turn here. Containers running at the same time
 * share the account's budget without knowing of each other; throttling is retried for that.
 */
export const route53Pacer: Pacer = createPacer({ intervalMs: ROUTE53_INTERVAL_MS });

/** ListResourceRecordSets' largest page. */
const LIST_PAGE_SIZE = 300;
/** DescribeInstances takes up to 200 values per filter. */
const FILTER_VALUES_MAX = 200;
const DESCRIBE_PAGE_SIZE = 1000;
/** States in which an instance holds its addresses. */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];
const CHANGE_COMMENT_MAX = 256;

export interface Route53CallOptions {
  /** @default route53Pacer */
  readonly pacer?: Pacer;
  readonly retry?: RetryOptions;
}

/** A name (or the whole batch, when EC2 could not be asked) whose instances cannot be cleaned this time. */
export interface LookupFailure {
  readonly zoneId?: string;
  readonly name?: string;
  readonly instanceIds: readonly string[];
  readonly errorCode: string;
  readonly errorMessage: string;
}

export interface ChangeOutcome {
  readonly change: PlannedChange;
  readonly ok: boolean;
  /** The record set was gone when the change came: someone else removed it, so there was nothing to do. */
  readonly alreadyGone?: boolean;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

export interface InstanceDnsResult {
  readonly instanceId: string;
  /** Every change that names the instance succeeded (or found its record already gone). */
  readonly ok: boolean;
  /** The first failure's error. */
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly changes: ChangeOutcome[];
}

/** Route 53 answers a change to a zone still busy with the previous one with PriorRequestNotComplete: wait and resend. */
export function isRoute53Retryable(error: unknown): boolean {
  return isTransient(error) || errorCode(error) === 'PriorRequestNotComplete';
}

/**
 * The record sets at exactly `name` in one zone. Route 53 lists from the name on in its own order,
 * so the first set of another name ends the listing: usually one call, more only for a name with
 * more than a page of sets (many weighted or latency sets).
 */
export async function listRecordSetsAt(
  route53: Route53Client, zoneId: string, name: string, options: Route53CallOptions = {},
): Promise<ResourceRecordSet[]> {
  const wanted = comparableName(name) ?? name.toLowerCase().replace(/\.$/, '');
  const found: ResourceRecordSet[] = [];
  let start: ListStart = { StartRecordName: wanted };
  for (;;) {
    const input = { HostedZoneId: zoneId, ...start, MaxItems: LIST_PAGE_SIZE };
    const page = await route53Call(() => route53.send(new ListResourceRecordSetsCommand(input)), options);
    for (const recordSet of page.ResourceRecordSets ?? []) {
      if (comparableName(recordSet.Name) !== wanted) return found;
      found.push(recordSet);
    }
    const next = nextStart(page);
    if (!page.IsTruncated || next === undefined || comparableName(next.StartRecordName) !== wanted) return found;
    start = next;
  }
}

/** Every record set of a zone (the reconcile sweep), page by page. */
export async function listZoneRecordSets(route53: Route53Client, zoneId: string, options: Route53CallOptions = {}): Promise<ResourceRecordSet[]> {
  const found: ResourceRecordSet[] = [];
  let start: ListStart | undefined;
  for (;;) {
    const input = { HostedZoneId: zoneId, ...start, MaxItems: LIST_PAGE_SIZE };
    const page = await route53Call(() => route53.send(new ListResourceRecordSetsCommand(input)), options);
    found.push(...page.ResourceRecordSets ?? []);
    start = nextStart(page);
    if (!page.IsTruncated || start === undefined) return found;
  }
}

/**
 * The record sets an event batch's instances may have left: each (zone, name) listed once. A name
 * that cannot be listed fails its instances, and the others go on.
 */
export async function lookupRecordSets(
  route53: Route53Client, snapshots: readonly InstanceSnapshot[], zones: readonly Zone[], options: Route53CallOptions = {},
): Promise<{ recordSets: SeenRecordSet[]; failures: LookupFailure[] }> {
  const recordSets: SeenRecordSet[] = [];
  const failures: LookupFailure[] = [];
  for (const lookup of namesToLookUp(snapshots, zones)) {
    try {
      const sets = await listRecordSetsAt(route53, lookup.zone.id, lookup.name, options);
      recordSets.push(...sets.map((recordSet) => ({ zoneId: lookup.zone.id, recordSet })));
    } catch (error) {
      failures.push({
        zoneId: lookup.zone.id, name: lookup.name, instanceIds: lookup.instanceIds, errorCode: errorCode(error), errorMessage: errorMessage(error),
      });
    }
  }
  return { recordSets, failures };
}

/**
 * Which of `addresses` a live instance (pending, running, stopping, stopped) holds now, by address
 * (in the form given) → instance id. `network-interface.addresses.private-ip-address` rather than
 * `private-ip-address`: the latter matches only each instance's primary address.
 */
export async function findLiveHolders(ec2: EC2Client, addresses: readonly string[], retry: RetryOptions = {}): Promise<Map<string, string>> {
  const wanted = new Map<string, string>();
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  for (const address of new Set(addresses)) {
    const canonical = canonicalAddress(address);
    if (canonical === undefined) continue;
    wanted.set(canonical, address);
    (isIPv4(canonical) ? ipv4 : ipv6).push(address);
  }
  // A record's IPv4 address may be private or public (a VPC may use any range), so both are asked.
  const queries: Array<[string, string[]]> = [
    ...chunk(ipv4, FILTER_VALUES_MAX).flatMap((values): Array<[string, string[]]> => [
      ['network-interface.addresses.private-ip-address', values],
      ['ip-address', values],
    ]),
    ...chunk(ipv6, FILTER_VALUES_MAX).map((values): [string, string[]] => ['network-interface.ipv6-addresses.ipv6-address', values]),
  ];
  const holders = new Map<string, string>();
  for (const [filter, values] of queries) {
    const { items } = await collectPages(
      (startingToken) => paginateDescribeInstances({ client: ec2, pageSize: DESCRIBE_PAGE_SIZE, startingToken }, {
        Filters: [{ Name: filter, Values: values }, { Name: 'instance-state-name', Values: LIVE_STATES }],
      }),
      (page) => page.NextToken,
      (page) => (page.Reservations ?? []).flatMap((r) => r.Instances ?? []),
      retry,
    );
    // One call answers for up to 200 addresses: which instance holds which is read from the instance.
    for (const instance of items) {
      for (const address of instanceAddresses(instance)) {
        const asked = wanted.get(canonicalAddress(address) ?? address);
        if (asked !== undefined && instance.InstanceId) holders.set(asked, instance.InstanceId);
      }
    }
  }
  return holders;
}

/**
 * Observe and decide for one event batch: list the names, ask EC2 about the addresses the plan
 * depends on, plan. Instances whose names could not all be listed are left out of the plan (a
 * partial view could remove a value that a record not seen still needs) and reported as failures.
 */
export async function planDnsCleanup(
  route53: Route53Client, ec2: EC2Client, snapshots: readonly InstanceSnapshot[], zones: readonly Zone[],
  options: { readonly route53?: Route53CallOptions; readonly ec2Retry?: RetryOptions } = {},
): Promise<{ plan: RecordPlan; failures: LookupFailure[] }> {
  const { recordSets, failures } = await lookupRecordSets(route53, snapshots, zones, options.route53);
  const failed = new Set(failures.flatMap((f) => f.instanceIds));
  const planned = snapshots.filter((s) => !failed.has(s.instanceId));
  const addresses = addressesToCheck(recordSets, planned);
  let holders = new Map<string, string>();
  if (addresses.length > 0) {
    try {
      holders = await findLiveHolders(ec2, addresses, options.ec2Retry);
    } catch (error) {
      // Without knowing who holds the addresses now, no address-bearing record can be changed safely.
      const instanceIds = planned.map((s) => s.instanceId);
      const failure = { instanceIds, errorCode: errorCode(error), errorMessage: errorMessage(error) };
      return { plan: { changes: [], kept: [] }, failures: [...failures, failure] };
    }
  }
  return { plan: planRecordChanges(recordSets, planned, holders), failures };
}

/**
 * Carries out the changes of one zone: one ChangeResourceRecordSets for all of them (more only past
 * Route 53's per-request limits). A batch is atomic, so when Route 53 refuses it for one record
 * (changed or removed since it was listed) it is resent one group of instances at a time, and a
 * group refused again one record at a time: only what is really refused fails.
 */
export async function applyZoneChanges(
  route53: Route53Client, zoneId: string, changes: readonly PlannedChange[], options: Route53CallOptions = {},
): Promise<InstanceDnsResult[]> {
  const outcomes = new Map<PlannedChange, ChangeOutcome>();
  const done = (change: PlannedChange) => outcomes.set(change, { change, ok: true });
  const failed = (change: PlannedChange, error: unknown) => {
    outcomes.set(change, { change, ok: false, errorCode: errorCode(error), errorMessage: errorMessage(error) });
  };
  // An error that is not about a record (access denied, no such zone, throttled through every
  // retry) would be the same for every other call: stop calling and fail the rest with it.
  let stopWith: unknown;
  const attempt = async (planned: readonly PlannedChange[]): Promise<unknown> => {
    if (stopWith !== undefined) return stopWith;
    const instanceIds = [...new Set(planned.flatMap((p) => p.instanceIds))];
    try {
      await route53Call(() => route53.send(new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Comment: truncateText(`${USER_AGENT} instance-decommissioner: ${instanceIds.join(' ')}`, CHANGE_COMMENT_MAX),
          Changes: planned.flatMap((p) => p.changes),
        },
      })), options);
      return undefined;
    } catch (error) {
      if (!isRecordLevel(error)) stopWith = error;
      return error;
    }
  };

  for (const groups of chunkGroups(groupChanges(changes))) {
    const all = groups.flatMap((g) => g.changes);
    const error = await attempt(all);
    if (error === undefined) {
      all.forEach(done);
      continue;
    }
    if (!isRecordLevel(error)) {
      all.forEach((c) => failed(c, error));
      continue;
    }
    for (const group of groups) {
      const groupError = groups.length === 1 ? error : await attempt(group.changes);
      if (groupError === undefined) {
        group.changes.forEach(done);
        continue;
      }
      if (!isRecordLevel(groupError)) {
        group.changes.forEach((c) => failed(c, groupError));
        continue;
      }
      for (const planned of group.changes) {
        const own = group.changes.length === 1 ? groupError : await attempt([planned]);
        if (own === undefined) done(planned);
        // Only a change sent alone can be told gone: in a batch, "not found" names no culprit.
        else if (isAlreadyGone(own)) outcomes.set(planned, { change: planned, ok: true, alreadyGone: true });
        else failed(planned, own);
      }
    }
  }
  return perInstance(changes, outcomes);
}

/** Carries out a plan: one applyZoneChanges per zone, the results merged per instance. */
export async function applyRecordPlan(route53: Route53Client, plan: RecordPlan, options: Route53CallOptions = {}): Promise<InstanceDnsResult[]> {
  const byZone = new Map<string, PlannedChange[]>();
  for (const change of plan.changes) byZone.set(change.zoneId, [...(byZone.get(change.zoneId) ?? []), change]);
  const merged = new Map<string, { changes: ChangeOutcome[] }>();
  for (const [zoneId, changes] of byZone) {
    for (const result of await applyZoneChanges(route53, zoneId, changes, options)) {
      const entry = merged.get(result.instanceId) ?? { changes: [] };
      entry.changes.push(...result.changes);
      merged.set(result.instanceId, entry);
    }
  }
  return [...merged].map(([instanceId, { changes }]) => summarize(instanceId, changes));
}

// ---------------------------------------------------------------------------------------------

interface ListStart {
  readonly StartRecordName: string;
  readonly StartRecordType?: ResourceRecordSet['Type'];
  readonly StartRecordIdentifier?: string;
}

/** Where the next page starts: name, type and set identifier, as Route 53 names them. */
function nextStart(page: { NextRecordName?: string; NextRecordType?: ResourceRecordSet['Type']; NextRecordIdentifier?: string }): ListStart | undefined {
  if (page.NextRecordName === undefined) return undefined;
  return {
    StartRecordName: page.NextRecordName,
    ...(page.NextRecordType !== undefined ? { StartRecordType: page.NextRecordType } : {}),
    ...(page.NextRecordIdentifier !== undefined ? { StartRecordIdentifier: page.NextRecordIdentifier } : {}),
  };
}

function route53Call<T>(send: () => Promise<T>, options: Route53CallOptions): Promise<T> {
  const pacer = options.pacer ?? route53Pacer;
  // Pace every attempt, retries included: a retry sent early would only be throttled again.
  return retryTransient(async () => {
    await pacer.wait();
    return send();
  }, { ...options.retry, retryOn: options.retry?.retryOn ?? isRoute53Retryable });
}

/** Route 53 refused the batch because of a record in it, so a smaller batch may pass. */
function isRecordLevel(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'InvalidChangeBatch' || code === 'InvalidInput';
}

/** "Tried to delete resource record set [...] but it was not found". */
function isAlreadyGone(error: unknown): boolean {
  if (errorCode(error) !== 'InvalidChangeBatch') return false;
  const messages = (error as { messages?: unknown }).messages;
  const text = [errorMessage(error), ...(Array.isArray(messages) ? messages.map(String) : [])].join('\n');
  return /\bnot found\b/i.test(text);
}

function perInstance(changes: readonly PlannedChange[], outcomes: ReadonlyMap<PlannedChange, ChangeOutcome>): InstanceDnsResult[] {
  const byInstance = new Map<string, ChangeOutcome[]>();
  for (const change of changes) {
    const outcome = outcomes.get(change)!;
    for (const id of change.instanceIds) byInstance.set(id, [...(byInstance.get(id) ?? []), outcome]);
  }
  return [...byInstance].map(([instanceId, list]) => summarize(instanceId, list));
}

function summarize(instanceId: string, changes: ChangeOutcome[]): InstanceDnsResult {
  const failure = changes.find((c) => !c.ok);
  return failure
    ? { instanceId, ok: false, errorCode: failure.errorCode, errorMessage: failure.errorMessage, changes }
    : { instanceId, ok: true, changes };
}

function instanceAddresses(instance: Instance): string[] {
  const out: Array<string | undefined> = [instance.PrivateIpAddress, instance.PublicIpAddress, instance.Ipv6Address];
  for (const eni of instance.NetworkInterfaces ?? []) {
    out.push(eni.PrivateIpAddress, eni.Association?.PublicIp);
    for (const p of eni.PrivateIpAddresses ?? []) out.push(p.PrivateIpAddress, p.Association?.PublicIp);
    for (const v6 of eni.Ipv6Addresses ?? []) out.push(v6.Ipv6Address);
  }
  return out.filter((a): a is string => typeof a === 'string' && a.length > 0);
}
