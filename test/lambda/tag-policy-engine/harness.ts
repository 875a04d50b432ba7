/*
 * The TagPolicyEngine handler under aws-sdk-client-mock: a fresh module per environment, EC2, SNS,
 * DynamoDB and CloudTrail mocked, the console captured. Fixtures for the fleet, the rule table (the
 * seed's item format and the extended one), CloudTrail RunInstances records in the shapes AWS
 * documents, and the custom resource events of the rules.
 */
import * as cloudtrailSdk from '@aws-sdk/client-cloudtrail';
import { CloudTrailClient, LookupEventsCommand, LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import * as dynamodbSdk from '@aws-sdk/client-dynamodb';
import {
  AttributeValue, BatchWriteItemCommand, DeleteItemCommand, DynamoDBClient, PutItemCommand, ScanCommand, ScanCommandInput,
} from '@aws-sdk/client-dynamodb';
import * as ec2Sdk from '@aws-sdk/client-ec2';
import {
  CreateTagsCommand, DeleteTagsCommand, DescribeInstancesCommand, DescribeInstancesCommandInput, EC2Client, Instance,
  StopInstancesCommand, TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import * as snsSdk from '@aws-sdk/client-sns';
import { PublishCommand, PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { TagPolicyEngineConfig } from '../../../lambda/tag-policy-engine/config';
import { captureConsole, loadHandlerModule, restoreEnv } from '../helpers';
export { emfRecords, logLines } from '../helpers';

type HandlerModule = typeof import('../../../lambda/tag-policy-engine/index');
export type Handler = HandlerModule['handler'];

export const ec2Mock = mockClient(EC2Client);
export const snsMock = mockClient(SNSClient);
export const ddbMock = mockClient(DynamoDBClient);
export const ctMock = mockClient(CloudTrailClient);

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:fleet-janitor`;
export const TABLE = 'fleet-janitor-tag-rules';
export const OWNER = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/app/5b1c2d3e-0000-11ef-9f3a-0a1b2c3d4e5f/Tags/Rules`;
export const VIOLATION = 'fleet-janitor:violation';
export const PROTECT = 'fleet-janitor:protect';
export const HOUR = 3_600;
export const DAY = 86_400;
export const IN_SCOPE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export const BASE_ENV: Record<string, string> = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  TOPIC_ARN,
  TABLE_NAME: TABLE,
  UNTAGGED_ACTION: 'NOTIFY',
  GRACE_PERIOD_SECONDS: String(3 * DAY),
  DRY_RUN: 'false',
  MAX_ACTIONS_PER_RUN: '100000',
  BACKFILL_CREATORS: 'true',
  BACKFILL_MAX_LOOKUPS: '200',
  PROPAGATE_TO_VOLUMES: 'false',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_SERVICE_NAME: 'TagPolicyEngine',
  POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitorTest',
};

/** The configuration readConfig makes of BASE_ENV, for the module-level tests. */
export function config(overrides: Partial<TagPolicyEngineConfig> = {}): TagPolicyEngineConfig {
  return {
    topicArn: TOPIC_ARN,
    tableName: TABLE,
    untaggedAction: 'NOTIFY',
    gracePeriodSeconds: 3 * DAY,
    vpcIds: [],
    instanceSelector: {},
    protectionTagKey: PROTECT,
    dryRun: false,
    maxActionsPerRun: 100_000,
    backfillCreators: true,
    backfillMaxLookups: 200,
    propagateToVolumes: false,
    ...overrides,
  };
}

/** A fresh copy of the handler module (config and clients live at module scope) under this environment. */
export function loadHandler(env: Record<string, string | undefined> = {}): Handler {
  return loadHandlerModule<HandlerModule>({
    modulePath: require.resolve('../../../lambda/tag-policy-engine/index'),
    baseEnv: BASE_ENV,
    overrides: env,
    sdkModules: {
      '@aws-sdk/client-ec2': ec2Sdk,
      '@aws-sdk/client-sns': snsSdk,
      '@aws-sdk/client-dynamodb': dynamodbSdk,
      '@aws-sdk/client-cloudtrail': cloudtrailSdk,
    },
  }).handler;
}

let counter = 0;
export const nextId = (prefix = 'i') => `${prefix}-${(++counter).toString(16).padStart(17, '0')}`;
export const ago = (seconds: number, from = Date.now()) => new Date(from - seconds * 1000);
/** The mark the engine writes: `<ISO time without ms> <tag keys>`. */
export const markOf = (at: Date, keys = 'Environment') => `${at.toISOString().replace(/\.\d{3}Z$/, 'Z')} ${keys}`;

export interface InstanceProps {
  readonly id?: string;
  /** Seconds since launch. */
  readonly age?: number;
  readonly state?: string;
  readonly tags?: Record<string, string>;
  readonly vpcId?: string;
  readonly volumes?: number;
}

/** An instance as DescribeInstances returns it, with its primary interface and root volume. */
export function ec2Instance(props: InstanceProps = {}): Instance {
  const launched = ago(props.age ?? DAY);
  const id = props.id ?? nextId();
  return {
    InstanceId: id,
    State: { Name: (props.state ?? 'running') as ec2Sdk.InstanceStateName },
    // LaunchTime moves on every start; the primary interface's attach time is the first launch.
    LaunchTime: props.state === 'stopped' ? undefined : new Date(),
    VpcId: props.vpcId ?? 'vpc-0a1b2c3d',
    Tags: Object.entries(props.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    BlockDeviceMappings: Array.from({ length: props.volumes ?? 1 }, (_, n) => ({ DeviceName: `/dev/xvd${'abcdef'[n]}`, Ebs: { VolumeId: `vol-${id.slice(2)}${n}` } })),
    NetworkInterfaces: [{ NetworkInterfaceId: `eni-${id.slice(2)}`, Attachment: { DeviceIndex: 0, AttachTime: launched } }],
  };
}

export const instances = (n: number, props: InstanceProps = {}) => Array.from({ length: n }, () => ec2Instance(props));
export const idsOf = (list: Instance[]) => list.map((i) => i.InstanceId!);
/** Tags that satisfy the seed's rules (SEED_RULES), so an instance with them needs nothing. */
export const COMPLIANT_TAGS = { CostCenter: '1001', CreatedBy: 'alice', LaunchDate: '2024-01-01', Environment: 'dev' };

/**
 * Serves DescribeInstances in pages of `pageSize` (two instances per reservation), chaining opaque
 * NextTokens; a request naming InstanceIds gets those instances only. `faults` maps a 1-based
 * request number to the error it throws. Returns a copy of every request as sent.
 */
export function serveInstances(fleet: Instance[], pageSize = 1000, faults: Record<number, Error> = {}): DescribeInstancesCommandInput[] {
  const requests: DescribeInstancesCommandInput[] = [];
  ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
    requests.push(structuredClone(input));
    const fault = faults[requests.length];
    if (fault) throw fault;
    const source = input.InstanceIds ? fleet.filter((i) => input.InstanceIds!.includes(i.InstanceId!)) : fleet;
    const page = input.NextToken ? Number(/^tok-(\d+)$/.exec(input.NextToken)![1]) : 0;
    const slice = source.slice(page * pageSize, (page + 1) * pageSize);
    const Reservations = [];
    for (let i = 0; i < slice.length; i += 2) Reservations.push({ ReservationId: `r-${page}-${i}`, Instances: slice.slice(i, i + 2) });
    return { Reservations, NextToken: (page + 1) * pageSize < source.length ? `tok-${page + 1}` : undefined };
  });
  return requests;
}

/** A rule item as a plain object (the seed's attribute names), marshalled for DynamoDB. */
export type RuleItem = Record<string, unknown>;
export const item = (plain: RuleItem): Record<string, AttributeValue> => marshall(plain, { removeUndefinedValues: true });

/**
 * The seed's own rule table (AWS Compute blog: RuleId, TagKey, Action Update | UserLookup |
 * Function, Required "true"/"false", Default), plus one extended rule with a pattern.
 */
export const SEED_RULES: RuleItem[] = [
  { RuleId: '1', TagKey: 'CostCenter', Action: 'Update', Required: 'true', Default: 'unassigned', AllowedValues: ['1001', '1002', 'unassigned'] },
  { RuleId: '2', TagKey: 'CreatedBy', Action: 'UserLookup', Required: 'true' },
  { RuleId: '3', TagKey: 'LaunchDate', Action: 'Function', Required: 'true', Default: 'today()' },
  { RuleId: '4', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$' },
];

/**
 * Serves Scan of the rule table in pages of `pageSize` items, chaining LastEvaluatedKey (the last
 * item's key, as DynamoDB does). `faults` maps a 1-based request number to the error it throws.
 */
export function serveTable(items: Array<Record<string, AttributeValue>>, pageSize = 100, faults: Record<number, Error> = {}): ScanCommandInput[] {
  const requests: ScanCommandInput[] = [];
  ddbMock.on(ScanCommand).callsFake(async (input: ScanCommandInput) => {
    requests.push(structuredClone(input));
    const fault = faults[requests.length];
    if (fault) throw fault;
    let start = 0;
    if (input.ExclusiveStartKey) {
      start = items.findIndex((i) => JSON.stringify(i.RuleId) === JSON.stringify(input.ExclusiveStartKey!.RuleId)) + 1;
      if (start === 0) throw new Error(`unknown ExclusiveStartKey ${JSON.stringify(input.ExclusiveStartKey)}`);
    }
    const page = items.slice(start, start + pageSize);
    const more = start + pageSize < items.length;
    const LastEvaluatedKey = more ? { RuleId: page[page.length - 1].RuleId } : undefined;
    return { Items: page, Count: page.length, ScannedCount: page.length, LastEvaluatedKey };
  });
  return requests;
}

export const serveRules = (rules: RuleItem[] = SEED_RULES, pageSize = 100) => serveTable(rules.map(item), pageSize);

// CloudTrail RunInstances records, in the shapes of AWS's documented examples.

export interface RecordProps {
  readonly instanceIds: string[];
  readonly eventTime?: Date;
  readonly errorCode?: string;
}

function runInstancesRecord(props: RecordProps, userIdentity: Record<string, unknown>, requestTags: Array<{ key: string; value: string }> = []) {
  return {
    eventVersion: '1.08',
    userIdentity,
    eventTime: (props.eventTime ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'ec2.amazonaws.com',
    eventName: 'RunInstances',
    awsRegion: REGION,
    sourceIPAddress: '203.0.113.12',
    userAgent: 'aws-cli/2.15.0 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.6',
    ...(props.errorCode ? { errorCode: props.errorCode, errorMessage: 'You are not authorized to perform this operation.' } : {}),
    requestParameters: {
      instancesSet: { items: [{ imageId: 'ami-0abcdef1234567890', minCount: 1, maxCount: props.instanceIds.length }] },
      instanceType: 't3.micro',
      ...(requestTags.length ? { tagSpecificationSet: { items: [{ resourceType: 'instance', tags: requestTags }] } } : {}),
    },
    responseElements: props.errorCode ? null : {
      requestId: 'e4336db0-149f-4a6b-844d-EXAMPLEb9d16',
      reservationId: 'r-0123456789abcdef0',
      ownerId: ACCOUNT,
      groupSet: {},
      instancesSet: {
        items: props.instanceIds.map((instanceId, amiLaunchIndex) => ({
          instanceId, imageId: 'ami-0abcdef1234567890', instanceState: { code: 0, name: 'pending' }, amiLaunchIndex, instanceType: 't3.micro',
        })),
      },
    },
    requestID: 'e4336db0-149f-4a6b-844d-EXAMPLEb9d16',
    eventID: '2d8ec3d2-1a52-4a4d-b3a6-EXAMPLE3c1e1',
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Management',
  };
}

export const iamUserRecord = (props: RecordProps, userName = 'alice') => runInstancesRecord(props, {
  type: 'IAMUser',
  principalId: 'AIDACKCEVSQ6C2EXAMPLE',
  arn: `arn:aws:iam::${ACCOUNT}:user/${userName}`,
  accountId: ACCOUNT,
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  userName,
});

export const SSO_ROLE = 'AWSReservedSSO_PowerUserAccess_0123456789abcdef';
/** An IAM Identity Center session: the session name is the person's user name. */
export const ssoRecord = (props: RecordProps, person = 'bob@example.com', role = SSO_ROLE) => runInstancesRecord(props, {
  type: 'AssumedRole',
  principalId: `AROAEXAMPLEID:${person}`,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${person}`,
  accountId: ACCOUNT,
  accessKeyId: 'ASIAEXAMPLEKEY',
  sessionContext: {
    sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLEID', arn: `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/${REGION}/${role}`, accountId: ACCOUNT, userName: role },
    attributes: { creationDate: new Date().toISOString(), mfaAuthenticated: 'false' },
  },
});

/** An Auto Scaling group's launch: its service-linked role, invoked by autoscaling, the group tag in the request. */
export const asgRecord = (props: RecordProps, group = 'web-asg') => runInstancesRecord(props, {
  type: 'AssumedRole',
  principalId: 'AROAEXAMPLEASG:AutoScaling',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling`,
  accountId: ACCOUNT,
  sessionContext: {
    sessionIssuer: {
      type: 'Role',
      principalId: 'AROAEXAMPLEASG',
      arn: `arn:aws:iam::${ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
      accountId: ACCOUNT,
      userName: 'AWSServiceRoleForAutoScaling',
    },
  },
  invokedBy: 'autoscaling.amazonaws.com',
}, [{ key: 'aws:autoscaling:groupName', value: group }]);

/** The EventBridge "AWS API Call via CloudTrail" event that carries a record. */
export function launchEvent(record: Record<string, unknown>): Record<string, unknown> {
  return {
    'version': '0',
    'id': '6f3c1e2a-9a7b-4f3c-8e2d-0a1b2c3d4e5f',
    'detail-type': 'AWS API Call via CloudTrail',
    'source': 'aws.ec2',
    'account': ACCOUNT,
    'time': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'region': REGION,
    'resources': [],
    'detail': record,
  };
}

/** LookupEvents' shape of a record: the record as a string, with a few fields beside it. */
export function lookupEvent(record: Record<string, unknown>) {
  return {
    EventId: String(record.eventID),
    EventName: 'RunInstances',
    ReadOnly: 'false',
    EventTime: new Date(String(record.eventTime)),
    EventSource: 'ec2.amazonaws.com',
    Username: 'x',
    Resources: [],
    CloudTrailEvent: JSON.stringify(record),
  };
}

/**
 * Serves LookupEvents: the records whose eventTime is inside [StartTime, EndTime], newest first, in
 * pages of `pageSize`, chaining NextTokens. `faults` maps a 1-based request number to an error.
 */
export function serveLookups(records: Array<Record<string, unknown>>, pageSize = 50, faults: Record<number, Error> = {}): LookupEventsCommandInput[] {
  const requests: LookupEventsCommandInput[] = [];
  ctMock.on(LookupEventsCommand).callsFake(async (input: LookupEventsCommandInput) => {
    requests.push(structuredClone(input));
    const fault = faults[requests.length];
    if (fault) throw fault;
    const inWindow = records
      .filter((r) => {
        const t = Date.parse(String(r.eventTime));
        return t >= input.StartTime!.getTime() && t <= input.EndTime!.getTime();
      })
      .sort((a, b) => Date.parse(String(b.eventTime)) - Date.parse(String(a.eventTime)));
    const page = input.NextToken ? Number(/^ct-(\d+)$/.exec(input.NextToken)![1]) : 0;
    const size = Math.min(pageSize, input.MaxResults ?? 50);
    const slice = inWindow.slice(page * size, (page + 1) * size);
    return { Events: slice.map(lookupEvent), NextToken: (page + 1) * size < inWindow.length ? `ct-${page + 1}` : undefined };
  });
  return requests;
}

// Custom resource events of the rules, as the provider framework passes them on.

export function rulesProperties(rules: RuleItem[], table = TABLE, owner = OWNER): Record<string, string> {
  return { ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:provider`, TableName: table, Owner: owner, Rules: JSON.stringify(rules) };
}

export function rulesEvent(requestType: 'Create' | 'Update' | 'Delete', props: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    RequestType: requestType,
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:provider`,
    ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x',
    StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/app/5b1c2d3e-0000-11ef-9f3a-0a1b2c3d4e5f`,
    RequestId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
    LogicalResourceId: 'TagsRulesA1B2C3D4',
    ResourceType: 'Custom::FleetJanitorTagRules',
    ResourceProperties: props,
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: `${TABLE}/${OWNER}` }),
    ...extra,
  };
}

// What was sent.

export const createTagsCalls = () => ec2Mock.commandCalls(CreateTagsCommand).map((c) => c.args[0].input);
/** Every (resource id, key, value) written by CreateTags, as "id key=value" strings, sorted. */
export const writtenTags = () => createTagsCalls()
  .flatMap((c) => (c.Resources ?? []).flatMap((id) => (c.Tags ?? []).map((t) => `${id} ${t.Key}=${t.Value}`))).sort();
export const tagsWrittenTo = (id: string) => Object.fromEntries(createTagsCalls()
  .filter((c) => c.Resources?.includes(id)).flatMap((c) => (c.Tags ?? []).map((t) => [t.Key!, t.Value!])));
export const stoppedIds = () => ec2Mock.commandCalls(StopInstancesCommand).flatMap((c) => c.args[0].input.InstanceIds ?? []);
export const terminatedIds = () => ec2Mock.commandCalls(TerminateInstancesCommand).flatMap((c) => c.args[0].input.InstanceIds ?? []);
export const untaggedIds = () => ec2Mock.commandCalls(DeleteTagsCommand).flatMap((c) => c.args[0].input.Resources ?? []);

/** The calls that change something: tags, instance states, table items. */
export const STATE_CHANGING = new Set([
  'CreateTagsCommand', 'DeleteTagsCommand', 'StopInstancesCommand', 'TerminateInstancesCommand', 'PutItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand',
]);

/** The names of the commands sent to every mocked client, in order per client. */
export function sentCommands(): string[] {
  return [ec2Mock, ddbMock, ctMock, snsMock].flatMap((mock) => mock.calls().map((c) => (c.args[0] as object).constructor.name));
}

/** No call that changes anything: tags, instance states, table items. */
export function expectNoStateChanges(): void {
  expect(sentCommands().filter((name) => STATE_CHANGING.has(name))).toEqual([]);
}

export function expectNoCallsAtAll(): void {
  expect(ec2Mock.calls()).toHaveLength(0);
  expect(snsMock.calls()).toHaveLength(0);
  expect(ddbMock.calls()).toHaveLength(0);
  expect(ctMock.calls()).toHaveLength(0);
}

export function publishedReport(): PublishCommandInput {
  const calls = snsMock.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0].args[0].input;
}

/**
 * Resets the mocks before each test (every write succeeds unless a test says otherwise), captures
 * the console, and restores the environment after.
 */
export function installHandlerHarness(): void {
  captureConsole();
  beforeEach(() => {
    for (const mock of [ec2Mock, snsMock, ddbMock, ctMock]) mock.reset();
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
    ec2Mock.on(CreateTagsCommand).resolves({});
    ec2Mock.on(DeleteTagsCommand).resolves({});
    ddbMock.on(BatchWriteItemCommand).resolves({ UnprocessedItems: {} });
    ddbMock.on(PutItemCommand).resolves({});
    ddbMock.on(DeleteItemCommand).resolves({});
    ctMock.on(LookupEventsCommand).resolves({ Events: [] });
  });

  afterEach(() => {
    restoreEnv();
  });
}

/** Retry options that never wait. */
export const noWait = { sleep: async () => undefined };
