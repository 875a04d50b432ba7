import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PackerCleanerAction } from './packer-cleaner-action';
import { createFailureAlarms } from '../common/alarms';
import { DEFAULT_MAX_ACTIONS_PER_RUN, DEFAULT_PROTECTION_TAG_KEY, JanitorCommonProps } from '../common/common-props';
import { PACKER_CLEANER_ENV_LIMITS } from '../common/env-limits';
import { DEFAULT_TIMEOUT, HandlerFunction, envNumber } from '../common/handler-function';
import { FleetJanitorBase } from '../common/janitor-base';
import { NagAcknowledgement, acknowledgeNagFindings, resourceFinding } from '../common/nag';
import { grantPublish, resolveTopic } from '../common/notifications';
import { checkScheduleAgainstTimeout, scheduleSweep } from '../common/schedule';
import { checkCommonProps, checkDuration, checkTagMap, fail, secondsBounds } from '../common/validation';

/** Packer's temporary key pair names: `packer_<uuid>` since 2016 and `packer <uuid>` before. */
export const DEFAULT_PACKER_KEY_NAME_PATTERNS = ['packer_*', 'packer *'];

export interface PackerCleanerProps extends JanitorCommonProps {
  /**
   * A Packer instance older than this (by launch time) is acted on.
   * @default Duration.hours(2)
   */
  readonly maxAge?: Duration;

  /**
   * What to do with a Packer instance older than `maxAge`.
   * @default PackerCleanerAction.NOTIFY
   */
  readonly action?: PackerCleanerAction;

  /**
   * Terminate stopped Packer instances that have been stopped longer than this, whatever `action`
   * is: a stopped instance bills for its volumes forever.
   * @default - stopped instances are only terminated when `action` is TERMINATE
   */
  readonly terminateStoppedAfter?: Duration;

  /**
   * When the sweep runs.
   * @default ScheduleExpression.rate(Duration.hours(1))
   */
  readonly schedule?: scheduler.ScheduleExpression;

  /**
   * Key pair name patterns that identify Packer build instances, with EC2 filter wildcards
   * (`*`, `?`). Applied server-side and re-checked by the handler. Also used for the names of
   * the key pairs and security groups cleaned up.
   * @default ["packer_*", "packer *"]
   */
  readonly keyNamePatterns?: string[];

  /**
   * Only instances carrying all of these tags (key → exact value) are considered, for teams that
   * set Packer's `run_tags`. Destructive permissions are then limited to instances with these tags.
   * @default - no tag requirement
   */
  readonly tagSelector?: { [key: string]: string };

  /**
   * Delete Packer's temporary key pairs older than `maxAge` that no instance uses any more.
   * @default false
   */
  readonly cleanupKeyPairs?: boolean;

  /**
   * Delete Packer's temporary security groups older than `maxAge` that no network interface uses
   * any more (the age is read from the time-ordered UUID Packer puts in the group name).
   * @default false
   */
  readonly cleanupSecurityGroups?: boolean;
}

const NAME = 'PackerCleaner';
const DEFAULT_SCHEDULE = scheduler.ScheduleExpression.rate(Duration.hours(1));

/**
 * A scheduled sweep for EC2 instances left behind by Packer builds: finds instances whose key pair
 * is one of Packer's temporary keys, and notifies, stops or terminates those that ran too long.
 * Optionally deletes Packer's leftover key pairs and security groups.
 */
