import * as nodePath from 'path';
import { App, CfnParameter, Duration, Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { METRIC_NAMES } from '../../lambda/shared/telemetry';
import { ImageRetention, ImageRetentionProps, RetentionAction } from '../../src';
import { ASSETS_DIR, HandlerFunction } from '../../src/common/handler-function';
import { METRICS_NAMESPACE } from '../../src/common/metrics';
import { SCHEDULE_PAYLOAD } from '../../src/common/schedule';
import { ENV } from '../../src/image-retention/contract';
import { IMAGE_USAGE_READER_ROLE_ARN, imageRetentionEverythingOn as everythingOn } from '../helpers/configurations';
import { expectNoNagFindings } from '../helpers/nag';
import { maskedTemplate } from '../helpers/template';

const USER_TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:platform-alerts';
const READER = 'arn:aws:iam::111111111111:role/ImageUsageReader';
const OTHER_READER = 'arn:aws-cn:iam::333333333333:role/team/readers/ImageUsageReader';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

function newStack(env?: { account: string; region: string }): Stack {
  return new Stack(new App(), 'TestStack', { env });
}

function build(props: ImageRetentionProps = {}, stack = newStack()) {
  const retention = new ImageRetention(stack, 'Retention', props);
  return { stack, retention, template: Template.fromStack(stack) };
}

/** Two repositories of the team's, imported by name (their names are known at synth). */
function teamRepositories(stack: Stack): ecr.IRepository[] {
  return [ecr.Repository.fromRepositoryName(stack, 'WebRepo', 'team/web'), ecr.Repository.fromRepositoryName(stack, 'ApiRepo', 'api')];
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  const child = construct?.node.defaultChild;
  if (!child) throw new Error('no CloudFormation resource');
  return stack.getLogicalId(child as never);
}

function handlerOf(retention: ImageRetention): HandlerFunction {
  return retention.node.findChild('Handler') as HandlerFunction;
}

/** The managed policies attached to the handler's role: [runtime policy, the construct's policy]; nothing inline. */
function handlerPolicies(stack: Stack, retention: ImageRetention, template: Template): any[] {
  const roleId = logicalId(stack, handlerOf(retention).role);
  const managed = Object.entries(template.findResources('AWS::IAM::ManagedPolicy', { Properties: { Roles: [{ Ref: roleId }] } }));
  expect(managed.map(([id]) => id)).toEqual([logicalId(stack, handlerOf(retention).runtimePolicy), logicalId(stack, handlerOf(retention).policy)]);
  expect(Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))).toEqual([]);
  return managed.map(([, policy]) => policy);
}

/** The statements of the construct's own managed policy, in order. */
function handlerStatements(stack: Stack, retention: ImageRetention, template: Template): any[] {
  return handlerPolicies(stack, retention, template)[1].Properties.PolicyDocument.Statement;
}

function functionEnv(template: Template): Record<string, unknown> {
  const functions = Object.values(template.findResources('AWS::Lambda::Function'));
  expect(functions).toHaveLength(1);
  return functions[0].Properties.Environment.Variables;
}

/** `arn:${Partition}:<service>:${Region}:${Account}:<resource>` as an env-agnostic stack renders it. */
function arn(service: string, resource: string) {
  return {
    'Fn::Join': ['', [
      'arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`,
    ]],
  };
}

const ANY_REPOSITORY = arn('ecr', 'repository/*');
const ANY_REVISION = arn('ecs', 'task-definition/*');
const REPOSITORY_READS = ['ecr:DescribeImages', 'ecr:BatchGetImage', 'ecr:ListTagsForResource', 'ecr:GetRepositoryPolicy'];
const USAGE_READS = [
  'ecs:ListClusters', 'ecs:ListServices', 'ecs:DescribeServices', 'ecs:DescribeServiceRevisions', 'ecs:ListTasks', 'ecs:DescribeTasks', 'ecs:DescribeTaskDefinition',
  'events:ListEventBuses', 'events:ListRules', 'events:ListTargetsByRule',
  'scheduler:ListSchedules', 'scheduler:GetSchedule',
  'lambda:ListFunctions', 'lambda:GetFunction',
];
const DESTRUCTIVE_ACTIONS = ['ecr:BatchDeleteImage', 'ecs:DeregisterTaskDefinition', 'ecs:DeleteTaskDefinitions'];
const UNPROTECTED = { Null: { 'aws:ResourceTag/fleet-janitor:protect': 'true' } };
const OPTED_IN = { StringEquals: { 'aws:ResourceTag/fleet-janitor:image-retention': 'enabled' } };

const LIST_REPOSITORIES = { Sid: 'ListRepositories', Action: 'ecr:DescribeRepositories', Effect: 'Allow', Resource: '*' };
const READ_ANY_REPOSITORY = { Sid: 'ReadRepositories', Action: REPOSITORY_READS, Effect: 'Allow', Resource: ANY_REPOSITORY };
const READ_USAGE = { Sid: 'ReadImageUsage', Action: USAGE_READS, Effect: 'Allow', Resource: '*' };
const LIST_TASK_DEFINITIONS = { Sid: 'ListTaskDefinitions', Action: 'ecs:ListTaskDefinitions', Effect: 'Allow', Resource: '*' };
const READ_REVISION_TAGS = { Sid: 'ReadTaskDefinitionTags', Action: 'ecs:ListTagsForResource', Effect: 'Allow', Resource: ANY_REVISION };
const DEREGISTER = { Sid: 'DeregisterTaskDefinitions', Action: 'ecs:DeregisterTaskDefinition', Effect: 'Allow', Resource: '*' };
const DELETE_INACTIVE = { Sid: 'DeleteTaskDefinitions', Action: 'ecs:DeleteTaskDefinitions', Effect: 'Allow', Resource: ANY_REVISION, Condition: UNPROTECTED };

/** The two imported repositories' ARNs, in the order given. */
const TEAM_REPOSITORY_ARNS = [arn('ecr', 'repository/team/web'), arn('ecr', 'repository/api')];
const READ_TEAM_REPOSITORIES = {
  Sid: 'ReadRepositories', Action: [...REPOSITORY_READS, 'ecr:DescribeRepositories'], Effect: 'Allow', Resource: TEAM_REPOSITORY_ARNS,
};

