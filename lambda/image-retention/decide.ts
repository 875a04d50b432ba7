import type { ImageRetentionConfig, PinnedImage } from './config';
import type { ObservedImage, ObservedRepository } from './observe';
import { cosignSubject, parseImageUri, registryOf } from './references';
import type { ImageUse } from './usage';
import type { KeepReason } from '../../src/image-retention/contract';
import { wildcardToRegExp } from '../shared/wildcard';

/*
 * Which images are provably unused, and in what order they may go. Pure: observations, config and
 * the clock in; a plan out.
 */

export type ImageDisposition =
  | 'KEEP' // a reason applies (keepReason)
  | 'DELETE' // a candidate, within the per-run cap
  | 'PROTECTED' // a candidate in a repository that carries the protection tag
  | 'CAP'; // a candidate beyond the per-run cap

export interface ImagePlanItem {
  readonly repository: string;
  readonly image: ObservedImage;
  readonly disposition: ImageDisposition;
  readonly keepReason?: KeepReason;
  /** For `in-use`: what names it. For `unknown-consumer`: the accounts that could not be read. */
  readonly usedBy?: string;
  /** Deletion order within the repository: an image is deleted after every image that references it (phase 0 first). */
  readonly phase: number;
}

export interface ImagePlan {
  readonly items: ImagePlanItem[];
  /** Images to delete, counted against maxActionsPerRun. */
  readonly deletions: number;
}

export interface DecideInput {
  readonly repositories: readonly ObservedRepository[];
  readonly uses: readonly ImageUse[];
  /** Repository name → accounts that may pull it and could not be read this run. */
  readonly unknownConsumers: ReadonlyMap<string, readonly string[]>;
}

type Settings = Pick<ImageRetentionConfig, 'keepNewest' | 'minAgeSeconds' | 'keepTagPatterns' | 'pinnedImages' | 'action' | 'dryRun'>;

/** What references an image within its repository: the indexes that list it and the images it is the subject of. */
interface Links {
  /** digest → digests of images that reference it (indexes listing it, referrers about it) */
  readonly referencedBy: Map<string, Set<string>>;
  /** digest → digests it references (its children, its subject) */
  readonly references: Map<string, Set<string>>;
  /** digest → 'index-child' | 'referrer' when something in the repository references it so */
  readonly role: Map<string, 'index-child' | 'referrer'>;
}

interface Unit {
  readonly repository: ObservedRepository;
  readonly members: ObservedImage[];
  readonly oldest: number;
  readonly firstDigest: string;
}

export function decideImages(input: DecideInput, settings: Settings, budget: number, now: Date): ImagePlan {
  const patterns = settings.keepTagPatterns.map(wildcardToRegExp);
  const items: ImagePlanItem[] = [];
  const units: Unit[] = [];
  const candidates = new Map<ObservedRepository, Map<string, number>>();
  for (const repository of input.repositories) {
    const used = usesOf(repository, input.uses, settings.pinnedImages);
    const links = linksOf(repository);
    const unknown = input.unknownConsumers.get(repository.name) ?? [];
    const reasons = keepReasons(repository, links, used, patterns, settings, now, unknown);
    const phases = new Map<string, number>();
    const deleted = repository.images.filter((i) => !reasons.has(i.digest));
    for (const image of deleted) phases.set(image.digest, 0);
    for (const image of deleted) phases.set(image.digest, phaseOf(image.digest, links, phases, new Set()));
    for (const image of repository.images) {
      const reason = reasons.get(image.digest);
      if (reason) items.push({ repository: repository.name, image, disposition: 'KEEP', keepReason: reason.reason, usedBy: reason.usedBy, phase: 0 });
    }
    candidates.set(repository, phases);
    units.push(...unitsOf(repository, deleted, links));
  }
  // Oldest first across repositories: the cap takes whole units, and the next run continues.
  units.sort((a, b) => a.oldest - b.oldest || a.firstDigest.localeCompare(b.firstDigest));
  const capped = settings.action === 'DELETE';
  let deletions = 0;
  let full = false;
  for (const unit of units) {
    const phases = candidates.get(unit.repository)!;
    let disposition: ImageDisposition = 'DELETE';
    if (unit.repository.protected) {
      disposition = 'PROTECTED';
    } else if (capped && (full || deletions + unit.members.length > budget)) {
      disposition = 'CAP';
      full = true;
    } else {
      deletions += unit.members.length;
    }
    for (const image of unit.members) {
      items.push({ repository: unit.repository.name, image, disposition, phase: phases.get(image.digest) ?? 0 });
    }
  }
  return { items, deletions: capped ? deletions : 0 };
}

