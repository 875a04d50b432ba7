import type { Drain } from './drain';
import { DRAIN_NEXT, DRAIN_STEPS, DrainStep, LIFECYCLE_DETAIL_TYPE, SPOT_DETAIL_TYPE } from '../../src/ecs-instance-drainer/contract';
import { echo, EventShapeError } from '../shared/errors';
import { envelopeFieldProblem, isInstanceId } from '../shared/event';

/*
 * Two kinds of invocation: an EventBridge event that starts a drain (the Auto Scaling termination
 * lifecycle action, or an EC2 Spot interruption warning), and a step of the state machine with the
 * drain it carries. Each is checked field by field; nothing is changed for a malformed one.
 */

/** A drain to start, read from its event. */
export interface DrainStart {
  readonly kind: Drain['kind'];
  readonly instanceId: string;
  /** Lifecycle events name the group; a Spot warning does not (the handler asks Auto Scaling). */
  readonly autoScalingGroupName?: string;
  readonly lifecycleHookName?: string;
  readonly lifecycleActionToken?: string;
  /** The event's time: the drain's start. */
  readonly time: string;
  /** The event's id (a Spot drain is named after it). */
  readonly eventId: string;
}

export interface StepInput {
  readonly step: DrainStep;
  readonly drain: Drain;
  /** The `failed` step: the error Step Functions caught. */
  readonly error?: { readonly Error?: string; readonly Cause?: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Auto Scaling group names: 1 to 255 characters, no colon (an ARN is not a name), no control character but tab and line breaks. */
const ASG_NAME = /^[^:\u0000-\u0008\u000b\u000c\u000e-\u001f]{1,255}$/;
const HOOK_NAME = /^[A-Za-z0-9\-_/]{1,255}$/;
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const ENVELOPE_KEYS = new Set(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
const REQUIRED_KEYS = ['id', 'account', 'time', 'region', 'detail'] as const;
const LIFECYCLE_TRANSITION = 'autoscaling:EC2_INSTANCE_TERMINATING';
const MAX_GENERATION = 1_000;
const MAX_CHECKS = 100_000;

export function isStepInput(event: unknown): boolean {
  return isObject(event) && 'step' in event;
}

/** The drain an EventBridge event asks for. */
export function parseStartEvent(event: unknown): DrainStart {
  if (!isObject(event)) reject(`expected an EventBridge event object, got ${describeValue(event)}`);
  const unknownKey = Object.keys(event).find((k) => !ENVELOPE_KEYS.has(k));
  if (unknownKey !== undefined) reject(`unexpected field ${echo(unknownKey)}`);
  for (const key of REQUIRED_KEYS) if (event[key] === undefined) reject(`"${key}" is missing`);
  const envelopeProblem = envelopeFieldProblem(event);
  if (envelopeProblem) reject(envelopeProblem);
  // The pattern admits a month 13 or an hour 99: the drain's clock starts here.
  if (Number.isNaN(Date.parse(event.time as string))) reject(`"time" must be a valid time, got ${echo(event.time)}`);
  const detail = event.detail;
  if (!isObject(detail)) reject(`"detail" must be an object, got ${describeValue(detail)}`);
  const base = { time: new Date(Date.parse(event.time as string)).toISOString(), eventId: event.id as string };

  if (event['detail-type'] === LIFECYCLE_DETAIL_TYPE) {
    if (event.source !== 'aws.autoscaling') reject(`"source" of a lifecycle action must be "aws.autoscaling", got ${echo(event.source)}`);
    if (detail.LifecycleTransition !== LIFECYCLE_TRANSITION) {
      reject(`"detail.LifecycleTransition" must be "${LIFECYCLE_TRANSITION}", got ${echo(detail.LifecycleTransition)}`);
    }
    const instanceId = instanceIdField(detail.EC2InstanceId, 'detail.EC2InstanceId');
    const autoScalingGroupName = stringField(detail.AutoScalingGroupName, 'detail.AutoScalingGroupName', ASG_NAME, 'an Auto Scaling group name');
    const lifecycleHookName = stringField(detail.LifecycleHookName, 'detail.LifecycleHookName', HOOK_NAME, 'a lifecycle hook name');
    const lifecycleActionToken = stringField(detail.LifecycleActionToken, 'detail.LifecycleActionToken', UUID, 'a lifecycle action token (a UUID)');
    return { kind: 'lifecycle', instanceId, autoScalingGroupName, lifecycleHookName, lifecycleActionToken: lifecycleActionToken.toLowerCase(), ...base };
  }
  if (event['detail-type'] === SPOT_DETAIL_TYPE) {
    if (event.source !== 'aws.ec2') reject(`"source" of a Spot interruption warning must be "aws.ec2", got ${echo(event.source)}`);
    const instanceId = instanceIdField(detail['instance-id'], 'detail.instance-id');
    const action = detail['instance-action'];
    if (action !== 'terminate' && action !== 'stop' && action !== 'hibernate') {
      reject(`"detail.instance-action" must be terminate, stop or hibernate, got ${echo(action)}`);
    }
    return { kind: 'spot', instanceId, ...base };
  }
  return reject(`"detail-type" must be "${LIFECYCLE_DETAIL_TYPE}" or "${SPOT_DETAIL_TYPE}", got ${echo(event['detail-type'])}`);
}

/** A step of the state machine, with the drain it carries. */
export function parseStepInput(event: unknown): StepInput {
  if (!isObject(event)) reject(`expected a step input object, got ${describeValue(event)}`);
  const step = event.step;
  if (typeof step !== 'string' || !(DRAIN_STEPS as readonly string[]).includes(step)) reject(`"step" must be one of ${DRAIN_STEPS.join(', ')}, got ${echo(step)}`);
  const drain = parseDrain(event.drain);
  const error = event.error;
  if (error !== undefined && !isObject(error)) reject(`"error" must be the object Step Functions caught, got ${describeValue(error)}`);
  return {
    step: step as DrainStep,
    drain,
    ...(error !== undefined ? { error: { Error: optionalText(error.Error), Cause: optionalText(error.Cause) } } : {}),
  };
}

function parseDrain(value: unknown): Drain {
  if (!isObject(value)) reject(`"drain" must be an object, got ${describeValue(value)}`);
  const kind = value.kind;
  if (kind !== 'lifecycle' && kind !== 'spot') reject(`"drain.kind" must be lifecycle or spot, got ${echo(kind)}`);
  const lifecycle = kind === 'lifecycle';
  const next = value.next;
  if (!(Object.values(DRAIN_NEXT) as unknown[]).includes(next)) reject(`"drain.next" must be one of ${Object.values(DRAIN_NEXT).join(', ')}, got ${echo(next)}`);
  return {
    kind,
    instanceId: instanceIdField(value.instanceId, 'drain.instanceId'),
    autoScalingGroupName: stringField(value.autoScalingGroupName, 'drain.autoScalingGroupName', ASG_NAME, 'an Auto Scaling group name'),
    ...(lifecycle ? {
      lifecycleHookName: stringField(value.lifecycleHookName, 'drain.lifecycleHookName', HOOK_NAME, 'a lifecycle hook name'),
      lifecycleActionToken: stringField(value.lifecycleActionToken, 'drain.lifecycleActionToken', UUID, 'a lifecycle action token (a UUID)'),
    } : {}),
    startedAt: timeField(value.startedAt, 'drain.startedAt'),
    heartbeatAt: timeField(value.heartbeatAt, 'drain.heartbeatAt'),
    ...(value.containerInstanceArn !== undefined ? {
      containerInstanceArn: stringField(value.containerInstanceArn, 'drain.containerInstanceArn', /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:container-instance\/[A-Za-z0-9_/-]{1,600}$/, 'a container instance ARN'),
    } : {}),
    executionName: stringField(value.executionName, 'drain.executionName', EXECUTION_NAME, 'an execution name'),
    generation: integerField(value.generation, 'drain.generation', MAX_GENERATION),
    checks: integerField(value.checks, 'drain.checks', MAX_CHECKS),
    stoppedTasks: integerField(value.stoppedTasks, 'drain.stoppedTasks', MAX_CHECKS),
    next: next as Drain['next'],
    waitSeconds: integerField(value.waitSeconds, 'drain.waitSeconds', 86_400),
  };
}

function instanceIdField(value: unknown, name: string): string {
  if (typeof value !== 'string' || !isInstanceId(value)) reject(`"${name}" must be an instance id such as "i-0123456789abcdef0", got ${echo(value)}`);
  return value;
}

function stringField(value: unknown, name: string, pattern: RegExp, wanted: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) reject(`"${name}" must be ${wanted}, got ${echo(value)}`);
  return value;
}

function timeField(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value))) reject(`"${name}" must be an ISO 8601 time, got ${echo(value)}`);
  return value;
}

function integerField(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) reject(`"${name}" must be an integer from 0 to ${max}, got ${echo(value)}`);
  return value;
}

function optionalText(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, 2_000) : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function reject(reason: string): never {
  throw new EventShapeError(reason);
}
