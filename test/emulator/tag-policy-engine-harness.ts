/*
 * What the TagPolicyEngine emulator tests share: the construct synthesized and its function's
 * environment, the custom resource event that writes the props rules, the rule table in moto, a
 * fleet spread over two VPCs, CloudTrail RunInstances records (EventBridge events for creator
 * capture, LookupEvents events for the launcher's LookupEvents stub), and readers for the
 * notification, whose rows here can be rules and CloudTrail as well as instances, several per instance.
 */
import { randomUUID } from 'crypto';
import {
  AttributeValue, CreateTableCommand, DynamoDBClient, PutItemCommand, ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeVolumesCommand,
  EC2Client, RunInstancesCommand, StopInstancesCommand, Tag, _InstanceType,
} from '@aws-sdk/client-ec2';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EmulatorClients, emulatorClients, Notification } from './fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from './moto';
import type { Row } from './notification';
import { BundleRun, DAY, runBundle, shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { TagPolicyEngine, TagPolicyEngineProps } from '../../src';

export const BUNDLE = shippedBundle('tag-policy-engine');
export const PROTECT = 'fleet-janitor:protect';
export const MARK = 'fleet-janitor:violation';
export const STACK_NAME = 'TagPolicyEngineEmulator';
export const CONSTRUCT_ID = 'Tags';
export const FUNCTION_NAME = 'FleetJanitorTagPolicyEngine';
/** Never let a hung bundle outlive the jest timeout. */
const BUNDLE_TIMEOUT_CAP_SECONDS = 90;
const FIXTURE_LAUNCH_TIME = 'moto-fixture:launch-time';

export interface EngineClients extends EmulatorClients {
  readonly ddb: DynamoDBClient;
}

export function engineClients(endpoint: string): EngineClients {
  return {
    ...emulatorClients(endpoint),
    ddb: new DynamoDBClient({
      endpoint,
      region: EMULATOR_REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' },
    }),
  };
}

export async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`moto reset failed: ${response.status}`);
}

// ---- the construct -------------------------------------------------------------------------------

export interface Synthesized {
  readonly template: any;
  readonly env: Record<string, string>;
  readonly timeoutSeconds: number;
  /** The Custom::FleetJanitorTagRules resource: its logical id and resolved properties. */
  readonly rules?: { readonly logicalId: string; readonly properties: Record<string, string> };
}

/**
 * Synthesizes a TagPolicyEngine (props built inside the stack, e.g. to import a VPC) and reads the
 * handler's environment, with the topic and (construct-made) table resolved to their moto names.
 */
export function synthesizeEngine(props: (stack: Stack) => TagPolicyEngineProps, refs: { topicArn: string; tableName: string }): Synthesized {
  const app = new App();
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new TagPolicyEngine(stack, CONSTRUCT_ID, props(stack));
  const template = Template.fromStack(stack).toJSON();
  const resources: Record<string, any> = template.Resources;
  // The handler is the function whose environment names the table (the provider framework's has its own).
  const handlers = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.TABLE_NAME);
  if (handlers.length !== 1) throw new Error(`expected one handler function, found ${handlers.map(([id]) => id).join(', ')}`);
  const [logicalId, fn] = handlers[0];
  const resolveRefs = { 'AWS::SNS::Topic': refs.topicArn, 'AWS::DynamoDB::Table': refs.tableName, 'AWS::StackName': STACK_NAME };
  const env = functionEnvironmentFromTemplate(template, { logicalIdPrefix: logicalId, resolveRefs });
  const rulesEntry = Object.entries(resources).find(([, r]) => r.Type === 'Custom::FleetJanitorTagRules');
  const rules = rulesEntry ? {
    logicalId: rulesEntry[0],
    properties: Object.fromEntries(Object.entries<unknown>(rulesEntry[1].Properties)
      .filter(([k]) => k !== 'ServiceToken')
      .map(([k, v]) => [k, resolveValue(v, resources, resolveRefs)])),
  } : undefined;
  return { template, env, timeoutSeconds: Number(fn.Properties.Timeout ?? 60), rules };
}

