import { Aws, CustomResource, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import {
  CLOUDTRAIL_DETAIL_TYPE, RULE_ATTRIBUTES as A, RULES_PROPERTIES, RULES_RESOURCE_TYPE, TTL_ATTRIBUTE, VIOLATION_TAG_KEY,
} from './contract';
import { parseRuleItem } from './rule-format';
import { TagValue } from './tag-value';
import { ViolationAction } from './violation-action';
import { createFailureAlarms } from '../common/alarms';
import { DEFAULT_MAX_ACTIONS_PER_RUN, DEFAULT_PROTECTION_TAG_KEY, JanitorCommonProps } from '../common/common-props';
import { TAG_POLICY_ENGINE_ENV_LIMITS } from '../common/env-limits';
import { DEFAULT_TIMEOUT, HandlerFunction, envNumber } from '../common/handler-function';
import { FleetJanitorBase } from '../common/janitor-base';
import { createLogGroup } from '../common/log-group';
import { NagAcknowledgement, acknowledgeNagFindings, resourceFinding } from '../common/nag';
import { grantPublish, resolveTopic } from '../common/notifications';
import { acknowledgeProviderFramework } from '../common/provider-framework';
import { checkScheduleAgainstTimeout, scheduleSweep } from '../common/schedule';
import { checkCommonProps, checkDuration, checkTagMap, fail, secondsBounds } from '../common/validation';

/** One tag rule: which key, whether it is required, what fills it in, which values are valid. */
export interface TagRule {
  /** The tag key. */
  readonly tagKey: string;

  /**
   * An instance without the tag (or with an empty value) that no default can fill in violates the rule.
   * @default false
   */
  readonly required?: boolean;

  /**
   * What is written when the tag is missing or empty.
   * @default - nothing is written: a missing tag is a violation if `required`
   */
  readonly defaultValue?: TagValue;

  /**
   * The only values allowed; any other value is a violation (never overwritten).
   * @default - any value
   */
  readonly allowedValues?: string[];

  /**
   * A regular expression (JavaScript syntax) the whole value must match; otherwise a violation.
   * @default - any value
   */
  readonly pattern?: string;

  /**
   * What a violation of this rule leads to.
   * @default - the engine's `untaggedAction`
   */
  readonly onViolation?: ViolationAction;

  /**
   * The rule's `RuleId` in the table (its partition key).
   * @default - the tag key
   */
  readonly ruleId?: string;
}

export interface TagPolicyEngineProps extends JanitorCommonProps {
  /**
   * The rules, written to the rule table on deploy (updated when they change, removed when dropped
   * from here). Items added to the table by hand are read too and never touched by a deploy.
   * @default - no rules from props: the table's own items are the rules (give `table` then)
   */
  readonly rules?: TagRule[];

  /**
   * A table that holds rules in the seed's format (partition key `RuleId`, a string). Its items are
   * read on every run; the props rules are written to it.
   * @default - a new table: on-demand, point-in-time recovery, encrypted, TTL on `ExpiresAt`, retained when the stack is deleted
   */
  readonly table?: dynamodb.ITable;

  /**
   * Only instances in these VPCs are checked.
   * @default - every instance in the region
   */
  readonly vpcs?: ec2.IVpc[];

  /**
   * Only instances carrying all of these tags (key → exact value) are checked.
   * @default - no tag requirement
   */
  readonly instanceSelector?: { [key: string]: string };

  /**
   * What happens to an instance that breaks a required rule no default can fix (or whose value is
   * invalid), unless the rule says otherwise with `onViolation`. MARK tags it
   * `fleet-janitor:violation`; STOP and TERMINATE mark it first, and act `gracePeriod` later if it is
   * still in violation.
   * @default ViolationAction.NOTIFY
   */
  readonly untaggedAction?: ViolationAction;

  /**
   * Time between marking an instance and stopping or terminating it.
   * @default Duration.days(3)
   */
  readonly gracePeriod?: Duration;

  /**
   * Tag the creator of new instances within seconds of their launch, from CloudTrail's RunInstances
   * event on EventBridge. The account needs a CloudTrail trail that logs management events (write)
   * in this region for those events to reach EventBridge.
   * @default true
   */
  readonly captureCreators?: boolean;

  /**
   * Find the creators of instances launched before the engine (or whose event was missed) in
   * CloudTrail's 90-day event history, at most 2 lookups per second.
   * @default true
   */
  readonly backfillCreators?: boolean;

  /**
   * Write the tags the engine sets on an instance to its EBS volumes and network interfaces too.
   * @default false
   */
  readonly propagateToVolumes?: boolean;

  /**
   * When the sweep runs.
   * @default ScheduleExpression.rate(Duration.hours(1))
   */
  readonly schedule?: scheduler.ScheduleExpression;
}

const NAME = 'TagPolicyEngine';
const DEFAULT_SCHEDULE = scheduler.ScheduleExpression.rate(Duration.hours(1));
const DEFAULT_GRACE_PERIOD = Duration.days(3);

/**
 * Enforces EC2 tag rules kept in DynamoDB on a schedule: fills in missing tags from defaults (fixed
 * values, the creator, the launch date, another tag), reports invalid values, marks instances that
 * break a required rule and stops or terminates them after a grace period if configured to. Tags
 * new instances with their creator as they launch.
 */
export class TagPolicyEngine extends FleetJanitorBase {
  /** The kind of janitor. */
  public readonly janitorName = NAME;
  /** The handler function (the sweep, the launch events and the rules on deploy). */
  public readonly handler: lambda.IFunction;
  /** The topic that receives each run's report and the alarms. */
  public readonly topic: sns.ITopic;
  /** The rule table. */
  public readonly table: dynamodb.ITable;
  /** Alarm on handler errors; notifies `topic`. */
  public readonly errorAlarm: cloudwatch.IAlarm;
  /** Alarm on handler throttles; notifies `topic`. */
  public readonly throttleAlarm: cloudwatch.IAlarm;
  /** Alarm on messages in `deadLetterQueue`; notifies `topic`. */
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  /** Every alarm above. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** Where sweeps and launch events that failed after every retry leave their event (encrypted, TLS-only, kept 14 days). */
  public readonly deadLetterQueue: sqs.IQueue;
  /** The EventBridge Scheduler schedule that starts each sweep. */
  public readonly schedule: scheduler.ISchedule;
  /** The EventBridge rule that sends RunInstances events to the handler; undefined when `captureCreators` is false. */
  public readonly creatorCaptureRule?: events.IRule;
  /** The handler's log group. */
  public readonly logGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: TagPolicyEngineProps = {}) {
    validateProps(props);
    super(scope, id);

    const untaggedAction = props.untaggedAction ?? ViolationAction.NOTIFY;
    const gracePeriod = props.gracePeriod ?? DEFAULT_GRACE_PERIOD;
    const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
    const instanceSelector = props.instanceSelector ?? {};
    const dryRun = props.dryRun ?? false;
    const captureCreators = props.captureCreators ?? true;
    const backfillCreators = props.backfillCreators ?? true;
    const propagateToVolumes = props.propagateToVolumes ?? false;
    const rules = props.rules ?? [];

    this.topic = resolveTopic(this, props.topic, 'fleet-janitor TagPolicyEngine reports');
    this.table = props.table ?? this.createTable();


    const fn = new HandlerFunction(this, 'Handler', {
      bundle: 'tag-policy-engine',
      serviceName: NAME,
      description: 'cdk-fleet-janitor TagPolicyEngine: enforces EC2 tag rules kept in DynamoDB',
      common: props,
      invokedAsynchronously: true,
      environment: {
        TOPIC_ARN: this.topic.topicArn,
        TABLE_NAME: this.table.tableName,
        UNTAGGED_ACTION: untaggedAction,
        GRACE_PERIOD_SECONDS: envNumber(gracePeriod.toSeconds()),
        VPC_IDS: Stack.of(scope).toJsonString((props.vpcs ?? []).map((v) => v.vpcId)),
        INSTANCE_SELECTOR: JSON.stringify(instanceSelector),
        PROTECTION_TAG_KEY: protectionTagKey,
        DRY_RUN: String(dryRun),
        MAX_ACTIONS_PER_RUN: envNumber(props.maxActionsPerRun ?? DEFAULT_MAX_ACTIONS_PER_RUN),
        BACKFILL_CREATORS: String(backfillCreators),
        PROPAGATE_TO_VOLUMES: String(propagateToVolumes),
      },
    });
    this.handler = fn.function;
    this.logGroup = fn.logGroup;
    this.deadLetterQueue = fn.deadLetterQueue!;
    const policy = fn.policy;

    const describeActions = ['ec2:DescribeInstances'];
    policy.addStatements(new iam.PolicyStatement({ sid: 'DescribeInstances', actions: describeActions, resources: ['*'] }));
    const acknowledgements: NagAcknowledgement[] = [{
      id: 'AwsSolutions-IAM5',
      reason: 'ec2:DescribeInstances: EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; read-only.'
        + (backfillCreators ? ' cloudtrail:LookupEvents: supports no resource-level permissions either; read-only, and paced at 2 requests per second.' : ''),
      appliesTo: ['Resource::*'],
    }];
    if (backfillCreators) {
      policy.addStatements(new iam.PolicyStatement({ sid: 'LookUpLaunches', actions: ['cloudtrail:LookupEvents'], resources: ['*'] }));
    }

    // The table: rules are read every run and written by the deploy; creators are cached outside a dry run.
    const tableActions = ['dynamodb:Scan', 'dynamodb:PutItem', 'dynamodb:DeleteItem', ...(dryRun ? [] : ['dynamodb:BatchWriteItem'])];
    policy.addStatements(new iam.PolicyStatement({ sid: 'RuleTable', actions: tableActions, resources: [this.table.tableArn] }));
    if (this.table.encryptionKey) {
      policy.addStatements(new iam.PolicyStatement({
        sid: 'RuleTableKey',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.table.encryptionKey.keyArn],
      }));
    }

    if (!dryRun) {
      const instances = fn.ec2Arn('instance', '*');
      const unprotected = { Null: { [`ec2:ResourceTag/${protectionTagKey}`]: 'true' } };
      const selected = Object.keys(instanceSelector).length === 0 ? {} : {
        StringEquals: Object.fromEntries(Object.entries(instanceSelector).map(([k, v]) => [`ec2:ResourceTag/${k}`, v])),
      };
      policy.addStatements(new iam.PolicyStatement({
        sid: 'TagInstances',
        actions: ['ec2:CreateTags'],
        resources: [instances],
        conditions: { ...unprotected, ...selected },
      }));
      policy.addStatements(new iam.PolicyStatement({
        sid: 'UnmarkInstances',
        actions: ['ec2:DeleteTags'],
        resources: [instances],
        conditions: { ...unprotected, ...selected, 'ForAllValues:StringEquals': { 'aws:TagKeys': [VIOLATION_TAG_KEY] } },
      }));
      const findings = [resourceFinding(this, instances)];
      let reason = `ec2:CreateTags, ec2:DeleteTags on instance/*: the instances are not known in advance; both exclude instances with a "${protectionTagKey}" tag`
        + `${Object.keys(instanceSelector).length ? ' and require the instanceSelector tags' : ''}, and DeleteTags may only remove the ${VIOLATION_TAG_KEY} tag.`;
      // What the props allow; a rule added to the table by hand cannot ask for more (its stop would be refused and reported).
      const configured = new Set([untaggedAction, ...rules.map((r) => r.onViolation ?? untaggedAction)]);
      const instanceActions = [
        ...(configured.has(ViolationAction.STOP) ? ['ec2:StopInstances'] : []),
        ...(configured.has(ViolationAction.TERMINATE) ? ['ec2:TerminateInstances'] : []),
      ];
      if (instanceActions.length > 0) {
        policy.addStatements(new iam.PolicyStatement({
          sid: 'ActOnViolations',
          actions: instanceActions,
          resources: [instances],
          // Only instances the engine marked (a grace period ago, the handler checks) can be stopped or terminated.
          conditions: { Null: { [`ec2:ResourceTag/${protectionTagKey}`]: 'true', [`ec2:ResourceTag/${VIOLATION_TAG_KEY}`]: 'false' }, ...selected },
        }));
        reason += ` ${instanceActions.join(', ')} on instance/*: only instances that carry the ${VIOLATION_TAG_KEY} mark and no "${protectionTagKey}" tag.`;
      }
      if (propagateToVolumes) {
        const attached = [fn.ec2Arn('volume', '*'), fn.ec2Arn('network-interface', '*')];
        policy.addStatements(new iam.PolicyStatement({ sid: 'TagAttachedResources', actions: ['ec2:CreateTags'], resources: attached }));
        findings.push(...attached.map((arn) => resourceFinding(this, arn)));
        reason += ' ec2:CreateTags on volume/* and network-interface/* (propagateToVolumes): the volumes and interfaces of the instances tagged, not known in advance.';
      }
      acknowledgements.push({ id: 'AwsSolutions-IAM5', reason, appliesTo: findings });
    }
    grantPublish(this.topic, policy);
    acknowledgeNagFindings(policy, acknowledgements);

    const alarms = createFailureAlarms(this, this.handler, this.topic, NAME, this.deadLetterQueue);
    this.errorAlarm = alarms.errorAlarm;
    this.throttleAlarm = alarms.throttleAlarm;
    this.deadLetterAlarm = alarms.deadLetterAlarm!;
    this.alarms = [this.errorAlarm, this.throttleAlarm, this.deadLetterAlarm];

    this.schedule = scheduleSweep(this, this.handler, props.schedule ?? DEFAULT_SCHEDULE,
      'cdk-fleet-janitor TagPolicyEngine sweep', this.deadLetterQueue);

    if (captureCreators) {
      this.creatorCaptureRule = new events.Rule(this, 'CreatorCapture', {
        description: 'cdk-fleet-janitor TagPolicyEngine: tags the creator of new EC2 instances',
        eventPattern: {
          source: ['aws.ec2'],
          detailType: [CLOUDTRAIL_DETAIL_TYPE],
          detail: { eventSource: ['ec2.amazonaws.com'], eventName: ['RunInstances'] },
        },
        targets: [new targets.LambdaFunction(this.handler, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        })],
      });
    }

    if (rules.length > 0) {
      const frameworkLogs = createLogGroup(this, 'RulesProviderLogGroup', { retention: props.logRetention, encryptionKey: props.logEncryptionKey });
      const provider = new cr.Provider(this, 'RulesProvider', {
        onEventHandler: this.handler,
        logGroup: frameworkLogs,
        vpc: props.vpc,
        vpcSubnets: props.vpcSubnets,
        securityGroups: props.securityGroups,
        providerFunctionEnvEncryption: props.environmentEncryptionKey,
      });
      acknowledgeProviderFramework(provider, props.vpc !== undefined);
      new CustomResource(this, 'Rules', {
        serviceToken: provider.serviceToken,
        resourceType: RULES_RESOURCE_TYPE,
        properties: {
          [RULES_PROPERTIES.tableName]: this.table.tableName,
          [RULES_PROPERTIES.rules]: JSON.stringify(rules.map(ruleItem)),
          [RULES_PROPERTIES.owner]: `${Aws.STACK_NAME}/${this.node.path}`,
        },
      });
    }
  }

  private createTable(): dynamodb.Table {
    const table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: A.ruleId, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      // Rules edited by hand live here: deleting the stack must not delete them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeNagFindings(table, ['NIST.800.53.R5', 'HIPAA.Security'].map((pack) => ({
      id: `${pack}-DynamoDBInBackupPlan`,
      reason: 'Point-in-time recovery is on (restore to any second of the last 35 days); the table holds tag rules (those from props are '
        + 'also in the stack) and a cache of creators that expires. A team whose policy requires AWS Backup adds `table` to its backup plan.',
    })));
    return table;
  }
}

