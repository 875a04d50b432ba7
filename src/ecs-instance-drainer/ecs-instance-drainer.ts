import { Annotations, ArnFormat, Duration, Lazy, Names, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import {
  CHECK_SLACK_SECONDS, DRAIN_NEXT, ENV, LIFECYCLE_ACTION_MAX_HEARTBEATS, LIFECYCLE_ACTION_MAX_SECONDS, LIFECYCLE_DETAIL_TYPE, SPOT_DETAIL_TYPE,
} from './contract';
import { DrainTimeoutAction } from './drain-timeout-action';
import { createFailureAlarms } from '../common/alarms';
import { JanitorFunctionProps } from '../common/common-props';
import { ECS_INSTANCE_DRAINER_ENV_LIMITS as LIMITS } from '../common/env-limits';
import { HandlerFunction, envNumber } from '../common/handler-function';
import { FleetJanitorBase } from '../common/janitor-base';
import { createLogGroup } from '../common/log-group';
import { DRAINER_METRIC_NAMES } from '../common/metric-names';
import { janitorMetric } from '../common/metrics';
import { NagAcknowledgement, acknowledgeNagFindings, acknowledgeRoleDefaultPolicy, resourceFinding } from '../common/nag';
import { grantPublish, resolveTopic } from '../common/notifications';
import { checkDuration, checkFunctionProps, fail, secondsBounds } from '../common/validation';

export interface EcsInstanceDrainerProps extends JanitorFunctionProps {
  /** The ECS cluster whose container instances are drained. */
  readonly cluster: ecs.ICluster;

  /**
   * The Auto Scaling group whose instances are drained before they terminate. The construct adds a
   * termination lifecycle hook to it. Add more groups of the same cluster with `addAutoScalingGroup`.
   */
  readonly autoScalingGroup: autoscaling.IAutoScalingGroup;

  /**
   * Time between two checks of a draining instance's tasks.
   * @default Duration.seconds(10)
   */
  readonly pollInterval?: Duration;

  /**
   * The lifecycle hook's heartbeat timeout (30 seconds to 2 hours). The drainer sends a heartbeat
   * whenever the hook would expire before its next check; if the drainer itself stops, the hook
   * expires after this long and Auto Scaling goes on with the termination (default result CONTINUE).
   * @default Duration.minutes(5)
   */
  readonly heartbeatTimeout?: Duration;

  /**
   * The longest a drain waits for the instance's tasks to stop: at most 48 hours and at most 100 ×
   * `heartbeatTimeout` (Auto Scaling's limits on a lifecycle action).
   * @default Duration.hours(1)
   */
  readonly maxDrainTime?: Duration;

  /**
   * What the lifecycle action is completed with when `maxDrainTime` passes with tasks still running.
   * On a termination hook both terminate the instance: CONTINUE runs the group's other termination
   * hooks first, ABANDON skips them. A notification lists what was still running.
   * @default DrainTimeoutAction.CONTINUE
   */
  readonly onTimeout?: DrainTimeoutAction;

  /**
   * Stop the tasks not owned by a service (RunTask, schedules) once a drain is this old: ECS drains
   * only service tasks, and a standalone task would otherwise hold the instance until `maxDrainTime`.
   * @default - standalone tasks are never stopped
   */
  readonly stopStandaloneTasksAfter?: Duration;

  /**
   * Also drain on an EC2 Spot Instance Interruption Warning for the groups' instances: the drain has
   * the warning's two minutes, there is no lifecycle action to complete, and the report says how
   * many tasks were still running when the time was up.
   * @default true
   */
  readonly spotInterruptions?: boolean;

  /**
   * Notify the topic after every drain. Without it, only drains that timed out, failed or stopped
   * tasks are notified; every drain is in the logs and the metrics.
   * @default false
   */
  readonly notifyOnEveryDrain?: boolean;

  /**
   * Report what a drain would do without doing it: the container instance is not set DRAINING and
   * no task is stopped; each drain reports the tasks on the instance and completes the lifecycle
   * action at once with CONTINUE (what Auto Scaling does without the drainer).
   * @default false
   */
  readonly dryRun?: boolean;

  /**
   * Timeout of one check (an invocation of the handler). A check lists and describes the tasks of one
   * instance and is over in seconds; the waiting is done by Step Functions.
   * @default Duration.minutes(1)
   */
  readonly timeout?: Duration;
}

const NAME = 'EcsInstanceDrainer';
const DEFAULT_POLL_INTERVAL = Duration.seconds(10);
const DEFAULT_HEARTBEAT_TIMEOUT = Duration.minutes(5);
const DEFAULT_MAX_DRAIN_TIME = Duration.hours(1);
const DEFAULT_TIMEOUT = Duration.minutes(1);
/** A check that failed this many times in a row fails the execution (and the failure is reported). */
const CHECK_ATTEMPTS = 6;

/**
 * Drains ECS container instances before Auto Scaling terminates them. A termination lifecycle hook
 * on each group notifies EventBridge; a rule invokes the handler, which starts a Step Functions
 * execution named after the instance and the lifecycle token (a duplicated event starts no second
 * drain). The execution sets the container instance DRAINING, then waits `pollInterval` between short
 * checks that count its tasks, send heartbeats, stop standalone tasks past
 * `stopStandaloneTasksAfter`, and complete the lifecycle action when the tasks are gone or
 * `maxDrainTime` passes. No Lambda invocation waits: a drain of 48 hours bills only its checks.
 *
 * aws-cdk-lib adds its own drain hook (one Lambda invocation that waits, at most 15 minutes) to groups
 * given to `Cluster.addCapacity`, and to `Cluster.addAsgCapacityProvider` when both managed
 * termination protection and managed draining are off. Add the group with an `AsgCapacityProvider`
 * and `enableManagedDraining: false` to leave the draining to this construct (managed termination
 * protection, on by default, keeps aws-cdk-lib's hook off). Synth warns when a group already has
 * another termination hook in the construct tree.
 */
export class EcsInstanceDrainer extends FleetJanitorBase {
  /** The kind of janitor. */
  public readonly janitorName = NAME;
  /** The handler function: starts drains from events, and makes the state machine's checks. */
  public readonly handler: lambda.IFunction;
  /** The topic that receives the drain reports and the alarms. */
  public readonly topic: sns.ITopic;
  /** The standard workflow that carries each drain. */
  public readonly stateMachine: sfn.IStateMachine;
  /** The state machine's log group. */
  public readonly stateMachineLogGroup: logs.ILogGroup;
  /** The handler's log group. */
  public readonly logGroup: logs.ILogGroup;
  /** The termination lifecycle hooks, one per group. */
  public readonly lifecycleHooks: autoscaling.ILifecycleHook[] = [];
  /** Alarm on handler errors; notifies `topic`. */
  public readonly errorAlarm: cloudwatch.IAlarm;
  /** Alarm on handler throttles; notifies `topic`. */
  public readonly throttleAlarm: cloudwatch.IAlarm;
  /** Alarm on events the rules could not deliver to the handler; notifies `topic`. */
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  /** Alarm on executions that failed, timed out or were aborted; notifies `topic`. */
  public readonly executionAlarm: cloudwatch.IAlarm;
  /** Every alarm above. */
  public readonly alarms: cloudwatch.IAlarm[];

  private readonly heartbeatTimeout: Duration;
  private readonly groupNames: string[] = [];
  private readonly handlerFunction: HandlerFunction;
  private readonly spotInterruptions: boolean;
  private readonly dryRun: boolean;

  constructor(scope: Construct, id: string, props: EcsInstanceDrainerProps) {
    validateProps(props);
    super(scope, id);

    const stack = Stack.of(this);
    const pollInterval = props.pollInterval ?? DEFAULT_POLL_INTERVAL;
    this.heartbeatTimeout = props.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT;
    const maxDrainTime = props.maxDrainTime ?? DEFAULT_MAX_DRAIN_TIME;
    const timeout = props.timeout ?? DEFAULT_TIMEOUT;
    this.dryRun = props.dryRun ?? false;
    this.spotInterruptions = props.spotInterruptions ?? true;

    this.topic = resolveTopic(this, props.topic, 'fleet-janitor EcsInstanceDrainer reports');

    // The function starts executions and the state machine invokes the function: the state machine
    // gets a name, so the function can know its ARN without a reference back to it.
    const stateMachineName = Names.uniqueResourceName(this, { maxLength: 80, separator: '-' });
    const stateMachineArn = stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: stateMachineName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    const fn = new HandlerFunction(this, 'Handler', {
      bundle: 'ecs-instance-drainer',
      serviceName: NAME,
      description: 'cdk-fleet-janitor EcsInstanceDrainer: drains ECS container instances before Auto Scaling terminates them',
      common: { ...props, timeout },
      // The lifecycle and Spot rules invoke it asynchronously.
      invokedAsynchronously: true,
      deadLetterQueueUsers: 'the lifecycle and Spot rules\' targets',
      concurrencyReason: 'No reservation: each invocation is one short step of one drain (start, or one check), drains of different '
        + 'instances are independent, and a duplicated start is refused by Step Functions (the execution name is the event\'s).',
      environment: {
        [ENV.topicArn]: this.topic.topicArn,
        [ENV.cluster]: props.cluster.clusterArn,
        [ENV.stateMachineArn]: stateMachineArn,
        [ENV.autoScalingGroups]: Lazy.string({ produce: () => stack.toJsonString(this.groupNames) }),
        [ENV.pollIntervalSeconds]: envNumber(pollInterval.toSeconds()),
        [ENV.heartbeatTimeoutSeconds]: envNumber(this.heartbeatTimeout.toSeconds()),
        [ENV.maxDrainSeconds]: envNumber(maxDrainTime.toSeconds()),
        [ENV.onTimeout]: props.onTimeout ?? DrainTimeoutAction.CONTINUE,
        ...(props.stopStandaloneTasksAfter ? { [ENV.stopStandaloneAfterSeconds]: envNumber(props.stopStandaloneTasksAfter.toSeconds()) } : {}),
        [ENV.spotInterruptions]: String(this.spotInterruptions),
        [ENV.notifyOnEveryDrain]: String(props.notifyOnEveryDrain ?? false),
        [ENV.dryRun]: String(this.dryRun),
      },
    });
    this.handlerFunction = fn;
    this.handler = fn.function;
    this.logGroup = fn.logGroup;

    this.stateMachineLogGroup = createLogGroup(this, 'StateMachineLogGroup', { retention: props.logRetention, encryptionKey: props.logEncryptionKey });
    this.stateMachine = this.createStateMachine(stateMachineName, stateMachineArn, maxDrainTime);

    this.grantHandler(props, stateMachineArn);

    const alarms = createFailureAlarms(this, this.handler, this.topic, NAME, fn.deadLetterQueue);
    this.errorAlarm = alarms.errorAlarm;
    this.throttleAlarm = alarms.throttleAlarm;
    this.deadLetterAlarm = alarms.deadLetterAlarm!;
    const executionAlarm = new cloudwatch.Alarm(this, 'ExecutionAlarm', {
      alarmDescription: `${NAME}: a drain's execution failed, timed out or was aborted; its lifecycle action ends with the hook's `
        + 'heartbeat timeout (default result CONTINUE). See the state machine\'s log group and the drain report.',
      metric: new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: {
          failed: this.stateMachine.metricFailed(),
          timedOut: this.stateMachine.metricTimedOut(),
          aborted: this.stateMachine.metricAborted(),
        },
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    executionAlarm.addAlarmAction(new actions.SnsAction(this.topic));
    this.executionAlarm = executionAlarm;
    this.alarms = [this.errorAlarm, this.throttleAlarm, this.deadLetterAlarm, this.executionAlarm];

    if (this.spotInterruptions) {
      // A Spot warning names only the instance: the handler keeps the drained groups' instances.
      new events.Rule(this, 'SpotRule', {
        description: 'cdk-fleet-janitor EcsInstanceDrainer: EC2 Spot interruption warnings',
        eventPattern: { source: ['aws.ec2'], detailType: [SPOT_DETAIL_TYPE] },
        targets: [new targets.LambdaFunction(this.handler, { deadLetterQueue: fn.deadLetterQueue })],
      });
    }
    this.addAutoScalingGroup(props.autoScalingGroup);
    this.node.addValidation({ validate: () => this.warnAboutOtherHooks() });
  }

  /**
   * Drain the instances of another Auto Scaling group of the same cluster: adds the termination
   * lifecycle hook, the rule that starts drains, and the permissions on the group.
   */
  public addAutoScalingGroup(group: autoscaling.IAutoScalingGroup): void {
    const index = this.lifecycleHooks.length;
    const suffix = index === 0 ? '' : String(index + 1);
    const hook = new autoscaling.LifecycleHook(this, `LifecycleHook${suffix}`, {
      autoScalingGroup: group,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: this.heartbeatTimeout,
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });
    this.lifecycleHooks.push(hook);
    this.groupNames.push(group.autoScalingGroupName);
    new events.Rule(this, `LifecycleRule${suffix}`, {
      description: 'cdk-fleet-janitor EcsInstanceDrainer: instances of the group about to terminate',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: [LIFECYCLE_DETAIL_TYPE],
        detail: { AutoScalingGroupName: [group.autoScalingGroupName], LifecycleHookName: [hook.lifecycleHookName] },
      },
      targets: [new targets.LambdaFunction(this.handler, { deadLetterQueue: this.handlerFunction.deadLetterQueue })],
    });
    // A dry run completes each action at once (what Auto Scaling does without a drainer), and sends no heartbeat.
    this.handlerFunction.policy.addStatements(new iam.PolicyStatement({
      sid: `LifecycleActions${suffix}`,
      actions: this.dryRun ? ['autoscaling:CompleteLifecycleAction'] : ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      resources: [group.autoScalingGroupArn],
    }));
    acknowledgeNagFindings(this.handlerFunction.policy, [{
      id: 'AwsSolutions-IAM5',
      reason: 'An Auto Scaling group\'s ARN holds an id assigned at creation: autoScalingGroup:*:autoScalingGroupName/<name> names the '
        + 'one group by its name (the form aws-cdk-lib gives every group\'s ARN).',
      appliesTo: [resourceFinding(this, group.autoScalingGroupArn)],
    }]);
  }

  /** Seconds each drain lasted, from its event to its end (the longest drain that ended in the period). */
  public metricDrainDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return janitorMetric(this.handler, NAME, DRAINER_METRIC_NAMES.drainDuration, {
      statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(5), ...props,
    });
  }

  private createStateMachine(name: string, arn: string, maxDrainTime: Duration): sfn.StateMachine {
    const step = (id: string, stepName: string, extra: Record<string, unknown> = {}) => {
      const task = new tasks.LambdaInvoke(this, id, {
        lambdaFunction: this.handler,
        payload: sfn.TaskInput.fromObject({ 'step': stepName, 'drain.$': '$.drain', ...extra }),
        resultSelector: { 'drain.$': '$.Payload' },
        // Lambda's own service errors are retried by the task's default retry.
        retryOnServiceExceptions: true,
      });
      return task;
    };
    const begin = step('Begin', 'begin');
    const check = step('Check', 'check');
    const reportFailure = step('ReportFailure', 'failed', { 'error.$': '$.error' });
    // A check that fails (throttled past the SDK's retries, an ECS outage) is tried again, not lost.
    for (const task of [begin, check]) {
      task.addRetry({ errors: ['States.ALL'], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: CHECK_ATTEMPTS - 1, maxDelay: Duration.minutes(2) });
      task.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    }
    const failed = new sfn.Fail(this, 'DrainFailed', { error: 'DrainFailed', cause: 'The drain could not go on; the report says why.' });
    reportFailure.next(failed);

    const wait = new sfn.Wait(this, 'WaitForTasks', { time: sfn.WaitTime.secondsPath('$.drain.waitSeconds') });
    const handOver = new tasks.StepFunctionsStartExecution(this, 'ContinueInNewExecution', {
      stateMachine: sfn.StateMachine.fromStateMachineArn(this, 'Self', arn),
      name: sfn.JsonPath.format('{}-{}', sfn.JsonPath.stringAt('$.drain.executionName'), sfn.JsonPath.stringAt('States.JsonToString($.drain.generation)')),
      input: sfn.TaskInput.fromObject({ 'drain.$': '$.drain' }),
      integrationPattern: sfn.IntegrationPattern.REQUEST_RESPONSE,
      resultPath: sfn.JsonPath.DISCARD,
    });
    handOver.addRetry({ errors: ['States.ALL'], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: CHECK_ATTEMPTS - 1 });
    handOver.addCatch(reportFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    const done = new sfn.Succeed(this, 'DrainOver');
    handOver.next(done);

    const route = new sfn.Choice(this, 'NextStep')
      .when(sfn.Condition.stringEquals('$.drain.next', DRAIN_NEXT.wait), wait)
      .when(sfn.Condition.stringEquals('$.drain.next', DRAIN_NEXT.continueAsNew), handOver)
      .otherwise(done);
    begin.next(route);
    wait.next(check);
    check.next(route);
    // An execution that continues a drain starts with the container instance known: straight to the wait.
    const start = new sfn.Choice(this, 'Resumed')
      .when(sfn.Condition.isPresent('$.drain.containerInstanceArn'), wait)
      .otherwise(begin);

    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(start),
      tracingEnabled: true,
      logs: { destination: this.stateMachineLogGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      // One execution checks at most 1,000 times before it hands over; the drain's own deadline ends it long before this.
      timeout: Duration.seconds(Math.min(maxDrainTime.toSeconds() + 3_600, LIFECYCLE_ACTION_MAX_SECONDS + 3_600)),
      comment: 'cdk-fleet-janitor EcsInstanceDrainer: one drain of one instance',
    });
    acknowledgeRoleDefaultPolicy(stateMachine.role,
      'The inline policy aws-cdk-lib writes for the state machine\'s own role: it invokes the drainer\'s function, starts the '
        + 'drainer\'s next execution of a long drain, and delivers its logs and traces.',
      'The state machine invokes the drainer\'s function (the ":*" covers its versions and aliases, never another function); '
        + 'CloudWatch Logs\' log delivery actions and X-Ray support no resource-level permissions.');
    return stateMachine;
  }

  private grantHandler(props: EcsInstanceDrainerProps, stateMachineArn: string): void {
    const policy = this.handlerFunction.policy;
    const cluster = props.cluster.clusterArn;
    const inCluster = { ArnEquals: { 'ecs:cluster': cluster } };
    const stack = Stack.of(this);
    const containerInstances = stack.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: `${props.cluster.clusterName}/*` });
    const clusterTasks = stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.cluster.clusterName}/*` });
    policy.addStatements(
      new iam.PolicyStatement({ sid: 'FindContainerInstance', actions: ['ecs:ListContainerInstances'], resources: [cluster] }),
      new iam.PolicyStatement({
        sid: 'ReadContainerInstance',
        actions: ['ecs:DescribeContainerInstances', 'ecs:ListTasks', ...(this.dryRun ? [] : ['ecs:UpdateContainerInstancesState'])],
        resources: [containerInstances],
        conditions: inCluster,
      }),
      new iam.PolicyStatement({ sid: 'ReadTasks', actions: ['ecs:DescribeTasks'], resources: [clusterTasks], conditions: inCluster }),
      new iam.PolicyStatement({ sid: 'StartDrains', actions: ['states:StartExecution'], resources: [stateMachineArn] }),
    );
    if (props.stopStandaloneTasksAfter && !this.dryRun) {
      policy.addStatements(new iam.PolicyStatement({ sid: 'StopStandaloneTasks', actions: ['ecs:StopTask'], resources: [clusterTasks], conditions: inCluster }));
    }
    const acknowledgements: NagAcknowledgement[] = [{
      id: 'AwsSolutions-IAM5',
      reason: 'ECS container instances and tasks are not known in advance: the statements name the cluster\'s container-instance/* and '
        + 'task/* and require ecs:cluster to be the cluster.',
      appliesTo: [resourceFinding(this, containerInstances), resourceFinding(this, clusterTasks)],
    }];
    if (this.spotInterruptions) {
      policy.addStatements(new iam.PolicyStatement({ sid: 'FindGroupOfSpotInstance', actions: ['autoscaling:DescribeAutoScalingInstances'], resources: ['*'] }));
      acknowledgements.push({
        id: 'AwsSolutions-IAM5',
        reason: 'autoscaling:DescribeAutoScalingInstances supports no resource-level permissions; read-only, to find the group of the '
          + 'instance a Spot warning names.',
        appliesTo: ['Resource::*'],
      });
    }
    grantPublish(this.topic, policy);
    acknowledgeNagFindings(policy, acknowledgements);
  }

  private warnAboutOtherHooks(): string[] {
    const stack = Stack.of(this);
    const ours = new Set(this.lifecycleHooks.map((hook) => hook.node.defaultChild));
    const groups = new Set(this.groupNames.map((name) => JSON.stringify(stack.resolve(name))));
    for (const construct of stack.node.findAll()) {
      if (!(construct instanceof autoscaling.CfnLifecycleHook) || ours.has(construct)) continue;
      if (construct.lifecycleTransition !== autoscaling.LifecycleTransition.INSTANCE_TERMINATING) continue;
      if (!groups.has(JSON.stringify(stack.resolve(construct.autoScalingGroupName)))) continue;
      Annotations.of(this).addWarningV2('@cdk-fleet-janitor/ecs-instance-drainer:otherTerminationHook',
        `The Auto Scaling group already has another termination lifecycle hook (${construct.node.path}). Two hooks both hold the `
        + 'instance; if it is aws-cdk-lib\'s ECS drain hook (Cluster.addCapacity), add the group with an AsgCapacityProvider '
        + '(enableManagedDraining: false) instead.');
    }
    return [];
  }
}

function validateProps(props: EcsInstanceDrainerProps): void {
  if (!props || !props.cluster) fail(NAME, 'cluster', undefined, 'is required');
  if (!props.autoScalingGroup) fail(NAME, 'autoScalingGroup', undefined, 'is required');
  checkFunctionProps(NAME, props);
  checkDuration(NAME, 'timeout', props.timeout, { min: Duration.seconds(10), max: Duration.minutes(15) });
  checkDuration(NAME, 'pollInterval', props.pollInterval, secondsBounds(LIMITS.POLL_INTERVAL_SECONDS));
  checkDuration(NAME, 'heartbeatTimeout', props.heartbeatTimeout, secondsBounds(LIMITS.HEARTBEAT_TIMEOUT_SECONDS));
  checkDuration(NAME, 'maxDrainTime', props.maxDrainTime, secondsBounds(LIMITS.MAX_DRAIN_SECONDS));
  checkDuration(NAME, 'stopStandaloneTasksAfter', props.stopStandaloneTasksAfter, secondsBounds(LIMITS.STOP_STANDALONE_AFTER_SECONDS));
  const poll = props.pollInterval ?? DEFAULT_POLL_INTERVAL;
  const heartbeat = props.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT;
  const maxDrain = props.maxDrainTime ?? DEFAULT_MAX_DRAIN_TIME;
  if (!poll.isUnresolved() && !heartbeat.isUnresolved() && poll.toSeconds() + CHECK_SLACK_SECONDS > heartbeat.toSeconds()) {
    fail(NAME, 'pollInterval', poll, `must leave ${CHECK_SLACK_SECONDS} seconds to a check within heartbeatTimeout (${heartbeat.toHumanString()}): `
      + 'a heartbeat is sent at a check, and the hook must not expire between two');
  }
  if (!heartbeat.isUnresolved() && !maxDrain.isUnresolved() && maxDrain.toSeconds() > LIFECYCLE_ACTION_MAX_HEARTBEATS * heartbeat.toSeconds()) {
    fail(NAME, 'maxDrainTime', maxDrain, `must be at most ${LIFECYCLE_ACTION_MAX_HEARTBEATS} × heartbeatTimeout (${heartbeat.toHumanString()}): `
      + 'Auto Scaling ends a lifecycle action after 100 heartbeat timeouts');
  }
  const after = props.stopStandaloneTasksAfter;
  if (after && !after.isUnresolved() && !maxDrain.isUnresolved() && after.toSeconds() >= maxDrain.toSeconds()) {
    fail(NAME, 'stopStandaloneTasksAfter', after, `must be shorter than maxDrainTime (${maxDrain.toHumanString()}), or it never applies`);
  }
  if (props.onTimeout !== undefined && !Object.values(DrainTimeoutAction).includes(props.onTimeout)) {
    fail(NAME, 'onTimeout', props.onTimeout, `must be one of ${Object.values(DrainTimeoutAction).join(', ')}`);
  }
}
