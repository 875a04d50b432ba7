import * as nodePath from 'path';
import { App, CfnParameter, Annotations as CoreAnnotations, Duration, Lazy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { METRIC_NAMES } from '../../lambda/shared/telemetry';
import { DEFAULT_PROTECTION_TAG_KEY, PackerCleaner, PackerCleanerAction, PackerCleanerProps } from '../../src';
import { ASSETS_DIR, HandlerFunction } from '../../src/common/handler-function';
import { METRICS_NAMESPACE } from '../../src/common/metrics';
import { SCHEDULE_PAYLOAD } from '../../src/common/schedule';
import { packerCleanerEverythingOn as everythingOn } from '../helpers/configurations';
import { expectNoNagFindings } from '../helpers/nag';
import { maskedTemplate } from '../helpers/template';

const USER_TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:platform-alerts';

function newStack(env?: { account: string; region: string }): Stack {
  return new Stack(new App(), 'TestStack', { env });
}

function build(props: PackerCleanerProps = {}, stack = newStack()) {
  const cleaner = new PackerCleaner(stack, 'Cleaner', props);
  return { stack, cleaner, template: Template.fromStack(stack) };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  const child = construct?.node.defaultChild;
  if (!child) throw new Error('no CloudFormation resource');
  return stack.getLogicalId(child as never);
}

function handlerOf(cleaner: PackerCleaner): HandlerFunction {
  return cleaner.node.findChild('Handler') as HandlerFunction;
}

/** The managed policies attached to the handler's role: [runtime policy, the construct's policy]. */
function handlerPolicies(stack: Stack, cleaner: PackerCleaner, template: Template): any[] {
  const roleId = logicalId(stack, handlerOf(cleaner).role);
  const managed = Object.entries(template.findResources('AWS::IAM::ManagedPolicy', { Properties: { Roles: [{ Ref: roleId }] } }));
  expect(managed.map(([id]) => id)).toEqual([logicalId(stack, handlerOf(cleaner).runtimePolicy), logicalId(stack, handlerOf(cleaner).policy)]);
  // Nothing of ours is inline: no policy of any other kind names the role.
  expect(Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))).toEqual([]);
  return managed.map(([, policy]) => policy);
}

/** The statements of the construct's own managed policy, in order. */
function handlerStatements(stack: Stack, cleaner: PackerCleaner, template: Template): any[] {
  return handlerPolicies(stack, cleaner, template)[1].Properties.PolicyDocument.Statement;
}

/** The statements of the handler's runtime policy, in order. */
function runtimeStatements(stack: Stack, cleaner: PackerCleaner, template: Template): any[] {
  return handlerPolicies(stack, cleaner, template)[0].Properties.PolicyDocument.Statement;
}

function functionEnv(template: Template): Record<string, unknown> {
  const functions = Object.values(template.findResources('AWS::Lambda::Function'));
  expect(functions).toHaveLength(1);
  return functions[0].Properties.Environment.Variables;
}

/** `arn:${Partition}:ec2:${Region}:${Account}:<resource>` as an env-agnostic stack renders it. */
function ec2Arn(resource: string) {
  return {
    'Fn::Join': ['', [
      'arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`,
    ]],
  };
}

const ALL_DESTRUCTIVE_ACTIONS = ['ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:DeleteKeyPair', 'ec2:DeleteSecurityGroup'];

function allowedActions(statements: any[]): string[] {
  return statements.flatMap((s) => [s.Action].flat());
}

function logsStatement(stack: Stack, cleaner: PackerCleaner) {
  return {
    Sid: 'WriteOwnLogs',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Effect: 'Allow',
    Resource: { 'Fn::GetAtt': [logicalId(stack, cleaner.logGroup as logs.LogGroup), 'Arn'] },
  };
}

const TRACING_STATEMENT = { Sid: 'Tracing', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Effect: 'Allow', Resource: '*' };

function deadLetterStatement(stack: Stack, cleaner: PackerCleaner) {
  return { Sid: 'DeadLetterQueue', Action: 'sqs:SendMessage', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(stack, cleaner.deadLetterQueue as never), 'Arn'] } };
}

function publishStatements(stack: Stack, cleaner: PackerCleaner) {
  const topicId = logicalId(stack, cleaner.topic as sns.Topic);
  const keyId = stack.getLogicalId(cleaner.node.findChild('TopicKey').node.defaultChild as never);
  return [
    { Sid: 'PublishReports', Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: topicId } },
    { Sid: 'EncryptReports', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
  ];
}

const UNPROTECTED = { Null: { [`ec2:ResourceTag/${DEFAULT_PROTECTION_TAG_KEY}`]: 'true' } };