/** A rule as the item written to the table, in the seed's format. */
function ruleItem(rule: TagRule): Record<string, unknown> {
  return {
    [A.ruleId]: rule.ruleId ?? rule.tagKey,
    [A.tagKey]: rule.tagKey,
    [A.required]: String(rule.required ?? false),
    ...(rule.defaultValue ? rule.defaultValue._toItem() : {}),
    ...(rule.allowedValues ? { [A.allowedValues]: [...rule.allowedValues] } : {}),
    ...(rule.pattern !== undefined ? { [A.pattern]: rule.pattern } : {}),
    ...(rule.onViolation ? { [A.onViolation]: rule.onViolation } : {}),
  };
}

function validateProps(props: TagPolicyEngineProps): void {
  checkCommonProps(NAME, props);
  checkDuration(NAME, 'gracePeriod', props.gracePeriod, secondsBounds(TAG_POLICY_ENGINE_ENV_LIMITS.GRACE_PERIOD_SECONDS));
  checkScheduleAgainstTimeout(NAME, props.schedule, props.timeout ?? DEFAULT_TIMEOUT);
  checkTagMap(NAME, 'instanceSelector', props.instanceSelector);
  const actions = Object.values(ViolationAction);
  if (props.untaggedAction !== undefined && !actions.includes(props.untaggedAction)) {
    fail(NAME, 'untaggedAction', props.untaggedAction, `must be one of ${actions.join(', ')}`);
  }
  const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
  if (props.instanceSelector && Object.prototype.hasOwnProperty.call(props.instanceSelector, protectionTagKey)) {
    fail(NAME, 'instanceSelector', props.instanceSelector, `must not select on the protection tag "${protectionTagKey}": selected instances would all be protected`);
  }
  const rules = props.rules ?? [];
  if (rules.length === 0 && !props.table) fail(NAME, 'rules', rules, 'give at least one rule, or a table that holds them');
  const ruleIds = new Set<string>();
  const tagKeys = new Set<string>();
  rules.forEach((rule, index) => {
    const label = `rules[${index}]`;
    for (const value of [rule.tagKey, rule.ruleId, rule.pattern, ...(rule.allowedValues ?? [])]) {
      if (value !== undefined && Token.isUnresolved(value)) fail(NAME, label, rule.tagKey, 'rules must be known at synth time (they are checked and written to the table)');
    }
    if (rule.onViolation !== undefined && !actions.includes(rule.onViolation)) fail(NAME, `${label}.onViolation`, rule.onViolation, `must be one of ${actions.join(', ')}`);
    if (rule.tagKey === VIOLATION_TAG_KEY || rule.tagKey === protectionTagKey) {
      fail(NAME, `${label}.tagKey`, rule.tagKey, 'is a tag the engine itself reads (the violation mark or the protection tag)');
    }
    const parsed = parseRuleItem(ruleItem(rule));
    if (parsed.error !== undefined) fail(NAME, label, rule.tagKey, parsed.error);
    if (ruleIds.has(parsed.rule.ruleId)) fail(NAME, `${label}.ruleId`, parsed.rule.ruleId, 'two rules have this ruleId (it defaults to the tag key)');
    if (tagKeys.has(rule.tagKey)) fail(NAME, `${label}.tagKey`, rule.tagKey, 'two rules are for this tag key');
    ruleIds.add(parsed.rule.ruleId);
    tagKeys.add(rule.tagKey);
  });
}
