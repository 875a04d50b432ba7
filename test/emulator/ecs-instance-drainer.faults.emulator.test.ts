/**
 * EcsInstanceDrainer under faults, in moto: the shipped bundle's ECS and Auto Scaling calls go through
 * fault-proxy.ts (moto_launcher.py patch 13's `moto-fixture:endpoint`), which throttles 30 % of them and
 * answers 5 % with a plain 503. The SDK's retries (standard mode, 5 attempts) and the state machine's
 * Retry on its Lambda steps must leave the same outcome as without faults: every container instance
 * DRAINING, every lifecycle action completed CONTINUE once, every execution SUCCEEDED. And a check that
 * fails outright (ListTasks answered once with a non-retryable 400, armed mid-drain) is tried again by
 * the state machine after the template's retry interval, and the drain still completes.
 *
 * Events: PutEvents through the synthesized rules into a queue, then an asynchronous Invoke per event
 * (moto's EventBridge cannot deliver to a Lambda target; see ecs-instance-drainer-harness.ts).
 */
import { randomUUID } from 'crypto';
import { DescribeExecutionOutput } from '@aws-sdk/client-sfn';
import {
  BundleInvocation, DrainerClients, DrainerStack, FleetNode, LifecycleActionRecord, bundleInvocations, configureEmulator, containerInstanceStatus,
  deployDrainer, describeTasks, destroyClients, drainerClients, finishedExecution, launchNodes, lifecycleActions, lifecycleEvent,
  openLifecycleAction, putAndDeliver, registerTaskDefinitions, startTask, stopServiceTask, waitFor,
} from './ecs-instance-drainer-harness';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { MotoServer, startMoto } from './moto';
import { mulberry32 } from './random';

jest.setTimeout(60_000);

const ECS_AND_AUTOSCALING = new Set([
  'ListContainerInstances', 'DescribeContainerInstances', 'UpdateContainerInstancesState', 'ListTasks', 'DescribeTasks', 'StopTask',
  'DescribeAutoScalingInstances', 'CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat',
]);
/** The Retry the template puts on Begin and Check for States.ALL (asserted against the synthesized definition). */
const RETRY_INTERVAL_SECONDS = 5;

type Name = 'a' | 'b' | 'batch' | 'flaky';
const NAMES: Name[] = ['a', 'b', 'batch', 'flaky'];

let moto: MotoServer;
let proxy: FaultProxy;
let clients: DrainerClients;
let stack: DrainerStack;
let nodes: Record<Name, FleetNode>;
const tokens = {} as Record<Name, string>;
const tasks = {} as Record<Name, { service: string[]; standalone: string[] }>;
let eventTime: number;
let armedAt: number;
let executions: Record<Name, DescribeExecutionOutput>;
let actions: Record<string, LifecycleActionRecord>;
let invocations: BundleInvocation[];

function perService(streams: Record<string, () => number>): (call: { service: string }) => number {
  return (call) => {
    const stream = streams[call.service];
    if (!stream) throw new Error(`no stream of draws for ${call.service}`);
    return stream();
  };
}

const sleepUntil = (epochSeconds: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, epochSeconds * 1000 - Date.now())));

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy({
    target: moto.endpoint,
    // One stream of draws per service: the four drains interleave their ECS and Auto Scaling calls
    // differently on every run, and with one shared stream a run once drew no fault for any of Auto
    // Scaling's few calls. Seeds 15 (ECS) and 12 (Auto Scaling) throttle each service's first call.
    random: perService({ ecs: mulberry32(15), autoscaling: mulberry32(12) }),
    throttleRate: 0.3,
    unavailableRate: 0.05,
    faultOperations: (operation) => ECS_AND_AUTOSCALING.has(operation),
  });
  clients = drainerClients(moto.endpoint);
  await configureEmulator(moto.endpoint);
  stack = await deployDrainer(moto.endpoint, clients, { bundleEndpoint: proxy.endpoint });
  await registerTaskDefinitions(clients);
  const launched = await launchNodes(clients, NAMES.map(() => true));
  nodes = Object.fromEntries(NAMES.map((n, i) => [n, launched[i]])) as Record<Name, FleetNode>;
  for (const n of NAMES) {
    tasks[n] = { service: [await startTask(clients, nodes[n], 'service')], standalone: [] };
    if (n === 'batch') tasks[n].standalone.push(await startTask(clients, nodes[n], 'standalone'));
    tokens[n] = randomUUID();
    await openLifecycleAction(moto.endpoint, nodes[n].instanceId, tokens[n]);
  }
  const now = new Date();
  eventTime = Math.floor(now.getTime() / 1000);
  await putAndDeliver(clients, stack, NAMES.map((n) => lifecycleEvent(nodes[n].instanceId, tokens[n], now)));

  const draining = (n: Name) => waitFor(`${n} DRAINING`, async () => await containerInstanceStatus(clients, nodes[n].containerInstanceArn!) === 'DRAINING', 60_000);
  const stopAt = async (n: Name, seconds: number) => {
    await draining(n);
    await sleepUntil(eventTime + seconds);
    for (const t of tasks[n].service) await stopServiceTask(clients, t);
  };
  // flaky: once its drain has made a check of its own (after begin), its next ListTasks is refused.
  const armFlaky = async () => {
    await waitFor('a check of flaky', async () => (await bundleInvocations(moto.endpoint))
      .some((i) => i.Payload?.step === 'check' && i.Payload.drain.instanceId === nodes.flaky.instanceId && i.EndTime !== null), 60_000);
    proxy.addRule({
      operation: 'ListTasks',
      resourceId: nodes.flaky.containerInstanceArn!,
      code: 'ClientException',
      message: 'injected: the check fails once',
      times: 1,
    });
    armedAt = Date.now() / 1000;
  };
  await Promise.all([stopAt('a', 4), stopAt('b', 4), stopAt('batch', 4), armFlaky().then(() => stopAt('flaky', Math.max(20, armedAt - eventTime + 12)))]);

  const ended = await Promise.all(NAMES.map(async (n) => [n, await finishedExecution(clients, stack.stateMachineArn, `${nodes[n].instanceId}-${tokens[n]}`, 150_000)] as const));
  executions = Object.fromEntries(ended) as Record<Name, DescribeExecutionOutput>;
  actions = Object.fromEntries((await lifecycleActions(moto.endpoint)).map((a) => [a.InstanceId, a]));
  invocations = (await bundleInvocations(moto.endpoint)).filter((i) => i.FunctionArn === stack.functionArn);
  process.stderr.write(`ecs-instance-drainer faults: drains ${(Date.now() / 1000 - eventTime).toFixed(1)} s, ${invocations.length} invocations, `
    + `${proxy.calls.filter((c) => c.injected).length} of ${proxy.calls.length} calls faulted\n`);
}, 240_000);

