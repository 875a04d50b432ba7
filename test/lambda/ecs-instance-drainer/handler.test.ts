/*
 * The handler through whole drains, step by step (harness.ts plays the state machine and AWS).
 */
import { CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import {
  DescribeContainerInstancesCommand, DescribeTasksCommand, ECSServiceException, ListContainerInstancesCommand, ListTasksCommand, StopTaskCommand,
  UpdateContainerInstancesStateCommand,
} from '@aws-sdk/client-ecs';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import 'aws-sdk-client-mock-jest';
import {
  ACCOUNT, addTasks, asgError, asgMock, at, CLUSTER, CONTAINER_INSTANCE, drainOf, ecsError, ecsMock, GROUP, HOOK, INSTANCE, installDrainerHarness,
  lifecycleEvent, loadHandler, published, REGION, sfnMock, snsMock, spotEvent, started, STATE_MACHINE, step, stopAll, TOKEN, world, START,
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

/** The report's log line for the drain itself (one per drain's end). */
const drainLine = () => logLines('info').filter((l) => l.message === 'decision' && l.resourceType === 'ec2-instance');
const taskLines = () => logLines('info').filter((l) => l.message === 'decision' && l.resourceType === 'ecs-task');

describe('what a start says and asks', () => {
  test('started and duplicate starts are logged with the execution name; an ignored one with its reason', async () => {
    const handler = loadHandler();
    await handler(lifecycleEvent());
    await handler(lifecycleEvent());
    const executionName = `${INSTANCE}-${TOKEN}`;
    expect(logLines('info')).toEqual(expect.arrayContaining([
      expect.objectContaining({ message: 'drain started', instanceId: INSTANCE, executionName, kind: 'lifecycle' }),
      expect.objectContaining({ message: 'drain already started for this event', instanceId: INSTANCE, executionName, kind: 'lifecycle' }),
    ]));
    await handler(spotEvent());
    expect(logLines('info')).toContainEqual(expect.objectContaining({
      message: 'not drained', instanceId: INSTANCE, kind: 'spot', reason: 'the instance is in no Auto Scaling group',
    }));
  });

  test('spotInterruptions off leaves lifecycle actions drained', async () => {
    await expect(loadHandler({ SPOT_INTERRUPTIONS: 'false' })(lifecycleEvent())).resolves.toMatchObject({ outcome: 'STARTED' });
  });

  test('a Spot event with a long id: the execution name is cut to the 80 characters Step Functions takes', async () => {
    world.groups.set(INSTANCE, GROUP);
    const id = 'a'.repeat(100);
    const result = await loadHandler()({ ...spotEvent(), id });
    const name = `${INSTANCE}-spot-${id}`.slice(0, 80);
    expect(name).toHaveLength(80);
    expect(result).toMatchObject({ outcome: 'STARTED', executionName: name });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.name).toBe(name);
  });

  test('DescribeAutoScalingInstances answering without the instance (or with no list): in no group, ignored', async () => {
    asgMock.on(DescribeAutoScalingInstancesCommand).resolvesOnce({ AutoScalingInstances: [{ InstanceId: 'i-0fffffffffffffff0', AutoScalingGroupName: GROUP } as never] }).resolvesOnce({});
    const handler = loadHandler();
    const ignored = { outcome: 'IGNORED', instanceId: INSTANCE, reason: 'the instance is in no Auto Scaling group' };
    await expect(handler(spotEvent())).resolves.toEqual(ignored);
    await expect(handler(spotEvent())).resolves.toEqual(ignored);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('StartExecution failing otherwise than ExecutionAlreadyExists: the error is rethrown', async () => {
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('User is not authorized to perform states:StartExecution'), { name: 'AccessDeniedException' }));
    await expect(loadHandler()(lifecycleEvent())).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  test('the clients identify the handler in their user agent; the logs carry the service name', async () => {
    await loadHandler({ POWERTOOLS_SERVICE_NAME: 'drains-prod' })(lifecycleEvent());
    const client = sfnMock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } };
    expect(client.config.customUserAgent).toEqual([['cdk-fleet-janitor/ecs-instance-drainer']]);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'drain started', service: 'drains-prod' }));
    await loadHandler({ POWERTOOLS_SERVICE_NAME: undefined })(lifecycleEvent({ LifecycleActionToken: '00000000-0000-4000-8000-000000000000' }));
    expect(logLines('info').at(-1)).toMatchObject({ message: 'drain started', service: 'EcsInstanceDrainer' });
  });
});

