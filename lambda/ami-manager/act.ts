import {
  CreateImageCommand, CreateTagsCommand, DeleteSnapshotCommand, DeleteTagsCommand, DeregisterImageCommand,
  DisableImageDeprecationCommand, EC2Client, EnableImageDeprecationCommand, ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand, StopInstancesCommand, Tag,
} from '@aws-sdk/client-ec2';
import { deprecateAt, fingerprintOf, imageNameFor, InPlaceChanges } from './decide';
import { existingSnapshots, findOwnImageByName, ImageView, isOwnedBy, ownedSnapshotsOf, Owner, SnapshotView } from './observe';
import { AmiSpec } from './properties';
import { OWNERSHIP_TAGS } from '../../src/ami-manager/contract';
import { errorCode, errorMessage, isCallerLevel, isTransient } from '../shared/errors';
import { ReportEntry } from '../shared/report';
import { retryTransient, sleep } from '../shared/retry';

/*
 * The EC2 changes. Each one is safe to repeat: CloudFormation and the provider framework may deliver
 * an event twice, and Step Functions retries a failed isComplete.
 */

export interface CreateRequest extends Owner {
  readonly requestId: string;
}

/**
 * Starts the image, tagged at creation (image and snapshots) with the user's tags and the ownership
 * tags. A retry of the same request finds the image by its name, which the request id fixes, and
 * the request tag proves it is this request's: there is never a second image.
 */
export async function startImage(ec2: EC2Client, spec: AmiSpec, request: CreateRequest): Promise<string> {
  const name = imageNameFor(spec, request.requestId);
  const tags = ownershipTags(spec, request);
  try {
    const out = await retryTransient(() => ec2.send(new CreateImageCommand({
      InstanceId: spec.instanceId,
      Name: name,
      Description: spec.description,
      NoReboot: !spec.reboot,
      TagSpecifications: [{ ResourceType: 'image', Tags: tags }, { ResourceType: 'snapshot', Tags: tags }],
    })));
    return out.ImageId!;
  } catch (error) {
    // The call may have started an image (a lost response, a duplicate name from an earlier attempt):
    // look before failing, because the framework ignores the Delete that follows a failed Create, so an
    // image left now would never be removed. A duplicate name proves the image exists, and an error
    // without an answer from EC2 may hide one: their lookups are retried until DescribeImages shows
    // it, and a lookup that fails is retried too.
    const mayExist = errorCode(error) === 'InvalidAMIName.Duplicate' || isTransient(error) || httpStatus(error) === undefined;
    const attempts = mayExist ? FIND_DUPLICATE_ATTEMPTS : 1;
    let lookupError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let existing: ImageView | undefined;
      try {
        existing = await findOwnImageByName(ec2, name);
        lookupError = undefined;
      } catch (e) {
        lookupError = e;
      }
      if (existing && existing.tags[OWNERSHIP_TAGS.requestId] === request.requestId) return existing.imageId;
      if (existing || attempt === attempts) break;
      await wait(FIND_DUPLICATE_DELAY_MS * attempt);
    }
    if (lookupError !== undefined) {
      throw new Error(`CreateImage of "${name}" failed (${errorMessage(error)}) and the image could not be looked up `
        + `(${errorMessage(lookupError)}): if an image named "${name}" exists, it was not handed to CloudFormation; delete it and its snapshots`);
    }
    throw error;
  }
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** DescribeImages is eventually consistent: a just-created image can take seconds to be listed. */
const FIND_DUPLICATE_ATTEMPTS = 4;
const FIND_DUPLICATE_DELAY_MS = 1_000;
let wait = sleep;

/** For tests: replaces the wait between lookups of a duplicate-named image. */
export function setLookupWait(fn: (ms: number) => Promise<void>): void {
  wait = fn;
}

function ownershipTags(spec: AmiSpec, request: CreateRequest): Tag[] {
  return [
    ...Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
    { Key: OWNERSHIP_TAGS.stackId, Value: request.stackId },
    { Key: OWNERSHIP_TAGS.logicalId, Value: request.logicalId },
    { Key: OWNERSHIP_TAGS.requestId, Value: request.requestId },
    { Key: OWNERSHIP_TAGS.fingerprint, Value: fingerprintOf(spec) },
  ];
}

