/*
 * What the InstanceDecommissioner emulator test uses: the construct synthesized and its function's
 * environment; the moto side of the stack (snapshot table, event queue with its redrive policy, the
 * state-change rule on the default bus, the user's bus); the fleet (a VPC, instances with fixed private
 * addresses, hosted zones and record sets, CloudWatch alarms, hook functions); the Lambda SQS event
 * source mapping played by the test (receive, invoke the shipped bundle, delete what succeeded); a
 * recording pass-through proxy that counts the bundle's API calls; and readers for the end state.
 */
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import {
  CloudWatchClient, DescribeAlarmsCommand, MetricAlarm, PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import { AttributeValue, CreateTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  AssignPrivateIpAddressesCommand, CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand, _InstanceType,
} from '@aws-sdk/client-ec2';
import {
  CreateEventBusCommand, EventBridgeClient, PutEventsCommand, PutEventsRequestEntry, PutRuleCommand, PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, ListResourceRecordSetsCommand, ResourceRecordSet, Route53Client,
} from '@aws-sdk/client-route-53';
import {
  ChangeMessageVisibilityCommand, CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, Message, ReceiveMessageCommand, SQSClient,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { EmulatorClients, emulatorClients } from './fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from './moto';
import type { Row } from './notification';
import { BundleRun, runBundle, shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { InstanceDecommissioner, InstanceDecommissionerProps } from '../../src';

export const BUNDLE = shippedBundle('instance-decommissioner');
export const STACK_NAME = 'InstanceDecommissionerEmulator';
export const FUNCTION_NAME = 'FleetJanitorInstanceDecommissioner';
export const STATE_CHANGE = 'EC2 Instance State-change Notification';
export const DECOMMISSIONED = { source: 'cdk-fleet-janitor', detailType: 'Instance Decommissioned' } as const;
/** Never let a hung bundle outlive the jest timeout (the function's own timeout is 300 s). */
const BUNDLE_TIMEOUT_CAP_SECONDS = 90;
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' };

export interface DecommissionerClients extends EmulatorClients {
  readonly route53: Route53Client;
  readonly cloudwatch: CloudWatchClient;
  readonly eventbridge: EventBridgeClient;
  readonly lambda: LambdaClient;
}

export function decommissionerClients(endpoint: string): DecommissionerClients {
  const config = { endpoint, region: EMULATOR_REGION, credentials: CREDENTIALS };
  return {
    ...emulatorClients(endpoint),
    route53: new Route53Client(config),
    cloudwatch: new CloudWatchClient(config),
    eventbridge: new EventBridgeClient(config),
    lambda: new LambdaClient(config),
  };
}

export async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`moto reset failed: ${response.status}`);
}

// ---- the construct -------------------------------------------------------------------------------

export interface ZoneRef {
  readonly id: string;
  readonly name: string;
}

/** The moto resources the synthesized references stand for. */
export interface StackRefs {
  readonly topicArn: string;
  readonly tableName: string;
  readonly zones: readonly ZoneRef[];
  readonly hookArns: readonly string[];
  readonly busArn: string;
}

export interface Synthesized {
  readonly template: any;
  /** The handler's environment, the topic and table resolved to the moto resources. */
  readonly env: Record<string, string>;
  readonly timeoutSeconds: number;
  /** The state-change rule's EventPattern. */
  readonly eventPattern: Record<string, unknown>;
  /** The event queue's VisibilityTimeout, MessageRetentionPeriod and redrive maxReceiveCount. */
  readonly queue: { readonly visibilityTimeout: number; readonly retentionPeriod: number; readonly maxReceiveCount: number };
  /** What the reconcile schedule sends the function (its target's Input). */
  readonly sweepEvent: unknown;
}

export const RECORD_NAME_TEMPLATES = ['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com'];

/**
 * Synthesizes the construct as a platform team would configure it against the moto resources:
 * imported zones, two templates, alarms deleted, hooks by ARN, the user's bus; reads the handler's
 * environment and what the test must build in moto from the template.
 */
export function synthesizeDecommissioner(refs: StackRefs, extra: Partial<InstanceDecommissionerProps> = {}): Synthesized {
  const app = new App();
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new InstanceDecommissioner(stack, 'Decommissioner', {
    hostedZones: refs.zones.map((zone, i) => route53.HostedZone.fromHostedZoneAttributes(stack, `Zone${i}`, { hostedZoneId: zone.id, zoneName: zone.name })),
    recordNameTemplates: RECORD_NAME_TEMPLATES,
    deleteAlarms: true,
    hooks: refs.hookArns.map((arn, i) => lambda.Function.fromFunctionArn(stack, `Hook${i}`, arn)),
    eventBus: events.EventBus.fromEventBusArn(stack, 'Bus', refs.busArn),
    ...extra,
  });
  const template = Template.fromStack(stack).toJSON();
  const resources: Record<string, any> = template.Resources;
  const only = (type: string, where: (r: any) => boolean = () => true) => {
    const found = Object.values(resources).filter((r) => r.Type === type && where(r));
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
  };
  const fn = only('AWS::Lambda::Function', (r) => r.Properties?.Environment?.Variables?.TABLE_NAME !== undefined);
  const env = functionEnvironmentFromTemplate(template, {
    resolveRefs: { 'AWS::SNS::Topic': refs.topicArn, 'AWS::DynamoDB::Table': refs.tableName },
  });
  const rule = only('AWS::Events::Rule');
  const queue = only('AWS::SQS::Queue', (r) => r.Properties?.RedrivePolicy !== undefined);
  const schedule = only('AWS::Scheduler::Schedule');
  return {
    template,
    env,
    timeoutSeconds: Number(fn.Properties.Timeout),
    eventPattern: rule.Properties.EventPattern,
    queue: {
      visibilityTimeout: Number(queue.Properties.VisibilityTimeout),
      retentionPeriod: Number(queue.Properties.MessageRetentionPeriod),
      maxReceiveCount: Number(queue.Properties.RedrivePolicy.maxReceiveCount),
    },
    sweepEvent: JSON.parse(schedule.Properties.Target.Input),
  };
}

/** The snapshot table as the template declares it (key schema and attribute definitions). */
export async function createSnapshotTable(ddb: DynamoDBClient, template: any, tableName: string): Promise<void> {
  const table = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table');
  await ddb.send(new CreateTableCommand({
    TableName: tableName,
    KeySchema: table.Properties.KeySchema,
    AttributeDefinitions: table.Properties.AttributeDefinitions,
    BillingMode: table.Properties.BillingMode,
  }));
}

// ---- the event path: rule → queue → (event source mapping) → bundle ---------------------------------------

export interface QueueRef {
  readonly url: string;
  readonly arn: string;
}

export async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string> = {}): Promise<QueueRef> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: out.Attributes!.QueueArn! };
}

