import * as nodePath from 'path';
import { App, Duration, Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { METRIC_NAMES } from '../../lambda/shared/telemetry';
import { TagPolicyEngine, TagPolicyEngineProps, TagValue, ViolationAction } from '../../src';
import { ASSETS_DIR, HandlerFunction } from '../../src/common/handler-function';
import { SCHEDULE_PAYLOAD } from '../../src/common/schedule';
import { RULES_RESOURCE_TYPE, VIOLATION_TAG_KEY } from '../../src/tag-policy-engine/contract';
import { parseRuleItem } from '../../src/tag-policy-engine/rule-format';
import { tagPolicyEngineEverythingOn as everythingOn, tagPolicyRules as issueRules } from '../helpers/configurations';
import { expectNoNagFindings } from '../helpers/nag';
import { maskedTemplate } from '../helpers/template';

function newStack(): Stack {
  return new Stack(new App(), 'TestStack');
}

function build(props: TagPolicyEngineProps = { rules: issueRules() }, stack = newStack()) {
  const engine = new TagPolicyEngine(stack, 'Tags', props);
  return { stack, engine, template: Template.fromStack(stack) };
}

/** The statements of the construct's own managed policy, by Sid. */
function statements(stack: Stack, engine: TagPolicyEngine, template: Template): Record<string, any> {
  const policy = (engine.node.findChild('Handler') as HandlerFunction).policy;
  const id = stack.getLogicalId(policy.node.defaultChild as never);
  const document = template.toJSON().Resources[id].Properties.PolicyDocument;
  return Object.fromEntries(document.Statement.map((s: any) => [s.Sid, s]));
}

function actions(byId: Record<string, any>): string[] {
  return Object.values(byId).flatMap((s) => [s.Action].flat()).sort();
}

function handlerEnv(template: Template): Record<string, unknown> {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter((f) => f.Properties.Environment?.Variables?.TABLE_NAME);
  expect(fns).toHaveLength(1);
  return fns[0].Properties.Environment.Variables;
}

const READS = ['cloudtrail:LookupEvents', 'ec2:DescribeInstances', 'dynamodb:Scan', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const PUBLISH = ['sns:Publish', 'kms:GenerateDataKey', 'kms:Decrypt'];

describe('IAM follows the configured behaviour', () => {
  test('NOTIFY (default): tag and unmark instances without the protection tag; never stop or terminate', () => {
    const { stack, engine, template } = build();
    const s = statements(stack, engine, template);
    expect(actions(s)).toEqual([...READS, ...PUBLISH, 'ec2:CreateTags', 'ec2:DeleteTags'].sort());
    expect(s.TagInstances.Condition).toEqual({ Null: { 'ec2:ResourceTag/fleet-janitor:protect': 'true' } });
    expect(s.TagInstances.Resource['Fn::Join'][1].at(-1)).toBe(':instance/*');
    // DeleteTags can remove the violation mark and nothing else.
    expect(s.UnmarkInstances.Condition).toEqual({
      'Null': { 'ec2:ResourceTag/fleet-janitor:protect': 'true' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [VIOLATION_TAG_KEY] },
    });
    expect(s.RuleTable.Resource).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(engine.table.node.defaultChild as never), 'Arn'] });
    expect(s.DescribeInstances.Resource).toBe('*');
    expect(s.LookUpLaunches).toMatchObject({ Action: 'cloudtrail:LookupEvents', Resource: '*' });
  });

  test.each([
    ['untaggedAction STOP', { untaggedAction: ViolationAction.STOP }, ['ec2:StopInstances']],
    ['untaggedAction TERMINATE', { untaggedAction: ViolationAction.TERMINATE }, ['ec2:TerminateInstances']],
    ['a rule with onViolation STOP, the rest NOTIFY', {
      rules: [{ tagKey: 'Owner', required: true, onViolation: ViolationAction.STOP }],
    }, ['ec2:StopInstances']],
    ['TERMINATE with one rule that only STOPs', {
      untaggedAction: ViolationAction.TERMINATE, rules: [{ tagKey: 'Owner', required: true, onViolation: ViolationAction.STOP }],
    }, ['ec2:StopInstances', 'ec2:TerminateInstances']],
    ['MARK', { untaggedAction: ViolationAction.MARK }, []],
  ] as Array<[string, TagPolicyEngineProps, string[]]>)('%s: %j may stop/terminate only marked, unprotected instances', (_name, props, expected) => {
    const { stack, engine, template } = build({ rules: issueRules(), ...props });
    const s = statements(stack, engine, template);
    if (expected.length === 0) {
      expect(s.ActOnViolations).toBeUndefined();
      return;
    }
    expect([s.ActOnViolations.Action].flat()).toEqual(expected);
    expect(s.ActOnViolations.Condition).toEqual({
      Null: { 'ec2:ResourceTag/fleet-janitor:protect': 'true', [`ec2:ResourceTag/${VIOLATION_TAG_KEY}`]: 'false' },
    });
  });

  test('instanceSelector and a custom protection tag key scope every instance statement', () => {
    const { stack, engine, template } = build({
      rules: issueRules(), untaggedAction: ViolationAction.STOP, instanceSelector: { managed: 'true', team: 'a' }, protectionTagKey: 'keep',
    });
    const s = statements(stack, engine, template);
    const selected = { StringEquals: { 'ec2:ResourceTag/managed': 'true', 'ec2:ResourceTag/team': 'a' } };
    expect(s.TagInstances.Condition).toEqual({ Null: { 'ec2:ResourceTag/keep': 'true' }, ...selected });
    expect(s.UnmarkInstances.Condition).toMatchObject(selected);
    expect(s.ActOnViolations.Condition).toEqual({ Null: { 'ec2:ResourceTag/keep': 'true', [`ec2:ResourceTag/${VIOLATION_TAG_KEY}`]: 'false' }, ...selected });
  });

  test('dryRun: nothing that changes an instance, and no creator cache writes; the rules are still written on deploy', () => {
    const { stack, engine, template } = build({
      rules: issueRules(), untaggedAction: ViolationAction.TERMINATE, dryRun: true, propagateToVolumes: true,
    });
    const s = statements(stack, engine, template);
    expect(actions(s)).toEqual([...READS.filter((a) => a !== 'dynamodb:BatchWriteItem'), ...PUBLISH].sort());
    expect(handlerEnv(template).DRY_RUN).toBe('true');
  });

  test('backfillCreators false: no LookupEvents', () => {
    const { stack, engine, template } = build({ rules: issueRules(), backfillCreators: false });
    expect(actions(statements(stack, engine, template))).not.toContain('cloudtrail:LookupEvents');
    expect(handlerEnv(template).BACKFILL_CREATORS).toBe('false');
  });

  test('propagateToVolumes: CreateTags on volumes and network interfaces too', () => {
    const { stack, engine, template } = build({ rules: issueRules(), propagateToVolumes: true });
    const s = statements(stack, engine, template);
    expect(s.TagAttachedResources.Action).toBe('ec2:CreateTags');
    expect(s.TagAttachedResources.Resource.map((r: any) => r['Fn::Join'][1].at(-1))).toEqual([':volume/*', ':network-interface/*']);
  });

  test('a table of the user\'s with its own key: statements name that table, and the key for exactly the three actions DynamoDB needs', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'TableKey');
    const table = new dynamodb.Table(stack, 'Rules', {
      partitionKey: { name: 'RuleId', type: dynamodb.AttributeType.STRING }, encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key,
    });
    const { engine, template } = build({ table }, stack);
    expect(engine.table).toBe(table);
    const s = statements(stack, engine, template);
    expect(s.RuleTable.Resource).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(table.node.defaultChild as never), 'Arn'] });
    expect(s.RuleTableKey).toMatchObject({ Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as never), 'Arn'] } });
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    // No props rules: nothing to write on deploy.
    template.resourceCountIs(RULES_RESOURCE_TYPE, 0);
  });
});

