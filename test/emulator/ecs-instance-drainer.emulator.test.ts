/**
 * EcsInstanceDrainer end to end in moto: the shipped bundle (moto_launcher.py patch 13) configured
 * from the synthesized template, the state machine created from its synthesized definition and run by
 * moto's Step Functions interpreter, lifecycle actions from patch 14.
 *
 * One fleet, eight events at once (pollInterval 2 s, heartbeatTimeout 30 s, maxDrainTime 60 s,
 * stopStandaloneTasksAfter 10 s), the test playing ECS's service scheduler (it stops the services'
 * tasks on DRAINING instances):
 * - quick: two service tasks, stopped 4 s in;      - long: one service task, stopped 25 s in (a heartbeat);
 * - stuck: a service task that never stops (the timeout);  - batch: a service task and a standalone one;
 * - stray: an instance of the group that never joined the cluster;
 * - twice: its lifecycle event delivered twice;    - spot: an EC2 Spot interruption warning.
 *
 * Events: PutEvents on the default bus through the synthesized rules (their patterns as synthesized);
 * moto's EventBridge cannot deliver to a Lambda target, so the rules' target is a queue and the test
 * invokes the function with each matched event asynchronously (InvocationType Event), as EventBridge's
 * Lambda target does. The bundle's AWS calls go through a recording proxy (fault-proxy.ts, no faults).
 */
import { randomUUID } from 'crypto';
import { DescribeExecutionOutput } from '@aws-sdk/client-sfn';
import {
  BundleInvocation, DRAIN_PROPS, DrainerClients, DrainerStack, FleetNode, LifecycleActionRecord, bundleInvocations, configureEmulator,
  containerInstanceStatus, deployDrainer, describeTasks, destroyClients, drainerClients, finishedExecution, launchNodes, lifecycleActions,
  lifecycleEvent, listExecutions, openLifecycleAction, putAndDeliver, registerTaskDefinitions, spotWarning, startTask, stopServiceTask, waitFor,
} from './ecs-instance-drainer-harness';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { Notification, readNotifications } from './fleet';
import { MotoServer, startMoto } from './moto';

jest.setTimeout(60_000);

const POLL = DRAIN_PROPS.pollInterval.toSeconds();
const MAX_DRAIN = DRAIN_PROPS.maxDrainTime.toSeconds();
const STANDALONE_AFTER = DRAIN_PROPS.stopStandaloneTasksAfter.toSeconds();
/**
 * Between a task's stop and the check that sees it: at most one wait (POLL), then the check (a fresh
 * node process, its ECS and Auto Scaling calls) and the interpreter's transitions. 6 s of slack on a
 * loaded machine with eight drains running at once.
 */
const SLACK = 6;
/** A check lists and describes one instance's tasks: seconds, never minutes (the function's timeout is 60 s). */
const SHORT_CHECK_SECONDS = 10;

type Name = 'quick' | 'long' | 'stuck' | 'batch' | 'stray' | 'twice' | 'spot';
const LIFECYCLE: Name[] = ['quick', 'long', 'stuck', 'batch', 'stray', 'twice'];

let moto: MotoServer;
let proxy: FaultProxy;
let clients: DrainerClients;
let stack: DrainerStack;
const nodes = {} as Record<Name, FleetNode>;
const tokens = {} as Record<Name, string>;
const tasks = {} as Record<Name, { service: string[]; standalone: string[] }>;
/** When the test stopped each drain's last service task (epoch seconds). */
const stoppedAt = {} as Partial<Record<Name, number>>;
let eventTime: number;
let delivered: any[];
let executions: Record<Name, DescribeExecutionOutput>;
let actions: Record<string, LifecycleActionRecord>;
let invocations: BundleInvocation[];
let notifications: Notification[];
let wallSeconds: number;
let bystanders: FleetNode[];

const sleepUntil = (epochSeconds: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, epochSeconds * 1000 - Date.now())));

