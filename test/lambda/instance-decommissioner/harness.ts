/*
 * The InstanceDecommissioner handler under aws-sdk-client-mock: a fresh module per environment;
 * EC2, DynamoDB, Route 53, CloudWatch, Lambda, EventBridge and SNS mocked by small fakes that keep
 * state (the fleet, the snapshot table, the hosted zones, the alarms, the bus) and answer the way
 * the services do (filters, pages, conditions, atomic change batches); the console captured.
 * Fixtures: instances as DescribeInstances returns them, snapshot items as the table holds them,
 * record sets as ListResourceRecordSets lists them, metric alarms, and SQS batches of EventBridge
 * "EC2 Instance State-change Notification" events as Lambda's event source mapping delivers them.
 *
 * Time: the Route 53 pacer (200 ms between calls) and every retry back-off sleep through
 * lambda/shared/retry's `sleep`; the handler gets a copy of that module whose sleep returns at once
 * and records the delay asked for (`sleeps`), unless a test sets `timing.real`.
 */
import { createHash } from 'crypto';
import * as cloudwatchSdk from '@aws-sdk/client-cloudwatch';
import {
  CloudWatchClient, CloudWatchServiceException, DeleteAlarmsCommand, DeleteAlarmsCommandInput, DescribeAlarmsCommand, DescribeAlarmsCommandInput,
  MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import * as dynamodbSdk from '@aws-sdk/client-dynamodb';
import {
  AttributeValue, BatchGetItemCommand, BatchGetItemCommandInput, ConditionalCheckFailedException, DynamoDBClient, PutItemCommand, PutItemCommandInput,
  ScanCommand, ScanCommandInput, UpdateItemCommand, UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import * as ec2Sdk from '@aws-sdk/client-ec2';
import { DescribeInstancesCommand, DescribeInstancesCommandInput, EC2Client, Instance, InstanceStateName } from '@aws-sdk/client-ec2';
import * as eventbridgeSdk from '@aws-sdk/client-eventbridge';
import { EventBridgeClient, PutEventsCommand, PutEventsCommandInput, PutEventsRequestEntry, PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import * as lambdaSdk from '@aws-sdk/client-lambda';
import { InvokeCommand, InvokeCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import * as route53Sdk from '@aws-sdk/client-route-53';
import {
  ChangeResourceRecordSetsCommand, ChangeResourceRecordSetsCommandInput, InvalidChangeBatch, ListResourceRecordSetsCommand,
  ListResourceRecordSetsCommandInput, ResourceRecordSet, Route53Client, Route53ServiceException,
} from '@aws-sdk/client-route-53';
import * as snsSdk from '@aws-sdk/client-sns';
import { PublishCommand, PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';
import type * as RetryModule from '../../../lambda/shared/retry';
import { captureConsole, loadHandlerModule, restoreEnv } from '../helpers';
export { emfRecords, logLines } from '../helpers';

type HandlerModule = typeof import('../../../lambda/instance-decommissioner/index');
export type Handler = HandlerModule['handler'];
export type { SweepResult } from '../../../lambda/instance-decommissioner/index';

export const ec2Mock = mockClient(EC2Client);
export const ddbMock = mockClient(DynamoDBClient);
export const r53Mock = mockClient(Route53Client);
export const cwMock = mockClient(CloudWatchClient);
export const lambdaMock = mockClient(LambdaClient);
export const ebMock = mockClient(EventBridgeClient);
export const snsMock = mockClient(SNSClient);
const MOCKS = [ec2Mock, ddbMock, r53Mock, cwMock, lambdaMock, ebMock, snsMock];

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:fleet-janitor-decommissioner`;
export const TABLE = 'fleet-janitor-instance-snapshots';
export const QUEUE_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:fleet-janitor-decommissioner-events`;
export const EVENT_BUS = 'platform-events';
export const PROTECT = 'fleet-janitor:protect';
export const DOMAIN = 'internal.example.com';
/** The forward zone, configured with the `/hostedzone/` prefix the console shows (the handler strips it). */
export const FWD = 'Z04182362YR1VJ3EXAMPLE';
/** The reverse zone of the VPC's 10.0.0.0/16. */
export const REV = 'Z0736251VCGMQ9EXAMPLE';
export const HOOK_CHEF = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:chef-node-delete`;
export const HOOK_CONSUL = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:consul-deregister`;
export const TEMPLATES = [`{tag:Name}.${DOMAIN}`, `{tag:Service}.${DOMAIN}`];
export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];
export const SWEEP = { source: 'cdk-fleet-janitor.schedule' };

export const BASE_ENV: Record<string, string> = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  TOPIC_ARN,
  TABLE_NAME: TABLE,
  HOSTED_ZONES: JSON.stringify([{ id: `/hostedzone/${FWD}`, name: `${DOMAIN}.` }, { id: REV, name: '10.in-addr.arpa' }]),
  RECORD_NAME_TEMPLATES: JSON.stringify(TEMPLATES),
  DELETE_ALARMS: 'true',
  EVENT_BUS,
  HOOK_FUNCTIONS: JSON.stringify([HOOK_CHEF]),
  DRY_RUN: 'false',
  MAX_ACTIONS_PER_RUN: '100',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_SERVICE_NAME: 'InstanceDecommissioner',
  POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitorTest',
};

// ---------------------------------------------------------------------------------------------
// Time

/** Delays the handler asked to sleep (pacer and retries), in order. */
export const sleeps: number[] = [];
/** Set `real` to sleep for real (the pacing test). */
export const timing = { real: false };
const RETRY_MODULE = require.resolve('../../../lambda/shared/retry');
const actualRetry = jest.requireActual<typeof RetryModule>(RETRY_MODULE);
const recordedSleep = (ms: number): Promise<void> => {
  sleeps.push(ms);
  return timing.real ? actualRetry.sleep(ms) : Promise.resolve();
};
const fastRetry: typeof RetryModule = {
  ...actualRetry,
  sleep: recordedSleep,
  retryTransient: (call, opts = {}) => actualRetry.retryTransient(call, { ...opts, sleep: opts.sleep ?? recordedSleep }),
};

/** Only `Date` is faked (the SDK mocks and the handler's promises run as usual). */
export function fakeDate(now: Date): void {
  jest.useFakeTimers({
    now,
    doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
  });
}

/** A fresh copy of the handler module (config, clients, the alarm index and the pacer live at module scope). */
export function loadHandler(env: Record<string, string | undefined> = {}): Handler {
  return loadHandlerModule<HandlerModule>({
    modulePath: require.resolve('../../../lambda/instance-decommissioner/index'),
    baseEnv: BASE_ENV,
    overrides: env,
    sdkModules: {
      '@aws-sdk/client-ec2': ec2Sdk,
      '@aws-sdk/client-dynamodb': dynamodbSdk,
      '@aws-sdk/client-route-53': route53Sdk,
      '@aws-sdk/client-cloudwatch': cloudwatchSdk,
      '@aws-sdk/client-lambda': lambdaSdk,
      '@aws-sdk/client-eventbridge': eventbridgeSdk,
      '@aws-sdk/client-sns': snsSdk,
      [RETRY_MODULE]: fastRetry,
    },
  }).handler;
}

// ---------------------------------------------------------------------------------------------
// Instances

export interface HostSpec {
  readonly id: string;
  readonly privateIp: string;
  readonly secondaryIps?: readonly string[];
  readonly publicIp?: string;
  readonly ipv6?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly az: string;
  readonly launchTime: string;
}

/** `i-0a1b2c3d4e5f6` followed by n in 4 hex digits: 17 hex digits, as EC2 makes them. */
export const idOf = (n: number) => `i-0a1b2c3d4e5f6${n.toString(16).padStart(4, '0')}`;

/** An instance of the fleet: n picks its id; Name and Service tags render its record names. */
export function host(n: number, props: Partial<Omit<HostSpec, 'id'>> & { name?: string; service?: string } = {}): HostSpec {
  const { name, service, ...rest } = props;
  const tags: Record<string, string> = {
    ...(name !== undefined ? { Name: name } : {}),
    ...(service !== undefined ? { Service: service } : {}),
    Environment: 'prod',
    ...props.tags,
  };
  return {
    id: idOf(n),
    privateIp: `10.0.${1 + Math.floor(n / 200)}.${10 + (n % 200)}`,
    az: `${REGION}${'abc'[n % 3]}`,
    launchTime: '2025-05-20T08:30:00.000Z',
    ...rest,
    tags,
  };
}

const dashed = (ip: string) => ip.split('.').join('-');
export const privateDnsOf = (ip: string) => `ip-${dashed(ip)}.${REGION}.compute.internal`;
export const publicDnsOf = (ip: string) => `ec2-${dashed(ip)}.${REGION}.compute.amazonaws.com`;

const STATE_CODES: Record<string, number> = { 'pending': 0, 'running': 16, 'shutting-down': 32, 'terminated': 48, 'stopping': 64, 'stopped': 80 };

/**
 * The instance as DescribeInstances returns it in `state`. A terminated instance has given its
 * network interfaces (and so its addresses) back; its tags stay.
 */
export function described(spec: HostSpec, state = 'running'): Instance {
  const id = spec.id;
  const suffix = id.slice(-8);
  const tags = Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value }));
  const base: Instance = {
    AmiLaunchIndex: 0,
    ImageId: 'ami-0c1bc246476a5572b',
    InstanceId: id,
    InstanceType: 't3.medium',
    KeyName: 'platform-ops',
    LaunchTime: new Date(spec.launchTime),
    Monitoring: { State: 'disabled' },
    Placement: { AvailabilityZone: spec.az, GroupName: '', Tenancy: 'default' },
    ProductCodes: [],
    State: { Code: STATE_CODES[state], Name: state as InstanceStateName },
    Architecture: 'x86_64',
    Hypervisor: 'xen',
    RootDeviceName: '/dev/xvda',
    RootDeviceType: 'ebs',
    VirtualizationType: 'hvm',
    EnaSupport: true,
    EbsOptimized: false,
    Tags: tags,
    ClientToken: `terraform-${suffix}`,
  };
  if (state === 'terminated') {
    return { ...base, PrivateDnsName: '', PublicDnsName: '', StateTransitionReason: 'User initiated (2025-06-01 11:58:02 GMT)', BlockDeviceMappings: [], NetworkInterfaces: [], SecurityGroups: [] };
  }
  const association = spec.publicIp ? { IpOwnerId: 'amazon', PublicDnsName: publicDnsOf(spec.publicIp), PublicIp: spec.publicIp } : undefined;
  return {
    ...base,
    PrivateDnsName: privateDnsOf(spec.privateIp),
    PrivateIpAddress: spec.privateIp,
    PublicDnsName: spec.publicIp ? publicDnsOf(spec.publicIp) : '',
    ...(spec.publicIp ? { PublicIpAddress: spec.publicIp } : {}),
    StateTransitionReason: '',
    SubnetId: 'subnet-0d4e5f60718293a4b',
    VpcId: 'vpc-0a1b2c3d4e5f60718',
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { AttachTime: new Date(spec.launchTime), DeleteOnTermination: true, Status: 'attached', VolumeId: `vol-0${suffix}deadbeef` } }],
    SecurityGroups: [{ GroupId: 'sg-0123456789abcdef0', GroupName: 'web' }],
    SourceDestCheck: true,
    NetworkInterfaces: [{
      Attachment: { AttachTime: new Date(spec.launchTime), AttachmentId: `eni-attach-0${suffix}`, DeleteOnTermination: true, DeviceIndex: 0, NetworkCardIndex: 0, Status: 'attached' },
      ...(association ? { Association: association } : {}),
      Description: '',
      Groups: [{ GroupId: 'sg-0123456789abcdef0', GroupName: 'web' }],
      Ipv6Addresses: spec.ipv6 ? [{ Ipv6Address: spec.ipv6, IsPrimaryIpv6: false }] : [],
      MacAddress: `0a:${suffix.slice(0, 2)}:${suffix.slice(2, 4)}:${suffix.slice(4, 6)}:${suffix.slice(6, 8)}:01`,
      NetworkInterfaceId: `eni-0${suffix}c0ffee`,
      OwnerId: ACCOUNT,
      PrivateDnsName: privateDnsOf(spec.privateIp),
      PrivateIpAddress: spec.privateIp,
      PrivateIpAddresses: [
        {
          ...(association ? { Association: association } : {}),
          Primary: true,
          PrivateDnsName: privateDnsOf(spec.privateIp),
          PrivateIpAddress: spec.privateIp,
        },
        ...(spec.secondaryIps ?? []).map((ip) => ({ Primary: false, PrivateDnsName: privateDnsOf(ip), PrivateIpAddress: ip })),
      ],
      SourceDestCheck: true,
      Status: 'in-use',
      SubnetId: 'subnet-0d4e5f60718293a4b',
      VpcId: 'vpc-0a1b2c3d4e5f60718',
      InterfaceType: 'interface',
    }],
  };
}