describe('IAM follows the configured behaviour', () => {
  test('NOTIFY (default): describe, publish to the topic and its key; nothing destructive', () => {
    const { stack, cleaner, template } = build();
    expect(handlerStatements(stack, cleaner, template)).toEqual([
      { Sid: 'DescribeFleet', Action: 'ec2:DescribeInstances', Effect: 'Allow', Resource: '*' },
      ...publishStatements(stack, cleaner),
    ]);
  });

  test('STOP: StopInstances on instance/* unless the protection tag is present', () => {
    const { stack, cleaner, template } = build({ action: PackerCleanerAction.STOP });
    const statements = handlerStatements(stack, cleaner, template);
    expect(statements.filter((s) => s.Sid === 'ActOnPackerInstances')).toEqual([{
      Sid: 'ActOnPackerInstances',
      Action: 'ec2:StopInstances',
      Effect: 'Allow',
      Resource: ec2Arn('instance/*'),
      Condition: UNPROTECTED,
    }]);
    expect(allowedActions(statements)).not.toContain('ec2:TerminateInstances');
  });

  test('TERMINATE: TerminateInstances only', () => {
    const { stack, cleaner, template } = build({ action: PackerCleanerAction.TERMINATE });
    const statements = handlerStatements(stack, cleaner, template);
    expect(statements.filter((s) => s.Sid === 'ActOnPackerInstances')).toEqual([{
      Sid: 'ActOnPackerInstances',
      Action: 'ec2:TerminateInstances',
      Effect: 'Allow',
      Resource: ec2Arn('instance/*'),
      Condition: UNPROTECTED,
    }]);
    expect(allowedActions(statements)).not.toContain('ec2:StopInstances');
  });

  test('NOTIFY + terminateStoppedAfter: TerminateInstances (stopped instances are terminated)', () => {
    const { stack, cleaner, template } = build({ terminateStoppedAfter: Duration.days(3) });
    const statements = handlerStatements(stack, cleaner, template);
    expect(statements.find((s) => s.Sid === 'ActOnPackerInstances')).toMatchObject({ Action: 'ec2:TerminateInstances' });
    expect(allowedActions(statements)).not.toContain('ec2:StopInstances');
  });

  test('STOP + terminateStoppedAfter: both instance actions in one statement', () => {
    const { stack, cleaner, template } = build({ action: PackerCleanerAction.STOP, terminateStoppedAfter: Duration.days(3) });
    expect(handlerStatements(stack, cleaner, template).find((s) => s.Sid === 'ActOnPackerInstances'))
      .toMatchObject({ Action: ['ec2:StopInstances', 'ec2:TerminateInstances'] });
  });

  test('tagSelector: instance actions also require each selected tag (StringEquals ec2:ResourceTag/K)', () => {
    const { stack, cleaner, template } = build({
      action: PackerCleanerAction.STOP,
      tagSelector: { 'packer-build': 'true', 'team': 'images' },
    });
    expect(handlerStatements(stack, cleaner, template).find((s) => s.Sid === 'ActOnPackerInstances')!.Condition).toEqual({
      ...UNPROTECTED,
      StringEquals: { 'ec2:ResourceTag/packer-build': 'true', 'ec2:ResourceTag/team': 'images' },
    });
  });

  test('custom protectionTagKey is the key of the Null condition of every destructive statement', () => {
    const { stack, cleaner, template } = build({
      action: PackerCleanerAction.TERMINATE, protectionTagKey: 'keep', cleanupKeyPairs: true, cleanupSecurityGroups: true,
    });
    const destructive = handlerStatements(stack, cleaner, template).filter((s) => s.Sid?.match(/^(ActOn|Delete)/));
    expect(destructive).toHaveLength(3);
    for (const s of destructive) expect(s.Condition).toEqual({ Null: { 'ec2:ResourceTag/keep': 'true' } });
  });

  test('cleanupKeyPairs: DescribeKeyPairs, and DeleteKeyPair scoped to key-pair/<pattern>', () => {
    const { stack, cleaner, template } = build({ cleanupKeyPairs: true, keyNamePatterns: ['packer_*', 'ci-packer-??'] });
    const statements = handlerStatements(stack, cleaner, template);
    expect(statements.find((s) => s.Sid === 'DescribeFleet').Action).toEqual(['ec2:DescribeInstances', 'ec2:DescribeKeyPairs']);
    expect(statements.filter((s) => s.Sid === 'DeletePackerKeyPairs')).toEqual([{
      Sid: 'DeletePackerKeyPairs',
      Action: 'ec2:DeleteKeyPair',
      Effect: 'Allow',
      Resource: [ec2Arn('key-pair/packer_*'), ec2Arn('key-pair/ci-packer-??')],
      Condition: UNPROTECTED,
    }]);
    expect(allowedActions(statements)).not.toContain('ec2:DeleteSecurityGroup');
  });

  test('cleanupSecurityGroups: DescribeSecurityGroups/DescribeNetworkInterfaces and DeleteSecurityGroup', () => {
    const { stack, cleaner, template } = build({ cleanupSecurityGroups: true });
    const statements = handlerStatements(stack, cleaner, template);
    expect(statements.find((s) => s.Sid === 'DescribeFleet').Action)
      .toEqual(['ec2:DescribeInstances', 'ec2:DescribeSecurityGroups', 'ec2:DescribeNetworkInterfaces']);
    expect(statements.filter((s) => s.Sid === 'DeletePackerSecurityGroups')).toEqual([{
      Sid: 'DeletePackerSecurityGroups',
      Action: 'ec2:DeleteSecurityGroup',
      Effect: 'Allow',
      Resource: ec2Arn('security-group/*'),
      Condition: UNPROTECTED,
    }]);
    expect(allowedActions(statements)).not.toContain('ec2:DeleteKeyPair');
  });

  test('TERMINATE + tagSelector + both cleanups: the full policy', () => {
    const { stack, cleaner, template } = build({
      action: PackerCleanerAction.TERMINATE,
      tagSelector: { 'packer-build': 'true' },
      cleanupKeyPairs: true,
      cleanupSecurityGroups: true,
    });
    expect(handlerStatements(stack, cleaner, template)).toEqual([
      {
        Sid: 'DescribeFleet',
        Action: ['ec2:DescribeInstances', 'ec2:DescribeKeyPairs', 'ec2:DescribeSecurityGroups', 'ec2:DescribeNetworkInterfaces'],
        Effect: 'Allow',
        Resource: '*',
      },
      {
        Sid: 'ActOnPackerInstances',
        Action: 'ec2:TerminateInstances',
        Effect: 'Allow',
        Resource: ec2Arn('instance/*'),
        Condition: { ...UNPROTECTED, StringEquals: { 'ec2:ResourceTag/packer-build': 'true' } },
      },
      {
        Sid: 'DeletePackerKeyPairs',
        Action: 'ec2:DeleteKeyPair',
        Effect: 'Allow',
        Resource: [ec2Arn('key-pair/packer_*'), ec2Arn('key-pair/packer *')],
        Condition: UNPROTECTED,
      },
      {
        Sid: 'DeletePackerSecurityGroups',
        Action: 'ec2:DeleteSecurityGroup',
        Effect: 'Allow',
        Resource: ec2Arn('security-group/*'),
        Condition: UNPROTECTED,
      },
      ...publishStatements(stack, cleaner),
    ]);
  });

  test.each([PackerCleanerAction.NOTIFY, PackerCleanerAction.STOP, PackerCleanerAction.TERMINATE])(
    'dryRun with %s: the full policy has no destructive statement at all', (action) => {
      const { stack, cleaner, template } = build({
        action, dryRun: true, terminateStoppedAfter: Duration.days(1), cleanupKeyPairs: true, cleanupSecurityGroups: true,
      });
      const statements = handlerStatements(stack, cleaner, template);
      expect(statements).toEqual([
        {
          Sid: 'DescribeFleet',
          Action: ['ec2:DescribeInstances', 'ec2:DescribeKeyPairs', 'ec2:DescribeSecurityGroups', 'ec2:DescribeNetworkInterfaces'],
          Effect: 'Allow',
          Resource: '*',
        },
        ...publishStatements(stack, cleaner),
      ]);
      for (const destructive of ALL_DESTRUCTIVE_ACTIONS) expect(allowedActions(statements)).not.toContain(destructive);
    });

  test('in a stack with an explicit environment the ARNs carry its account and region', () => {
    const { stack, cleaner, template } = build(
      { action: PackerCleanerAction.STOP }, newStack({ account: '123456789012', region: 'eu-central-1' }));
    expect(handlerStatements(stack, cleaner, template).find((s) => s.Sid === 'ActOnPackerInstances').Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:eu-central-1:123456789012:instance/*']],
    });
  });

  test('runtime policy (default): write its own logs, tracing, the dead-letter queue', () => {
    const { stack, cleaner, template } = build();
    expect(runtimeStatements(stack, cleaner, template))
      .toEqual([logsStatement(stack, cleaner), TRACING_STATEMENT, deadLetterStatement(stack, cleaner)]);
  });

  test('the role has no AWS managed policies, nothing inline, and only Lambda may assume it', () => {
    const { stack, cleaner, template } = build();
    handlerPolicies(stack, cleaner, template);
    const role = template.toJSON().Resources[logicalId(stack, handlerOf(cleaner).role)];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
  });
});

describe('schedule', () => {
  test('default: rate(1 hour), the sweep payload, 2 retries within an hour', () => {
    const { stack, cleaner, template } = build();
    const fnId = logicalId(stack, cleaner.handler as never);
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
        Input: JSON.stringify({ source: 'cdk-fleet-janitor.schedule' }),
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        RoleArn: { 'Fn::GetAtt': [logicalId(stack, cleaner.node.findChild('ScheduleRole') as iam.Role), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack, cleaner.deadLetterQueue as never), 'Arn'] } },
      },
    });
    expect(JSON.parse(template.findResources('AWS::Scheduler::Schedule')[logicalId(stack, cleaner.schedule as never)]
      .Properties.Target.Input)).toEqual(SCHEDULE_PAYLOAD);
  });

  test('custom cron expression', () => {
    const { template } = build({ schedule: scheduler.ScheduleExpression.cron({ minute: '15', hour: '*/3' }) });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(15 */3 * * ? *)' });
  });

  test('the scheduler role may invoke exactly the handler (no versions or aliases) and send to the dead-letter queue, in a managed policy, and is trusted by this account\'s schedules only', () => {
    const { stack, cleaner, template } = build();
    const fnId = logicalId(stack, cleaner.handler as never);
    const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule'))[0];
    const roleId = schedule.Properties.Target.RoleArn['Fn::GetAtt'][0];
    expect(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).toEqual({});
    const policies = Object.entries(template.findResources('AWS::IAM::ManagedPolicy', { Properties: { Roles: [{ Ref: roleId }] } }));
    expect(policies.map(([, p]) => p.Properties.PolicyDocument.Statement)).toEqual([[
      { Sid: 'InvokeSweep', Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [fnId, 'Arn'] } },
      deadLetterStatement(stack, cleaner),
    ]]);
    // The schedule starts once its role may invoke.
    expect(template.toJSON().Resources[logicalId(stack, cleaner.schedule as never)].DependsOn).toEqual([policies[0][0]]);
    expect(template.toJSON().Resources[roleId].Properties.AssumeRolePolicyDocument.Statement).toEqual([{
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Condition: {
        StringEquals: {
          'aws:SourceAccount': { Ref: 'AWS::AccountId' },
          'aws:SourceArn': {
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':schedule-group/default']],
          },
        },
      },
    }]);
  });
});

