import { DeleteKeyPairCommand, DeleteSecurityGroupCommand, EC2Client, StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { Plan, PlanItem } from './decide';
import { actInBatches, ItemResult } from '../shared/batch';
import type { Outcome, ReportEntry } from '../shared/report';

// StopInstances and TerminateInstances accept up to 1000 instance ids per call.
export const INSTANCE_BATCH_MAX = 1000;

/**
 * Carries out the plan's ACT items (unless dry-run) and turns every item into a report entry.
 * Key pairs and security groups have no batch delete API: one call each.
 */
export async function act(ec2: EC2Client, plan: Plan, dryRun: boolean, record: (entries: ReportEntry[]) => void): Promise<void> {
  const toAct = plan.items.filter((i) => i.disposition === 'ACT');
  record(plan.items.filter((i) => i.disposition !== 'ACT').map((i) => entry(i, outcomeOf(i))));
  if (dryRun) {
    record(toAct.map((i) => entry(i, 'DRY_RUN')));
    return;
  }
  const groups: Array<[PlanItem[], number, (ids: string[]) => Promise<unknown>]> = [
    [toAct.filter((i) => i.action === 'STOP'), INSTANCE_BATCH_MAX, (ids) => ec2.send(new StopInstancesCommand({ InstanceIds: ids }))],
    [toAct.filter((i) => i.action === 'TERMINATE'), INSTANCE_BATCH_MAX, (ids) => ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }))],
    [toAct.filter((i) => i.resourceType === 'security-group'), 1, ([id]) => ec2.send(new DeleteSecurityGroupCommand({ GroupId: id }))],
    [toAct.filter((i) => i.resourceType === 'key-pair'), 1, ([name]) => ec2.send(new DeleteKeyPairCommand({ KeyName: name }))],
  ];
  for (const [items, maxPerCall, call] of groups) {
    if (items.length === 0) continue;
    const results = await actInBatches(items.map((i) => i.id), maxPerCall, call);
    record(withResults(items, results));
  }
}

function outcomeOf(item: PlanItem): Outcome {
  switch (item.disposition) {
    case 'REPORT': return 'REPORTED';
    case 'PROTECTED': return 'SKIPPED_PROTECTED';
    case 'CAP': return 'SKIPPED_CAP';
    default: return 'KEPT';
  }
}

function withResults(items: PlanItem[], results: ItemResult[]): ReportEntry[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  return items.map((item) => {
    const result = byId.get(item.id);
    return result?.ok ? entry(item, 'DONE') : entry(item, 'FAILED', result?.errorCode ?? 'NotAttempted');
  });
}

function entry(item: PlanItem, outcome: Outcome, errorCode?: string): ReportEntry {
  return { resourceType: item.resourceType, id: item.id, action: item.action, reason: item.reason, outcome, errorCode, details: item.details };
}
