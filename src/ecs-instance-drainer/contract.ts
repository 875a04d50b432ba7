/*
 * What the EcsInstanceDrainer construct writes (the state machine's steps, the environment) and
 * what its handler reads: one definition for both sides. Plain data with no imports, so that the
 * handler bundle stays free of aws-cdk-lib.
 */

/** The steps the state machine invokes the handler for; anything else is an EventBridge event that starts a drain. */
export const DRAIN_STEPS = ['begin', 'check', 'failed'] as const;
export type DrainStep = typeof DRAIN_STEPS[number];

/** What a check says next: wait and check again, hand over to a fresh execution, or stop. */
export const DRAIN_NEXT = { wait: 'WAIT', continueAsNew: 'CONTINUE_AS_NEW', end: 'END' } as const;

/**
 * Checks one execution makes before it hands the drain to a fresh one: each loop adds about 9
 * history events (Wait, Task, Choice), and a standard execution stops at 25,000.
 */
export const CHECKS_PER_EXECUTION = 1_000;

/** What the drainer does when `maxDrainTime` passes. Both let a terminate hook terminate the instance. */
export const DRAIN_TIMEOUT_RESULTS = ['CONTINUE', 'ABANDON'] as const;

/** Auto Scaling's limit on a lifecycle action: 48 hours, and at most 100 heartbeat timeouts. */
export const LIFECYCLE_ACTION_MAX_SECONDS = 48 * 3_600;
export const LIFECYCLE_ACTION_MAX_HEARTBEATS = 100;

/** An EC2 Spot instance gets this long between the interruption warning and its interruption. */
export const SPOT_WARNING_SECONDS = 120;

/**
 * Time a check allows between deciding and the next check's start (Step Functions' transitions, a
 * cold start, the check itself): a heartbeat is sent when the hook would expire before then.
 */
export const CHECK_SLACK_SECONDS = 15;

/** Event detail-types the drainer's rules forward. */
export const LIFECYCLE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';
export const SPOT_DETAIL_TYPE = 'EC2 Spot Instance Interruption Warning';

/** The handler's environment variables. */
export const ENV = {
  topicArn: 'TOPIC_ARN',
  cluster: 'CLUSTER_ARN',
  stateMachineArn: 'STATE_MACHINE_ARN',
  /** JSON list of the Auto Scaling group names whose instances are drained (Spot warnings name only the instance). */
  autoScalingGroups: 'AUTO_SCALING_GROUPS',
  pollIntervalSeconds: 'POLL_INTERVAL_SECONDS',
  heartbeatTimeoutSeconds: 'HEARTBEAT_TIMEOUT_SECONDS',
  maxDrainSeconds: 'MAX_DRAIN_SECONDS',
  onTimeout: 'ON_TIMEOUT',
  stopStandaloneAfterSeconds: 'STOP_STANDALONE_AFTER_SECONDS',
  spotInterruptions: 'SPOT_INTERRUPTIONS',
  notifyOnEveryDrain: 'NOTIFY_ON_EVERY_DRAIN',
  dryRun: 'DRY_RUN',
} as const;
