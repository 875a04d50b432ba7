import type { Plan } from './decide';

/** Instance ids named per line; the rest are counted (every one is in the entries below). */
const IDS_SHOWN = 5;

/**
 * The run at a glance, above the per-instance entries of the notification: violations by rule, the
 * tags written by key, and the stops and terminations due next with the earliest date.
 */
export function overviewLines(plan: Plan): string[] {
  const violators = new Map<string, Set<string>>();
  const tagsByKey = new Map<string, number>();
  const due = new Map<string, { count: number; first: Date }>();
  for (const item of plan.items) {
    for (const key of item.broken ?? []) {
      const ids = violators.get(key) ?? new Set<string>();
      ids.add(item.instanceId);
      violators.set(key, ids);
    }
    if (item.action === 'TAG' && item.disposition === 'ACT') tagsByKey.set(item.tag!.key, (tagsByKey.get(item.tag!.key) ?? 0) + 1);
    if (item.due) {
      const seen = due.get(item.due.action);
      if (!seen) due.set(item.due.action, { count: 1, first: item.due.at });
      else due.set(item.due.action, { count: seen.count + 1, first: item.due.at < seen.first ? item.due.at : seen.first });
    }
  }
  const lines = [`Compliant: ${plan.compliant} instance(s) break no rule and need no tag.`];
  if (violators.size === 0) {lines.push('Violations by rule: none.');} else {
    lines.push('Violations by rule:');
    for (const [key, ids] of [...violators].sort(([a], [b]) => a.localeCompare(b))) {
      const shown = [...ids].slice(0, IDS_SHOWN).join(', ');
      lines.push(`  ${key}: ${ids.size} instance(s): ${shown}${ids.size > IDS_SHOWN ? `, and ${ids.size - IDS_SHOWN} more` : ''}`);
    }
  }
  if (tagsByKey.size > 0) {
    lines.push(`Tags to fill in: ${[...tagsByKey].sort(([a], [b]) => a.localeCompare(b)).map(([key, n]) => `${key} on ${n}`).join(', ')}.`);
  }
  for (const [action, { count, first }] of [...due].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`Due next: ${action} of ${count} marked instance(s) still in violation, the first on or after ${first.toISOString()}.`);
  }
  return lines;
}
