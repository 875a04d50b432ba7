import * as nodePath from 'path';
import { App, CfnParameter, Duration, Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { METRIC_NAMES } from '../../lambda/shared/telemetry';
import { InstanceDecommissioner, InstanceDecommissionerProps } from '../../src';
import { INSTANCE_DECOMMISSIONER_ENV_LIMITS } from '../../src/common/env-limits';
import { ASSETS_DIR, HandlerFunction } from '../../src/common/handler-function';
import { SCHEDULE_PAYLOAD } from '../../src/common/schedule';
import { ENV, STATE_CHANGE_DETAIL_TYPE, WATCHED_STATES } from '../../src/instance-decommissioner/contract';
import { DECOMMISSION_HOOK_ARN, instanceDecommissionerEverythingOn as everythingOn } from '../helpers/configurations';
import { expectNoNagFindings } from '../helpers/nag';
import { maskedTemplate } from '../helpers/template';

const ZONE = { hostedZoneId: 'Z0123456789PRIVATE', zoneName: 'internal.example.com' };
const REVERSE_ZONE = { hostedZoneId: 'Z0123456789REVERSE', zoneName: '10.in-addr.arpa' };
const TEMPLATES = ['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com'];

function newStack(): Stack {
  return new Stack(new App(), 'TestStack');
}

/** The two zones, imported the way a platform team would (by id and name). */
function zones(stack: Stack): route53.IHostedZone[] {
  return [
    route53.HostedZone.fromHostedZoneAttributes(stack, 'PrivateZone', ZONE),
    route53.HostedZone.fromHostedZoneAttributes(stack, 'ReverseZone', REVERSE_ZONE),
  ];
}

function build(props: InstanceDecommissionerProps = {}, stack = newStack()) {
  const decom = new InstanceDecommissioner(stack, 'Decom', props);
  return { stack, decom, template: Template.fromStack(stack) };
}

/** Everything a prop can switch on, with imported zones, a bus and a hook (no VPC or keys). */
function fullProps(stack: Stack, extra: InstanceDecommissionerProps = {}): InstanceDecommissionerProps {
  return {
    hostedZones: zones(stack),
    recordNameTemplates: TEMPLATES,
    deleteAlarms: true,
    eventBus: new events.EventBus(stack, 'Bus', { eventBusName: 'fleet-events' }),
    hooks: [lambda.Function.fromFunctionArn(stack, 'Hook', DECOMMISSION_HOOK_ARN)],
    instanceSelector: { env: 'prod' },
    ...extra,
  };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

function handlerOf(decom: InstanceDecommissioner): HandlerFunction {
  return decom.node.findChild('Handler') as HandlerFunction;
}

/** The statements of the construct's own managed policy, by Sid; nothing of the handler's role is in any other policy. */
function statements(stack: Stack, decom: InstanceDecommissioner, template: Template): Record<string, any> {
  const fn = handlerOf(decom);
  const roleId = logicalId(stack, fn.role);
  const managed = Object.keys(template.findResources('AWS::IAM::ManagedPolicy', { Properties: { Roles: [{ Ref: roleId }] } }));
  expect(managed).toEqual([logicalId(stack, fn.runtimePolicy), logicalId(stack, fn.policy)]);
  expect(template.findResources('AWS::IAM::Policy')).toEqual({});
  const document = template.toJSON().Resources[logicalId(stack, fn.policy)].Properties.PolicyDocument;
  const bySid = Object.fromEntries(document.Statement.map((s: any) => [s.Sid, s]));
  expect(Object.keys(bySid)).toHaveLength(document.Statement.length);
  return bySid;
}

function handlerEnv(template: Template): Record<string, unknown> {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter((f) => f.Properties.Environment?.Variables?.[ENV.tableName]);
  expect(fns).toHaveLength(1);
  return fns[0].Properties.Environment.Variables;
}

function arnOf(stack: Stack, construct: { node: { defaultChild?: unknown } }) {
  return { 'Fn::GetAtt': [logicalId(stack, construct), 'Arn'] };
}

function zoneArn(id: string) {
  return { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:route53:::hostedzone/${id}`]] };
}

/** `arn:${Partition}:<service>:${Region}:${Account}:<resource>` as an env-agnostic stack renders it. */
function regionalArn(service: string, resource: string) {
  return {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]],
  };
}

const DEFAULT_BUS_ARN = regionalArn('events', 'event-bus/default');
const ALARMS_ARN = regionalArn('cloudwatch', 'alarm:*');
const SNAPSHOT_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'];
const CONSUME_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'];

describe('IAM follows the configured behaviour', () => {
  test('defaults: describe instances, consume the queue, keep snapshots, announce on the default bus, report; nothing else', () => {
    const { stack, decom, template } = build();
    const s = statements(stack, decom, template);
    expect(s).toEqual({
      DescribeInstances: { Sid: 'DescribeInstances', Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
      ConsumeEvents: { Sid: 'ConsumeEvents', Effect: 'Allow', Action: CONSUME_ACTIONS, Resource: arnOf(stack, decom.queue) },
      Snapshots: { Sid: 'Snapshots', Effect: 'Allow', Action: SNAPSHOT_ACTIONS, Resource: arnOf(stack, decom.table) },
      AnnounceDecommissions: { Sid: 'AnnounceDecommissions', Effect: 'Allow', Action: 'events:PutEvents', Resource: DEFAULT_BUS_ARN },
      PublishReports: { Sid: 'PublishReports', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: logicalId(stack, decom.topic) } },
      EncryptReports: { Sid: 'EncryptReports', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: arnOf(stack, decom.topic.masterKey!) },
    });
  });

  test('every prop: records in the given zones only, alarms, the hooks only, the given bus only', () => {
    const stack = newStack();
    const props = fullProps(stack);
    const { decom, template } = build(props, stack);
    const s = statements(stack, decom, template);
    expect(Object.keys(s)).toEqual([
      'DescribeInstances', 'ConsumeEvents', 'Snapshots', 'ReadRecords', 'ChangeRecords', 'FindAlarms', 'DeleteAlarms',
      'InvokeHooks', 'AnnounceDecommissions', 'PublishReports', 'EncryptReports',
    ]);
    const zoneArns = [zoneArn(ZONE.hostedZoneId), zoneArn(REVERSE_ZONE.hostedZoneId)];
    expect(s.ReadRecords).toEqual({ Sid: 'ReadRecords', Effect: 'Allow', Action: 'route53:ListResourceRecordSets', Resource: zoneArns });
    expect(s.ChangeRecords).toEqual({
      Sid: 'ChangeRecords',
      Effect: 'Allow',
      Action: 'route53:ChangeResourceRecordSets',
      Resource: zoneArns,
      // DELETE of a set and CREATE of what remains; never UPSERT, which could overwrite any record.
      Condition: { 'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsActions': ['DELETE', 'CREATE'] } },
    });
    expect(s.FindAlarms).toEqual({ Sid: 'FindAlarms', Effect: 'Allow', Action: 'cloudwatch:DescribeAlarms', Resource: ALARMS_ARN });
    expect(s.DeleteAlarms).toEqual({ Sid: 'DeleteAlarms', Effect: 'Allow', Action: 'cloudwatch:DeleteAlarms', Resource: ALARMS_ARN });
    expect(s.InvokeHooks).toEqual({ Sid: 'InvokeHooks', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: DECOMMISSION_HOOK_ARN });
    expect(s.AnnounceDecommissions.Resource).toEqual(arnOf(stack, props.eventBus!));
    expect(decom.eventBus).toBe(props.eventBus);
  });

  test('zones of the stack and several hooks: each one by its own ARN', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
    const zone = new route53.PrivateHostedZone(stack, 'Zone', { zoneName: 'internal.example.com', vpc });
    const hook = new lambda.Function(stack, 'Hook', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=()=>{}') });
    const other = lambda.Function.fromFunctionArn(stack, 'Other', 'arn:aws:lambda:eu-west-1:123456789012:function:consul-cleanup');
    const { decom, template } = build({ hostedZones: [zone], recordNameTemplates: TEMPLATES, hooks: [hook, other] }, stack);
    const s = statements(stack, decom, template);
    const arn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::hostedzone/', { Ref: logicalId(stack, zone) }]] };
    expect(s.ReadRecords.Resource).toEqual(arn);
    expect(s.ChangeRecords.Resource).toEqual(arn);
    expect(s.InvokeHooks.Resource).toEqual([arnOf(stack, hook), other.functionArn]);
    expect(s.FindAlarms).toBeUndefined();
  });

  test('hosted zones without templates may still be read and changed (PTR records, set identifiers)', () => {
    const stack = newStack();
    const { decom, template } = build({ hostedZones: zones(stack) }, stack);
    const s = statements(stack, decom, template);
    expect(s.ReadRecords.Resource).toHaveLength(2);
    expect(s.ChangeRecords.Resource).toHaveLength(2);
  });

  test('dryRun: nothing destructive: no record change, no alarm deletion, no hook, no event; reads, snapshots and reports stay', () => {
    const stack = newStack();
    const { decom, template } = build(fullProps(stack, { dryRun: true }), stack);
    const s = statements(stack, decom, template);
    expect(Object.keys(s)).toEqual([
      'DescribeInstances', 'ConsumeEvents', 'Snapshots', 'ReadRecords', 'FindAlarms', 'PublishReports', 'EncryptReports',
    ]);
    expect(s.Snapshots.Action).toEqual(SNAPSHOT_ACTIONS);
    expect(handlerEnv(template)[ENV.dryRun]).toBe('true');
  });

  test('a user topic without a key: publish only', () => {
    const stack = newStack();
    const topic = sns.Topic.fromTopicArn(stack, 'Alerts', 'arn:aws:sns:eu-west-1:111111111111:platform-alerts');
    const { decom, template } = build({ topic }, stack);
    const s = statements(stack, decom, template);
    expect(s.PublishReports.Resource).toBe(topic.topicArn);
    expect(s.EncryptReports).toBeUndefined();
    expect(decom.topic).toBe(topic);
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  test('grantReadSnapshots: read-only access to the table for a hook or an audit job', () => {
    const stack = newStack();
    const decom = new InstanceDecommissioner(stack, 'Decom');
    const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    const grant = decom.grantReadSnapshots(reader);
    expect(grant.success).toBe(true);
    const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))[0];
    const granted = policy.Properties.PolicyDocument.Statement.flatMap((st: any) => [st.Action].flat());
    expect(granted).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:BatchGetItem']));
    expect(granted.filter((a: string) => /Put|Update|Delete|Write/.test(a))).toEqual([]);
    expect(policy.Properties.Roles).toEqual([{ Ref: stack.getLogicalId(reader.node.defaultChild as never) }]);
  });
});

describe('environment', () => {
  test('defaults', () => {
    const { stack, decom, template } = build();
    expect(handlerEnv(template)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'InstanceDecommissioner',
      POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitor',
      TOPIC_ARN: { Ref: logicalId(stack, decom.topic) },
      TABLE_NAME: { Ref: logicalId(stack, decom.table) },
      HOSTED_ZONES: '[]',
      RECORD_NAME_TEMPLATES: '[]',
      DELETE_ALARMS: 'false',
      EVENT_BUS: DEFAULT_BUS_ARN,
      HOOK_FUNCTIONS: '[]',
      INSTANCE_SELECTOR: '{}',
      SNAPSHOT_RETENTION_SECONDS: String(90 * 86_400),
      PROTECTION_TAG_KEY: 'fleet-janitor:protect',
      DRY_RUN: 'false',
      MAX_ACTIONS_PER_RUN: '100',
    });
  });

  test('every prop', () => {
    const stack = newStack();
    const props = fullProps(stack, { snapshotRetention: Duration.days(30), protectionTagKey: 'keep', maxActionsPerRun: 7 });
    const env = handlerEnv(build(props, stack).template);
    expect(env).toMatchObject({
      [ENV.hostedZones]: JSON.stringify([
        { id: ZONE.hostedZoneId, name: ZONE.zoneName },
        { id: REVERSE_ZONE.hostedZoneId, name: REVERSE_ZONE.zoneName },
      ]),
      [ENV.recordNameTemplates]: JSON.stringify(TEMPLATES),
      [ENV.deleteAlarms]: 'true',
      [ENV.eventBus]: arnOf(stack, props.eventBus!),
      [ENV.hookFunctions]: JSON.stringify([DECOMMISSION_HOOK_ARN]),
      [ENV.instanceSelector]: '{"env":"prod"}',
      [ENV.snapshotRetentionSeconds]: String(30 * 86_400),
      [ENV.protectionTagKey]: 'keep',
      [ENV.maxActionsPerRun]: '7',
    });
  });

  test('tokens resolve inside the JSON values: a zone of the stack, a hook of the stack', () => {
    const stack = newStack();
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-12345678', availabilityZones: ['eu-west-1a'] });
    const zone = new route53.PrivateHostedZone(stack, 'Zone', { zoneName: 'internal.example.com', vpc });
    const hook = new lambda.Function(stack, 'Hook', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=()=>{}') });
    const env = handlerEnv(build({ hostedZones: [zone], hooks: [hook] }, stack).template);
    expect(env[ENV.hostedZones]).toEqual({ 'Fn::Join': ['', ['[{"id":"', { Ref: logicalId(stack, zone) }, '","name":"internal.example.com"}]']] });
    expect(env[ENV.hookFunctions]).toEqual({ 'Fn::Join': ['', ['["', arnOf(stack, hook), '"]']] });
  });

  test('the environment names are the contract\'s, and nothing else is set', () => {
    const env = handlerEnv(build().template);
    expect(Object.keys(env).sort()).toEqual(['NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME', ...Object.values(ENV)].sort());
  });
});

describe('delivery: the rule, the queue, the event source', () => {
  test('the rule sends EC2 state changes of the watched states to the queue, and what it cannot deliver to the dead-letter queue', () => {
    const { stack, decom, template } = build();
    expect(WATCHED_STATES).toEqual(['running', 'shutting-down', 'terminated']);
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.ec2'],
        'detail-type': [STATE_CHANGE_DETAIL_TYPE],
        'detail': { state: ['running', 'shutting-down', 'terminated'] },
      },
      State: 'ENABLED',
      // EventBridge's default retries (24 hours) before the dead-letter queue.
      Targets: [{ Arn: arnOf(stack, decom.queue), DeadLetterConfig: { Arn: arnOf(stack, decom.deadLetterQueue) }, Id: Match.anyValue() }],
    });
    expect(logicalId(stack, decom.stateChangeRule)).toMatch(/^DecomStateChangeRule/);
    // Only this rule may send to the queue.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack, decom.queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: Match.arrayWith(['sqs:SendMessage']),
          Condition: { ArnEquals: { 'aws:SourceArn': arnOf(stack, decom.stateChangeRule) } },
        })]),
      },
    });
  });

  test('the queue: encrypted, TLS-only, kept 14 days, visibility 6 × the default timeout, redrive to the dead-letter queue after 5 receives', () => {
    const { stack, decom, template } = build();
    expect(template.toJSON().Resources[logicalId(stack, decom.queue)].Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86_400,
      VisibilityTimeout: 6 * 300,
      RedrivePolicy: { deadLetterTargetArn: arnOf(stack, decom.deadLetterQueue), maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack, decom.queue) }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    // One dead-letter queue for everything: the function's.
    expect(decom.deadLetterQueue).toBe(handlerOf(decom).deadLetterQueue);
    template.resourceCountIs('AWS::SQS::Queue', 2);
  });

  test.each([
    [Duration.seconds(10), 60],
    [Duration.minutes(10), 3600],
    [Duration.minutes(15), 5400],
  ])('timeout %s: visibility timeout %i seconds', (timeout, expected) => {
    const { stack, decom, template } = build({ timeout });
    expect(template.toJSON().Resources[logicalId(stack, decom.queue)].Properties.VisibilityTimeout).toBe(expected);
  });

  test('a timeout known only at deploy: the visibility timeout is SQS\'s maximum, 12 hours', () => {
    const stack = newStack();
    const seconds = new CfnParameter(stack, 'TimeoutSeconds', { type: 'Number', default: 300 });
    const decom = new InstanceDecommissioner(stack, 'Decom', { timeout: Duration.seconds(seconds.valueAsNumber) });
    expect(Template.fromStack(stack).toJSON().Resources[logicalId(stack, decom.queue)].Properties.VisibilityTimeout).toBe(43_200);
  });

  test('maxReceiveCount', () => {
    const { stack, decom, template } = build({ maxReceiveCount: 1 });
    expect(template.toJSON().Resources[logicalId(stack, decom.queue)].Properties.RedrivePolicy.maxReceiveCount).toBe(1);
  });

  test('the event source: batches of 10, partial batch responses, at most 2 at once', () => {
    const { stack, decom, template } = build();
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(1);
    expect(mappings[0].Properties).toEqual({
      EventSourceArn: arnOf(stack, decom.queue),
      FunctionName: { Ref: logicalId(stack, decom.handler) },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  test('the function waits for both of its policies, so the event source is created once it may read the queue', () => {
    const { stack, decom, template } = build();
    const fn = handlerOf(decom);
    const dependsOn = template.toJSON().Resources[logicalId(stack, decom.handler)].DependsOn;
    expect(dependsOn).toEqual(expect.arrayContaining([logicalId(stack, fn.policy), logicalId(stack, fn.runtimePolicy)]));
  });
});

describe('resources', () => {
  test('the table: InstanceId partition key, on demand, point-in-time recovery, encrypted, TTL on ExpiresAt, retained', () => {
    const { template } = build();
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'InstanceId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'InstanceId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ExpiresAt', Enabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('four alarms notify the topic: errors, throttles, the dead-letter queue, and events waiting 15 minutes', () => {
    const { stack, decom, template } = build();
    expect(decom.alarms).toEqual([decom.errorAlarm, decom.throttleAlarm, decom.deadLetterAlarm, decom.queueAgeAlarm]);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    const topic = { Ref: logicalId(stack, decom.topic) };
    for (const alarm of decom.alarms) {
      expect(template.toJSON().Resources[logicalId(stack, alarm)].Properties.AlarmActions).toEqual([topic]);
    }
    expect(template.toJSON().Resources[logicalId(stack, decom.queueAgeAlarm)].Properties).toEqual({
      AlarmDescription: expect.stringMatching(/^InstanceDecommissioner: a state-change event has waited 15 minutes or more in the queue/),
      AlarmActions: [topic],
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, decom.queue), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 900,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(template.toJSON().Resources[logicalId(stack, decom.deadLetterAlarm)].Properties.Dimensions)
      .toEqual([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, decom.deadLetterQueue), 'QueueName'] } }]);
  });

  test('every metric the handler emits has a method, with the construct\'s service and function dimensions', () => {
    const { decom } = build();
    for (const name of Object.values(METRIC_NAMES)) {
      const method = `metric${name}` as keyof InstanceDecommissioner;
      expect(typeof decom[method]).toBe('function');
    }
    expect(decom.metricActionsTaken().dimensions).toEqual({ service: 'InstanceDecommissioner', FunctionName: decom.handler.functionName });
    expect(decom.metricActionsFailed({ period: Duration.minutes(5) }).period).toEqual(Duration.minutes(5));
    expect(decom.janitorName).toBe('InstanceDecommissioner');
  });

  test('reconcile sweep: default rate(1 day) with the sweep payload and the dead-letter queue', () => {
    const { stack, decom, template } = build();
    expect(decom.schedule).toBeDefined();
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 day)',
      Target: Match.objectLike({
        Arn: arnOf(stack, decom.handler),
        Input: JSON.stringify(SCHEDULE_PAYLOAD),
        DeadLetterConfig: { Arn: arnOf(stack, decom.deadLetterQueue) },
      }),
    });
  });

  test('reconcileSchedule: a custom expression', () => {
    build({ reconcileSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }) }).template
      .hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 3 * * ? *)' });
  });

  test('reconcile false: no schedule, no scheduler role', () => {
    const { decom, template } = build({ reconcile: false });
    expect(decom.schedule).toBeUndefined();
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    template.resourceCountIs('AWS::IAM::Role', 1);
  });

  test('the handler runs the pre-built instance-decommissioner bundle', () => {
    const { template } = build();
    const expected = lambda.Code.fromAsset(nodePath.join(ASSETS_DIR, 'instance-decommissioner')).bind(newStack()).s3Location!.objectKey;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Code: { S3Key: expected },
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 300,
      DeadLetterConfig: { TargetArn: Match.anyValue() },
    });
  });

  test('a second App gives the identical template: no randomness, no clock', () => {
    const synth = () => {
      const stack = newStack();
      new InstanceDecommissioner(stack, 'Decom', everythingOn(stack).props);
      return Template.fromStack(stack).toJSON();
    };
    expect(synth()).toEqual(synth());
  });
});

describe('validation: a clear error naming the bad value, before any resource exists', () => {
  const importedById = (stack: Stack) => [route53.HostedZone.fromHostedZoneId(stack, 'ById', 'Z0123456789PRIVATE')];
  test.each([
    ['an unknown placeholder', (s: Stack) => ({ hostedZones: zones(s), recordNameTemplates: ['{name}.internal.example.com'] }),
      /recordNameTemplates\[0\] \("\{name\}.internal.example.com"\): unknown placeholder \{name\}; known: \{instanceId\}/],
    ['a template without a placeholder', (s: Stack) => ({ hostedZones: zones(s), recordNameTemplates: ['web.internal.example.com'] }),
      /recordNameTemplates\[0\] .*: .*has no placeholder/],
    ['an unclosed placeholder', (s: Stack) => ({ hostedZones: zones(s), recordNameTemplates: [TEMPLATES[0], '{instanceId.internal.example.com'] }),
      /recordNameTemplates\[1\] .*"\{" without "\}"/],
    ['a template given twice', (s: Stack) => ({ hostedZones: zones(s), recordNameTemplates: [TEMPLATES[0], TEMPLATES[1], TEMPLATES[0]] }),
      /recordNameTemplates\[2\] \("\{tag:Name\}.internal.example.com"\): is given twice/],
    ['templates without zones', () => ({ recordNameTemplates: TEMPLATES }),
      /recordNameTemplates \(\["\{tag:Name\}.internal.example.com","\{instanceId\}.internal.example.com"\]\): need hostedZones/],
    ['a template in none of the zones', (s: Stack) => ({ hostedZones: zones(s), recordNameTemplates: [TEMPLATES[0], '{instanceId}.other.example.org'] }),
      /recordNameTemplates\[1\] \("\{instanceId\}.other.example.org"\): names no record in any of hostedZones \(internal.example.com, 10.in-addr.arpa\)/],
    ['a suffix that only looks like a zone\'s name', (s: Stack) => ({ hostedZones: zones(s), recordNameTemplates: ['{instanceId}.xinternal.example.com'] }),
      /names no record in any of hostedZones/],
    ['a zone imported by id only', (s: Stack) => ({ hostedZones: importedById(s) }),
      /hostedZones\[0\] \("Z0123456789PRIVATE"\): its zone name is not known .*HostedZone.fromHostedZoneAttributes/],
    ['a snapshot retention under an hour', () => ({ snapshotRetention: Duration.minutes(59) }), /snapshotRetention \(59 minutes\): must be at least 1 hour/],
    ['a snapshot retention over 3660 days', () => ({ snapshotRetention: Duration.days(3661) }), /snapshotRetention \(3661 days\): must be at most 3660 days/],
    ['a reconcile schedule with reconcile false', () => ({ reconcile: false, reconcileSchedule: scheduler.ScheduleExpression.rate(Duration.days(1)) }),
      /reconcileSchedule \("rate\(1 day\)"\): is given but reconcile is false/],
    ['a reconcile schedule as short as the timeout', () => ({ reconcileSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(5)) }),
      /^InstanceDecommissioner: invalid reconcileSchedule \("rate\(5 minutes\)"\): a rate schedule must be longer than the function timeout \(5 minutes\)/],
    ['maxReceiveCount 0', () => ({ maxReceiveCount: 0 }), /maxReceiveCount \(0\): must be an integer from 1 to 1000/],
    ['maxReceiveCount 1001', () => ({ maxReceiveCount: 1001 }), /maxReceiveCount \(1001\): must be an integer from 1 to 1000/],
    ['maxReceiveCount 2.5', () => ({ maxReceiveCount: 2.5 }), /maxReceiveCount \(2.5\): must be an integer from 1 to 1000/],
    ['a selector value too long', () => ({ instanceSelector: { env: 'v'.repeat(257) } }), /instanceSelector\["env"\] .*: a tag value must be a string of at most 256 characters/],
    ['a selector on the protection tag', () => ({ instanceSelector: { 'fleet-janitor:protect': 'x' } }),
      /instanceSelector \(.*\): must not select on the protection tag "fleet-janitor:protect"/],
    ['a selector on a custom protection tag', () => ({ protectionTagKey: 'keep', instanceSelector: { keep: 'x' } }), /must not select on the protection tag "keep"/],
    ['reserveConcurrency', () => ({ reserveConcurrency: true }), /reserveConcurrency \(true\): the event queue is consumed by up to 2 batches at once \(the lowest maximum concurrency of an SQS event source\): a reservation of 1 would throttle them/],
    ['a bad maxActionsPerRun (common props)', () => ({ maxActionsPerRun: -1 }), /maxActionsPerRun \(-1\)/],
    ['a timeout over 15 minutes (common props)', () => ({ timeout: Duration.minutes(16) }), /timeout \(16 minutes\): must be at most 15 minutes/],
  ] as Array<[string, (stack: Stack) => InstanceDecommissionerProps, RegExp]>)('%s', (_name, makeProps, message) => {
    const stack = newStack();
    const props = makeProps(stack);
    const before = stack.node.findAll().length;
    expect(() => new InstanceDecommissioner(stack, 'Decom', props)).toThrow(message);
    expect(() => new InstanceDecommissioner(stack, 'Decom', props)).toThrow(/^InstanceDecommissioner: invalid /);
    expect(stack.node.findAll().length).toBe(before);
  });

  test('accepted: boundaries, templates that reach into a zone, tokens', () => {
    const stack = newStack();
    const [zone, reverse] = zones(stack);
    new InstanceDecommissioner(stack, 'A', { snapshotRetention: Duration.hours(1), maxReceiveCount: 1 });
    new InstanceDecommissioner(stack, 'B', { snapshotRetention: Duration.days(3660), maxReceiveCount: 1000 });
    // The placeholder may supply part of the zone name, names may end with a dot and differ in case; no fixed suffix at all.
    new InstanceDecommissioner(stack, 'C', {
      hostedZones: [zone, reverse],
      recordNameTemplates: [
        '{tag:Name}.example.com', '{instanceId}.Internal.Example.com.', '{privateDnsName}', '{tag:Host}internal.example.com',
        // a fixed part below the zone's name
        '{instanceId}.hosts.internal.example.com',
      ],
    });
    // A template known only at deploy is not checked; nor is any template while a zone name is a token.
    const tokenZone = route53.HostedZone.fromHostedZoneAttributes(stack, 'TokenZone', {
      hostedZoneId: 'Z0123456789TOKEN', zoneName: Lazy.string({ produce: () => 'other.example.org' }),
    });
    new InstanceDecommissioner(stack, 'D', { hostedZones: [zone, tokenZone], recordNameTemplates: ['{instanceId}.other.example.org'] });
    new InstanceDecommissioner(stack, 'E', { hostedZones: [zone], recordNameTemplates: [Lazy.string({ produce: () => 'x' })] });
    new InstanceDecommissioner(stack, 'F', { reconcile: false, protectionTagKey: 'keep', instanceSelector: { 'fleet-janitor:protect': 'x' } });
    new InstanceDecommissioner(stack, 'G', { reconcileSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(6)) });
    expect(Object.keys(Template.fromStack(stack).findResources('AWS::Lambda::Function'))).toHaveLength(7);
  });

  test('the snapshot retention bounds are the handler\'s', () => {
    expect(INSTANCE_DECOMMISSIONER_ENV_LIMITS.SNAPSHOT_RETENTION_SECONDS).toEqual({ min: 3600, max: 3660 * 86_400 });
  });
});

describe('snapshot', () => {
  test('representative stack', () => {
    const stack = newStack();
    new InstanceDecommissioner(stack, 'Decom', fullProps(stack, { snapshotRetention: Duration.days(30) }));
    const template = maskedTemplate(stack);
    expect(JSON.stringify(template)).not.toMatch(/[0-9a-f]{64}/);
    expect(template).toMatchSnapshot();
  });
});

describe('five cdk-nag rule packs', () => {
  test('defaults: only the inherent findings are acknowledged', () => {
    const acknowledged = expectNoNagFindings(build().stack);
    expect([...new Set(acknowledged.map((f) => `${f.path} ${f.ruleId}`))].sort()).toEqual([
      'TestStack/Decom/EventSource/Resource Serverless-LambdaEventSourceMappingDestination',
      'TestStack/Decom/Handler/DeadLetterQueue/Resource Serverless-SQSRedrivePolicy',
      'TestStack/Decom/Handler/Function/Resource HIPAA.Security-LambdaConcurrency',
      'TestStack/Decom/Handler/Function/Resource HIPAA.Security-LambdaInsideVPC',
      'TestStack/Decom/Handler/Function/Resource NIST.800.53.R5-LambdaConcurrency',
      'TestStack/Decom/Handler/Function/Resource NIST.800.53.R5-LambdaInsideVPC',
      'TestStack/Decom/Handler/Function/Resource PCI.DSS.321-LambdaInsideVPC',
      'TestStack/Decom/Handler/LogGroup/Resource HIPAA.Security-CloudWatchLogGroupEncrypted',
      'TestStack/Decom/Handler/LogGroup/Resource NIST.800.53.R5-CloudWatchLogGroupEncrypted',
      'TestStack/Decom/Handler/LogGroup/Resource PCI.DSS.321-CloudWatchLogGroupEncrypted',
      'TestStack/Decom/Handler/Policy/Resource AwsSolutions-IAM5',
      'TestStack/Decom/Handler/RuntimePolicy/Resource AwsSolutions-IAM5',
      'TestStack/Decom/Table/Resource HIPAA.Security-DynamoDBInBackupPlan',
      'TestStack/Decom/Table/Resource NIST.800.53.R5-DynamoDBInBackupPlan',
    ]);
    const policy = acknowledged.filter((f) => f.path === 'TestStack/Decom/Handler/Policy/Resource');
    expect(policy.map((f) => f.findingId)).toEqual(['Resource::*']);
    expect(policy[0].reason).toBe('[Resource::*] ec2:DescribeInstances: EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; read-only.');
  });

  test('everything on: only the inherent findings are acknowledged', () => {
    const stack = newStack();
    const { props, user } = everythingOn(stack);
    new InstanceDecommissioner(stack, 'Decom', props);
    const acknowledged = expectNoNagFindings(stack, { userConstructs: [user] });
    expect([...new Set(acknowledged.map((f) => f.ruleId))].sort()).toEqual([
      'AwsSolutions-IAM5', 'HIPAA.Security-DynamoDBInBackupPlan', 'HIPAA.Security-LambdaConcurrency', 'NIST.800.53.R5-DynamoDBInBackupPlan',
      'NIST.800.53.R5-LambdaConcurrency', 'Serverless-LambdaEventSourceMappingDestination', 'Serverless-SQSRedrivePolicy',
    ]);
    const policy = acknowledged.filter((f) => f.path === 'TestStack/Decom/Handler/Policy/Resource');
    expect(policy.map((f) => f.findingId).sort()).toEqual([
      'Resource::*',
      'Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*',
    ]);
    expect(policy.find((f) => f.findingId.endsWith(':alarm:*'))!.reason).toBe(
      '[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*] cloudwatch:DescribeAlarms on alarm:*: the alarms on '
      + 'an instance are found by listing the metric alarms of the account and region (read-only). cloudwatch:DeleteAlarms on alarm:*: the alarms '
      + 'are not known in advance; the handler deletes only alarms whose InstanceId dimension names an instance it decommissioned.');
  });

  test('dry run with alarms: the acknowledgement speaks of DescribeAlarms only', () => {
    const stack = newStack();
    new InstanceDecommissioner(stack, 'Decom', fullProps(stack, { dryRun: true }));
    const acknowledged = expectNoNagFindings(stack);
    const alarms = acknowledged.find((f) => f.findingId.endsWith(':alarm:*'))!;
    expect(alarms.reason).toContain('cloudwatch:DescribeAlarms on alarm:*');
    expect(alarms.reason).not.toContain('DeleteAlarms');
  });
});
