/**
 * The shipped AmiManager bundle (assets/ami-manager/index.js) against moto, driven the way
 * CloudFormation and the CDK provider framework drive it: Create, Update with replacement (and the
 * Delete of the old image CloudFormation sends afterwards), Update in place, Delete, a Create whose
 * image fails, and RETAIN. Every invocation is a fresh node process (run-bundle.ts); the resource
 * properties come from the synthesized template, so the construct and the handler must agree.
 */
import { DeregisterImageCommand, DescribeImagesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CfnEvent, cfnEvent, createVolumePermissions, Deployment, Duration, FIXTURE_AMI_FAILS, frameworkRequest, Invoker, launchInstance,
  launchPermissions, newStackId, ownedImages, ownedSnapshots, processPerCallInvoker, Properties, RemovalPolicy, ResourceIdentity,
  snapshotsOfImage, synthesizedProperties, tagsOf, VOLUMES,
} from './ami-manager-harness';
import { createTopicWithQueue, emulatorClients, EmulatorClients, Notification, readNotifications, TopicWithQueue } from './fleet';
import { MotoServer, startMoto } from './moto';
import { OWNERSHIP_TAGS } from '../../src/ami-manager/contract';

jest.setTimeout(240_000);

let moto: MotoServer;
let clients: EmulatorClients;
let topic: TopicWithQueue;
let invoker: Invoker;
let instanceId: string;
let failingInstanceId: string;

const FAILURE_REASON = 'Client.InvalidSnapshot: the volume could not be read (fixture)';
const SHARE_A = '111122223333';
const SHARE_B = '444455556666';

beforeAll(async () => {
  moto = await startMoto();
  clients = emulatorClients(moto.endpoint);
  topic = await createTopicWithQueue(clients, 'ami-manager-reports');
  invoker = processPerCallInvoker(moto.endpoint);
  instanceId = await launchInstance(clients.ec2);
  failingInstanceId = await launchInstance(clients.ec2, FAILURE_REASON);
});

afterAll(async () => {
  await invoker?.stop();
  await moto?.stop();
});

// ---- helpers -----------------------------------------------------------------------------------------

interface Row { readonly resourceType: string; readonly id: string; readonly action: string; readonly result: string; readonly text: string }

/** The resource lines of an AmiManager notification. */
function rows(n: Notification): Row[] {
  return n.Message.split('\n').filter((l) => l.startsWith('- ')).map((line) => {
    const match = /^- (image|snapshot|instance) (\S+) .* {2}action=(\S+) {2}result=(\S+)/.exec(line);
    if (!match) throw new Error(`unreadable notification line: ${line}`);
    return { resourceType: match[1], id: match[2], action: match[3], result: match[4], text: line };
  });
}

async function notifications(): Promise<Notification[]> {
  const all = await readNotifications(clients.sqs, topic.queueUrl);
  for (const n of all) {
    expect(n.Subject).toMatch(/^\[fleet-janitor\] AmiManager: /);
    expect(n.Subject!.length).toBeLessThan(100);
  }
  return all;
}

async function onlyNotification(): Promise<Notification> {
  const all = await notifications();
  expect(all).toHaveLength(1);
  return all[0];
}

async function image(imageId: string) {
  const out = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'image-id', Values: [imageId] }] }));
  return out.Images?.[0];
}

function expectDeployed(d: Deployment): asserts d is Deployment & { physicalResourceId: string } {
  if (!d.ok) throw new Error(`the request for ${d.physicalResourceId} failed in ${d.failedIn} after ${d.polls} poll(s): ${d.message}`);
  expect(d.physicalResourceId).toMatch(/^ami-[0-9a-f]+$/);
}

