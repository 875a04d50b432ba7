import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SNSClient } from '@aws-sdk/client-sns';
import { AlarmIndex, deleteAlarms } from './alarms';
import type { InstanceDecommissionerConfig } from './config';
import { decide, mergeSnapshots } from './decide';
import { Clients, decommission, DecommissionPlan } from './decommission';
import { applyRecordPlan, findLiveHolders, listZoneRecordSets } from './dns';
import { addressesToCheck, planRecordChanges, PlannedChange, SeenRecordSet } from './dns-plan';
import type { StateChange } from './events';
import { isInstanceId } from './events';
import { describeInstances } from './observe';
import { alarmEntry, instanceEntry, keptRecordEntry, recordEntry } from './report-entries';
import { expireSnapshot, getSnapshots, scanDecommissioned, scanSnapshots, TableContext } from './table';
import { SNAPSHOT_STATUS } from '../../src/instance-decommissioner/contract';
import { isProtected } from '../shared/guards';
import { ReportEntry, RunSummary } from '../shared/report';
import { RunRecorder, runSweep } from '../shared/sweep';

export interface SweepClients extends Clients {
  readonly sns: SNSClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The sweep lists whole zones: a decommissioned instance's address goes from any record, whatever its name. */
const SWEEP_SCOPE = { addressesAtAnyName: true } as const;

/** States in which EC2 says an instance is gone for good. */
const GONE_STATES = new Set(['shutting-down', 'terminated']);

/**
 * The scheduled sweep that does not trust events alone. It lists every record set of the zones and
 * removes values that belong to instances the table knows as decommissioned and that no live
 * instance has taken over; and, with deleteAlarms, deletes alarms that only watch instances EC2 no
 * longer knows or reports terminated. An address no snapshot ever held is never touched (a load
 * balancer, an on-premises host). `maxActionsPerRun` caps the changes; the rest waits for the next run.
 */
export async function reconcile(cfg: InstanceDecommissionerConfig, clients: SweepClients, dryRun: boolean, now: Date): Promise<RunSummary> {
  const table: TableContext = { dynamodb: clients.dynamodb, tableName: cfg.tableName, retentionSeconds: cfg.snapshotRetentionSeconds };
  return runSweep({ construct: 'InstanceDecommissioner', dryRun, topicArn: cfg.topicArn, sns: clients.sns, logger: clients.logger, metrics: clients.metrics, now },
    async (recorder) => {
      let budget = cfg.maxActionsPerRun;
      const take = (): boolean => {
        if (budget <= 0) return false;
        budget--;
        return true;
      };

      await decommissionOrphans(cfg, clients, table, dryRun, now, recorder, take);

      if (cfg.zones.length > 0) {
        const decommissioned = (await scanDecommissioned(table)).map((s) => s.snapshot);
        const recordSets: SeenRecordSet[] = [];
        for (const zone of cfg.zones) {
          for (const recordSet of await listZoneRecordSets(clients.route53, zone.id)) recordSets.push({ zoneId: zone.id, recordSet });
        }
        recorder.scanned += recordSets.length;
        const addresses = addressesToCheck(recordSets, decommissioned, SWEEP_SCOPE);
        const holders = addresses.length > 0 ? await findLiveHolders(clients.ec2, addresses) : new Map<string, string>();
        const plan = planRecordChanges(recordSets, decommissioned, holders, SWEEP_SCOPE);
        recorder.add(...plan.kept.map(keptRecordEntry));
        const within: PlannedChange[] = [];
        for (const change of plan.changes) {
          if (take()) within.push(change);
          else recorder.add(recordEntry(change, 'SKIPPED_CAP', undefined, undefined));
        }
        if (dryRun) {
          recorder.add(...within.map((c) => recordEntry(c, 'DRY_RUN')));
        } else {
          const results = await applyRecordPlan(clients.route53, { changes: within, kept: [] });
          const byChange = new Map(results.flatMap((r) => r.changes.map((c) => [c.change, c] as const)));
          for (const change of within) {
            const result = byChange.get(change);
            recorder.add(result?.ok ? recordEntry(change, 'DONE', undefined, result.alreadyGone) : recordEntry(change, 'FAILED', result?.errorCode ?? 'NotAttempted'));
          }
        }
      }

      if (cfg.deleteAlarms) {
        const index = await AlarmIndex.build(clients.cloudwatch, now);
        // An InstanceId dimension may name something else in a custom namespace ("web-frontend-1"):
        // EC2 does not know it, which must not count as "gone". Such an alarm is never deleted.
        const watched = index.instanceIdsWithAlarms().filter(isInstanceId);
        recorder.scanned += index.alarmsScanned;
        const described = await describeInstances(clients.ec2, watched, []);
        const gone = watched.filter((id) => !described.has(id) || GONE_STATES.has(described.get(id)!.state));
        // The selector and the protection tag read the table's snapshot merged with what EC2 still
        // says (EC2's tags win, as for the instance itself: a protection tag added after launch
        // keeps the alarms too); an instance neither knows counts as selected only without a selector.
        const snapshots = await getSnapshots(table, gone);
        const entries: ReportEntry[] = [];
        const eligible = new Set<string>();
        for (const id of gone) {
          const tags = mergeSnapshots(snapshots.get(id)?.snapshot, described.get(id)?.snapshot)?.tags;
          const selected = Object.entries(cfg.instanceSelector).every(([k, v]) => tags?.[k] === v);
          if (!selected) continue;
          if (tags && isProtected(tags, cfg.protectionTagKey)) {
            for (const name of index.alarmsFor(id)) entries.push(alarmEntry(name, id, 'SKIPPED_PROTECTED', `its instance carries the protection tag "${cfg.protectionTagKey}"`));
            continue;
          }
          eligible.add(id);
        }
        const toDelete: string[] = [];
        const owners = new Map<string, string[]>();
        for (const id of eligible) {
          for (const name of index.alarmsFor(id)) {
            if (owners.has(name)) continue;
            const instances = index.instancesOf(name);
            if (!instances.every((i) => eligible.has(i))) continue;
            owners.set(name, instances);
            if (take()) toDelete.push(name);
            else entries.push(alarmEntry(name, instances.join(' '), 'SKIPPED_CAP', 'over maxActionsPerRun: the next run deletes it'));
          }
        }
        for (const deletion of await deleteAlarms(clients.cloudwatch, toDelete, { dryRun })) {
          const instances = owners.get(deletion.alarmName)!;
          entries.push(alarmEntry(deletion.alarmName, instances.join(' '), deletion.outcome,
            `watches ${instances.join(', ')}, which EC2 no longer runs`, deletion.errorCode));
        }
        recorder.add(...entries);
      }
    });
}

/**
 * Instances that died without their event reaching the handler (lost before the queue, or the stack
 * was deployed later) still have LIVE snapshots: each one EC2 no longer knows, or reports terminated,
 * is decommissioned here exactly as an event would have done it, within the per-run cap. One that is
 * not selected or protected is left alone, and its snapshot gets its expiry.
 */
async function decommissionOrphans(
  cfg: InstanceDecommissionerConfig, clients: SweepClients, table: TableContext, dryRun: boolean, now: Date,
  recorder: RunRecorder, take: () => boolean,
): Promise<void> {
  const live = await scanSnapshots(table, SNAPSHOT_STATUS.live);
  recorder.scanned += live.length;
  if (live.length === 0) return;
  const described = await describeInstances(clients.ec2, live.map((s) => s.snapshot.instanceId), cfg.recordNameTemplates);
  const gone = live.filter((s) => {
    const current = described.get(s.snapshot.instanceId);
    return current === undefined || GONE_STATES.has(current.state);
  });
  if (gone.length === 0) return;
  const stored = new Map(gone.map((s) => [s.snapshot.instanceId, s]));
  const changes: StateChange[] = gone.map((s) => ({ instanceId: s.snapshot.instanceId, state: 'terminated', time: now.toISOString() }));
  const toClean: DecommissionPlan[] = [];
  for (const plan of decide(changes, stored, described, cfg)) {
    if (plan.kind === 'DECOMMISSION') {
      if (take()) toClean.push(plan);
      else recorder.add(instanceEntry(plan.instanceId, 'DECOMMISSION', 'SKIPPED_CAP', 'gone without an event; over maxActionsPerRun: the next run cleans up after it'));
    } else if (plan.kind === 'SKIP') {
      recorder.add(instanceEntry(plan.instanceId, 'NONE', plan.why === 'protected' ? 'SKIPPED_PROTECTED' : 'KEPT', `gone without an event; ${plan.reason}`));
      if (!dryRun) await expireSnapshot(table, plan.instanceId, now);
    }
  }
  if (toClean.length === 0) return;
  const entries: ReportEntry[] = [];
  await decommission(toClean, { ...cfg, dryRun }, clients, table, now, entries, new Map());
  recorder.add(...entries);
}
