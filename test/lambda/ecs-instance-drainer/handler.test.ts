/*
 * The handler through whole drains, step by step (harness.ts plays the state machine and AWS).
 */
import { CompleteLifecycleActionCommand, RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeTasksCommand, ECSServiceException, ListTasksCommand, StopTaskCommand, UpdateContainerInstancesStateCommand } from '@aws-sdk/client-ecs';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import 'aws-sdk-client-mock-jest';
import {
  addTasks, asgMock, at, CLUSTER, CONTAINER_INSTANCE, ecsMock, GROUP, HOOK, INSTANCE, installDrainerHarness, lifecycleEvent, loadHandler, published,
  sfnMock, snsMock, spotEvent, started, STATE_MACHINE, step, stopAll, TOKEN, world, START,
} from './harness';
import { CHECKS_PER_EXECUTION } from '../../../src/ecs-instance-drainer/contract';
import { emfRecords, logLines } from '../helpers';

installDrainerHarness();

describe('starting a drain', () => {
  test('a lifecycle action starts one execution named after the instance and the token, carrying the drain', async () => {
    const handler = loadHandler();
    await expect(handler(lifecycleEvent())).resolves.toEqual({ outcome: 'STARTED', instanceId: INSTANCE, executionName: `${INSTANCE}-${TOKEN}` });
    const call = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(call.stateMachineArn).toBe(STATE_MACHINE);
    expect(JSON.parse(call.input!)).toEqual({
      drain: {
        kind: 'lifecycle',
        instanceId: INSTANCE,
        autoScalingGroupName: GROUP,
        lifecycleHookName: HOOK,
        lifecycleActionToken: TOKEN,
        startedAt: '2026-06-01T10:00:00.000Z',
        heartbeatAt: '2026-06-01T10:00:00.000Z',
        executionName: `${INSTANCE}-${TOKEN}`,
        generation: 0,
        checks: 0,
        stoppedTasks: 0,
        next: 'WAIT',
        waitSeconds: 0,
      },
    });
    // nothing else is touched before the execution runs
    expect(ecsMock.calls()).toHaveLength(0);
    expect(asgMock.calls()).toHaveLength(0);
  });

  test('the same event twice: the second finds its execution started and starts no other', async () => {
    const handler = loadHandler();
    await handler(lifecycleEvent());
    await expect(handler(lifecycleEvent())).resolves.toMatchObject({ outcome: 'DUPLICATE' });
    expect(world.executions.size).toBe(1);
  });

  test('a Spot warning for an instance of a drained group: its group is looked up, the drain has no action', async () => {
    world.groups.set(INSTANCE, 'ecs-spot');
    const drain = await started(loadHandler(), spotEvent());
    expect(drain).toMatchObject({ kind: 'spot', autoScalingGroupName: 'ecs-spot', executionName: `${INSTANCE}-spot-a1b2c3d4-0000-4000-8000-000000000001` });
    expect(drain).not.toHaveProperty('lifecycleActionToken');
  });

  test.each([
    ['an instance in another group', () => world.groups.set(INSTANCE, 'batch'), {}, 'its Auto Scaling group batch is not drained by this construct'],
    ['an instance in no group', () => undefined, {}, 'the instance is in no Auto Scaling group'],
    ['spotInterruptions off', () => world.groups.set(INSTANCE, GROUP), { SPOT_INTERRUPTIONS: 'false' }, 'Spot interruptions are not drained (spotInterruptions: false)'],
  ])('a Spot warning for %s is ignored, said so', async (_name, arrange, env, reason) => {
    arrange();
    await expect(loadHandler(env)(spotEvent())).resolves.toEqual({ outcome: 'IGNORED', instanceId: INSTANCE, reason });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test('a lifecycle action of a group the construct does not drain is ignored', async () => {
    await expect(loadHandler()(lifecycleEvent({ AutoScalingGroupName: 'batch' }))).resolves.toMatchObject({ outcome: 'IGNORED' });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('a malformed event: EventShapeError, no call at all', async () => {
    await expect(loadHandler()(lifecycleEvent({ LifecycleActionToken: 'x' }))).rejects.toMatchObject({
      name: 'EventShapeError', message: 'Rejected event: "detail.LifecycleActionToken" must be a lifecycle action token (a UUID), got "x". No resource was changed.',
    });
    await expect(loadHandler()({ step: 'check', drain: {} })).rejects.toMatchObject({ name: 'EventShapeError' });
    for (const m of [ecsMock, asgMock, sfnMock, snsMock]) expect(m.calls()).toHaveLength(0);
  });

  test('a bad configuration: ConfigError naming the variable, before any call', async () => {
    await expect(loadHandler({ MAX_DRAIN_SECONDS: '999999' })(lifecycleEvent())).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/MAX_DRAIN_SECONDS="999999"/) });
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('a lifecycle drain', () => {
  test('begin sets DRAINING and checks at once; the check after the last task stopped completes CONTINUE; one quiet end', async () => {
    addTasks(3);
    const handler = loadHandler();
    let drain = await started(handler);
    at(2);
    drain = await step(handler, 'begin', drain);
    expect(world.containerInstances.get(INSTANCE)!.status).toBe('DRAINING');
    expect(drain).toMatchObject({ containerInstanceArn: CONTAINER_INSTANCE, next: 'WAIT', waitSeconds: 10, checks: 1 });

    at(12);
    drain = await step(handler, 'check', drain);
    expect(drain).toMatchObject({ next: 'WAIT', checks: 2 });
    stopAll();
    at(22);
    drain = await step(handler, 'check', drain);
    expect(drain.next).toBe('END');
    expect(world.actions.get(TOKEN)).toEqual({ open: false, heartbeats: 0, result: 'CONTINUE' });
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand)[0].args[0].input).toEqual({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, LifecycleActionToken: TOKEN, InstanceId: INSTANCE, LifecycleActionResult: 'CONTINUE',
    });
    // a clean drain is logged, not notified
    expect(published()).toEqual([]);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'decision', resourceId: INSTANCE, outcome: 'DONE', reason: 'drained; lifecycle action completed CONTINUE' }));
  });

  test('a task still stopping (desired STOPPED, last RUNNING) holds the drain; it counts once it is STOPPED', async () => {
    const [task] = addTasks(1, { desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING' });
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.next).toBe('WAIT');
    task.lastStatus = 'STOPPED';
    expect((await step(handler, 'check', drain)).next).toBe('END');
  });

  test('already DRAINING (ECS managed draining): not set again, just waited on', async () => {
    world.containerInstances.get(INSTANCE)!.status = 'DRAINING';
    addTasks(1);
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.next).toBe('WAIT');
    expect(ecsMock.commandCalls(UpdateContainerInstancesStateCommand)).toHaveLength(0);
  });

  test('an instance not in the cluster: the action is completed at once and the drain reported', async () => {
    world.containerInstances.clear();
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.next).toBe('END');
    expect(world.actions.get(TOKEN)!.result).toBe('CONTINUE');
    expect(published()).toHaveLength(1);
    expect(published()[0].Message).toContain('nothing to drain: no container instance of the cluster runs on this EC2 instance; lifecycle action completed CONTINUE');
  });

  test('ECS refuses DRAINING: the step fails (the state machine retries it), nothing completed', async () => {
    ecsMock.on(UpdateContainerInstancesStateCommand).resolves({ failures: [{ arn: CONTAINER_INSTANCE, reason: 'MISSING' }] });
    const handler = loadHandler();
    const drain = await started(handler);
    await expect(step(handler, 'begin', drain)).rejects.toThrow(`ECS refused DRAINING for ${CONTAINER_INSTANCE}: MISSING`);
    expect(world.actions.get(TOKEN)!.open).toBe(true);
  });

  test('tasks over several pages of both listings, described 100 at a time', async () => {
    addTasks(230);
    addTasks(120, { desiredStatus: 'STOPPED', lastStatus: 'STOPPED' });
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.next).toBe('WAIT');
    const lists = world.listed.map((input) => [input.desiredStatus, input.nextToken, input.maxResults]);
    expect(lists).toEqual([
      ['RUNNING', undefined, 100], ['RUNNING', '100', 100], ['RUNNING', '200', 100],
      ['STOPPED', undefined, 100], ['STOPPED', '100', 100],
    ]);
    expect(ecsMock.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input.tasks?.length)).toEqual([100, 100, 100, 50]);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'drain check', remaining: 230 }));
  });

  test('a throttled listing page is asked again from its own token', async () => {
    addTasks(150);
    let throttled = false;
    ecsMock.on(ListTasksCommand, { nextToken: '100', desiredStatus: 'RUNNING' }).callsFake((input) => {
      world.listed.push({ ...input });
      if (!throttled) { throttled = true; throw new ECSServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }); }
      return { taskArns: world.tasks.slice(100).map((t) => t.taskArn) };
    });
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.next).toBe('WAIT');
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'drain check', remaining: 150 }));
    expect(world.listed.filter((i) => i.desiredStatus === 'RUNNING').map((i) => i.nextToken)).toEqual([undefined, '100', '100']);
  });

  test('heartbeats: none while the hook has time, one when it would expire before the next check, counted from the last', async () => {
    addTasks(1);
    const handler = loadHandler();
    let drain = await step(handler, 'begin', await started(handler));
    at(274);
    drain = await step(handler, 'check', drain);
    expect(world.actions.get(TOKEN)!.heartbeats).toBe(0);
    at(275);
    drain = await step(handler, 'check', drain);
    expect(world.actions.get(TOKEN)!.heartbeats).toBe(1);
    expect(drain.heartbeatAt).toBe(new Date(START + 275_000).toISOString());
    at(285);
    drain = await step(handler, 'check', drain);
    expect(world.actions.get(TOKEN)!.heartbeats).toBe(1);
    at(275 + 275);
    await step(handler, 'check', drain);
    expect(world.actions.get(TOKEN)!.heartbeats).toBe(2);
  });

  test('the action gone at a heartbeat (completed by someone else): the drain ends quietly, reported in the logs', async () => {
    addTasks(2);
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    world.actions.get(TOKEN)!.open = false;
    at(280);
    await expect(step(handler, 'check', drain)).resolves.toMatchObject({ next: 'END' });
    expect(logLines('info')).toContainEqual(expect.objectContaining({
      message: 'decision',
      outcome: 'REPORTED',
      reason: 'the lifecycle action is gone (expired, or completed by someone else) with 2 task(s) still running: the drain ends',
    }));
  });

  test('maxDrainTime passes: completed with onTimeout (ABANDON) and notified with what still runs', async () => {
    const [stuck] = addTasks(1, { group: 'service:api' });
    const handler = loadHandler({ ON_TIMEOUT: 'ABANDON' });
    let drain = await step(handler, 'begin', await started(handler));
    at(3_595);
    drain = await step(handler, 'check', drain);
    expect(drain).toMatchObject({ next: 'WAIT', waitSeconds: 5 });
    at(3_600);
    drain = await step(handler, 'check', drain);
    expect(drain.next).toBe('END');
    expect(world.actions.get(TOKEN)!.result).toBe('ABANDON');
    expect(published()).toHaveLength(1);
    const body = published()[0].Message!;
    expect(body).toContain('maxDrainTime passed with 1 task(s) still running; lifecycle action completed ABANDON');
    expect(body).toContain(stuck.taskArn);
    expect(body).toContain(INSTANCE);
    expect(body).toContain('1h 00m');
  });

  test('standalone tasks are stopped once the grace passes, with a reason; the end report counts them', async () => {
    const [lone] = addTasks(1, { group: 'family:nightly-report' });
    addTasks(1);
    const handler = loadHandler({ STOP_STANDALONE_AFTER_SECONDS: '1800' });
    let drain = await step(handler, 'begin', await started(handler));
    at(1_799);
    drain = await step(handler, 'check', drain);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
    at(1_800);
    drain = await step(handler, 'check', drain);
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([{
      cluster: CLUSTER,
      task: lone.taskArn,
      reason: `fleet-janitor EcsInstanceDrainer: standalone task stopped to drain ${INSTANCE} (its Auto Scaling group is terminating it)`,
    }]);
    expect(drain.stoppedTasks).toBe(1);
    // told to stop, still stopping: not stopped twice
    at(1_810);
    drain = await step(handler, 'check', drain);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1);
    stopAll();
    at(1_820);
    await step(handler, 'check', drain);
    // a drain that stopped tasks is notified even though it ended cleanly
    expect(published()).toHaveLength(1);
    expect(published()[0].Message).toContain('drained; lifecycle action completed CONTINUE');
  });

  test('a thousand checks: the next execution takes over with the drain', async () => {
    addTasks(1);
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    at(20);
    const next = await step(handler, 'check', { ...drain, checks: CHECKS_PER_EXECUTION - 1 });
    expect(next).toMatchObject({ next: 'CONTINUE_AS_NEW', generation: 1, checks: 0 });
  });

  test('each drain\'s end emits its duration with the run counts, under the service and function name', async () => {
    const handler = loadHandler({ POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitorTest', AWS_LAMBDA_FUNCTION_NAME: 'drainer-fn' });
    addTasks(1);
    let drain = await step(handler, 'begin', await started(handler));
    stopAll();
    at(95);
    drain = await step(handler, 'check', drain);
    const emf = emfRecords();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ DrainDurationSeconds: 95, ResourcesScanned: 1, service: 'EcsInstanceDrainer', FunctionName: 'drainer-fn' });
  });

  test('notifyOnEveryDrain: a clean drain is notified too', async () => {
    const handler = loadHandler({ NOTIFY_ON_EVERY_DRAIN: 'true' });
    await step(handler, 'begin', await started(handler));
    expect(published()).toHaveLength(1);
    expect(published()[0].Message).toContain('drained; lifecycle action completed CONTINUE');
  });

  test('the failed step notifies with the error Step Functions caught', async () => {
    const handler = loadHandler();
    const drain = await started(handler);
    await expect(handler({ step: 'failed', drain, error: { Error: 'ThrottlingException', Cause: 'Rate exceeded' } })).resolves.toMatchObject({ next: 'END' });
    expect(published()).toHaveLength(1);
    expect(published()[0].Message).toContain('the drain could not go on: ThrottlingException (Rate exceeded)');
  });

  test('a dry run: nothing set DRAINING, no task stopped; the tasks are reported and the termination goes on', async () => {
    addTasks(2, { group: 'family:batch' });
    const handler = loadHandler({ DRY_RUN: 'true', STOP_STANDALONE_AFTER_SECONDS: '0' });
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.next).toBe('END');
    expect(ecsMock.commandCalls(UpdateContainerInstancesStateCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
    expect(world.actions.get(TOKEN)!.result).toBe('CONTINUE');
    expect(published()[0].Message).toContain('would drain 2 task(s); lifecycle action completed CONTINUE');
  });
});

describe('a Spot drain', () => {
  test('two minutes: drained in time ends quietly; past the deadline it reports how many still ran; nothing to complete', async () => {
    world.groups.set(INSTANCE, GROUP);
    addTasks(4);
    const handler = loadHandler();
    let drain = await step(handler, 'begin', await started(handler, spotEvent()));
    at(115);
    drain = await step(handler, 'check', drain);
    expect(drain).toMatchObject({ next: 'WAIT', waitSeconds: 5 });
    at(120);
    drain = await step(handler, 'check', drain);
    expect(drain.next).toBe('END');
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);
    expect(asgMock.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(0);
    expect(published()[0].Message).toContain('the Spot interruption came with 4 task(s) still running');
  });
});