/** The event queue and its dead-letter queue, with the template's visibility timeout, retention and redrive policy. */
export async function createEventQueues(sqs: SQSClient, synth: Synthesized): Promise<{ queue: QueueRef; deadLetter: QueueRef }> {
  const deadLetter = await createQueue(sqs, 'decommissioner-dlq', { MessageRetentionPeriod: String(synth.queue.retentionPeriod) });
  const queue = await createQueue(sqs, 'decommissioner-events', {
    VisibilityTimeout: String(synth.queue.visibilityTimeout),
    MessageRetentionPeriod: String(synth.queue.retentionPeriod),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetter.arn, maxReceiveCount: synth.queue.maxReceiveCount }),
  });
  return { queue, deadLetter };
}

/** A rule with `pattern` on `busName` sending to the queue (what the construct's rule, or a user's, does). */
export async function ruleToQueue(eventbridge: EventBridgeClient, name: string, pattern: unknown, queue: QueueRef, busName = 'default', deadLetter?: QueueRef): Promise<void> {
  await eventbridge.send(new PutRuleCommand({ Name: name, EventBusName: busName, EventPattern: JSON.stringify(pattern), State: 'ENABLED' }));
  await eventbridge.send(new PutTargetsCommand({
    Rule: name,
    EventBusName: busName,
    Targets: [{ Id: 'Target0', Arn: queue.arn, ...(deadLetter ? { DeadLetterConfig: { Arn: deadLetter.arn } } : {}) }],
  }));
}

export async function createBus(eventbridge: EventBridgeClient, name: string): Promise<string> {
  return (await eventbridge.send(new CreateEventBusCommand({ Name: name }))).EventBusArn!;
}