describe('finding the container instance', () => {
  test('ListContainerInstances over several pages, one without ARNs, one throttled once: asked again from its own token, the instance on the last page found', async () => {
    const tokens: Array<string | undefined> = [];
    let throttled = false;
    ecsMock.on(ListContainerInstancesCommand).callsFake((input) => {
      tokens.push(input.nextToken);
      if (input.nextToken === undefined) return { nextToken: 'p2' };
      if (!throttled) { throttled = true; throw ecsError('ThrottlingException', 'Rate exceeded'); }
      return { containerInstanceArns: [CONTAINER_INSTANCE] };
    });
    const handler = loadHandler();
    await step(handler, 'begin', await started(handler));
    expect(tokens).toEqual([undefined, 'p2', 'p2']);
    expect(ecsMock.commandCalls(DescribeContainerInstancesCommand).map((c) => c.args[0].input.containerInstances)).toEqual([[CONTAINER_INSTANCE]]);
    expect(ecsMock.commandCalls(UpdateContainerInstancesStateCommand)[0].args[0].input).toEqual({ cluster: CLUSTER, containerInstances: [CONTAINER_INSTANCE], status: 'DRAINING' });
  });

  test('two registrations of the EC2 instance: the active one is drained, not the inactive one listed first', async () => {
    const old = `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/prod/00000000000000000000000000000old`;
    ecsMock.on(ListContainerInstancesCommand).resolves({ containerInstanceArns: [old, CONTAINER_INSTANCE] });
    ecsMock.on(DescribeContainerInstancesCommand).resolves({
      containerInstances: [
        { containerInstanceArn: old, ec2InstanceId: INSTANCE, status: 'INACTIVE' },
        { containerInstanceArn: CONTAINER_INSTANCE, ec2InstanceId: INSTANCE, status: 'ACTIVE' },
      ],
    });
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.containerInstanceArn).toBe(CONTAINER_INSTANCE);
    expect(ecsMock.commandCalls(UpdateContainerInstancesStateCommand).map((c) => c.args[0].input.containerInstances)).toEqual([[CONTAINER_INSTANCE]]);
  });

  test('descriptions of another EC2 instance, or without an ARN, are not taken for this one', async () => {
    const other = `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/prod/0000000000000000000000000000other`;
    ecsMock.on(DescribeContainerInstancesCommand).resolves({
      containerInstances: [
        { containerInstanceArn: other, ec2InstanceId: 'i-0fffffffffffffff0', status: 'ACTIVE' },
        { ec2InstanceId: INSTANCE, status: 'ACTIVE' },
        { containerInstanceArn: CONTAINER_INSTANCE, ec2InstanceId: INSTANCE, status: 'ACTIVE' },
      ],
    });
    const handler = loadHandler();
    const drain = await step(handler, 'begin', await started(handler));
    expect(drain.containerInstanceArn).toBe(CONTAINER_INSTANCE);
    expect(ecsMock.commandCalls(UpdateContainerInstancesStateCommand).map((c) => c.args[0].input.containerInstances)).toEqual([[CONTAINER_INSTANCE]]);
  });

  test('begin logs what it found and did; a description without a status is UNKNOWN, not drained', async () => {
    const handler = loadHandler();
    await step(handler, 'begin', await started(handler));
    expect(logLines('info')).toContainEqual(expect.objectContaining({
      message: 'drain begun', instanceId: INSTANCE, containerInstance: CONTAINER_INSTANCE, status: 'ACTIVE', setDraining: true, dryRun: false,
    }));
    world.containerInstances.get(INSTANCE)!.status = 'DRAINING';
    await step(handler, 'begin', drainOf());
    expect(logLines('info').filter((l) => l.message === 'drain begun').at(-1)).toMatchObject({ status: 'DRAINING', setDraining: false });

    ecsMock.on(DescribeContainerInstancesCommand).resolves({
      containerInstances: [{ containerInstanceArn: CONTAINER_INSTANCE, ec2InstanceId: INSTANCE }],
    });
    world.actions.set(TOKEN, { open: true, heartbeats: 0 });
    await expect(step(handler, 'begin', drainOf())).resolves.toMatchObject({ next: 'END' });
    expect(drainLine().at(-1)).toMatchObject({ outcome: 'REPORTED', reason: 'nothing to drain: its container instance is UNKNOWN; lifecycle action completed CONTINUE' });
  });

  test('a check uses the container instance the drain carries; it does not look it up again', async () => {
    addTasks(1);
    const handler = loadHandler();
    world.containerInstances.clear();
    await expect(step(handler, 'check', drainOf())).resolves.toMatchObject({ next: 'WAIT', checks: 1 });
    expect(ecsMock.commandCalls(ListContainerInstancesCommand)).toHaveLength(0);
  });

  test('a Spot drain of an instance not in the cluster: reported, no lifecycle action to complete', async () => {
    world.containerInstances.clear();
    const handler = loadHandler();
    await step(handler, 'begin', drainOf({ kind: 'spot', lifecycleHookName: undefined, lifecycleActionToken: undefined }));
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);
    expect(drainLine()).toEqual([expect.objectContaining({
      outcome: 'REPORTED', reason: 'nothing to drain: no container instance of the cluster runs on this EC2 instance',
    })]);
  });
});