/** The names BASE_ENV's templates render for an instance with these tags. */
export function recordNamesOf(tags: Readonly<Record<string, string>>): string[] {
  return [tags.Name, tags.Service].filter((v): v is string => v !== undefined).map((v) => `${v.toLowerCase()}.${DOMAIN}`);
}

/** The snapshot the handler takes of a running instance (what a stored item holds). */
export function snapshotOf(spec: HostSpec): InstanceSnapshot {
  const asg = spec.tags['aws:autoscaling:groupName'];
  return {
    instanceId: spec.id,
    privateIp: spec.privateIp,
    privateIps: [spec.privateIp, ...spec.secondaryIps ?? []],
    publicIps: spec.publicIp ? [spec.publicIp] : [],
    ipv6s: spec.ipv6 ? [spec.ipv6] : [],
    privateDnsName: privateDnsOf(spec.privateIp),
    ...(spec.publicIp ? { publicDnsName: publicDnsOf(spec.publicIp) } : {}),
    tags: { ...spec.tags },
    ...(asg ? { autoScalingGroupName: asg } : {}),
    availabilityZone: spec.az,
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    launchTime: spec.launchTime,
    recordNames: recordNamesOf(spec.tags),
  };
}

export const CAPTURED_AT = '2025-05-20T08:31:02.000Z';

