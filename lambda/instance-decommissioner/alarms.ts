import { CloudWatchClient, DeleteAlarmsCommand, Dimension, MetricAlarm, paginateDescribeAlarms } from '@aws-sdk/client-cloudwatch';
import { actInBatches } from '../shared/batch';
import { errorCode } from '../shared/errors';
import { collectPages } from '../shared/paginate';
import { RetryOptions } from '../shared/retry';

/*
 * The alarms of an instance are found in one scan of every metric alarm, indexed by the InstanceId
 * dimension. DescribeAlarmsForMetric looks cheaper but is not: it matches only when every dimension
 * of the metric is given (CloudWatch agent metrics also carry ImageId, InstanceType, path, device…,
 * which the handler cannot know), and it costs one call per metric per instance. The index is kept
 * for a few minutes so a burst of terminations (many SQS batches in a row on one container) scans
 * once; an alarm created within that age is missed by the event path and caught by the scheduled
 * reconcile sweep, which always builds a fresh index.
 */

/** DescribeAlarms' largest page. */
export const DESCRIBE_ALARMS_PAGE_SIZE = 100;
/** DeleteAlarms takes up to 100 names per call. */
export const DELETE_ALARMS_MAX = 100;
export const DEFAULT_INDEX_MAX_AGE_MS = 5 * 60_000;
const INSTANCE_DIMENSION = 'InstanceId';

export class AlarmIndex {
  /** Scans every metric alarm of the account and region (paginated) and indexes them by instance. */
  static async build(cloudwatch: CloudWatchClient, builtAt: Date, retry: RetryOptions = {}): Promise<AlarmIndex> {
    const { items, pages } = await collectPages(
      (startingToken) => paginateDescribeAlarms(
        { client: cloudwatch, pageSize: DESCRIBE_ALARMS_PAGE_SIZE, startingToken },
        { AlarmTypes: ['MetricAlarm'] },
      ),
      (page) => page.NextToken,
      (page) => page.MetricAlarms ?? [],
      retry,
    );
    return new AlarmIndex(items, builtAt, pages);
  }

  private readonly byInstance = new Map<string, string[]>();
  private readonly byAlarm = new Map<string, string[]>();
  /** How many alarms the scan saw (whether or not they name an instance). */
  readonly alarmsScanned: number;

  constructor(alarms: readonly MetricAlarm[], readonly builtAt: Date, readonly pages = 0) {
    this.alarmsScanned = alarms.length;
    for (const alarm of alarms) {
      if (!alarm.AlarmName) continue;
      const instanceIds = instanceIdsOf(alarm);
      if (instanceIds.length > 0) this.byAlarm.set(alarm.AlarmName, instanceIds);
      for (const instanceId of instanceIds) {
        const names = this.byInstance.get(instanceId);
        if (names === undefined) this.byInstance.set(instanceId, [alarm.AlarmName]);
        else if (!names.includes(alarm.AlarmName)) names.push(alarm.AlarmName);
      }
    }
  }

  /** The names of the alarms on one of the instance's metrics, in the order DescribeAlarms listed them. */
  alarmsFor(instanceId: string): string[] {
    return [...this.byInstance.get(instanceId) ?? []];
  }

  /** The instances an alarm watches (several for a metric-math alarm): it may go only when all of them are gone. */
  instancesOf(alarmName: string): string[] {
    return [...this.byAlarm.get(alarmName) ?? []];
  }

  /** Every instance id some alarm names (the reconcile sweep checks which of them are gone). */
  instanceIdsWithAlarms(): string[] {
    return [...this.byInstance.keys()];
  }

  /**
   * Forgets alarms that were deleted, so the next invocation that reuses this index does not try
   * them again. A metric-math alarm may be listed under several instances: it goes from all.
   */
  remove(names: Iterable<string>): void {
    const gone = new Set(names);
    if (gone.size === 0) return;
    for (const name of gone) this.byAlarm.delete(name);
    for (const [instanceId, alarms] of this.byInstance) {
      const left = alarms.filter((n) => !gone.has(n));
      if (left.length === 0) this.byInstance.delete(instanceId);
      else if (left.length !== alarms.length) this.byInstance.set(instanceId, left);
    }
  }
}

/**
 * The instances an alarm watches: the InstanceId dimension of its metric or, for a metric-math
 * alarm, of any metric its expression reads.
 */