function publishStatements(stack: Stack, retention: ImageRetention) {
  const topicId = logicalId(stack, retention.topic as sns.Topic);
  const keyId = stack.getLogicalId(retention.node.findChild('TopicKey').node.defaultChild as never);
  return [
    { Sid: 'PublishReports', Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: topicId } },
    { Sid: 'EncryptReports', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
  ];
}

function allowedActions(statements: any[]): string[] {
  return statements.flatMap((s) => [s.Action].flat());
}

describe('environment of the handler', () => {
  test('defaults: every repository that opted in (REPOSITORIES unset), REPORT, no task definitions', () => {
    const { stack, retention, template } = build();
    expect(functionEnv(template)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'ImageRetention',
      POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitor',
      TOPIC_ARN: { Ref: logicalId(stack, retention.topic as sns.Topic) },
      KEEP_NEWEST: '10',
      MIN_AGE_SECONDS: '2592000',
      KEEP_TAG_PATTERNS: '["latest"]',
      PINNED_IMAGES: '[]',
      CONSUMER_ACCOUNT_ROLES: '[]',
      ACTION: 'REPORT',
      PROTECTION_TAG_KEY: 'fleet-janitor:protect',
      DRY_RUN: 'false',
      MAX_ACTIONS_PER_RUN: '100',
    });
  });

  test('every prop', () => {
    const stack = newStack();
    const { template } = build({
      repositories: teamRepositories(stack),
      keepNewest: 3,
      minAge: Duration.days(7),
      keepTagPatterns: ['latest', 'release-*', 'v?'],
      pinnedImages: [`team/web@${DIGEST}`, 'api:v1.2.3'],
      consumerAccountRoles: [READER, OTHER_READER],
      action: RetentionAction.DELETE,
      taskDefinitions: { keepNewestRevisions: 2, deregisterUnused: false, deleteInactive: true },
      protectionTagKey: 'keep-me',
      dryRun: true,
      maxActionsPerRun: 0,
      topic: sns.Topic.fromTopicArn(stack, 'Imported', USER_TOPIC_ARN),
    }, stack);
    expect(functionEnv(template)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'ImageRetention',
      POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitor',
      TOPIC_ARN: USER_TOPIC_ARN,
      REPOSITORIES: '["team/web","api"]',
      KEEP_NEWEST: '3',
      MIN_AGE_SECONDS: '604800',
      KEEP_TAG_PATTERNS: '["latest","release-*","v?"]',
      PINNED_IMAGES: `["team/web@${DIGEST}","api:v1.2.3"]`,
      CONSUMER_ACCOUNT_ROLES: JSON.stringify([READER, OTHER_READER]),
      ACTION: 'DELETE',
      TASK_DEFINITIONS: '{"keepNewestRevisions":2,"deregisterUnused":false,"deleteInactive":true}',
      PROTECTION_TAG_KEY: 'keep-me',
      DRY_RUN: 'true',
      MAX_ACTIONS_PER_RUN: '0',
    });
  });

  test('repositories made in the same stack: their names, known at deploy, joined into the JSON list', () => {
    const stack = newStack();
    const web = new ecr.Repository(stack, 'Web');
    const api = new ecr.Repository(stack, 'Api', { repositoryName: 'api' });
    const { template } = build({ repositories: [web, api] }, stack);
    expect(functionEnv(template)[ENV.repositories]).toEqual({ 'Fn::Join': ['', ['["', { Ref: logicalId(stack, web) }, '","', { Ref: logicalId(stack, api) }, '"]']] });
  });

  test('taskDefinitions: {} writes the three documented defaults', () => {
    expect(functionEnv(build({ taskDefinitions: {} }).template)[ENV.taskDefinitions])
      .toBe('{"keepNewestRevisions":5,"deregisterUnused":true,"deleteInactive":false}');
  });

  test('an empty keepTagPatterns keeps nothing by tag', () => {
    expect(functionEnv(build({ keepTagPatterns: [] }).template)[ENV.keepTagPatterns]).toBe('[]');
  });

  test.each([
    [RetentionAction.REPORT, 'REPORT'],
    [RetentionAction.DELETE, 'DELETE'],
  ])('ACTION for %s', (action, expected) => {
    expect(functionEnv(build({ action }).template)[ENV.action]).toBe(expected);
  });

  test('number and string tokens are rendered for deploy time, not validated', () => {
    const stack = newStack();
    const keep = new CfnParameter(stack, 'KeepNewest', { type: 'Number' });
    const revisions = new CfnParameter(stack, 'Revisions', { type: 'Number' });
    const role = new CfnParameter(stack, 'ReaderRole', { type: 'String' });
    const { template } = build({
      keepNewest: keep.valueAsNumber,
      minAge: Duration.seconds(Lazy.number({ produce: () => 60 })),
      taskDefinitions: { keepNewestRevisions: revisions.valueAsNumber },
      consumerAccountRoles: [role.valueAsString],
      pinnedImages: [Lazy.string({ produce: () => 'web:stable' })],
    }, stack);
    expect(functionEnv(template)).toMatchObject({
      KEEP_NEWEST: { Ref: 'KeepNewest' },
      MIN_AGE_SECONDS: '60',
      TASK_DEFINITIONS: { 'Fn::Join': ['', ['{"keepNewestRevisions":', { Ref: 'Revisions' }, ',"deregisterUnused":true,"deleteInactive":false}']] },
      CONSUMER_ACCOUNT_ROLES: { 'Fn::Join': ['', ['["', { Ref: 'ReaderRole' }, '"]']] },
      PINNED_IMAGES: '["web:stable"]',
    });
  });
});