/** The image and its 3 snapshots: state, tags on all four, permissions, deprecation; returns the snapshot ids. */
async function expectImage(imageId: string, who: ResourceIdentity, requestId: string, opts: {
  userTags: Record<string, string>; shared: string[]; deprecation?: Date; source?: string;
}): Promise<string[]> {
  const img = await image(imageId);
  expect(img?.State).toBe('available');
  const ownership = { [OWNERSHIP_TAGS.stackId]: who.stackId, [OWNERSHIP_TAGS.logicalId]: who.logicalId, [OWNERSHIP_TAGS.requestId]: requestId };
  const imageTags = tagsOf(img!.Tags);
  expect(imageTags).toMatchObject({ ...opts.userTags, ...ownership });
  expect(imageTags[OWNERSHIP_TAGS.fingerprint]).toMatch(/^[0-9a-f]{32}$/);
  expect(Object.keys(imageTags).sort()).toEqual([...Object.keys(opts.userTags), ...Object.values(OWNERSHIP_TAGS)].sort());

  const mapped = (img!.BlockDeviceMappings ?? []).map((m) => m.Ebs!.SnapshotId!);
  expect(mapped).toHaveLength(VOLUMES.length);
  const snapshots = await snapshotsOfImage(clients.ec2, imageId);
  expect(snapshots.map((s) => s.SnapshotId).sort()).toEqual([...mapped].sort());
  expect(snapshots.map((s) => s.VolumeSize).sort((a, b) => a! - b!)).toEqual(VOLUMES.map((v) => v.Ebs.VolumeSize));
  for (const s of snapshots) {
    expect(s.Description).toBe(`Created by CreateImage(${opts.source ?? instanceId}) for ${imageId}`);
    expect(tagsOf(s.Tags)).toEqual(imageTags);
    expect(await createVolumePermissions(clients.ec2, s.SnapshotId!)).toEqual([...opts.shared].sort());
  }
  expect(await launchPermissions(clients.ec2, imageId)).toEqual([...opts.shared].sort());
  if (opts.deprecation) expect(img!.DeprecationTime).toBe(opts.deprecation.toISOString());
  else expect(img!.DeprecationTime).toBeUndefined();
  return mapped;
}

/** EC2 rounds the deprecation time to the minute; the handler counts from the image's creation. */
function expectedDeprecation(creationDate: string, afterSeconds: number): Date {
  const at = new Date(new Date(creationDate).getTime() + afterSeconds * 1000);
  at.setUTCSeconds(0, 0);
  return at;
}

async function expectGone(imageId: string, snapshotIds: string[]): Promise<void> {
  expect(await image(imageId)).toBeUndefined();
  expect(await snapshotsOfImage(clients.ec2, imageId)).toEqual([]);
  for (const id of snapshotIds) expect((await ownedSnapshots(clients.ec2, { stackId: '*' })).map((s) => s.SnapshotId)).not.toContain(id);
}

function baseProps(overrides: Record<string, unknown> = {}): Properties {
  return synthesizedProperties({
    instanceId,
    imageName: 'web-server',
    description: 'web server image',
    tags: { team: 'platform', env: 'test' },
    deprecateAfter: Duration.days(30),
    shareWithAccounts: [SHARE_A],
    timeout: Duration.minutes(30),
    ...overrides,
  }, topic.topicArn);
}

async function deleteResource(who: ResourceIdentity, physicalResourceId: string, properties: Properties): Promise<Deployment> {
  const d = await frameworkRequest(invoker, cfnEvent(who, 'Delete', properties, { physicalResourceId }));
  expect(d).toMatchObject({ ok: true, physicalResourceId });
  return d;
}

// ---- the lifecycle -------------------------------------------------------------------------------------

test('the synthesized properties are what CloudFormation sends: strings for every scalar', () => {
  const props = baseProps({ reboot: true, stopInstanceAfterImage: false });
  expect(props).toEqual({
    InstanceId: instanceId,
    ImageName: 'web-server',
    Description: 'web server image',
    Reboot: 'true',
    Tags: { team: 'platform', env: 'test' },
    DeprecateAfterSeconds: String(30 * 86_400),
    ShareWithAccounts: [SHARE_A],
    StopInstanceAfterImage: 'false',
    RemovalPolicy: 'destroy',
    TimeoutSeconds: '1800',
    TopicArn: topic.topicArn,
  });
});

