import { AutoScalingClient, CompleteLifecycleActionCommand, RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import { ECSClient, StopTaskCommand, UpdateContainerInstancesStateCommand } from '@aws-sdk/client-ecs';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Drain } from './drain';
import { errorCode, errorMessage } from '../shared/errors';

/*
 * What a drain changes: the container instance's state, the lifecycle action (heartbeats, the
 * completion), standalone tasks, and the executions that carry it. Each answer AWS gives when the
 * thing is already done (an action completed by someone else, a task already gone, an execution
 * already started for this event) is success, reported as such.
 */

/** ECS StopTask's reason is at most 255 characters. */
const STOP_REASON_MAX = 255;

export type LifecycleOutcome = 'DONE' | 'GONE';

/** Set the container instance DRAINING; ECS reports a refusal per instance in `failures`. */
export async function setDraining(ecs: ECSClient, cluster: string, containerInstance: string): Promise<void> {
  const answer = await ecs.send(new UpdateContainerInstancesStateCommand({ cluster, containerInstances: [containerInstance], status: 'DRAINING' }));
  const failure = answer.failures?.[0];
  if (failure) throw Object.assign(new Error(`ECS refused DRAINING for ${containerInstance}: ${failure.reason ?? 'no reason'}${failure.detail ? ` (${failure.detail})` : ''}`), { name: 'DrainRefused' });
}

function lifecycleParams(drain: Drain) {
  return {
    AutoScalingGroupName: drain.autoScalingGroupName,
    LifecycleHookName: drain.lifecycleHookName,
    LifecycleActionToken: drain.lifecycleActionToken,
    InstanceId: drain.instanceId,
  };
}

/** Auto Scaling's answer for an action that expired, was completed by someone else, or never existed. */
export function isActionGone(error: unknown): boolean {
  return errorCode(error) === 'ValidationError' && /no active lifecycle action/i.test(errorMessage(error));
}

export async function recordHeartbeat(autoscaling: AutoScalingClient, drain: Drain): Promise<LifecycleOutcome> {
  try {
    await autoscaling.send(new RecordLifecycleActionHeartbeatCommand(lifecycleParams(drain)));
    return 'DONE';
  } catch (error) {
    if (isActionGone(error)) return 'GONE';
    throw error;
  }
}

export async function completeAction(autoscaling: AutoScalingClient, drain: Drain, result: 'CONTINUE' | 'ABANDON'): Promise<LifecycleOutcome> {
  try {
    await autoscaling.send(new CompleteLifecycleActionCommand({ ...lifecycleParams(drain), LifecycleActionResult: result }));
    return 'DONE';
  } catch (error) {
    if (isActionGone(error)) return 'GONE';
    throw error;
  }
}

export interface StopOutcome {
  readonly taskArn: string;
  readonly ok: boolean;
  readonly errorCode?: string;
}

/** Stop standalone tasks, one call each (ECS has no batch stop); a task that is already gone counts as stopped. */
export async function stopTasks(ecs: ECSClient, cluster: string, taskArns: readonly string[], reason: string): Promise<StopOutcome[]> {
  const outcomes: StopOutcome[] = [];
  for (const task of taskArns) {
    try {
      await ecs.send(new StopTaskCommand({ cluster, task, reason: reason.slice(0, STOP_REASON_MAX) }));
      outcomes.push({ taskArn: task, ok: true });
    } catch (error) {
      const gone = errorCode(error) === 'InvalidParameterException' && /not found/i.test(errorMessage(error));
      outcomes.push(gone ? { taskArn: task, ok: true } : { taskArn: task, ok: false, errorCode: errorCode(error) });
    }
  }
  return outcomes;
}

export type StartOutcome = 'STARTED' | 'DUPLICATE';

/**
 * Start the execution that carries a drain. Its name is the event's identity: a duplicated event asks
 * for the same name, and Step Functions refuses a second execution of that name (or, while the first
 * runs with the same input, answers with it again).
 */
export async function startExecution(sfn: SFNClient, stateMachineArn: string, name: string, input: unknown): Promise<StartOutcome> {
  try {
    await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    return 'STARTED';
  } catch (error) {
    if (errorCode(error) === 'ExecutionAlreadyExists') return 'DUPLICATE';
    throw error;
  }
}
