import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, SNAPSHOT_ATTRIBUTES, STATE_CHANGE_DETAIL_TYPE, TTL_ATTRIBUTE, WATCHED_STATES } from './contract';
import { parseTemplate } from './record-template';
import { createFailureAlarms } from '../common/alarms';
import { DEFAULT_MAX_ACTIONS_PER_RUN, DEFAULT_PROTECTION_TAG_KEY, JanitorCommonProps } from '../common/common-props';
import { INSTANCE_DECOMMISSIONER_ENV_LIMITS } from '../common/env-limits';
import { DEFAULT_TIMEOUT, HandlerFunction, envNumber } from '../common/handler-function';
import { FleetJanitorBase } from '../common/janitor-base';
import { NagAcknowledgement, acknowledgeNagFindings, resourceFinding } from '../common/nag';
import { grantPublish, resolveTopic } from '../common/notifications';
import { checkScheduleAgainstTimeout, scheduleSweep } from '../common/schedule';
import { checkCommonProps, checkDuration, checkInteger, checkTagMap, fail, secondsBounds } from '../common/validation';

export interface InstanceDecommissionerProps extends JanitorCommonProps {
  /**
   * The hosted zones whose records the decommissioner may change: only records in these zones are
   * ever read or changed. Each zone's name must be known at synth: import a zone with
   * `HostedZone.fromHostedZoneAttributes`, not `fromHostedZoneId`.
   * @default - no zone: DNS records are left alone
   */
  readonly hostedZones?: route53.IHostedZone[];

  /**
   * Names of the DNS records that belong to an instance, e.g. `{tag:Name}.internal.example.com`.
   * Placeholders: `{instanceId}`, `{tag:<Key>}`, `{privateIp}`, `{privateIpDashed}` (10-0-0-1),
   * `{privateDnsName}`, `{az}`. Each template must name records in one of `hostedZones`.
   * @default - no template
   */
  readonly recordNameTemplates?: string[];

  /**
   * Delete the CloudWatch alarms whose `InstanceId` dimension is a decommissioned instance.
   * @default false
   */
  readonly deleteAlarms?: boolean;

  /**
   * The bus that receives one "Instance Decommissioned" event (source `cdk-fleet-janitor`) per
   * decommissioned instance, with its snapshot and what was cleaned, for your own rules.
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Functions invoked synchronously with the snapshot of each decommissioned instance (your own
   * cleanup: Chef, Consul, a CMDB). A hook that fails fails that instance's event, which is retried
   * and ends in the dead-letter queue.
   * @default - no hook
   */
  readonly hooks?: lambda.IFunction[];

  /**
   * Only instances carrying all of these tags (key → exact value) are decommissioned.
   * @default - every instance
   */
  readonly instanceSelector?: { [key: string]: string };

  /**
   * How long the snapshot of an instance stays in the table (DynamoDB TTL), counted from its
   * decommission: the reconcile sweep works from these snapshots, and they are the audit trail. The
   * snapshot of a live instance does not expire (its cleanup needs it, however long it runs).
   * Snapshots are stored in a dry run too: a snapshot records what an instance looked like and
   * changes nothing in the fleet.
   * @default Duration.days(90)
   */
  readonly snapshotRetention?: Duration;

  /**
   * Run a periodic reconcile sweep that cleans up what events missed: it decommissions instances
   * whose snapshot is live but that EC2 no longer runs, and removes records and alarms of instances
   * the table knows as decommissioned.
   * @default true
   */
  readonly reconcile?: boolean;

  /**
   * When the reconcile sweep runs (only with `reconcile`).
   * @default ScheduleExpression.rate(Duration.days(1))
   */
  readonly reconcileSchedule?: scheduler.ScheduleExpression;

  /**
   * Attempts at a state-change event before it moves to the dead-letter queue (the event queue's
   * redrive policy), from 1 to 1000.
   * @default 5
   */
  readonly maxReceiveCount?: number;
}

