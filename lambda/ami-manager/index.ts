import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { applyInPlace, deleteImage, finishImage, imageEntry, startImage } from './act';
import { completion, deprecateAt, fingerprintOf, isNoChange, planUpdate, waitStart } from './decide';
import { describeImage, findOwnImageByFingerprint, ImageView, isOwnedBy, launchPermissionAccounts, Owner } from './observe';
import { AmiSpec, parseDeleteSpec, parseResourceEvent, parseSpec, ResourceEvent } from './properties';
import { IS_COMPLETE_ALIAS, OWNERSHIP_TAG_PREFIX, OWNERSHIP_TAGS } from '../../src/ami-manager/contract';
import { clientConfig } from '../shared/clients';
import { deepenStackTraces, EventShapeError } from '../shared/errors';
import { ReportEntry } from '../shared/report';
import { runSweep } from '../shared/sweep';
import { createTelemetry } from '../shared/telemetry';

/*
 * The two handlers of the CDK provider framework. onEvent starts what a CloudFormation event asks
 * for and returns at once; isComplete is polled by the framework's waiter until the image is
 * available (or failed, or late). Neither ever waits inside an invocation.
 */

const NAME = 'AmiManager';
const ec2 = new EC2Client(clientConfig('ami-manager'));
const sns = new SNSClient(clientConfig('ami-manager'));
const { logger, metrics } = createTelemetry(process.env.POWERTOOLS_SERVICE_NAME ?? NAME);

export interface OnEventResult {
  readonly PhysicalResourceId: string;
  /** An in-place update's image, finished by an earlier request: the framework passes it on to isComplete. */
  readonly Data?: ImageData;
}

interface ImageData {
  ImageId: string;
  ImageName: string;
  SnapshotIds: string;
}

export interface IsCompleteResult {
  readonly IsComplete: boolean;
  readonly Data?: ImageData;
}

/** The function's entry point: the provider framework calls `isComplete` through the alias. */
export async function handler(event: unknown, context?: { invokedFunctionArn?: string }): Promise<OnEventResult | IsCompleteResult> {
  const arn = context?.invokedFunctionArn ?? '';
  return arn.endsWith(`:${IS_COMPLETE_ALIAS}`) ? isComplete(event) : onEvent(event);
}

export async function onEvent(event: unknown): Promise<OnEventResult> {
  deepenStackTraces();
  const request = parseResourceEvent(event);
  const owner = ownerOf(request);
  logger.info('event', { requestType: request.requestType, logicalResourceId: request.logicalResourceId, physicalResourceId: request.physicalResourceId });

  if (request.requestType === 'Delete') return onDelete(request, owner);
  const spec = parseSpec(request.properties);
  if (request.requestType === 'Create') return bake(spec, request, owner, 'create');

  const previous = safeSpec(request.oldProperties!);
  const plan = previous ? planUpdate(previous, spec) : { kind: 'replace' as const, changed: ['(unreadable old properties)'] };
  if (plan.kind === 'replace') {
    // An image of this resource with these defining properties exists when CloudFormation rolls a
    // replacement back (or the original was kept by RETAIN): it is handed back, brought up to the
    // requested tags, sharing and deprecation, rather than baking another one.
    const earlier = await findOwnImageByFingerprint(ec2, owner, fingerprintOf(spec));
    if (earlier) return handBack(earlier, spec);
    return bake(spec, request, owner, `replace: ${plan.changed.join(', ')} changed`);
  }
  const imageId = request.physicalResourceId!;
  const image = await describeImage(ec2, imageId);
  if (!image) return bake(spec, request, owner, `replace: ${imageId} no longer exists`);
  if (!isOwnedBy(image.tags, owner)) {
    throw new Error(`${imageId} does not carry this resource's ownership tags; refusing to change it`);
  }
  // The image's data goes back with the result: the framework hands it to isComplete, which then
  // needs no call to finish an image that an earlier request already finished.
  if (isNoChange(plan)) return { PhysicalResourceId: imageId, Data: dataOf(image) };
  await report(spec.topicArn, async (entries) => applyInPlace(ec2, image, spec, plan, new Date(), entries));
  return { PhysicalResourceId: imageId, Data: dataOf(image) };
}

export async function isComplete(event: unknown): Promise<IsCompleteResult> {
  deepenStackTraces();
  const request = parseResourceEvent(event);
  if (request.requestType === 'Delete') return { IsComplete: true };
  const imageId = request.physicalResourceId;
  if (imageId === undefined) throw new EventShapeError('PhysicalResourceId is required for isComplete (the image id onEvent returned), got nothing');
  const spec = parseSpec(request.properties);
  if (request.finishedImageId === imageId) return { IsComplete: true };
  const now = new Date();
  const image = await describeImage(ec2, imageId);
  // An in-place update keeps an image an earlier request made and finished.
  if (image && image.state === 'available' && image.tags[OWNERSHIP_TAGS.requestId] !== request.requestId) {
    return { IsComplete: true, Data: dataOf(image) };
  }
  const state = completion(image, imageId, spec.timeoutSeconds, waitStart(image?.creationDate, now), now);
  if (state.kind === 'pending') {
    logger.info('waiting for the image', { imageId, state: image?.state ?? 'not visible yet', waitedSeconds: state.waitedSeconds });
    return { IsComplete: false };
  }
  if (state.kind === 'failed') {
    // Reported, then thrown: the framework fails the resource with this reason, and the Delete
    // CloudFormation sends next removes the image and its snapshots.
    await report(spec.topicArn, async (entries) => {
      entries.push(imageEntry({ imageId, name: image?.name }, 'CREATE', 'FAILED', state.reason));
      throw new Error(state.reason);
    });
  }
  await report(spec.topicArn, async (entries) => finishImage(ec2, image!, spec, now, entries));
  return { IsComplete: true, Data: dataOf(image!) };
}

