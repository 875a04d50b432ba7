/**
 * Build an emulated EC2 fleet and an SNS topic with an SQS queue subscribed, and read both back.
 *
 * Everything goes through the public AWS API of the emulator. Where the API cannot express a fixture
 * (an instance launched days ago, stopped yesterday, a key pair created last week), the value travels
 * as a `moto-fixture:*` tag that moto_launcher.py turns into the real attribute and removes.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DeleteKeyPairCommand,
  DescribeImagesCommand,
  DescribeKeyPairsCommand,
  EC2Client,
  paginateDescribeInstances,
  RunInstancesCommand,
  StopInstancesCommand,
  Tag,
  _InstanceType,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { EMULATOR_REGION } from './moto';

export interface EmulatorClients {
  readonly ec2: EC2Client;
  readonly dynamodb: DynamoDBClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
}

/** SDK clients for the test side (the bundle under test builds its own from awsEnv()). */
export function emulatorClients(endpoint: string): EmulatorClients {
  const config = {
    endpoint,
    region: EMULATOR_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' },
  };
  return { ec2: new EC2Client(config), dynamodb: new DynamoDBClient(config), sns: new SNSClient(config), sqs: new SQSClient(config) };
}

// ---- instances ---------------------------------------------------------------------------------

export type FixtureInstanceState = 'running' | 'stopped' | 'terminated';

/** A group of identical instances, launched with one RunInstances call (MinCount = MaxCount = count). */
export interface InstanceGroup {
  /** @default 1 */
  readonly count?: number;
  /** Key pair name; the key pair is created first (moto validates it, as EC2 does). */
  readonly keyName?: string;
  /** Value of the Name tag. */
  readonly name?: string;
  readonly tags?: Record<string, string>;
  /** @default now */
  readonly launchTime?: Date;
  /** @default 'running' */
  readonly state?: FixtureInstanceState;
  /** When a 'stopped' instance was stopped, as EC2 reports it in StateTransitionReason. @default the moment it is stopped */
  readonly stoppedAt?: Date;
  /** Security group name (created in the default VPC if missing), like Packer's temporary `packer_<uuid>` group. */
  readonly securityGroupName?: string;
  /** Delete the key pair after launch: Packer removed its key but the instance outlived it. @default false */
  readonly keyPairDeleted?: boolean;
  /** @default 't3.micro' */
  readonly instanceType?: string;
  /** @default an Ubuntu AMI from moto's catalogue */
  readonly imageId?: string;
}

export interface FleetInstance {
  readonly instanceId: string;
  readonly group: InstanceGroup;
}

export interface CreateInstancesOptions {
  /**
   * Split each group into RunInstances calls of at most this many instances. moto pages
   * DescribeInstances by reservation, so pagination tests need many reservations.
   * @default the whole group in one call
   */
  readonly instancesPerCall?: number;
}

const FIXTURE_LAUNCH_TIME = 'moto-fixture:launch-time';
const FIXTURE_STOPPED_TIME = 'moto-fixture:stopped-time';
const FIXTURE_CREATE_TIME = 'moto-fixture:create-time';
/** StopInstances / TerminateInstances accept up to 1000 ids per call. */
const INSTANCE_IDS_PER_CALL = 1000;
/** Packer creates its key pair a few seconds before it launches the instance. */
const KEY_PAIR_LEAD_MS = 5_000;

/** Launch the groups (key pairs and security groups first), then move instances to their fixture state. */
export async function createInstances(
  ec2: EC2Client,
  groups: readonly InstanceGroup[],
  options: CreateInstancesOptions = {},
): Promise<FleetInstance[]> {
  const imageId = groups.every((g) => g.imageId) ? '' : await defaultImageId(ec2);
  await ensureKeyPairs(ec2, groups);
  const groupIds = await ensureSecurityGroups(ec2, groups);

  const created: FleetInstance[] = [];
  for (const group of groups) {
    let remaining = group.count ?? 1;
    while (remaining > 0) {
      const batch = Math.min(remaining, options.instancesPerCall ?? remaining);
      const out = await ec2.send(new RunInstancesCommand({
        ImageId: group.imageId ?? imageId,
        InstanceType: (group.instanceType ?? 't3.micro') as _InstanceType,
        MinCount: batch,
        MaxCount: batch,
        KeyName: group.keyName,
        SecurityGroupIds: group.securityGroupName ? [groupIds.get(group.securityGroupName)!] : undefined,
        TagSpecifications: instanceTagSpecifications(group),
      }));
      for (const i of out.Instances ?? []) created.push({ instanceId: i.InstanceId!, group });
      remaining -= batch;
    }
  }

  const idsIn = (state: FixtureInstanceState) => created.filter((c) => (c.group.state ?? 'running') === state).map((c) => c.instanceId);
  for (const ids of chunks(idsIn('stopped'), INSTANCE_IDS_PER_CALL)) {
    await ec2.send(new StopInstancesCommand({ InstanceIds: ids }));
  }
  for (const ids of chunks(idsIn('terminated'), INSTANCE_IDS_PER_CALL)) {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  }
  const deletedKeys = new Set(groups.filter((g) => g.keyPairDeleted && g.keyName).map((g) => g.keyName!));
  for (const keyName of deletedKeys) await ec2.send(new DeleteKeyPairCommand({ KeyName: keyName }));
  return created;
}

