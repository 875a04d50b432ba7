import { CreateTagsCommand, DeleteTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { Plan, PlanItem } from './decide';
import { VIOLATION_TAG_KEY } from '../../src/tag-policy-engine/contract';
import { actInBatches, ItemResult } from '../shared/batch';
import { errorCode as codeOf } from '../shared/errors';
import { INSTANCE_BATCH_MAX, INSTANCE_GONE, instanceStateCall } from '../shared/instance-actions';
import type { Outcome, ReportEntry } from '../shared/report';
import { RetryOptions } from '../shared/retry';

/** CreateTags and DeleteTags accept up to 1000 resource ids per call. */
export const TAG_BATCH_MAX = 1000;

/*
 * The construct's grants carry conditions on each instance's tags (no protection tag, the selector
 * tags, the violation mark for stops), and EC2 refuses a whole call when one instance fails them,
 * e.g. one protected after it was described: the call is retried per instance, so only that one fails.
 */
const PER_INSTANCE_GRANT = { perResourceAuthorization: true } as const;

/**
 * Carries out the plan's ACT items (unless dry-run) and turns every item into a report entry:
 * tags first (grouped by identical key and value, each group in calls of up to 1000 ids, the
 * instances' volumes and interfaces in the same calls), then unmarks, marks, stops and terminations.
 * A call refused as a whole is retried id by id, so one bad instance fails alone.
 */
export async function act(
  ec2: EC2Client, plan: Plan, dryRun: boolean, record: (entries: ReportEntry[]) => void, retry: RetryOptions = {},
): Promise<void> {
  const toAct = plan.items.filter((i) => i.disposition === 'ACT');
  record(plan.items.filter((i) => i.disposition !== 'ACT').map((i) => entry(i, outcomeOf(i))));
  if (dryRun) {
    record(toAct.map((i) => entry(i, 'DRY_RUN')));
    return;
  }

  for (const group of groupBy(toAct.filter((i) => i.action === 'TAG' || i.action === 'MARK'), (i) => JSON.stringify([i.tag!.key, i.tag!.value]))) {
    const { key, value } = group[0].tag!;
    const ids = group.flatMap((i) => [i.instanceId, ...(i.alsoTag ?? [])]);
    const results = await actInBatches(unique(ids), TAG_BATCH_MAX, async (batch) => {
      await ec2.send(new CreateTagsCommand({ Resources: batch, Tags: [{ Key: key, Value: value }] }));
    }, retry, PER_INSTANCE_GRANT);
    record(withResults(group, results));
  }
  // (An empty list makes no call: actInBatches has no batch to send.)
  const unmarks = toAct.filter((i) => i.action === 'UNMARK');
  // A tag given without a value is deleted whatever its value.
  const unmarked = await actInBatches(unmarks.map((i) => i.instanceId), TAG_BATCH_MAX, async (batch) => {
    await ec2.send(new DeleteTagsCommand({ Resources: batch, Tags: [{ Key: VIOLATION_TAG_KEY }] }));
  }, retry, PER_INSTANCE_GRANT);
  record(withResults(unmarks, unmarked));
  for (const action of ['STOP', 'TERMINATE'] as const) {
    const items = toAct.filter((i) => i.action === action);
    const results = await actInBatches(items.map((i) => i.instanceId), INSTANCE_BATCH_MAX, instanceStateCall(ec2, action), retry,
      { ...PER_INSTANCE_GRANT, isAlreadyGone: (error) => INSTANCE_GONE.has(codeOf(error)) });
    record(withResults(items, results));
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.values()];
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

function outcomeOf(item: PlanItem): Outcome {
  switch (item.disposition) {
    case 'PROTECTED': return 'SKIPPED_PROTECTED';
    case 'CAP': return 'SKIPPED_CAP';
    default: return 'REPORTED';
  }
}

/**
 * An instance's entry takes its own id's result; a volume or interface that failed is named in its details.
 * (actInBatches returns one result for every id it was given, and a failure always has a code.)
 */
function withResults(items: readonly PlanItem[], results: readonly ItemResult[]): ReportEntry[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  return items.map((item) => {
    const result = byId.get(item.instanceId)!;
    const attachedFailures = (item.alsoTag ?? []).filter((id) => !byId.get(id)!.ok);
    const base = result.ok ? entry(item, 'DONE') : entry(item, 'FAILED', result.errorCode);
    if (result.ok && result.alreadyDone !== undefined) {
      return { ...base, reason: `already done before this run's call (${result.alreadyDone}); planned because ${item.reason}`, details: [...base.details, ['alreadyDone', result.alreadyDone] as const] };
    }
    if (attachedFailures.length === 0) return base;
    const codes = attachedFailures.map((id) => `${id}:${byId.get(id)!.errorCode}`).join(',');
    return { ...base, outcome: 'FAILED', errorCode: byId.get(attachedFailures[0])!.errorCode, details: [...base.details, ['notTagged', codes] as const] };
  });
}

function entry(item: PlanItem, outcome: Outcome, errorCode?: string): ReportEntry {
  return { resourceType: 'instance', id: item.instanceId, action: item.action, reason: item.reason, outcome, errorCode, details: item.details };
}
