import {
  DescribeImageAttributeCommand, DescribeImagesCommand, DescribeSnapshotsCommand, EC2Client, Filter, Image, paginateDescribeSnapshots, Snapshot, Tag,
} from '@aws-sdk/client-ec2';
import { OWNERSHIP_TAGS } from '../../src/ami-manager/contract';
import { errorCode } from '../shared/errors';
import { collectPages } from '../shared/paginate';
import { retryTransient } from '../shared/retry';

/** What the handler reads of an image. */
export interface ImageView {
  readonly imageId: string;
  readonly name?: string;
  readonly state?: string;
  readonly stateReason?: string;
  readonly creationDate?: string;
  /** When the image is deprecated, if it is. */
  readonly deprecationTime?: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Snapshots in the image's block device mappings. */
  readonly snapshotIds: readonly string[];
}

export interface SnapshotView {
  readonly snapshotId: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** Who owns an image or a snapshot: the stack and logical id of one AmiManager resource. */
export interface Owner {
  readonly stackId: string;
  readonly logicalId: string;
}

const NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed']);

/** One image by id, or undefined when EC2 no longer has it. */
export async function describeImage(ec2: EC2Client, imageId: string): Promise<ImageView | undefined> {
  try {
    const out = await retryTransient(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })));
    const image = out.Images?.find((i) => i.ImageId === imageId);
    return image && view(image);
  } catch (error) {
    if (NOT_FOUND.has(errorCode(error))) return undefined;
    throw error;
  }
}

/** This account's image with this exact name (names are unique per account and region). */
export async function findOwnImageByName(ec2: EC2Client, name: string): Promise<ImageView | undefined> {
  const out = await retryTransient(() => ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })));
  const image = out.Images?.find((i) => i.Name === name);
  return image && view(image);
}

/** An image of this owner, pending or available, whose defining properties hash to `fingerprint`. */
export async function findOwnImageByFingerprint(ec2: EC2Client, owner: Owner, fingerprint: string): Promise<ImageView | undefined> {
  const out = await retryTransient(() => ec2.send(new DescribeImagesCommand({
    Owners: ['self'],
    Filters: [
      { Name: `tag:${OWNERSHIP_TAGS.stackId}`, Values: [owner.stackId] },
      { Name: `tag:${OWNERSHIP_TAGS.logicalId}`, Values: [owner.logicalId] },
      { Name: `tag:${OWNERSHIP_TAGS.fingerprint}`, Values: [fingerprint] },
      { Name: 'state', Values: ['pending', 'available'] },
    ],
  })));
  const images = (out.Images ?? []).map(view).sort((a, b) => (b.creationDate ?? '').localeCompare(a.creationDate ?? ''));
  return images[0];
}

/**
 * Snapshots of one image that still exist and carry the owner's tags. While the image exists, they
 * are found by the request tag it was created with; once it is gone, by EC2's description of the
 * snapshots CreateImage makes ("Created by CreateImage(i-...) for ami-..."; older images say
 * "... for ami-... from vol-..."), which names the image either way.
 */
export async function ownedSnapshotsOf(ec2: EC2Client, imageId: string, owner: Owner, requestId?: string): Promise<SnapshotView[]> {
  const filters: Filter[] = [
    { Name: `tag:${OWNERSHIP_TAGS.stackId}`, Values: [owner.stackId] },
    { Name: `tag:${OWNERSHIP_TAGS.logicalId}`, Values: [owner.logicalId] },
    requestId
      ? { Name: `tag:${OWNERSHIP_TAGS.requestId}`, Values: [requestId] }
      : { Name: 'description', Values: [`*${imageId}*`] },
  ];
  const { items } = await collectPages(
    (token) => paginateDescribeSnapshots({ client: ec2, startingToken: token, pageSize: 1_000 }, { OwnerIds: ['self'], Filters: filters }),
    (page) => page.NextToken,
    (page) => page.Snapshots ?? [],
  );
  return items.map(snapshotView);
}

/** The accounts with launch permission on an image. */
export async function launchPermissionAccounts(ec2: EC2Client, imageId: string): Promise<string[]> {
  const out = await retryTransient(() => ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' })));
  return (out.LaunchPermissions ?? []).flatMap((p) => (p.UserId ? [p.UserId] : []));
}

/** Snapshots by id that still exist (a missing id is simply not returned). */
export async function existingSnapshots(ec2: EC2Client, snapshotIds: readonly string[]): Promise<SnapshotView[]> {
  if (snapshotIds.length === 0) return [];
  const out = await retryTransient(() => ec2.send(new DescribeSnapshotsCommand({
    OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values: [...snapshotIds] }],
  })));
  return (out.Snapshots ?? []).map(snapshotView);
}

export function isOwnedBy(tags: Readonly<Record<string, string>>, owner: Owner): boolean {
  return tags[OWNERSHIP_TAGS.stackId] === owner.stackId && tags[OWNERSHIP_TAGS.logicalId] === owner.logicalId;
}

export function tagRecord(tags: Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

function view(image: Image): ImageView {
  return {
    imageId: image.ImageId!,
    name: image.Name,
    state: image.State,
    stateReason: image.StateReason?.Message ?? image.StateReason?.Code,
    creationDate: image.CreationDate,
    deprecationTime: image.DeprecationTime,
    tags: tagRecord(image.Tags),
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
  };
}

function snapshotView(snapshot: Snapshot): SnapshotView {
  return { snapshotId: snapshot.SnapshotId!, tags: tagRecord(snapshot.Tags) };
}