test('create, replace (and delete the old image), update in place, delete', async () => {
  const who = { stackId: newStackId('AmiLifecycle'), logicalId: 'ImageResource1A2B3C4D' };
  await notifications(); // start from an empty inbox

  // Create.
  const props1 = baseProps();
  const create = cfnEvent(who, 'Create', props1);
  const created = await frameworkRequest(invoker, create);
  expectDeployed(created);
  const id1 = created.physicalResourceId;
  // Pending for the first 2 DescribeImages, available on the third.
  expect(created.polls).toBe(3);
  const img1 = await image(id1);
  expect(img1!.Name).toMatch(/^web-server-[0-9a-f]{8}$/);
  expect(img1!.Description).toBe('web server image');
  const snaps1 = await expectImage(id1, who, create.RequestId, {
    userTags: { team: 'platform', env: 'test' }, shared: [SHARE_A], deprecation: expectedDeprecation(img1!.CreationDate!, 30 * 86_400),
  });
  expect(created.data).toEqual({ ImageId: id1, ImageName: img1!.Name, SnapshotIds: snaps1.join(',') });
  let n = await onlyNotification();
  expect(rows(n).map((r) => `${r.resourceType} ${r.id} ${r.action} ${r.result}`).sort()).toEqual([
    `image ${id1} CREATE DONE`, `image ${id1} DEPRECATE DONE`, `image ${id1} SHARE DONE`,
  ].sort());
  expect(rows(n).find((r) => r.action === 'SHARE')!.text).toContain(SHARE_A);

  // Update with replacement (new image name): a new image; CloudFormation then deletes the old one.
  const props2 = baseProps({ imageName: 'web-server-v2' });
  const replace = cfnEvent(who, 'Update', props2, { physicalResourceId: id1, oldProperties: props1 });
  const replaced = await frameworkRequest(invoker, replace);
  expectDeployed(replaced);
  const id2 = replaced.physicalResourceId;
  expect(id2).not.toBe(id1);
  expect((await image(id2))!.Name).toMatch(/^web-server-v2-[0-9a-f]{8}$/);
  const img2 = await image(id2);
  const snaps2 = await expectImage(id2, who, replace.RequestId, {
    userTags: { team: 'platform', env: 'test' }, shared: [SHARE_A], deprecation: expectedDeprecation(img2!.CreationDate!, 30 * 86_400),
  });
  expect((await ownedImages(clients.ec2, who)).map((i) => i.ImageId).sort()).toEqual([id1, id2].sort());
  n = await onlyNotification();
  expect(rows(n).filter((r) => r.result === 'DONE').map((r) => r.id)).toEqual(expect.arrayContaining([id2]));
  expect(rows(n).map((r) => r.id)).not.toContain(id1);

  await deleteResource(who, id1, props1);
  await expectGone(id1, snaps1);
  n = await onlyNotification();
  expect(rows(n).filter((r) => r.resourceType === 'image').map((r) => `${r.id} ${r.action} ${r.result}`)).toEqual([`${id1} DEREGISTER DONE`]);
  // The verification found nothing left: EC2 deleted the snapshots with the image.
  expect(rows(n).filter((r) => r.resourceType === 'snapshot')).toEqual([]);
  await expectImage(id2, who, replace.RequestId, {
    userTags: { team: 'platform', env: 'test' }, shared: [SHARE_A], deprecation: expectedDeprecation(img2!.CreationDate!, 30 * 86_400),
  });

  // Update in place: tags, deprecateAfter and shareWithAccounts change; the image stays.
  const props3 = baseProps({ imageName: 'web-server-v2', tags: { team: 'platform', owner: 'alice' }, deprecateAfter: Duration.days(90), shareWithAccounts: [SHARE_B] });
  const inPlace = cfnEvent(who, 'Update', props3, { physicalResourceId: id2, oldProperties: props2 });
  const updated = await frameworkRequest(invoker, inPlace);
  expectDeployed(updated);
  expect(updated.physicalResourceId).toBe(id2);
  expect(updated.polls).toBe(1);
  expect(updated.data).toEqual({ ImageId: id2, ImageName: img2!.Name, SnapshotIds: snaps2.join(',') });
  await expectImage(id2, who, replace.RequestId, {
    userTags: { team: 'platform', owner: 'alice' }, shared: [SHARE_B], deprecation: expectedDeprecation(img2!.CreationDate!, 90 * 86_400),
  });
  n = await onlyNotification();
  expect(rows(n).map((r) => `${r.action} ${r.result}`).sort()).toEqual(['DEPRECATE DONE', 'SHARE DONE', 'TAG DONE', 'UNSHARE DONE', 'UNTAG DONE']);

  // Removing deprecateAfter cancels the deprecation.
  const props4 = baseProps({ imageName: 'web-server-v2', tags: { team: 'platform', owner: 'alice' }, deprecateAfter: undefined, shareWithAccounts: [SHARE_B] });
  expect(props4.DeprecateAfterSeconds).toBeUndefined();
  expectDeployed(await frameworkRequest(invoker, cfnEvent(who, 'Update', props4, { physicalResourceId: id2, oldProperties: props3 })));
  await expectImage(id2, who, replace.RequestId, { userTags: { team: 'platform', owner: 'alice' }, shared: [SHARE_B] });
  n = await onlyNotification();
  expect(rows(n).map((r) => `${r.action} ${r.result}`)).toEqual(['UNDEPRECATE DONE']);

  // Delete.
  await deleteResource(who, id2, props4);
  await expectGone(id2, snaps2);
  expect(await ownedImages(clients.ec2, who)).toEqual([]);
  expect(await ownedSnapshots(clients.ec2, who)).toEqual([]);
  n = await onlyNotification();
  expect(rows(n).map((r) => `${r.resourceType} ${r.id} ${r.action} ${r.result}`)).toEqual([`image ${id2} DEREGISTER DONE`]);
});