const NAME = 'InstanceDecommissioner';
const DEFAULT_RECONCILE_SCHEDULE = scheduler.ScheduleExpression.rate(Duration.days(1));
const DEFAULT_SNAPSHOT_RETENTION = Duration.days(90);
const DEFAULT_MAX_RECEIVE_COUNT = 5;
/** AWS's guidance for a queue a function consumes: a visibility timeout of at least 6 × the function timeout. */
const VISIBILITY_TIMEOUT_FACTOR = 6;
/** SQS's largest visibility timeout. */
const MAX_VISIBILITY_TIMEOUT = Duration.hours(12);
/** Messages per batch (SQS's largest receive without a batching window). */
const BATCH_SIZE = 10;
/** Concurrent batches (the lowest maximum Lambda accepts): keeps Route53's 5 requests/s per account within reach. */
const MAX_CONCURRENCY = 2;
/** The oldest event waiting this long means events are not being processed. */
const QUEUE_AGE_THRESHOLD = Duration.minutes(15);

/**
 * Tidies up after EC2 instances that die. EC2 state-change events reach the handler through an SQS
 * queue (no event lost: a failed event is retried, then kept in the dead-letter queue). On
 * `running` the handler stores a snapshot of the instance in a DynamoDB table; on `shutting-down`
 * and `terminated` it uses that snapshot to delete the instance's DNS records in `hostedZones`,
 * its CloudWatch alarms (`deleteAlarms`), invokes the `hooks`, and puts an "Instance
 * Decommissioned" event on `eventBus`. A scheduled reconcile sweep catches what events missed.
 *
 * `reserveConcurrency` is refused: the queue is consumed by up to 2 batches at once (the lowest
 * maximum concurrency of an SQS event source), which a reservation of 1 would throttle into the
 * dead-letter queue.
 */
export class InstanceDecommissioner extends FleetJanitorBase {
  /** The kind of janitor. */
  public readonly janitorName = NAME;
  /** The handler function (state-change events from the queue, and the reconcile sweep). */
  public readonly handler: lambda.IFunction;
  /** The topic that receives the reports and the alarms. */
  public readonly topic: sns.ITopic;
  /**
   * The snapshot table (partition key `InstanceId`): on-demand, point-in-time recovery, encrypted,
   * TTL on `ExpiresAt`, retained when the stack is deleted.
   */
  public readonly table: dynamodb.ITable;
  /** The queue the state-change events wait in for the handler (encrypted, TLS-only, kept 14 days). */
  public readonly queue: sqs.IQueue;
  /**
   * Where everything that failed after its retries ends (encrypted, TLS-only, kept 14 days): events
   * of the queue after `maxReceiveCount` attempts, reconcile sweeps, and events the rule could not deliver.
   */
  public readonly deadLetterQueue: sqs.IQueue;
  /** The bus the "Instance Decommissioned" events go to. */
  public readonly eventBus: events.IEventBus;
  /** The EventBridge rule that sends EC2 state-change events to `queue`. */
  public readonly stateChangeRule: events.IRule;
  /** Alarm on handler errors; notifies `topic`. */
  public readonly errorAlarm: cloudwatch.IAlarm;
  /** Alarm on handler throttles; notifies `topic`. */
  public readonly throttleAlarm: cloudwatch.IAlarm;
  /** Alarm on messages in `deadLetterQueue`; notifies `topic`. */
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  /** Alarm when the oldest event in `queue` has waited 15 minutes: events are not being processed; notifies `topic`. */
  public readonly queueAgeAlarm: cloudwatch.IAlarm;
  /** Every alarm above. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** The handler's log group. */
  public readonly logGroup: logs.ILogGroup;
  /** The EventBridge Scheduler schedule that starts each reconcile sweep; undefined when `reconcile` is false. */
  public readonly schedule?: scheduler.ISchedule;