afterAll(async () => {
  destroyClients(clients);
  await proxy?.stop();
  await moto?.stop();
});

test('faults were injected on both services the bundle drains through', () => {
  const injected = proxy.calls.filter((c) => c.injected === 'throttle' || c.injected === 'unavailable');
  expect(new Set(injected.map((c) => c.service))).toEqual(new Set(['ecs', 'autoscaling']));
  // Whatever the interleaving: each service's first call drew its stream's first draw, a throttle.
  for (const service of ['ecs', 'autoscaling']) {
    const first = proxy.calls.find((c) => c.service === service && ECS_AND_AUTOSCALING.has(c.operation));
    expect({ service, first: first?.injected }).toEqual({ service, first: 'throttle' });
  }
  expect(injected.some((c) => c.injected === 'throttle')).toBe(true);
  expect(injected.length / proxy.calls.filter((c) => ECS_AND_AUTOSCALING.has(c.operation)).length).toBeGreaterThan(0.15);
});

test('the same outcome as without faults: DRAINING, each action completed CONTINUE once, each execution SUCCEEDED', async () => {
  for (const n of NAMES) {
    expect({ n, status: executions[n].status }).toEqual({ n, status: 'SUCCEEDED' });
    expect({ n, ci: await containerInstanceStatus(clients, nodes[n].containerInstanceArn!) }).toEqual({ n, ci: 'DRAINING' });
    const action = actions[nodes[n].instanceId];
    expect({ n, result: action.Completion?.Result, expired: action.Expired }).toEqual({ n, result: 'CONTINUE', expired: null });
    const completed = proxy.forwarded('CompleteLifecycleAction').filter((c) => c.params.InstanceId === nodes[n].instanceId && c.status === 200);
    expect({ n, completed: completed.length }).toEqual({ n, completed: 1 });
  }
  const [standalone] = await describeTasks(clients, tasks.batch.standalone);
  expect(standalone.lastStatus).toBe('STOPPED');
  expect(standalone.stoppedReason).toContain('standalone task stopped to drain');
  // No step ever reached ReportFailure.
  expect(invocations.filter((i) => i.Payload?.step === 'failed')).toEqual([]);
});

test('a check that fails once is retried by the state machine, and the drain completes', () => {
  expect(armedAt).toBeDefined();
  const refused = proxy.calls.filter((c) => c.injected === 'rule');
  expect(refused).toHaveLength(1);
  expect(refused[0]).toMatchObject({ service: 'ecs', operation: 'ListTasks', status: 400 });

  const flaky = invocations.filter((i) => i.Payload?.drain?.instanceId === nodes.flaky.instanceId);
  const failedIndex = flaky.findIndex((i) => i.Error?.errorType === 'ClientException');
  expect(failedIndex).toBeGreaterThan(0);
  const failed = flaky[failedIndex];
  expect(failed).toMatchObject({ FunctionError: 'Unhandled', TimedOut: false, Payload: { step: 'check' } });
  expect(failed.Error!.errorMessage).toContain('injected: the check fails once');
  // The retry: the same step, with the same drain, after the template's interval.
  const retry = flaky[failedIndex + 1];
  expect(retry.Payload).toEqual(failed.Payload);
  expect(retry.StartTime - failed.EndTime!).toBeGreaterThanOrEqual(RETRY_INTERVAL_SECONDS - 0.5);
  const checkRetry = stack.definition.States.Check.Retry.find((r: any) => r.ErrorEquals.includes('States.ALL'));
  expect(checkRetry.IntervalSeconds).toBe(RETRY_INTERVAL_SECONDS);

  expect(executions.flaky.status).toBe('SUCCEEDED');
  expect(actions[nodes.flaky.instanceId].Completion?.Result).toBe('CONTINUE');
});
