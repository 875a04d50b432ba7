import { drainOf } from './harness';
import { decideBegin, decideCheck, drainDeadlineSeconds } from '../../../lambda/ecs-instance-drainer/decide';
import type { DrainSettings, TaskView } from '../../../lambda/ecs-instance-drainer/drain';
import { CHECK_SLACK_SECONDS, SPOT_WARNING_SECONDS } from '../../../src/ecs-instance-drainer/contract';

const START = '2026-06-01T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(START) + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

const drain = drainOf;

const SETTINGS: DrainSettings = { pollIntervalSeconds: 10, heartbeatTimeoutSeconds: 300, maxDrainSeconds: 3_600, onTimeout: 'CONTINUE' };

let n = 0;
const task = (props: Partial<TaskView> = {}): TaskView => ({
  taskArn: `arn:aws:ecs:eu-west-1:111122223333:task/prod/${(++n).toString(16).padStart(32, '0')}`,
  standalone: false,
  desiredStatus: 'RUNNING',
  lastStatus: 'RUNNING',
  group: 'service:web',
  ...props,
});
const standalone = (props: Partial<TaskView> = {}) => task({ standalone: true, group: 'family:report', ...props });

describe('decideBegin', () => {
  test.each([
    ['ACTIVE', 'SET_DRAINING'],
    ['REGISTERING', 'SET_DRAINING'],
    ['DRAINING', 'ALREADY_DRAINING'],
  ])('a container instance %s: %s', (status, kind) => {
    expect(decideBegin(status)).toEqual({ kind });
  });

  test('no container instance: not registered, said so', () => {
    expect(decideBegin(undefined)).toEqual({ kind: 'NOT_REGISTERED', reason: 'no container instance of the cluster runs on this EC2 instance' });
  });

  test.each(['DEREGISTERING', 'INACTIVE', 'REGISTRATION_FAILED'])('a container instance %s is leaving or never joined: nothing to drain', (status) => {
    expect(decideBegin(status)).toEqual({ kind: 'NOT_REGISTERED', reason: `its container instance is ${status}` });
  });
});