  constructor(scope: Construct, id: string, props: InstanceDecommissionerProps = {}) {
    validateProps(props);
    super(scope, id);

    const hostedZones = props.hostedZones ?? [];
    const recordNameTemplates = props.recordNameTemplates ?? [];
    const deleteAlarms = props.deleteAlarms ?? false;
    const hooks = props.hooks ?? [];
    const instanceSelector = props.instanceSelector ?? {};
    const snapshotRetention = props.snapshotRetention ?? DEFAULT_SNAPSHOT_RETENTION;
    const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
    const dryRun = props.dryRun ?? false;
    const timeout = props.timeout ?? DEFAULT_TIMEOUT;
    const stack = Stack.of(this);

    this.topic = resolveTopic(this, props.topic, 'fleet-janitor InstanceDecommissioner reports');
    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    const table = this.createTable();
    this.table = table;

    const fn = new HandlerFunction(this, 'Handler', {
      bundle: 'instance-decommissioner',
      serviceName: NAME,
      description: 'cdk-fleet-janitor InstanceDecommissioner: tidies up after EC2 instances that die (DNS records, alarms, hooks)',
      common: props,
      // The reconcile schedule invokes it asynchronously; its dead-letter queue is the event queue's too.
      invokedAsynchronously: true,
      deadLetterQueueUsers: 'the event queue (its redrive policy) and the state-change rule\'s target',
      concurrencyReason: 'No reservation: the event source mapping\'s maximum concurrency (2) bounds the batches that run at once, '
        + 'Lambda refuses a reservation that leaves an account below its minimum unreserved concurrency, and every step of a '
        + 'decommission and of the sweep is safe to repeat or to run beside another.',
      environment: {
        [ENV.topicArn]: this.topic.topicArn,
        [ENV.tableName]: table.tableName,
        [ENV.hostedZones]: stack.toJsonString(hostedZones.map((zone) => ({ id: zone.hostedZoneId, name: zone.zoneName }))),
        [ENV.recordNameTemplates]: stack.toJsonString(recordNameTemplates),
        [ENV.deleteAlarms]: String(deleteAlarms),
        // PutEvents takes a bus name or ARN; the ARN is unambiguous.
        [ENV.eventBus]: this.eventBus.eventBusArn,
        [ENV.hookFunctions]: stack.toJsonString(hooks.map((hook) => hook.functionArn)),
        [ENV.instanceSelector]: stack.toJsonString(instanceSelector),
        [ENV.snapshotRetentionSeconds]: envNumber(snapshotRetention.toSeconds()),
        [ENV.protectionTagKey]: protectionTagKey,
        [ENV.dryRun]: String(dryRun),
        [ENV.maxActionsPerRun]: envNumber(props.maxActionsPerRun ?? DEFAULT_MAX_ACTIONS_PER_RUN),
      },
    });
    this.handler = fn.function;
    this.logGroup = fn.logGroup;
    const deadLetterQueue = fn.deadLetterQueue!;
    this.deadLetterQueue = deadLetterQueue;

    const queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: visibilityTimeoutFor(timeout),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT },
    });
    this.queue = queue;

    // EC2's state-change events carry no tags: the handler applies instanceSelector.
    this.stateChangeRule = new events.Rule(this, 'StateChangeRule', {
      description: 'cdk-fleet-janitor InstanceDecommissioner: EC2 instances starting and dying',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: [STATE_CHANGE_DETAIL_TYPE],
        detail: { state: [...WATCHED_STATES] },
      },
      // EventBridge's own retries (24 hours), then the dead-letter queue: no event lost.
      targets: [new targets.SqsQueue(queue, { deadLetterQueue })],
    });

    // The event source mapping itself, not lambda-event-sources' SqsEventSource: that one grants the
    // queue to the function's role, which lands in an inline policy of the imported role that
    // HandlerFunction passes the function; the consume statement below is in `policy` instead.
    const eventSource = new lambda.EventSourceMapping(this, 'EventSource', {
      target: this.handler,
      eventSourceArn: queue.queueArn,
      batchSize: BATCH_SIZE,
      // The handler answers with partial batch responses: a failed instance is retried alone.
      reportBatchItemFailures: true,
      maxConcurrency: MAX_CONCURRENCY,
    });
    acknowledgeNagFindings(eventSource, [{
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'Lambda supports on-failure destinations for stream and Kafka event sources only, not for SQS: the event queue\'s redrive '
        + 'policy moves a message that failed maxReceiveCount times to the dead-letter queue, whose alarm notifies the topic.',
    }]);

    const policy = fn.policy;
    policy.addStatements(new iam.PolicyStatement({ sid: 'DescribeInstances', actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    const acknowledgements: NagAcknowledgement[] = [{
      id: 'AwsSolutions-IAM5',
      reason: 'ec2:DescribeInstances: EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; read-only.',
      appliesTo: ['Resource::*'],
    }];
    policy.addStatements(new iam.PolicyStatement({
      sid: 'ConsumeEvents',
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
      resources: [queue.queueArn],
    }));
    // Snapshots are stored in a dry run too: they are observations, not changes to the fleet.
    policy.addStatements(new iam.PolicyStatement({
      sid: 'Snapshots',
      actions: ['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'],
      resources: [table.tableArn],
    }));

    if (hostedZones.length > 0) {
      const zoneArns = hostedZones.map((zone) => zone.hostedZoneArn);
      policy.addStatements(new iam.PolicyStatement({ sid: 'ReadRecords', actions: ['route53:ListResourceRecordSets'], resources: zoneArns }));
      if (!dryRun) {
        policy.addStatements(new iam.PolicyStatement({
          sid: 'ChangeRecords',
          actions: ['route53:ChangeResourceRecordSets'],
          resources: zoneArns,
          // A record loses a value by a DELETE of the set and a CREATE of what remains: never an UPSERT.
          conditions: { 'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsActions': ['DELETE', 'CREATE'] } },
        }));
      }
    }

    if (deleteAlarms) {
      const alarmArns = stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
      policy.addStatements(new iam.PolicyStatement({ sid: 'FindAlarms', actions: ['cloudwatch:DescribeAlarms'], resources: [alarmArns] }));
      let reason = 'cloudwatch:DescribeAlarms on alarm:*: the alarms on an instance are found by listing the metric alarms of the account '
        + 'and region (read-only).';
      if (!dryRun) {
        policy.addStatements(new iam.PolicyStatement({ sid: 'DeleteAlarms', actions: ['cloudwatch:DeleteAlarms'], resources: [alarmArns] }));
        reason += ' cloudwatch:DeleteAlarms on alarm:*: the alarms are not known in advance; the handler deletes only alarms whose '
          + 'InstanceId dimension names an instance it decommissioned.';
      }
      acknowledgements.push({ id: 'AwsSolutions-IAM5', reason, appliesTo: [resourceFinding(this, alarmArns)] });
    }

    if (!dryRun) {
      if (hooks.length > 0) {
        policy.addStatements(new iam.PolicyStatement({ sid: 'InvokeHooks', actions: ['lambda:InvokeFunction'], resources: hooks.map((hook) => hook.functionArn) }));
      }
      policy.addStatements(new iam.PolicyStatement({ sid: 'AnnounceDecommissions', actions: ['events:PutEvents'], resources: [this.eventBus.eventBusArn] }));
    }
    grantPublish(this.topic, policy);
    acknowledgeNagFindings(policy, acknowledgements);

    const alarms = createFailureAlarms(this, this.handler, this.topic, NAME, deadLetterQueue);
    this.errorAlarm = alarms.errorAlarm;
    this.throttleAlarm = alarms.throttleAlarm;
    this.deadLetterAlarm = alarms.deadLetterAlarm!;
    const queueAgeAlarm = new cloudwatch.Alarm(this, 'QueueAgeAlarm', {
      alarmDescription: `${NAME}: a state-change event has waited ${QUEUE_AGE_THRESHOLD.toHumanString()} or more in the queue: events are `
        + 'not being processed. See the error and throttle alarms and the handler\'s log group.',
      metric: queue.metricApproximateAgeOfOldestMessage(),
      threshold: QUEUE_AGE_THRESHOLD.toSeconds(),
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    queueAgeAlarm.addAlarmAction(new actions.SnsAction(this.topic));
    this.queueAgeAlarm = queueAgeAlarm;
    this.alarms = [this.errorAlarm, this.throttleAlarm, this.deadLetterAlarm, this.queueAgeAlarm];

    if (props.reconcile ?? true) {
      this.schedule = scheduleSweep(this, this.handler, props.reconcileSchedule ?? DEFAULT_RECONCILE_SCHEDULE,
        'cdk-fleet-janitor InstanceDecommissioner reconcile sweep', deadLetterQueue);
    }
  }

  /** Lets `grantee` read the snapshot table (a hook, an audit job). */
  public grantReadSnapshots(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  private createTable(): dynamodb.Table {
    const table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: SNAPSHOT_ATTRIBUTES.instanceId, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      // The snapshots are the audit trail and what the reconcile sweep works from: deleting the stack must not delete them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeNagFindings(table, ['NIST.800.53.R5', 'HIPAA.Security'].map((pack) => ({
      id: `${pack}-DynamoDBInBackupPlan`,
      reason: 'Point-in-time recovery is on (restore to any second of the last 35 days); the table holds snapshots of instances, each '
        + 'expiring snapshotRetention after its decommission, that EC2 still describes while they run. A team whose policy requires AWS '
        + 'Backup adds `table` to its backup plan.',
    })));
    return table;
  }
}