export class PackerCleaner extends FleetJanitorBase {
  /** The kind of janitor. */
  public readonly janitorName = NAME;
  /** The handler function. */
  public readonly handler: lambda.IFunction;
  /** The topic that receives each run's report and the alarms. */
  public readonly topic: sns.ITopic;
  /** Alarm on handler errors; notifies `topic`. */
  public readonly errorAlarm: cloudwatch.IAlarm;
  /** Alarm on handler throttles; notifies `topic`. */
  public readonly throttleAlarm: cloudwatch.IAlarm;
  /** Alarm on messages in `deadLetterQueue`; notifies `topic`. */
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  /** Every alarm above. */
  public readonly alarms: cloudwatch.IAlarm[];
  /**
   * Where runs that failed after every retry leave their event: Lambda's asynchronous invocations
   * and Scheduler's undeliverable ones (encrypted, TLS-only, kept 14 days).
   */
  public readonly deadLetterQueue: sqs.IQueue;
  /** The EventBridge Scheduler schedule that starts each run. */
  public readonly schedule: scheduler.ISchedule;
  /** The handler's log group. */
  public readonly logGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: PackerCleanerProps = {}) {
    validateProps(props);
    super(scope, id);

    const action = props.action ?? PackerCleanerAction.NOTIFY;
    const maxAge = props.maxAge ?? Duration.hours(2);
    const patterns = props.keyNamePatterns ?? DEFAULT_PACKER_KEY_NAME_PATTERNS;
    const tagSelector = props.tagSelector ?? {};
    const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
    const dryRun = props.dryRun ?? false;
    const cleanupKeyPairs = props.cleanupKeyPairs ?? false;
    const cleanupSecurityGroups = props.cleanupSecurityGroups ?? false;

    this.topic = resolveTopic(this, props.topic, 'fleet-janitor PackerCleaner reports');

    const fn = new HandlerFunction(this, 'Handler', {
      bundle: 'packer-cleaner',
      serviceName: NAME,
      description: 'cdk-fleet-janitor PackerCleaner: stops/terminates/reports Packer build instances that ran too long',
      common: props,
      invokedAsynchronously: true,
      environment: {
        TOPIC_ARN: this.topic.topicArn,
        ACTION: action,
        MAX_AGE_SECONDS: envNumber(maxAge.toSeconds()),
        ...(props.terminateStoppedAfter ? { TERMINATE_STOPPED_AFTER_SECONDS: envNumber(props.terminateStoppedAfter.toSeconds()) } : {}),
        KEY_NAME_PATTERNS: JSON.stringify(patterns),
        TAG_SELECTOR: JSON.stringify(tagSelector),
        PROTECTION_TAG_KEY: protectionTagKey,
        DRY_RUN: String(dryRun),
        MAX_ACTIONS_PER_RUN: envNumber(props.maxActionsPerRun ?? DEFAULT_MAX_ACTIONS_PER_RUN),
        CLEANUP_KEY_PAIRS: String(cleanupKeyPairs),
        CLEANUP_SECURITY_GROUPS: String(cleanupSecurityGroups),
      },
    });
    this.handler = fn.function;
    this.logGroup = fn.logGroup;
    this.deadLetterQueue = fn.deadLetterQueue!;

    // Reads. EC2 Describe* actions support no resource-level permissions.
    const describeActions = ['ec2:DescribeInstances'];
    if (cleanupKeyPairs) describeActions.push('ec2:DescribeKeyPairs');
    if (cleanupSecurityGroups) describeActions.push('ec2:DescribeSecurityGroups', 'ec2:DescribeNetworkInterfaces');
    fn.policy.addStatements(new iam.PolicyStatement({ sid: 'DescribeFleet', actions: describeActions, resources: ['*'] }));
    const acknowledgements: NagAcknowledgement[] = [{
      id: 'AwsSolutions-IAM5',
      reason: `${describeActions.join(', ')}: EC2 Describe actions support no resource-level permissions, so IAM requires Resource "*"; they are read-only.`,
      appliesTo: ['Resource::*'],
    }];

    // Changes, only those the configured behaviour can make, never on protected resources.
    if (!dryRun) {
      const unprotected = { Null: { [`ec2:ResourceTag/${protectionTagKey}`]: 'true' } };
      const selected = Object.keys(tagSelector).length === 0 ? {} : {
        StringEquals: Object.fromEntries(Object.entries(tagSelector).map(([k, v]) => [`ec2:ResourceTag/${k}`, v])),
      };
      const instanceActions: string[] = [];
      if (action === PackerCleanerAction.STOP) instanceActions.push('ec2:StopInstances');
      if (action === PackerCleanerAction.TERMINATE || props.terminateStoppedAfter) instanceActions.push('ec2:TerminateInstances');
      if (instanceActions.length > 0) {
        const instances = fn.ec2Arn('instance', '*');
        fn.policy.addStatements(new iam.PolicyStatement({
          sid: 'ActOnPackerInstances',
          actions: instanceActions,
          resources: [instances],
          conditions: { ...unprotected, ...selected },
        }));
        acknowledgements.push({
          id: 'AwsSolutions-IAM5',
          reason: `${instanceActions.join(', ')} on instance/*: the ids of Packer's build instances are not known in advance; `
            + `the grant is limited by ec2:ResourceTag conditions (no "${protectionTagKey}" tag`
            + `${Object.keys(tagSelector).length > 0 ? ', and the tagSelector tags' : ''}) and the handler only acts on instances `
            + 'whose key pair name matches keyNamePatterns and that are older than maxAge.',
          appliesTo: [resourceFinding(this, instances)],
        });
      }
      if (cleanupKeyPairs) {
        // Key pair ARNs carry the key name, so the patterns (same wildcards as IAM) scope the grant.
        const keyPairs = patterns.map((p) => fn.ec2Arn('key-pair', p));
        fn.policy.addStatements(new iam.PolicyStatement({
          sid: 'DeletePackerKeyPairs',
          actions: ['ec2:DeleteKeyPair'],
          resources: keyPairs,
          conditions: unprotected,
        }));
        const wildcardKeyPairs = keyPairs.map((arn) => resourceFinding(this, arn)).filter((finding) => finding.includes('*'));
        if (wildcardKeyPairs.length > 0) {
          acknowledgements.push({
            id: 'AwsSolutions-IAM5',
            reason: 'ec2:DeleteKeyPair on key-pair/<keyNamePatterns>: key pair ARNs carry the key name, and Packer names each '
              + 'temporary key with a new UUID, so the grant is limited to the configured name patterns (never a bare *), '
              + `and to key pairs without a "${protectionTagKey}" tag.`,
            appliesTo: wildcardKeyPairs,
          });
        }
      }
      if (cleanupSecurityGroups) {
        const securityGroups = fn.ec2Arn('security-group', '*');
        fn.policy.addStatements(new iam.PolicyStatement({
          sid: 'DeletePackerSecurityGroups',
          actions: ['ec2:DeleteSecurityGroup'],
          resources: [securityGroups],
          conditions: unprotected,
        }));
        acknowledgements.push({
          id: 'AwsSolutions-IAM5',
          reason: 'ec2:DeleteSecurityGroup on security-group/*: security group ARNs carry the group id, not its name, and Packer '
            + `creates a new group per build; the grant excludes groups with a "${protectionTagKey}" tag, the handler only deletes `
            + 'groups named like keyNamePatterns, older than maxAge and attached to no network interface, and EC2 refuses to '
            + 'delete a group that is still in use.',
          appliesTo: [resourceFinding(this, securityGroups)],
        });
      }
    }
    grantPublish(this.topic, fn.policy);
    acknowledgeNagFindings(fn.policy, acknowledgements);

    const alarms = createFailureAlarms(this, this.handler, this.topic, NAME, this.deadLetterQueue);
    this.errorAlarm = alarms.errorAlarm;
    this.throttleAlarm = alarms.throttleAlarm;
    this.deadLetterAlarm = alarms.deadLetterAlarm!;
    this.alarms = [this.errorAlarm, this.throttleAlarm, this.deadLetterAlarm];

    this.schedule = scheduleSweep(this, this.handler, props.schedule ?? DEFAULT_SCHEDULE,
      'cdk-fleet-janitor PackerCleaner sweep', this.deadLetterQueue);
  }
}

