import {
  DescribeImageAttributeCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EnableImageDeprecationCommand,
  Image,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  Snapshot,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { PublishCommand } from '@aws-sdk/client-sns';
import 'aws-sdk-client-mock-jest';
import { fingerprintOf, imageNameFor } from '../../../lambda/ami-manager/decide';
import { parseSpec } from '../../../lambda/ami-manager/properties';
import { OWNERSHIP_TAGS } from '../../../src/ami-manager/contract';
import { ec2Error } from '../helpers';
import {
  completeEvent, createEvent, deleteEvent, ec2CallNames, ec2Image, ec2Mock, ec2Snapshot, ec2Writes, emfRecords, freezeClock, INSTANCE_ID,
  installHandlerHarness, instantRetries, IS_COMPLETE_CONTEXT, loadModule, LOGICAL_ID, logLines, lookupWaits, nextImageId,
  nextSnapshotId, ON_EVENT_CONTEXT,
  OTHER_STACK_ID, ownershipTags, props, publishedReport, serveImages, serveSnapshots, snsMock, STACK_ID, tagList, TOPIC_ARN, updateEvent,
} from './harness';

installHandlerHarness();

const NOW = new Date('2025-06-01T12:00:30Z');
const fingerprint = (properties: Record<string, unknown>) => fingerprintOf(parseSpec(properties));
const handler = () => loadModule().handler;
const onEvent = (event: unknown) => handler()(event, ON_EVENT_CONTEXT) as Promise<{ PhysicalResourceId: string }>;
const isComplete = (event: unknown) => handler()(event, IS_COMPLETE_CONTEXT) as Promise<{ IsComplete: boolean; Data?: Record<string, string> }>;

/** What onEvent returns for an in-place update: the same id, and the image's data for isComplete. */
function inPlaceResult(image: Image) {
  return {
    PhysicalResourceId: image.ImageId,
    Data: { ImageId: image.ImageId, ImageName: image.Name, SnapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])).join(',') },
  };
}

/** An image this resource created for `requestId` from `properties`. */
function ownImage(requestId: string, properties: Record<string, unknown> = props(), extra: Parameters<typeof ec2Image>[0] = {}): Image {
  return ec2Image({
    name: imageNameFor(parseSpec(properties), requestId),
    tags: { team: 'platform', ...ownershipTags({ requestId, fingerprint: fingerprint(properties) }) },
    ...extra,
  });
}

const snapshotsOf = (image: Image) => image.BlockDeviceMappings!.flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));