describe('resources', () => {
  test('the table: RuleId partition key, on demand, point-in-time recovery, encrypted, TTL on ExpiresAt, retained', () => {
    const { template } = build();
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'RuleId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'RuleId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ExpiresAt', Enabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('the rules are written on deploy in the seed\'s item format, each one readable by the handler\'s parser', () => {
    const { template } = build({ rules: [...issueRules(), { tagKey: 'Owner', defaultValue: TagValue.fromTag('CreatedBy'), ruleId: 'owner-rule' }] });
    const resources = Object.values(template.findResources(RULES_RESOURCE_TYPE));
    expect(resources).toHaveLength(1);
    const props = resources[0].Properties;
    const items = JSON.parse(props.Rules);
    expect(items).toEqual([
      { RuleId: 'CostCenter', TagKey: 'CostCenter', Required: 'true', Action: 'Update', Default: 'unassigned', AllowedValues: ['1001', '1002', 'unassigned'] },
      { RuleId: 'CreatedBy', TagKey: 'CreatedBy', Required: 'true', Action: 'UserLookup' },
      { RuleId: 'LaunchDate', TagKey: 'LaunchDate', Required: 'true', Action: 'Function', Default: 'today()' },
      { RuleId: 'Environment', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$', OnViolation: 'NOTIFY' },
      { RuleId: 'owner-rule', TagKey: 'Owner', Required: 'false', Action: 'FromTag', Default: 'CreatedBy' },
    ]);
    for (const item of items) expect(parseRuleItem(item).error).toBeUndefined();
    expect(props.Owner).toEqual({ 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '/TestStack/Tags']] });
    expect(props.TableName).toEqual({ Ref: expect.stringMatching(/^TagsTable/) });
  });

  test('creator capture: a rule on CloudTrail RunInstances events invokes the handler, with retries and the dead-letter queue', () => {
    const { stack, engine, template } = build();
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.ec2'],
        'detail-type': ['AWS API Call via CloudTrail'],
        'detail': { eventSource: ['ec2.amazonaws.com'], eventName: ['RunInstances'] },
      },
      State: 'ENABLED',
      Targets: [{
        Arn: { 'Fn::GetAtt': [stack.getLogicalId(engine.handler.node.defaultChild as never), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [stack.getLogicalId(engine.deadLetterQueue.node.defaultChild as never), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        Id: Match.anyValue(),
      }],
    });
    expect(engine.creatorCaptureRule).toBeDefined();
  });

  test('captureCreators false: no rule', () => {
    const { engine, template } = build({ rules: issueRules(), captureCreators: false });
    template.resourceCountIs('AWS::Events::Rule', 0);
    expect(engine.creatorCaptureRule).toBeUndefined();
  });

  test('schedule: default rate(1 hour) with the sweep payload; a custom expression', () => {
    build().template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: Match.objectLike({ Input: JSON.stringify(SCHEDULE_PAYLOAD) }),
    });
    build({ rules: issueRules(), schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '6' }) }).template
      .hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 6 * * ? *)' });
  });

  test('environment: defaults, and every prop', () => {
    expect(handlerEnv(build().template)).toMatchObject({
      UNTAGGED_ACTION: 'NOTIFY',
      GRACE_PERIOD_SECONDS: '259200',
      VPC_IDS: '[]',
      INSTANCE_SELECTOR: '{}',
      PROTECTION_TAG_KEY: 'fleet-janitor:protect',
      DRY_RUN: 'false',
      MAX_ACTIONS_PER_RUN: '100',
      BACKFILL_CREATORS: 'true',
      PROPAGATE_TO_VOLUMES: 'false',
    });
    const stack = newStack();
    const { props } = everythingOn(stack);
    const env = handlerEnv(build(props, stack).template);
    expect(env).toMatchObject({
      UNTAGGED_ACTION: 'TERMINATE', GRACE_PERIOD_SECONDS: String(7 * 86_400), INSTANCE_SELECTOR: '{"managed":"true"}', MAX_ACTIONS_PER_RUN: '50', PROPAGATE_TO_VOLUMES: 'true',
    });
    expect(env.VPC_IDS).toEqual({ 'Fn::Join': ['', ['["', { Ref: expect.stringMatching(/^Vpc/) }, '"]']] });
  });

  test('three alarms notify the topic; every metric the handler emits has a method', () => {
    const { engine, template } = build();
    expect(engine.alarms).toHaveLength(3);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    for (const name of Object.values(METRIC_NAMES)) {
      const method = `metric${name}` as keyof TagPolicyEngine;
      expect(typeof engine[method]).toBe('function');
    }
    expect(engine.metricActionsTaken().dimensions).toEqual({ service: 'TagPolicyEngine', FunctionName: engine.handler.functionName });
  });
});