describe('decideCheck: when the drain ends', () => {
  test('no task at all: drained, the action completed CONTINUE', () => {
    expect(decideCheck(drain(), [], SETTINGS, at(5))).toEqual({ outcome: 'DRAINED', remaining: [], complete: 'CONTINUE', heartbeat: false, stop: [], waitSeconds: 0 });
  });

  test('only STOPPED tasks: drained; a task still stopping (desired STOPPED, last RUNNING) keeps the drain going', () => {
    const stopped = task({ desiredStatus: 'STOPPED', lastStatus: 'STOPPED' });
    expect(decideCheck(drain(), [stopped], SETTINGS, at(5)).outcome).toBe('DRAINED');
    const stopping = task({ desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING' });
    const result = decideCheck(drain(), [stopped, stopping], SETTINGS, at(5));
    expect(result).toMatchObject({ outcome: 'DRAINING', remaining: [stopping] });
  });

  test('a PENDING task counts as remaining', () => {
    const pending = task({ lastStatus: 'PENDING' });
    expect(decideCheck(drain(), [pending], SETTINGS, at(5))).toMatchObject({ outcome: 'DRAINING', remaining: [pending] });
  });

  test('maxDrainTime: one second before, still draining; at it, timed out with onTimeout', () => {
    const tasks = [task()];
    expect(decideCheck(drain(), tasks, SETTINGS, at(3_599)).outcome).toBe('DRAINING');
    expect(decideCheck(drain(), tasks, SETTINGS, at(3_600))).toEqual({ outcome: 'TIMED_OUT', remaining: tasks, complete: 'CONTINUE', heartbeat: false, stop: [], waitSeconds: 0 });
    expect(decideCheck(drain(), tasks, { ...SETTINGS, onTimeout: 'ABANDON' }, at(4_000))).toMatchObject({ outcome: 'TIMED_OUT', complete: 'ABANDON' });
  });

  test('drained wins over timed out: the last task gone at the deadline is a clean drain', () => {
    expect(decideCheck(drain(), [], SETTINGS, at(3_600))).toMatchObject({ outcome: 'DRAINED', complete: 'CONTINUE' });
  });

  test('a Spot drain: nothing to complete; its deadline is the warning\'s two minutes', () => {
    const spot = drain({ kind: 'spot', lifecycleHookName: undefined, lifecycleActionToken: undefined });
    const tasks = [task()];
    expect(drainDeadlineSeconds(spot, SETTINGS)).toBe(SPOT_WARNING_SECONDS);
    expect(decideCheck(spot, [], SETTINGS, at(30))).toEqual({ outcome: 'DRAINED', remaining: [], heartbeat: false, stop: [], waitSeconds: 0 });
    expect(decideCheck(spot, tasks, SETTINGS, at(119)).outcome).toBe('DRAINING');
    expect(decideCheck(spot, tasks, SETTINGS, at(120))).toEqual({ outcome: 'SPOT_DEADLINE', remaining: tasks, heartbeat: false, stop: [], waitSeconds: 0 });
  });

  test('a Spot drain with a maxDrainTime under two minutes ends at maxDrainTime', () => {
    expect(drainDeadlineSeconds({ kind: 'spot' }, { ...SETTINGS, maxDrainSeconds: 60 })).toBe(60);
    expect(drainDeadlineSeconds({ kind: 'lifecycle' }, { ...SETTINGS, maxDrainSeconds: 60 })).toBe(60);
  });
});

describe('decideCheck: the wait', () => {
  test('the poll interval, but never past the deadline, and at least one second', () => {
    const tasks = [task()];
    expect(decideCheck(drain(), tasks, SETTINGS, at(100)).waitSeconds).toBe(10);
    expect(decideCheck(drain(), tasks, SETTINGS, at(3_594)).waitSeconds).toBe(6);
    // 0.5 s left: the next check lands on the deadline (rounded up), not before it
    expect(decideCheck(drain(), tasks, SETTINGS, new Date(at(3_599).getTime() + 500)).waitSeconds).toBe(1);
    expect(decideCheck(drain(), tasks, SETTINGS, new Date(at(3_599).getTime() + 999)).waitSeconds).toBe(1);
  });
});

describe('decideCheck: heartbeats', () => {
  // 300 s heartbeat timeout, 10 s poll, 15 s slack: the hook would expire before the next check
  // once 300 - (10 + 15) = 275 s have passed since its timer started
  const tasks = [task()];
  const threshold = SETTINGS.heartbeatTimeoutSeconds - SETTINGS.pollIntervalSeconds - CHECK_SLACK_SECONDS;

  test('none while the hook has time for the next check; one from the check that would otherwise come too late', () => {
    expect(threshold).toBe(275);
    expect(decideCheck(drain(), tasks, SETTINGS, at(threshold - 1)).heartbeat).toBe(false);
    expect(decideCheck(drain(), tasks, SETTINGS, at(threshold)).heartbeat).toBe(true);
  });

  test('counted from the last heartbeat, not from the start', () => {
    const beaten = drain({ heartbeatAt: iso(1_000) });
    expect(decideCheck(beaten, tasks, SETTINGS, at(1_000 + threshold - 1)).heartbeat).toBe(false);
    expect(decideCheck(beaten, tasks, SETTINGS, at(1_000 + threshold)).heartbeat).toBe(true);
  });

  test('a shorter wait before the deadline moves the heartbeat later', () => {
    // 21 s left on the hook: a full 10 s wait (+ 15 s slack) needs a heartbeat; the last 5 s before the deadline do not
    expect(decideCheck(drain({ heartbeatAt: iso(1_000 - 279) }), tasks, SETTINGS, at(1_000))).toMatchObject({ waitSeconds: 10, heartbeat: true });
    expect(decideCheck(drain({ heartbeatAt: iso(3_595 - 279) }), tasks, SETTINGS, at(3_595))).toMatchObject({ waitSeconds: 5, heartbeat: false });
  });

  test('never for a Spot drain, and never when the drain ends', () => {
    const spot = drain({ kind: 'spot', heartbeatAt: iso(-10_000) });
    expect(decideCheck(spot, tasks, SETTINGS, at(10)).heartbeat).toBe(false);
    expect(decideCheck(drain({ heartbeatAt: iso(-10_000) }), [], SETTINGS, at(10)).heartbeat).toBe(false);
  });

  test('the shortest hook (30 s) with the default poll: a heartbeat at every check once 5 s have passed', () => {
    const short = { ...SETTINGS, heartbeatTimeoutSeconds: 30 };
    expect(decideCheck(drain(), tasks, short, at(4)).heartbeat).toBe(false);
    expect(decideCheck(drain(), tasks, short, at(5)).heartbeat).toBe(true);
  });
});

describe('decideCheck: standalone tasks', () => {
  const after = { ...SETTINGS, stopStandaloneAfterSeconds: 1_800 };

  test('never stopped without stopStandaloneTasksAfter, however long the drain', () => {
    expect(decideCheck(drain(), [standalone()], SETTINGS, at(3_000)).stop).toEqual([]);
  });

  test('stopped from the first check at or after the grace, service tasks never', () => {
    const lone = standalone();
    const web = task();
    expect(decideCheck(drain(), [lone, web], after, at(1_799)).stop).toEqual([]);
    expect(decideCheck(drain(), [lone, web], after, at(1_800)).stop).toEqual([lone.taskArn]);
  });

  test('a standalone task already told to stop is not stopped again, nor a STOPPED one', () => {
    const stopping = standalone({ desiredStatus: 'STOPPED', lastStatus: 'RUNNING' });
    const gone = standalone({ desiredStatus: 'STOPPED', lastStatus: 'STOPPED' });
    const fresh = standalone({ lastStatus: 'PENDING' });
    expect(decideCheck(drain(), [stopping, gone, fresh], after, at(2_000))).toMatchObject({ outcome: 'DRAINING', stop: [fresh.taskArn] });
  });

  test('a grace of 0 stops standalone tasks at the first check; none are stopped when the drain times out', () => {
    const lone = standalone();
    expect(decideCheck(drain(), [lone], { ...SETTINGS, stopStandaloneAfterSeconds: 0 }, at(0)).stop).toEqual([lone.taskArn]);
    expect(decideCheck(drain(), [lone], { ...SETTINGS, stopStandaloneAfterSeconds: 0 }, at(3_600)).stop).toEqual([]);
  });
});
