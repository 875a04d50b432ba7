import { createHash } from 'crypto';
import { AmiSpec } from './properties';
import { AMI_LIMITS, IMAGE_DEFINING_PROPERTIES } from '../../src/ami-manager/contract';

/*
 * Pure decisions: what an Update means, what name a request's image gets, whether an image is done,
 * and which snapshots a delete must still remove. No AWS calls here.
 */

/**
 * The AMI name for one create request: the user's name and 8 hex digits of the request id. Image
 * names are unique per account and region, so a replacement needs a name of its own while the
 * image it replaces still exists; a retried create computes the same name and finds its image.
 */
export function imageNameFor(spec: Pick<AmiSpec, 'imageName'>, requestId: string): string {
  const suffix = createHash('sha256').update(requestId).digest('hex').slice(0, AMI_LIMITS.imageNameSuffixLength);
  return `${spec.imageName}-${suffix}`;
}

/** The hash of what defines the image (the fingerprint ownership tag). */
export function fingerprintOf(spec: Pick<AmiSpec, typeof IMAGE_DEFINING_PROPERTIES[number]>): string {
  const defining = IMAGE_DEFINING_PROPERTIES.map((key) => spec[key] ?? null);
  return createHash('sha256').update(JSON.stringify(defining)).digest('hex').slice(0, 32);
}

export interface InPlaceChanges {
  readonly tagsToSet: Readonly<Record<string, string>>;
  readonly tagKeysToRemove: readonly string[];
  readonly accountsToAdd: readonly string[];
  readonly accountsToRemove: readonly string[];
  /** 'set' with the new age, 'clear', or unchanged. */
  readonly deprecation: { readonly kind: 'set'; readonly afterSeconds: number } | { readonly kind: 'clear' } | { readonly kind: 'unchanged' };
  readonly stopInstance: boolean;
}

export type UpdatePlan = { readonly kind: 'replace'; readonly changed: readonly string[] } | ({ readonly kind: 'in-place' } & InPlaceChanges);

/** A change to what defines the image bakes a new one; anything else is applied to the existing image. */
export function planUpdate(previous: AmiSpec, next: AmiSpec): UpdatePlan {
  const changed = IMAGE_DEFINING_PROPERTIES.filter((key) => previous[key] !== next[key]);
  if (changed.length > 0) return { kind: 'replace', changed };
  const tagsToSet = Object.fromEntries(Object.entries(next.tags).filter(([k, v]) => previous.tags[k] !== v));
  const tagKeysToRemove = Object.keys(previous.tags).filter((k) => !Object.prototype.hasOwnProperty.call(next.tags, k));
  const before = new Set(previous.shareWithAccounts);
  const after = new Set(next.shareWithAccounts);
  let deprecation: InPlaceChanges['deprecation'] = { kind: 'unchanged' };
  if (next.deprecateAfterSeconds === undefined) {
    if (previous.deprecateAfterSeconds !== undefined) deprecation = { kind: 'clear' };
  } else if (next.deprecateAfterSeconds !== previous.deprecateAfterSeconds) {
    deprecation = { kind: 'set', afterSeconds: next.deprecateAfterSeconds };
  }
  return {
    kind: 'in-place',
    tagsToSet,
    tagKeysToRemove,
    accountsToAdd: [...after].filter((a) => !before.has(a)),
    accountsToRemove: [...before].filter((a) => !after.has(a)),
    deprecation,
    // Turning the option on for an existing image stops the instance now, as a create would have.
    stopInstance: next.stopInstanceAfterImage && !previous.stopInstanceAfterImage,
  };
}

/** True when an in-place update has nothing to change. */
export function isNoChange(plan: InPlaceChanges): boolean {
  return Object.keys(plan.tagsToSet).length === 0 && plan.tagKeysToRemove.length === 0 && plan.accountsToAdd.length === 0
    && plan.accountsToRemove.length === 0 && plan.deprecation.kind === 'unchanged' && !plan.stopInstance;
}

export type Completion =
  | { readonly kind: 'pending'; readonly waitedSeconds: number }
  | { readonly kind: 'available' }
  | { readonly kind: 'failed'; readonly reason: string };

/** Largest reason text put in a CloudFormation failure (the whole response must stay under 4 KB). */
export const FAILURE_REASON_MAX = 1_000;

/** Whether the image being created is ready, broken, or worth another poll. */
export function completion(
  image: { state?: string; stateReason?: string; creationDate?: string } | undefined,
  imageId: string, timeoutSeconds: number, startedAt: Date, now: Date,
): Completion {
  const waitedSeconds = Math.max(0, Math.floor((now.getTime() - startedAt.getTime()) / 1000));
  if (!image) {
    // Just created images can take a moment to be visible to DescribeImages (eventual consistency).
    if (waitedSeconds <= timeoutSeconds) return { kind: 'pending', waitedSeconds };
    return { kind: 'failed', reason: cut(`image ${imageId} was not found after ${waitedSeconds} s`) };
  }
  if (image.state === 'available') return { kind: 'available' };
  if (image.state === 'pending' || image.state === 'transient') {
    if (waitedSeconds <= timeoutSeconds) return { kind: 'pending', waitedSeconds };
    return { kind: 'failed', reason: cut(`image ${imageId} was still ${image.state} after ${waitedSeconds} s (timeout ${timeoutSeconds} s)`) };
  }
  const why = image.stateReason ? `: ${image.stateReason}` : '';
  return { kind: 'failed', reason: cut(`image ${imageId} is ${image.state ?? 'in an unknown state'}${why}`) };
}

/** The start of the wait: the image's creation time when EC2 gives one, else the first poll. */
export function waitStart(creationDate: string | undefined, fallback: Date): Date {
  const parsed = creationDate ? new Date(creationDate) : undefined;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed : fallback;
}

/** DeprecateAt for an image created at `createdAt`, whole minutes (EC2 rounds seconds anyway). */
export function deprecateAt(createdAt: Date, afterSeconds: number): Date {
  const at = new Date(createdAt.getTime() + afterSeconds * 1000);
  at.setUTCSeconds(0, 0);
  return at;
}

function cut(text: string): string {
  return text.length <= FAILURE_REASON_MAX ? text : `${text.slice(0, FAILURE_REASON_MAX - 3)}...`;
}