/** The PutEvents entry of an EC2 state change (what EC2 puts on the default bus). */
export function stateChange(instanceId: string, state: 'running' | 'shutting-down' | 'terminated', time = new Date()): PutEventsRequestEntry {
  return {
    Source: 'aws.ec2',
    DetailType: STATE_CHANGE,
    Detail: JSON.stringify({ 'instance-id': instanceId, 'state': state }),
    Resources: [`arn:aws:ec2:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:instance/${instanceId}`],
    Time: time,
  };
}

/** PutEvents, 10 entries a call; fails if EventBridge refused any. */
export async function putEvents(eventbridge: EventBridgeClient, entries: readonly PutEventsRequestEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 10) {
    const out = await eventbridge.send(new PutEventsCommand({ Entries: entries.slice(i, i + 10) }));
    if (out.FailedEntryCount) throw new Error(`PutEvents refused ${out.FailedEntryCount} entries: ${JSON.stringify(out.Entries)}`);
  }
}

export interface SqsRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, unknown>;
  readonly md5OfBody: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

/** Lambda's SQS event for received messages, as the event source mapping builds it. */
export function sqsEvent(messages: readonly Message[], queueArn: string): { Records: SqsRecord[] } {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody!,
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: EMULATOR_REGION,
    })),
  };
}

export interface Delivery {
  readonly messages: Message[];
  readonly run: BundleRun;
  /** batchItemFailures' ids, or every message when the invocation failed. */
  readonly failedMessageIds: string[];
}

/**
 * The event source mapping: receive up to 10 messages, invoke with them, delete those not in
 * batchItemFailures (all stay when the invocation fails), until the queue has nothing visible.
 * Messages left in flight come back only after the visibility timeout (see makeVisibleAgain).
 */