beforeAll(async () => {
  const setupStart = Date.now();
  moto = await startMoto();
  proxy = await startFaultProxy({ target: moto.endpoint });
  clients = drainerClients(moto.endpoint);
  await configureEmulator(moto.endpoint);
  stack = await deployDrainer(moto.endpoint, clients, { bundleEndpoint: proxy.endpoint });
  await registerTaskDefinitions(clients);

  const names: Name[] = ['quick', 'long', 'stuck', 'batch', 'stray', 'twice', 'spot'];
  const launched = await launchNodes(clients, names.map((n) => n !== 'stray'));
  names.forEach((n, i) => { nodes[n] = launched[i]; });
  // Other instances of the cluster keep running: a drain touches only its own.
  bystanders = await launchNodes(clients, [true, true]);
  for (const n of names) {
    tasks[n] = { service: [], standalone: [] };
    if (n === 'stray') continue;
    const services = n === 'quick' ? 2 : 1;
    for (let i = 0; i < services; i++) tasks[n].service.push(await startTask(clients, nodes[n], 'service'));
    if (n === 'batch') tasks[n].standalone.push(await startTask(clients, nodes[n], 'standalone'));
  }
  for (const b of bystanders) await startTask(clients, b, 'service');

  // Auto Scaling opens each action as it puts the event on the bus.
  for (const n of LIFECYCLE) {
    tokens[n] = randomUUID();
    await openLifecycleAction(moto.endpoint, nodes[n].instanceId, tokens[n]);
  }
  const now = new Date();
  eventTime = Math.floor(now.getTime() / 1000); // EventBridge's time has whole seconds
  delivered = await putAndDeliver(clients, stack, [
    ...LIFECYCLE.map((n) => lifecycleEvent(nodes[n].instanceId, tokens[n], now)),
    // Auto Scaling's events are delivered at least once: the same action's event again.
    lifecycleEvent(nodes.twice.instanceId, tokens.twice, now),
    spotWarning(nodes.spot.instanceId, now),
  ]);

  // ECS's service scheduler: once an instance is DRAINING, its service tasks are replaced elsewhere and stopped.
  const drainingThenStop = async (n: Name, afterSeconds: number) => {
    await waitFor(`${n} DRAINING`, async () => await containerInstanceStatus(clients, nodes[n].containerInstanceArn!) === 'DRAINING', 30_000);
    await sleepUntil(eventTime + afterSeconds);
    for (const t of tasks[n].service) await stopServiceTask(clients, t);
    stoppedAt[n] = Date.now() / 1000;
  };
  await Promise.all([
    drainingThenStop('quick', 4), drainingThenStop('batch', 4), drainingThenStop('twice', 4), drainingThenStop('spot', 4),
    drainingThenStop('long', 25),
  ]);

  const ended = await Promise.all(names.map(async (n) => {
    const prefix = n === 'spot' ? `${nodes.spot.instanceId}-spot-` : `${nodes[n].instanceId}-${tokens[n]}`;
    return [n, await finishedExecution(clients, stack.stateMachineArn, prefix, (MAX_DRAIN + 40) * 1000)] as const;
  }));
  executions = Object.fromEntries(ended) as Record<Name, DescribeExecutionOutput>;
  wallSeconds = Date.now() / 1000 - eventTime;
  actions = Object.fromEntries((await lifecycleActions(moto.endpoint)).map((a) => [a.InstanceId, a]));
  invocations = (await bundleInvocations(moto.endpoint)).filter((i) => i.FunctionArn === stack.functionArn);
  notifications = await readNotifications(clients.sqs, stack.notifications.queueUrl);
  process.stderr.write(`ecs-instance-drainer emulator: setup ${((eventTime * 1000 - setupStart) / 1000).toFixed(1)} s, drains ${wallSeconds.toFixed(1)} s, `
    + `${invocations.length} invocations; completion after the last stop: `
    + (['quick', 'twice', 'long'] as Name[]).map((n) => `${n} ${(actions[nodes[n].instanceId].Completion!.At - stoppedAt[n]!).toFixed(1)} s`).join(', ')
    + `; stuck completed ${(actions[nodes.stuck.instanceId].Completion!.At - eventTime).toFixed(1)} s in\n`);
}, 240_000);

afterAll(async () => {
  destroyClients(clients);
  await proxy?.stop();
  await moto?.stop();
});

const completion = (n: Name) => actions[nodes[n].instanceId];
const notificationsOf = (n: Name) => notifications.filter((m) => m.Message.includes(nodes[n].instanceId));
const stepInvocations = (n: Name) => invocations.filter((i) => i.Payload?.drain?.instanceId === nodes[n].instanceId);

test('the synthesized rules matched every event, and each execution ended SUCCEEDED', () => {
  expect(delivered).toHaveLength(8);
  expect(delivered.map((e) => e['detail-type']).sort()).toEqual([
    ...new Array(7).fill('EC2 Instance-terminate Lifecycle Action'), 'EC2 Spot Instance Interruption Warning',
  ]);
  for (const [n, execution] of Object.entries(executions)) {
    expect({ n, status: execution.status }).toEqual({ n, status: 'SUCCEEDED' });
  }
  expect(wallSeconds).toBeLessThan(MAX_DRAIN + POLL + SLACK + 10);
});

