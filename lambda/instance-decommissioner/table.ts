import {
  BatchGetItemCommand, ConditionalCheckFailedException, DynamoDBClient, paginateScan, PutItemCommand, UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { CleanedRecord } from './announce';
import type { InstanceSnapshot } from './snapshot';
import { SNAPSHOT_ATTRIBUTES as A, SNAPSHOT_STATUS } from '../../src/instance-decommissioner/contract';
import { chunk } from '../shared/batch';
import { collectPages } from '../shared/paginate';
import { retryTransient, RetryOptions, sleep } from '../shared/retry';

/** BatchGetItem reads up to 100 keys a call. */
const GET_BATCH_MAX = 100;
const UNPROCESSED_ATTEMPTS = 5;

export type SnapshotStatus = typeof SNAPSHOT_STATUS[keyof typeof SNAPSHOT_STATUS];

/** A snapshot item as the table holds it. */
export interface StoredSnapshot {
  readonly snapshot: InstanceSnapshot;
  readonly status: SnapshotStatus;
  readonly decommissionedAt?: string;
  readonly hooksDone: ReadonlySet<string>;
  /** What earlier deliveries removed, while the instance is not yet marked decommissioned. @default nothing */
  readonly cleanedBefore?: CleanedBefore;
}

export interface TableContext {
  readonly dynamodb: DynamoDBClient;
  readonly tableName: string;
  readonly retentionSeconds: number;
  readonly retry?: RetryOptions;
}

function expiresAt(ctx: TableContext, now: Date): number {
  return Math.floor(now.getTime() / 1000) + ctx.retentionSeconds;
}

/**
 * Stores the snapshot of a running instance, without an expiry. A snapshot already marked
 * decommissioned is never overwritten: a `running` event can arrive after the `terminated` one.
 * Returns false then.
 */
export async function putLiveSnapshot(ctx: TableContext, snapshot: InstanceSnapshot, now: Date): Promise<boolean> {
  try {
    await retryTransient(() => ctx.dynamodb.send(new PutItemCommand({
      TableName: ctx.tableName,
      Item: marshall({
        [A.instanceId]: snapshot.instanceId,
        [A.status]: SNAPSHOT_STATUS.live,
        [A.snapshot]: JSON.stringify(snapshot),
        [A.capturedAt]: now.toISOString(),
        // No expiry while the instance lives: an instance may run longer than snapshotRetention, and
        // its cleanup needs the snapshot. The reconcile sweep decommissions snapshots of instances gone
        // without an event; the retention counts from the decommission.
      }),
      // Nor one whose decommission has begun (hooks ran): replacing it would forget them.
      ConditionExpression: '(attribute_not_exists(#status) OR #status <> :decommissioned) AND attribute_not_exists(#hooks)',
      ExpressionAttributeNames: { '#status': A.status, '#hooks': A.hooksDone },
      ExpressionAttributeValues: marshall({ ':decommissioned': SNAPSHOT_STATUS.decommissioned }),
    })), ctx.retry);
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

/** The stored snapshots of these instances (consistent reads), by id; an instance without one is absent. */
export async function getSnapshots(ctx: TableContext, instanceIds: readonly string[]): Promise<Map<string, StoredSnapshot>> {
  const found = new Map<string, StoredSnapshot>();
  for (const ids of chunk([...new Set(instanceIds)], GET_BATCH_MAX)) {
    let keys = ids.map((id) => marshall({ [A.instanceId]: id }));
    for (let attempt = 1; keys.length > 0; attempt++) {
      if (attempt > UNPROCESSED_ATTEMPTS) throw new Error(`${keys.length} snapshot(s) stayed unprocessed after ${UNPROCESSED_ATTEMPTS} attempts`);
      // Unprocessed keys mean the table's capacity was exceeded: back off before asking again.
      if (attempt > 1) await (ctx.retry?.sleep ?? sleep)(50 * 2 ** attempt);
      const requested = keys;
      const out = await retryTransient(() => ctx.dynamodb.send(new BatchGetItemCommand({
        RequestItems: { [ctx.tableName]: { Keys: requested, ConsistentRead: true } },
      })), ctx.retry);
      for (const item of out.Responses?.[ctx.tableName] ?? []) {
        const stored = fromItem(unmarshall(item));
        if (stored) found.set(stored.snapshot.instanceId, stored);
      }
      keys = out.UnprocessedKeys?.[ctx.tableName]?.Keys ?? [];
    }
  }
  return found;
}

/** Every snapshot the table holds as decommissioned: what the reconcile sweep matches records against. */
export function scanDecommissioned(ctx: TableContext): Promise<StoredSnapshot[]> {
  return scanSnapshots(ctx, SNAPSHOT_STATUS.decommissioned);
}

/** Every snapshot the table holds in this status (one paginated Scan, filtered server-side). */
export async function scanSnapshots(ctx: TableContext, status: SnapshotStatus): Promise<StoredSnapshot[]> {
  const { items } = await collectPages(
    (startingToken) => paginateScan({ client: ctx.dynamodb, startingToken: startingToken === undefined ? undefined : JSON.parse(startingToken) }, {
      TableName: ctx.tableName,
      FilterExpression: '#status = :status',
      ExpressionAttributeNames: { '#status': A.status },
      ExpressionAttributeValues: marshall({ ':status': status }),
    }),
    (page) => page.LastEvaluatedKey ? JSON.stringify(page.LastEvaluatedKey) : undefined,
    (page) => page.Items ?? [],
    ctx.retry,
  );
  return items.map((item) => fromItem(unmarshall(item))).filter((s): s is StoredSnapshot => s !== undefined);
}

/** Marks the instance decommissioned, with what was cleaned; kept until its TTL for reconciliation and audit. */
export async function markDecommissioned(ctx: TableContext, snapshot: InstanceSnapshot, cleaned: unknown, now: Date): Promise<void> {
  await retryTransient(() => ctx.dynamodb.send(new UpdateItemCommand({
    TableName: ctx.tableName,
    Key: marshall({ [A.instanceId]: snapshot.instanceId }),
    UpdateExpression: 'SET #status = :status, #snapshot = :snapshot, #at = :at, #cleaned = :cleaned, #expires = :expires',
    ExpressionAttributeNames: { '#status': A.status, '#snapshot': A.snapshot, '#at': A.decommissionedAt, '#cleaned': A.cleaned, '#expires': A.expiresAt },
    ExpressionAttributeValues: marshall({
      ':status': SNAPSHOT_STATUS.decommissioned,
      ':snapshot': JSON.stringify(snapshot),
      ':at': now.toISOString(),
      ':cleaned': JSON.stringify(cleaned),
      ':expires': expiresAt(ctx, now),
    }),
  })), ctx.retry);
}

/**
 * Gives a snapshot its expiry when its instance is gone but it is not to be decommissioned (not
 * selected, protected): the table does not keep it forever. An expiry already set is kept.
 */
export async function expireSnapshot(ctx: TableContext, instanceId: string, now: Date): Promise<void> {
  await retryTransient(() => ctx.dynamodb.send(new UpdateItemCommand({
    TableName: ctx.tableName,
    Key: marshall({ [A.instanceId]: instanceId }),
    UpdateExpression: 'SET #expires = if_not_exists(#expires, :expires)',
    ConditionExpression: 'attribute_exists(#id)',
    ExpressionAttributeNames: { '#expires': A.expiresAt, '#id': A.instanceId },
    ExpressionAttributeValues: marshall({ ':expires': expiresAt(ctx, now) }),
  })), ctx.retry);
}

/** What an earlier delivery already removed for an instance whose cleanup did not complete. */
export interface CleanedBefore {
  readonly records: readonly CleanedRecord[];
  readonly alarms: readonly string[];
}

/**
 * Records the progress of a cleanup that did not complete, for the delivery that retries it: the
 * hooks that succeeded (not called again) and what was removed so far (so the bus event, the hooks
 * and the mark of the retry tell all of it, not only what the retry itself removed).
 */
export async function recordProgress(
  ctx: TableContext, snapshot: InstanceSnapshot, hooks: readonly string[], cleaned: CleanedBefore, now: Date,
): Promise<void> {
  if (hooks.length === 0 && cleaned.records.length === 0 && cleaned.alarms.length === 0) return;
  await retryTransient(() => ctx.dynamodb.send(new UpdateItemCommand({
    TableName: ctx.tableName,
    Key: marshall({ [A.instanceId]: snapshot.instanceId }),
    // An instance known only from DescribeInstances gets its snapshot stored here too.
    UpdateExpression: 'SET #snapshot = if_not_exists(#snapshot, :snapshot), #status = if_not_exists(#status, :live), '
      + '#expires = if_not_exists(#expires, :expires), #cleaned = :cleaned'
      + (hooks.length > 0 ? ' ADD #hooks :hooks' : ''),
    ExpressionAttributeNames: {
      '#snapshot': A.snapshot, '#status': A.status, '#expires': A.expiresAt, '#cleaned': A.cleaned, ...(hooks.length > 0 ? { '#hooks': A.hooksDone } : {}),
    },
    ExpressionAttributeValues: {
      ...(hooks.length > 0 ? { ':hooks': { SS: [...new Set(hooks)] } } : {}),
      ...marshall({
        ':snapshot': JSON.stringify(snapshot),
        ':live': SNAPSHOT_STATUS.live,
        ':expires': expiresAt(ctx, now),
        ':cleaned': JSON.stringify({ records: cleaned.records, alarms: cleaned.alarms }),
      }),
    },
  })), ctx.retry);
}

function fromItem(item: Record<string, unknown>): StoredSnapshot | undefined {
  const status = item[A.status];
  if (status !== SNAPSHOT_STATUS.live && status !== SNAPSHOT_STATUS.decommissioned) return undefined;
  const snapshot = readSnapshot(item[A.snapshot]);
  if (!snapshot || snapshot.instanceId !== item[A.instanceId]) return undefined;
  const hooks = item[A.hooksDone];
  return {
    snapshot,
    status,
    decommissionedAt: typeof item[A.decommissionedAt] === 'string' ? item[A.decommissionedAt] as string : undefined,
    hooksDone: new Set(hooks instanceof Set ? [...hooks].map(String) : []),
    cleanedBefore: status === SNAPSHOT_STATUS.live ? readCleaned(item[A.cleaned]) : { records: [], alarms: [] },
  };
}

/**
 * A stored snapshot, read defensively: the table can be edited by hand, and a malformed item must
 * not stop the cleanup of the others (the item is treated as absent; EC2 is asked instead).
 */
export function readSnapshot(json: unknown): InstanceSnapshot | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(String(json));
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.instanceId !== 'string') return undefined;
  const text = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0) : []);
  const tags: Record<string, string> = {};
  if (r.tags !== null && typeof r.tags === 'object' && !Array.isArray(r.tags)) {
    for (const [k, v] of Object.entries(r.tags as Record<string, unknown>)) if (typeof v === 'string') tags[k] = v;
  }
  return {
    instanceId: r.instanceId,
    privateIp: text(r.privateIp),
    privateIps: list(r.privateIps),
    publicIps: list(r.publicIps),
    ipv6s: list(r.ipv6s),
    privateDnsName: text(r.privateDnsName),
    publicDnsName: text(r.publicDnsName),
    tags,
    autoScalingGroupName: text(r.autoScalingGroupName),
    availabilityZone: text(r.availabilityZone),
    vpcId: text(r.vpcId),
    launchTime: text(r.launchTime),
    recordNames: list(r.recordNames),
  };
}

/** A stored `Cleaned` attribute, read defensively (anything malformed counts as nothing). */
function readCleaned(json: unknown): CleanedBefore {
  let raw: unknown;
  try {
    raw = JSON.parse(String(json));
  } catch {
    return { records: [], alarms: [] };
  }
  const r = (raw ?? {}) as { records?: unknown; alarms?: unknown };
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const records = (Array.isArray(r.records) ? r.records : [])
    .filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object' && typeof x.zoneId === 'string' && typeof x.name === 'string' && typeof x.type === 'string')
    .map((x) => ({
      zoneId: x.zoneId as string,
      name: x.name as string,
      type: x.type as string,
      ...(typeof x.setIdentifier === 'string' ? { setIdentifier: x.setIdentifier } : {}),
      values: strings(x.values),
    }));
  return { records, alarms: strings(r.alarms) };
}
