import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { Route53Client } from '@aws-sdk/client-route-53';
import type { AlarmIndexCache } from './alarms';
import { deleteAlarms } from './alarms';
import { announce, Cleaned, DecommissionDetail } from './announce';
import type { InstanceDecommissionerConfig } from './config';
import { decide, InstancePlan } from './decide';
import { applyRecordPlan, InstanceDnsResult, planDnsCleanup } from './dns';
import type { PlannedChange } from './dns-plan';
import { parseStateChange, SqsRecord, StateChange } from './events';
import { invokeHooks } from './hooks';
import { describeInstances } from './observe';
import { alarmEntry, hookEntry, instanceEntry, keptRecordEntry, recordEntry } from './report-entries';
import { getSnapshots, markDecommissioned, putLiveSnapshot, recordProgress, TableContext } from './table';
import { errorCode, errorMessage } from '../shared/errors';
import type { Outcome, ReportEntry } from '../shared/report';

/** The clients one batch uses (module-scope singletons in the handler, mocks in tests). */
export interface Clients {
  readonly ec2: EC2Client;
  readonly dynamodb: DynamoDBClient;
  readonly route53: Route53Client;
  readonly cloudwatch: CloudWatchClient;
  readonly lambda: LambdaClient;
  readonly eventbridge: EventBridgeClient;
  readonly alarmIndex: AlarmIndexCache;
}

export interface BatchOutcome {
  /** Messages to be delivered again: malformed, or whose instance could not be cleaned completely. */
  readonly failedMessageIds: ReadonlySet<string>;
  readonly entries: ReportEntry[];
  /** Instances the batch was about. */
  readonly instances: number;
  /** Something was changed, would have been in a dry run, failed or needs a human: worth a notification. */
  readonly notify: boolean;
}

/** Why one instance's messages fail; absent: its cleanup is complete. */
export type Failures = Map<string, string>;

/**
 * One SQS batch: parse each message, take snapshots of instances that started running, and clean up
 * after those that are shutting down or terminated. DNS changes are batched per zone across the
 * batch; everything else is per instance. An instance whose cleanup is not complete (a record, an
 * alarm, a hook, the bus event, or the final mark failed) fails all its messages, so SQS delivers
 * them again: every step is safe to repeat, and the snapshot is marked decommissioned only at the end.
 */
export async function processBatch(
  records: readonly SqsRecord[], cfg: InstanceDecommissionerConfig, clients: Clients, now: Date,
): Promise<BatchOutcome> {
  const entries: ReportEntry[] = [];
  const failedMessageIds = new Set<string>();
  const changes: Array<{ readonly messageId: string; readonly change: StateChange }> = [];
  for (const record of records) {
    try {
      changes.push({ messageId: record.messageId, change: parseStateChange(record.body) });
    } catch (error) {
      failedMessageIds.add(record.messageId);
      entries.push({ resourceType: 'message', id: record.messageId, action: 'NONE', reason: errorMessage(error), outcome: 'FAILED', errorCode: errorCode(error), details: [] });
    }
  }
  const instanceIds = [...new Set(changes.map((c) => c.change.instanceId))];
  if (instanceIds.length === 0) return { failedMessageIds, entries, instances: 0, notify: entries.length > 0 };

  const table: TableContext = { dynamodb: clients.dynamodb, tableName: cfg.tableName, retentionSeconds: cfg.snapshotRetentionSeconds };
  const stored = await getSnapshots(table, instanceIds);
  const described = await describeInstances(clients.ec2, instanceIds, cfg.recordNameTemplates);
  const plans = decide(changes.map((c) => c.change), stored, described, cfg);

  const failures: Failures = new Map();
  for (const plan of plans) {
    if (plan.kind === 'SNAPSHOT') {
      // A snapshot that could not be written fails its own messages only: the others of the batch go on.
      let written: boolean;
      try {
        written = await putLiveSnapshot(table, plan.snapshot, now);
      } catch (error) {
        failures.set(plan.instanceId, `snapshot not stored: ${errorCode(error)}`);
        entries.push(instanceEntry(plan.instanceId, 'SNAPSHOT', 'FAILED', `snapshot not stored (${errorMessage(error)}); its message will be delivered again`, errorCode(error)));
        continue;
      }
      entries.push(instanceEntry(plan.instanceId, 'SNAPSHOT', 'KEPT',
        written ? `running: snapshot stored (${plan.snapshot.recordNames.length} record name(s))` : 'running event after its decommission: snapshot left as it was'));
    } else if (plan.kind === 'SKIP') {
      entries.push(instanceEntry(plan.instanceId, 'NONE', skipOutcome(plan.why), plan.reason));
    }
  }
  const decommissions = plans.filter((p): p is DecommissionPlan => p.kind === 'DECOMMISSION');
  if (decommissions.length > 0) await decommission(decommissions, cfg, clients, table, now, entries, failures);

  for (const { messageId, change } of changes) if (failures.has(change.instanceId)) failedMessageIds.add(messageId);
  const notify = entries.some((e) => e.outcome !== 'KEPT');
  return { failedMessageIds, entries, instances: instanceIds.length, notify };
}