test('each drained container instance is DRAINING; the bystanders are untouched', async () => {
  for (const n of ['quick', 'long', 'stuck', 'batch', 'twice', 'spot'] as Name[]) {
    expect({ n, status: await containerInstanceStatus(clients, nodes[n].containerInstanceArn!) }).toEqual({ n, status: 'DRAINING' });
  }
  const updates = proxy.forwarded('UpdateContainerInstancesState');
  expect(updates).toHaveLength(6);
  expect(updates.every((c) => c.params.status === 'DRAINING')).toBe(true);
  for (const b of bystanders) expect(await containerInstanceStatus(clients, b.containerInstanceArn!)).toBe('ACTIVE');
});

test('a drain whose tasks stop completes its action CONTINUE within one poll of the last stop', () => {
  for (const n of ['quick', 'twice', 'long'] as Name[]) {
    const action = completion(n);
    expect({ n, result: action.Completion?.Result, expired: action.Expired }).toEqual({ n, result: 'CONTINUE', expired: null });
    const lag = action.Completion!.At - stoppedAt[n]!;
    expect(lag).toBeGreaterThan(0);
    expect({ n, withinPoll: lag <= POLL + SLACK }).toEqual({ n, withinPoll: true });
  }
  // No report for a drain that went as planned.
  expect(notificationsOf('quick')).toHaveLength(0);
  expect(notificationsOf('long')).toHaveLength(0);
});

test('a drain longer than the heartbeat timeout keeps its action alive with heartbeats', () => {
  // 30 s hook, 2 s poll, 15 s slack: a heartbeat once 13 s have passed since the last one.
  const long = completion('long');
  expect(long.Heartbeats.length).toBeGreaterThanOrEqual(1);
  expect(long.Heartbeats[0] - long.StartTime).toBeGreaterThanOrEqual(12);
  expect(long.Heartbeats[0] - long.StartTime).toBeLessThan(30);
  // Its task was stopped 25 s after the event's time (whole seconds, so up to 1 s before the action was opened).
  expect(long.Completion!.At - eventTime).toBeGreaterThan(25);
  // The quick drains never came near the hook's timeout.
  expect(completion('quick').Heartbeats).toEqual([]);
});

test('a task that never stops: the action is completed with onTimeout at maxDrainTime, the report names what still runs', async () => {
  const stuck = completion('stuck');
  expect(stuck.Completion?.Result).toBe('CONTINUE');
  expect(stuck.Expired).toBeNull();
  expect(stuck.Completion!.At - eventTime).toBeGreaterThanOrEqual(MAX_DRAIN);
  expect(stuck.Completion!.At - eventTime).toBeLessThanOrEqual(MAX_DRAIN + POLL + SLACK);
  // Heartbeats every ~13 s held the 30 s hook for the whole minute.
  expect(stuck.Heartbeats.length).toBeGreaterThanOrEqual(3);
  const times = [stuck.StartTime, ...stuck.Heartbeats, stuck.Completion!.At];
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  expect(Math.max(...gaps)).toBeLessThan(30);

  const [report] = notificationsOf('stuck');
  expect(notificationsOf('stuck')).toHaveLength(1);
  expect(report.Message).toContain('maxDrainTime passed with 1 task(s) still running');
  expect(report.Message).toContain(tasks.stuck.service[0]);
  expect(report.Message).toContain('still running when the drain ended');
  const [task] = await describeTasks(clients, tasks.stuck.service);
  expect(task.lastStatus).toBe('RUNNING'); // a service task is ECS's to stop, never the drainer's
});

test('standalone tasks are stopped once the drain is stopStandaloneTasksAfter old, then the drain completes', async () => {
  const [standalone, service] = await describeTasks(clients, [tasks.batch.standalone[0], tasks.batch.service[0]])
    .then((found) => [found.find((t) => t.group === 'family:batch')!, found.find((t) => t.group === 'service:web')!]);
  expect(standalone.lastStatus).toBe('STOPPED');
  expect(standalone.stoppedReason).toContain('standalone task stopped to drain');
  expect(standalone.stoppedReason).toContain(nodes.batch.instanceId);
  expect(service.stoppedReason).toBe('Service web: container instance is in DRAINING state');

  const stopCalls = proxy.forwarded('StopTask');
  expect(stopCalls.map((c) => c.params.task)).toEqual([tasks.batch.standalone[0]]);
  // The check that stopped it ran once the drain was 10 s old, and no earlier check did.
  const stopping = stepInvocations('batch').find((i) => i.Result?.stoppedTasks === 1)!;
  expect(stopping.StartTime - eventTime).toBeGreaterThanOrEqual(STANDALONE_AFTER - 1);
  const action = completion('batch');
  expect(action.Completion?.Result).toBe('CONTINUE');
  expect(action.Completion!.At - stopping.EndTime!).toBeLessThanOrEqual(POLL + SLACK);

  expect(notificationsOf('batch')).toHaveLength(1);
  expect(notificationsOf('batch')[0].Message).toContain('stopped tasks=1');
});