/** 6 × the function timeout (AWS's guidance for a queue a function consumes), at most SQS's 12 hours. */
function visibilityTimeoutFor(timeout: Duration): Duration {
  if (timeout.isUnresolved()) return MAX_VISIBILITY_TIMEOUT;
  return Duration.seconds(Math.min(VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds(), MAX_VISIBILITY_TIMEOUT.toSeconds()));
}

function validateProps(props: InstanceDecommissionerProps): void {
  checkCommonProps(NAME, props);
  if (props.reserveConcurrency) {
    fail(NAME, 'reserveConcurrency', props.reserveConcurrency, `the event queue is consumed by up to ${MAX_CONCURRENCY} batches at once `
      + '(the lowest maximum concurrency of an SQS event source): a reservation of 1 would throttle them and send events to the dead-letter queue');
  }

  checkTagMap(NAME, 'instanceSelector', props.instanceSelector);
  const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
  if (props.instanceSelector && Object.prototype.hasOwnProperty.call(props.instanceSelector, protectionTagKey)) {
    fail(NAME, 'instanceSelector', props.instanceSelector, `must not select on the protection tag "${protectionTagKey}": selected instances would all be protected`);
  }

  const templates = props.recordNameTemplates ?? [];
  const suffixes = new Map<number, string>();
  templates.forEach((template, index) => {
    if (Token.isUnresolved(template)) return;
    const parsed = parseTemplate(template);
    if (parsed.error !== undefined) fail(NAME, `recordNameTemplates[${index}]`, template, parsed.error);
    if (templates.indexOf(template) !== index) fail(NAME, `recordNameTemplates[${index}]`, template, 'is given twice');
    const last = parsed.parts[parsed.parts.length - 1];
    suffixes.set(index, 'text' in last ? last.text : '');
  });

  const zones = props.hostedZones ?? [];
  if (templates.length > 0 && zones.length === 0) {
    fail(NAME, 'recordNameTemplates', templates, 'need hostedZones: records are only ever changed in the zones given');
  }
  const zoneNames = zones.map((zone, index) => {
    try {
      return zone.zoneName;
    } catch {
      return fail(NAME, `hostedZones[${index}]`, zone.hostedZoneId, 'its zone name is not known (a zone imported with HostedZone.fromHostedZoneId): '
        + 'import it with HostedZone.fromHostedZoneAttributes({ hostedZoneId, zoneName })');
    }
  });
  // A template must be able to name a record in some zone; unknowable while a zone name is a token.
  if (!zoneNames.some((name) => Token.isUnresolved(name))) {
    const names = zoneNames.map(normalizeZoneName);
    for (const [index, suffix] of suffixes) {
      if (!names.some((zone) => canNameRecordIn(suffix, zone))) {
        fail(NAME, `recordNameTemplates[${index}]`, templates[index], `names no record in any of hostedZones (${names.join(', ')})`);
      }
    }
  }

  checkDuration(NAME, 'snapshotRetention', props.snapshotRetention, secondsBounds(INSTANCE_DECOMMISSIONER_ENV_LIMITS.SNAPSHOT_RETENTION_SECONDS));

  if (props.reconcile === false && props.reconcileSchedule !== undefined) {
    fail(NAME, 'reconcileSchedule', props.reconcileSchedule.expressionString, 'is given but reconcile is false: there is no sweep to schedule');
  }
  checkScheduleAgainstTimeout(NAME, props.reconcileSchedule, props.timeout ?? DEFAULT_TIMEOUT, 'reconcileSchedule');

  checkInteger(NAME, 'maxReceiveCount', props.maxReceiveCount, 1, 1000);
}

function normalizeZoneName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/**
 * Whether a name ending with `suffix` (the template's fixed text after its last placeholder) can be
 * in `zone` or a name below it: the suffix already ends in the zone, or the placeholder before it
 * can supply the rest of the zone's name.
 */
function canNameRecordIn(suffix: string, zone: string): boolean {
  const tail = normalizeZoneName(suffix);
  return `.${zone}`.endsWith(tail) || tail.endsWith(`.${zone}`);
}