describe('IAM follows the configured behaviour', () => {
  test('defaults (opted-in repositories, REPORT): list and read repositories, read usage, publish; nothing destructive', () => {
    const { stack, retention, template } = build();
    expect(handlerStatements(stack, retention, template)).toEqual([
      LIST_REPOSITORIES, READ_ANY_REPOSITORY, READ_USAGE, ...publishStatements(stack, retention),
    ]);
  });

  test('repositories: the reads on their ARNs only, and no listing of the registry', () => {
    const stack = newStack();
    const { retention, template } = build({ repositories: teamRepositories(stack) }, stack);
    expect(handlerStatements(stack, retention, template)).toEqual([READ_TEAM_REPOSITORIES, READ_USAGE, ...publishStatements(stack, retention)]);
  });

  test('repositories made in the same stack: their ARNs by reference', () => {
    const stack = newStack();
    const web = new ecr.Repository(stack, 'Web');
    const { retention, template } = build({ repositories: [web], action: RetentionAction.DELETE }, stack);
    const statements = handlerStatements(stack, retention, template);
    const webArn = { 'Fn::GetAtt': [logicalId(stack, web), 'Arn'] };
    expect(statements.find((s) => s.Sid === 'ReadRepositories').Resource).toEqual(webArn);
    expect(statements.find((s) => s.Sid === 'DeleteImages')).toEqual({
      Sid: 'DeleteImages', Action: 'ecr:BatchDeleteImage', Effect: 'Allow', Resource: webArn, Condition: UNPROTECTED,
    });
  });

  test('DELETE with repositories: BatchDeleteImage on those repositories unless they carry the protection tag', () => {
    const stack = newStack();
    const { retention, template } = build({ repositories: teamRepositories(stack), action: RetentionAction.DELETE }, stack);
    expect(handlerStatements(stack, retention, template)).toEqual([
      READ_TEAM_REPOSITORIES,
      { Sid: 'DeleteImages', Action: 'ecr:BatchDeleteImage', Effect: 'Allow', Resource: TEAM_REPOSITORY_ARNS, Condition: UNPROTECTED },
      READ_USAGE,
      ...publishStatements(stack, retention),
    ]);
  });

  test('DELETE with opted-in repositories: BatchDeleteImage on repository/* tagged for retention and without the protection tag', () => {
    const { stack, retention, template } = build({ action: RetentionAction.DELETE });
    expect(handlerStatements(stack, retention, template)).toEqual([
      LIST_REPOSITORIES,
      READ_ANY_REPOSITORY,
      { Sid: 'DeleteImages', Action: 'ecr:BatchDeleteImage', Effect: 'Allow', Resource: ANY_REPOSITORY, Condition: { ...OPTED_IN, ...UNPROTECTED } },
      READ_USAGE,
      ...publishStatements(stack, retention),
    ]);
  });

  test('a custom protectionTagKey is the key of every destructive statement\'s Null condition', () => {
    const { stack, retention, template } = build({
      action: RetentionAction.DELETE, protectionTagKey: 'keep', taskDefinitions: { deleteInactive: true },
    });
    const statements = handlerStatements(stack, retention, template);
    expect(statements.find((s) => s.Sid === 'DeleteImages').Condition).toEqual({ ...OPTED_IN, Null: { 'aws:ResourceTag/keep': 'true' } });
    expect(statements.find((s) => s.Sid === 'DeleteTaskDefinitions').Condition).toEqual({ Null: { 'aws:ResourceTag/keep': 'true' } });
  });

  test.each([
    ['opted-in repositories', (_stack: Stack): ImageRetentionProps => ({})],
    ['given repositories', (stack: Stack): ImageRetentionProps => ({ repositories: teamRepositories(stack) })],
  ])('dryRun with DELETE and every task definition change (%s): reads only', (_name, props) => {
    const stack = newStack();
    const { retention, template } = build({
      ...props(stack), action: RetentionAction.DELETE, dryRun: true, taskDefinitions: { deregisterUnused: true, deleteInactive: true },
    }, stack);
    const statements = handlerStatements(stack, retention, template);
    for (const destructive of DESTRUCTIVE_ACTIONS) expect(allowedActions(statements)).not.toContain(destructive);
    expect(statements.slice(-5)).toEqual([READ_USAGE, LIST_TASK_DEFINITIONS, READ_REVISION_TAGS, ...publishStatements(stack, retention)]);
  });

  test('consumerAccountRoles: AssumeRole on exactly those roles; none without them', () => {
    const { stack, retention, template } = build({ consumerAccountRoles: [READER, OTHER_READER] });
    const statements = handlerStatements(stack, retention, template);
    expect(statements.filter((s) => s.Sid === 'ReadConsumerAccounts')).toEqual([
      { Sid: 'ReadConsumerAccounts', Action: 'sts:AssumeRole', Effect: 'Allow', Resource: [READER, OTHER_READER] },
    ]);
    const none = build();
    expect(allowedActions(handlerStatements(none.stack, none.retention, none.template))).not.toContain('sts:AssumeRole');
    const empty = build({ consumerAccountRoles: [] });
    expect(allowedActions(handlerStatements(empty.stack, empty.retention, empty.template))).not.toContain('sts:AssumeRole');
  });

  test('without taskDefinitions: no task definition permission at all', () => {
    const { stack, retention, template } = build({ action: RetentionAction.DELETE });
    const actions = allowedActions(handlerStatements(stack, retention, template));
    for (const action of ['ecs:ListTaskDefinitions', 'ecs:ListTagsForResource', 'ecs:DeregisterTaskDefinition', 'ecs:DeleteTaskDefinitions']) {
      expect(actions).not.toContain(action);
    }
  });

  test('taskDefinitions with REPORT: list the revisions and read their tags, change nothing', () => {
    const { stack, retention, template } = build({ taskDefinitions: { deregisterUnused: true, deleteInactive: true } });
    expect(handlerStatements(stack, retention, template)).toEqual([
      LIST_REPOSITORIES, READ_ANY_REPOSITORY, READ_USAGE, LIST_TASK_DEFINITIONS, READ_REVISION_TAGS, ...publishStatements(stack, retention),
    ]);
  });

  test.each([
    ['the defaults (deregister, keep INACTIVE ones)', {}, [DEREGISTER]],
    ['deregisterUnused only', { deregisterUnused: true, deleteInactive: false }, [DEREGISTER]],
    ['deleteInactive only', { deregisterUnused: false, deleteInactive: true }, [DELETE_INACTIVE]],
    ['both', { deregisterUnused: true, deleteInactive: true }, [DEREGISTER, DELETE_INACTIVE]],
    ['neither', { deregisterUnused: false, deleteInactive: false }, []],
  ])('taskDefinitions with DELETE, %s', (_name, taskDefinitions, changes) => {
    const { stack, retention, template } = build({ action: RetentionAction.DELETE, taskDefinitions });
    expect(handlerStatements(stack, retention, template).slice(3)).toEqual([
      READ_USAGE, LIST_TASK_DEFINITIONS, READ_REVISION_TAGS, ...changes, ...publishStatements(stack, retention),
    ]);
  });

  test('everything on: the full policy', () => {
    const stack = newStack();
    const { retention, template } = build({
      repositories: teamRepositories(stack),
      action: RetentionAction.DELETE,
      consumerAccountRoles: [READER],
      taskDefinitions: { deregisterUnused: true, deleteInactive: true },
    }, stack);
    expect(handlerStatements(stack, retention, template)).toEqual([
      READ_TEAM_REPOSITORIES,
      { Sid: 'DeleteImages', Action: 'ecr:BatchDeleteImage', Effect: 'Allow', Resource: TEAM_REPOSITORY_ARNS, Condition: UNPROTECTED },
      READ_USAGE,
      { Sid: 'ReadConsumerAccounts', Action: 'sts:AssumeRole', Effect: 'Allow', Resource: READER },
      LIST_TASK_DEFINITIONS,
      READ_REVISION_TAGS,
      DEREGISTER,
      DELETE_INACTIVE,
      ...publishStatements(stack, retention),
    ]);
  });

  test('in a stack with an explicit environment the ARNs carry its account and region', () => {
    const { stack, retention, template } = build(
      { action: RetentionAction.DELETE, taskDefinitions: { deleteInactive: true } }, newStack({ account: '123456789012', region: 'eu-central-1' }));
    const statements = handlerStatements(stack, retention, template);
    expect(statements.find((s) => s.Sid === 'DeleteImages').Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecr:eu-central-1:123456789012:repository/*']],
    });
    expect(statements.find((s) => s.Sid === 'DeleteTaskDefinitions').Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:eu-central-1:123456789012:task-definition/*']],
    });
  });

  test('imported topic: publish to it, no KMS statement', () => {
    const stack = newStack();
    const { retention, template } = build({ topic: sns.Topic.fromTopicArn(stack, 'Alerts', USER_TOPIC_ARN) }, stack);
    expect(handlerStatements(stack, retention, template)).toEqual([
      LIST_REPOSITORIES, READ_ANY_REPOSITORY, READ_USAGE, { Sid: 'PublishReports', Action: 'sns:Publish', Effect: 'Allow', Resource: USER_TOPIC_ARN },
    ]);
    expect(functionEnv(template)[ENV.topicArn]).toBe(USER_TOPIC_ARN);
  });

  test('the role: only Lambda may assume it, no AWS managed or inline policy; exposed as `role`', () => {
    const { stack, retention, template } = build();
    handlerPolicies(stack, retention, template);
    const roleId = logicalId(stack, handlerOf(retention).role);
    const role = template.toJSON().Resources[roleId];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    expect(stack.resolve(retention.role.roleArn)).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(stack.resolve(retention.handler.role!.roleArn)).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
  });
});

describe('usageReaderPolicy', () => {
  test('the read-only document a consumer account\'s role needs, exactly', () => {
    const stack = newStack();
    expect(stack.resolve(ImageRetention.usageReaderPolicy().toJSON())).toEqual({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'ReadImageUsage',
        Effect: 'Allow',
        Action: [
          'ecs:ListClusters', 'ecs:ListServices', 'ecs:DescribeServices', 'ecs:DescribeServiceRevisions', 'ecs:ListTasks', 'ecs:DescribeTasks', 'ecs:DescribeTaskDefinition',
          'events:ListEventBuses', 'events:ListRules', 'events:ListTargetsByRule',
          'scheduler:ListSchedules', 'scheduler:GetSchedule',
          'lambda:ListFunctions', 'lambda:GetFunction',
        ],
        Resource: '*',
      }],
    });
  });

  test('the same reads the handler has in its own account; a new document at each call', () => {
    const { stack, retention, template } = build();
    const own = handlerStatements(stack, retention, template).find((s) => s.Sid === 'ReadImageUsage');
    expect(stack.resolve(ImageRetention.usageReaderPolicy().toJSON()).Statement).toEqual([own]);
    expect(ImageRetention.usageReaderPolicy()).not.toBe(ImageRetention.usageReaderPolicy());
  });

  test('a consumer role made with it, trusting the handler\'s role, passes the rule packs', () => {
    const stack = newStack();
    const retention = new ImageRetention(stack, 'Retention');
    new iam.Role(stack, 'Reader', {
      assumedBy: new iam.ArnPrincipal(retention.role.roleArn),
      inlinePolicies: { usage: ImageRetention.usageReaderPolicy() },
    });
    // The user's role is theirs: its wildcard is reported to them, as the reads need it.
    expect(() => expectNoNagFindings(stack, { packs: ['AwsSolutions'] })).toThrow(/TestStack\/Reader\/Resource: AwsSolutions-IAM5\[Resource::\*\]/);
  });
});

describe('schedule', () => {
  test('default: rate(1 day), the sweep payload, 2 retries within an hour, the dead-letter queue', () => {
    const { stack, retention, template } = build();
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 day)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': [logicalId(stack, retention.handler as never), 'Arn'] },
        Input: JSON.stringify(SCHEDULE_PAYLOAD),
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        RoleArn: { 'Fn::GetAtt': [logicalId(stack, retention.node.findChild('ScheduleRole') as iam.Role), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack, retention.deadLetterQueue as never), 'Arn'] } },
      },
    });
    expect(stack.resolve((retention.schedule as scheduler.Schedule).scheduleArn)).toEqual(
      { 'Fn::GetAtt': [logicalId(stack, retention.schedule as never), 'Arn'] });
  });

  test('custom rate and cron expressions', () => {
    build({ schedule: scheduler.ScheduleExpression.rate(Duration.hours(6)) }).template
      .hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(6 hours)' });
    build({ schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }) }).template
      .hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 3 * * ? *)' });
  });

  test('the scheduler role may invoke exactly the handler and send to the dead-letter queue', () => {
    const { stack, retention, template } = build();
    const roleId = logicalId(stack, retention.node.findChild('ScheduleRole') as iam.Role);
    const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy', { Properties: { Roles: [{ Ref: roleId }] } }));
    expect(policies.map((p) => p.Properties.PolicyDocument.Statement)).toEqual([[
      { Sid: 'InvokeSweep', Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(stack, retention.handler as never), 'Arn'] } },
      { Sid: 'DeadLetterQueue', Action: 'sqs:SendMessage', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(stack, retention.deadLetterQueue as never), 'Arn'] } },
    ]]);
  });
});

describe('function, topic and alarms', () => {
  test('the pre-built image-retention bundle, nodejs on arm64, 512 MiB, 5 minutes, traced, a dead-letter queue, its own log group', () => {
    const { stack, retention, template } = build();
    const expected = lambda.Code.fromAsset(nodePath.join(ASSETS_DIR, 'image-retention')).bind(newStack()).s3Location!.objectKey;
    template.resourceCountIs('AWS::Lambda::Function', 1);
    expect(Object.values(template.findResources('AWS::Lambda::Function'))[0].Properties).toMatchObject({
      Code: { S3Key: expected },
      Handler: 'index.handler',
      Runtime: expect.stringMatching(/^nodejs\d+\.x$/),
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 300,
      TracingConfig: { Mode: 'Active' },
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [logicalId(stack, retention.deadLetterQueue as never), 'Arn'] } },
      LoggingConfig: { LogGroup: { Ref: logicalId(stack, retention.logGroup as logs.LogGroup) } },
      Description: 'cdk-fleet-janitor ImageRetention: deletes (or reports) ECR images and ECS task definitions that are old and provably unused',
    });
    expect(Object.values(template.findResources('AWS::Logs::LogGroup'))[0].Properties).toEqual({ RetentionInDays: 30 });
  });

  test('common props reach the function: memory, timeout, log retention, reservation, environment key', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'EnvKey', { enableKeyRotation: true });
    const { template } = build({
      memorySize: 1024,
      timeout: Duration.minutes(15),
      logRetention: logs.RetentionDays.ONE_WEEK,
      reserveConcurrency: true,
      environmentEncryptionKey: key,
    }, stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024, Timeout: 900, ReservedConcurrentExecutions: 1, KmsKeyArn: { 'Fn::GetAtt': [logicalId(stack, key), 'Arn'] },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  test('a new topic encrypted with its own key; three alarms that notify it', () => {
    const { stack, retention, template } = build();
    const topicId = logicalId(stack, retention.topic as sns.Topic);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { DisplayName: 'fleet-janitor ImageRetention reports' });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    expect(retention.alarms).toEqual([retention.errorAlarm, retention.throttleAlarm, retention.deadLetterAlarm]);
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmActions))
      .toEqual([[{ Ref: topicId }], [{ Ref: topicId }], [{ Ref: topicId }]]);
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmDescription.split(':')[0]))
      .toEqual(['ImageRetention', 'ImageRetention', 'ImageRetention']);
  });

  test('an imported topic: no topic or key of our own; the alarms notify it', () => {
    const stack = newStack();
    const topic = sns.Topic.fromTopicArn(stack, 'Alerts', USER_TOPIC_ARN);
    const { retention, template } = build({ topic }, stack);
    expect(retention.topic).toBe(topic);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmActions))
      .toEqual([[USER_TOPIC_ARN], [USER_TOPIC_ARN], [USER_TOPIC_ARN]]);
  });
});

describe('metrics', () => {
  const methods: Array<[keyof ImageRetention, string]> = [
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
    const { stack, retention, template } = build();
    const metric = (retention[method] as (props?: cloudwatch.MetricOptions) => cloudwatch.Metric).call(retention);
    expect(metric.namespace).toBe(METRICS_NAMESPACE);
    expect(metric.metricName).toBe(metricName);
    expect(metric.statistic).toBe('Sum');
    expect(stack.resolve(metric.dimensions)).toEqual({
      service: functionEnv(template).POWERTOOLS_SERVICE_NAME,
      FunctionName: { Ref: logicalId(stack, retention.handler as never) },
    });
    expect(retention.janitorName).toBe('ImageRetention');
  });
});

describe('validation: a clear error naming the prop and the value, before any resource exists', () => {
  const cases: Array<[string, (stack: Stack) => ImageRetentionProps, string | RegExp]> = [
    ['repositories []', () => ({ repositories: [] }),
      'invalid repositories ([]): give at least one repository, or leave it out for every repository tagged fleet-janitor:image-retention = enabled'],
    ['a repository given twice', (stack) => ({ repositories: [...teamRepositories(stack), ecr.Repository.fromRepositoryName(stack, 'Again', 'api')] }),
      'invalid repositories ("api"): is given more than once'],
    ['a repository name ECR does not allow', (stack) => ({ repositories: [ecr.Repository.fromRepositoryName(stack, 'Bad', 'Team/Web')] }),
      'invalid repositories ("Team/Web"): is not an ECR repository name'],
    ['keepNewest -1', () => ({ keepNewest: -1 }), 'invalid keepNewest (-1): must be an integer from 0 to 100000'],
    ['keepNewest 100001', () => ({ keepNewest: 100_001 }), 'invalid keepNewest (100001): must be an integer from 0 to 100000'],
    ['keepNewest 1.5', () => ({ keepNewest: 1.5 }), 'invalid keepNewest (1.5): must be an integer from 0 to 100000'],
    ['minAge above 3660 days', () => ({ minAge: Duration.days(3_661) }), 'invalid minAge (3661 days): must be at most 3660 days'],
    ['minAge with a fraction of a second', () => ({ minAge: Duration.millis(1_500) }), 'invalid minAge (1.5 seconds): must be a whole number of seconds'],
    ['a keepTagPatterns entry that is empty', () => ({ keepTagPatterns: ['latest', ''] }),
      'invalid keepTagPatterns (""): a pattern has 1 to 128 characters, each a letter, a digit, "_", ".", "-" or a wildcard ("*", "?")'],
    ['a keepTagPatterns entry of 129 characters', () => ({ keepTagPatterns: ['x'.repeat(129)] }),
      /^ImageRetention: invalid keepTagPatterns \("x{129}"\): a pattern has 1 to 128 characters/],
    ['a keepTagPatterns entry with a character no tag holds', () => ({ keepTagPatterns: ['release/*'] }),
      'invalid keepTagPatterns ("release/*"): a pattern has 1 to 128 characters'],
    ['a keepTagPatterns entry given twice', () => ({ keepTagPatterns: ['latest', 'v*', 'latest'] }), 'invalid keepTagPatterns ("latest"): is given more than once'],
    ['a keepTagPatterns token', () => ({ keepTagPatterns: [Lazy.string({ produce: () => 'latest' })] }),
      /^ImageRetention: invalid keepTagPatterns \("\$\{Token\[TOKEN\.\d+\]\}"\): patterns must be known at synth time$/],
    ['a pinned image that is neither by digest nor by tag', () => ({ pinnedImages: ['web'] }),
      'invalid pinnedImages ("web"): must be "repository@sha256:<64 hex digits>" or "repository:tag" (a repository name, not an image URI)'],
    ['a pinned image given as a full image URI (it would pin nothing)', () => ({ pinnedImages: ['111122223333.dkr.ecr.eu-west-1.amazonaws.com/web:v1'] }),
      'invalid pinnedImages ("111122223333.dkr.ecr.eu-west-1.amazonaws.com/web:v1"): must be'],
    ['a pinned image with a short digest', () => ({ pinnedImages: ['web@sha256:abc'] }), 'invalid pinnedImages ("web@sha256:abc"): must be'],
    ['a pinned image of a repository that is not given', (stack) => ({ repositories: teamRepositories(stack), pinnedImages: ['team/web:v1', 'web:v1'] }),
      'invalid pinnedImages ("web:v1"): names repository "web", which is not one of the repositories (team/web, api)'],
    ['a consumer role that is not a role ARN', () => ({ consumerAccountRoles: ['arn:aws:iam::111111111111:user/reader'] }),
      'invalid consumerAccountRoles ("arn:aws:iam::111111111111:user/reader"): must be an IAM role ARN (arn:<partition>:iam::<12-digit account>:role/<path/name>)'],
    ['a consumer role with a short account id', () => ({ consumerAccountRoles: ['arn:aws:iam::1111:role/Reader'] }),
      'invalid consumerAccountRoles ("arn:aws:iam::1111:role/Reader"): must be an IAM role ARN'],
    ['a consumer role given twice', () => ({ consumerAccountRoles: [READER, OTHER_READER, READER] }),
      `invalid consumerAccountRoles ("${READER}"): is given more than once`],
    ['an unknown action', () => ({ action: 'PURGE' as RetentionAction }), 'invalid action ("PURGE"): must be one of REPORT, DELETE'],
    ['taskDefinitions.keepNewestRevisions 0', () => ({ taskDefinitions: { keepNewestRevisions: 0 } }),
      'invalid taskDefinitions.keepNewestRevisions (0): must be an integer from 1 to 1000000'],
    ['taskDefinitions.keepNewestRevisions 1000001', () => ({ taskDefinitions: { keepNewestRevisions: 1_000_001 } }),
      'invalid taskDefinitions.keepNewestRevisions (1000001): must be an integer from 1 to 1000000'],
    ['the opt-in tag as the protection tag', () => ({ protectionTagKey: 'fleet-janitor:image-retention' }),
      'invalid protectionTagKey ("fleet-janitor:image-retention"): is the opt-in tag fleet-janitor:image-retention: every repository that opts in would be protected'],
    ['maxActionsPerRun -1', () => ({ maxActionsPerRun: -1 }), 'invalid maxActionsPerRun (-1): must be an integer from 0 to 100000'],
    ['protectionTagKey ""', () => ({ protectionTagKey: '' }), 'invalid protectionTagKey (""): a tag key must have 1 to 128 characters'],
    ['timeout 20 minutes', () => ({ timeout: Duration.minutes(20) }), 'invalid timeout (20 minutes): must be at most 15 minutes'],
    ['a rate shorter than the timeout', () => ({ schedule: scheduler.ScheduleExpression.rate(Duration.minutes(5)) }),
      'invalid schedule ("rate(5 minutes)"): a rate schedule must be longer than the function timeout (5 minutes), or two runs could overlap'],
  ];

  test.each(cases)('%s', (_name, props, message) => {
    const stack = newStack();
    const given = props(stack);
    const before = stack.node.findAll().length;
    expect(() => new ImageRetention(stack, 'Retention', given)).toThrow(typeof message === 'string' ? `ImageRetention: ${message}` : message);
    expect(stack.node.findAll().length).toBe(before);
    expect(stack.node.tryFindChild('Retention')).toBeUndefined();
  });

  test('boundaries are accepted', () => {
    expect(() => build({
      keepNewest: 0, minAge: Duration.seconds(0), keepTagPatterns: [], taskDefinitions: { keepNewestRevisions: 1 }, maxActionsPerRun: 0,
    })).not.toThrow();
    expect(() => build({
      keepNewest: 100_000,
      minAge: Duration.days(3_660),
      keepTagPatterns: ['*', '?', 'x'.repeat(128), 'Release_1.0-*'],
      taskDefinitions: { keepNewestRevisions: 1_000_000 },
      maxActionsPerRun: 100_000,
    })).not.toThrow();
  });

  test('the protection tag may be the opt-in tag\'s key when the repositories are given (the tag is not read then)', () => {
    const stack = newStack();
    expect(() => build({ repositories: teamRepositories(stack), protectionTagKey: 'fleet-janitor:image-retention' }, stack)).not.toThrow();
  });

  test('pinned images by digest and by tag, in namespaced repositories, are accepted; without repositories any repository', () => {
    const stack = newStack();
    expect(() => build({ repositories: teamRepositories(stack), pinnedImages: [`team/web@${DIGEST}`, 'api:v1.2.3', 'api:latest'] }, stack)).not.toThrow();
    expect(() => build({ pinnedImages: ['any/where:1', `x@${DIGEST}`] })).not.toThrow();
  });

  test('names known only at deploy time are not checked against each other', () => {
    const stack = newStack();
    const made = new ecr.Repository(stack, 'Made');
    // A repository whose name is a token: the pins are not checked against the repositories' names.
    expect(() => build({ repositories: [made, ...teamRepositories(stack)], pinnedImages: ['elsewhere:v1'] }, stack)).not.toThrow();
  });

  test('the same repository object twice is refused as the same name twice is', () => {
    const stack = newStack();
    const twice = new ecr.Repository(stack, 'Twice');
    expect(() => build({ repositories: [twice, ...teamRepositories(stack), twice] }, stack))
      .toThrow(/^ImageRetention: invalid repositories \("\$\{Token\[TOKEN\.\d+\]\}"\): is given more than once$/);
    const other = newStack();
    expect(() => build({ repositories: [new ecr.Repository(other, 'One'), new ecr.Repository(other, 'Two')] }, other)).not.toThrow();
  });

  test('the same role token twice is refused as the same ARN twice is', () => {
    const stack = newStack();
    const role = new CfnParameter(stack, 'Reader', { type: 'String' });
    expect(() => build({ consumerAccountRoles: [role.valueAsString, READER, role.valueAsString] }, stack))
      .toThrow(/^ImageRetention: invalid consumerAccountRoles \("\$\{Token\[TOKEN\.\d+\]\}"\): is given more than once$/);
    const other = newStack();
    const first = new CfnParameter(other, 'First', { type: 'String' });
    const second = new CfnParameter(other, 'Second', { type: 'String' });
    expect(() => build({ consumerAccountRoles: [first.valueAsString, second.valueAsString] }, other)).not.toThrow();
  });

  test('role ARNs of other partitions and with paths are accepted', () => {
    expect(() => build({ consumerAccountRoles: [READER, OTHER_READER, 'arn:aws-us-gov:iam::444444444444:role/a+b=c,d.e@f-g'] })).not.toThrow();
  });
});

describe('snapshot', () => {
  test('representative stack', () => {
    const stack = newStack();
    new ImageRetention(stack, 'Retention', {
      repositories: teamRepositories(stack),
      keepNewest: 5,
      keepTagPatterns: ['latest', 'release-*'],
      pinnedImages: ['api:v1.2.3'],
      consumerAccountRoles: [READER],
      action: RetentionAction.DELETE,
      taskDefinitions: { keepNewestRevisions: 3, deleteInactive: true },
    });
    const template = maskedTemplate(stack);
    expect(JSON.stringify(template)).not.toMatch(/[0-9a-f]{64}/);
    expect(template).toMatchSnapshot();
  });
});

describe('five cdk-nag rule packs (AwsSolutions, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1, Serverless)', () => {
  test('everything on: no unacknowledged finding; what stays acknowledged is the wildcards IAM cannot narrow and the dead-letter queue', () => {
    const stack = newStack();
    const { props, user } = everythingOn(stack);
    new ImageRetention(stack, 'Retention', props);
    const rules = new Set(expectNoNagFindings(stack, { userConstructs: [user] }).map((f) => f.ruleId));
    expect([...rules].sort()).toEqual(['AwsSolutions-IAM5', 'Serverless-SQSRedrivePolicy']);
  });

  test('defaults: each remaining finding is acknowledged on the resource it is about', () => {
    const stack = newStack();
    new ImageRetention(stack, 'Retention');
    const acknowledged = expectNoNagFindings(stack);
    const byRule = (rule: string) => acknowledged.filter((f) => f.ruleId === rule).map((f) => f.path);
    for (const pack of ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321']) {
      expect(byRule(`${pack}-LambdaInsideVPC`)).toEqual(['TestStack/Retention/Handler/Function/Resource']);
      expect(byRule(`${pack}-CloudWatchLogGroupEncrypted`)).toEqual(['TestStack/Retention/Handler/LogGroup/Resource']);
    }
    expect(byRule('Serverless-SQSRedrivePolicy')).toEqual(['TestStack/Retention/Handler/DeadLetterQueue/Resource']);
    expect(byRule('AwsSolutions-IAM5').sort()).toEqual([
      'TestStack/Retention/Handler/Policy/Resource', 'TestStack/Retention/Handler/Policy/Resource', 'TestStack/Retention/Handler/RuntimePolicy/Resource',
    ]);
  });

  const configurations: Array<[string, (stack: Stack) => ImageRetentionProps]> = [
    ['default', () => ({})],
    ['DELETE, opted-in repositories, every task definition change', () => ({
      action: RetentionAction.DELETE, taskDefinitions: { deregisterUnused: true, deleteInactive: true },
    })],
    ['DELETE, given repositories, consumer accounts', (stack) => ({
      repositories: teamRepositories(stack), action: RetentionAction.DELETE, consumerAccountRoles: [READER, OTHER_READER],
    })],
    ['repositories made in the stack', (stack) => ({ repositories: [new ecr.Repository(stack, 'Made')], action: RetentionAction.DELETE })],
    ['dryRun with everything enabled', () => ({ action: RetentionAction.DELETE, dryRun: true, taskDefinitions: { deleteInactive: true } })],
    ['REPORT with task definitions', () => ({ taskDefinitions: {} })],
    ['user topic (imported)', (stack) => ({ topic: sns.Topic.fromTopicArn(stack, 'Alerts', USER_TOPIC_ARN), action: RetentionAction.DELETE })],
    ['non-Latin-1 protection tag key', () => ({ protectionTagKey: '保護', action: RetentionAction.DELETE, taskDefinitions: { deleteInactive: true } })],
  ];

  test.each(configurations)('%s: no unacknowledged finding', (_name, props) => {
    const stack = newStack();
    new ImageRetention(stack, 'Retention', props(stack));
    expectNoNagFindings(stack);
  });

  /** The reason as written in the construct; cdk-nag's report puts the finding in brackets before it. */
  const reasonOf = (acknowledged: Array<{ findingId: string; reason: string }>, which: (findingId: string) => boolean) => {
    const finding = acknowledged.find((f) => which(f.findingId))!;
    expect(finding.reason.startsWith(`[${finding.findingId}] `)).toBe(true);
    return finding.reason.slice(finding.findingId.length + 3);
  };

  test('only the wildcard resources of the handler policy are acknowledged, each with its own reason (everything destructive on)', () => {
    const stack = newStack({ account: '123456789012', region: 'eu-central-1' });
    new ImageRetention(stack, 'Retention', { action: RetentionAction.DELETE, taskDefinitions: { deregisterUnused: true, deleteInactive: true } });
    const acknowledged = expectNoNagFindings(stack).filter((f) => f.path === 'TestStack/Retention/Handler/Policy/Resource');
    expect(acknowledged.map((f) => `${f.ruleId} ${f.findingId}`).sort()).toEqual([
      'AwsSolutions-IAM5 Resource::*',
      'AwsSolutions-IAM5 Resource::arn:<AWS::Partition>:ecr:eu-central-1:123456789012:repository/*',
      'AwsSolutions-IAM5 Resource::arn:<AWS::Partition>:ecs:eu-central-1:123456789012:task-definition/*',
    ]);
    expect(reasonOf(acknowledged, (id) => id === 'Resource::*')).toBe(
      'ecr:DescribeRepositories lists the registry\'s repositories, to find those tagged fleet-janitor:image-retention = enabled '
      + '(a listing names no repository); '
      + `${USAGE_READS.join(', ')} are read-only and must see every cluster, service, task, task definition, event bus, rule, schedule and `
      + 'function of the account to prove an image unused, so they name no resource known in advance (ecs:ListClusters, ecs:ListServices, '
      + 'ecs:DescribeTaskDefinition, events:ListEventBuses, events:ListRules, scheduler:ListSchedules and lambda:ListFunctions support no '
      + 'resource-level permissions; the others are called on what those return); '
      + 'ecs:ListTaskDefinitions supports no resource-level permissions (read-only); '
      + 'ecs:DeregisterTaskDefinition supports no resource-level permissions and no condition keys; the handler deregisters only ACTIVE '
      + 'revisions older than the newest keepNewestRevisions of their family that nothing uses and that carry no "fleet-janitor:protect" tag.');
    expect(reasonOf(acknowledged, (id) => id.endsWith(':repository/*'))).toBe(
      'ecr:DescribeImages, ecr:BatchGetImage, ecr:ListTagsForResource, ecr:GetRepositoryPolicy, ecr:BatchDeleteImage on repository/*: '
      + 'without the repositories prop the repositories are those tagged fleet-janitor:image-retention = enabled when a run starts, not '
      + 'known at deploy time; the reads are read-only, and ecr:BatchDeleteImage is limited by aws:ResourceTag conditions to repositories '
      + 'tagged fleet-janitor:image-retention = enabled without a "fleet-janitor:protect" tag.');
    expect(reasonOf(acknowledged, (id) => id.endsWith(':task-definition/*'))).toBe(
      'ecs:ListTagsForResource, ecs:DeleteTaskDefinitions on task-definition/*: the revisions are not known in advance; '
      + 'ecs:ListTagsForResource is read-only (the handler reads each candidate revision\'s protection tag before it reports or changes it), '
      + 'ecs:DeleteTaskDefinitions is limited to revisions without a "fleet-janitor:protect" tag by an aws:ResourceTag condition, and ECS '
      + 'deletes only INACTIVE revisions.');
  });

  test('the reasons name only what the configuration grants (REPORT, given repositories, task definitions read)', () => {
    const stack = newStack();
    new ImageRetention(stack, 'Retention', { repositories: teamRepositories(stack), taskDefinitions: {}, protectionTagKey: 'keep' });
    const acknowledged = expectNoNagFindings(stack).filter((f) => f.path === 'TestStack/Retention/Handler/Policy/Resource');
    expect(acknowledged.map((f) => f.findingId).sort()).toEqual([
      'Resource::*', 'Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/*',
    ]);
    const wildcard = reasonOf(acknowledged, (id) => id === 'Resource::*');
    expect(wildcard).not.toContain('ecr:DescribeRepositories');
    expect(wildcard).not.toContain('ecs:DeregisterTaskDefinition');
    expect(wildcard).toContain('ecs:ListTaskDefinitions supports no resource-level permissions');
    expect(reasonOf(acknowledged, (id) => id.endsWith(':task-definition/*'))).toBe(
      'ecs:ListTagsForResource on task-definition/*: the revisions are not known in advance; ecs:ListTagsForResource is read-only '
      + '(the handler reads each candidate revision\'s protection tag before it reports or changes it).');
  });

  test('REPORT with opted-in repositories: the repository/* reason covers reads only', () => {
    const stack = newStack();
    new ImageRetention(stack, 'Retention');
    const acknowledged = expectNoNagFindings(stack).filter((f) => f.path === 'TestStack/Retention/Handler/Policy/Resource');
    expect(reasonOf(acknowledged, (id) => id.endsWith(':repository/*'))).toBe(
      'ecr:DescribeImages, ecr:BatchGetImage, ecr:ListTagsForResource, ecr:GetRepositoryPolicy on repository/*: without the repositories '
      + 'prop the repositories are those tagged fleet-janitor:image-retention = enabled when a run starts, not known at deploy time; the '
      + 'reads are read-only.');
  });

  test('tracing turned off by the user is reported, not acknowledged', () => {
    const stack = newStack();
    new ImageRetention(stack, 'Retention', { tracing: lambda.Tracing.DISABLED });
    expect(() => expectNoNagFindings(stack, { packs: ['Serverless'] })).toThrow(/Serverless-LambdaTracing/);
  });
});

describe('the everything-on configuration of the compliance checks', () => {
  test('is what it says: DELETE, task definitions, a consumer account, in a VPC', () => {
    const stack = newStack();
    const { props } = everythingOn(stack);
    const { template } = build(props, stack);
    expect(functionEnv(template)).toMatchObject({
      REPOSITORIES: '["team/web","team/api"]',
      ACTION: 'DELETE',
      CONSUMER_ACCOUNT_ROLES: JSON.stringify([IMAGE_USAGE_READER_ROLE_ARN]),
      TASK_DEFINITIONS: '{"keepNewestRevisions":3,"deregisterUnused":true,"deleteInactive":true}',
    });
    template.hasResourceProperties('AWS::Lambda::Function', { VpcConfig: Match.anyValue(), ReservedConcurrentExecutions: 1 });
  });
});
