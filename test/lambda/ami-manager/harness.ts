/*
 * The AmiManager handler under aws-sdk-client-mock: a fresh module per test, EC2 and SNS mocked by a
 * small in-memory account (images and snapshots, with DescribeImages/DescribeSnapshots filtering and
 * paging as EC2 does), the console captured, and builders for the CloudFormation custom resource
 * events the CDK provider framework passes to onEvent and isComplete.
 */
import * as ec2Sdk from '@aws-sdk/client-ec2';
import {
  DescribeImageAttributeCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeImagesCommandInput,
  DescribeSnapshotsCommand,
  DescribeSnapshotsCommandInput,
  DisableImageDeprecationCommand,
  EC2Client,
  EnableImageDeprecationCommand,
  Filter,
  Image,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  Snapshot,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import * as snsSdk from '@aws-sdk/client-sns';
import { PublishCommand, PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AMI_PROPERTIES as P, OWNERSHIP_TAGS } from '../../../src/ami-manager/contract';
import { captureConsole, ec2Error, loadHandlerModule, restoreEnv } from '../helpers';
export { emfRecords, logLines } from '../helpers';

export type HandlerModule = typeof import('../../../lambda/ami-manager/index');

export const ec2Mock = mockClient(EC2Client);
export const snsMock = mockClient(SNSClient);

export const REGION = 'eu-west-1';
export const ACCOUNT = '111122223333';
export const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/app/6f1c2a70-3b4d-11ef-8e5a-0a1b2c3d4e5f`;
export const OTHER_STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/other/0a0b0c0d-1111-2222-3333-444455556666`;
export const LOGICAL_ID = 'BuildImage4F2A9C31';
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:ami-reports`;
export const SERVICE_TOKEN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:app-AmiManagerProviderframeworkonEvent-AbC123`;
export const INSTANCE_ID = 'i-0123456789abcdef0';
export const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:app-AmiManagerHandler`;
export const IS_COMPLETE_CONTEXT = { invokedFunctionArn: `${FUNCTION_ARN}:is-complete` };
export const ON_EVENT_CONTEXT = { invokedFunctionArn: FUNCTION_ARN };

export const BASE_ENV: Record<string, string> = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_SERVICE_NAME: 'AmiManager',
  POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitorTest',
  AWS_LAMBDA_FUNCTION_NAME: 'app-AmiManagerHandler',
};

/** The waits between lookups of a duplicate-named image the handler asked for (none is taken). */
export const lookupWaits: number[] = [];

/** A fresh copy of the handler module (its clients and telemetry live at module scope). */
export function loadModule(env: Record<string, string | undefined> = {}): HandlerModule {
  return loadHandlerModule<HandlerModule>({
    modulePath: require.resolve('../../../lambda/ami-manager/index'),
    baseEnv: BASE_ENV,
    overrides: env,
    sdkModules: { '@aws-sdk/client-ec2': ec2Sdk, '@aws-sdk/client-sns': snsSdk },
    // The same module instance the handler uses: lookups of a duplicate-named image do not wait.
    afterLoad: () => jest.requireActual<typeof import('../../../lambda/ami-manager/act')>('../../../lambda/ami-manager/act').setLookupWait(async (ms) => {
      lookupWaits.push(ms);
    }),
  });
}

// ---------------------------------------------------------------------------------------------
// CloudFormation custom resource events, as the provider framework passes them on
// ---------------------------------------------------------------------------------------------

let requestCounter = 0;
/** A fresh CloudFormation request id (a UUID). */
export const nextRequestId = () => `7c9e6679-7425-40de-944b-${(++requestCounter).toString(16).padStart(12, '0')}`;

/** ResourceProperties as CloudFormation delivers them: every scalar a string, plus the ServiceToken. */
export function props(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    ServiceToken: SERVICE_TOKEN,
    [P.instanceId]: INSTANCE_ID,
    [P.imageName]: 'web-server',
    [P.reboot]: 'false',
    [P.tags]: { team: 'platform' },
    [P.shareWithAccounts]: [],
    [P.stopInstanceAfterImage]: 'false',
    [P.removalPolicy]: 'destroy',
    [P.timeoutSeconds]: '1800',
    [P.topicArn]: TOPIC_ARN,
  };
  const out: Record<string, unknown> = { ...base, ...overrides };
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete out[k];
  return out;
}

export interface Envelope {
  RequestType: string;
  ServiceToken: string;
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  ResourceType: string;
  ResourceProperties: Record<string, unknown>;
  OldResourceProperties?: Record<string, unknown>;
  PhysicalResourceId?: string;
}

function envelope(requestType: string, resourceProperties: Record<string, unknown>): Envelope {
  return {
    RequestType: requestType,
    ServiceToken: SERVICE_TOKEN,
    ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/presigned',
    StackId: STACK_ID,
    RequestId: nextRequestId(),
    LogicalResourceId: LOGICAL_ID,
    ResourceType: 'Custom::FleetJanitorAmi',
    ResourceProperties: resourceProperties,
  };
}

export function createEvent(properties = props(), extra: Partial<Envelope> = {}): Envelope {
  return { ...envelope('Create', properties), ...extra };
}

export function updateEvent(
  physicalResourceId: string, oldProperties: Record<string, unknown>, properties: Record<string, unknown>, extra: Partial<Envelope> = {},
): Envelope {
  return { ...envelope('Update', properties), OldResourceProperties: oldProperties, PhysicalResourceId: physicalResourceId, ...extra };
}

export function deleteEvent(physicalResourceId: string, properties = props(), extra: Partial<Envelope> = {}): Envelope {
  return { ...envelope('Delete', properties), PhysicalResourceId: physicalResourceId, ...extra };
}

/** The isComplete event: the onEvent event with the PhysicalResourceId onEvent returned. */
export function completeEvent(event: Envelope, physicalResourceId: string): Envelope {
  return { ...event, PhysicalResourceId: physicalResourceId };
}

// ---------------------------------------------------------------------------------------------
// A small EC2 account: images and snapshots, DescribeImages and DescribeSnapshots as EC2 filters them
// ---------------------------------------------------------------------------------------------

let idCounter = 0;
export const nextImageId = () => `ami-0${(++idCounter).toString(16).padStart(16, '0')}`;
export const nextSnapshotId = () => `snap-0${(++idCounter).toString(16).padStart(16, '0')}`;

export interface OwnerTagProps {
  readonly stackId?: string;
  readonly logicalId?: string;
  readonly requestId?: string;
  readonly fingerprint?: string;
}

/** The four ownership tags, as the handler writes them at creation. */
export function ownershipTags(o: OwnerTagProps = {}): Record<string, string> {
  return {
    [OWNERSHIP_TAGS.stackId]: o.stackId ?? STACK_ID,
    [OWNERSHIP_TAGS.logicalId]: o.logicalId ?? LOGICAL_ID,
    [OWNERSHIP_TAGS.requestId]: o.requestId ?? 'earlier-request',
    [OWNERSHIP_TAGS.fingerprint]: o.fingerprint ?? 'f'.repeat(32),
  };
}

export const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export interface ImageProps {
  readonly id?: string;
  readonly name?: string;
  readonly state?: string;
  readonly reason?: { Code?: string; Message?: string };
  readonly created?: Date | string;
  readonly snapshots?: string[];
  readonly tags?: Record<string, string>;
}

export function ec2Image(p: ImageProps = {}): Image {
  const created = p.created ?? new Date(Date.now() - 600_000);
  return {
    ImageId: p.id ?? nextImageId(),
    Name: p.name ?? 'web-server-0a1b2c3d',
    State: (p.state ?? 'available') as ec2Sdk.ImageState,
    StateReason: p.reason,
    CreationDate: typeof created === 'string' ? created : created.toISOString(),
    OwnerId: ACCOUNT,
    Tags: tagList(p.tags ?? ownershipTags()),
    BlockDeviceMappings: [
      ...(p.snapshots ?? [nextSnapshotId()]).map((SnapshotId, i) => ({ DeviceName: `/dev/xvd${'abcdefgh'[i]}`, Ebs: { SnapshotId, VolumeSize: 8 } })),
      { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
    ],
  };
}

export function ec2Snapshot(id: string, tags: Record<string, string>, description = ''): Snapshot {
  return { SnapshotId: id, OwnerId: ACCOUNT, State: 'completed', Description: description, Tags: tagList(tags) };
}

function tagOf(tags: ec2Sdk.Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

/** EC2's filter wildcards: * any characters, ? one character. */
function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
}

function matchesFilters(filters: Filter[] | undefined, field: (name: string) => string | undefined): boolean {
  return (filters ?? []).every((f) => {
    const value = field(f.Name!);
    return value !== undefined && (f.Values ?? []).some((v) => wildcard(v).test(value));
  });
}

/**
 * DescribeImages over `images`: by ImageIds (a well-formed id EC2 does not know is
 * InvalidAMIID.NotFound), or by Owners self and the name, state and tag filters. Returns a copy of
 * every request.
 */
export function serveImages(images: Image[]): DescribeImagesCommandInput[] {
  const requests: DescribeImagesCommandInput[] = [];
  ec2Mock.on(DescribeImagesCommand).callsFake(async (input: DescribeImagesCommandInput) => {
    requests.push(structuredClone(input));
    if (input.ImageIds) {
      const found = images.filter((i) => input.ImageIds!.includes(i.ImageId!));
      if (found.length < input.ImageIds.length) throw ec2Error('InvalidAMIID.NotFound', 400, `The image id '[${input.ImageIds.join(',')}]' does not exist`);
      return { Images: found };
    }
    const field = (image: Image) => (name: string) => {
      if (name === 'name') return image.Name;
      if (name === 'state') return image.State;
      if (name.startsWith('tag:')) return tagOf(image.Tags, name.slice(4));
      throw new Error(`unexpected DescribeImages filter ${name}`);
    };
    return { Images: images.filter((i) => matchesFilters(input.Filters, field(i))) };
  });
  return requests;
}

/**
 * DescribeSnapshots over `snapshots`, filtered like EC2 (snapshot-id, description, tag:) and paged
 * by MaxResults with opaque NextTokens. Returns a copy of every request.
 */
export function serveSnapshots(snapshots: Snapshot[], pageSize?: number): DescribeSnapshotsCommandInput[] {
  const requests: DescribeSnapshotsCommandInput[] = [];
  ec2Mock.on(DescribeSnapshotsCommand).callsFake(async (input: DescribeSnapshotsCommandInput) => {
    requests.push(structuredClone(input));
    const field = (s: Snapshot) => (name: string) => {
      if (name === 'snapshot-id') return s.SnapshotId;
      if (name === 'description') return s.Description;
      if (name.startsWith('tag:')) return tagOf(s.Tags, name.slice(4));
      throw new Error(`unexpected DescribeSnapshots filter ${name}`);
    };
    const matching = snapshots.filter((s) => matchesFilters(input.Filters, field(s)));
    const size = pageSize ?? input.MaxResults ?? matching.length;
    const start = input.NextToken ? Number(/^page-(\d+)$/.exec(input.NextToken)![1]) : 0;
    const next = start + size;
    return { Snapshots: matching.slice(start, next), NextToken: next < matching.length ? `page-${next}` : undefined };
  });
  return requests;
}

// ---------------------------------------------------------------------------------------------
// What the handler did
// ---------------------------------------------------------------------------------------------

/** Every EC2 call that changes something. */
export const WRITE_COMMANDS = [
  CreateImageCommand, DeregisterImageCommand, DeleteSnapshotCommand, CreateTagsCommand, DeleteTagsCommand,
  ModifyImageAttributeCommand, ModifySnapshotAttributeCommand, EnableImageDeprecationCommand, DisableImageDeprecationCommand,
  StopInstancesCommand,
] as const;

/** The state-changing EC2 calls made, as [command name, input]. */
export function ec2Writes(): Array<[string, unknown]> {
  const names = new Set<string>(WRITE_COMMANDS.map((c) => c.name));
  return ec2Mock.calls()
    .map((call) => call.args[0] as { constructor: { name: string }; input: unknown })
    .filter((command) => names.has(command.constructor.name))
    .map((command) => [command.constructor.name, command.input]);
}

/** Every EC2 call's command name, in order. */
export function ec2CallNames(): string[] {
  return ec2Mock.calls().map((call) => (call.args[0] as { constructor: { name: string } }).constructor.name);
}

export function publishedReport(): PublishCommandInput {
  const calls = snsMock.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0].args[0].input;
}

/** Resets the mocks before each test, captures the console, and restores the environment and clock after. */
export function installHandlerHarness(): void {
  captureConsole();
  beforeEach(() => {
    ec2Mock.reset();
    snsMock.reset();
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
    ec2Mock.on(DescribeImageAttributeCommand).resolves({ LaunchPermissions: [] });
  });

  afterEach(() => {
    restoreEnv();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });
}

/** Freezes Date at `now` without faking timers (the SDK and the retry sleeps keep working). */
export function freezeClock(now: Date): void {
  jest.useFakeTimers({
    now,
    doNotFake: [
      'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback',
      'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout',
    ],
  });
}

/** Retry sleeps of 0 ms (full jitter with Math.random() = 0). */
export function instantRetries(): void {
  jest.spyOn(Math, 'random').mockReturnValue(0);
}