describe('Create', () => {
  test('one CreateImage, tagged at creation with the user\'s tags and the 4 ownership tags; returns the image id', async () => {
    serveImages([]);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0aaaaaaaaaaaaaaa1' });
    const properties = props({ Tags: { team: 'platform', env: 'prod' } });
    const event = createEvent(properties);

    const result = await onEvent(event);

    expect(result).toEqual({ PhysicalResourceId: 'ami-0aaaaaaaaaaaaaaa1' });
    expect(ec2CallNames()).toEqual(['CreateImageCommand']);
    const tags = [
      { Key: 'team', Value: 'platform' },
      { Key: 'env', Value: 'prod' },
      { Key: OWNERSHIP_TAGS.stackId, Value: STACK_ID },
      { Key: OWNERSHIP_TAGS.logicalId, Value: LOGICAL_ID },
      { Key: OWNERSHIP_TAGS.requestId, Value: event.RequestId },
      { Key: OWNERSHIP_TAGS.fingerprint, Value: fingerprint(properties) },
    ];
    const input = ec2Mock.commandCalls(CreateImageCommand)[0].args[0].input;
    expect(input).toEqual({
      InstanceId: INSTANCE_ID,
      Name: imageNameFor({ imageName: 'web-server' }, event.RequestId),
      Description: undefined,
      NoReboot: true,
      TagSpecifications: [{ ResourceType: 'image', Tags: tags }, { ResourceType: 'snapshot', Tags: tags }],
    });
    expect(input.Name).toMatch(/^web-server-[0-9a-f]{8}$/);
    expect(snsMock.calls()).toHaveLength(0);
    expect(logLines('info').find((l) => l.message === 'image started')).toMatchObject({ imageId: 'ami-0aaaaaaaaaaaaaaa1', why: 'create' });
  });

  test('Reboot "true" is NoReboot false; the description is passed on', async () => {
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0aaaaaaaaaaaaaaa2' });
    await onEvent(createEvent(props({ Reboot: 'true', Description: 'nightly build' })));
    expect(ec2Mock).toHaveReceivedCommandWith(CreateImageCommand, { NoReboot: false, Description: 'nightly build' });
  });

  test('a redelivered event computes the same name; another request a different one', async () => {
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0aaaaaaaaaaaaaaa3' });
    const event = createEvent();
    await onEvent(event);
    await onEvent(event);
    await onEvent(createEvent());
    const names = ec2Mock.commandCalls(CreateImageCommand).map((c) => c.args[0].input.Name);
    expect(names[0]).toBe(names[1]);
    expect(names[2]).not.toBe(names[0]);
  });

  test.each([
    ['throttled past every retry', () => ec2Error('RequestLimitExceeded', 503, 'Request limit exceeded.'), 4],
    ['InvalidAMIName.Duplicate (an earlier attempt made it)', () => ec2Error('InvalidAMIName.Duplicate', 400, 'AMI name web-server-x is already in use by AMI ami-x'), 1],
    ['a lost response', () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), 1],
  ])('CreateImage %s: the image this request made is found by name and request tag and returned', async (_, error, attempts) => {
    instantRetries();
    const event = createEvent();
    const made = ownImage(event.RequestId);
    const requests = serveImages([ec2Image({ name: 'unrelated' }), made]);
    ec2Mock.on(CreateImageCommand).rejects(error());

    const result = await onEvent(event);

    expect(result).toEqual({ PhysicalResourceId: made.ImageId });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateImageCommand, attempts);
    expect(requests).toEqual([{ Owners: ['self'], Filters: [{ Name: 'name', Values: [made.Name] }] }]);
    expect(ec2Writes().every(([name]) => name === 'CreateImageCommand')).toBe(true);
  });

  test('a throttled attempt that did start the image: the retry gets InvalidAMIName.Duplicate and the image is found', async () => {
    instantRetries();
    const event = createEvent();
    const made = ownImage(event.RequestId);
    serveImages([made]);
    ec2Mock.on(CreateImageCommand)
      .rejectsOnce(ec2Error('RequestLimitExceeded', 503, 'Request limit exceeded.'))
      .rejects(ec2Error('InvalidAMIName.Duplicate', 400, `AMI name ${made.Name} is already in use by AMI ${made.ImageId}`));
    expect(await onEvent(event)).toEqual({ PhysicalResourceId: made.ImageId });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateImageCommand, 2);
  });

  test('a duplicate name whose image DescribeImages does not list yet: looked up again, with growing waits, until it shows', async () => {
    const event = createEvent();
    const made = ownImage(event.RequestId, props(), { name: imageNameFor({ imageName: 'web-server' }, event.RequestId) });
    ec2Mock.on(CreateImageCommand).rejects(ec2Error('InvalidAMIName.Duplicate', 400, `AMI name ${made.Name} is already in use`));
    ec2Mock.on(DescribeImagesCommand).resolvesOnce({ Images: [] }).resolvesOnce({ Images: [] }).resolves({ Images: [made] });
    lookupWaits.length = 0;
    expect(await onEvent(event)).toEqual({ PhysicalResourceId: made.ImageId });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 3);
    expect(lookupWaits).toEqual([1_000, 2_000]);
  });

  test('a duplicate name whose image never shows: four lookups, then the error', async () => {
    ec2Mock.on(CreateImageCommand).rejects(ec2Error('InvalidAMIName.Duplicate', 400, 'AMI name is already in use'));
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    lookupWaits.length = 0;
    // The original error itself: the lookups answered, so there is no lookup failure to report.
    await expect(onEvent(createEvent())).rejects.toMatchObject({ name: 'InvalidAMIName.Duplicate', message: 'AMI name is already in use' });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 4);
    expect(lookupWaits).toEqual([1_000, 2_000, 3_000]);
  });

  test('a lost CreateImage response and a failing lookup: the lookup is retried until it finds the image', async () => {
    const event = createEvent();
    const made = ownImage(event.RequestId, props(), { name: imageNameFor({ imageName: 'web-server' }, event.RequestId) });
    ec2Mock.on(CreateImageCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET' }));
    ec2Mock.on(DescribeImagesCommand).rejectsOnce(ec2Error('UnauthorizedOperation', 403, 'not now')).resolves({ Images: [made] });
    lookupWaits.length = 0;
    expect(await onEvent(event)).toEqual({ PhysicalResourceId: made.ImageId });
    expect(lookupWaits).toEqual([1_000]);
  });

  test('a lookup that keeps failing: the error names the image that may exist, so it can be found and deleted', async () => {
    const event = createEvent();
    const name = imageNameFor({ imageName: 'web-server' }, event.RequestId);
    ec2Mock.on(CreateImageCommand).rejects(ec2Error('InvalidAMIName.Duplicate', 400, 'AMI name is already in use'));
    ec2Mock.on(DescribeImagesCommand).rejects(ec2Error('UnauthorizedOperation', 403, 'You are not authorized'));
    await expect(onEvent(event)).rejects.toThrow(`CreateImage of "${name}" failed (AMI name is already in use) and the image could not be looked up `
      + `(You are not authorized): if an image named "${name}" exists, it was not handed to CloudFormation; delete it and its snapshots`);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 4);
  });

  test('a refusal that proves no image was started (HTTP 400): one lookup, no waiting', async () => {
    ec2Mock.on(CreateImageCommand).rejects(ec2Error('InvalidParameterValue', 400, 'Invalid name'));
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    lookupWaits.length = 0;
    await expect(onEvent(createEvent())).rejects.toThrow('Invalid name');
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
    expect(lookupWaits).toEqual([]);
  });

  test('an image with the same name made by another request is not adopted: the error is rethrown', async () => {
    const event = createEvent();
    serveImages([ownImage('another-request', props(), { name: imageNameFor({ imageName: 'web-server' }, event.RequestId) })]);
    ec2Mock.on(CreateImageCommand).rejects(ec2Error('InvalidAMIName.Duplicate', 400, 'AMI name is already in use'));
    await expect(onEvent(event)).rejects.toMatchObject({ name: 'InvalidAMIName.Duplicate', message: 'AMI name is already in use' });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateImageCommand, 1);
  });

  test('an error with no image behind it is rethrown (InvalidInstanceID.NotFound)', async () => {
    serveImages([]);
    ec2Mock.on(CreateImageCommand).rejects(ec2Error('InvalidInstanceID.NotFound', 400, "The instance ID 'i-0123456789abcdef0' does not exist"));
    await expect(onEvent(createEvent())).rejects.toThrow("The instance ID 'i-0123456789abcdef0' does not exist");
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateImageCommand, 1);
  });

  test('bad properties: EventShapeError naming the property, no EC2 call', async () => {
    await expect(onEvent(createEvent(props({ TimeoutSeconds: '60' })))).rejects.toThrow('ResourceProperties.TimeoutSeconds must be an integer from 300 to 3600');
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('isComplete', () => {
  beforeEach(() => freezeClock(NOW));

  test('no PhysicalResourceId (an envelope the framework never sends): refused before any call', async () => {
    await expect(isComplete(createEvent())).rejects.toThrow('PhysicalResourceId is required for isComplete (the image id onEvent returned), got nothing');
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  test('available, and EC2 gives no name: ImageName is empty, not missing', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props());
    delete image.Name;
    serveImages([image]);
    expect(await isComplete(completeEvent(event, image.ImageId!))).toEqual({ IsComplete: true, Data: { ImageId: image.ImageId, ImageName: '', SnapshotIds: snapshotsOf(image).join(',') } });
  });

  test('an image of an earlier request that is still pending is not complete (only an available one is)', async () => {
    const event = createEvent();
    const image = ownImage('an-earlier-request', props(), { state: 'pending', created: new Date(NOW.getTime() - 60_000) });
    serveImages([image]);
    expect(await isComplete(completeEvent(event, image.ImageId!))).toEqual({ IsComplete: false });
  });

  test('pending: not complete, no report, no change', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props(), { state: 'pending', created: new Date(NOW.getTime() - 120_000) });
    const requests = serveImages([image]);
    expect(await isComplete(completeEvent(event, image.ImageId!))).toEqual({ IsComplete: false });
    expect(requests).toEqual([{ ImageIds: [image.ImageId] }]);
    expect(ec2Writes()).toEqual([]);
    expect(snsMock.calls()).toHaveLength(0);
    expect(logLines('info').find((l) => l.message === 'waiting for the image')).toMatchObject({ imageId: image.ImageId, state: 'pending', waitedSeconds: 120 });
  });

  test('not visible yet (InvalidAMIID.NotFound right after CreateImage): not complete', async () => {
    serveImages([]);
    const event = createEvent();
    expect(await isComplete(completeEvent(event, 'ami-0bbbbbbbbbbbbbbb1'))).toEqual({ IsComplete: false });
    expect(logLines('info').find((l) => l.message === 'waiting for the image')).toMatchObject({ state: 'not visible yet' });
    expect(ec2Writes()).toEqual([]);
  });

  test('available: deprecated at creation + DeprecateAfterSeconds, shared (image and every snapshot), instance stopped, reported', async () => {
    const properties = props({ DeprecateAfterSeconds: '86400', ShareWithAccounts: ['444455556666', '777788889999'], StopInstanceAfterImage: 'true' });
    const event = createEvent(properties);
    const snapshots = [nextSnapshotId(), nextSnapshotId(), nextSnapshotId()];
    const image = ownImage(event.RequestId, properties, { snapshots, created: '2025-06-01T11:50:42.000Z' });
    serveImages([image]);

    const result = await isComplete(completeEvent(event, image.ImageId!));

    expect(result).toEqual({ IsComplete: true, Data: { ImageId: image.ImageId, ImageName: image.Name, SnapshotIds: snapshots.join(',') } });
    const accounts = ['444455556666', '777788889999'];
    expect(ec2Writes()).toEqual([
      ['EnableImageDeprecationCommand', { ImageId: image.ImageId, DeprecateAt: new Date('2025-06-02T11:50:00Z') }],
      ['ModifyImageAttributeCommand', { ImageId: image.ImageId, LaunchPermission: { Add: [{ UserId: accounts[0] }, { UserId: accounts[1] }] } }],
      ...snapshots.map((SnapshotId) => ['ModifySnapshotAttributeCommand', { SnapshotId, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: accounts }]),
      ['StopInstancesCommand', { InstanceIds: [INSTANCE_ID] }],
    ]);
    const report = publishedReport();
    expect(report.TopicArn).toBe(TOPIC_ARN);
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: 4 done');
    expect(report.Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=CREATE  result=DONE  (available with 3 snapshot(s))`);
    expect(report.Message).toContain('action=DEPRECATE  result=DONE  (deprecated from 2025-06-02T11:50:00.000Z)');
    expect(report.Message).toContain(`action=SHARE  result=DONE  (shared with ${accounts.join(', ')} (image and 3 snapshot(s)))`);
    expect(report.Message).toContain(`- instance ${INSTANCE_ID}    action=STOP  result=DONE  (source of ${image.ImageId}, stopped once the image was available)`);
  });

  test('available with nothing configured: no EC2 write, one report, SnapshotIds comma-joined', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props(), { snapshots: ['snap-0aaaaaaaaaaaaaaa1', 'snap-0aaaaaaaaaaaaaaa2'] });
    serveImages([image]);
    const result = await isComplete(completeEvent(event, image.ImageId!));
    expect(result.Data).toEqual({ ImageId: image.ImageId, ImageName: image.Name, SnapshotIds: 'snap-0aaaaaaaaaaaaaaa1,snap-0aaaaaaaaaaaaaaa2' });
    expect(ec2Writes()).toEqual([]);
    expect(publishedReport().Subject).toBe('[fleet-janitor] AmiManager: 1 done');
  });

  test('a deprecation time already past (an image that took longer than its age) becomes the next minute', async () => {
    const properties = props({ DeprecateAfterSeconds: '60' });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties, { created: '2025-06-01T11:40:00.000Z' });
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    // now is 12:00:30; EC2 refuses a past time, so 12:01:00
    expect(ec2Mock).toHaveReceivedCommandWith(EnableImageDeprecationCommand, { ImageId: image.ImageId, DeprecateAt: new Date('2025-06-01T12:01:00Z') });
  });

  test('a deprecation that falls into the current minute (rounded down to now or before) becomes the next minute too', async () => {
    const properties = props({ DeprecateAfterSeconds: '60' });
    const event = createEvent(properties);
    // 11:59:50 + 60 s = 12:00:50, rounded down to 12:00:00, which is before now (12:00:30)
    const image = ownImage(event.RequestId, properties, { created: '2025-06-01T11:59:50.000Z' });
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    const at = ec2Mock.commandCalls(EnableImageDeprecationCommand)[0].args[0].input.DeprecateAt!;
    expect(at.getTime()).toBeGreaterThan(NOW.getTime());
    expect(at).toEqual(new Date('2025-06-01T12:01:00Z'));
  });

  test('a deprecation time exactly now becomes the next minute (EC2 refuses the present as well as the past)', async () => {
    freezeClock(new Date('2025-06-01T12:00:00.000Z'));
    const properties = props({ DeprecateAfterSeconds: '60' });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties, { created: '2025-06-01T11:59:00.000Z' });
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    expect(ec2Mock).toHaveReceivedCommandWith(EnableImageDeprecationCommand, { ImageId: image.ImageId, DeprecateAt: new Date('2025-06-01T12:01:00Z') });
  });

  test('no creation date from EC2: deprecation counts from now', async () => {
    const properties = props({ DeprecateAfterSeconds: '3600' });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties);
    delete image.CreationDate;
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    expect(ec2Mock).toHaveReceivedCommandWith(EnableImageDeprecationCommand, { DeprecateAt: new Date('2025-06-01T13:00:00Z') });
  });

  test('a creation date EC2 gives that does not parse: deprecation counts from now', async () => {
    const properties = props({ DeprecateAfterSeconds: '120' });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties, { created: 'yesterday' });
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    expect(ec2Mock).toHaveReceivedCommandWith(EnableImageDeprecationCommand, { DeprecateAt: new Date('2025-06-01T12:02:00Z') });
  });

  test('a finishing step that fails: the report lists the steps already done, then the error is thrown', async () => {
    const properties = props({ DeprecateAfterSeconds: '86400', ShareWithAccounts: ['444455556666'] });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties);
    serveImages([image]);
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InvalidAMIAttributeItemValue', 400, 'Invalid attribute item value'));
    await expect(isComplete(completeEvent(event, image.ImageId!))).rejects.toThrow('Invalid attribute item value');
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: RUN FAILED, 2 done');
    expect(report.Message).toContain('action=CREATE  result=DONE');
    expect(report.Message).toContain('action=DEPRECATE  result=DONE');
  });

  test('a source instance that cannot be stopped: reported as failed, the image is still handed over', async () => {
    const properties = props({ StopInstanceAfterImage: 'true' });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties);
    serveImages([image]);
    ec2Mock.on(StopInstancesCommand).rejects(ec2Error('IncorrectInstanceState', 400, 'The instance is not in a state from which it can be stopped.'));
    const result = await isComplete(completeEvent(event, image.ImageId!));
    expect(result).toMatchObject({ IsComplete: true, Data: { ImageId: image.ImageId } });
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: 1 done, 1 failed');
    expect(report.Message).toContain('action=STOP  result=FAILED  error=IncorrectInstanceState');
    expect(report.Message).toContain('could not be stopped: The instance is not in a state from which it can be stopped.');
  });

  test('a source instance that cannot be stopped for lack of permission: the error is thrown (a configuration problem)', async () => {
    const properties = props({ StopInstanceAfterImage: 'true' });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties);
    serveImages([image]);
    ec2Mock.on(StopInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 403, 'You are not authorized to perform this operation.'));
    await expect(isComplete(completeEvent(event, image.ImageId!))).rejects.toThrow('You are not authorized');
  });

  test('StopInstanceAfterImage "false": the instance is left running', async () => {
    const properties = props({ ShareWithAccounts: ['444455556666'] });
    const event = createEvent(properties);
    const image = ownImage(event.RequestId, properties);
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    expect(ec2Mock).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2Mock).toHaveReceivedCommandTimes(ModifySnapshotAttributeCommand, 1);
  });

  test('after an in-place update: the image data onEvent passed on (merged by the framework) completes at once, without a call', async () => {
    const event = createEvent();
    const image = ownImage('an-earlier-request', props());
    serveImages([image]);
    const finished = { ...completeEvent(event, image.ImageId!), Data: { ImageId: image.ImageId, ImageName: image.Name, SnapshotIds: '' } };
    expect(await isComplete(finished)).toEqual({ IsComplete: true });
    expect(ec2CallNames()).toEqual([]);
    expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
  });

  test('data naming another image (or none that parses) is not taken as finished: the image is looked at', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props());
    serveImages([image]);
    for (const data of [{ ImageId: 'ami-0fffffffffffffff0' }, { ImageId: 42 }, 'ami-x', null]) {
      ec2Mock.resetHistory();
      const result = await isComplete({ ...completeEvent(event, image.ImageId!), Data: data });
      expect(result).toMatchObject({ IsComplete: true, Data: { ImageId: image.ImageId } });
      expect(ec2CallNames()).toContain('DescribeImagesCommand');
    }
  });

  test('failed: reported, then thrown with the state reason; nothing changed', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props(), { state: 'failed', reason: { Code: 'Client.InternalError', Message: 'Client.InternalError: instance terminated' } });
    serveImages([image]);
    await expect(isComplete(completeEvent(event, image.ImageId!))).rejects.toThrow(`image ${image.ImageId} is failed: Client.InternalError: instance terminated`);
    expect(ec2Writes()).toEqual([]);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: RUN FAILED, 0 done, 1 failed');
    expect(report.Message).toContain(`The run stopped early: image ${image.ImageId} is failed: Client.InternalError: instance terminated`);
    expect(report.Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=CREATE  result=FAILED`);
  });

  test('failed without a reason; the state reason code stands in for a missing message', async () => {
    const event = createEvent();
    const bare = ownImage(event.RequestId, props(), { state: 'failed' });
    const coded = ownImage(event.RequestId, props(), { state: 'error', reason: { Code: 'Server.InternalError' } });
    serveImages([bare, coded]);
    await expect(isComplete(completeEvent(event, bare.ImageId!))).rejects.toThrow(new Error(`image ${bare.ImageId} is failed`));
    await expect(isComplete(completeEvent(event, coded.ImageId!))).rejects.toThrow(new Error(`image ${coded.ImageId} is error: Server.InternalError`));
  });

  test('a failure reason is at most 1,000 characters (CloudFormation\'s response must stay under 4 KB)', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props(), { state: 'failed', reason: { Message: 'z'.repeat(10_000) } });
    serveImages([image]);
    const error = await isComplete(completeEvent(event, image.ImageId!)).catch((e: Error) => e);
    expect((error as Error).message.length).toBeLessThanOrEqual(1_000);
    expect((error as Error).message).toMatch(/^image ami-.* is failed: z+\.\.\.$/);
  });

  test('still pending past TimeoutSeconds: thrown', async () => {
    const event = createEvent(props({ TimeoutSeconds: '600' }));
    const image = ownImage(event.RequestId, props({ TimeoutSeconds: '600' }), { state: 'pending', created: new Date(NOW.getTime() - 601_000) });
    serveImages([image]);
    await expect(isComplete(completeEvent(event, image.ImageId!))).rejects.toThrow(`image ${image.ImageId} was still pending after 601 s (timeout 600 s)`);
    expect(publishedReport().Subject).toContain('RUN FAILED');
  });

  test('exactly at TimeoutSeconds: still waiting', async () => {
    const event = createEvent(props({ TimeoutSeconds: '600' }));
    const image = ownImage(event.RequestId, props({ TimeoutSeconds: '600' }), { state: 'pending', created: new Date(NOW.getTime() - 600_000) });
    serveImages([image]);
    expect(await isComplete(completeEvent(event, image.ImageId!))).toEqual({ IsComplete: false });
  });

  test('an in-place update (the image was made by an earlier request): complete at once, nothing changed, nothing reported', async () => {
    const properties = props({ ShareWithAccounts: ['444455556666'], StopInstanceAfterImage: 'true', DeprecateAfterSeconds: '600' });
    const image = ownImage('earlier-request', properties);
    serveImages([image]);
    const event = updateEvent(image.ImageId!, properties, properties);
    const result = await isComplete(event);
    expect(result).toEqual({ IsComplete: true, Data: { ImageId: image.ImageId, ImageName: image.Name, SnapshotIds: snapshotsOf(image).join(',') } });
    expect(ec2Writes()).toEqual([]);
    expect(snsMock.calls()).toHaveLength(0);
  });

  test('a Delete is complete at once, without an EC2 call', async () => {
    expect(await isComplete(deleteEvent('ami-0ccccccccccccccc1', { junk: true }))).toEqual({ IsComplete: true });
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  test.each([
    ['the is-complete alias', 'arn:aws:lambda:eu-west-1:111122223333:function:f:is-complete', 'isComplete'],
    ['the unqualified ARN', 'arn:aws:lambda:eu-west-1:111122223333:function:f', 'onEvent'],
    ['a version', 'arn:aws:lambda:eu-west-1:111122223333:function:f:7', 'onEvent'],
    ['another alias ending like it', 'arn:aws:lambda:eu-west-1:111122223333:function:f:not-is-complete', 'onEvent'],
    ['no context', undefined, 'onEvent'],
    ['a context without an ARN', '', 'onEvent'],
  ])('routing: invoked through %s → %s', async (_, arn, route) => {
    const context = arn === undefined ? undefined : arn === '' ? {} : { invokedFunctionArn: arn };
    const event = createEvent();
    const image = ownImage(event.RequestId, props(), { state: 'pending' });
    serveImages([image]);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0ddddddddddddddd1' });
    const result = await loadModule().handler(completeEvent(event, image.ImageId!), context);
    if (route === 'isComplete') {
      expect(result).toEqual({ IsComplete: false });
      expect(ec2Mock).not.toHaveReceivedCommand(CreateImageCommand);
    } else {
      expect(result).toEqual({ PhysicalResourceId: 'ami-0ddddddddddddddd1' });
      expect(ec2Mock).toHaveReceivedCommandTimes(CreateImageCommand, 1);
    }
  });
});