function validateProps(props: PackerCleanerProps): void {
  checkDuration(NAME, 'maxAge', props.maxAge, secondsBounds(PACKER_CLEANER_ENV_LIMITS.MAX_AGE_SECONDS));
  checkDuration(NAME, 'terminateStoppedAfter', props.terminateStoppedAfter, secondsBounds(PACKER_CLEANER_ENV_LIMITS.TERMINATE_STOPPED_AFTER_SECONDS));
  checkCommonProps(NAME, props);
  checkScheduleAgainstTimeout(NAME, props.schedule, props.timeout ?? DEFAULT_TIMEOUT);
  checkTagMap(NAME, 'tagSelector', props.tagSelector);
  if (props.action !== undefined && !Object.values(PackerCleanerAction).includes(props.action)) {
    fail(NAME, 'action', props.action, `must be one of ${Object.values(PackerCleanerAction).join(', ')}`);
  }
  const patterns = props.keyNamePatterns;
  if (patterns !== undefined) {
    if (patterns.length === 0) fail(NAME, 'keyNamePatterns', patterns, 'at least one pattern is required');
    for (const p of patterns) {
      if (Token.isUnresolved(p)) fail(NAME, 'keyNamePatterns', p, 'patterns must be known at synth time (they scope IAM permissions)');
      if (p.length === 0 || p.length > 255) fail(NAME, 'keyNamePatterns', p, 'a pattern must have 1 to 255 characters');
      if (/^[*?]+$/.test(p)) fail(NAME, 'keyNamePatterns', p, 'a pattern made only of wildcards would match every instance in the account');
    }
  }
  const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
  if (props.tagSelector && Object.prototype.hasOwnProperty.call(props.tagSelector, protectionTagKey)) {
    fail(NAME, 'tagSelector', props.tagSelector, `must not select on the protection tag "${protectionTagKey}": selected instances would all be protected`);
  }
}