/**
 * Once the image is available: deprecation, sharing, and stopping the source instance, as configured.
 * Each step is added to `entries` as it is done, so a step that fails leaves the earlier ones reported.
 */
export async function finishImage(ec2: EC2Client, image: ImageView, spec: AmiSpec, now: Date, entries: ReportEntry[]): Promise<ReportEntry[]> {
  entries.push(imageEntry(image, 'CREATE', 'DONE', `available with ${image.snapshotIds.length} snapshot(s)`));
  if (spec.deprecateAfterSeconds !== undefined) {
    entries.push(await setDeprecation(ec2, image, spec.deprecateAfterSeconds, now));
  }
  if (spec.shareWithAccounts.length > 0) entries.push(...await share(ec2, image, spec.shareWithAccounts, 'add'));
  if (spec.stopInstanceAfterImage) entries.push(await stopInstance(ec2, spec.instanceId, image.imageId));
  return entries;
}

/** Applies the changes of an in-place update to the image and its snapshots, adding each to `entries` once done. */
export async function applyInPlace(
  ec2: EC2Client, image: ImageView, spec: AmiSpec, changes: InPlaceChanges, now: Date, entries: ReportEntry[],
): Promise<ReportEntry[]> {
  const resources = [image.imageId, ...image.snapshotIds];
  const toSet = Object.entries(changes.tagsToSet);
  if (toSet.length > 0) {
    await retryTransient(() => ec2.send(new CreateTagsCommand({ Resources: resources, Tags: toSet.map(([Key, Value]) => ({ Key, Value })) })));
    entries.push(imageEntry(image, 'TAG', 'DONE', `set ${toSet.map(([k]) => k).join(', ')} on the image and ${image.snapshotIds.length} snapshot(s)`));
  }
  if (changes.tagKeysToRemove.length > 0) {
    await retryTransient(() => ec2.send(new DeleteTagsCommand({ Resources: resources, Tags: changes.tagKeysToRemove.map((Key) => ({ Key })) })));
    entries.push(imageEntry(image, 'UNTAG', 'DONE', `removed ${changes.tagKeysToRemove.join(', ')} from the image and its snapshots`));
  }
  if (changes.deprecation.kind === 'set') entries.push(await setDeprecation(ec2, image, changes.deprecation.afterSeconds, now));
  if (changes.deprecation.kind === 'clear') {
    await retryTransient(() => ec2.send(new DisableImageDeprecationCommand({ ImageId: image.imageId })));
    entries.push(imageEntry(image, 'UNDEPRECATE', 'DONE', 'deprecation cancelled'));
  }
  if (changes.accountsToAdd.length > 0) entries.push(...await share(ec2, image, changes.accountsToAdd, 'add'));
  if (changes.accountsToRemove.length > 0) entries.push(...await share(ec2, image, changes.accountsToRemove, 'remove'));
  if (changes.stopInstance) entries.push(await stopInstance(ec2, spec.instanceId, image.imageId));
  return entries;
}

async function setDeprecation(ec2: EC2Client, image: ImageView, afterSeconds: number, now: Date): Promise<ReportEntry> {
  const created = image.creationDate ? new Date(image.creationDate) : now;
  let at = deprecateAt(Number.isNaN(created.getTime()) ? now : created, afterSeconds);
  // EC2 refuses a time in the past: an image whose age already passed it is deprecated from the next minute.
  if (at.getTime() <= now.getTime()) at = deprecateAt(now, 60);
  await retryTransient(() => ec2.send(new EnableImageDeprecationCommand({ ImageId: image.imageId, DeprecateAt: at })));
  return imageEntry(image, 'DEPRECATE', 'DONE', `deprecated from ${at.toISOString()}`);
}