function instanceTagSpecifications(group: InstanceGroup) {
  const tags: Tag[] = Object.entries(group.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  if (group.name !== undefined) tags.push({ Key: 'Name', Value: group.name });
  if (group.launchTime) tags.push({ Key: FIXTURE_LAUNCH_TIME, Value: group.launchTime.toISOString() });
  if (group.stoppedAt) tags.push({ Key: FIXTURE_STOPPED_TIME, Value: group.stoppedAt.toISOString() });
  // EC2 rejects an empty tag specification.
  return tags.length ? [{ ResourceType: 'instance' as const, Tags: tags }] : undefined;
}

const imageIds = new WeakMap<EC2Client, string>();

/** Any AMI moto ships: without MOTO_ENABLE_AMI_VALIDATION any id would do, but a real one keeps describes realistic. */
async function defaultImageId(ec2: EC2Client): Promise<string> {
  const cached = imageIds.get(ec2);
  if (cached) return cached;
  const out = await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] }));
  const imageId = out.Images?.[0]?.ImageId;
  if (!imageId) throw new Error('moto has no Ubuntu AMI (owner 099720109477) to launch fixtures from');
  imageIds.set(ec2, imageId);
  return imageId;
}

async function ensureKeyPairs(ec2: EC2Client, groups: readonly InstanceGroup[]): Promise<void> {
  // A key pair is as old as the first instance launched with it.
  const createdAt = new Map<string, number>();
  for (const g of groups) {
    if (!g.keyName) continue;
    const t = (g.launchTime?.getTime() ?? Date.now()) - KEY_PAIR_LEAD_MS;
    createdAt.set(g.keyName, Math.min(t, createdAt.get(g.keyName) ?? Infinity));
  }
  if (!createdAt.size) return;
  const existing = new Set(((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).map((k) => k.KeyName));
  await Promise.all([...createdAt].filter(([name]) => !existing.has(name)).map(([name, t]) => createKeyPair(ec2, name, new Date(t))));
}

/** Create a key pair with a given CreateTime. ed25519: moto generates it much faster than RSA. */
export async function createKeyPair(ec2: EC2Client, keyName: string, createdAt?: Date, tags: Record<string, string> = {}): Promise<void> {
  const all: Tag[] = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  if (createdAt) all.push({ Key: FIXTURE_CREATE_TIME, Value: createdAt.toISOString() });
  await ec2.send(new CreateKeyPairCommand({
    KeyName: keyName,
    KeyType: 'ed25519',
    TagSpecifications: all.length ? [{ ResourceType: 'key-pair', Tags: all }] : undefined,
  }));
}

async function ensureSecurityGroups(ec2: EC2Client, groups: readonly InstanceGroup[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const name of new Set(groups.map((g) => g.securityGroupName).filter((n): n is string => !!n))) {
    const out = await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: `fixture group ${name}` }));
    ids.set(name, out.GroupId!);
  }
  return ids;
}

export interface InstanceView {
  readonly state: string;
  readonly keyName?: string;
  readonly tags: Record<string, string>;
  readonly launchTime?: Date;
  readonly stateTransitionReason?: string;
}

/** Every instance the emulator knows, terminated ones included, for end-state assertions. */
export async function describeAllInstances(ec2: EC2Client): Promise<Map<string, InstanceView>> {
  const views = new Map<string, InstanceView>();
  for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 1000 }, {})) {
    for (const reservation of page.Reservations ?? []) {
      for (const i of reservation.Instances ?? []) {
        views.set(i.InstanceId!, {
          state: i.State?.Name ?? 'unknown',
          keyName: i.KeyName,
          tags: tagMap(i.Tags),
          launchTime: i.LaunchTime,
          stateTransitionReason: i.StateTransitionReason || undefined,
        });
      }
    }
  }
  return views;
}

/** Every key pair, by name (DescribeKeyPairs has no pagination). */
export async function describeAllKeyPairs(ec2: EC2Client): Promise<Map<string, { createTime?: Date; tags: Record<string, string> }>> {
  const out = await ec2.send(new DescribeKeyPairsCommand({}));
  return new Map((out.KeyPairs ?? []).map((k) => [k.KeyName!, { createTime: k.CreateTime, tags: tagMap(k.Tags) }]));
}

function tagMap(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---- notifications -----------------------------------------------------------------------------

export interface TopicWithQueue {
  readonly topicArn: string;
  readonly queueUrl: string;
  readonly queueArn: string;
}

/**
 * An SNS topic with an SQS queue subscribed, so a test can read what the handler published.
 * (Real AWS would also need a queue policy allowing the topic; moto does not check it.)
 */
export async function createTopicWithQueue(clients: EmulatorClients, name = 'fleet-janitor-notifications'): Promise<TopicWithQueue> {
  const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: name }));
  const { QueueUrl } = await clients.sqs.send(new CreateQueueCommand({ QueueName: `${name}-inbox` }));
  const attributes = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  const queueArn = attributes.Attributes!.QueueArn!;
  await clients.sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: queueArn }));
  return { topicArn: TopicArn!, queueUrl: QueueUrl!, queueArn };
}

export interface Notification {
  readonly Subject?: string;
  readonly Message: string;
}

/** Drain the queue: every SNS notification delivered so far (envelope unwrapped), deleted once read. */
export async function readNotifications(sqs: SQSClient, queueUrl: string): Promise<Notification[]> {
  const notifications: Notification[] = [];
  while (true) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = out.Messages ?? [];
    if (!messages.length) return notifications;
    for (const m of messages) {
      const envelope = JSON.parse(m.Body ?? '{}');
      notifications.push({ Subject: envelope.Subject ?? undefined, Message: envelope.Message });
    }
    await sqs.send(new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
    }));
  }
}
