import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULTS, ENV, IAM_ROLE_ARN, OPT_IN_TAG_KEY, OPT_IN_TAG_VALUE, parsePinnedImage, REPOSITORY_NAME } from './contract';
import { RetentionAction } from './retention-action';
import { TaskDefinitionRetention } from './task-definition-retention';
import { createFailureAlarms } from '../common/alarms';
import { DEFAULT_MAX_ACTIONS_PER_RUN, DEFAULT_PROTECTION_TAG_KEY, JanitorCommonProps } from '../common/common-props';
import { IMAGE_RETENTION_ENV_LIMITS as LIMITS } from '../common/env-limits';
import { DEFAULT_TIMEOUT, HandlerFunction, envNumber } from '../common/handler-function';
import { FleetJanitorBase } from '../common/janitor-base';
import { NagAcknowledgement, acknowledgeNagFindings, resourceFinding } from '../common/nag';
import { grantPublish, resolveTopic } from '../common/notifications';
import { checkScheduleAgainstTimeout, scheduleSweep } from '../common/schedule';
import { checkCommonProps, checkDuration, checkInteger, checkUnique, fail, secondsBounds } from '../common/validation';

export interface ImageRetentionProps extends JanitorCommonProps {
  /**
   * The ECR repositories (of this stack's account and region) whose images are retained. The
   * handler's permissions are then limited to these repositories.
   * @default - every repository tagged `fleet-janitor:image-retention` = `enabled`, found at each run
   */
  readonly repositories?: ecr.IRepository[];

  /**
   * The newest images (by push time) of each repository that are always kept, used or not.
   * @default 10
   */
  readonly keepNewest?: number;

  /**
   * Images pushed more recently than this are always kept.
   * @default Duration.days(30)
   */
  readonly minAge?: Duration;

  /**
   * An image with any tag matching one of these patterns is always kept (`*` matches any run of
   * characters, `?` one character). An empty list keeps nothing by tag.
   * @default ["latest"]
   */
  readonly keepTagPatterns?: string[];

  /**
   * Images that are always kept, as `repository@sha256:<digest>` or `repository:tag` (a tag is
   * resolved to the image it names at each run).
   * @default - none
   */
  readonly pinnedImages?: string[];

  /**
   * ARNs of read-only IAM roles in the accounts that pull these images. The handler assumes each one
   * and counts what runs there as in use; a role it cannot assume, or whose account it cannot read,
   * keeps every image that account may pull. Create each role with `ImageRetention.usageReaderPolicy()`,
   * trusting this construct's `role`.
   * @default - none: only this account's usage is read
   */
  readonly consumerAccountRoles?: string[];

  /**
   * What to do with the images proved unused.
   * @default RetentionAction.REPORT
   */
  readonly action?: RetentionAction;

  /**
   * Also retain ECS task definition revisions of this account: deregister unused old revisions and,
   * optionally, delete INACTIVE ones.
   * @default - task definitions are not touched
   */
  readonly taskDefinitions?: TaskDefinitionRetention;

  /**
   * When the sweep runs.
   * @default ScheduleExpression.rate(Duration.days(1))
   */
  readonly schedule?: scheduler.ScheduleExpression;
}

const NAME = 'ImageRetention';
const DEFAULT_SCHEDULE = scheduler.ScheduleExpression.rate(Duration.days(1));
const DEFAULT_MIN_AGE = Duration.days(DEFAULTS.minAgeDays);
const DEFAULT_DEREGISTER_UNUSED = true;
const DEFAULT_DELETE_INACTIVE = false;

/** What the handler reads to find the images in use, in this account and in each consumer account. */
const USAGE_READ_ACTIONS = [
  'ecs:ListClusters', 'ecs:ListServices', 'ecs:DescribeServices', 'ecs:DescribeServiceRevisions',
  'ecs:ListTasks', 'ecs:DescribeTasks', 'ecs:DescribeTaskDefinition',
  'events:ListEventBuses', 'events:ListRules', 'events:ListTargetsByRule',
  'scheduler:ListSchedules', 'scheduler:GetSchedule',
  'lambda:ListFunctions', 'lambda:GetFunction',
];