test('a create whose image fails: isComplete fails with the state reason, the Delete removes the image and its snapshots', async () => {
  const who = { stackId: newStackId('AmiFailed'), logicalId: 'BrokenImage' };
  await notifications();
  const props = baseProps({ instanceId: failingInstanceId });
  const create = cfnEvent(who, 'Create', props);
  const d = await frameworkRequest(invoker, create);
  expect(d.ok).toBe(false);
  expect(d.failedIn).toBe('isComplete');
  const imageId = d.physicalResourceId!;
  expect(d.message).toBe(`image ${imageId} is failed: ${FAILURE_REASON}`);
  const img = await image(imageId);
  expect(img!.State).toBe('failed');
  // A failed image lists no mappings, but its snapshots were left behind, tagged.
  const left = await ownedSnapshots(clients.ec2, who);
  expect(left).toHaveLength(VOLUMES.length);
  for (const s of left) {
    expect(s.Description).toBe(`Created by CreateImage(${failingInstanceId}) for ${imageId}`);
    expect(tagsOf(s.Tags)[OWNERSHIP_TAGS.requestId]).toBe(create.RequestId);
  }
  let n = await onlyNotification();
  expect(n.Subject).toContain('failed');
  expect(rows(n).map((r) => `${r.resourceType} ${r.id} ${r.action} ${r.result}`)).toEqual([`image ${imageId} CREATE FAILED`]);
  expect(n.Message).toContain(FAILURE_REASON);

  // CloudFormation's rollback deletes the resource it was told about.
  await deleteResource(who, imageId, props);
  expect(await image(imageId)).toBeUndefined();
  expect(await ownedImages(clients.ec2, who)).toEqual([]);
  expect(await ownedSnapshots(clients.ec2, who)).toEqual([]);
  n = await onlyNotification();
  const deleted = rows(n);
  expect(deleted.filter((r) => r.resourceType === 'image').map((r) => `${r.action} ${r.result}`)).toEqual(['DEREGISTER DONE']);
  expect(deleted.filter((r) => r.resourceType === 'snapshot').map((r) => r.id).sort()).toEqual(left.map((s) => s.SnapshotId).sort());
  expect(deleted.filter((r) => r.resourceType === 'snapshot').every((r) => r.action === 'DELETE' && r.result === 'DONE')).toBe(true);
});

test('a Delete whose image is already gone still removes snapshots left behind (found by description and ownership tags)', async () => {
  const who = { stackId: newStackId('AmiGone'), logicalId: 'GoneImage' };
  const props = baseProps({ instanceId: failingInstanceId });
  const d = await frameworkRequest(invoker, cfnEvent(who, 'Create', props));
  expect(d.failedIn).toBe('isComplete');
  const imageId = d.physicalResourceId!;
  // Someone deregistered the failed image by hand (its snapshots stay: a failed image maps none).
  await clients.ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
  expect(await ownedSnapshots(clients.ec2, who)).toHaveLength(VOLUMES.length);
  await notifications();
  await deleteResource(who, imageId, props);
  expect(await ownedSnapshots(clients.ec2, who)).toEqual([]);
  const n = await onlyNotification();
  expect(rows(n).filter((r) => r.resourceType === 'snapshot' && r.result === 'DONE')).toHaveLength(VOLUMES.length);
});

