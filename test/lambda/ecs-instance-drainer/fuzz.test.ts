/*
 * Seeded malformed input through the function's entry point: random shapes, lifecycle actions and
 * Spot warnings with a field broken or missing, and state machine steps with a broken drain. Each
 * must be refused with an EventShapeError, and none may lead to a call that changes anything (a
 * container instance set DRAINING, a task stopped, a lifecycle action completed or heartbeaten, an
 * execution started, a notification). The cluster is served with tasks and an open lifecycle
 * action, so anything that got through would have something to act on.
 */
import { CompleteLifecycleActionCommand, RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import { StopTaskCommand, UpdateContainerInstancesStateCommand } from '@aws-sdk/client-ecs';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand } from '@aws-sdk/client-sns';
import 'aws-sdk-client-mock-jest';
import { addTasks, asgMock, ecsMock, GROUP, INSTANCE, installDrainerHarness, lifecycleEvent, loadHandler, sfnMock, snsMock, spotEvent, TOKEN } from './harness';
import { mulberry32 } from '../../emulator/random';

installDrainerHarness();

const random = mulberry32(0x5eed11);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
const huge = () => pick(['x', 'é', '😀', '\u0000', '{"a":']).repeat(10_000 + int(200_000));

function junk(depth = 0): unknown {
  const choices: Array<() => unknown> = [
    // Strings no field accepts (a plain word would be a valid group or hook name, or event id).
    () => null, () => undefined, () => true, () => -1, () => 1e21, () => Number.NaN, () => 3.5, () => '', huge,
    () => '\u0000', () => 'a:b c', () => '2026-13-45T99:00:00Z',
    () => Array.from({ length: int(3) }, () => junk(depth + 1)),
    () => Object.fromEntries(Array.from({ length: int(3) }, (_, i) => [`k${i}`, junk(depth + 1)])),
  ];
  return pick(depth > 2 ? choices.slice(0, 12) : choices)();
}

const drain = (): Record<string, unknown> => ({
  kind: 'lifecycle',
  instanceId: INSTANCE,
  autoScalingGroupName: GROUP,
  lifecycleHookName: 'fleet-janitor-drain',
  lifecycleActionToken: TOKEN,
  startedAt: '2026-06-01T10:00:00.000Z',
  heartbeatAt: '2026-06-01T10:00:00.000Z',
  executionName: `${INSTANCE}-${TOKEN}`,
  containerInstanceArn: 'arn:aws:ecs:eu-west-1:111122223333:container-instance/prod/0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c',
  generation: 0,
  checks: 0,
  stoppedTasks: 0,
  next: 'WAIT',
  waitSeconds: 10,
});

/** Breaks one field of `value` (at any depth of a plain object): replaced by junk, or removed. */
function breakOne(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  const key = pick(keys);
  const [outer, inner] = key.split('.');
  const target = inner ? copy[outer] as Record<string, unknown> : copy;
  const field = inner ?? outer;
  if (random() < 0.3) delete target[field];
  else target[field] = junk();
  return copy;
}

const LIFECYCLE_KEYS = [
  'id', 'account', 'time', 'region', 'detail-type', 'source', 'detail', 'detail.LifecycleActionToken', 'detail.AutoScalingGroupName',
  'detail.LifecycleHookName', 'detail.EC2InstanceId', 'detail.LifecycleTransition',
];
const SPOT_KEYS = ['id', 'account', 'time', 'region', 'detail-type', 'source', 'detail', 'detail.instance-id', 'detail.instance-action'];
const DRAIN_KEYS = [
  'kind', 'instanceId', 'autoScalingGroupName', 'lifecycleHookName', 'lifecycleActionToken', 'startedAt', 'heartbeatAt', 'containerInstanceArn',
  'executionName', 'generation', 'checks', 'stoppedTasks', 'next', 'waitSeconds',
];

/** True when `candidate` is still a valid input (breaking it changed nothing that matters). */
function stillValid(candidate: Record<string, unknown>, original: Record<string, unknown>): boolean {
  return JSON.stringify(candidate) === JSON.stringify(original);
}

function cases(): Array<{ title: string; event: unknown }> {
  const out: Array<{ title: string; event: unknown }> = [];
  for (let i = 0; i < 60; i++) out.push({ title: `random shape ${i}`, event: junk() });
  const lifecycle = lifecycleEvent() as Record<string, unknown>;
  const spot = spotEvent() as Record<string, unknown>;
  for (let i = 0; i < 220; i++) {
    const broken = breakOne(lifecycle, LIFECYCLE_KEYS);
    if (!stillValid(broken, lifecycle)) out.push({ title: `lifecycle action ${i}`, event: broken });
  }
  for (let i = 0; i < 120; i++) {
    const broken = breakOne(spot, SPOT_KEYS);
    if (!stillValid(broken, spot)) out.push({ title: `Spot warning ${i}`, event: broken });
  }
  for (let i = 0; i < 200; i++) {
    const stepName = pick(['begin', 'check', 'failed']);
    const broken = breakOne(drain(), DRAIN_KEYS);
    // a Spot drain carries no hook or token, and the container instance is optional: dropping those is valid
    if (!(broken.kind === 'lifecycle' && 'lifecycleHookName' in broken && 'lifecycleActionToken' in broken) && broken.kind !== 'spot') continue;
    if (broken.containerInstanceArn === undefined) continue;
    out.push({ title: `${stepName} step ${i}`, event: { step: stepName, drain: broken } });
  }
  for (let i = 0; i < 30; i++) out.push({ title: `unknown step ${i}`, event: { step: junk(), drain: drain() } });
  return out;
}

const CASES = cases();

test('at least 500 malformed events', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(500);
});

test.each(CASES.map((c) => [c.title, c.event] as const))('%s: refused with an EventShapeError, nothing changed', async (_title, event) => {
  addTasks(2, { group: 'family:batch' });
  const handler = loadHandler({ STOP_STANDALONE_AFTER_SECONDS: '0' });
  const outcome = await handler(event).then(() => undefined, (error: Error) => error);
  expect(outcome).toMatchObject({ name: 'EventShapeError', message: expect.stringMatching(/^Rejected event: .+\. No resource was changed\.$/s) });
  expect(ecsMock).not.toHaveReceivedCommand(UpdateContainerInstancesStateCommand);
  expect(ecsMock).not.toHaveReceivedCommand(StopTaskCommand);
  expect(asgMock).not.toHaveReceivedCommand(CompleteLifecycleActionCommand);
  expect(asgMock).not.toHaveReceivedCommand(RecordLifecycleActionHeartbeatCommand);
  expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
});