describe('environment of the handler', () => {
  test('defaults', () => {
    const { stack, cleaner, template } = build();
    expect(functionEnv(template)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'PackerCleaner',
      POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitor',
      TOPIC_ARN: { Ref: logicalId(stack, cleaner.topic as sns.Topic) },
      ACTION: 'NOTIFY',
      MAX_AGE_SECONDS: '7200',
      KEY_NAME_PATTERNS: '["packer_*","packer *"]',
      TAG_SELECTOR: '{}',
      PROTECTION_TAG_KEY: 'fleet-janitor:protect',
      DRY_RUN: 'false',
      MAX_ACTIONS_PER_RUN: '100',
      CLEANUP_KEY_PAIRS: 'false',
      CLEANUP_SECURITY_GROUPS: 'false',
    });
    expect(functionEnv(template)).not.toHaveProperty('TERMINATE_STOPPED_AFTER_SECONDS');
  });

  test('every prop', () => {
    const stack = newStack();
    const { template } = build({
      action: PackerCleanerAction.STOP,
      maxAge: Duration.minutes(90),
      terminateStoppedAfter: Duration.days(2),
      keyNamePatterns: ['packer_*', 'ami-build-?'],
      tagSelector: { 'packer-build': 'true' },
      protectionTagKey: 'keep-me',
      dryRun: true,
      maxActionsPerRun: 0,
      cleanupKeyPairs: true,
      cleanupSecurityGroups: true,
      topic: sns.Topic.fromTopicArn(stack, 'Imported', USER_TOPIC_ARN),
    }, stack);
    expect(functionEnv(template)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'PackerCleaner',
      POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitor',
      TOPIC_ARN: USER_TOPIC_ARN,
      ACTION: 'STOP',
      MAX_AGE_SECONDS: '5400',
      TERMINATE_STOPPED_AFTER_SECONDS: '172800',
      KEY_NAME_PATTERNS: '["packer_*","ami-build-?"]',
      TAG_SELECTOR: '{"packer-build":"true"}',
      PROTECTION_TAG_KEY: 'keep-me',
      DRY_RUN: 'true',
      MAX_ACTIONS_PER_RUN: '0',
      CLEANUP_KEY_PAIRS: 'true',
      CLEANUP_SECURITY_GROUPS: 'true',
    });
  });

  test.each([
    [PackerCleanerAction.NOTIFY, 'NOTIFY'],
    [PackerCleanerAction.STOP, 'STOP'],
    [PackerCleanerAction.TERMINATE, 'TERMINATE'],
  ])('ACTION for %s', (action, expected) => {
    expect(functionEnv(build({ action }).template).ACTION).toBe(expected);
  });

  test('number tokens are rendered as strings, not validated', () => {
    const stack = newStack();
    const param = new CfnParameter(stack, 'MaxActions', { type: 'Number' });
    const { template } = build({
      maxActionsPerRun: param.valueAsNumber,
      maxAge: Duration.seconds(Lazy.number({ produce: () => 30 })), // below the 1 minute minimum: not checked
      memorySize: Lazy.number({ produce: () => 64 }),
    }, stack);
    expect(functionEnv(template)).toMatchObject({ MAX_ACTIONS_PER_RUN: { Ref: 'MaxActions' }, MAX_AGE_SECONDS: '30' });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 64 });
  });
});

