import type { ImagePlanItem } from './decide';
import type { RevisionPlanItem } from './task-definitions';
import type { KeepReason } from '../../src/image-retention/contract';
import type { Outcome, ReportEntry } from '../shared/report';

/*
 * Report rows: one per image and per task definition revision considered, saying what was done
 * and why, so that "why was this kept?" is answered by the log line of that image.
 */

const KEEP_TEXT: Record<KeepReason, (usedBy?: string) => string> = {
  'in-use': (usedBy) => `in use: ${usedBy}`,
  'pinned': (usedBy) => `pinned: ${usedBy}`,
  'unknown-consumer': (usedBy) => `consumer account(s) that may pull this repository could not be read (${usedBy}): nothing is deleted on partial knowledge`,
  'protected': () => 'the repository carries the protection tag',
  'index-child': () => 'listed by a kept image index',
  'referrer': () => 'a signature, SBOM or attestation of a kept image',
  'tag-pattern': () => 'a tag matches keepTagPatterns',
  'newest': () => 'among the newest keepNewest images of its repository',
  'young': () => 'pushed less than minAge ago',
};

const CANDIDATE_TEXT = 'not in use, not pinned, no tag matching keepTagPatterns, older than minAge and outside the newest keepNewest (with its index children and referrers)';

export function imageEntry(item: ImagePlanItem, outcome: Outcome, errorCode?: string): ReportEntry {
  const image = item.image;
  const details: Array<readonly [string, string]> = [
    ['repository', item.repository],
    ['tags', image.tags.length > 0 ? image.tags.join(',') : '-'],
    ['pushedAt', image.pushedAt?.toISOString() ?? 'unknown'],
    ['sizeBytes', String(image.sizeBytes)],
  ];
  if (item.keepReason) details.push(['kept', item.keepReason]);
  if (item.keepReason === 'in-use' && item.usedBy) details.push(['usedBy', item.usedBy]);
  let reason = item.keepReason ? KEEP_TEXT[item.keepReason](item.usedBy) : CANDIDATE_TEXT;
  if (item.disposition === 'PROTECTED') {
    reason = `${CANDIDATE_TEXT}; ${KEEP_TEXT.protected()}`;
    details.push(['kept', 'protected']);
  }
  if (item.disposition === 'CAP') reason = `${CANDIDATE_TEXT}; beyond maxActionsPerRun: a later run deletes it`;
  return {
    resourceType: 'image',
    id: `${item.repository}@${image.digest}`,
    action: item.disposition === 'KEEP' ? 'NONE' : 'DELETE',
    reason,
    outcome,
    ...(errorCode ? { errorCode } : {}),
    details,
  };
}

const REVISION_TEXT: Record<string, string> = {
  'newest': 'among the newest keepNewestRevisions revisions of its family',
  'in-use': 'a service, task, rule or schedule runs it',
  'DEREGISTER': 'ACTIVE, older than the newest keepNewestRevisions of its family, and nothing runs it',
  'DELETE': 'INACTIVE, and nothing runs it',
};

export function revisionEntry(item: RevisionPlanItem, outcome: Outcome, errorCode?: string): ReportEntry {
  let reason = REVISION_TEXT[item.keepReason ?? item.action];
  if (outcome === 'SKIPPED_PROTECTED') reason += '; the revision carries the protection tag';
  if (outcome === 'SKIPPED_CAP') reason += '; beyond maxActionsPerRun: a later run handles it';
  return {
    resourceType: 'task-definition',
    id: item.id,
    action: item.action,
    reason,
    outcome,
    ...(errorCode ? { errorCode } : {}),
    details: item.keepReason ? [['kept', item.keepReason]] : [],
  };
}

/** One line per repository: what was scanned, kept (by reason), deleted, failed and freed. */
export function repositoryOverview(repository: string, entries: readonly ReportEntry[]): string {
  const rows = entries.filter((e) => e.resourceType === 'image' && e.id.startsWith(`${repository}@`));
  const kept = new Map<string, number>();
  let inUse = 0;
  let deleted = 0;
  let failed = 0;
  let freed = 0;
  let candidates = 0;
  for (const row of rows) {
    const detail = new Map(row.details);
    const reason = detail.get('kept');
    if (reason === 'in-use') inUse++;
    else if (reason) kept.set(reason, (kept.get(reason) ?? 0) + 1);
    if (row.outcome === 'DONE') {
      deleted++;
      freed += Number(detail.get('sizeBytes') ?? 0);
    } else if (row.outcome === 'FAILED') {
      failed++;
    } else if (row.outcome === 'DRY_RUN' || row.outcome === 'REPORTED' || row.outcome === 'SKIPPED_CAP') {
      candidates++;
    }
  }
  const keptTotal = [...kept.values()].reduce((a, b) => a + b, 0);
  const byReason = [...kept].sort(([a], [b]) => a.localeCompare(b)).map(([r, n]) => `${r} ${n}`).join(', ');
  return `${repository}: ${rows.length} scanned, ${inUse} in use, ${keptTotal} kept${byReason ? ` (${byReason})` : ''}, `
    + `${deleted} deleted, ${failed} failed, ${candidates} more deletable, ${formatBytes(freed)} freed`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