describe('validation: a clear error naming the bad value, before any resource exists', () => {
  test.each([
    ['no rules and no table', {}, /invalid rules \(\[\]\): give at least one rule, or a table that holds them/],
    ['an aws: key', { rules: [{ tagKey: 'aws:owner' }] }, /rules\[0\] \("aws:owner"\).*reserved for AWS/],
    ['a key too long', { rules: [{ tagKey: 'k'.repeat(129) }] }, /1 to 128 characters/],
    ['a bad pattern', { rules: [{ tagKey: 'Env', pattern: '(' }] }, /Pattern "\(" is not a valid regular expression/],
    ['a default outside its allowed values', { rules: [{ tagKey: 'Env', defaultValue: TagValue.fixed('qa'), allowedValues: ['dev'] }] }, /Default breaks the rule's own AllowedValues/],
    ['a default breaking its pattern', { rules: [{ tagKey: 'Env', defaultValue: TagValue.fixed('qa'), pattern: 'dev|prod' }] }, /does not match the pattern/],
    ['a fixed value too long', { rules: [{ tagKey: 'Env', defaultValue: TagValue.fixed('v'.repeat(257)) }] }, /at most 256 characters/],
    ['fromTag of itself', { rules: [{ tagKey: 'Env', defaultValue: TagValue.fromTag('Env') }] }, /cannot copy TagKey "Env" from itself/],
    ['two rules, one key', { rules: [{ tagKey: 'Env' }, { tagKey: 'Env', ruleId: 'other' }] }, /rules\[1\]\.tagKey \("Env"\): two rules are for this tag key/],
    ['two rules, one ruleId', { rules: [{ tagKey: 'A', ruleId: 'x' }, { tagKey: 'B', ruleId: 'x' }] }, /rules\[1\]\.ruleId \("x"\): two rules have this ruleId/],
    ['the violation mark as a rule', { rules: [{ tagKey: VIOLATION_TAG_KEY }] }, /rules\[0\]\.tagKey \("fleet-janitor:violation"\): is a tag the engine itself reads/],
    ['the protection tag as a rule', { rules: [{ tagKey: 'fleet-janitor:protect' }] }, /a tag the engine itself reads/],
    ['a tag key known only at deploy', { rules: [{ tagKey: Lazy.string({ produce: () => 'Env' }) }] }, /rules\[0\] .*: rules must be known at synth time/],
    ['an allowed value known only at deploy', { rules: [{ tagKey: 'Env', allowedValues: ['dev', Lazy.string({ produce: () => 'prod' })] }] }, /rules\[0\] \("Env"\): rules must be known at synth time/],
    ['an unknown onViolation', { rules: [{ tagKey: 'A', onViolation: 'DELETE' as ViolationAction }] }, /rules\[0\]\.onViolation \("DELETE"\): must be one of NOTIFY, MARK, STOP, TERMINATE/],
    ['an unknown untaggedAction', { rules: issueRules(), untaggedAction: 'DELETE' as ViolationAction }, /untaggedAction \("DELETE"\): must be one of NOTIFY, MARK, STOP, TERMINATE/],
    ['a grace period over a year', { rules: issueRules(), gracePeriod: Duration.days(367) }, /gracePeriod \(367 days\): must be at most 366 days/],
    ['a selector value too long', { rules: issueRules(), instanceSelector: { team: 'v'.repeat(257) } }, /instanceSelector\["team"\] .*: a tag value must be a string of at most 256 characters/],
    ['a selector on the protection tag', { rules: issueRules(), instanceSelector: { 'fleet-janitor:protect': 'x' } }, /instanceSelector \(.*\): must not select on the protection tag "fleet-janitor:protect": selected instances would all be protected/],
    ['a schedule as short as the timeout', { rules: issueRules(), schedule: scheduler.ScheduleExpression.rate(Duration.minutes(5)) }, /rate schedule must be longer than the function timeout/],
    ['a bad maxActionsPerRun', { rules: issueRules(), maxActionsPerRun: -1 }, /maxActionsPerRun \(-1\)/],
  ] as Array<[string, TagPolicyEngineProps, RegExp]>)('%s', (_name, props, message) => {
    const stack = newStack();
    expect(() => new TagPolicyEngine(stack, 'Tags', props)).toThrow(message);
    expect(() => new TagPolicyEngine(stack, 'Tags', props)).toThrow(/^TagPolicyEngine: invalid /);
    expect(stack.node.findAll().length).toBe(1);
  });

  test('boundaries are accepted: grace period 0 and 366 days, 128-character keys, a table and no rules', () => {
    const stack = newStack();
    new TagPolicyEngine(stack, 'A', { rules: [{ tagKey: 'k'.repeat(128) }], gracePeriod: Duration.seconds(0) });
    new TagPolicyEngine(stack, 'B', { rules: issueRules(), gracePeriod: Duration.days(366) });
    new TagPolicyEngine(stack, 'C', { table: dynamodb.Table.fromTableName(stack, 'T', 'seed-rules') });
    expect(Template.fromStack(stack).findResources('AWS::Lambda::Function')).toBeDefined();
  });
});

describe('the handler', () => {
  test('runs the pre-built tag-policy-engine bundle; without vpcs, every VPC (an empty list)', () => {
    const { template } = build();
    // The same folder as an asset of another stack: the same content hash, so the same S3 key.
    const expected = lambda.Code.fromAsset(nodePath.join(ASSETS_DIR, 'tag-policy-engine')).bind(newStack()).s3Location!.objectKey;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Code: { S3Key: expected },
      Handler: 'index.handler',
      Environment: { Variables: Match.objectLike({ VPC_IDS: '[]' }) },
    });
  });
});