async function onDelete(request: ResourceEvent, owner: Owner): Promise<OnEventResult> {
  const physicalResourceId = request.physicalResourceId!;
  const { removalPolicy, topicArn } = parseDeleteSpec(request.properties);
  if (!/^ami-[0-9a-f]+$/.test(physicalResourceId)) {
    logger.info('no image was ever created for this resource; nothing to delete', { physicalResourceId });
    return { PhysicalResourceId: physicalResourceId };
  }
  const work = async (entries: ReportEntry[]) => {
    if (removalPolicy === 'retain') {
      entries.push(imageEntry({ imageId: physicalResourceId }, 'RETAIN', 'KEPT', 'removal policy RETAIN: the image and its snapshots are kept'));
      return entries;
    }
    const image = await describeImage(ec2, physicalResourceId);
    if (image && !isOwnedBy(image.tags, owner)) {
      entries.push(imageEntry(image, 'DEREGISTER', 'KEPT', 'the image does not carry this resource\'s ownership tags, so it is not deleted'));
      return entries;
    }
    return deleteImage(ec2, physicalResourceId, image, owner, entries);
  };
  if (topicArn) await report(topicArn, work);
  else logger.warn('delete without a readable topic', { entries: await work([]) });
  return { PhysicalResourceId: physicalResourceId };
}

async function handBack(image: ImageView, spec: AmiSpec): Promise<OnEventResult> {
  logger.info('an image with these properties exists: handing it back', { imageId: image.imageId, state: image.state });
  if (image.state !== 'available') return { PhysicalResourceId: image.imageId };
  const current = await currentSpec(image, spec);
  const plan = planUpdate(current, spec);
  if (plan.kind === 'in-place' && !isNoChange(plan)) {
    await report(spec.topicArn, async (entries) => applyInPlace(ec2, image, spec, plan, new Date(), entries));
  }
  return { PhysicalResourceId: image.imageId, Data: dataOf(image) };
}

/** What an existing image has now, as a spec: its tags, the accounts it is shared with, its deprecation. */
async function currentSpec(image: ImageView, spec: AmiSpec): Promise<AmiSpec> {
  const tags = Object.fromEntries(Object.entries(image.tags).filter(([key]) => !key.startsWith(OWNERSHIP_TAG_PREFIX)));
  let deprecateAfterSeconds: number | undefined;
  if (image.deprecationTime !== undefined) {
    const wanted = spec.deprecateAfterSeconds === undefined ? undefined
      : deprecateAt(waitStart(image.creationDate, new Date()), spec.deprecateAfterSeconds).getTime();
    // The requested age when the image is deprecated at the time it asks for; otherwise any other value.
    deprecateAfterSeconds = wanted === new Date(image.deprecationTime).getTime() ? spec.deprecateAfterSeconds : -1;
  }
  return { ...spec, tags, shareWithAccounts: await launchPermissionAccounts(ec2, image.imageId), deprecateAfterSeconds };
}

async function bake(spec: AmiSpec, request: ResourceEvent, owner: Owner, why: string): Promise<OnEventResult> {
  const imageId = await startImage(ec2, spec, { ...owner, requestId: request.requestId });
  logger.info('image started', { imageId, instanceId: spec.instanceId, why });
  return { PhysicalResourceId: imageId };
}

/** One report per change: log lines, metrics, and a notification on the resource's topic. */
async function report(topicArn: string, work: (entries: ReportEntry[]) => Promise<ReportEntry[]>): Promise<void> {
  await runSweep({ construct: NAME, dryRun: false, topicArn, sns, logger, metrics, now: new Date() }, async (recorder) => {
    recorder.scanned = 1;
    const entries: ReportEntry[] = [];
    try {
      recorder.add(...await work(entries));
    } catch (error) {
      recorder.add(...entries);
      throw error;
    }
  });
}

function ownerOf(request: ResourceEvent): Owner {
  return { stackId: request.stackId, logicalId: request.logicalResourceId };
}

function safeSpec(properties: Record<string, unknown>): AmiSpec | undefined {
  try {
    return parseSpec(properties, 'OldResourceProperties');
  } catch {
    return undefined;
  }
}

function dataOf(image: ImageView): NonNullable<IsCompleteResult['Data']> {
  return { ImageId: image.imageId, ImageName: image.name ?? '', SnapshotIds: image.snapshotIds.join(',') };
}