export function instanceIdsOf(alarm: MetricAlarm): string[] {
  // An alarm that reads another account's metrics (cross-account observability) watches that
  // account's instances, which EC2 here cannot see: such an alarm is never ours to delete.
  if ((alarm.Metrics ?? []).some((query) => query.AccountId !== undefined && query.AccountId !== '')) return [];
  const dimensionSets: Array<readonly Dimension[] | undefined> = [
    alarm.Dimensions,
    ...(alarm.Metrics ?? []).map((query) => query.MetricStat?.Metric?.Dimensions),
  ];
  const ids = new Set<string>();
  for (const dimensions of dimensionSets) {
    for (const d of dimensions ?? []) {
      if (d.Name === INSTANCE_DIMENSION && typeof d.Value === 'string' && d.Value.length > 0) ids.add(d.Value);
    }
  }
  return [...ids];
}

export interface AlarmIndexCacheOptions {
  /** How long an index is reused by later invocations of the same container. @default 5 minutes */
  readonly maxAgeMs?: number;
  /** @default the system clock */
  readonly clock?: () => Date;
  readonly retry?: RetryOptions;
}

export interface AlarmIndexCache {
  /**
   * The index, scanned now if there is none or it is older than maxAgeMs at `now`. Pass the
   * invocation's start time so that one invocation never scans twice.
   */
  get(cloudwatch: CloudWatchClient, now?: Date): Promise<AlarmIndex>;
  /** The index currently held, if any (for tests and reports). */
  peek(): AlarmIndex | undefined;
  clear(): void;
}

/** Create it at module scope: it lives as long as the container. */
export function createAlarmIndexCache(options: AlarmIndexCacheOptions = {}): AlarmIndexCache {
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_INDEX_MAX_AGE_MS;
  const clock = options.clock ?? (() => new Date());
  let current: AlarmIndex | undefined;
  // Messages of one batch may be handled concurrently: they share one scan rather than racing to start their own.
  let building: Promise<AlarmIndex> | undefined;
  return {
    async get(cloudwatch, now = clock()) {
      if (current && now.getTime() - current.builtAt.getTime() <= maxAgeMs) return current;
      if (!building) {
        // Stamped when the scan starts: an alarm created during the scan may be missing from it.
        building = AlarmIndex.build(cloudwatch, clock(), options.retry)
          .then((index) => {
            current = index;
            return index;
          })
          .finally(() => {
            building = undefined;
          });
      }
      return building;
    },
    peek: () => current,
    clear() {
      current = undefined;
    },
  };
}

export interface AlarmDeletion {
  readonly alarmName: string;
  /** DRY_RUN: a real run would have deleted it. */
  readonly outcome: 'DONE' | 'DRY_RUN' | 'FAILED';
  /** Set when the alarm was already gone on this run's first attempt (the evidence, e.g. "ResourceNotFound"). */
  readonly alreadyDone?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

export interface DeleteAlarmsOptions {
  readonly dryRun: boolean;
  /** The index the names came from: deleted alarms are removed from it. */
  readonly index?: AlarmIndex;
  readonly retry?: RetryOptions;
}

/**
 * Deletes alarms in calls of 100. AWS documents ResourceNotFound for DeleteAlarms; a batch refused
 * with it is retried name by name, and a name not found alone counts as already deleted.
 */
export async function deleteAlarms(cloudwatch: CloudWatchClient, names: readonly string[], options: DeleteAlarmsOptions): Promise<AlarmDeletion[]> {
  const unique = [...new Set(names)];
  if (options.dryRun) return unique.map((alarmName) => ({ alarmName, outcome: 'DRY_RUN' }));
  if (unique.length === 0) return [];
  // Unlike EC2, DeleteAlarms still deletes the names it knows when it reports one it does not, so
  // after such a batch "not found" on its own says nothing about who deleted the alarm.
  const inRefusedBatch = new Set<string>();
  const results = await actInBatches(
    unique,
    DELETE_ALARMS_MAX,
    async (batch) => {
      try {
        await cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: batch }));
      } catch (error) {
        if (batch.length > 1 && isAlarmNotFound(error)) batch.forEach((name) => inRefusedBatch.add(name));
        throw error;
      }
    },
    options.retry,
    { isAlreadyGone: isAlarmNotFound },
  );
  options.index?.remove(results.filter((r) => r.ok).map((r) => r.id));
  return results.map((r): AlarmDeletion => {
    if (!r.ok) return { alarmName: r.id, outcome: 'FAILED', errorCode: r.errorCode, errorMessage: r.errorMessage };
    return r.alreadyDone && !inRefusedBatch.has(r.id) ? { alarmName: r.id, outcome: 'DONE', alreadyDone: r.alreadyDone } : { alarmName: r.id, outcome: 'DONE' };
  });
}

/** CloudWatch's query API names it ResourceNotFound; its newer operations use ResourceNotFoundException. */
export function isAlarmNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ResourceNotFound' || code === 'ResourceNotFoundException';
}