/** What the handler reads of each repository. */
const REPOSITORY_READ_ACTIONS = ['ecr:DescribeImages', 'ecr:BatchGetImage', 'ecr:ListTagsForResource', 'ecr:GetRepositoryPolicy'];

/** The characters an image tag may hold, and the two wildcards of a pattern. */
const TAG_PATTERN = /^[A-Za-z0-9_.*?-]{1,128}$/;

/**
 * A scheduled sweep that deletes ECR images (and, optionally, ECS task definition revisions) that are
 * old and provably unused. At each run the handler collects every image in use: ECS services (every
 * deployment and task set, also at 0 tasks), tasks that are not stopped, EventBridge rules' and
 * Scheduler schedules' ECS targets, and every version of every Lambda image function, in this account
 * and in each consumer account (an account that cannot be read keeps every image it may pull). It
 * keeps the images in use, the `pinnedImages`, those with a tag matching `keepTagPatterns`, the newest
 * `keepNewest` images of each repository, the images younger than `minAge`, and the children and
 * referrers (signatures, SBOMs, attestations) of kept images. The rest is reported, or deleted with
 * `RetentionAction.DELETE`, oldest first, within `maxActionsPerRun`. A repository carrying the
 * protection tag is reported only.
 */
export class ImageRetention extends FleetJanitorBase {
  /**
   * The policy a role in each consumer account needs so that the handler can read what runs there:
   * ECS services, tasks and task definitions, EventBridge rules, Scheduler schedules and Lambda
   * functions (read-only, Resource "*", as the listings require).
   *
   * In each account that pulls these images, create a role with this policy whose trust policy lets
   * this construct's `role` assume it (`sts:AssumeRole` with that role's ARN as the principal, or the
   * janitor's account as the principal with a condition on `aws:PrincipalArn`); the handler's sessions
   * are named `cdk-fleet-janitor-image-retention`. A CloudFormation StackSet over the organization's
   * accounts is the usual way to create them all. Then list the roles' ARNs in `consumerAccountRoles`.
   */
  public static usageReaderPolicy(): iam.PolicyDocument {
    return new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({ sid: 'ReadImageUsage', actions: [...USAGE_READ_ACTIONS], resources: ['*'] })],
    });
  }

  /** The kind of janitor. */
  public readonly janitorName = NAME;
  /** The handler function. */
  public readonly handler: lambda.IFunction;
  /**
   * The handler's execution role: the principal that each consumer account's reader role trusts
   * (see `usageReaderPolicy()`).
   */
  public readonly role: iam.IRole;
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

  constructor(scope: Construct, id: string, props: ImageRetentionProps = {}) {
    validateProps(props);
    super(scope, id);

    const stack = Stack.of(this);
    const action = props.action ?? RetentionAction.REPORT;
    const protectionTagKey = props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY;
    const dryRun = props.dryRun ?? false;
    const deletes = action === RetentionAction.DELETE && !dryRun;
    const taskDefinitions = props.taskDefinitions && {
      keepNewestRevisions: props.taskDefinitions.keepNewestRevisions ?? DEFAULTS.keepNewestRevisions,
      deregisterUnused: props.taskDefinitions.deregisterUnused ?? DEFAULT_DEREGISTER_UNUSED,
      deleteInactive: props.taskDefinitions.deleteInactive ?? DEFAULT_DELETE_INACTIVE,
    };
    const consumerAccountRoles = props.consumerAccountRoles ?? [];

    this.topic = resolveTopic(this, props.topic, 'fleet-janitor ImageRetention reports');

    const fn = new HandlerFunction(this, 'Handler', {
      bundle: 'image-retention',
      serviceName: NAME,
      description: 'cdk-fleet-janitor ImageRetention: deletes (or reports) ECR images and ECS task definitions that are old and provably unused',
      common: props,
      invokedAsynchronously: true,
      environment: {
        [ENV.topicArn]: this.topic.topicArn,
        ...(props.repositories ? { [ENV.repositories]: stack.toJsonString(props.repositories.map((r) => r.repositoryName)) } : {}),
        [ENV.keepNewest]: envNumber(props.keepNewest ?? DEFAULTS.keepNewest),
        [ENV.minAgeSeconds]: envNumber((props.minAge ?? DEFAULT_MIN_AGE).toSeconds()),
        [ENV.keepTagPatterns]: JSON.stringify(props.keepTagPatterns ?? DEFAULTS.keepTagPatterns),
        [ENV.pinnedImages]: stack.toJsonString(props.pinnedImages ?? []),
        [ENV.consumerAccountRoles]: stack.toJsonString(consumerAccountRoles),
        [ENV.action]: action,
        ...(taskDefinitions ? { [ENV.taskDefinitions]: stack.toJsonString(taskDefinitions) } : {}),
        [ENV.protectionTagKey]: protectionTagKey,
        [ENV.dryRun]: String(dryRun),
        [ENV.maxActionsPerRun]: envNumber(props.maxActionsPerRun ?? DEFAULT_MAX_ACTIONS_PER_RUN),
      },
    });
    this.handler = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;
    this.deadLetterQueue = fn.deadLetterQueue!;

    const policy = fn.policy;
    const wildcardReasons: string[] = [];
    const acknowledgements: NagAcknowledgement[] = [];
    const unprotected = { Null: { [`aws:ResourceTag/${protectionTagKey}`]: 'true' } };

    // Repositories: the given ones by ARN, or those that opted in with the tag (found at each run).
    if (props.repositories) {
      const arns = props.repositories.map((r) => r.repositoryArn);
      policy.addStatements(new iam.PolicyStatement({
        sid: 'ReadRepositories', actions: [...REPOSITORY_READ_ACTIONS, 'ecr:DescribeRepositories'], resources: arns,
      }));
      if (deletes) {
        policy.addStatements(new iam.PolicyStatement({ sid: 'DeleteImages', actions: ['ecr:BatchDeleteImage'], resources: arns, conditions: unprotected }));
      }
    } else {
      const anyRepository = stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' });
      policy.addStatements(
        new iam.PolicyStatement({ sid: 'ListRepositories', actions: ['ecr:DescribeRepositories'], resources: ['*'] }),
        new iam.PolicyStatement({ sid: 'ReadRepositories', actions: REPOSITORY_READ_ACTIONS, resources: [anyRepository] }),
      );
      wildcardReasons.push('ecr:DescribeRepositories lists the registry\'s repositories, to find those tagged '
        + `${OPT_IN_TAG_KEY} = ${OPT_IN_TAG_VALUE} (a listing names no repository)`);
      if (deletes) {
        policy.addStatements(new iam.PolicyStatement({
          sid: 'DeleteImages',
          actions: ['ecr:BatchDeleteImage'],
          resources: [anyRepository],
          conditions: { StringEquals: { [`aws:ResourceTag/${OPT_IN_TAG_KEY}`]: OPT_IN_TAG_VALUE }, ...unprotected },
        }));
      }
      acknowledgements.push({
        id: 'AwsSolutions-IAM5',
        reason: `${[...REPOSITORY_READ_ACTIONS, ...(deletes ? ['ecr:BatchDeleteImage'] : [])].join(', ')} on repository/*: without the `
          + `repositories prop the repositories are those tagged ${OPT_IN_TAG_KEY} = ${OPT_IN_TAG_VALUE} when a run starts, not known at `
          + 'deploy time; the reads are read-only'
          + (deletes ? `, and ecr:BatchDeleteImage is limited by aws:ResourceTag conditions to repositories tagged ${OPT_IN_TAG_KEY} = `
            + `${OPT_IN_TAG_VALUE} without a "${protectionTagKey}" tag.` : '.'),
        appliesTo: [resourceFinding(this, anyRepository)],
      });
    }

    // What runs in this account (the same reads a consumer account's role allows).
    policy.addStatements(new iam.PolicyStatement({ sid: 'ReadImageUsage', actions: USAGE_READ_ACTIONS, resources: ['*'] }));
    wildcardReasons.push(`${USAGE_READ_ACTIONS.join(', ')} are read-only and must see every cluster, service, task, task definition, `
      + 'event bus, rule, schedule and function of the account to prove an image unused, so they name no resource known in advance '
      + '(ecs:ListClusters, ecs:ListServices, ecs:DescribeTaskDefinition, events:ListEventBuses, events:ListRules, scheduler:ListSchedules '
      + 'and lambda:ListFunctions support no resource-level permissions; the others are called on what those return)');

    if (consumerAccountRoles.length > 0) {
      policy.addStatements(new iam.PolicyStatement({ sid: 'ReadConsumerAccounts', actions: ['sts:AssumeRole'], resources: consumerAccountRoles }));
    }

    if (taskDefinitions) {
      const anyRevision = stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: '*' });
      policy.addStatements(
        new iam.PolicyStatement({ sid: 'ListTaskDefinitions', actions: ['ecs:ListTaskDefinitions'], resources: ['*'] }),
        new iam.PolicyStatement({ sid: 'ReadTaskDefinitionTags', actions: ['ecs:ListTagsForResource'], resources: [anyRevision] }),
      );
      wildcardReasons.push('ecs:ListTaskDefinitions supports no resource-level permissions (read-only)');
      const revisionActions = ['ecs:ListTagsForResource'];
      if (deletes && taskDefinitions.deregisterUnused) {
        policy.addStatements(new iam.PolicyStatement({ sid: 'DeregisterTaskDefinitions', actions: ['ecs:DeregisterTaskDefinition'], resources: ['*'] }));
        wildcardReasons.push('ecs:DeregisterTaskDefinition supports no resource-level permissions and no condition keys; the handler '
          + 'deregisters only ACTIVE revisions older than the newest keepNewestRevisions of their family that nothing uses and that '
          + `carry no "${protectionTagKey}" tag`);
      }
      if (deletes && taskDefinitions.deleteInactive) {
        policy.addStatements(new iam.PolicyStatement({
          sid: 'DeleteTaskDefinitions', actions: ['ecs:DeleteTaskDefinitions'], resources: [anyRevision], conditions: unprotected,
        }));
        revisionActions.push('ecs:DeleteTaskDefinitions');
      }
      acknowledgements.push({
        id: 'AwsSolutions-IAM5',
        reason: `${revisionActions.join(', ')} on task-definition/*: the revisions are not known in advance; ecs:ListTagsForResource is `
          + 'read-only (the handler reads each candidate revision\'s protection tag before it reports or changes it)'
          + (revisionActions.length > 1 ? `, ecs:DeleteTaskDefinitions is limited to revisions without a "${protectionTagKey}" tag by an `
            + 'aws:ResourceTag condition, and ECS deletes only INACTIVE revisions.' : '.'),
        appliesTo: [resourceFinding(this, anyRevision)],
      });
    }

    grantPublish(this.topic, policy);
    acknowledgements.push({ id: 'AwsSolutions-IAM5', reason: `${wildcardReasons.join('; ')}.`, appliesTo: ['Resource::*'] });
    acknowledgeNagFindings(policy, acknowledgements);

    const alarms = createFailureAlarms(this, this.handler, this.topic, NAME, this.deadLetterQueue);
    this.errorAlarm = alarms.errorAlarm;
    this.throttleAlarm = alarms.throttleAlarm;
    this.deadLetterAlarm = alarms.deadLetterAlarm!;
    this.alarms = [this.errorAlarm, this.throttleAlarm, this.deadLetterAlarm];

    this.schedule = scheduleSweep(this, this.handler, props.schedule ?? DEFAULT_SCHEDULE,
      'cdk-fleet-janitor ImageRetention sweep', this.deadLetterQueue);
  }
}