export async function drainEventQueue(sqs: SQSClient, queue: QueueRef, invoke: (event: unknown) => Promise<BundleRun>): Promise<Delivery[]> {
  const deliveries: Delivery[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({
      QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'],
    }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) return deliveries;
    const run = await invoke(sqsEvent(messages, queue.arn));
    const failedMessageIds = run.error
      ? messages.map((m) => m.MessageId!)
      : ((run.result?.batchItemFailures ?? []) as Array<{ itemIdentifier: string }>).map((f) => f.itemIdentifier);
    const done = messages.filter((m) => !failedMessageIds.includes(m.MessageId!));
    if (done.length > 0) {
      const deleted = await sqs.send(new DeleteMessageBatchCommand({
        QueueUrl: queue.url, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }));
      if (deleted.Failed?.length) throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(deleted.Failed)}`);
    }
    deliveries.push({ messages, run, failedMessageIds });
  }
}

/** The visibility timeout of these in-flight messages runs out now (instead of in 30 minutes): SQS delivers them again. */
export async function makeVisibleAgain(sqs: SQSClient, queue: QueueRef, messages: readonly Message[]): Promise<void> {
  for (const m of messages) {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queue.url, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
  }
}

/** Every message of a queue (deleted once read), its body parsed as JSON. */
export async function drainJson(sqs: SQSClient, queue: QueueRef): Promise<any[]> {
  const bodies: any[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) return bodies;
    bodies.push(...messages.map((m) => JSON.parse(m.Body!)));
    await sqs.send(new DeleteMessageBatchCommand({
      QueueUrl: queue.url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
    }));
  }
}

export async function runDecommissioner(synth: Synthesized, endpoint: string, event: unknown): Promise<BundleRun> {
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
export async function runDecommissionerOk(synth: Synthesized, endpoint: string, event: unknown): Promise<BundleRun> {
  const run = await runDecommissioner(synth, endpoint, event);
  if (run.error) throw new Error(`the handler failed: ${run.error.message}\n${run.error.stack ?? ''}\nstderr:\n${run.stderr.slice(-4000)}`);
  return run;
}

// ---- the fleet ----------------------------------------------------------------------------------------

export interface Network {
  readonly vpcId: string;
  readonly subnetId: string;
}

/** A VPC 10.0.0.0/16 with the subnet 10.0.1.0/24, whose reverse zone is 1.0.10.in-addr.arpa. */
export async function createNetwork(ec2: EC2Client): Promise<Network> {
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.0.1.0/24', AvailabilityZone: `${EMULATOR_REGION}a` }));
  return { vpcId: vpc.Vpc!.VpcId!, subnetId: subnet.Subnet!.SubnetId! };
}

export interface InstanceSpec {
  /** The Name tag. */
  readonly name: string;
  /** The primary private address. */
  readonly ip: string;
  /** Secondary private addresses of the primary interface. */
  readonly secondary?: readonly string[];
  readonly tags?: Record<string, string>;
}

let cachedImageId: string | undefined;

/** One RunInstances with the address given, then the secondary addresses (AssignPrivateIpAddresses). */
export async function launch(ec2: EC2Client, network: Network, spec: InstanceSpec): Promise<string> {
  cachedImageId ??= (await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] })))
    .Images![0].ImageId!;
  const out = await ec2.send(new RunInstancesCommand({
    ImageId: cachedImageId,
    InstanceType: 't3.micro' as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    SubnetId: network.subnetId,
    PrivateIpAddress: spec.ip,
    TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries({ Name: spec.name, ...spec.tags }).map(([Key, Value]) => ({ Key, Value })) }],
  }));
  const instance = out.Instances![0];
  if (spec.secondary?.length) {
    await ec2.send(new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: instance.NetworkInterfaces![0].NetworkInterfaceId!, PrivateIpAddresses: [...spec.secondary],
    }));
  }
  return instance.InstanceId!;
}

/** A hosted zone; private (associated with the VPC) when vpcId is given. Returns its id without "/hostedzone/". */
export async function createZone(r53: Route53Client, name: string, vpcId?: string): Promise<ZoneRef> {
  const out = await r53.send(new CreateHostedZoneCommand({
    Name: name,
    CallerReference: `emulator-${name}`,
    ...(vpcId ? { VPC: { VPCId: vpcId, VPCRegion: EMULATOR_REGION }, HostedZoneConfig: { PrivateZone: true } } : {}),
  }));
  return { id: out.HostedZone!.Id!.replace(/^\/hostedzone\//, ''), name };
}

/** A simple, weighted (`setIdentifier` + `weight`) or multi-value set, TTL 300. */
export function recordSet(name: string, type: 'A' | 'CNAME' | 'PTR', values: readonly string[], routing: { setIdentifier?: string; weight?: number } = {}): ResourceRecordSet {
  return {
    Name: name,
    Type: type,
    TTL: 300,
    ResourceRecords: values.map((Value) => ({ Value })),
    ...(routing.setIdentifier !== undefined ? { SetIdentifier: routing.setIdentifier, Weight: routing.weight ?? 0 } : {}),
  };
}

export async function createRecords(r53: Route53Client, zoneId: string, sets: readonly ResourceRecordSet[]): Promise<void> {
  await r53.send(new ChangeResourceRecordSetsCommand({
    HostedZoneId: zoneId,
    ChangeBatch: { Changes: sets.map((set) => ({ Action: 'CREATE', ResourceRecordSet: set })) },
  }));
}

/** `name type` or `name type [set identifier]`, the name lower case without the trailing dot. */
export function recordKey(name: string, type: string, setIdentifier?: string): string {
  return `${name.toLowerCase().replace(/\.$/, '')} ${type}${setIdentifier !== undefined ? ` [${setIdentifier}]` : ''}`;
}

/** Every record set of a zone but its NS and SOA, by recordKey → sorted values (paginated). */
export async function zoneRecords(r53: Route53Client, zoneId: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let start: { StartRecordName?: string; StartRecordType?: any; StartRecordIdentifier?: string } = {};
  for (;;) {
    const page = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, MaxItems: 100, ...start }));
    for (const rs of page.ResourceRecordSets ?? []) {
      if (rs.Type === 'NS' || rs.Type === 'SOA') continue;
      const key = recordKey(rs.Name!, rs.Type!, rs.SetIdentifier);
      if (out.has(key)) throw new Error(`record set ${key} listed twice`);
      out.set(key, (rs.ResourceRecords ?? []).map((r) => r.Value!).sort());
    }
    if (!page.IsTruncated) return out;
    start = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType, StartRecordIdentifier: page.NextRecordIdentifier };
  }
}

/** An alarm on one instance's AWS/EC2 metric, or (several ids) a metric-math alarm on the maximum of their CPU. */
export async function putInstanceAlarm(cw: CloudWatchClient, name: string, metric: 'CPUUtilization' | 'StatusCheckFailed', instanceIds: readonly string[]): Promise<void> {
  if (instanceIds.length === 1) {
    await cw.send(new PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: 'AWS/EC2',
      MetricName: metric,
      Dimensions: [{ Name: 'InstanceId', Value: instanceIds[0] }],
      Statistic: metric === 'CPUUtilization' ? 'Average' : 'Maximum',
      Period: 300,
      EvaluationPeriods: 2,
      Threshold: metric === 'CPUUtilization' ? 90 : 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    }));
    return;
  }
  await cw.send(new PutMetricAlarmCommand({
    AlarmName: name,
    EvaluationPeriods: 2,
    Threshold: 90,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    Metrics: [
      ...instanceIds.map((id, i) => ({
        Id: `m${i}`,
        ReturnData: false,
        MetricStat: { Metric: { Namespace: 'AWS/EC2', MetricName: metric, Dimensions: [{ Name: 'InstanceId', Value: id }] }, Period: 300, Stat: 'Average' },
      })),
      { Id: 'worst', Expression: `MAX([${instanceIds.map((_, i) => `m${i}`).join(',')}])`, ReturnData: true },
    ],
  }));
}

/** An alarm on something else than an instance (an SQS queue). */
export async function putQueueAlarm(cw: CloudWatchClient, name: string, queueName: string): Promise<void> {
  await cw.send(new PutMetricAlarmCommand({
    AlarmName: name,
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateAgeOfOldestMessage',
    Dimensions: [{ Name: 'QueueName', Value: queueName }],
    Statistic: 'Maximum',
    Period: 300,
    EvaluationPeriods: 1,
    Threshold: 900,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  }));
}

/** Every metric alarm's name (paginated). */
export async function alarmNames(cw: CloudWatchClient): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await cw.send(new DescribeAlarmsCommand({ AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: token }));
    names.push(...(page.MetricAlarms ?? []).map((a: MetricAlarm) => a.AlarmName!));
    token = page.NextToken;
  } while (token);
  return names.sort();
}

// ---- hooks (moto_launcher.py patch 11) ------------------------------------------------------------------

export const HOOK_FIXTURE_TAGS = {
  hook: 'moto-fixture:hook',
  failsWhen: 'moto-fixture:hook-fails-when',
  failsTimes: 'moto-fixture:hook-fails-times',
  errorType: 'moto-fixture:hook-error-type',
} as const;

/** IAM's CreateRole over the Query protocol (the repo has no IAM client): CreateFunction needs an existing role. */
export async function createRole(endpoint: string, roleName: string): Promise<string> {
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      // moto reads the service and region from the credential scope; the signature is not checked.
      'authorization': 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ Action: 'CreateRole', Version: '2010-05-08', RoleName: roleName, AssumeRolePolicyDocument: trust }).toString(),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`CreateRole failed: ${response.status} ${text}`);
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (!arn) throw new Error(`CreateRole answered without an Arn: ${text}`);
  return arn;
}

/** An empty zip (its end-of-central-directory record): the launcher answers the function, its code never runs. */
const EMPTY_ZIP = Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);

/** A hook function the launcher answers (patch 11), its failures scripted by `tags`. Returns its ARN. */
export async function createHookFunction(
  lambdaClient: LambdaClient, name: string, roleArn: string, tags: Record<string, string> = {},
): Promise<string> {
  const out = await lambdaClient.send(new CreateFunctionCommand({
    FunctionName: name,
    Runtime: 'nodejs20.x',
    Role: roleArn,
    Handler: 'index.handler',
    Code: { ZipFile: EMPTY_ZIP },
    Tags: { [HOOK_FIXTURE_TAGS.hook]: 'true', ...tags },
  }));
  return out.FunctionArn!;
}

export interface HookInvocation {
  readonly FunctionArn: string;
  readonly FunctionName: string;
  readonly InvocationType: string;
  readonly Payload: any;
  readonly FunctionError: string | null;
  readonly At: number;
}

/** Every invocation of the launcher's hook functions since the last reset, oldest first. */
export async function hookInvocations(endpoint: string): Promise<HookInvocation[]> {
  const response = await fetch(`${endpoint}/moto-api/fixtures/lambda-invocations`);
  const text = await response.text();
  if (!response.ok) throw new Error(`lambda-invocations: ${response.status} ${text}`);
  return JSON.parse(text).Invocations;
}

// ---- the table and the notification ------------------------------------------------------------------------

/** Every item of the snapshot table by InstanceId, unmarshalled; Snapshot and Cleaned parsed from their JSON. */
export async function tableItems(ddb: DynamoDBClient, tableName: string): Promise<Map<string, Record<string, any>>> {
  const items = new Map<string, Record<string, any>>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await ddb.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    for (const raw of out.Items ?? []) {
      const item = unmarshall(raw);
      if (typeof item.Snapshot === 'string') item.Snapshot = JSON.parse(item.Snapshot);
      if (typeof item.Cleaned === 'string') item.Cleaned = JSON.parse(item.Cleaned);
      if (item.HooksDone instanceof Set) item.HooksDone = [...item.HooksDone].sort();
      items.set(String(item.InstanceId), item);
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

export type { Row };
/** Every resource line of a notification body, in order (see notification.ts). */
export { parseRowList as parseRows } from './notification';

// ---- a recording pass-through proxy ------------------------------------------------------------------------

export interface RecordedCall {
  /** From the SigV4 credential scope: "route53", "ec2", "lambda", ... */
  readonly service: string;
  /** The operation: from X-Amz-Target, the query Action, the RPC v2 path, or the REST route (Route 53, Lambda). */
  readonly operation: string;
  readonly method: string;
  readonly path: string;
  status: number;
  /** The request body as sent (UTF-8), to read what a call changed (e.g. a change batch's record sets). */
  readonly body?: string;
}

export interface CallRecorder {
  /** Give this to the bundle instead of moto's endpoint. */
  readonly endpoint: string;
  readonly calls: RecordedCall[];
  /** How many calls of `operation` (of `service`, if given) were made. */
  count(operation: string, service?: string): number;
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Forwards every request to moto unchanged and records which operation it was. (The fault proxy
 * records query and JSON operations; Route 53 and Lambda are REST APIs whose operation is the route.)
 */
export async function startCallRecorder(target: string): Promise<CallRecorder> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const calls: RecordedCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const call: RecordedCall = { ...identify(req, body), status: 0, body: body.toString('utf8') };
      calls.push(call);
      const options = { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent };
      const forward = http.request(options, (answer) => {
        call.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
        answer.pipe(res);
      });
      forward.on('error', (error) => {
        call.status = 502;
        if (res.headersSent) res.destroy();
        else res.writeHead(502, { 'content-type': 'text/plain' }).end(`recorder: ${error.message}`);
      });
      forward.end(body);
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    count: (operation, service) => calls.filter((c) => c.operation === operation && (service === undefined || c.service === service)).length,
    reset: () => {
      calls.length = 0;
    },
    stop: () => (stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    })),
  };
}

const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/;
const REST_ROUTES: ReadonlyArray<readonly [string, RegExp, string]> = [
  ['GET', /^\/2013-04-01\/hostedzone\/[^/]+\/rrset\/?$/, 'ListResourceRecordSets'],
  ['POST', /^\/2013-04-01\/hostedzone\/[^/]+\/rrset\/?$/, 'ChangeResourceRecordSets'],
  ['POST', /^\/2015-03-31\/functions\/[^/]+\/invocations$/, 'Invoke'],
];

function identify(req: http.IncomingMessage, body: Buffer): Omit<RecordedCall, 'status'> {
  const url = new URL(req.url ?? '/', 'http://recorder');
  const method = req.method ?? 'GET';
  const service = CREDENTIAL_SCOPE.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'unknown';
  const target = req.headers['x-amz-target'];
  let operation: string | undefined;
  if (typeof target === 'string' && target.length > 0) operation = target.slice(target.lastIndexOf('.') + 1);
  operation ??= /^\/service\/[^/]+\/operation\/([^/]+)$/.exec(url.pathname)?.[1];
  if (operation === undefined && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    operation = new URLSearchParams(body.toString('utf8')).get('Action') ?? undefined;
  }
  operation ??= url.searchParams.get('Action') ?? undefined;
  operation ??= REST_ROUTES.find(([m, route]) => m === method && route.test(url.pathname))?.[2];
  return { service, operation: operation ?? `${method} ${url.pathname}`, method, path: url.pathname };
}
