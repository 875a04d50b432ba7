import type { Drain, DrainSettings, TaskView } from './drain';
import { CHECK_SLACK_SECONDS, SPOT_WARNING_SECONDS } from '../../src/ecs-instance-drainer/contract';

/*
 * The drain's decisions, pure: what to do with the container instance found (or not) at the start,
 * and after each count of its tasks whether the drain is over, timed out, or goes on (with a
 * heartbeat when the hook would expire before the next check, and standalone tasks to stop).
 */

/** ECS container instance statuses (DescribeContainerInstances). */
export type ContainerInstanceStatus = 'ACTIVE' | 'DRAINING' | 'REGISTERING' | 'DEREGISTERING' | 'REGISTRATION_FAILED' | 'INACTIVE' | string;

export type BeginDecision =
  /** Not in the cluster (or leaving it): nothing to drain; a lifecycle action is completed at once. */
  | { readonly kind: 'NOT_REGISTERED'; readonly reason: string }
  /** Set DRAINING, then wait. */
  | { readonly kind: 'SET_DRAINING' }
  /** Already DRAINING (ECS managed draining, a person, an earlier attempt): just wait. */
  | { readonly kind: 'ALREADY_DRAINING' };

export function decideBegin(status: ContainerInstanceStatus | undefined): BeginDecision {
  if (status === undefined) return { kind: 'NOT_REGISTERED', reason: 'no container instance of the cluster runs on this EC2 instance' };
  if (status === 'DRAINING') return { kind: 'ALREADY_DRAINING' };
  if (status === 'ACTIVE' || status === 'REGISTERING') return { kind: 'SET_DRAINING' };
  return { kind: 'NOT_REGISTERED', reason: `its container instance is ${status}` };
}

export type CheckOutcome =
  /** No task left: the lifecycle action is completed CONTINUE. */
  | 'DRAINED'
  /** `maxDrainTime` passed with tasks left: the lifecycle action is completed with `onTimeout`. */
  | 'TIMED_OUT'
  /** A Spot drain's two minutes passed with tasks left: nothing to complete, the instance is being interrupted. */
  | 'SPOT_DEADLINE'
  /** Tasks left and time left: wait and check again. */
  | 'DRAINING';

export interface CheckDecision {
  readonly outcome: CheckOutcome;
  /** Tasks not STOPPED yet (pending, running, or stopping). */
  readonly remaining: readonly TaskView[];
  /** The lifecycle action's result, when the drain ends here and has an action to complete. */
  readonly complete?: 'CONTINUE' | 'ABANDON';
  /** Send RecordLifecycleActionHeartbeat now: the hook would expire before the next check. */
  readonly heartbeat: boolean;
  /** Standalone tasks to stop now (past `stopStandaloneTasksAfter`, not stopping yet). */
  readonly stop: readonly string[];
  /** DRAINING: seconds to wait before the next check (never past the deadline). */
  readonly waitSeconds: number;
}

/** Seconds from the drain's start to its deadline: `maxDrainTime`, or the Spot warning's two minutes. */
export function drainDeadlineSeconds(drain: Pick<Drain, 'kind'>, settings: DrainSettings): number {
  return drain.kind === 'spot' ? Math.min(SPOT_WARNING_SECONDS, settings.maxDrainSeconds) : settings.maxDrainSeconds;
}

export function decideCheck(drain: Drain, tasks: readonly TaskView[], settings: DrainSettings, now: Date): CheckDecision {
  const remaining = tasks.filter((t) => t.lastStatus !== 'STOPPED');
  const elapsed = secondsBetween(drain.startedAt, now);
  const deadline = drainDeadlineSeconds(drain, settings);
  const lifecycle = drain.kind === 'lifecycle';
  const ending = { heartbeat: false, stop: [], waitSeconds: 0 };

  if (remaining.length === 0) return { outcome: 'DRAINED', remaining, ...(lifecycle ? { complete: 'CONTINUE' } : {}), ...ending };
  if (elapsed >= deadline) {
    return lifecycle
      ? { outcome: 'TIMED_OUT', remaining, complete: settings.onTimeout, ...ending }
      : { outcome: 'SPOT_DEADLINE', remaining, ...ending };
  }

  const waitSeconds = Math.max(1, Math.min(settings.pollIntervalSeconds, Math.ceil(deadline - elapsed)));
  const after = settings.stopStandaloneAfterSeconds;
  const stop = after !== undefined && elapsed >= after
    ? remaining.filter((t) => t.standalone && t.desiredStatus !== 'STOPPED').map((t) => t.taskArn)
    : [];
  // The hook expires heartbeatTimeout after its timer last started; the next check comes after the
  // wait plus the slack of getting there.
  const hookExpiresIn = settings.heartbeatTimeoutSeconds - secondsBetween(drain.heartbeatAt, now);
  const heartbeat = lifecycle && waitSeconds + CHECK_SLACK_SECONDS >= hookExpiresIn;
  return { outcome: 'DRAINING', remaining, heartbeat, stop, waitSeconds };
}

function secondsBetween(fromIso: string, now: Date): number {
  return (now.getTime() - Date.parse(fromIso)) / 1000;
}