describe('Update', () => {
  const current = (properties = props()) => ownImage('create-request', properties);

  test.each([
    ['InstanceId', { InstanceId: 'i-0fedcba9876543210' }],
    ['ImageName', { ImageName: 'api-server' }],
    ['Description', { Description: 'v2' }],
    ['Reboot', { Reboot: 'true' }],
  ])('a change to %s bakes a new image (a new physical id)', async (_, change) => {
    const image = current();
    const requests = serveImages([image]);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0eeeeeeeeeeeeeee1' });
    const next = props(change);
    const event = updateEvent(image.ImageId!, props(), next);

    expect(await onEvent(event)).toEqual({ PhysicalResourceId: 'ami-0eeeeeeeeeeeeeee1' });

    expect(requests).toEqual([{
      Owners: ['self'],
      Filters: [
        { Name: `tag:${OWNERSHIP_TAGS.stackId}`, Values: [STACK_ID] },
        { Name: `tag:${OWNERSHIP_TAGS.logicalId}`, Values: [LOGICAL_ID] },
        { Name: `tag:${OWNERSHIP_TAGS.fingerprint}`, Values: [fingerprint(next)] },
        { Name: 'state', Values: ['pending', 'available'] },
      ],
    }]);
    expect(ec2Writes().map(([name]) => name)).toEqual(['CreateImageCommand']);
    const input = ec2Mock.commandCalls(CreateImageCommand)[0].args[0].input;
    expect(input.Name).toBe(imageNameFor(parseSpec(next), event.RequestId));
    expect(input.Name).not.toBe(image.Name);
    expect(input.TagSpecifications![0].Tags).toContainEqual({ Key: OWNERSHIP_TAGS.requestId, Value: event.RequestId });
    expect(input.TagSpecifications![0].Tags).toContainEqual({ Key: OWNERSHIP_TAGS.fingerprint, Value: fingerprint(next) });
  });

  test('a rollback (an image of this owner with the new properties exists): that image is handed back, no CreateImage', async () => {
    const original = props({ Description: 'v1' });
    const kept = ownImage('create-request', original, { created: '2025-05-01T00:00:00.000Z' });
    const older = ownImage('older-request', original, { created: '2025-04-01T00:00:00.000Z' });
    const failedReplacement = ownImage('update-request', props({ Description: 'v2' }), { state: 'available' });
    const elsewhere = ec2Image({ tags: ownershipTags({ stackId: OTHER_STACK_ID, fingerprint: fingerprint(original) }) });
    serveImages([older, elsewhere, kept, failedReplacement]);

    const result = await onEvent(updateEvent(failedReplacement.ImageId!, props({ Description: 'v2' }), original));

    expect(result).toEqual(inPlaceResult(kept));
    expect(ec2Writes()).toEqual([]);
    // Nothing to bring up to date: nothing to report either.
    expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
    expect(logLines('info').find((l) => l.message === 'an image with these properties exists: handing it back'))
      .toMatchObject({ imageId: kept.ImageId, state: 'available' });
  });

  test('an image handed back already deprecated at the requested time: left as it is', async () => {
    freezeClock(NOW);
    const wanted = props({ DeprecateAfterSeconds: '86400' });
    const kept = { ...ownImage('create-request', wanted, { created: '2025-06-01T06:00:00.000Z' }), DeprecationTime: '2025-06-02T06:00:00.000Z' };
    const replacement = ownImage('update-request', props({ Description: 'v2', DeprecateAfterSeconds: '86400' }));
    serveImages([kept, replacement]);
    expect(await onEvent(updateEvent(replacement.ImageId!, props({ Description: 'v2', DeprecateAfterSeconds: '86400' }), wanted))).toEqual(inPlaceResult(kept));
    expect(ec2Writes()).toEqual([]);
  });

  test('an image handed back deprecated at another time than requested: deprecated again at the requested time', async () => {
    freezeClock(NOW);
    const wanted = props({ DeprecateAfterSeconds: '86400' });
    const kept = { ...ownImage('create-request', wanted, { created: '2025-06-01T06:00:00.000Z' }), DeprecationTime: '2025-06-05T06:00:00.000Z' };
    const replacement = ownImage('update-request', props({ Description: 'v2', DeprecateAfterSeconds: '86400' }));
    serveImages([kept, replacement]);
    await onEvent(updateEvent(replacement.ImageId!, props({ Description: 'v2', DeprecateAfterSeconds: '86400' }), wanted));
    expect(ec2Writes()).toEqual([['EnableImageDeprecationCommand', { ImageId: kept.ImageId, DeprecateAt: new Date('2025-06-02T06:00:00.000Z') }]]);
  });

  test('an image handed back is brought to the requested tags, sharing and deprecation (its own state read from EC2)', async () => {
    const wanted = props({ Tags: { team: 'web', env: 'prod' }, ShareWithAccounts: ['444455556666'], DeprecateAfterSeconds: '86400' });
    freezeClock(NOW);
    const kept = ownImage('create-request', props(), { created: '2025-06-01T06:00:00.000Z' });
    // Defining properties equal: the fingerprint of `wanted` is the kept image's. It carries a tag no longer wanted.
    const tags = [
      ...(kept.Tags ?? []).filter((t) => t.Key !== OWNERSHIP_TAGS.fingerprint),
      { Key: OWNERSHIP_TAGS.fingerprint, Value: fingerprint(wanted) }, { Key: 'old', Value: 'x' },
    ];
    const handedBack = { ...kept, Tags: tags, DeprecationTime: '2025-07-01T00:00:00.000Z' };
    const replacement = ownImage('update-request', props({ Description: 'v2' }));
    serveImages([handedBack, replacement]);
    ec2Mock.on(DescribeImageAttributeCommand).resolves({ LaunchPermissions: [{ UserId: '111122223333' }] });

    expect(await onEvent(updateEvent(replacement.ImageId!, props({ Description: 'v2' }), wanted))).toEqual(inPlaceResult(handedBack));
    const resources = [handedBack.ImageId, ...snapshotsOf(handedBack)];
    expect(ec2Writes()).toEqual([
      ['CreateTagsCommand', { Resources: resources, Tags: [{ Key: 'team', Value: 'web' }, { Key: 'env', Value: 'prod' }] }],
      ['DeleteTagsCommand', { Resources: resources, Tags: [{ Key: 'old' }] }],
      ['EnableImageDeprecationCommand', { ImageId: handedBack.ImageId, DeprecateAt: new Date('2025-06-02T06:00:00.000Z') }],
      ['ModifyImageAttributeCommand', { ImageId: handedBack.ImageId, LaunchPermission: { Add: [{ UserId: '444455556666' }] } }],
      ...snapshotsOf(handedBack).map((id) => ['ModifySnapshotAttributeCommand', { SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: ['444455556666'] }]),
      ['ModifyImageAttributeCommand', { ImageId: handedBack.ImageId, LaunchPermission: { Remove: [{ UserId: '111122223333' }] } }],
      ...snapshotsOf(handedBack).map((id) => ['ModifySnapshotAttributeCommand', { SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: ['111122223333'] }]),
    ]);
    expect(ec2Mock).not.toHaveReceivedCommand(CreateImageCommand);
  });

  test.each([
    ['no launch permissions at all', {}],
    ['only a public (group) permission, which is no account', { LaunchPermissions: [{ Group: 'all' as const }] }],
  ])('an image handed back with %s: no account is unshared', async (_name, attribute) => {
    const kept = ownImage('create-request', props());
    const replacement = ownImage('update-request', props({ Description: 'v2' }));
    serveImages([kept, replacement]);
    ec2Mock.on(DescribeImageAttributeCommand).resolves(attribute);
    expect(await onEvent(updateEvent(replacement.ImageId!, props({ Description: 'v2' }), props()))).toEqual(inPlaceResult(kept));
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImageAttributeCommand, { ImageId: kept.ImageId, Attribute: 'launchPermission' });
    expect(ec2Writes()).toEqual([]);
  });

  test('an image handed back that is still pending: its id only, nothing changed yet', async () => {
    const wanted = props();
    const pending = ownImage('create-request', wanted, { state: 'pending' });
    const replacement = ownImage('update-request', props({ Description: 'v2' }));
    serveImages([pending, replacement]);
    expect(await onEvent(updateEvent(replacement.ImageId!, props({ Description: 'v2' }), wanted))).toEqual({ PhysicalResourceId: pending.ImageId });
    expect(ec2Writes()).toEqual([]);
  });

  test('unreadable old properties: treated as a replacement', async () => {
    const image = current();
    serveImages([image]);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0eeeeeeeeeeeeeee2' });
    expect(await onEvent(updateEvent(image.ImageId!, { InstanceId: 3 }, props({ Description: 'new' })))).toEqual({ PhysicalResourceId: 'ami-0eeeeeeeeeeeeeee2' });
    expect(logLines('info').find((l) => l.message === 'image started')).toMatchObject({ why: 'replace: (unreadable old properties) changed' });
  });

  test('unreadable old properties and the current image already has the new fingerprint: that image is kept, none baked', async () => {
    const image = current();
    serveImages([image]);
    expect(await onEvent(updateEvent(image.ImageId!, {}, props()))).toEqual(inPlaceResult(image));
    expect(ec2Mock).not.toHaveReceivedCommand(CreateImageCommand);
  });

  test('tags: changed and new ones set on the image and every snapshot, removed ones deleted; nothing else', async () => {
    const before = props({ Tags: { team: 'platform', env: 'dev', drop: 'me', old: 'x' } });
    const after = props({ Tags: { team: 'platform', env: 'prod', cost: 'c1' } });
    const image = current(before);
    serveImages([image]);
    const resources = [image.ImageId, ...snapshotsOf(image)];

    expect(await onEvent(updateEvent(image.ImageId!, before, after))).toEqual(inPlaceResult(image));

    expect(ec2Writes()).toEqual([
      ['CreateTagsCommand', { Resources: resources, Tags: [{ Key: 'env', Value: 'prod' }, { Key: 'cost', Value: 'c1' }] }],
      ['DeleteTagsCommand', { Resources: resources, Tags: [{ Key: 'drop' }, { Key: 'old' }] }],
    ]);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: 2 done');
    expect(report.Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=TAG  result=DONE  (set env, cost on the image and 1 snapshot(s))`);
    expect(report.Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=UNTAG  result=DONE  (removed drop, old from the image and its snapshots)`);
  });

  test('deprecation set: from the image\'s creation; cleared: DisableImageDeprecation', async () => {
    freezeClock(NOW);
    const image = current();
    image.CreationDate = '2025-06-01T10:00:00.000Z';
    serveImages([image]);
    await onEvent(updateEvent(image.ImageId!, props(), props({ DeprecateAfterSeconds: '10800' })));
    expect(ec2Writes()).toEqual([['EnableImageDeprecationCommand', { ImageId: image.ImageId, DeprecateAt: new Date('2025-06-01T13:00:00Z') }]]);

    ec2Mock.resetHistory();
    snsMock.resetHistory();
    await onEvent(updateEvent(image.ImageId!, props({ DeprecateAfterSeconds: '10800' }), props()));
    expect(ec2Writes()).toEqual([['DisableImageDeprecationCommand', { ImageId: image.ImageId }]]);
    expect(publishedReport().Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=UNDEPRECATE  result=DONE  (deprecation cancelled)`);
  });

  test('deprecation changed to a time still ahead', async () => {
    freezeClock(NOW);
    const image = current();
    image.CreationDate = '2025-06-01T10:00:00.000Z';
    serveImages([image]);
    await onEvent(updateEvent(image.ImageId!, props({ DeprecateAfterSeconds: '3600' }), props({ DeprecateAfterSeconds: '86400' })));
    expect(ec2Writes()).toEqual([['EnableImageDeprecationCommand', { ImageId: image.ImageId, DeprecateAt: new Date('2025-06-02T10:00:00Z') }]]);
  });

  test('accounts added and removed: the image and every snapshot, one call per operation', async () => {
    const snapshots = [nextSnapshotId(), nextSnapshotId(), nextSnapshotId()];
    const before = props({ ShareWithAccounts: ['111111111111', '222222222222'] });
    const after = props({ ShareWithAccounts: ['222222222222', '333333333333'] });
    const image = ownImage('create-request', before, { snapshots });
    serveImages([image]);

    await onEvent(updateEvent(image.ImageId!, before, after));

    expect(ec2Writes()).toEqual([
      ['ModifyImageAttributeCommand', { ImageId: image.ImageId, LaunchPermission: { Add: [{ UserId: '333333333333' }] } }],
      ...snapshots.map((SnapshotId) => ['ModifySnapshotAttributeCommand', { SnapshotId, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: ['333333333333'] }]),
      ['ModifyImageAttributeCommand', { ImageId: image.ImageId, LaunchPermission: { Remove: [{ UserId: '111111111111' }] } }],
      ...snapshots.map((SnapshotId) => ['ModifySnapshotAttributeCommand', { SnapshotId, Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: ['111111111111'] }]),
    ]);
    expect(publishedReport().Message).toContain('action=UNSHARE  result=DONE  (no longer shared with 111111111111 (image and 3 snapshot(s)))');
  });

  test('every in-place change at once: exactly one call per change, in order, and one report', async () => {
    freezeClock(NOW);
    const before = props({ Tags: { team: 'platform', old: '1' }, ShareWithAccounts: ['111111111111'], DeprecateAfterSeconds: '600' });
    const after = props({ Tags: { team: 'data' }, ShareWithAccounts: ['222222222222'], StopInstanceAfterImage: 'true' });
    const image = ownImage('create-request', before, { snapshots: ['snap-0aaaaaaaaaaaaaaa1'] });
    serveImages([image]);
    const resources = [image.ImageId, 'snap-0aaaaaaaaaaaaaaa1'];

    expect(await onEvent(updateEvent(image.ImageId!, before, after))).toEqual(inPlaceResult(image));

    expect(ec2Writes()).toEqual([
      ['CreateTagsCommand', { Resources: resources, Tags: [{ Key: 'team', Value: 'data' }] }],
      ['DeleteTagsCommand', { Resources: resources, Tags: [{ Key: 'old' }] }],
      ['DisableImageDeprecationCommand', { ImageId: image.ImageId }],
      ['ModifyImageAttributeCommand', { ImageId: image.ImageId, LaunchPermission: { Add: [{ UserId: '222222222222' }] } }],
      ['ModifySnapshotAttributeCommand', { SnapshotId: 'snap-0aaaaaaaaaaaaaaa1', Attribute: 'createVolumePermission', OperationType: 'add', UserIds: ['222222222222'] }],
      ['ModifyImageAttributeCommand', { ImageId: image.ImageId, LaunchPermission: { Remove: [{ UserId: '111111111111' }] } }],
      ['ModifySnapshotAttributeCommand', { SnapshotId: 'snap-0aaaaaaaaaaaaaaa1', Attribute: 'createVolumePermission', OperationType: 'remove', UserIds: ['111111111111'] }],
      ['StopInstancesCommand', { InstanceIds: [INSTANCE_ID] }],
    ]);
    expect(publishedReport().Subject).toBe('[fleet-janitor] AmiManager: 6 done');
  });

  test('the same tags and accounts in another order: no change at all', async () => {
    const before = props({ Tags: { a: '1', b: '2' }, ShareWithAccounts: ['111111111111', '222222222222'] });
    const after = props({ Tags: { b: '2', a: '1' }, ShareWithAccounts: ['222222222222', '111111111111', '111111111111'] });
    const image = ownImage('create-request', before);
    serveImages([image]);
    expect(await onEvent(updateEvent(image.ImageId!, before, after))).toEqual(inPlaceResult(image));
    expect(ec2Writes()).toEqual([]);
    expect(snsMock.calls()).toHaveLength(0);
  });

  test('StopInstanceAfterImage turned on: the instance is stopped now', async () => {
    const image = current();
    serveImages([image]);
    await onEvent(updateEvent(image.ImageId!, props(), props({ StopInstanceAfterImage: 'true' })));
    expect(ec2Writes()).toEqual([['StopInstancesCommand', { InstanceIds: [INSTANCE_ID] }]]);
  });

  test('StopInstanceAfterImage turned off, removal policy, timeout or topic changed: no EC2 write, no report', async () => {
    const image = current();
    serveImages([image]);
    const before = props({ StopInstanceAfterImage: 'true' });
    const after = props({ RemovalPolicy: 'retain', TimeoutSeconds: '3600', TopicArn: 'arn:aws:sns:eu-west-1:111122223333:other' });
    expect(await onEvent(updateEvent(image.ImageId!, before, after))).toEqual(inPlaceResult(image));
    expect(ec2CallNames()).toEqual(['DescribeImagesCommand']);
    expect(snsMock.calls()).toHaveLength(0);
  });

  test('the image is gone: a new one is baked', async () => {
    serveImages([]);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0eeeeeeeeeeeeeee4' });
    expect(await onEvent(updateEvent('ami-0fffffffffffffff1', props(), props({ Tags: { x: 'y' } })))).toEqual({ PhysicalResourceId: 'ami-0eeeeeeeeeeeeeee4' });
    expect(ec2Writes().map(([name]) => name)).toEqual(['CreateImageCommand']);
    expect(logLines('info').find((l) => l.message === 'image started')).toMatchObject({ why: 'replace: ami-0fffffffffffffff1 no longer exists' });
  });

  test('the log says why an image is baked: every defining property that changed', async () => {
    const image = current();
    serveImages([image]);
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0eeeeeeeeeeeeeee5' });
    await onEvent(updateEvent(image.ImageId!, props(), props({ ImageName: 'api-server', Description: 'v2' })));
    expect(logLines('info').find((l) => l.message === 'image started'))
      .toMatchObject({ imageId: 'ami-0eeeeeeeeeeeeeee5', instanceId: INSTANCE_ID, why: 'replace: imageName, description changed' });
  });

  test.each([
    ['no ownership tags', {}],
    ['another stack\'s tags', ownershipTags({ stackId: OTHER_STACK_ID })],
    ['another resource\'s tags', ownershipTags({ logicalId: 'OtherImage' })],
  ])('an image with %s: refused, nothing changed', async (_, tags) => {
    const image = ec2Image({ tags });
    serveImages([image]);
    await expect(onEvent(updateEvent(image.ImageId!, props(), props({ Tags: { x: 'y' } })))).rejects.toThrow(
      `${image.ImageId} does not carry this resource's ownership tags; refusing to change it`,
    );
    expect(ec2Writes()).toEqual([]);
    expect(snsMock.calls()).toHaveLength(0);
  });

  test('an in-place change EC2 refuses: reported as a failed run and thrown', async () => {
    instantRetries();
    const image = current();
    serveImages([image]);
    ec2Mock.on(CreateTagsCommand).rejects(ec2Error('UnauthorizedOperation', 403, 'You are not authorized to perform this operation.'));
    await expect(onEvent(updateEvent(image.ImageId!, props(), props({ Tags: { x: 'y' } })))).rejects.toThrow('You are not authorized');
    expect(publishedReport().Subject).toBe('[fleet-janitor] AmiManager: RUN FAILED, 0 done');
  });

  test('a change that fails half-way: the report lists the changes already made', async () => {
    const image = current();
    serveImages([image]);
    ec2Mock.on(ModifyImageAttributeCommand).rejects(ec2Error('InvalidAMIAttributeItemValue', 400, 'Invalid attribute item value'));
    const after = props({ Tags: { team: 'platform', x: 'y' }, ShareWithAccounts: ['444455556666'] });
    await expect(onEvent(updateEvent(image.ImageId!, props(), after))).rejects.toThrow('Invalid attribute item value');
    expect(ec2Writes().map(([name]) => name)).toEqual(['CreateTagsCommand', 'ModifyImageAttributeCommand']);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: RUN FAILED, 1 done');
    expect(report.Message).toContain('action=TAG  result=DONE  (set x on the image and 1 snapshot(s))');
  });

  test('bad new properties are refused before any EC2 call', async () => {
    await expect(onEvent(updateEvent('ami-0123456789abcdef0', props(), props({ Tags: { 'fleet-janitor:ami:request-id': 'x' } })))).rejects.toThrow('ResourceProperties.Tags has the key');
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Delete', () => {
  /** An available image of this resource with its snapshots tagged like it. */
  function deployed(snapshotCount = 3) {
    const snapshots = Array.from({ length: snapshotCount }, () => nextSnapshotId());
    const image = ownImage('create-request', props(), { snapshots });
    const snapshotTags = ownershipTags({ requestId: 'create-request', fingerprint: fingerprint(props()) });
    return { image, snapshots, snapshotTags };
  }

  test('retain: no EC2 call, the report says the image is kept', async () => {
    const event = deleteEvent('ami-0123456789abcdef0', props({ RemovalPolicy: 'retain' }));
    expect(await onEvent(event)).toEqual({ PhysicalResourceId: 'ami-0123456789abcdef0' });
    expect(ec2Mock.calls()).toHaveLength(0);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: 0 done');
    expect(report.Message).toContain('- image ami-0123456789abcdef0    action=RETAIN  result=KEPT  (removal policy RETAIN: the image and its snapshots are kept)');
  });

  test('destroy: DeregisterImage with its snapshots, one DescribeSnapshots to verify, nothing left to delete', async () => {
    const { image, snapshots } = deployed();
    serveImages([image]);
    const requests = serveSnapshots([]);
    ec2Mock.on(DeregisterImageCommand).resolves({});

    expect(await onEvent(deleteEvent(image.ImageId!))).toEqual({ PhysicalResourceId: image.ImageId });

    expect(ec2CallNames()).toEqual(['DescribeImagesCommand', 'DeregisterImageCommand', 'DescribeSnapshotsCommand']);
    expect(ec2Writes()).toEqual([['DeregisterImageCommand', { ImageId: image.ImageId, DeleteAssociatedSnapshots: true }]]);
    expect(requests).toEqual([{ OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values: snapshots }] }]);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: 1 done');
    expect(report.Message).toContain('action=DEREGISTER  result=DONE  (deregistered with its 3 snapshot(s))');
  });

  test('leftover snapshots are deleted; one in use by another image is kept and reported; one already gone is fine', async () => {
    const { image, snapshots, snapshotTags } = deployed();
    serveImages([image]);
    serveSnapshots(snapshots.map((id) => ec2Snapshot(id, snapshotTags)));
    ec2Mock.on(DeleteSnapshotCommand, { SnapshotId: snapshots[1] }).rejects(
      ec2Error('InvalidSnapshot.InUse', 400, `The snapshot ${snapshots[1]} is currently in use by ami-0999999999999999a`),
    );
    ec2Mock.on(DeleteSnapshotCommand, { SnapshotId: snapshots[2] }).rejects(ec2Error('InvalidSnapshot.NotFound', 400, 'gone'));

    await onEvent(deleteEvent(image.ImageId!));

    expect(ec2Writes()).toEqual([
      ['DeregisterImageCommand', { ImageId: image.ImageId, DeleteAssociatedSnapshots: true }],
      ...snapshots.map((SnapshotId) => ['DeleteSnapshotCommand', { SnapshotId }]),
    ]);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: 3 done');
    expect(report.Message).toContain(`- snapshot ${snapshots[0]}    action=DELETE  result=DONE  (left behind by ${image.ImageId}, deleted)`);
    expect(report.Message).toContain(`- snapshot ${snapshots[1]}    action=DELETE  result=KEPT  error=InvalidSnapshot.InUse  (still used by another image: The snapshot`);
    expect(report.Message).toContain(`- snapshot ${snapshots[2]}    action=DELETE  result=DONE  (deleted with ${image.ImageId})`);
  });

  test('a leftover snapshot without this resource\'s tags is kept', async () => {
    const { image, snapshots, snapshotTags } = deployed(2);
    serveImages([image]);
    serveSnapshots([ec2Snapshot(snapshots[0], snapshotTags), ec2Snapshot(snapshots[1], { team: 'platform' })]);
    await onEvent(deleteEvent(image.ImageId!));
    expect(ec2Mock.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotId)).toEqual([snapshots[0]]);
    expect(publishedReport().Message).toContain(`- snapshot ${snapshots[1]}    action=DELETE  result=KEPT  (in ${image.ImageId}'s mappings but without this resource's ownership tags`);
  });

  test('a DeleteSnapshot error other than InUse/NotFound fails the delete; the report still lists the deregistration already done', async () => {
    const { image, snapshots, snapshotTags } = deployed(1);
    serveImages([image]);
    serveSnapshots([ec2Snapshot(snapshots[0], snapshotTags)]);
    ec2Mock.on(DeleteSnapshotCommand).rejects(ec2Error('UnauthorizedOperation', 403, 'not authorized'));
    await expect(onEvent(deleteEvent(image.ImageId!))).rejects.toThrow('not authorized');
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] AmiManager: RUN FAILED, 1 done');
    expect(report.Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=DEREGISTER  result=DONE`);
  });

  test('image already gone: its snapshots are found by EC2\'s description and the owner tags (3+ pages) and deleted', async () => {
    const imageId = nextImageId();
    const tags = ownershipTags({ requestId: 'create-request' });
    const description = (id: string) => `Created by CreateImage(${INSTANCE_ID}) for ${id}`;
    const mine = Array.from({ length: 5 }, () => ec2Snapshot(nextSnapshotId(), tags, description(imageId)));
    const otherImage = ec2Snapshot(nextSnapshotId(), tags, description(nextImageId()));
    const otherOwner = ec2Snapshot(nextSnapshotId(), ownershipTags({ logicalId: 'OtherImage' }), description(imageId));
    const untagged = ec2Snapshot(nextSnapshotId(), {}, description(imageId));
    serveImages([]);
    const requests = serveSnapshots([mine[0], otherImage, mine[1], otherOwner, mine[2], untagged, mine[3], mine[4]], 2);

    await onEvent(deleteEvent(imageId));

    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'page-2', 'page-4']);
    for (const request of requests) {
      expect(request).toMatchObject({
        OwnerIds: ['self'],
        MaxResults: 1_000,
        Filters: [
          { Name: `tag:${OWNERSHIP_TAGS.stackId}`, Values: [STACK_ID] },
          { Name: `tag:${OWNERSHIP_TAGS.logicalId}`, Values: [LOGICAL_ID] },
          { Name: 'description', Values: [`*${imageId}*`] },
        ],
      });
    }
    expect(ec2Writes()).toEqual(mine.map((s) => ['DeleteSnapshotCommand', { SnapshotId: s.SnapshotId }]));
  });

  test('a failed image (no snapshots in its mappings): deregistered, its snapshots found by the request tag', async () => {
    const image = ownImage('create-request', props(), { state: 'failed', snapshots: [] });
    const orphan = ec2Snapshot(nextSnapshotId(), ownershipTags({ requestId: 'create-request' }), '');
    const sibling = ec2Snapshot(nextSnapshotId(), ownershipTags({ requestId: 'another-request' }), '');
    serveImages([image]);
    const requests = serveSnapshots([orphan, sibling]);
    await onEvent(deleteEvent(image.ImageId!));
    expect(requests[0].Filters).toContainEqual({ Name: `tag:${OWNERSHIP_TAGS.requestId}`, Values: ['create-request'] });
    expect(ec2Writes()).toEqual([
      ['DeregisterImageCommand', { ImageId: image.ImageId, DeleteAssociatedSnapshots: true }],
      ['DeleteSnapshotCommand', { SnapshotId: orphan.SnapshotId }],
    ]);
  });

  test('a failed image that names some snapshots in its mappings: all of them are found by the request tag, not by the mappings', async () => {
    const named = ec2Snapshot(nextSnapshotId(), ownershipTags({ requestId: 'create-request' }), '');
    const unnamed = ec2Snapshot(nextSnapshotId(), ownershipTags({ requestId: 'create-request' }), '');
    const image = ownImage('create-request', props(), { state: 'failed', snapshots: [named.SnapshotId!] });
    serveImages([image]);
    const requests = serveSnapshots([named, unnamed]);
    await onEvent(deleteEvent(image.ImageId!));
    expect(requests[0].Filters).toContainEqual({ Name: `tag:${OWNERSHIP_TAGS.requestId}`, Values: ['create-request'] });
    expect(ec2Writes().filter(([name]) => name === 'DeleteSnapshotCommand')).toEqual([
      ['DeleteSnapshotCommand', { SnapshotId: named.SnapshotId }],
      ['DeleteSnapshotCommand', { SnapshotId: unnamed.SnapshotId }],
    ]);
  });

  test('an available image with no snapshot in its mappings (instance store only): leftovers are found by the request tag', async () => {
    const image = ownImage('create-request', props(), { snapshots: [] });
    const orphan = ec2Snapshot(nextSnapshotId(), ownershipTags({ requestId: 'create-request' }), '');
    serveImages([image]);
    const requests = serveSnapshots([orphan]);
    await onEvent(deleteEvent(image.ImageId!));
    expect(requests).toHaveLength(1);
    expect(requests[0].Filters).toContainEqual({ Name: `tag:${OWNERSHIP_TAGS.requestId}`, Values: ['create-request'] });
    expect(ec2Writes()).toEqual([
      ['DeregisterImageCommand', { ImageId: image.ImageId, DeleteAssociatedSnapshots: true }],
      ['DeleteSnapshotCommand', { SnapshotId: orphan.SnapshotId }],
    ]);
  });

  test('an image of another owner: nothing deleted, reported as kept', async () => {
    const image = ec2Image({ tags: ownershipTags({ stackId: OTHER_STACK_ID }) });
    serveImages([image]);
    await onEvent(deleteEvent(image.ImageId!));
    expect(ec2Writes()).toEqual([]);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeSnapshotsCommand);
    expect(publishedReport().Message).toContain('action=DEREGISTER  result=KEPT  (the image does not carry this resource\'s ownership tags, so it is not deleted)');
  });

  test.each(['RequestId-6f1c2a70', 'ami-XYZ', 'snap-0123456789abcdef0', 'ami-', 'xami-0123456789abcdef0', 'ami-0123456789abcdef0-old'])(
    'a physical id that is no image id (%s, a create that failed early): nothing', async (physicalId) => {
      expect(await onEvent(deleteEvent(physicalId))).toEqual({ PhysicalResourceId: physicalId });
      expect(ec2Mock.calls()).toHaveLength(0);
      expect(snsMock.calls()).toHaveLength(0);
      expect(logLines('info').find((l) => l.message === 'no image was ever created for this resource; nothing to delete')).toMatchObject({ physicalResourceId: physicalId });
    });

  test('a malformed RemovalPolicy (and other broken properties) on delete: destroy', async () => {
    const { image } = deployed(1);
    serveImages([image]);
    serveSnapshots([]);
    await onEvent(deleteEvent(image.ImageId!, props({ RemovalPolicy: 'RETAIN', InstanceId: 7, Tags: 'junk' })));
    expect(ec2Mock).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: image.ImageId, DeleteAssociatedSnapshots: true });
  });

  test('no readable topic: the delete still runs and is logged, not published', async () => {
    const { image } = deployed(1);
    serveImages([image]);
    serveSnapshots([]);
    await onEvent(deleteEvent(image.ImageId!, props({ TopicArn: undefined })));
    expect(ec2Mock).toHaveReceivedCommandTimes(DeregisterImageCommand, 1);
    expect(snsMock.calls()).toHaveLength(0);
    expect(logLines('warn').find((l) => l.message === 'delete without a readable topic')).toMatchObject({
      entries: [expect.objectContaining({ id: image.ImageId, action: 'DEREGISTER', outcome: 'DONE' })],
    });
  });

  test.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'])('deregistered already by an earlier attempt (%s on DeregisterImage): fine', async (code) => {
    const { image } = deployed(1);
    serveImages([image]);
    serveSnapshots([]);
    ec2Mock.on(DeregisterImageCommand).rejects(ec2Error(code, 400, 'gone'));
    await expect(onEvent(deleteEvent(image.ImageId!))).resolves.toEqual({ PhysicalResourceId: image.ImageId });
  });

  test('DeregisterImage refused: the delete fails', async () => {
    const { image } = deployed(1);
    serveImages([image]);
    ec2Mock.on(DeregisterImageCommand).rejects(ec2Error('UnauthorizedOperation', 403, 'not authorized'));
    await expect(onEvent(deleteEvent(image.ImageId!))).rejects.toThrow('not authorized');
  });

  test('a DescribeImages error other than not-found fails the delete before any change', async () => {
    ec2Mock.on(DescribeImagesCommand).rejects(ec2Error('UnauthorizedOperation', 403, 'not authorized'));
    await expect(onEvent(deleteEvent('ami-0123456789abcdef0'))).rejects.toThrow('not authorized');
    expect(ec2Writes()).toEqual([]);
  });

  test('throttling (RequestLimitExceeded, 503) is retried on every call', async () => {
    instantRetries();
    const { image, snapshots, snapshotTags } = deployed(1);
    const throttled = () => ec2Error('RequestLimitExceeded', 503, 'Request limit exceeded.');
    let describes = 0;
    ec2Mock.on(DescribeImagesCommand).callsFake(async () => {
      if (++describes === 1) throw throttled();
      return { Images: [image] };
    });
    ec2Mock.on(DeregisterImageCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    let snapshotDescribes = 0;
    ec2Mock.on(DescribeSnapshotsCommand).callsFake(async () => {
      if (++snapshotDescribes === 1) throw ec2Error('ServiceUnavailable', 503);
      return { Snapshots: [ec2Snapshot(snapshots[0], snapshotTags)] };
    });
    ec2Mock.on(DeleteSnapshotCommand).rejectsOnce(throttled()).resolves({});

    await onEvent(deleteEvent(image.ImageId!));

    expect(ec2CallNames()).toEqual([
      'DescribeImagesCommand', 'DescribeImagesCommand',
      'DeregisterImageCommand', 'DeregisterImageCommand', 'DeregisterImageCommand',
      'DescribeSnapshotsCommand', 'DescribeSnapshotsCommand',
      'DeleteSnapshotCommand', 'DeleteSnapshotCommand',
    ]);
    expect(publishedReport().Subject).toBe('[fleet-janitor] AmiManager: 2 done');
  });

  test('throttling on the image-gone path: DescribeSnapshots pages are retried', async () => {
    instantRetries();
    const imageId = nextImageId();
    serveImages([]);
    const snapshots = Array.from({ length: 3 }, () => ec2Snapshot(nextSnapshotId(), ownershipTags(), `Created by CreateImage(${INSTANCE_ID}) for ${imageId}`));
    let calls = 0;
    ec2Mock.on(DescribeSnapshotsCommand).callsFake(async (input: { NextToken?: string }) => {
      calls++;
      if (calls === 2) throw ec2Error('RequestLimitExceeded', 503);
      const start = input.NextToken ? Number(input.NextToken) : 0;
      return { Snapshots: snapshots.slice(start, start + 1), NextToken: start + 1 < snapshots.length ? String(start + 1) : undefined };
    });
    await onEvent(deleteEvent(imageId));
    expect(ec2Mock.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotId)).toEqual(snapshots.map((s) => s.SnapshotId));
  });

  test('a malformed Delete envelope is refused before any call', async () => {
    await expect(onEvent(deleteEvent('ami-0123456789abcdef0', props(), { StackId: 'not-a-stack' }))).rejects.toThrow('StackId must be a CloudFormation stack ARN');
    await expect(onEvent(deleteEvent('ami-0123456789abcdef0', props(), { PhysicalResourceId: undefined }))).rejects.toThrow('PhysicalResourceId is required for Delete');
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('report and metrics', () => {
  test('both clients say who is calling: cdk-fleet-janitor/ami-manager in the user agent (CloudTrail\'s userAgent)', async () => {
    serveImages([]);
    await isComplete(completeEvent(createEvent(), 'ami-0aaaaaaaaaaaaaaa1'));
    const clientOf = (mock: typeof ec2Mock | typeof snsMock) => mock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } };
    expect(clientOf(ec2Mock).config.customUserAgent).toEqual([['cdk-fleet-janitor/ami-manager']]);
  });

  test('every onEvent logs the request it got', async () => {
    serveImages([]);
    const event = deleteEvent('ami-0123456789abcdef0', props({ RemovalPolicy: 'retain' }));
    await onEvent(event);
    expect(logLines('info').find((l) => l.message === 'event'))
      .toMatchObject({ requestType: 'Delete', logicalResourceId: LOGICAL_ID, physicalResourceId: 'ami-0123456789abcdef0' });
    const clientOf = (mock: typeof snsMock) => mock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } };
    expect(clientOf(snsMock).config.customUserAgent).toEqual([['cdk-fleet-janitor/ami-manager']]);
  });

  test('EMF: one record per report, service AmiManager and the FunctionName dimension', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId);
    serveImages([image]);
    await isComplete(completeEvent(event, image.ImageId!));
    const emf = emfRecords();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ service: 'AmiManager', FunctionName: 'app-AmiManagerHandler', ResourcesScanned: 1, ActionsTaken: 1, ActionsFailed: 0 });
    expect(emf[0]._aws.CloudWatchMetrics[0].Namespace).toBe('CdkFleetJanitorTest');
    expect(emf[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'FunctionName']]);
  });

  test('without the Powertools variables the service is still AmiManager', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId);
    serveImages([image]);
    await loadModule({ POWERTOOLS_SERVICE_NAME: undefined }).handler(completeEvent(event, image.ImageId!), IS_COMPLETE_CONTEXT);
    expect(emfRecords()[0].service).toBe('AmiManager');
  });

  test('a failure is counted as ActionsFailed', async () => {
    const event = createEvent();
    const image = ownImage(event.RequestId, props(), { state: 'failed' });
    serveImages([image]);
    await expect(isComplete(completeEvent(event, image.ImageId!))).rejects.toThrow();
    expect(emfRecords()[0]).toMatchObject({ ActionsFailed: 1, ActionsTaken: 0 });
  });

  test('the delete report body: header, counts and one line per resource', async () => {
    const snapshot = nextSnapshotId();
    const image = ownImage('create-request', props(), { snapshots: [snapshot] });
    serveImages([image]);
    serveSnapshots([ec2Snapshot(snapshot, ownershipTags({ requestId: 'create-request' }))]);
    await onEvent(deleteEvent(image.ImageId!));
    const { Message, Subject, TopicArn } = publishedReport();
    expect(TopicArn).toBe(TOPIC_ARN);
    expect(Subject).toBe('[fleet-janitor] AmiManager: 2 done');
    expect(Message).toMatch(/^AmiManager run started \S+Z: SUCCEEDED\nLive run: actions below were carried out\.\n\nScanned 1 resource\(s\); 2 matched\.\n/);
    expect(Message).toContain(`- image ${image.ImageId}  name=${image.Name}  action=DEREGISTER  result=DONE`);
    expect(Message).toContain(`- snapshot ${snapshot}    action=DELETE  result=DONE`);
  });

  test('a report SNS refuses does not hide the run: the error is thrown', async () => {
    instantRetries();
    snsMock.on(PublishCommand).rejects(Object.assign(new Error('Topic does not exist'), { name: 'NotFound' }));
    const event = createEvent();
    const image = ownImage(event.RequestId);
    serveImages([image]);
    await expect(isComplete(completeEvent(event, image.ImageId!))).rejects.toThrow('Topic does not exist');
  });
});

// Keep the tag helper exercised for readers comparing with the harness.
test('tagList renders EC2 tags in order', () => {
  expect(tagList({ a: '1', b: '2' })).toEqual([{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);
});

export type { Snapshot };