test('RETAIN keeps the image and its snapshots on replacement and on delete', async () => {
  const who = { stackId: newStackId('AmiRetain'), logicalId: 'KeptImage' };
  await notifications();
  const props1 = baseProps({ removalPolicy: RemovalPolicy.RETAIN, deprecateAfter: undefined, shareWithAccounts: [] });
  expect(props1.RemovalPolicy).toBe('retain');
  const create = cfnEvent(who, 'Create', props1);
  const created = await frameworkRequest(invoker, create);
  expectDeployed(created);
  const id1 = created.physicalResourceId;
  const snaps1 = await expectImage(id1, who, create.RequestId, { userTags: { team: 'platform', env: 'test' }, shared: [] });
  await notifications();

  const props2 = { ...props1, Description: 'second' };
  const replace = cfnEvent(who, 'Update', props2, { physicalResourceId: id1, oldProperties: props1 });
  const replaced = await frameworkRequest(invoker, replace);
  expectDeployed(replaced);
  const id2 = replaced.physicalResourceId;
  expect(id2).not.toBe(id1);
  await notifications();

  await deleteResource(who, id1, props1);
  let n = await onlyNotification();
  expect(rows(n).map((r) => `${r.resourceType} ${r.id} ${r.action} ${r.result}`)).toEqual([`image ${id1} RETAIN KEPT`]);
  await deleteResource(who, id2, props2);
  n = await onlyNotification();
  expect(rows(n).map((r) => `${r.resourceType} ${r.id} ${r.action} ${r.result}`)).toEqual([`image ${id2} RETAIN KEPT`]);

  expect((await ownedImages(clients.ec2, who)).map((i) => i.ImageId).sort()).toEqual([id1, id2].sort());
  expect((await ownedImages(clients.ec2, who)).every((i) => i.State === 'available')).toBe(true);
  expect(await expectImage(id1, who, create.RequestId, { userTags: { team: 'platform', env: 'test' }, shared: [] })).toEqual(snaps1);
  await expectImage(id2, who, replace.RequestId, { userTags: { team: 'platform', env: 'test' }, shared: [] });
  expect(await ownedSnapshots(clients.ec2, who)).toHaveLength(2 * VOLUMES.length);
});

// Regression (found by this test): an Update back to the defining properties of a RETAINED earlier
// image hands that image back (found by its fingerprint tag); its tags, shareWithAccounts and
// deprecateAfter must be brought to the Update's, or an account removed from shareWithAccounts would
// keep its launch permission.
test('an Update that hands back a retained earlier image applies the new tags and sharing to it', async () => {
  const who = { stackId: newStackId('AmiReadopt'), logicalId: 'ReadoptedImage' };
  const p1 = baseProps({ removalPolicy: RemovalPolicy.RETAIN, deprecateAfter: undefined, shareWithAccounts: [SHARE_A], tags: { v: '1' } });
  const created = await frameworkRequest(invoker, cfnEvent(who, 'Create', p1));
  expectDeployed(created);
  const idA = created.physicalResourceId;
  const p2 = { ...p1, ImageName: 'web-server-other', Tags: { v: '2' } };
  const replaced = await frameworkRequest(invoker, cfnEvent(who, 'Update', p2, { physicalResourceId: idA, oldProperties: p1 }));
  expectDeployed(replaced);
  await deleteResource(who, idA, p1); // RETAIN: A is kept
  const p3 = { ...p1, Tags: { v: '3' }, ShareWithAccounts: [SHARE_B] };
  const back = await frameworkRequest(invoker, cfnEvent(who, 'Update', p3, { physicalResourceId: replaced.physicalResourceId!, oldProperties: p2 }));
  expectDeployed(back);
  await notifications();
  const handedBack = back.physicalResourceId;
  const tags = tagsOf((await image(handedBack))!.Tags);
  const shared = await launchPermissions(clients.ec2, handedBack);
  expect(handedBack).toBe(idA);
  expect({ v: tags.v, shared }).toEqual({ v: '3', shared: [SHARE_B] });
});

test('a retried Create (same RequestId) hands back the same image instead of baking a second one', async () => {
  const who = { stackId: newStackId('AmiRetry'), logicalId: 'RetriedImage' };
  const props = baseProps();
  const create: CfnEvent = cfnEvent(who, 'Create', props);
  const first = await invoker.invoke(create);
  const second = await invoker.invoke(create);
  expect(first).toMatchObject({ ok: true });
  expect(second).toEqual(first);
  expect(await ownedImages(clients.ec2, who)).toHaveLength(1);
  const d = await frameworkRequest(invoker, create);
  expectDeployed(d);
  expect(d.physicalResourceId).toBe(first.result.PhysicalResourceId);
  await deleteResource(who, d.physicalResourceId, props);
  expect(await ownedImages(clients.ec2, who)).toEqual([]);
  expect(await ownedSnapshots(clients.ec2, who)).toEqual([]);
  await notifications();
});

test('the fixture tag that fails images never reaches the instance', async () => {
  const out = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [failingInstanceId] }));
  expect(tagsOf(out.Reservations![0].Instances![0].Tags)).toEqual({ Name: 'ami-source' });
  expect(FIXTURE_AMI_FAILS).toMatch(/^moto-fixture:/);
});