/** Digest → what names it, in this repository: uses by digest, by tag resolved now, and pinned images. */
type Named = { reason: KeepReason; usedBy: string };

function usesOf(repository: ObservedRepository, uses: readonly ImageUse[], pinned: readonly PinnedImage[]): Map<string, Named> {
  const byTag = new Map<string, string>();
  for (const image of repository.images) for (const tag of image.tags) byTag.set(tag, image.digest);
  const registry = registryOf(repository.uri);
  const found = new Map<string, Named>();
  const mark = (digest: string | undefined, reason: KeepReason, usedBy: string) => {
    if (digest === undefined) return;
    const seen = found.get(digest);
    // in-use outranks pinned; among uses, the first one found is named.
    if (seen === undefined || (seen.reason === 'pinned' && reason === 'in-use')) found.set(digest, { reason, usedBy });
  };
  for (const use of uses) {
    const ref = parseImageUri(use.image, registry);
    if (ref?.repository !== repository.name) continue;
    mark(ref.digest, 'in-use', use.usedBy);
    if (ref.tag !== undefined) mark(byTag.get(ref.tag), 'in-use', use.usedBy);
    // What the task actually pulled, even if the tag has moved since.
    mark(use.digest, 'in-use', use.usedBy);
  }
  for (const pin of pinned) {
    if (pin.repository !== repository.name) continue;
    if ('digest' in pin) mark(pin.digest, 'pinned', `pinnedImages ${pin.repository}@${pin.digest}`);
    else mark(byTag.get(pin.tag), 'pinned', `pinnedImages ${pin.repository}:${pin.tag}`);
  }
  return found;
}

function linksOf(repository: ObservedRepository): Links {
  const present = new Set(repository.images.map((i) => i.digest));
  const referencedBy = new Map<string, Set<string>>();
  const references = new Map<string, Set<string>>();
  const role = new Map<string, 'index-child' | 'referrer'>();
  const link = (from: string, to: string, kind: 'index-child' | 'referrer') => {
    if (!present.has(to) || from === to) return;
    if (!referencedBy.has(to)) referencedBy.set(to, new Set());
    referencedBy.get(to)!.add(from);
    if (!references.has(from)) references.set(from, new Set());
    references.get(from)!.add(to);
    if (kind === 'index-child') role.set(to, kind);
    else role.set(from, kind);
  };
  for (const [index, children] of repository.children) for (const child of children) link(index, child, 'index-child');
  for (const [referrer, subject] of repository.subjects) link(referrer, subject, 'referrer');
  for (const image of repository.images) {
    for (const tag of image.tags) {
      const subject = cosignSubject(tag);
      if (subject) link(image.digest, subject, 'referrer');
    }
  }
  return { referencedBy, references, role };
}