test('an instance of the group that is not in the cluster: its action is completed at once, and reported', () => {
  const stray = completion('stray');
  expect(stray.Completion?.Result).toBe('CONTINUE');
  expect(stray.Completion!.At - eventTime).toBeLessThan(10);
  const [report] = notificationsOf('stray');
  expect(notificationsOf('stray')).toHaveLength(1);
  expect(report.Message).toContain('nothing to drain: no container instance of the cluster runs on this EC2 instance');
});

test('a duplicated lifecycle event starts no second execution', async () => {
  const name = `${nodes.twice.instanceId}-${tokens.twice}`;
  const all = await listExecutions(clients, stack.stateMachineArn);
  expect(all.filter((e) => e.name!.startsWith(nodes.twice.instanceId))).toEqual([expect.objectContaining({ name })]);
  const starts = invocations.filter((i) => i.Payload?.detail?.EC2InstanceId === nodes.twice.instanceId);
  expect(starts).toHaveLength(2);
  expect(starts.map((i) => i.InvocationType)).toEqual(['Event', 'Event']);
  // Step Functions answers a StartExecution of a running execution's name and input with that execution (AWS and moto alike).
  expect(starts.map((i) => i.Result?.executionName)).toEqual([name, name]);
  expect(new Set(starts.map((i) => i.Result?.outcome))).not.toContain(undefined);
  // Exactly one of each: one completion, and no action completed twice.
  expect(proxy.forwarded('CompleteLifecycleAction').filter((c) => c.params.InstanceId === nodes.twice.instanceId)).toHaveLength(1);
  expect(all).toHaveLength(7);
});

test('a Spot interruption warning drains the instance without a lifecycle action', () => {
  expect(executions.spot.status).toBe('SUCCEEDED');
  expect(JSON.parse(executions.spot.input!).drain).toMatchObject({ kind: 'spot', instanceId: nodes.spot.instanceId, autoScalingGroupName: 'web-asg' });
  expect(JSON.parse(executions.spot.output!).drain).toMatchObject({ next: 'END' });
  // The handler asked Auto Scaling which group the instance is in.
  expect(proxy.forwarded('DescribeAutoScalingInstances').map((c) => c.params['InstanceIds.member.1'])).toEqual([nodes.spot.instanceId]);
  expect(actions[nodes.spot.instanceId]).toBeUndefined();
  const lifecycleCalls = [...proxy.forwarded('CompleteLifecycleAction'), ...proxy.forwarded('RecordLifecycleActionHeartbeat')];
  expect(lifecycleCalls.filter((c) => c.params.InstanceId === nodes.spot.instanceId)).toEqual([]);
  expect(notificationsOf('spot')).toHaveLength(0);
});

test('every lifecycle action was completed exactly once, never expired', () => {
  const completes = proxy.forwarded('CompleteLifecycleAction');
  expect(completes.map((c) => c.params.InstanceId).sort()).toEqual(LIFECYCLE.map((n) => nodes[n].instanceId).sort());
  expect(completes.every((c) => c.status === 200)).toBe(true);
  for (const n of LIFECYCLE) expect({ n, expired: completion(n).Expired }).toEqual({ n, expired: null });
});

test('the handler is only ever invoked for short steps, none failed', () => {
  expect(invocations.length).toBeGreaterThan(20);
  for (const i of invocations) {
    expect({ payload: i.Payload?.step ?? 'start', error: i.Error, timedOut: i.TimedOut }).toEqual({ payload: i.Payload?.step ?? 'start', error: null, timedOut: false });
    expect(i.EndTime! - i.StartTime).toBeLessThan(SHORT_CHECK_SECONDS);
  }
  const steps = invocations.map((i) => i.Payload?.step ?? 'start');
  expect(steps.filter((s) => s === 'start')).toHaveLength(8);
  expect(steps.filter((s) => s === 'begin')).toHaveLength(7);
  expect(steps.filter((s) => s === 'failed')).toHaveLength(0);
  // The stuck drain checked about every poll interval for the whole minute.
  expect(stepInvocations('stuck').filter((i) => i.Payload.step === 'check').length).toBeGreaterThanOrEqual(MAX_DRAIN / (POLL + SLACK));
});