describe('TagValue', () => {
  test('each value as rule item attributes: the seed\'s Action, and a Default only where the value has one', () => {
    expect(TagValue.creator()._toItem()).toStrictEqual({ Action: 'UserLookup' });
    expect(TagValue.fixed('unassigned')._toItem()).toStrictEqual({ Action: 'Update', Default: 'unassigned' });
    expect(TagValue.launchDate()._toItem()).toStrictEqual({ Action: 'Function', Default: 'today()' });
    expect(TagValue.fromTag('Team')._toItem()).toStrictEqual({ Action: 'FromTag', Default: 'Team' });
    expect(`${TagValue.fromTag('Team')}`).toBe('fromTag("Team")');
  });
});

describe('snapshot', () => {
  test('representative stack', () => {
    const stack = newStack();
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-12345678', availabilityZones: ['eu-west-1a'] });
    new TagPolicyEngine(stack, 'Tags', {
      rules: issueRules(),
      vpcs: [vpc],
      instanceSelector: { managed: 'true' },
      untaggedAction: ViolationAction.STOP,
      gracePeriod: Duration.days(3),
      propagateToVolumes: true,
    });
    const template = maskedTemplate(stack);
    expect(JSON.stringify(template)).not.toMatch(/[0-9a-f]{64}/);
    expect(template).toMatchSnapshot();
  });
});