function keepReasons(
  repository: ObservedRepository,
  links: Links,
  used: Map<string, Named>,
  patterns: RegExp[],
  settings: Settings,
  now: Date,
  unknownConsumers: readonly string[],
): Map<string, { reason: KeepReason; usedBy?: string }> {
  const reasons = new Map<string, { reason: KeepReason; usedBy?: string }>();
  const topLevel = repository.images.filter((i) => !links.role.has(i.digest));
  const newest = new Set([...topLevel]
    .sort((a, b) => time(b) - time(a) || a.digest.localeCompare(b.digest))
    .slice(0, settings.keepNewest)
    .map((i) => i.digest));
  const minAgeMs = settings.minAgeSeconds * 1_000;
  for (const image of repository.images) {
    const isTopLevel = !links.role.has(image.digest);
    const use = used.get(image.digest);
    if (use) reasons.set(image.digest, use);
    else if (image.tags.some((t) => patterns.some((p) => p.test(t)))) reasons.set(image.digest, { reason: 'tag-pattern' });
    else if (isTopLevel && newest.has(image.digest)) reasons.set(image.digest, { reason: 'newest' });
    // An image without a push time has an unknown age: it is kept as young.
    else if (isTopLevel && (image.pushedAt === undefined || now.getTime() - image.pushedAt.getTime() < minAgeMs)) reasons.set(image.digest, { reason: 'young' });
  }
  keepDependants(reasons, links, [...reasons.keys()]);
  if (unknownConsumers.length > 0) {
    // What would be deleted is kept for the accounts that could not be read: the candidates by that
    // reason, and what goes with them by theirs (an index's children, referrers).
    const usedBy = unknownConsumers.join(', ');
    const candidates = topLevel.filter((i) => !reasons.has(i.digest)).map((i) => i.digest);
    for (const digest of candidates) reasons.set(digest, { reason: 'unknown-consumer', usedBy });
    keepDependants(reasons, links, candidates);
    for (const image of repository.images) if (!reasons.has(image.digest)) reasons.set(image.digest, { reason: 'unknown-consumer', usedBy });
  }
  return reasons;
}

/** What a kept image needs stays: an index's children, and the referrers about it, transitively. */
function keepDependants(reasons: Map<string, { reason: KeepReason; usedBy?: string }>, links: Links, kept: string[]): void {
  const queue = [...kept];
  while (queue.length > 0) {
    const digest = queue.pop()!;
    const dependants: Array<[string, KeepReason]> = [
      ...[...links.references.get(digest) ?? []].filter((d) => links.role.get(d) === 'index-child').map((d) => [d, 'index-child'] as [string, KeepReason]),
      ...[...links.referencedBy.get(digest) ?? []].filter((d) => links.role.get(d) === 'referrer').map((d) => [d, 'referrer'] as [string, KeepReason]),
    ];
    for (const [dependant, reason] of dependants) {
      if (reasons.has(dependant)) continue;
      reasons.set(dependant, { reason });
      queue.push(dependant);
    }
  }
}

/** An image is deleted after every deleted image that references it: indexes before children, referrers before subjects. */
function phaseOf(digest: string, links: Links, phases: Map<string, number>, visiting: Set<string>): number {
  if (visiting.has(digest)) return 0;
  visiting.add(digest);
  let phase = 0;
  for (const from of links.referencedBy.get(digest) ?? []) {
    if (phases.has(from)) phase = Math.max(phase, 1 + phaseOf(from, links, phases, visiting));
  }
  visiting.delete(digest);
  return phase;
}

/** Candidates grouped with everything that goes with them: connected through the links, deleted or kept back together. */
function unitsOf(repository: ObservedRepository, deleted: ObservedImage[], links: Links): Unit[] {
  const byDigest = new Map(deleted.map((i) => [i.digest, i]));
  const seen = new Set<string>();
  const units: Unit[] = [];
  for (const start of deleted) {
    if (seen.has(start.digest)) continue;
    const members: ObservedImage[] = [];
    const stack = [start.digest];
    seen.add(start.digest);
    while (stack.length > 0) {
      const digest = stack.pop()!;
      members.push(byDigest.get(digest)!);
      for (const next of [...links.references.get(digest) ?? [], ...links.referencedBy.get(digest) ?? []]) {
        if (byDigest.has(next) && !seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    members.sort((a, b) => a.digest.localeCompare(b.digest));
    units.push({ repository, members, oldest: Math.min(...members.map(time)), firstDigest: members[0].digest });
  }
  return units;
}

function time(image: ObservedImage): number {
  return image.pushedAt?.getTime() ?? Number.POSITIVE_INFINITY;
}
