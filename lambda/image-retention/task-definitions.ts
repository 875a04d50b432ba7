import type { TaskDefinitionSettings } from './config';

/*
 * Task definition revisions (opt-in): per family, ACTIVE revisions older than the newest
 * keepNewestRevisions that nothing runs are deregistered; INACTIVE ones that nothing runs are
 * deleted. Pure.
 */

export type RevisionAction = 'DEREGISTER' | 'DELETE' | 'NONE';
export type RevisionDisposition = 'KEEP' | 'ACT' | 'CAP';

export interface RevisionPlanItem {
  readonly arn: string;
  /** `family:revision` */
  readonly id: string;
  readonly action: RevisionAction;
  readonly disposition: RevisionDisposition;
  readonly keepReason?: 'newest' | 'in-use';
}

/** `arn:…:task-definition/family:revision` → family and revision; undefined for anything else. */
export function parseRevisionArn(arn: string): { family: string; revision: number } | undefined {
  const match = /:task-definition\/([A-Za-z0-9_-]{1,255}):(\d+)$/.exec(arn);
  return match ? { family: match[1], revision: Number(match[2]) } : undefined;
}

export function decideRevisions(
  active: readonly string[],
  inactive: readonly string[],
  inUse: ReadonlySet<string>,
  settings: TaskDefinitionSettings,
  budget: number,
  capped: boolean,
): RevisionPlanItem[] {
  const items: RevisionPlanItem[] = [];
  const families = new Map<string, Array<{ arn: string; revision: number }>>();
  for (const arn of active) {
    const parsed = parseRevisionArn(arn);
    if (!parsed) continue;
    if (!families.has(parsed.family)) families.set(parsed.family, []);
    families.get(parsed.family)!.push({ arn, revision: parsed.revision });
  }
  const candidates: Array<{ arn: string; id: string; action: RevisionAction }> = [];
  for (const [family, revisions] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    revisions.sort((a, b) => b.revision - a.revision);
    revisions.forEach(({ arn, revision }, index) => {
      const id = `${family}:${revision}`;
      if (index < settings.keepNewestRevisions) items.push({ arn, id, action: 'NONE', disposition: 'KEEP', keepReason: 'newest' });
      else if (inUse.has(arn)) items.push({ arn, id, action: 'NONE', disposition: 'KEEP', keepReason: 'in-use' });
      else if (settings.deregisterUnused) candidates.push({ arn, id, action: 'DEREGISTER' });
    });
  }
  if (settings.deleteInactive) {
    for (const arn of inactive) {
      const parsed = parseRevisionArn(arn);
      if (!parsed) continue;
      const id = `${parsed.family}:${parsed.revision}`;
      if (inUse.has(arn)) items.push({ arn, id, action: 'NONE', disposition: 'KEEP', keepReason: 'in-use' });
      else candidates.push({ arn, id, action: 'DELETE' });
    }
  }
  // Oldest first under the cap, as images: the lowest revisions of each family, then INACTIVE ones.
  candidates.sort((a, b) => Number(a.action === 'DELETE') - Number(b.action === 'DELETE') || byRevision(a.id, b.id));
  let left = budget;
  for (const candidate of candidates) {
    const fits = !capped || left > 0;
    if (fits && capped) left--;
    items.push({ ...candidate, disposition: fits ? 'ACT' : 'CAP' });
  }
  return items;
}

function byRevision(a: string, b: string): number {
  const [familyA, revisionA] = [a.slice(0, a.lastIndexOf(':')), Number(a.slice(a.lastIndexOf(':') + 1))];
  const [familyB, revisionB] = [b.slice(0, b.lastIndexOf(':')), Number(b.slice(b.lastIndexOf(':') + 1))];
  return familyA.localeCompare(familyB) || revisionA - revisionB;
}