function validateProps(props: ImageRetentionProps): void {
  checkCommonProps(NAME, props);
  checkScheduleAgainstTimeout(NAME, props.schedule, props.timeout ?? DEFAULT_TIMEOUT);
  if (props.action !== undefined && !Object.values(RetentionAction).includes(props.action)) {
    fail(NAME, 'action', props.action, `must be one of ${Object.values(RetentionAction).join(', ')}`);
  }
  checkInteger(NAME, 'keepNewest', props.keepNewest, LIMITS.KEEP_NEWEST.min, LIMITS.KEEP_NEWEST.max);
  checkDuration(NAME, 'minAge', props.minAge, secondsBounds(LIMITS.MIN_AGE_SECONDS));
  const revisions = LIMITS.KEEP_NEWEST_REVISIONS;
  checkInteger(NAME, 'taskDefinitions.keepNewestRevisions', props.taskDefinitions?.keepNewestRevisions, revisions.min, revisions.max);

  // Repositories: known names are ECR names, each given once.
  const repositories = props.repositories;
  let knownNames: string[] | undefined;
  if (repositories !== undefined) {
    if (repositories.length === 0) {
      fail(NAME, 'repositories', [], `give at least one repository, or leave it out for every repository tagged ${OPT_IN_TAG_KEY} = ${OPT_IN_TAG_VALUE}`);
    }
    const names = repositories.map((r) => r.repositoryName);
    const known = names.filter((name) => !Token.isUnresolved(name));
    for (const name of known) {
      if (!REPOSITORY_NAME.test(name)) fail(NAME, 'repositories', name, 'is not an ECR repository name');
    }
    // The same repository object twice is the same token twice, refused as the same name twice is.
    checkUnique(NAME, 'repositories', names);
    if (known.length === names.length) knownNames = known;
  } else if ((props.protectionTagKey ?? DEFAULT_PROTECTION_TAG_KEY) === OPT_IN_TAG_KEY) {
    fail(NAME, 'protectionTagKey', props.protectionTagKey, `is the opt-in tag ${OPT_IN_TAG_KEY}: every repository that opts in would be protected`);
  }

  const patterns = props.keepTagPatterns ?? [];
  for (const pattern of patterns) {
    if (Token.isUnresolved(pattern)) fail(NAME, 'keepTagPatterns', pattern, 'patterns must be known at synth time');
    if (!TAG_PATTERN.test(pattern)) {
      fail(NAME, 'keepTagPatterns', pattern, 'a pattern has 1 to 128 characters, each a letter, a digit, "_", ".", "-" or a wildcard ("*", "?")');
    }
  }
  checkUnique(NAME, 'keepTagPatterns', patterns);

  for (const image of props.pinnedImages ?? []) {
    if (Token.isUnresolved(image)) continue;
    const pinned = parsePinnedImage(image);
    if (!pinned) fail(NAME, 'pinnedImages', image, 'must be "repository@sha256:<64 hex digits>" or "repository:tag" (a repository name, not an image URI)');
    if (knownNames && !knownNames.includes(pinned.repository)) {
      fail(NAME, 'pinnedImages', image, `names repository "${pinned.repository}", which is not one of the repositories (${knownNames.join(', ')})`);
    }
  }

  const roles = props.consumerAccountRoles ?? [];
  for (const arn of roles) {
    if (Token.isUnresolved(arn)) continue;
    if (!IAM_ROLE_ARN.test(arn)) fail(NAME, 'consumerAccountRoles', arn, 'must be an IAM role ARN (arn:<partition>:iam::<12-digit account>:role/<path/name>)');
  }
  // The same token twice is the same role twice, as two equal strings are.
  checkUnique(NAME, 'consumerAccountRoles', roles);
}