function resolveValue(value: unknown, resources: Record<string, any>, refs: Record<string, string>): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'Ref' in value) {
    const target = (value as { Ref: string }).Ref;
    const resolved = refs[target] ?? refs[resources[target]?.Type];
    if (resolved === undefined) throw new Error(`no value for Ref ${target}`);
    return resolved;
  }
  if (value && typeof value === 'object' && 'Fn::Join' in value) {
    const [separator, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    return parts.map((p) => resolveValue(p, resources, refs)).join(separator);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/**
 * The event the CDK provider framework passes to the handler for the rules resource (CloudFormation's
 * custom resource request, as documented), with the synthesized resource's properties.
 */
export function rulesEvent(
  synth: Synthesized,
  requestType: 'Create' | 'Update' | 'Delete',
  extra: { oldProperties?: Record<string, string>; physicalResourceId?: string } = {},
): Record<string, unknown> {
  if (!synth.rules) throw new Error('the stack has no rules resource');
  const serviceToken = `arn:aws:lambda:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:function:${STACK_NAME}-TagsRulesProviderframeworkonEvent`;
  return {
    RequestType: requestType,
    ServiceToken: serviceToken,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation%3Aus-east-1'
      + `%3A${EMULATOR_ACCOUNT}%3Astack/${STACK_NAME}/${randomUUID()}?X-Amz-Signature=example`,
    StackId: `arn:aws:cloudformation:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:stack/${STACK_NAME}/${randomUUID()}`,
    RequestId: randomUUID(),
    LogicalResourceId: synth.rules.logicalId,
    ResourceType: 'Custom::FleetJanitorTagRules',
    ResourceProperties: { ServiceToken: serviceToken, ...synth.rules.properties },
    ...(extra.oldProperties ? { OldResourceProperties: { ServiceToken: serviceToken, ...extra.oldProperties } } : {}),
    ...(extra.physicalResourceId ? { PhysicalResourceId: extra.physicalResourceId } : {}),
  };
}

export async function runEngine(synth: Synthesized, endpoint: string, event: unknown): Promise<BundleRun> {
  return runBundle({
    bundlePath: BUNDLE,
    env: synth.env,
    event,
    endpoint,
    functionName: FUNCTION_NAME,
    timeoutSeconds: Math.min(synth.timeoutSeconds, BUNDLE_TIMEOUT_CAP_SECONDS),
  });
}

/** Runs the bundle and fails with its error and stderr if the handler threw. */
export async function runEngineOk(synth: Synthesized, endpoint: string, event: unknown): Promise<BundleRun> {
  const result = await runEngine(synth, endpoint, event);
  if (result.error) throw new Error(`the handler failed: ${result.error.message}\n${result.error.stack ?? ''}\nstderr:\n${result.stderr.slice(-4000)}`);
  return result;
}

export const SWEEP_EVENT = { source: 'cdk-fleet-janitor.schedule' };

// ---- the rule table ---------------------------------------------------------------------------------

/** A table in the seed's format: partition key RuleId (a string), on demand. */
export async function createRuleTable(ddb: DynamoDBClient, tableName: string): Promise<void> {
  await ddb.send(new CreateTableCommand({
    TableName: tableName,
    KeySchema: [{ AttributeName: 'RuleId', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'RuleId', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
}

/** Items written by hand (the DynamoDB console / CLI), as plain values: strings, lists, numbers. */
export async function putItems(ddb: DynamoDBClient, tableName: string, items: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  for (const item of items) await ddb.send(new PutItemCommand({ TableName: tableName, Item: marshall(item) }));
}

/** Every item of the table by RuleId, unmarshalled (Scan is paginated even for small tables). */
export async function tableItems(ddb: DynamoDBClient, tableName: string): Promise<Map<string, Record<string, any>>> {
  const items = new Map<string, Record<string, any>>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await ddb.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    for (const raw of out.Items ?? []) {
      const item = unmarshall(raw);
      items.set(String(item.RuleId), item);
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

// ---- VPCs and instances -------------------------------------------------------------------------------

export interface Vpcs {
  /** The VPC the construct is configured with. */
  readonly a: { vpcId: string; subnetId: string };
  /** Another VPC: out of scope. */
  readonly b: { vpcId: string; subnetId: string };
}

export async function createVpcs(ec2: EC2Client): Promise<Vpcs> {
  const make = async (cidr: string, subnetCidr: string) => {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: subnetCidr, AvailabilityZone: `${EMULATOR_REGION}a` }));
    return { vpcId: vpc.Vpc!.VpcId!, subnetId: subnet.Subnet!.SubnetId! };
  };
  return { a: await make('10.10.0.0/16', '10.10.1.0/24'), b: await make('10.20.0.0/16', '10.20.1.0/24') };
}

export interface InstanceSpec {
  /** Unique; becomes the Name tag, so that two builds of one fleet can be compared. */
  readonly name: string;
  readonly vpc: 'a' | 'b';
  readonly launchedAgo: number;
  /** @default 'running' */
  readonly state?: 'running' | 'stopped';
  /** Tags at launch (Name added). */
  readonly tags: Record<string, string>;
}

let cachedImageId: string | undefined;

/** Launches each spec with its own RunInstances (in its VPC's subnet, its launch time set by the launcher's fixture tag). */
export async function launchFleet(ec2: EC2Client, vpcs: Vpcs, specs: readonly InstanceSpec[], now: number): Promise<Map<string, string>> {
  cachedImageId ??= (await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] })))
    .Images![0].ImageId!;
  const ids = new Map<string, string>();
  for (const spec of specs) {
    const tags: Tag[] = [
      { Key: 'Name', Value: spec.name },
      ...Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
      { Key: FIXTURE_LAUNCH_TIME, Value: new Date(now - spec.launchedAgo).toISOString() },
    ];
    const out = await ec2.send(new RunInstancesCommand({
      ImageId: cachedImageId,
      InstanceType: 't3.micro' as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      SubnetId: vpcs[spec.vpc].subnetId,
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
    }));
    ids.set(spec.name, out.Instances![0].InstanceId!);
  }
  const stopped = specs.filter((s) => s.state === 'stopped').map((s) => ids.get(s.name)!);
  if (stopped.length) await ec2.send(new StopInstancesCommand({ InstanceIds: stopped }));
  return ids;
}

export interface InstanceState {
  readonly id: string;
  readonly state: string;
  readonly vpcId?: string;
  readonly tags: Record<string, string>;
  readonly volumeIds: string[];
  readonly eniIds: string[];
  readonly launchTime?: Date;
  readonly primaryAttachTime?: Date;
}

/** Every instance by Name tag. */
export async function instancesByName(ec2: EC2Client): Promise<Map<string, InstanceState>> {
  const out = new Map<string, InstanceState>();
  let token: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstancesCommand({ NextToken: token, MaxResults: 1000 }));
    for (const r of page.Reservations ?? []) {
      for (const i of r.Instances ?? []) {
        const tags = tagMap(i.Tags);
        if (out.has(tags.Name)) throw new Error(`two instances are named ${tags.Name}`);
        out.set(tags.Name, {
          id: i.InstanceId!,
          state: i.State!.Name!,
          vpcId: i.VpcId,
          tags,
          volumeIds: (i.BlockDeviceMappings ?? []).map((b) => b.Ebs!.VolumeId!),
          eniIds: (i.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!),
          launchTime: i.LaunchTime,
          primaryAttachTime: (i.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0)?.Attachment?.AttachTime,
        });
      }
    }
    token = page.NextToken;
  } while (token);
  return out;
}