describe('five cdk-nag rule packs', () => {
  test('everything on: only the inherent findings are acknowledged', () => {
    const stack = newStack();
    const { props, user } = everythingOn(stack);
    new TagPolicyEngine(stack, 'Tags', props);
    const acknowledged = expectNoNagFindings(stack, { userConstructs: [user] });
    // in the VPC given, the rules provider's functions need no LambdaInsideVPC acknowledgement, and carry none
    expect(acknowledged.filter((f) => f.ruleId.endsWith('-LambdaInsideVPC'))).toEqual([]);
    const suppressed = Object.values(Template.fromStack(stack).toJSON().Resources as Record<string, { Metadata?: any }>)
      .flatMap((r) => (r.Metadata?.cdk_nag?.rules_to_suppress ?? []).map((x: { id: string }) => x.id));
    expect(suppressed.length).toBeGreaterThan(0);
    expect(suppressed.filter((id: string) => id.endsWith('-LambdaInsideVPC'))).toEqual([]);
    const own = acknowledged.filter((f) => !f.path.includes('/RulesProvider/'));
    expect([...new Set(own.map((f) => f.ruleId))].sort()).toEqual([
      'AwsSolutions-IAM5', 'HIPAA.Security-DynamoDBInBackupPlan', 'NIST.800.53.R5-DynamoDBInBackupPlan', 'Serverless-SQSRedrivePolicy',
    ]);
    const wildcard = own.filter((f) => f.path === 'TestStack/Tags/Handler/Policy/Resource').map((f) => f.findingId);
    expect(wildcard.sort()).toEqual([
      'Resource::*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*',
    ]);
  });

  test('the wildcard acknowledgements say what each configuration grants, and nothing it does not', () => {
    const reasons = (props: TagPolicyEngineProps) => {
      const acknowledged = expectNoNagFindings(build(props).stack).filter((f) => f.path === 'TestStack/Tags/Handler/Policy/Resource');
      const of = (suffix: string) => acknowledged.find((f) => f.findingId.endsWith(suffix))!.reason;
      return { any: of('Resource::*'), instances: of(':instance/*') };
    };
    const plain = reasons({ rules: [{ tagKey: 'Team', defaultValue: TagValue.fixed('none') }], backfillCreators: false });
    expect(plain.any).toBe('[Resource::*] ec2:DescribeInstances: EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; read-only.');
    expect(plain.instances).toBe('[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*] ec2:CreateTags, ec2:DeleteTags on instance/*: the instances are not known in advance; both exclude instances with a '
      + '"fleet-janitor:protect" tag, and DeleteTags may only remove the fleet-janitor:violation tag.');

    const acting = reasons({ rules: issueRules(), instanceSelector: { managed: 'true' }, untaggedAction: ViolationAction.STOP });
    expect(acting.any).toContain(' cloudtrail:LookupEvents: supports no resource-level permissions either');
    expect(acting.instances).toContain('"fleet-janitor:protect" tag and require the instanceSelector tags, and DeleteTags');
    expect(acting.instances).toContain(' ec2:StopInstances on instance/*: only instances that carry the fleet-janitor:violation mark and no "fleet-janitor:protect" tag.');
  });

  test('defaults, dry run and an imported table: no unacknowledged finding', () => {
    for (const props of [{ rules: issueRules() }, { rules: issueRules(), dryRun: true, backfillCreators: false }]) {
      expectNoNagFindings(build(props).stack);
    }
    const stack = newStack();
    new TagPolicyEngine(stack, 'Tags', { table: dynamodb.Table.fromTableName(stack, 'Seed', 'seed-rules'), captureCreators: false });
    const acknowledged = expectNoNagFindings(stack);
    expect(acknowledged.filter((f) => f.ruleId.endsWith('DynamoDBInBackupPlan'))).toEqual([]);
  });
});
