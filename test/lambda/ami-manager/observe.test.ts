import { DescribeImagesCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import 'aws-sdk-client-mock-jest';
import { ec2Mock, LOGICAL_ID, STACK_ID } from './harness';
import { describeImage, existingSnapshots, findOwnImageByFingerprint, ownedSnapshotsOf, tagRecord } from '../../../lambda/ami-manager/observe';

/*
 * What the handler reads of EC2's answers when EC2 leaves fields out: responses without lists, images
 * without mappings or creation dates, tags without values.
 */
const ec2 = new EC2Client({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const owner = { stackId: STACK_ID, logicalId: LOGICAL_ID };

beforeEach(() => ec2Mock.reset());

test('an image without block device mappings has no snapshots; a mapping without a snapshot is skipped', async () => {
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-01234567', State: 'pending' }] });
  expect(await describeImage(ec2, 'ami-01234567')).toEqual({
    imageId: 'ami-01234567', name: undefined, state: 'pending', stateReason: undefined, creationDate: undefined, tags: {}, snapshotIds: [],
  });
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-01234567', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }] }] });
  expect((await describeImage(ec2, 'ami-01234567'))!.snapshotIds).toEqual([]);
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
