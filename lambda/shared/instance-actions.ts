import { EC2Client, InstanceStateChange, StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CallOutcome, sdkAttempts } from './batch';

/*
 * StopInstances and TerminateInstances as batch calls for actInBatches, for every construct that
 * stops or terminates instances. Both are safe to repeat, and each reports the state an instance was
 * in before the call: an instance that was already stopping/stopped (or shutting-down/terminated)
 * was handled by someone else first.
 */

/** StopInstances and TerminateInstances accept up to 1000 instance ids per call. */
export const INSTANCE_BATCH_MAX = 1000;

/** Terminated instances stay visible for about an hour; after that the id is unknown: nothing is left to stop or terminate. */
export const INSTANCE_GONE = new Set(['InvalidInstanceID.NotFound']);

const ALREADY_TERMINATED = new Set(['shutting-down', 'terminated']);
const ALREADY_STOPPED = new Set(['stopping', 'stopped']);

export type InstanceStateAction = 'STOP' | 'TERMINATE';

export function instanceStateCall(ec2: EC2Client, action: InstanceStateAction): (ids: string[]) => Promise<CallOutcome> {
  if (action === 'STOP') {
    return async (ids) => previousStates(await ec2.send(new StopInstancesCommand({ InstanceIds: ids })), 'StoppingInstances', ALREADY_STOPPED);
  }
  return async (ids) => previousStates(await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })), 'TerminatingInstances', ALREADY_TERMINATED);
}

/** Instances whose previous state (StoppingInstances / TerminatingInstances) says the action was already done. */
function previousStates(
  out: { StoppingInstances?: InstanceStateChange[]; TerminatingInstances?: InstanceStateChange[] } | undefined,
  field: 'StoppingInstances' | 'TerminatingInstances',
  alreadyIn: ReadonlySet<string>,
): CallOutcome {
  // An answer that took the SDK several attempts may report what an earlier attempt of ours did.
  if (sdkAttempts(out) > 1) return {};
  const alreadyDone = new Map<string, string>();
  for (const change of out?.[field] ?? []) {
    const previous = change.PreviousState?.Name;
    if (change.InstanceId && previous && alreadyIn.has(previous)) alreadyDone.set(change.InstanceId, `was-${previous}`);
  }
  return { alreadyDone };
}