/** A snapshot item as the table holds it. */
export function storedItem(
  spec: HostSpec,
  options: { status?: 'LIVE' | 'DECOMMISSIONED'; hooksDone?: string[]; decommissionedAt?: string } = {},
): Record<string, AttributeValue> {
  return marshall({
    InstanceId: spec.id,
    Status: options.status ?? 'LIVE',
    Snapshot: JSON.stringify(snapshotOf(spec)),
    CapturedAt: CAPTURED_AT,
    ExpiresAt: 1_756_600_000,
    ...(options.status === 'DECOMMISSIONED' ? { DecommissionedAt: options.decommissionedAt ?? '2025-05-30T10:00:00.000Z', Cleaned: '{"records":[],"keptRecords":[],"alarms":[]}' } : {}),
    ...(options.hooksDone ? { HooksDone: new Set(options.hooksDone) } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Records and alarms

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);

/** A record set as ListResourceRecordSets lists it (names and name values end with a dot). */
export function rr(name: string, type: string, values: string[], props: Partial<ResourceRecordSet> = {}): ResourceRecordSet {
  return { Name: fqdn(name), Type: type as ResourceRecordSet['Type'], TTL: 300, ResourceRecords: values.map((Value) => ({ Value })), ...props };
}

/** The PTR name of an IPv4 address. */
export const ptrName = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;

const dims = (d: Record<string, string>) => Object.entries(d).map(([Name, Value]) => ({ Name, Value }));
const alarmArn = (name: string) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${name}`;

/** A metric alarm on one of the instance's metrics (AWS/EC2, or the CloudWatch agent's with its extra dimensions). */
export function instanceAlarm(name: string, instanceId: string, kind: 'cpu' | 'status' | 'agent' | 'custom' = 'cpu'): MetricAlarm {
  const metric = {
    cpu: { Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Dimensions: dims({ InstanceId: instanceId }), Threshold: 90 },
    status: { Namespace: 'AWS/EC2', MetricName: 'StatusCheckFailed', Dimensions: dims({ InstanceId: instanceId }), Threshold: 1 },
    agent: {
      Namespace: 'CWAgent',
      MetricName: 'mem_used_percent',
      Threshold: 85,
      Dimensions: dims({ InstanceId: instanceId, ImageId: 'ami-0c1bc246476a5572b', InstanceType: 't3.medium' }),
    },
    custom: { Namespace: 'Platform/App', MetricName: 'QueueDepth', Dimensions: dims({ InstanceId: instanceId }), Threshold: 1000 },
  }[kind];
  return {
    AlarmName: name,
    AlarmArn: alarmArn(name),
    AlarmDescription: `${kind} alarm`,
    ActionsEnabled: true,
    AlarmActions: [`arn:aws:sns:${REGION}:${ACCOUNT}:ops-pager`],
    OKActions: [],
    InsufficientDataActions: [],
    StateValue: 'OK',
    StateReason: 'Threshold Crossed: 1 datapoint [3.2 (01/06/25 11:50:00)] was not greater than the threshold (90.0).',
    StateUpdatedTimestamp: new Date('2025-06-01T11:50:00Z'),
    Statistic: 'Average',
    Period: 300,
    EvaluationPeriods: 2,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'missing',
    ...metric,
  };
}

/** A metric-math alarm over one metric of each instance (it may go only when all of them are gone). */
export function mathAlarm(name: string, instanceIds: string[]): MetricAlarm {
  return {
    AlarmName: name,
    AlarmArn: alarmArn(name),
    ActionsEnabled: true,
    StateValue: 'OK',
    EvaluationPeriods: 1,
    Threshold: 150,
    ComparisonOperator: 'GreaterThanThreshold',
    Metrics: [
      ...instanceIds.map((id, i) => ({
        Id: `m${i}`,
        ReturnData: false,
        MetricStat: { Metric: { Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Dimensions: dims({ InstanceId: id }) }, Period: 300, Stat: 'Average' },
      })),
      { Id: 'total', Expression: instanceIds.map((_, i) => `m${i}`).join(' + '), Label: 'total CPU', ReturnData: true },
    ],
  };
}

/** An alarm that names no instance (a load balancer's). */
export function albAlarm(name: string): MetricAlarm {
  return {
    AlarmName: name,
    AlarmArn: alarmArn(name),
    ActionsEnabled: true,
    StateValue: 'OK',
    Statistic: 'Sum',
    Period: 60,
    EvaluationPeriods: 3,
    Threshold: 10,
    ComparisonOperator: 'GreaterThanThreshold',
    Namespace: 'AWS/ApplicationELB',
    MetricName: 'HTTPCode_Target_5XX_Count',
    Dimensions: dims({ LoadBalancer: 'app/web/50dc6c495c0c9188' }),
  };
}

// ---------------------------------------------------------------------------------------------
// Events

let sequence = 0;
const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0').slice(-digits);
/** A v4-shaped uuid, deterministic. */
export function uuid(): string {
  const n = ++sequence;
  return `${hex(0x5f3c1e2a + n, 8)}-${hex(0x9a7b + n, 4)}-4${hex(n, 3)}-8${hex(n * 7, 3)}-${hex(0x0a1b2c3d4e5f + n, 12)}`;
}

export const EVENT_TIME = '2025-06-01T11:58:03Z';

/** The EventBridge event EC2 sends when an instance changes state. */
export function stateChange(instanceId: string, state: string, time = EVENT_TIME): Record<string, unknown> {
  return {
    'version': '0',
    'id': uuid(),
    'detail-type': 'EC2 Instance State-change Notification',
    'source': 'aws.ec2',
    'account': ACCOUNT,
    'time': time,
    'region': REGION,
    'resources': [`arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${instanceId}`],
    'detail': { 'instance-id': instanceId, 'state': state },
  };
}

export interface SqsMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, unknown>;
  readonly md5OfBody: string;
  readonly eventSource: string;
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

/** One SQS message as Lambda's event source mapping delivers it; the body is sent as is when it is a string. */
export function sqsMessage(body: unknown, receiveCount = 1): SqsMessage {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const id = uuid();
  return {
    messageId: id,
    receiptHandle: `AQEB${Buffer.from(`${id}:${receiveCount}`).toString('base64')}rK7sQ0fWz3xqD1n0c8M2y9Z5tLw==`,
    body: text,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '1748779083512',
      SenderId: 'AIDAJHIPRHEMV73VRJEBU',
      ApproximateFirstReceiveTimestamp: '1748779083520',
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(text).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: REGION,
  };
}

/** The state change of an instance, as one message. */
export const message = (instanceId: string, state: string) => sqsMessage(stateChange(instanceId, state));

/** The same message delivered again (SQS keeps its id and body; the receive count grows). */
export function redelivered(m: SqsMessage): SqsMessage {
  const count = Number(m.attributes.ApproximateReceiveCount) + 1;
  return { ...m, receiptHandle: `${m.receiptHandle}-${count}`, attributes: { ...m.attributes, ApproximateReceiveCount: String(count) } };
}

export const batch = (...records: SqsMessage[]) => ({ Records: records });

/** The message ids a partial batch response lists. */
export function failedIds(response: unknown): string[] {
  return (response as { batchItemFailures: Array<{ itemIdentifier: string }> }).batchItemFailures.map((f) => f.itemIdentifier);
}

// ---------------------------------------------------------------------------------------------
// The world the fakes serve

export interface Fault {
  /** The command's class name, e.g. "ChangeResourceRecordSetsCommand". */
  readonly command: string;
  readonly error: () => Error;
  /** How many calls it fails; forever when absent. */
  times?: number;
  readonly when?: (input: any) => boolean;
}

export interface World {
  /** What DescribeInstances knows. */
  readonly instances: Instance[];
  /** The snapshot table, by InstanceId. */
  readonly table: Map<string, Record<string, AttributeValue>>;
  /** The hosted zones' record sets, by zone id. */
  readonly zones: Map<string, ResourceRecordSet[]>;
  readonly alarms: MetricAlarm[];
  /** Events the bus accepted. */
  readonly events: PutEventsRequestEntry[];
  /** Largest pages the fakes return (the request's own limit applies when smaller). */
  readonly pageSize: { ec2: number; scan: number; route53: number; alarms: number };
  readonly faults: Fault[];
  /** A hook's own error message for this payload (a FunctionError), or undefined when it succeeds. */
  hookError?: (hook: string, payload: any) => string | undefined;
  /** A per-entry error of PutEvents for this detail, or undefined when the bus accepts it. */
  refuseEvent?: (detail: any) => { ErrorCode: string; ErrorMessage: string } | undefined;
  /** Runs after each ListResourceRecordSets (to change a zone between a listing and a change). */
  afterList?: (input: ListResourceRecordSetsCommandInput) => void;
}

export const world: World = {
  instances: [],
  table: new Map(),
  zones: new Map(),
  alarms: [],
  events: [],
  pageSize: { ec2: 1000, scan: 1000, route53: 300, alarms: 100 },
  faults: [],
};

function resetWorld(): void {
  world.instances.length = 0;
  world.table.clear();
  world.zones.clear();
  world.alarms.length = 0;
  world.events.length = 0;
  world.faults.length = 0;
  Object.assign(world.pageSize, { ec2: 1000, scan: 1000, route53: 300, alarms: 100 });
  world.hookError = undefined;
  world.refuseEvent = undefined;
  world.afterList = undefined;
}

/** Puts instances (DescribeInstances form), snapshot items, record sets and alarms into the world. */
export function given(parts: {
  instances?: Instance[];
  items?: Array<Record<string, AttributeValue>>;
  zones?: Record<string, ResourceRecordSet[]>;
  alarms?: MetricAlarm[];
}): void {
  world.instances.push(...parts.instances ?? []);
  for (const item of parts.items ?? []) world.table.set(item.InstanceId.S!, item);
  for (const [zone, sets] of Object.entries(parts.zones ?? {})) world.zones.set(zone, [...world.zones.get(zone) ?? [], ...sets]);
  world.alarms.push(...parts.alarms ?? []);
}

/** Makes calls of `command` fail with `error` (`times` times, or always; only those `when` selects). */
export function inject(command: string, error: () => Error, options: { times?: number; when?: (input: any) => boolean } = {}): void {
  world.faults.push({ command, error, times: options.times, when: options.when });
}

/**
 * A copy of each request as it was sent, by command name (SDK paginators reuse one input object
 * and set its token for the next page, so the mock's own call records show the last token only).
 */
const requests = new Map<string, unknown[]>();
export const requestsOf = <T = any>(command: string): T[] => [...requests.get(command) ?? []] as T[];

function faultFor(command: string, input: unknown): void {
  requests.set(command, [...requests.get(command) ?? [], structuredClone(input)]);
  for (const fault of world.faults) {
    if (fault.command !== command || (fault.times !== undefined && fault.times <= 0) || (fault.when && !fault.when(input))) continue;
    if (fault.times !== undefined) fault.times--;
    throw fault.error();
  }
}

export const r53Error = (name: string, text = `${name} (test)`) =>
  new Route53ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: text });
export const ddbError = (name: string, status = 400) =>
  new dynamodbSdk.DynamoDBServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} (test)` });

// EC2 ---------------------------------------------------------------------------------------

const ec2Filters: Record<string, (i: Instance) => string[]> = {
  'instance-id': (i) => [i.InstanceId ?? ''],
  'instance-state-name': (i) => [i.State?.Name ?? ''],
  'private-ip-address': (i) => (i.PrivateIpAddress ? [i.PrivateIpAddress] : []),
  'ip-address': (i) => (i.PublicIpAddress ? [i.PublicIpAddress] : []),
  'network-interface.addresses.private-ip-address': (i) => (i.NetworkInterfaces ?? []).flatMap((n) => (n.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress ?? '')),
  'network-interface.ipv6-addresses.ipv6-address': (i) => (i.NetworkInterfaces ?? []).flatMap((n) => (n.Ipv6Addresses ?? []).map((a) => a.Ipv6Address ?? '')),
};

function describeInstances(input: DescribeInstancesCommandInput) {
  faultFor('DescribeInstancesCommand', input);
  for (const f of input.Filters ?? []) {
    if (!ec2Filters[f.Name ?? '']) throw new ec2Sdk.EC2ServiceException({ name: 'InvalidParameterValue', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `The filter '${f.Name}' is invalid` });
    if ((f.Values ?? []).length > 200) throw new ec2Sdk.EC2ServiceException({ name: 'FilterLimitExceeded', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'more than 200 values' });
  }
  const matching = world.instances.filter((i) => (input.InstanceIds === undefined || input.InstanceIds.includes(i.InstanceId!))
    && (input.Filters ?? []).every((f) => ec2Filters[f.Name!](i).some((v) => f.Values!.includes(v))));
  const size = Math.min(input.MaxResults ?? 1000, world.pageSize.ec2);
  const from = input.NextToken ? Number(/^ec2-(\d+)$/.exec(input.NextToken)![1]) : 0;
  const page = matching.slice(from, from + size);
  return {
    Reservations: page.map((i, n) => ({ ReservationId: `r-0${hex(from + n, 16)}`, OwnerId: ACCOUNT, Groups: [], Instances: [structuredClone(i)] })),
    ...(from + size < matching.length ? { NextToken: `ec2-${from + size}` } : {}),
  };
}

// DynamoDB ------------------------------------------------------------------------------------

type Item = Record<string, AttributeValue>;

/** A condition expression of the forms the handler writes: attribute_(not_)exists, = and <>, AND, OR, parentheses. */
function evaluate(expression: string, item: Item | undefined, names: Record<string, string>, values: Item): boolean {
  const tokens = expression.match(/\(|\)|attribute_not_exists|attribute_exists|AND|OR|<>|=|[#:][A-Za-z0-9_]+|,/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const token = tokens[at++];
    if (expected !== undefined && token !== expected) throw new Error(`fake DynamoDB: expected ${expected} at ${at} in ${expression}`);
    return token;
  };
  const attribute = (token: string) => item?.[names[token] ?? token];
  const operand = (token: string) => (token.startsWith(':') ? values[token] : attribute(token));
  const primary = (): boolean => {
    const token = take();
    if (token === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (token === 'attribute_not_exists' || token === 'attribute_exists') {
      take('(');
      const exists = attribute(take()) !== undefined;
      take(')');
      return token === 'attribute_exists' ? exists : !exists;
    }
    const op = take();
    const right = take();
    const same = JSON.stringify(operand(token)) === JSON.stringify(operand(right));
    if (op === '=') return operand(token) !== undefined && same;
    if (op === '<>') return operand(token) !== undefined && !same;
    throw new Error(`fake DynamoDB: operator ${op} in ${expression}`);
  };
  const and = (): boolean => {
    let value = primary();
    while (peek() === 'AND') {
      take();
      value = primary() && value;
    }
    return value;
  };
  const or = (): boolean => {
    let value = and();
    while (peek() === 'OR') {
      take();
      value = and() || value;
    }
    return value;
  };
  const result = or();
  if (at !== tokens.length) throw new Error(`fake DynamoDB: could not read ${expression}`);
  return result;
}

/** SET a = :v, b = if_not_exists(b, :w) and ADD s :set, as UpdateItem applies them. */
function applyUpdate(input: UpdateItemCommandInput, existing: Item | undefined): Item {
  const names = input.ExpressionAttributeNames ?? {};
  const values = input.ExpressionAttributeValues ?? {};
  const item: Item = { ...existing ?? input.Key! };
  const name = (token: string) => names[token] ?? token;
  const clauses = input.UpdateExpression!.split(/\b(?=SET\b|ADD\b)/).map((c) => c.trim()).filter(Boolean);
  for (const clause of clauses) {
    if (clause.startsWith('SET ')) {
      for (const assignment of clause.slice(4).split(/,(?![^(]*\))/)) {
        const [target, source] = assignment.split('=').map((s) => s.trim());
        const ifNotExists = /^if_not_exists\((#\w+),\s*(:\w+)\)$/.exec(source);
        if (ifNotExists) {
          if (item[name(ifNotExists[1])] === undefined) item[name(target)] = values[ifNotExists[2]];
        } else {
          item[name(target)] = values[source];
        }
      }
    } else if (clause.startsWith('ADD ')) {
      const [target, source] = clause.slice(4).trim().split(/\s+/);
      const current = item[name(target)]?.SS ?? [];
      item[name(target)] = { SS: [...new Set([...current, ...values[source].SS!])] };
    } else {
      throw new Error(`fake DynamoDB: clause ${clause}`);
    }
  }
  return item;
}

function checkTable(name: string | undefined): void {
  if (name !== TABLE) throw ddbError('ResourceNotFoundException');
}

// Route 53 ------------------------------------------------------------------------------------

/** Route 53's listing order: by name with the labels reversed, then type, then set identifier. */
const orderKey = (rs: { Name?: string; Type?: string; SetIdentifier?: string }) =>
  [rs.Name!.toLowerCase().replace(/\.$/, '').split('.').reverse().join('.'), rs.Type ?? '', rs.SetIdentifier ?? ''];
const compareKeys = (a: string[], b: string[]) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
};
const sameSet = (a: ResourceRecordSet, b: ResourceRecordSet) => compareKeys(orderKey(a), orderKey(b)) === 0;
const content = (rs: ResourceRecordSet) => JSON.stringify({
  ttl: rs.TTL,
  values: (rs.ResourceRecords ?? []).map((r) => r.Value).sort(),
  weight: rs.Weight,
  alias: rs.AliasTarget,
  region: rs.Region,
  failover: rs.Failover,
});
const invalidBatch = (text: string) => new InvalidChangeBatch({ $metadata: { httpStatusCode: 400 }, message: text, messages: [text] });
let changeCounter = 0;

/** When each Route 53 call arrived (Date.now()), listings and changes alike. */
export const route53Times: number[] = [];

function listRecordSets(input: ListResourceRecordSetsCommandInput) {
  route53Times.push(Date.now());
  faultFor('ListResourceRecordSetsCommand', input);
  const sets = world.zones.get(input.HostedZoneId!);
  if (!sets) throw r53Error('NoSuchHostedZone', `No hosted zone found with ID: ${input.HostedZoneId}`);
  const sorted = [...sets].sort((a, b) => compareKeys(orderKey(a), orderKey(b)));
  const start = input.StartRecordName === undefined ? undefined
    : orderKey({ Name: input.StartRecordName, Type: input.StartRecordType, SetIdentifier: input.StartRecordIdentifier });
  const from = start === undefined ? 0 : sorted.findIndex((rs) => compareKeys(orderKey(rs), start) >= 0);
  const size = Math.min(input.MaxItems ?? 300, world.pageSize.route53);
  const page = from < 0 ? [] : sorted.slice(from, from + size);
  const next = from < 0 ? undefined : sorted[from + size];
  const out = {
    ResourceRecordSets: structuredClone(page),
    IsTruncated: next !== undefined,
    MaxItems: input.MaxItems ?? 300,
    ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type } : {}),
    ...(next?.SetIdentifier ? { NextRecordIdentifier: next.SetIdentifier } : {}),
  };
  world.afterList?.(input);
  return out;
}

/** An atomic change batch: every DELETE must match the set exactly, every CREATE must be new, or nothing changes. */
function changeRecordSets(input: ChangeResourceRecordSetsCommandInput) {
  route53Times.push(Date.now());
  faultFor('ChangeResourceRecordSetsCommand', input);
  const current = world.zones.get(input.HostedZoneId!);
  if (!current) throw r53Error('NoSuchHostedZone', `No hosted zone found with ID: ${input.HostedZoneId}`);
  const next = [...current];
  const errors: string[] = [];
  for (const change of input.ChangeBatch?.Changes ?? []) {
    const rs = change.ResourceRecordSet!;
    const at = next.findIndex((s) => sameSet(s, rs));
    const what = `[name='${fqdn(rs.Name!.toLowerCase())}', type='${rs.Type}'${rs.SetIdentifier ? `, set-identifier='${rs.SetIdentifier}'` : ''}]`;
    if (change.Action === 'DELETE') {
      if (at < 0) errors.push(`Tried to delete resource record set ${what} but it was not found`);
      else if (content(next[at]) !== content(rs)) errors.push(`Tried to delete resource record set ${what} but the values provided do not match the current values`);
      else next.splice(at, 1);
    } else if (change.Action === 'CREATE') {
      if (at >= 0) errors.push(`Tried to create resource record set ${what} but it already exists`);
      else next.push(structuredClone(rs));
    } else {
      throw new Error(`fake Route 53: the handler never UPSERTs (${change.Action})`);
    }
  }
  if (errors.length > 0) throw invalidBatch(`[${errors.join(', ')}]`);
  world.zones.set(input.HostedZoneId!, next);
  return { ChangeInfo: { Id: `/change/C${hex(++changeCounter, 12).toUpperCase()}`, Status: 'PENDING' as const, SubmittedAt: new Date(), Comment: input.ChangeBatch?.Comment } };
}

// CloudWatch ----------------------------------------------------------------------------------

function describeAlarms(input: DescribeAlarmsCommandInput) {
  faultFor('DescribeAlarmsCommand', input);
  const alarms = input.AlarmTypes && !input.AlarmTypes.includes('MetricAlarm') ? [] : world.alarms;
  const size = Math.min(input.MaxRecords ?? 50, world.pageSize.alarms);
  const from = input.NextToken ? Number(/^cw-(\d+)$/.exec(input.NextToken)![1]) : 0;
  return {
    MetricAlarms: structuredClone(alarms.slice(from, from + size)),
    CompositeAlarms: [],
    ...(from + size < alarms.length ? { NextToken: `cw-${from + size}` } : {}),
  };
}

/** DeleteAlarms deletes the names it knows, and reports ResourceNotFound if one of them is unknown. */
function deleteAlarmsCall(input: DeleteAlarmsCommandInput) {
  faultFor('DeleteAlarmsCommand', input);
  const names = input.AlarmNames ?? [];
  if (names.length > 100) throw new CloudWatchServiceException({ name: 'InvalidParameterValue', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'at most 100 names' });
  const missing = names.filter((n) => !world.alarms.some((a) => a.AlarmName === n));
  for (let i = world.alarms.length - 1; i >= 0; i--) if (names.includes(world.alarms[i].AlarmName!)) world.alarms.splice(i, 1);
  if (missing.length > 0) {
    throw new CloudWatchServiceException({ name: 'ResourceNotFound', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: `${missing.join(', ')} not found` });
  }
  return {};
}

// Lambda and EventBridge ----------------------------------------------------------------------

/** What a hook received: the payload Invoke carried, parsed. */
export function hookPayloads(hook?: string): any[] {
  return lambdaMock.commandCalls(InvokeCommand)
    .filter((c) => hook === undefined || c.args[0].input.FunctionName === hook)
    .map((c) => JSON.parse(Buffer.from(c.args[0].input.Payload as Uint8Array).toString('utf8')));
}

function invoke(input: InvokeCommandInput) {
  faultFor('InvokeCommand', input);
  const payload = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'));
  const error = world.hookError?.(input.FunctionName!, payload);
  if (error !== undefined) {
    const body = { errorType: 'Error', errorMessage: error, trace: [`Error: ${error}`, '    at Runtime.handler (file:///var/task/index.mjs:12:11)'] };
    return { StatusCode: 200, FunctionError: 'Unhandled', ExecutedVersion: '$LATEST', Payload: Buffer.from(JSON.stringify(body)) };
  }
  return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: Buffer.from('{"ok":true}') };
}

function putEvents(input: PutEventsCommandInput) {
  faultFor('PutEventsCommand', input);
  const entries: PutEventsResultEntry[] = (input.Entries ?? []).map((entry) => {
    const refusal = world.refuseEvent?.(JSON.parse(entry.Detail!));
    if (refusal) return refusal;
    world.events.push(entry);
    return { EventId: uuid() };
  });
  return { FailedEntryCount: entries.filter((e) => e.ErrorCode).length, Entries: entries };
}

// ---------------------------------------------------------------------------------------------
// What was sent

export const inputsOf = <T>(mock: { commandCalls: (c: any) => Array<{ args: [{ input: T }] }> }, command: unknown): T[] =>
  mock.commandCalls(command).map((c) => c.args[0].input);
export const changeCalls = () => requestsOf<ChangeResourceRecordSetsCommandInput>('ChangeResourceRecordSetsCommand');
export const listCalls = () => requestsOf<ListResourceRecordSetsCommandInput>('ListResourceRecordSetsCommand');
export const describeCalls = () => requestsOf<DescribeInstancesCommandInput>('DescribeInstancesCommand');
export const scanCalls = () => requestsOf<ScanCommandInput>('ScanCommand');
export const describeAlarmCalls = () => requestsOf<DescribeAlarmsCommandInput>('DescribeAlarmsCommand');
export const putItemCalls = () => inputsOf<PutItemCommandInput>(ddbMock, PutItemCommand);
export const updateCalls = () => inputsOf<UpdateItemCommandInput>(ddbMock, UpdateItemCommand);
export const putEventsCalls = () => inputsOf<PutEventsCommandInput>(ebMock, PutEventsCommand);
export const deleteAlarmCalls = () => inputsOf<DeleteAlarmsCommandInput>(cwMock, DeleteAlarmsCommand);

/** The table's item of an instance, unmarshalled (HooksDone as a sorted list). */
export function itemOf(instanceId: string): Record<string, any> | undefined {
  const raw = world.table.get(instanceId);
  if (!raw) return undefined;
  const plain = unmarshall(raw);
  return { ...plain, ...(plain.HooksDone ? { HooksDone: [...plain.HooksDone as Set<string>].sort() } : {}) };
}

/** The record sets a zone holds now, as "name type [setId] values" strings, sorted. */
export function zoneText(zoneId: string): string[] {
  return (world.zones.get(zoneId) ?? []).map((rs) => `${rs.Name} ${rs.Type}${rs.SetIdentifier ? ` [${rs.SetIdentifier}]` : ''} ${(rs.ResourceRecords ?? []).map((r) => r.Value).join(',')}`).sort();
}

/** The calls that change something. */
export const STATE_CHANGING = new Set([
  'ChangeResourceRecordSetsCommand', 'DeleteAlarmsCommand', 'InvokeCommand', 'PutEventsCommand', 'PutItemCommand', 'UpdateItemCommand', 'PublishCommand',
]);

/** The names of the commands sent to every mocked client. */
export function sentCommands(): string[] {
  return MOCKS.flatMap((mock) => mock.calls().map((c) => (c.args[0] as object).constructor.name));
}

/** No call that changes anything, except those named in `allowed`. */
export function expectNoStateChanges(allowed: string[] = []): void {
  expect(sentCommands().filter((name) => STATE_CHANGING.has(name) && !allowed.includes(name))).toEqual([]);
}

export function expectNoCallsAtAll(): void {
  expect(sentCommands()).toEqual([]);
}

export const publishCalls = () => inputsOf<PublishCommandInput>(snsMock, PublishCommand);

/** The one notification sent. */
export function published(): PublishCommandInput {
  const calls = publishCalls();
  expect(calls).toHaveLength(1);
  return calls[0];
}

/** The notification's resource rows, as lines. */
export const rowsOf = (notification: PublishCommandInput) => notification.Message!.split('\n').filter((l) => l.startsWith('- '));

/**
 * Resets the world and the mocks before each test (the fakes serve the world), captures the
 * console, and restores the environment and the clock after.
 */
export function installHandlerHarness(): void {
  captureConsole();
  beforeEach(() => {
    resetWorld();
    sleeps.length = 0;
    requests.clear();
    route53Times.length = 0;
    timing.real = false;
    for (const mock of MOCKS) mock.reset();
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input) => describeInstances(input));
    ddbMock.on(BatchGetItemCommand).callsFake(async (input: BatchGetItemCommandInput) => {
      faultFor('BatchGetItemCommand', input);
      const [[name, request]] = Object.entries(input.RequestItems!);
      checkTable(name);
      if (request.Keys!.length > 100) throw ddbError('ValidationException');
      const items = request.Keys!.map((k) => world.table.get(k.InstanceId.S!)).filter((i): i is Item => i !== undefined);
      return { Responses: { [name]: structuredClone(items) }, UnprocessedKeys: {} };
    });
    ddbMock.on(PutItemCommand).callsFake(async (input: PutItemCommandInput) => {
      faultFor('PutItemCommand', input);
      checkTable(input.TableName);
      const id = input.Item!.InstanceId.S!;
      if (input.ConditionExpression
        && !evaluate(input.ConditionExpression, world.table.get(id), input.ExpressionAttributeNames ?? {}, input.ExpressionAttributeValues ?? {})) {
        throw new ConditionalCheckFailedException({ $metadata: { httpStatusCode: 400 }, message: 'The conditional request failed' });
      }
      world.table.set(id, structuredClone(input.Item!));
      return {};
    });
    ddbMock.on(UpdateItemCommand).callsFake(async (input: UpdateItemCommandInput) => {
      faultFor('UpdateItemCommand', input);
      checkTable(input.TableName);
      const id = input.Key!.InstanceId.S!;
      world.table.set(id, applyUpdate(input, world.table.get(id)));
      return {};
    });
    ddbMock.on(ScanCommand).callsFake(async (input: ScanCommandInput) => {
      faultFor('ScanCommand', input);
      checkTable(input.TableName);
      const items = [...world.table.values()].sort((a, b) => a.InstanceId.S!.localeCompare(b.InstanceId.S!));
      const from = input.ExclusiveStartKey ? items.findIndex((i) => i.InstanceId.S! > input.ExclusiveStartKey!.InstanceId.S!) : 0;
      const size = Math.min(input.Limit ?? 1000, world.pageSize.scan);
      const examined = from < 0 ? [] : items.slice(from, from + size);
      const matched = input.FilterExpression
        ? examined.filter((i) => evaluate(input.FilterExpression!, i, input.ExpressionAttributeNames ?? {}, input.ExpressionAttributeValues ?? {}))
        : examined;
      const more = from >= 0 && from + size < items.length;
      return {
        Items: structuredClone(matched),
        Count: matched.length,
        ScannedCount: examined.length,
        ...(more ? { LastEvaluatedKey: { InstanceId: examined[examined.length - 1].InstanceId } } : {}),
      };
    });
    r53Mock.on(ListResourceRecordSetsCommand).callsFake(async (input) => listRecordSets(input));
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input) => changeRecordSets(input));
    cwMock.on(DescribeAlarmsCommand).callsFake(async (input) => describeAlarms(input));
    cwMock.on(DeleteAlarmsCommand).callsFake(async (input) => deleteAlarmsCall(input));
    lambdaMock.on(InvokeCommand).callsFake(async (input) => invoke(input));
    ebMock.on(PutEventsCommand).callsFake(async (input) => putEvents(input));
    snsMock.on(PublishCommand).callsFake(async (input: PublishCommandInput) => {
      faultFor('PublishCommand', input);
      return { MessageId: uuid() };
    });
  });

  afterEach(() => {
    restoreEnv();
    jest.useRealTimers();
  });
}
