import type { DRAIN_NEXT } from '../../src/ecs-instance-drainer/contract';

/*
 * The state of one drain, carried by the Step Functions execution from step to step: the handler
 * keeps nothing between invocations, so everything a later check needs is in here.
 */

export type DrainKind = 'lifecycle' | 'spot';
export type DrainNext = typeof DRAIN_NEXT[keyof typeof DRAIN_NEXT];

export interface Drain {
  readonly kind: DrainKind;
  readonly instanceId: string;
  readonly autoScalingGroupName: string;
  /** Lifecycle drains only: the action to heartbeat and complete. */
  readonly lifecycleHookName?: string;
  readonly lifecycleActionToken?: string;
  /** When the drain started (the event's time): the timeouts count from here. */
  readonly startedAt: string;
  /** When the hook's heartbeat timer last started: at the event, then at each heartbeat. */
  readonly heartbeatAt: string;
  /** The ECS container instance, once found. */
  readonly containerInstanceArn?: string;
  /** The first execution's name; later executions of the same drain add `-<generation>`. */
  readonly executionName: string;
  readonly generation: number;
  /** Checks made by this execution (a fresh execution starts at 0). */
  readonly checks: number;
  /** Standalone tasks this drain has stopped so far. */
  readonly stoppedTasks: number;
  /** What the state machine does next, and how long it waits first. */
  readonly next: DrainNext;
  readonly waitSeconds: number;
}

/** A task on the container instance, as much as the decision needs. */
export interface TaskView {
  readonly taskArn: string;
  /** Not started by a service (its group does not start with `service:`). */
  readonly standalone: boolean;
  readonly desiredStatus: string;
  readonly lastStatus: string;
  readonly group?: string;
}

/** The drain settings the construct configures. */
export interface DrainSettings {
  readonly pollIntervalSeconds: number;
  readonly heartbeatTimeoutSeconds: number;
  readonly maxDrainSeconds: number;
  readonly onTimeout: 'CONTINUE' | 'ABANDON';
  /** Stop standalone tasks once the drain is this old; undefined: never. */
  readonly stopStandaloneAfterSeconds?: number;
}