describe('ECS refusing DRAINING', () => {
  test('the refusal\'s reason and detail are in the error; no reason given says so', async () => {
    ecsMock.on(UpdateContainerInstancesStateCommand)
      .resolvesOnce({ failures: [{ arn: CONTAINER_INSTANCE, reason: 'MISSING', detail: 'the container instance was deregistered' }] })
      .resolvesOnce({ failures: [{ arn: CONTAINER_INSTANCE }] })
      .resolvesOnce({});
    const handler = loadHandler();
    const drain = await started(handler);
    await expect(step(handler, 'begin', drain)).rejects.toMatchObject({
      name: 'DrainRefused', message: `ECS refused DRAINING for ${CONTAINER_INSTANCE}: MISSING (the container instance was deregistered)`,
    });
    await expect(step(handler, 'begin', drain)).rejects.toMatchObject({ name: 'DrainRefused', message: `ECS refused DRAINING for ${CONTAINER_INSTANCE}: no reason` });
    // an answer without a failures list is a success
    await expect(step(handler, 'begin', drain)).resolves.toMatchObject({ next: 'END' });
  });
});

describe('tasks as ECS describes them', () => {
  test('a listing page without task ARNs adds none; with no task at all, nothing is described', async () => {
    ecsMock.on(ListTasksCommand).resolves({});
    const handler = loadHandler();
    await expect(step(handler, 'begin', await started(handler))).resolves.toMatchObject({ next: 'END' });
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  });

  test('a described task without an ARN is not counted', async () => {
    const [task] = addTasks(1);
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ lastStatus: 'RUNNING', desiredStatus: 'RUNNING', group: 'service:web' }, { ...task }] });
    await step(loadHandler(), 'check', drainOf());
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'drain check', remaining: 1 }));
  });

  test('dry run: each task reported with its status and group; one with neither is UNKNOWN, group empty, and counts as standalone', async () => {
    const [batch] = addTasks(1, { group: 'family:batch', lastStatus: 'PENDING' });
    const bare = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/prod/0000000000000000000000000000bare`;
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ ...batch }, { taskArn: bare }] });
    const handler = loadHandler({ DRY_RUN: 'true' });
    await step(handler, 'begin', drainOf());
    expect(drainLine()).toEqual([{
      ...drainLine()[0],
      'resourceType': 'ec2-instance',
      'resourceId': INSTANCE,
      'action': 'DRAIN',
      'outcome': 'DRY_RUN',
      'reason': 'would drain 2 task(s); lifecycle action completed CONTINUE',
      'group': GROUP,
      'kind': 'lifecycle',
      'duration': '0s',
      'stopped tasks': '0',
    }]);
    expect(taskLines()).toEqual([
      expect.objectContaining({ resourceId: batch.taskArn, action: 'NONE', outcome: 'KEPT', reason: 'on the instance', status: 'PENDING (desired RUNNING)', group: 'family:batch' }),
      expect.objectContaining({ resourceId: bare, action: 'NONE', outcome: 'KEPT', reason: 'on the instance', status: 'UNKNOWN (desired UNKNOWN)' }),
    ]);
    // the group is empty, and the Logger leaves empty values out
    expect(taskLines()[1]).not.toHaveProperty('group');
  });

  test('a Spot dry run: nothing to complete, said without a lifecycle note', async () => {
    addTasks(1);
    await step(loadHandler({ DRY_RUN: 'true' }), 'begin', drainOf({ kind: 'spot', lifecycleHookName: undefined, lifecycleActionToken: undefined }));
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);
    expect(drainLine()).toEqual([expect.objectContaining({ outcome: 'DRY_RUN', reason: 'would drain 1 task(s)', kind: 'spot' })]);
  });
});

describe('stopping standalone tasks', () => {
  const REASON = `fleet-janitor EcsInstanceDrainer: standalone task stopped to drain ${INSTANCE} (its Auto Scaling group is terminating it)`;

  test('each stop is logged; a task already gone counts as stopped; a refusal is FAILED with its code and not counted', async () => {
    const [ok, gone, denied, invalid, noCluster] = addTasks(5, { group: 'family:nightly' });
    ecsMock.on(StopTaskCommand, { task: gone.taskArn }).rejects(ecsError('InvalidParameterException', 'The referenced task was not found.'));
    ecsMock.on(StopTaskCommand, { task: denied.taskArn }).rejects(ecsError('AccessDeniedException', 'not authorized'));
    ecsMock.on(StopTaskCommand, { task: invalid.taskArn }).rejects(ecsError('InvalidParameterException', 'reason is too long'));
    ecsMock.on(StopTaskCommand, { task: noCluster.taskArn }).rejects(ecsError('ClusterNotFoundException', 'Cluster not found.'));
    const handler = loadHandler({ STOP_STANDALONE_AFTER_SECONDS: '0' });
    const drain = await step(handler, 'check', drainOf({ stoppedTasks: 2 }));
    expect(drain.stoppedTasks).toBe(4);
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual(
      [ok, gone, denied, invalid, noCluster].map((t) => ({ cluster: CLUSTER, task: t.taskArn, reason: REASON })));
    const line = (task: string, outcome: string, errorCode?: string) => ({
      ...(outcome === 'DONE' ? { message: 'decision' } : { message: 'action failed' }),
      resourceType: 'ecs-task',
      resourceId: task,
      action: 'STOP',
      outcome,
      ...(errorCode ? { errorCode } : {}),
      reason: 'standalone task past stopStandaloneTasksAfter',
      instance: INSTANCE,
    });
    expect(taskLines().map(({ resourceType, resourceId, action, outcome, reason, instance, message, errorCode }) =>
      ({ resourceType, resourceId, action, outcome, reason, instance, message, ...(errorCode ? { errorCode } : {}) }))).toEqual([line(ok.taskArn, 'DONE'), line(gone.taskArn, 'DONE')]);
    expect(logLines('warn').filter((l) => l.message === 'action failed').map(({ resourceType, resourceId, action, outcome, reason, instance, message, errorCode }) =>
      ({ resourceType, resourceId, action, outcome, reason, instance, message, errorCode }))).toEqual([
      line(denied.taskArn, 'FAILED', 'AccessDeniedException'), line(invalid.taskArn, 'FAILED', 'InvalidParameterException'),
      line(noCluster.taskArn, 'FAILED', 'ClusterNotFoundException'),
    ]);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'drain check', remaining: 5, stopped: 5, heartbeat: false, waitSeconds: 10 }));
  });
});

describe('the lifecycle action at the end', () => {
  test('already completed by someone else when the drain ends: said so, not claimed completed', async () => {
    world.actions.get(TOKEN)!.open = false;
    await expect(step(loadHandler(), 'check', drainOf())).resolves.toMatchObject({ next: 'END' });
    expect(drainLine()).toEqual([expect.objectContaining({ outcome: 'DONE', reason: 'drained; the lifecycle action was already gone' })]);
  });

  test('CompleteLifecycleAction failing otherwise: the step fails with the error', async () => {
    asgMock.on(CompleteLifecycleActionCommand).rejects(asgError('AccessDenied', 'User is not authorized to perform autoscaling:CompleteLifecycleAction'));
    await expect(step(loadHandler(), 'check', drainOf())).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  test.each([
    ['another code', asgError('AccessDenied', 'User is not authorized to perform autoscaling:RecordLifecycleActionHeartbeat')],
    ['a ValidationError about something else', asgError('ValidationError', 'Lifecycle hook named fleet-janitor-drain not found')],
    ['a server fault whose message mentions the action', asgError('InternalFailure', 'No active Lifecycle Action could be read')],
  ])('a heartbeat error that is not "No active Lifecycle Action" (%s): the step fails with it', async (_name, error) => {
    addTasks(1);
    asgMock.on(RecordLifecycleActionHeartbeatCommand).rejects(error);
    at(280);
    await expect(step(loadHandler(), 'check', drainOf())).rejects.toBe(error);
  });

  test('the action gone at a heartbeat: reported in the logs only, with the drain\'s details', async () => {
    addTasks(2);
    world.actions.get(TOKEN)!.open = false;
    at(280);
    await step(loadHandler(), 'check', drainOf());
    expect(published()).toEqual([]);
    expect(drainLine()).toEqual([expect.objectContaining({
      'resourceType': 'ec2-instance', 'resourceId': INSTANCE, 'action': 'DRAIN', 'outcome': 'REPORTED', 'group': GROUP, 'kind': 'lifecycle', 'duration': '4m', 'stopped tasks': '0',
    })]);
  });

  test('a timeout reports the drain and each task still running, with the cluster and execution in the notification', async () => {
    const [stuck] = addTasks(1, { group: 'service:api' });
    at(3_600);
    await step(loadHandler(), 'check', drainOf());
    expect(drainLine()).toEqual([expect.objectContaining({ outcome: 'REPORTED', reason: 'maxDrainTime passed with 1 task(s) still running; lifecycle action completed CONTINUE', duration: '1h 00m' })]);
    expect(taskLines()).toEqual([expect.objectContaining({
      resourceId: stuck.taskArn, action: 'NONE', outcome: 'KEPT', reason: 'still running when the drain ended', status: 'RUNNING (desired RUNNING)', group: 'service:api',
    })]);
    const body = published()[0].Message!;
    expect(body).toContain(`Cluster ${CLUSTER}, instance ${INSTANCE} (lifecycle), execution ${INSTANCE}-${TOKEN}`);
    expect(body).toContain('EcsInstanceDrainer run started');
  });

  test('a Spot drain past its deadline: reported without a lifecycle note', async () => {
    addTasks(1);
    at(120);
    await step(loadHandler(), 'check', drainOf({ kind: 'spot', lifecycleHookName: undefined, lifecycleActionToken: undefined }));
    expect(drainLine()).toEqual([expect.objectContaining({ outcome: 'REPORTED', reason: 'the Spot interruption came with 1 task(s) still running', kind: 'spot' })]);
  });
});

describe('the failed step', () => {
  test('the error\'s code is the entry\'s; a long cause is cut to 500 characters', async () => {
    const cause = 'x'.repeat(600);
    await loadHandler()({ step: 'failed', drain: drainOf(), error: { Error: 'States.TaskFailed', Cause: cause } });
    expect(logLines('warn')).toContainEqual(expect.objectContaining({
      message: 'action failed', outcome: 'FAILED', errorCode: 'States.TaskFailed', reason: `the drain could not go on: States.TaskFailed (${'x'.repeat(500)})`,
    }));
  });

  test('without a cause, or without an error at all', async () => {
    const handler = loadHandler();
    await handler({ step: 'failed', drain: drainOf(), error: { Error: 'States.Timeout' } });
    await expect(handler({ step: 'failed', drain: drainOf() })).resolves.toMatchObject({ next: 'END' });
    expect(logLines('warn').filter((l) => l.message === 'action failed').map((l) => [l.reason, l.errorCode])).toEqual([
      ['the drain could not go on: States.Timeout', 'States.Timeout'],
      ['the drain could not go on: unknown error', undefined],
    ]);
  });
});