export async function volumeTags(ec2: EC2Client, volumeIds: string[]): Promise<Map<string, Record<string, string>>> {
  const out = await ec2.send(new DescribeVolumesCommand({ VolumeIds: volumeIds }));
  return new Map((out.Volumes ?? []).map((v) => [v.VolumeId!, tagMap(v.Tags)]));
}

export async function eniTags(ec2: EC2Client, eniIds: string[]): Promise<Map<string, Record<string, string>>> {
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: eniIds }));
  return new Map((out.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, tagMap(n.TagSet)]));
}

export function tagMap(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

/** The ISO date (UTC) of a time `ago` ms before `now`: what the launch-date default writes. */
export function isoDate(now: number, ago: number): string {
  return new Date(now - ago).toISOString().slice(0, 10);
}

/** A mark as the engine writes it: `<ISO time, no milliseconds> <keys>`. */
export function markAt(time: number, keys: string): string {
  return `${new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z')} ${keys}`;
}

// ---- CloudTrail -------------------------------------------------------------------------------------

export interface Identity {
  /** The CloudTrail userIdentity block. */
  readonly userIdentity: Record<string, unknown>;
  /** The LookupEvents Username. */
  readonly username: string;
  readonly sourceIPAddress: string;
  readonly userAgent: string;
}

/** An IAM user calling RunInstances with access keys (shape: CloudTrail userIdentity element, IAMUser). */
export function iamUser(userName: string): Identity {
  return {
    userIdentity: {
      type: 'IAMUser',
      principalId: 'AIDAJ45Q7YFFAREXAMPLE',
      arn: `arn:aws:iam::${EMULATOR_ACCOUNT}:user/${userName}`,
      accountId: EMULATOR_ACCOUNT,
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      userName,
    },
    username: userName,
    sourceIPAddress: '192.0.2.10',
    userAgent: 'aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023 command/ec2.run-instances',
  };
}

/** A person signed in through IAM Identity Center: an assumed-role session of the permission set's AWSReservedSSO_ role. */
export function ssoSession(permissionSet: string, suffix: string, email: string): Identity {
  const role = `AWSReservedSSO_${permissionSet}_${suffix}`;
  return {
    userIdentity: {
      type: 'AssumedRole',
      principalId: `AROAEXAMPLEID12345678:${email}`,
      arn: `arn:aws:sts::${EMULATOR_ACCOUNT}:assumed-role/${role}/${email}`,
      accountId: EMULATOR_ACCOUNT,
      accessKeyId: 'ASIAEXAMPLEKEY123456',
      sessionContext: {
        sessionIssuer: {
          type: 'Role',
          principalId: 'AROAEXAMPLEID12345678',
          arn: `arn:aws:iam::${EMULATOR_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/${role}`,
          accountId: EMULATOR_ACCOUNT,
          userName: role,
        },
        webIdFederationData: {},
        attributes: { creationDate: '2026-11-30T08:12:45Z', mfaAuthenticated: 'false' },
      },
    },
    username: email,
    sourceIPAddress: '198.51.100.23',
    userAgent: 'AWS Internal',
  };
}

/** Auto Scaling launching for a group, through its service-linked role. */
export function autoScaling(): Identity {
  return {
    userIdentity: {
      type: 'AssumedRole',
      principalId: 'AROAEXAMPLEAUTOSCALE1:AutoScaling',
      arn: `arn:aws:sts::${EMULATOR_ACCOUNT}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling`,
      accountId: EMULATOR_ACCOUNT,
      sessionContext: {
        sessionIssuer: {
          type: 'Role',
          principalId: 'AROAEXAMPLEAUTOSCALE1',
          arn: `arn:aws:iam::${EMULATOR_ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
          accountId: EMULATOR_ACCOUNT,
          userName: 'AWSServiceRoleForAutoScaling',
        },
        webIdFederationData: {},
        attributes: { creationDate: '2026-12-01T06:00:01Z', mfaAuthenticated: 'false' },
      },
      invokedBy: 'autoscaling.amazonaws.com',
    },
    username: 'AutoScaling',
    sourceIPAddress: 'autoscaling.amazonaws.com',
    userAgent: 'autoscaling.amazonaws.com',
  };
}

export interface LaunchRecordOptions {
  readonly identity: Identity;
  readonly instanceIds: readonly string[];
  readonly eventTime: Date;
  /** Tags in the request's tag specification (and on the launched instances), e.g. the ASG's aws:autoscaling:groupName. */
  readonly tags?: Record<string, string>;
  readonly eventName?: string;
}

/** A CloudTrail record of a successful RunInstances (the `detail` of the EventBridge event, the CloudTrailEvent of LookupEvents). */
export function runInstancesRecord(o: LaunchRecordOptions): Record<string, unknown> {
  const tagItems = Object.entries(o.tags ?? {}).map(([key, value]) => ({ key, value }));
  return {
    eventVersion: '1.09',
    userIdentity: o.identity.userIdentity,
    eventTime: o.eventTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'ec2.amazonaws.com',
    eventName: o.eventName ?? 'RunInstances',
    awsRegion: EMULATOR_REGION,
    sourceIPAddress: o.identity.sourceIPAddress,
    userAgent: o.identity.userAgent,
    requestParameters: {
      instancesSet: { items: [{ imageId: 'ami-0abcdef1234567890', minCount: o.instanceIds.length, maxCount: o.instanceIds.length }] },
      instanceType: 't3.micro',
      blockDeviceMapping: {},
      monitoring: { enabled: false },
      disableApiTermination: false,
      disableApiStop: false,
      clientToken: randomUUID(),
      ...(tagItems.length ? { tagSpecificationSet: { items: [{ resourceType: 'instance', tags: tagItems }] } } : {}),
    },
    responseElements: {
      requestId: randomUUID(),
      reservationId: `r-0${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      ownerId: EMULATOR_ACCOUNT,
      groupSet: {},
      instancesSet: {
        items: o.instanceIds.map((instanceId, i) => ({
          instanceId,
          imageId: 'ami-0abcdef1234567890',
          currentInstanceBootMode: 'bios',
          instanceState: { code: 0, name: 'pending' },
          privateDnsName: `ip-10-10-1-${10 + i}.ec2.internal`,
          amiLaunchIndex: i,
          productCodes: {},
          instanceType: 't3.micro',
          launchTime: o.eventTime.getTime(),
          placement: { availabilityZone: `${EMULATOR_REGION}a`, tenancy: 'default' },
          monitoring: { state: 'disabled' },
          privateIpAddress: `10.10.1.${10 + i}`,
          stateReason: { code: 'pending', message: 'pending' },
          architecture: 'x86_64',
          rootDeviceType: 'ebs',
          rootDeviceName: '/dev/xvda',
          blockDeviceMapping: {},
          virtualizationType: 'hvm',
          hypervisor: 'xen',
          ...(tagItems.length ? { tagSet: { items: tagItems } } : {}),
          groupSet: { items: [{ groupId: 'sg-0123456789abcdef0', groupName: 'default' }] },
          networkInterfaceSet: {},
          ebsOptimized: false,
          enaSupport: true,
        })),
      },
    },
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: EMULATOR_ACCOUNT,
    eventCategory: 'Management',
    tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `ec2.${EMULATOR_REGION}.amazonaws.com` },
  };
}

/** The EventBridge event "AWS API Call via CloudTrail" that carries a record. */
export function eventBridgeEvent(record: Record<string, unknown>): Record<string, unknown> {
  return {
    'version': '0',
    'id': randomUUID(),
    'detail-type': 'AWS API Call via CloudTrail',
    'source': 'aws.ec2',
    'account': EMULATOR_ACCOUNT,
    'time': record.eventTime,
    'region': EMULATOR_REGION,
    'resources': [],
    'detail': record,
  };
}

/** The LookupEvents Event for a record. */
export function lookupEvent(record: Record<string, any>, identity: Identity): Record<string, unknown> {
  const ids: string[] = (record.responseElements?.instancesSet?.items ?? []).map((i: any) => i.instanceId);
  return {
    EventId: record.eventID,
    EventName: record.eventName,
    ReadOnly: 'false',
    AccessKeyId: (identity.userIdentity.accessKeyId as string | undefined) ?? '',
    EventTime: record.eventTime,
    EventSource: 'ec2.amazonaws.com',
    Username: identity.username,
    Resources: ids.map((id) => ({ ResourceType: 'AWS::EC2::Instance', ResourceName: id })),
    CloudTrailEvent: JSON.stringify(record),
  };
}

const CLOUDTRAIL_TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101';

async function cloudtrailFixture(endpoint: string, action: string, body: unknown): Promise<any> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `${CLOUDTRAIL_TARGET}.${action}`,
      // moto reads the service and region from the credential scope; the signature is not checked.
      'authorization': `AWS4-HMAC-SHA256 Credential=testing/20260101/${EMULATOR_REGION}/cloudtrail/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${action} failed: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** Registers events with the launcher's LookupEvents stub (moto_launcher.py, patch 7). */
export async function putLookupEvents(endpoint: string, events: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  await cloudtrailFixture(endpoint, 'MotoFixturePutLookupEvents', { Events: events });
}

export interface LookupCall {
  readonly LookupAttributes: Array<{ AttributeKey: string; AttributeValue: string }>;
  readonly StartTime: number | null;
  readonly EndTime: number | null;
  readonly MaxResults: number | null;
  readonly NextToken: string | null;
  readonly Returned: number;
  readonly Error: string | null;
  /** When the stub answered, epoch seconds. */
  readonly At: number;
}

/** Every LookupEvents request the stub answered (or refused) since the last reset. */
export async function lookupCalls(endpoint: string): Promise<LookupCall[]> {
  return (await cloudtrailFixture(endpoint, 'MotoFixtureLookupEventsCalls', {})).Calls;
}

// ---- the notification ----------------------------------------------------------------------------------

export type { Row };
/** Every resource line of a notification body, in order (see notification.ts). */
export { parseRowList as parseAllRows } from './notification';

/** The rows of each resource id. */
export function rowsById(rows: readonly Row[]): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const row of rows) out.set(row.id, [...(out.get(row.id) ?? []), row]);
  return out;
}

/** Exactly one TagPolicyEngine notification, within SNS's limits. */
export function onlyEngineNotification(notifications: Notification[]): Notification {
  if (notifications.length !== 1) {
    throw new Error(`expected one notification, got ${notifications.length}: ${notifications.map((n) => n.Subject).join(' | ')}`);
  }
  const [n] = notifications;
  if (!n.Subject || n.Subject.length >= 100 || !n.Subject.includes('TagPolicyEngine')) throw new Error(`bad subject ${n.Subject}`);
  if (Buffer.byteLength(n.Message, 'utf8') > 250_000) throw new Error('body over SNS limit');
  return n;
}

export { DAY };