async function share(ec2: EC2Client, image: ImageView, accounts: readonly string[], operation: 'add' | 'remove'): Promise<ReportEntry[]> {
  const permissions = accounts.map((UserId) => ({ UserId }));
  await retryTransient(() => ec2.send(new ModifyImageAttributeCommand({
    ImageId: image.imageId,
    LaunchPermission: operation === 'add' ? { Add: permissions } : { Remove: permissions },
  })));
  for (const snapshotId of image.snapshotIds) {
    await retryTransient(() => ec2.send(new ModifySnapshotAttributeCommand({
      SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType: operation, UserIds: [...accounts],
    })));
  }
  const verb = operation === 'add' ? 'shared with' : 'no longer shared with';
  return [imageEntry(image, operation === 'add' ? 'SHARE' : 'UNSHARE', 'DONE', `${verb} ${accounts.join(', ')} (image and ${image.snapshotIds.length} snapshot(s))`)];
}

/**
 * Stopping the source is a courtesy, not part of the image: an instance that cannot be stopped
 * (already stopped, terminated, protected) is reported and the image is still handed over.
 */
async function stopInstance(ec2: EC2Client, instanceId: string, imageId: string): Promise<ReportEntry> {
  const entry = { resourceType: 'instance', id: instanceId, action: 'STOP', details: [] };
  try {
    await retryTransient(() => ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] })));
    return { ...entry, outcome: 'DONE', reason: `source of ${imageId}, stopped once the image was available` };
  } catch (error) {
    if (isTransient(error) || isCallerLevel(error)) throw error;
    return { ...entry, outcome: 'FAILED', errorCode: errorCode(error), reason: `source of ${imageId}, could not be stopped: ${errorMessage(error)}` };
  }
}

/**
 * Deregisters the image with its snapshots, then checks that none of its snapshots is left and
 * deletes any that is (a snapshot another image still uses is kept and reported). Only images and
 * snapshots carrying the owner's tags are touched.
 */
export async function deleteImage(
  ec2: EC2Client, imageId: string, image: ImageView | undefined, owner: Owner, entries: ReportEntry[],
): Promise<ReportEntry[]> {
  if (image) {
    await retryTransient(async () => {
      try {
        await ec2.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
      } catch (error) {
        // Deregistered by an earlier attempt whose response was lost.
        if (!['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'].includes(errorCode(error))) throw error;
      }
    });
    entries.push(imageEntry(image, 'DEREGISTER', 'DONE', `deregistered with its ${image.snapshotIds.length} snapshot(s)`));
  }
  // One verification call. An available image names all its snapshots in its mappings; a failed
  // one may not, so its snapshots are found by the request tag (or, image gone, by EC2's description).
  const byMapping = image !== undefined && image.state === 'available' && image.snapshotIds.length > 0;
  const found = byMapping
    ? await existingSnapshots(ec2, image.snapshotIds)
    : await ownedSnapshotsOf(ec2, imageId, owner, image?.tags[OWNERSHIP_TAGS.requestId]);
  const left = new Map<string, SnapshotView>();
  for (const snapshot of found) {
    if (isOwnedBy(snapshot.tags, owner)) left.set(snapshot.snapshotId, snapshot);
    else entries.push(snapshotEntry(snapshot.snapshotId, 'KEPT', `in ${imageId}'s mappings but without this resource's ownership tags, so not deleted`));
  }
  for (const snapshotId of left.keys()) entries.push(await deleteSnapshot(ec2, snapshotId, imageId));
  return entries;
}

async function deleteSnapshot(ec2: EC2Client, snapshotId: string, imageId: string): Promise<ReportEntry> {
  try {
    await retryTransient(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })));
    return snapshotEntry(snapshotId, 'DONE', `left behind by ${imageId}, deleted`);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'InvalidSnapshot.NotFound') return snapshotEntry(snapshotId, 'DONE', `deleted with ${imageId}`);
    if (code === 'InvalidSnapshot.InUse') {
      return { ...snapshotEntry(snapshotId, 'KEPT', `still used by another image: ${errorMessage(error)}`), errorCode: code };
    }
    throw error;
  }
}

export function imageEntry(image: Pick<ImageView, 'imageId' | 'name'>, action: string, outcome: ReportEntry['outcome'], reason: string): ReportEntry {
  return { resourceType: 'image', id: image.imageId, action, outcome, reason, details: image.name ? [['name', image.name]] : [] };
}

function snapshotEntry(snapshotId: string, outcome: ReportEntry['outcome'], reason: string): ReportEntry {
  return { resourceType: 'snapshot', id: snapshotId, action: 'DELETE', outcome, reason, details: [] };
}
