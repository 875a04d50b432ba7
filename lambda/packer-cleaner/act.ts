import { DeleteKeyPairCommand, DeleteSecurityGroupCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { Plan, PlanItem } from './decide';
import { actInBatches, CallOutcome, ItemResult, sdkAttempts } from '../shared/batch';
import { errorCode as codeOf } from '../shared/errors';
import { INSTANCE_BATCH_MAX, INSTANCE_GONE, instanceStateCall } from '../shared/instance-actions';
import type { Outcome, ReportEntry } from '../shared/report';

/** Detail column (and log field) that marks an action found already done, with the evidence. */
export const ALREADY_DONE_DETAIL = 'alreadyDone';

/*
 * Two runs may overlap (reserved concurrency 1 is opt-in): every action must be safe to repeat, and
 * one that another run (or someone else) already carried out is done, not failed.
 * - TerminateInstances is idempotent; an instance whose previous state is shutting-down/terminated
 *   was already terminated. Terminated instances stay visible for about an hour; after that the id
 *   is InvalidInstanceID.NotFound, which also means "nothing left to terminate".
 * - StopInstances on a stopping/stopped instance succeeds; its previous state says so.
 * - DeleteSecurityGroup of a missing group fails with InvalidGroup.NotFound: already deleted.
 * - DeleteKeyPair by name succeeds whether or not the key pair exists; the response names the
 *   KeyPairId it deleted, and names none when there was nothing to delete. (InvalidKeyPair.NotFound
 *   is treated as deleted too, should EC2 ever answer so.)
 */
const GONE: Record<string, ReadonlySet<string>> = {
  'instance': INSTANCE_GONE,
  'security-group': new Set(['InvalidGroup.NotFound']),
  'key-pair': new Set(['InvalidKeyPair.NotFound']),
};

/**
 * Carries out the plan's ACT items (unless dry-run) and turns every item into a report entry.
 * Key pairs and security groups have no batch delete API: one call each. An item found already
 * done is reported DONE with an `alreadyDone` detail and a reason that says so.
 */
export async function act(ec2: EC2Client, plan: Plan, dryRun: boolean, record: (entries: ReportEntry[]) => void): Promise<void> {
  const toAct = plan.items.filter((i) => i.disposition === 'ACT');
  record(plan.items.filter((i) => i.disposition !== 'ACT').map((i) => entry(i, outcomeOf(i))));
  if (dryRun) {
    record(toAct.map((i) => entry(i, 'DRY_RUN')));
    return;
  }
  const groups: Array<[PlanItem[], number, (ids: string[]) => Promise<CallOutcome>]> = [
    [toAct.filter((i) => i.action === 'STOP'), INSTANCE_BATCH_MAX, instanceStateCall(ec2, 'STOP')],
    [toAct.filter((i) => i.action === 'TERMINATE'), INSTANCE_BATCH_MAX, instanceStateCall(ec2, 'TERMINATE')],
    [toAct.filter((i) => i.resourceType === 'security-group'), 1, async ([id]) => {
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId: id }));
      return {};
    }],
    [toAct.filter((i) => i.resourceType === 'key-pair'), 1, async ([name]) => {
      const out = await ec2.send(new DeleteKeyPairCommand({ KeyName: name }));
      // Only an explicit success that names no key pair says so; any other answer is a plain success.
      const nothingDeleted = out?.Return === true && !out.KeyPairId && sdkAttempts(out) <= 1;
      return nothingDeleted ? { alreadyDone: new Map([[name, 'no-key-pair-deleted']]) } : {};
    }],
  ];
  for (const [items, maxPerCall, call] of groups) {
    if (items.length === 0) continue;
    const gone = GONE[items[0].resourceType];
    const results = await actInBatches(items.map((i) => i.id), maxPerCall, call, {}, { isAlreadyGone: (error) => gone.has(codeOf(error)) });
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
    if (result?.ok && result.alreadyDone !== undefined) {
      return {
        ...entry(item, 'DONE'),
        reason: `already done before this run's call (${result.alreadyDone}): another run or someone else got there first; planned because ${item.reason}`,
        details: [...item.details, [ALREADY_DONE_DETAIL, result.alreadyDone] as const],
      };
    }
    return result?.ok ? entry(item, 'DONE') : entry(item, 'FAILED', result?.errorCode ?? 'NotAttempted');
  });
}

function entry(item: PlanItem, outcome: Outcome, errorCode?: string): ReportEntry {
  return { resourceType: item.resourceType, id: item.id, action: item.action, reason: item.reason, outcome, errorCode, details: item.details };
}
