import { DescribeImageAttributeCommand, DescribeImagesCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import 'aws-sdk-client-mock-jest';
import { ec2Mock, ec2Snapshot, instantRetries, LOGICAL_ID, ownershipTags, STACK_ID } from './harness';
import {
  describeImage, existingSnapshots, findOwnImageByFingerprint, findOwnImageByName, launchPermissionAccounts, ownedSnapshotsOf, tagRecord,
} from '../../../lambda/ami-manager/observe';
import { ec2Error } from '../helpers';

/*
 * What the handler reads of EC2's answers when EC2 leaves fields out: responses without lists, images
 * without mappings or creation dates, tags without values.
 */
const ec2 = new EC2Client({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const owner = { stackId: STACK_ID, logicalId: LOGICAL_ID };

beforeEach(() => ec2Mock.reset());
afterEach(() => jest.restoreAllMocks());

test('an image without block device mappings has no snapshots; a mapping without a snapshot is skipped', async () => {
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-01234567', State: 'pending' }] });
  expect(await describeImage(ec2, 'ami-01234567')).toEqual({
    imageId: 'ami-01234567', name: undefined, state: 'pending', stateReason: undefined, creationDate: undefined, tags: {}, snapshotIds: [],
  });
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-01234567', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }] }] });
  expect((await describeImage(ec2, 'ami-01234567'))!.snapshotIds).toEqual([]);
});

test.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed'])('DescribeImages refusing the id with %s: not found', async (code) => {
  ec2Mock.on(DescribeImagesCommand).rejects(ec2Error(code, 400));
  expect(await describeImage(ec2, 'ami-01234567')).toBeUndefined();
});

test('DescribeImages answering without the image, or without a list: not found', async () => {
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0other000' }] });
  expect(await describeImage(ec2, 'ami-01234567')).toBeUndefined();
  ec2Mock.on(DescribeImagesCommand).resolves({});
  expect(await describeImage(ec2, 'ami-01234567')).toBeUndefined();
});

test('the newest of several images with a fingerprint is chosen; one without a creation date counts as oldest', async () => {
  ec2Mock.on(DescribeImagesCommand).resolves({
    Images: [
      { ImageId: 'ami-0000000a' },
      { ImageId: 'ami-0000000b', CreationDate: '2025-05-01T00:00:00.000Z' },
      { ImageId: 'ami-0000000c', CreationDate: '2025-06-01T00:00:00.000Z' },
      { ImageId: 'ami-0000000d' },
    ],
  });
  expect((await findOwnImageByFingerprint(ec2, owner, 'f'))!.imageId).toBe('ami-0000000c');
  ec2Mock.on(DescribeImagesCommand).resolves({});
  expect(await findOwnImageByFingerprint(ec2, owner, 'f')).toBeUndefined();
});

test('DescribeSnapshots answering without a list: no snapshots; no ids asked: no call', async () => {
  ec2Mock.on(DescribeSnapshotsCommand).resolves({});
  expect(await ownedSnapshotsOf(ec2, 'ami-01234567', owner)).toEqual([]);
  expect(await existingSnapshots(ec2, ['snap-01234567'])).toEqual([]);
  ec2Mock.resetHistory();
  expect(await existingSnapshots(ec2, [])).toEqual([]);
  expect(ec2Mock.calls()).toHaveLength(0);
});

test('tags: a tag without a key is dropped, one without a value is empty, no tags is {}', () => {
  expect(tagRecord([{ Key: 'a' }, { Value: 'orphan' }, { Key: 'b', Value: 'x' }])).toEqual({ a: '', b: 'x' });
  expect(tagRecord(undefined)).toEqual({});
});

test('by name: only the image with exactly that name, not the first one EC2 lists; an answer without a list is no image', async () => {
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0000000a', Name: 'web-server-old' }, { ImageId: 'ami-0000000b', Name: 'web-server' }] });
  expect((await findOwnImageByName(ec2, 'web-server'))!.imageId).toBe('ami-0000000b');
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0000000a', Name: 'web-server-old' }] });
  expect(await findOwnImageByName(ec2, 'web-server')).toBeUndefined();
  ec2Mock.on(DescribeImagesCommand).resolves({});
  expect(await findOwnImageByName(ec2, 'web-server')).toBeUndefined();
});

test('a snapshot listing that fails past its first page resumes from the last page token, without repeating snapshots', async () => {
  instantRetries();
  const tags = ownershipTags();
  const tokens: Array<string | undefined> = [];
  let calls = 0;
  ec2Mock.on(DescribeSnapshotsCommand).callsFake(async (input: { NextToken?: string }) => {
    tokens.push(input.NextToken);
    calls++;
    if (calls === 2) throw ec2Error('RequestLimitExceeded', 503);
    return input.NextToken === 'page-1'
      ? { Snapshots: [ec2Snapshot('snap-0000000b', tags)] }
      : { Snapshots: [ec2Snapshot('snap-0000000a', tags)], NextToken: 'page-1' };
  });
  const snapshots = await ownedSnapshotsOf(ec2, 'ami-01234567', owner);
  expect(snapshots.map((s) => s.snapshotId)).toEqual(['snap-0000000a', 'snap-0000000b']);
  expect(tokens).toEqual([undefined, 'page-1', 'page-1']);
});

test('launch permissions: the image\'s launchPermission attribute is asked for; groups and a missing list add no account', async () => {
  ec2Mock.on(DescribeImageAttributeCommand).resolves({ LaunchPermissions: [{ UserId: '444455556666' }, { Group: 'all' }, { UserId: '777788889999' }] });
  expect(await launchPermissionAccounts(ec2, 'ami-01234567')).toEqual(['444455556666', '777788889999']);
  expect(ec2Mock).toHaveReceivedCommandWith(DescribeImageAttributeCommand, { ImageId: 'ami-01234567', Attribute: 'launchPermission' });
  ec2Mock.on(DescribeImageAttributeCommand).resolves({});
  expect(await launchPermissionAccounts(ec2, 'ami-01234567')).toEqual([]);
});