function skipOutcome(why: string): Outcome {
  if (why === 'protected') return 'SKIPPED_PROTECTED';
  // Nothing to clean is known: a human should hear of it (records may point at the instance still).
  if (why === 'unknown') return 'REPORTED';
  return 'KEPT';
}

export type DecommissionPlan = Extract<InstancePlan, { kind: 'DECOMMISSION' }>;

/**
 * Cleans up after dying instances (an event batch's, or those the reconcile sweep found gone without
 * an event): DNS, alarms, hooks, the bus event, then the mark. Each instance that could not be
 * cleaned completely is in `failures`, with why.
 */
export async function decommission(
  plans: readonly DecommissionPlan[],
  cfg: InstanceDecommissionerConfig, clients: Clients, table: TableContext, now: Date, entries: ReportEntry[], failures: Failures,
): Promise<void> {
  const fail = (instanceId: string, why: string) => {
    if (!failures.has(instanceId)) failures.set(instanceId, why);
  };
  const cleaned = new Map<string, { records: Cleaned['records'][number][]; keptRecords: Cleaned['keptRecords'][number][]; alarms: string[] }>(
    // What earlier deliveries removed counts too: the bus event and the mark tell the whole cleanup.
    plans.map((p) => [p.instanceId, { records: [...p.cleanedBefore.records], keptRecords: [], alarms: [...p.cleanedBefore.alarms] }]),
  );

  // DNS: one plan for the batch, one change batch per zone.
  if (cfg.zones.length > 0) {
    const { plan, failures: lookupFailures } = await planDnsCleanup(clients.route53, clients.ec2, plans.map((p) => p.snapshot), cfg.zones);
    for (const failure of lookupFailures) {
      for (const id of failure.instanceIds) fail(id, `DNS lookup failed: ${failure.errorCode}`);
      entries.push({
        resourceType: 'dns-lookup',
        id: failure.name ?? 'addresses',
        action: 'LOOKUP',
        outcome: 'FAILED',
        errorCode: failure.errorCode,
        reason: `${failure.errorMessage}; instance(s) ${failure.instanceIds.join(', ')} retried with their messages`,
        details: failure.zoneId ? [['zone', failure.zoneId]] : [],
      });
    }
    for (const kept of plan.kept) {
      entries.push(keptRecordEntry(kept));
      cleaned.get(kept.instanceId)?.keptRecords.push({ zoneId: kept.zoneId, name: kept.name, type: kept.type, reason: kept.reason });
    }
    const results: InstanceDnsResult[] = cfg.dryRun ? [] : await applyRecordPlan(clients.route53, plan);
    const outcomeOf = dnsOutcomes(results, cfg.dryRun);
    for (const change of plan.changes) {
      const outcome = outcomeOf(change);
      entries.push(recordEntry(change, outcome.outcome, outcome.errorCode, outcome.alreadyGone));
      if (outcome.outcome === 'FAILED') for (const id of change.instanceIds) fail(id, `record ${change.name} ${change.type}: ${outcome.errorCode}`);
      for (const id of change.instanceIds) {
        cleaned.get(id)?.records.push({
          zoneId: change.zoneId,
          name: change.name,
          type: change.type,
          setIdentifier: change.setIdentifier,
          values: change.removed.filter((r) => r.instanceId === id).map((r) => r.value),
        });
      }
    }
  }

  // Alarms: those watching only instances that are gone now.
  if (cfg.deleteAlarms) {
    const index = await clients.alarmIndex.get(clients.cloudwatch, now);
    const dying = new Set(plans.map((p) => p.instanceId));
    const owners = new Map<string, string[]>();
    for (const plan of plans) {
      for (const name of index.alarmsFor(plan.instanceId)) {
        const others = index.instancesOf(name).filter((id) => !dying.has(id));
        if (others.length > 0) {
          entries.push(alarmEntry(name, plan.instanceId, 'KEPT', `also watches ${others.join(', ')}: the reconcile sweep deletes it once they are gone too`));
          continue;
        }
        owners.set(name, [...(owners.get(name) ?? []), plan.instanceId]);
      }
    }
    const deletions = await deleteAlarms(clients.cloudwatch, [...owners.keys()], { dryRun: cfg.dryRun, index });
    for (const deletion of deletions) {
      const instances = owners.get(deletion.alarmName) ?? [];
      entries.push(alarmEntry(deletion.alarmName, instances.join(' '), deletion.outcome,
        deletion.alreadyDone ? 'already deleted' : `watched ${instances.join(', ')}`, deletion.errorCode));
      for (const id of instances) {
        if (deletion.outcome === 'FAILED') fail(id, `alarm ${deletion.alarmName}: ${deletion.errorCode}`);
        else cleaned.get(id)?.alarms.push(deletion.alarmName);
      }
    }
  }

  // Hooks, then the bus event, then the mark: only for instances whose cleanup is complete so far.
  const details = new Map<string, DecommissionDetail>();
  // Hooks this delivery called successfully, by instance: if a later step (the bus event, the mark)
  // fails, they are recorded, so that the delivery that retries the instance does not call them again.
  const hooksCalled = new Map<string, string[]>();
  for (const plan of plans) {
    const detail: DecommissionDetail = {
      instanceId: plan.instanceId,
      state: plan.state === 'terminated' ? 'terminated' : 'shutting-down',
      snapshot: plan.snapshot,
      snapshotSource: plan.source,
      dryRun: cfg.dryRun,
      cleaned: cleaned.get(plan.instanceId)!,
    };
    if (failures.has(plan.instanceId)) continue;
    const hooks = cfg.hookFunctions.filter((h) => !plan.hooksDone.has(h));
    for (const hook of cfg.hookFunctions.filter((h) => plan.hooksDone.has(h))) entries.push(hookEntry(hook, plan.instanceId, 'KEPT', 'already called by an earlier delivery'));
    if (cfg.dryRun) {
      for (const hook of hooks) entries.push(hookEntry(hook, plan.instanceId, 'DRY_RUN', 'would be invoked with the snapshot'));
    } else if (hooks.length > 0) {
      const outcome = await invokeHooks(clients.lambda, hooks, detail);
      for (const result of outcome.results) {
        entries.push(hookEntry(result.hook, plan.instanceId, result.ok ? 'DONE' : 'FAILED', result.ok ? 'invoked with the snapshot' : result.error ?? 'failed', result.errorCode));
      }
      hooksCalled.set(plan.instanceId, outcome.results.filter((r) => r.ok).map((r) => r.hook));
      if (outcome.failed) {
        const failedHooks = outcome.results.filter((r) => !r.ok).map((r) => r.hook);
        fail(plan.instanceId, `hook(s) failed: ${failedHooks.join(', ')}`);
        continue;
      }
    }
    details.set(plan.instanceId, detail);
  }

  const announced = await announce(clients.eventbridge, cfg.eventBus, [...details.values()], cfg.dryRun);
  for (const result of announced) {
    if (!result.ok) {
      fail(result.instanceId, `event not put on the bus: ${result.errorCode}`);
      entries.push({ resourceType: 'event', id: result.instanceId, action: 'PUT_EVENT', outcome: 'FAILED', errorCode: result.errorCode, reason: result.errorMessage ?? 'not accepted', details: [] });
    }
  }

  // For the delivery that retries a failed instance: the hooks this one called, and what it removed.
  const rememberProgress = async (plan: DecommissionPlan) => {
    if (cfg.dryRun) return;
    const done = cleaned.get(plan.instanceId)!;
    try {
      await recordProgress(table, plan.snapshot, hooksCalled.get(plan.instanceId) ?? [], done, now);
    } catch {
      // The next delivery calls those hooks again (hooks are documented to be safe to repeat), and
      // its report lists only what it removed itself.
    }
  };
  for (const plan of plans) {
    const why = failures.get(plan.instanceId);
    if (why !== undefined) {
      await rememberProgress(plan);
      entries.push(instanceEntry(plan.instanceId, 'DECOMMISSION', 'FAILED', `${why}; its message will be delivered again`, undefined, plan.source));
      continue;
    }
    if (cfg.dryRun) {
      entries.push(instanceEntry(plan.instanceId, 'DECOMMISSION', 'DRY_RUN', `${plan.state}: would be marked decommissioned`, undefined, plan.source));
      continue;
    }
    try {
      await markDecommissioned(table, plan.snapshot, cleaned.get(plan.instanceId), now);
      entries.push(instanceEntry(plan.instanceId, 'DECOMMISSION', 'DONE', `${plan.state}: cleaned up and marked decommissioned`, undefined, plan.source));
    } catch (error) {
      fail(plan.instanceId, `snapshot not marked: ${errorCode(error)}`);
      await rememberProgress(plan);
      entries.push(instanceEntry(plan.instanceId, 'DECOMMISSION', 'FAILED', `cleaned up, but the snapshot could not be marked (${errorMessage(error)}); its message will be delivered again`, errorCode(error), plan.source));
    }
  }
}

function dnsOutcomes(results: readonly InstanceDnsResult[], dryRun: boolean) {
  const byChange = new Map(results.flatMap((r) => r.changes.map((c) => [c.change, c] as const)));
  return (change: PlannedChange): { outcome: Outcome; errorCode?: string; alreadyGone?: boolean } => {
    if (dryRun) return { outcome: 'DRY_RUN' };
    const result = byChange.get(change);
    if (!result) return { outcome: 'FAILED', errorCode: 'NotAttempted' };
    return result.ok ? { outcome: 'DONE', alreadyGone: result.alreadyGone } : { outcome: 'FAILED', errorCode: result.errorCode };
  };
}