describe('function', () => {
  test('defaults: nodejs24.x on arm64, no concurrency reservation, 512 MiB, 5 minutes, active tracing, a dead-letter queue, own log group kept 30 days', () => {
    const { stack, cleaner, template } = build();
    template.resourceCountIs('AWS::Lambda::Function', 1);
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0].Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
      Timeout: 300,
      TracingConfig: { Mode: 'Active' },
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [logicalId(stack, cleaner.deadLetterQueue as never), 'Arn'] } },
      LoggingConfig: { LogGroup: { Ref: logicalId(stack, cleaner.logGroup as logs.LogGroup) } },
      Role: { 'Fn::GetAtt': [logicalId(stack, handlerOf(cleaner).role), 'Arn'] },
    });
    for (const absent of ['ReservedConcurrentExecutions', 'VpcConfig', 'KmsKeyArn']) expect(fn).not.toHaveProperty(absent);
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
    expect(Object.values(template.findResources('AWS::Logs::LogGroup'))[0].Properties).toEqual({ RetentionInDays: 30 });
  });

  test('the dead-letter queue: SSE, TLS only, 14 days', () => {
    const { stack, cleaner, template } = build();
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    const queueId = logicalId(stack, cleaner.deadLetterQueue as never);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  test('reserveConcurrency: one run at a time', () => {
    build({ reserveConcurrency: true }).template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1 });
  });

  test.each([
    [lambda.Tracing.PASS_THROUGH, { TracingConfig: { Mode: 'PassThrough' } }, true],
    [lambda.Tracing.DISABLED, {}, false],
  ])('tracing %s', (tracing, expected, statement) => {
    const { stack, cleaner, template } = build({ tracing });
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0].Properties;
    expect(fn.TracingConfig).toEqual((expected as any).TracingConfig);
    expect(runtimeStatements(stack, cleaner, template).some((s) => s.Sid === 'Tracing')).toBe(statement);
  });

  test('environmentEncryptionKey encrypts the environment', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'EnvKey', { enableKeyRotation: true });
    build({ environmentEncryptionKey: key }, stack).template.hasResourceProperties('AWS::Lambda::Function', {
      KmsKeyArn: { 'Fn::GetAtt': [logicalId(stack, key), 'Arn'] },
    });
  });

  test('vpc: the function runs in the selected subnets with the given security group, and may manage its network interfaces', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const sg = new ec2.SecurityGroup(stack, 'Sg', { vpc });
    const { cleaner, template } = build({ vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, securityGroups: [sg] }, stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SecurityGroupIds: [{ 'Fn::GetAtt': [logicalId(stack, sg), 'GroupId'] }],
        SubnetIds: vpc.privateSubnets.map((subnet) => ({ Ref: logicalId(stack, subnet as ec2.Subnet) })),
      },
    });
    expect(runtimeStatements(stack, cleaner, template).find((s) => s.Sid === 'VpcNetworking')).toEqual({
      Sid: 'VpcNetworking',
      Action: [
        'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
      ],
      Effect: 'Allow',
      Resource: '*',
    });
  });

  test('logEncryptionKey: the log group is encrypted, named under a prefix the key policy lets CloudWatch Logs use, and per stack', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'LogKey', { enableKeyRotation: true });
    const { template } = build({ logEncryptionKey: key }, stack);
    const prefix = '/cdk-fleet-janitor/TestStack-Cleaner-Handler-';
    const group = Object.values(template.findResources('AWS::Logs::LogGroup'))[0].Properties;
    expect(group.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalId(stack, key), 'Arn'] });
    const [head, uuid] = group.LogGroupName['Fn::Join'][1];
    expect(head).toMatch(new RegExp(`^${prefix}[0-9A-F]{8}-LogGroup/$`));
    expect(uuid).toEqual({ 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] });
    const keyStatements = Object.values(template.findResources('AWS::KMS::Key'))
      .find((k) => JSON.stringify(k.Properties.KeyPolicy).includes('logs.'))!.Properties.KeyPolicy.Statement;
    expect(keyStatements.filter((st: any) => JSON.stringify(st.Principal).includes('logs.'))).toEqual([{
      Effect: 'Allow',
      Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
      Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      Resource: '*',
      Condition: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': {
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:log-group:${head}*`]],
          },
        },
      },
    }]);
  });

  test('logEncryptionKey imported: synth warns with the statement the key policy needs', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(stack, 'LogKey', 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    build({ logEncryptionKey: key }, stack);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('logEncryptionKey is imported'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0].entry.data)).toMatch(new RegExp('^logEncryptionKey is imported, so its key policy cannot be changed here. '
      + 'Let CloudWatch Logs use it for TestStack/Cleaner/Handler/LogGroup: '
      + 'allow principal logs.<region>.amazonaws.com kms:Encrypt\\*, kms:Decrypt\\*, kms:ReEncrypt\\*, kms:GenerateDataKey\\*, kms:Describe\\* '
      + 'on condition ArnLike kms:EncryptionContext:aws:logs:arn = arn:<partition>:logs:<region>:<account>:log-group:'
      + '/cdk-fleet-janitor/TestStack-Cleaner-Handler-[0-9A-F]{8}-LogGroup/\\* \\[ack: cdk-fleet-janitor:logEncryptionKeyPolicy\\]$'));
  });

  test('logEncryptionKey imported: a user who has set up the key policy acknowledges the warning by its id', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(stack, 'LogKey', 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    const cleaner = new PackerCleaner(stack, 'Cleaner', { logEncryptionKey: key });
    CoreAnnotations.of(cleaner).acknowledgeWarning('cdk-fleet-janitor:logEncryptionKeyPolicy', 'key policy set up by the security team');
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('logEncryptionKey is imported'))).toHaveLength(0);
  });

  test('keyNamePatterns of 255 characters, or that begin with wildcards, are accepted', () => {
    const { template } = build({ keyNamePatterns: [`packer_${'x'.repeat(248)}`, '*?build_*'] });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { KEY_NAME_PATTERNS: JSON.stringify([`packer_${'x'.repeat(248)}`, '*?build_*']) } },
    });
  });

  test('the function runs the pre-built packer-cleaner bundle, on Node.js arm64', () => {
    const { stack, cleaner, template } = build();
    // The same folder as an asset of another stack: the same content hash, so the same S3 key.
    const expected = lambda.Code.fromAsset(nodePath.join(ASSETS_DIR, 'packer-cleaner')).bind(newStack()).s3Location!.objectKey;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Code: { S3Key: expected },
      Handler: 'index.handler',
      Architectures: ['arm64'],
      Runtime: Match.stringLikeRegexp('^nodejs\\d+\\.x$'),
    });
    expect(stack.resolve((cleaner.handler.node.defaultChild as lambda.CfnFunction).code)).toMatchObject({ s3Key: expected });
  });

  test('a statement the user adds to the handler lands in a policy of its own, not in ours', () => {
    const stack = newStack();
    const cleaner = new PackerCleaner(stack, 'Cleaner');
    cleaner.handler.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
    const template = Template.fromStack(stack);
    const ours = [handlerOf(cleaner).policy, handlerOf(cleaner).runtimePolicy].map((p) => template.toJSON().Resources[logicalId(stack, p)]);
    expect(JSON.stringify(ours)).toContain('ec2:DescribeInstances');
    expect(JSON.stringify(ours)).not.toContain('s3:GetObject');
    const inline = Object.values(template.findResources('AWS::IAM::Policy'));
    expect(inline).toHaveLength(1);
    expect(inline[0].Properties.PolicyDocument.Statement).toEqual([{ Action: 's3:GetObject', Effect: 'Allow', Resource: '*' }]);
    expect(() => expectNoNagFindings(stack, { packs: ['AwsSolutions'] })).toThrow(/AwsSolutions-IAM5\[Resource::\*\]/);
  });

  test('custom memory, timeout and log retention', () => {
    const { template } = build({ memorySize: 1024, timeout: Duration.minutes(15), logRetention: logs.RetentionDays.ONE_WEEK });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, Timeout: 900 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  test('the function waits for its policies (it writes logs from its first invocation), not for its role, which its GetAtt implies', () => {
    const { stack, cleaner, template } = build();
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const { policy, runtimePolicy } = handlerOf(cleaner);
    expect([...fn.DependsOn].sort()).toEqual([logicalId(stack, policy), logicalId(stack, runtimePolicy)].sort());
  });
});

describe('topic and alarms', () => {
  test('created topic: encrypted with a rotating KMS key that CloudWatch may use, refusing non-TLS publishers', () => {
    const { stack, cleaner, template } = build();
    const topicId = logicalId(stack, cleaner.topic as sns.Topic);
    const keyId = stack.getLogicalId(cleaner.node.findChild('TopicKey').node.defaultChild as never);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([{
          Sid: 'AllowCloudWatchAlarmsToPublish',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Resource: '*',
        }]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Deny',
          Action: 'sns:Publish',
          Principal: '*',
          Resource: { Ref: topicId },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        })]),
      },
    });
  });

  test('every alarm notifies the created topic', () => {
    const { stack, cleaner, template } = build();
    const topicId = logicalId(stack, cleaner.topic as sns.Topic);
    const fnId = logicalId(stack, cleaner.handler as never);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    expect(cleaner.alarms).toEqual([cleaner.errorAlarm, cleaner.throttleAlarm, cleaner.deadLetterAlarm]);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, cleaner.deadLetterQueue as never), 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
    for (const metricName of ['Errors', 'Throttles']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metricName,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topicId }],
      });
    }
    expect(stack.resolve((cleaner.errorAlarm as cloudwatch.Alarm).alarmArn)).toEqual(
      { 'Fn::GetAtt': [logicalId(stack, cleaner.errorAlarm as cloudwatch.Alarm), 'Arn'] });
  });

  test('imported topic: no topic or key is created; alarms, environment and grant use it', () => {
    const stack = newStack();
    const topic = sns.Topic.fromTopicArn(stack, 'Alerts', USER_TOPIC_ARN);
    const { cleaner, template } = build({ topic }, stack);
    expect(cleaner.topic).toBe(topic);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::SNS::TopicPolicy', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.map((a) => a.Properties.AlarmActions)).toEqual([[USER_TOPIC_ARN], [USER_TOPIC_ARN], [USER_TOPIC_ARN]]);
    expect(functionEnv(template).TOPIC_ARN).toBe(USER_TOPIC_ARN);
    expect(handlerStatements(stack, cleaner, template)).toEqual([
      { Sid: 'DescribeFleet', Action: 'ec2:DescribeInstances', Effect: 'Allow', Resource: '*' },
      { Sid: 'PublishReports', Action: 'sns:Publish', Effect: 'Allow', Resource: USER_TOPIC_ARN },
    ]);
  });

  test('topic created by the user with their key: grant covers the topic and exactly the two KMS actions on their key', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'UserKey', { enableKeyRotation: true });
    const topic = new sns.Topic(stack, 'UserTopic', { masterKey: key, enforceSSL: true });
    const { cleaner, template } = build({ topic }, stack);
    const topicId = logicalId(stack, topic);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::KMS::Key', 1);
    expect(cleaner.node.tryFindChild('Topic')).toBeUndefined();
    expect(cleaner.node.tryFindChild('TopicKey')).toBeUndefined();
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmActions))
      .toEqual([[{ Ref: topicId }], [{ Ref: topicId }], [{ Ref: topicId }]]);
    expect(functionEnv(template).TOPIC_ARN).toEqual({ Ref: topicId });
    expect(handlerStatements(stack, cleaner, template).slice(-2)).toEqual([
      { Sid: 'PublishReports', Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: topicId } },
      { Sid: 'EncryptReports', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(stack, key), 'Arn'] } },
    ]);
  });
});

describe('validation: a clear error naming the bad value, before any resource exists', () => {
  const cases: Array<[string, PackerCleanerProps, string | RegExp]> = [
    ['maxAge below 1 minute', { maxAge: Duration.seconds(59) }, 'invalid maxAge (59 seconds): must be at least 1 minute'],
    ['maxAge with a fraction of a second', { maxAge: Duration.millis(90_500) }, 'invalid maxAge (90.5 seconds): must be a whole number of seconds'],
    ['maxAge above 366 days', { maxAge: Duration.days(367) }, 'invalid maxAge (367 days): must be at most 366 days'],
    ['terminateStoppedAfter below 1 minute', { terminateStoppedAfter: Duration.seconds(1) }, 'invalid terminateStoppedAfter (1 second)'],
    ['maxActionsPerRun -1', { maxActionsPerRun: -1 }, 'invalid maxActionsPerRun (-1): must be an integer from 0 to 100000'],
    ['maxActionsPerRun 1.5', { maxActionsPerRun: 1.5 }, 'invalid maxActionsPerRun (1.5): must be an integer from 0 to 100000'],
    ['keyNamePatterns []', { keyNamePatterns: [] }, 'invalid keyNamePatterns ([]): at least one pattern is required'],
    ['keyNamePatterns ["*"]', { keyNamePatterns: ['*'] }, 'invalid keyNamePatterns ("*"): a pattern made only of wildcards'],
    ['keyNamePatterns ["packer_*", "?*"]', { keyNamePatterns: ['packer_*', '?*'] }, 'invalid keyNamePatterns ("?*")'],
    ['keyNamePatterns [""]', { keyNamePatterns: [''] }, 'invalid keyNamePatterns (""): a pattern must have 1 to 255 characters'],
    ['keyNamePatterns of 256 characters', { keyNamePatterns: [`packer_${'x'.repeat(249)}`] },
      /^PackerCleaner: invalid keyNamePatterns \("packer_x{249}"\): a pattern must have 1 to 255 characters$/],
    ['keyNamePatterns with a token', { keyNamePatterns: [Lazy.string({ produce: () => 'packer_*' })] },
      /^PackerCleaner: invalid keyNamePatterns \("\$\{Token\[TOKEN\.\d+\]\}"\): patterns must be known at synth time/],
    ['protectionTagKey ""', { protectionTagKey: '' }, 'invalid protectionTagKey (""): a tag key must have 1 to 128 characters'],
    ['tagSelector on the default protection key', { tagSelector: { [DEFAULT_PROTECTION_TAG_KEY]: 'x' } },
      'invalid tagSelector ({"fleet-janitor:protect":"x"}): must not select on the protection tag "fleet-janitor:protect"'],
    ['tagSelector on a custom protection key', { protectionTagKey: 'keep', tagSelector: { team: 'a', keep: 'no' } },
      'invalid tagSelector ({"team":"a","keep":"no"}): must not select on the protection tag "keep"'],
    ['tagSelector with an empty key', { tagSelector: { '': 'x' } }, 'invalid tagSelector key ("")'],
    ['memorySize 64', { memorySize: 64 }, 'invalid memorySize (64): must be an integer from 128 to 10240'],
    ['timeout 20 minutes', { timeout: Duration.minutes(20) }, 'invalid timeout (20 minutes): must be at most 15 minutes'],
    ['an unknown action', { action: 'DELETE' as PackerCleanerAction }, 'invalid action ("DELETE"): must be one of NOTIFY, STOP, TERMINATE'],
    ['a rate as long as the default timeout', { schedule: scheduler.ScheduleExpression.rate(Duration.minutes(5)) },
      'invalid schedule ("rate(5 minutes)"): a rate schedule must be longer than the function timeout (5 minutes), or two runs could overlap'],
    ['a rate shorter than the timeout', { schedule: scheduler.ScheduleExpression.rate(Duration.minutes(10)), timeout: Duration.minutes(15) },
      'invalid schedule ("rate(10 minutes)"): a rate schedule must be longer than the function timeout (15 minutes)'],
    ['an unknown tracing mode', { tracing: 'Sometimes' as lambda.Tracing }, 'invalid tracing ("Sometimes"): must be one of Active, PassThrough, Disabled'],
    ['vpcSubnets without a vpc', { vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }, 'invalid vpcSubnets ("(set)"): needs the vpc prop'],
  ];

  test.each(cases)('%s', (_name, props, message) => {
    const stack = newStack();
    expect(() => new PackerCleaner(stack, 'Cleaner', props)).toThrow(typeof message === 'string' ? `PackerCleaner: ${message}` : message);
    expect(stack.node.children).toHaveLength(0);
  });

  test('securityGroups without a vpc', () => {
    const stack = newStack();
    const sg = ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-12345678');
    expect(() => new PackerCleaner(stack, 'Cleaner', { securityGroups: [sg] })).toThrow('PackerCleaner: invalid securityGroups (["TestStack/Sg"]): needs the vpc prop');
    expect(stack.node.tryFindChild('Cleaner')).toBeUndefined();
  });

  test('a rate one minute longer than the timeout, a cron and an hourly rate with a 15 minute timeout are accepted', () => {
    expect(() => build({ schedule: scheduler.ScheduleExpression.rate(Duration.minutes(6)) })).not.toThrow();
    expect(() => build({ schedule: scheduler.ScheduleExpression.cron({ minute: '*/5' }) })).not.toThrow();
    expect(() => build({ schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), timeout: Duration.minutes(15) })).not.toThrow();
    expect(() => build({ schedule: scheduler.ScheduleExpression.rate(Duration.days(1)), timeout: Duration.minutes(15) })).not.toThrow();
  });

  test('boundaries are accepted', () => {
    expect(() => build({
      maxAge: Duration.minutes(1),
      maxActionsPerRun: 0,
      memorySize: 128,
      timeout: Duration.minutes(15),
      keyNamePatterns: ['p*'],
      protectionTagKey: 'k'.repeat(128),
    })).not.toThrow();
  });
});

describe('metrics', () => {
  const methods: Array<[keyof PackerCleaner, string]> = [
    ['metricResourcesScanned', METRIC_NAMES.scanned],
    ['metricActionsTaken', METRIC_NAMES.actionsTaken],
    ['metricActionsFailed', METRIC_NAMES.actionsFailed],
    ['metricSkippedProtected', METRIC_NAMES.skippedProtected],
    ['metricSkippedCap', METRIC_NAMES.skippedCap],
  ];

  test('every metric the handler emits has a method', () => {
    expect(methods.map(([, name]) => name).sort()).toEqual(Object.values(METRIC_NAMES).sort());
  });

  test.each(methods)('%s: %s in CdkFleetJanitor by service and function name', (method, metricName) => {
    const { stack, cleaner } = build();
    const metric = (cleaner[method] as (props?: cloudwatch.MetricOptions) => cloudwatch.Metric).call(cleaner);
    expect(metric.namespace).toBe(METRICS_NAMESPACE);
    expect(metric.namespace).toBe('CdkFleetJanitor');
    expect(metric.metricName).toBe(metricName);
    expect(metric.statistic).toBe('Sum');
    expect(metric.period.toSeconds()).toBe(3600);
    expect(stack.resolve(metric.dimensions)).toEqual({
      service: 'PackerCleaner',
      FunctionName: { Ref: logicalId(stack, cleaner.handler as never) },
    });
  });

  test('metric options override the defaults', () => {
    const { cleaner } = build();
    const metric = cleaner.metricActionsTaken({ period: Duration.minutes(5), statistic: 'Maximum' });
    expect(metric.period.toSeconds()).toBe(300);
    expect(metric.statistic).toBe('Maximum');
  });

  test('the service dimension is the handler\'s Powertools service name', () => {
    const { cleaner, template } = build();
    expect(functionEnv(template).POWERTOOLS_SERVICE_NAME).toBe(cleaner.metricSkippedCap().dimensions!.service);
    expect(functionEnv(template).POWERTOOLS_METRICS_NAMESPACE).toBe(cleaner.metricSkippedCap().namespace);
  });
});

describe('snapshot', () => {
  test('representative stack', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner', {
      action: PackerCleanerAction.STOP,
      terminateStoppedAfter: Duration.days(7),
      tagSelector: { 'packer-build': 'true' },
      cleanupKeyPairs: true,
      cleanupSecurityGroups: true,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
    });
    const template = maskedTemplate(stack);
    expect(JSON.stringify(template)).not.toMatch(/[0-9a-f]{64}/);
    expect(template).toMatchSnapshot();
  });
});

describe('five cdk-nag rule packs (AwsSolutions, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1, Serverless)', () => {
  test('everything on: no unacknowledged finding, and the findings that a VPC, a log key and a reservation fix are not acknowledged', () => {
    const stack = newStack();
    const { props, user } = everythingOn(stack);
    new PackerCleaner(stack, 'Cleaner', props);
    const rules = new Set(expectNoNagFindings(stack, { userConstructs: [user] }).map((f) => f.ruleId));
    // What stays acknowledged: wildcards IAM cannot narrow, and the dead-letter queue having no dead-letter queue of its own.
    expect([...rules].sort()).toEqual(['AwsSolutions-IAM5', 'Serverless-SQSRedrivePolicy']);
  });

  test('defaults: each remaining finding is acknowledged on the resource it is about, with its reason', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner');
    const acknowledged = expectNoNagFindings(stack);
    const byRule = (rule: string) => acknowledged.filter((f) => f.ruleId === rule).map((f) => f.path);
    for (const pack of ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321']) {
      expect(byRule(`${pack}-LambdaInsideVPC`)).toEqual(['TestStack/Cleaner/Handler/Function/Resource']);
      expect(byRule(`${pack}-CloudWatchLogGroupEncrypted`)).toEqual(['TestStack/Cleaner/Handler/LogGroup/Resource']);
    }
    for (const pack of ['NIST.800.53.R5', 'HIPAA.Security']) {
      expect(byRule(`${pack}-LambdaConcurrency`)).toEqual(['TestStack/Cleaner/Handler/Function/Resource']);
    }
    expect(byRule('Serverless-SQSRedrivePolicy')).toEqual(['TestStack/Cleaner/Handler/DeadLetterQueue/Resource']);
    expect(acknowledged.find((f) => f.ruleId === 'NIST.800.53.R5-LambdaConcurrency')!.reason).toMatch(/minimum unreserved concurrency/);
    expect(acknowledged.find((f) => f.path === 'TestStack/Cleaner/Handler/RuntimePolicy/Resource')).toMatchObject({
      ruleId: 'AwsSolutions-IAM5', findingId: 'Resource::*', reason: expect.stringMatching(/^\[Resource::\*\] xray:PutTraceSegments, xray:PutTelemetryRecords: X-Ray supports no resource-level permissions\.$/),
    });
    expect(new Set(acknowledged.map((f) => f.ruleId))).toEqual(new Set([
      'AwsSolutions-IAM5', 'Serverless-SQSRedrivePolicy',
      ...['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'].flatMap((p) => [`${p}-LambdaInsideVPC`, `${p}-CloudWatchLogGroupEncrypted`]),
      ...['NIST.800.53.R5', 'HIPAA.Security'].map((p) => `${p}-LambdaConcurrency`),
    ]));
  });

  test('tracing turned off by the user is reported, not acknowledged', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner', { tracing: lambda.Tracing.DISABLED });
    expect(() => expectNoNagFindings(stack, { packs: ['Serverless'] })).toThrow(/Serverless-LambdaTracing/);
  });
});

describe('cdk-nag, every pack, in more configurations', () => {
  const configurations: Array<[string, (stack: Stack) => PackerCleanerProps]> = [
    ['default', () => ({})],
    ['TERMINATE + tagSelector + both cleanups', () => ({
      action: PackerCleanerAction.TERMINATE, tagSelector: { 'packer-build': 'true' }, cleanupKeyPairs: true, cleanupSecurityGroups: true,
    })],
    ['STOP + terminateStoppedAfter + custom patterns', () => ({
      action: PackerCleanerAction.STOP, terminateStoppedAfter: Duration.days(1), keyNamePatterns: ['ci-*-packer', 'img-??'], cleanupKeyPairs: true,
    })],
    ['dryRun with everything enabled', () => ({
      action: PackerCleanerAction.TERMINATE, dryRun: true, cleanupKeyPairs: true, cleanupSecurityGroups: true,
    })],
    ['user topic (imported)', (stack) => ({
      topic: sns.Topic.fromTopicArn(stack, 'Alerts', USER_TOPIC_ARN), action: PackerCleanerAction.TERMINATE, cleanupSecurityGroups: true,
    })],
    ['user topic with its own key', (stack) => ({
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
    })],
    ['non-Latin-1 protection tag key', () => ({
      protectionTagKey: '保護', action: PackerCleanerAction.TERMINATE, cleanupKeyPairs: true, cleanupSecurityGroups: true,
    })],
  ];

  test.each(configurations)('%s: no unacknowledged finding', (_name, props) => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner', props(stack));
    expectNoNagFindings(stack);
  });

  test('with an explicit environment the acknowledgements still match the findings exactly', () => {
    const stack = newStack({ account: '123456789012', region: 'eu-central-1' });
    new PackerCleaner(stack, 'Cleaner', { action: PackerCleanerAction.TERMINATE, cleanupKeyPairs: true, cleanupSecurityGroups: true });
    expect(expectNoNagFindings(stack).filter((f) => f.ruleId === 'AwsSolutions-IAM5').map((f) => f.findingId).sort()).toEqual([
      'Resource::*',
      'Resource::*',
      'Resource::arn:<AWS::Partition>:ec2:eu-central-1:123456789012:instance/*',
      'Resource::arn:<AWS::Partition>:ec2:eu-central-1:123456789012:key-pair/packer *',
      'Resource::arn:<AWS::Partition>:ec2:eu-central-1:123456789012:key-pair/packer_*',
      'Resource::arn:<AWS::Partition>:ec2:eu-central-1:123456789012:security-group/*',
    ]);
  });

  /** The reason as written in the construct; cdk-nag's report puts the finding in brackets before it. */
  const reasonOf = (acknowledged: Array<{ findingId: string; reason: string }>, which: (findingId: string) => boolean) => {
    const finding = acknowledged.find((f) => which(f.findingId))!;
    expect(finding.reason.startsWith(`[${finding.findingId}] `)).toBe(true);
    return finding.reason.slice(finding.findingId.length + 3);
  };

  test('only the wildcard resources of the handler policy are acknowledged, each with its own reason', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner', {
      action: PackerCleanerAction.TERMINATE, tagSelector: { 'packer-build': 'true' }, cleanupKeyPairs: true, cleanupSecurityGroups: true,
    });
    const acknowledged = expectNoNagFindings(stack).filter((f) => f.path === 'TestStack/Cleaner/Handler/Policy/Resource');
    const expected = [
      'Resource::*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:key-pair/packer_*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:key-pair/packer *',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*',
    ];
    expect(acknowledged.map(({ path, ruleId, findingId }) => ({ path, ruleId, findingId }))).toEqual(
      expected.map((findingId) => ({ path: 'TestStack/Cleaner/Handler/Policy/Resource', ruleId: 'AwsSolutions-IAM5', findingId })));
    const reason = (fragment: string) => reasonOf(acknowledged, (id) => id.includes(fragment));
    // The reasons are what a compliance reviewer reads in the cdk-nag report: each says why, and what limits the grant.
    expect(reason('Resource::*')).toBe('ec2:DescribeInstances, ec2:DescribeKeyPairs, ec2:DescribeSecurityGroups, ec2:DescribeNetworkInterfaces: '
      + 'EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; they are read-only.');
    expect(reason('instance/*')).toBe('ec2:TerminateInstances on instance/*: the ids of Packer\'s build instances are not known in advance; '
      + 'the grant is limited by ec2:ResourceTag conditions (no "fleet-janitor:protect" tag, and the tagSelector tags) and the handler only acts on '
      + 'instances whose key pair name matches keyNamePatterns and that are older than maxAge.');
    expect(reason('key-pair/')).toBe('ec2:DeleteKeyPair on key-pair/<keyNamePatterns>: key pair ARNs carry the key name, and Packer names each '
      + 'temporary key with a new UUID, so the grant is limited to the configured name patterns (never a bare *), '
      + 'and to key pairs without a "fleet-janitor:protect" tag.');
    expect(reason('security-group/*')).toBe('ec2:DeleteSecurityGroup on security-group/*: security group ARNs carry the group id, not its name, '
      + 'and Packer creates a new group per build; the grant excludes groups with a "fleet-janitor:protect" tag, the handler only deletes '
      + 'groups named like keyNamePatterns, older than maxAge and attached to no network interface, and EC2 refuses to '
      + 'delete a group that is still in use.');
  });

  test('key pair patterns without "*" need no acknowledgement: only the wildcard ones are acknowledged', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner', { dryRun: true, cleanupKeyPairs: true, keyNamePatterns: ['ci-build-key', 'ci_*'] });
    let findings = expectNoNagFindings(stack).filter((f) => f.findingId.includes('key-pair/')).map((f) => f.findingId);
    expect(findings).toEqual([]); // a dry run grants no deletes

    const live = newStack();
    const cleaner = new PackerCleaner(live, 'Cleaner', { cleanupKeyPairs: true, keyNamePatterns: ['ci-build-key', 'ci_*'] });
    findings = expectNoNagFindings(live).filter((f) => f.findingId.includes('key-pair/')).map((f) => f.findingId);
    expect(findings).toEqual(['Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:key-pair/ci_*']);
    // nor is the literal one acknowledged in advance, which would hide a later finding on it
    const policy = handlerOf(cleaner).policy.node.defaultChild as iam.CfnManagedPolicy;
    const acknowledgedFindings = policy.getMetadata('cdk_nag').rules_to_suppress.flatMap((r: any) => r.applies_to ?? []);
    expect(acknowledgedFindings.filter((f: string) => f.includes('key-pair/'))).toEqual(['Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:key-pair/ci_*']);

    const literal = newStack();
    new PackerCleaner(literal, 'Cleaner', { cleanupKeyPairs: true, keyNamePatterns: ['ci-build-key'] });
    expect(expectNoNagFindings(literal).filter((f) => f.findingId.includes('key-pair/'))).toEqual([]);
  });

  test('STOP without a tagSelector: the instance grant\'s reason names the stop action and the protection tag only', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner', { action: PackerCleanerAction.STOP, protectionTagKey: 'keep' });
    const acknowledged = expectNoNagFindings(stack).filter((f) => f.path === 'TestStack/Cleaner/Handler/Policy/Resource');
    expect(reasonOf(acknowledged, (id) => id.includes('instance/*'))).toBe('ec2:StopInstances on instance/*: the ids of Packer\'s build '
      + 'instances are not known in advance; the grant is limited by ec2:ResourceTag conditions (no "keep" tag) and the handler only acts on '
      + 'instances whose key pair name matches keyNamePatterns and that are older than maxAge.');
    expect(reasonOf(acknowledged, (id) => id === 'Resource::*')).toBe('ec2:DescribeInstances: '
      + 'EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; they are read-only.');
  });

  test('a reason with characters beyond Latin-1 is stored base64-encoded, as cdk-nag expects, and read back intact', () => {
    const stack = newStack();
    const cleaner = new PackerCleaner(stack, 'Cleaner', { protectionTagKey: '保護', action: PackerCleanerAction.STOP });
    const policy = handlerOf(cleaner).policy.node.defaultChild as iam.CfnManagedPolicy;
    const stored = policy.getMetadata('cdk_nag').rules_to_suppress;
    expect(stored.find((s: any) => s.applies_to[0].includes('instance/*'))).toMatchObject({ is_reason_encoded: true });
    const acknowledged = expectNoNagFindings(stack);
    expect(acknowledged.find((f) => f.findingId.includes('instance/*'))!.reason).toContain('no "保護" tag');
  });

  test('the check is not vacuous: a wildcard policy next to the construct is reported', () => {
    const stack = newStack();
    new PackerCleaner(stack, 'Cleaner');
    const role = new iam.Role(stack, 'Other', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:TerminateInstances'], resources: ['*'] }));
    expect(() => expectNoNagFindings(stack)).toThrow(/TestStack\/Other\/DefaultPolicy\/Resource: AwsSolutions-IAM5\[Resource::\*\]/);
  });
});
