/*
 * The EcsInstanceDrainer handler under aws-sdk-client-mock: ECS, Auto Scaling and Step Functions
 * answered by small fakes that keep state (a cluster's container instances and tasks with pages and
 * the 100-task limit, lifecycle actions by token, executions by name), SNS recorded. Tests play the
 * state machine's part: they call the handler with a step and the drain the last step returned.
 */
import * as autoscalingSdk from '@aws-sdk/client-auto-scaling';
import { AutoScalingClient, AutoScalingServiceException, CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import * as ecsSdk from '@aws-sdk/client-ecs';
import {
  DescribeContainerInstancesCommand, DescribeTasksCommand, ECSClient, ECSServiceException, ListContainerInstancesCommand, ListTasksCommand,
  StopTaskCommand, UpdateContainerInstancesStateCommand,
} from '@aws-sdk/client-ecs';
import * as sfnSdk from '@aws-sdk/client-sfn';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as snsSdk from '@aws-sdk/client-sns';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { Drain } from '../../../lambda/ecs-instance-drainer/drain';
import { captureConsole, loadHandlerModule, restoreEnv } from '../helpers';

export type HandlerModule = typeof import('../../../lambda/ecs-instance-drainer/index');

export const ecsMock = mockClient(ECSClient);
export const asgMock = mockClient(AutoScalingClient);
export const sfnMock = mockClient(SFNClient);
export const snsMock = mockClient(SNSClient);

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const CLUSTER = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`;
export const STATE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:EcsInstanceDrainer-A1B2C3`;
export const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:drains`;
export const GROUP = 'ecs-capacity';
export const HOOK = 'fleet-janitor-drain';
export const INSTANCE = 'i-0123456789abcdef0';
export const TOKEN = '3f1a0c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
export const START = Date.parse('2026-06-01T10:00:00Z');
export const CONTAINER_INSTANCE = `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/prod/0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c`;

export const BASE_ENV: Record<string, string> = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  TOPIC_ARN: TOPIC,
  CLUSTER_ARN: CLUSTER,
  STATE_MACHINE_ARN: STATE_MACHINE,
  AUTO_SCALING_GROUPS: JSON.stringify([GROUP, 'ecs-spot']),
  POLL_INTERVAL_SECONDS: '10',
  HEARTBEAT_TIMEOUT_SECONDS: '300',
  MAX_DRAIN_SECONDS: '3600',
  ON_TIMEOUT: 'CONTINUE',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_SERVICE_NAME: 'EcsInstanceDrainer',
};

// ---- the world ------------------------------------------------------------------------------

export interface FakeTask { taskArn: string; group: string; desiredStatus: string; lastStatus: string; containerInstanceArn: string }
export const world = {
  containerInstances: new Map<string, { arn: string; status: string }>(),
  tasks: [] as FakeTask[],
  actions: new Map<string, { open: boolean; heartbeats: number; result?: string }>(),
  executions: new Map<string, string>(),
  groups: new Map<string, string>(),
  /** ListTasks requests as sent (the SDK's paginator reuses one input object). */
  listed: [] as Array<{ desiredStatus?: string; nextToken?: string; maxResults?: number }>,
};
let taskSeq = 0;
export const addTasks = (count: number, props: Partial<FakeTask> = {}) => {
  const made = Array.from({ length: count }, () => ({
    taskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/prod/${(++taskSeq).toString(16).padStart(32, '0')}`,
    group: 'service:web',
    desiredStatus: 'RUNNING',
    lastStatus: 'RUNNING',
    containerInstanceArn: CONTAINER_INSTANCE,
    ...props,
  }));
  world.tasks.push(...made);
  return made;
};
export const stopAll = () => world.tasks.forEach((t) => { t.desiredStatus = 'STOPPED'; t.lastStatus = 'STOPPED'; });
export const ecsError = (name: string, message = `${name} (test)`) => new ECSServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
export const asgError = (name: string, message: string) => new AutoScalingServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });

function serve(): void {
  ecsMock.on(ListContainerInstancesCommand).callsFake((input) => {
    const id = /ec2InstanceId == (i-[0-9a-f]+)/.exec(input.filter ?? '')?.[1];
    const ci = id ? world.containerInstances.get(id) : undefined;
    return { containerInstanceArns: ci ? [ci.arn] : [] };
  });
  ecsMock.on(DescribeContainerInstancesCommand).callsFake((input) => ({
    containerInstances: [...world.containerInstances.entries()]
      .filter(([, ci]) => input.containerInstances.includes(ci.arn))
      .map(([id, ci]) => ({ containerInstanceArn: ci.arn, ec2InstanceId: id, status: ci.status })),
  }));
  ecsMock.on(UpdateContainerInstancesStateCommand).callsFake((input) => {
    for (const ci of world.containerInstances.values()) if (input.containerInstances.includes(ci.arn)) ci.status = input.status;
    return { containerInstances: [], failures: [] };
  });
  ecsMock.on(ListTasksCommand).callsFake((input) => {
    world.listed.push({ ...input });
    const all = world.tasks.filter((t) => t.containerInstanceArn === input.containerInstance && t.desiredStatus === (input.desiredStatus ?? 'RUNNING'));
    const start = Number(input.nextToken ?? 0);
    const size = input.maxResults ?? 100;
    const page = all.slice(start, start + size);
    return { taskArns: page.map((t) => t.taskArn), nextToken: start + size < all.length ? String(start + size) : undefined };
  });
  ecsMock.on(DescribeTasksCommand).callsFake((input) => {
    if (input.tasks.length > 100) throw ecsError('InvalidParameterException', 'Tasks cannot be longer than 100');
    return { tasks: world.tasks.filter((t) => input.tasks.includes(t.taskArn)), failures: [] };
  });
  ecsMock.on(StopTaskCommand).callsFake((input) => {
    const task = world.tasks.find((t) => t.taskArn === input.task);
    if (!task) throw ecsError('InvalidParameterException', 'The referenced task was not found.');
    task.desiredStatus = 'STOPPED';
    return { task: { taskArn: task.taskArn } };
  });
  const action = (input: { LifecycleActionToken?: string }) => {
    const found = world.actions.get(input.LifecycleActionToken ?? '');
    if (!found?.open) throw asgError('ValidationError', `No active Lifecycle Action found with token ${input.LifecycleActionToken}`);
    return found;
  };
  asgMock.on(RecordLifecycleActionHeartbeatCommand).callsFake((input) => { action(input).heartbeats++; return {}; });
  asgMock.on(CompleteLifecycleActionCommand).callsFake((input) => {
    const found = action(input);
    found.open = false;
    found.result = input.LifecycleActionResult;
    return {};
  });
  asgMock.on(DescribeAutoScalingInstancesCommand).callsFake((input: { InstanceIds?: string[] }) => ({
    AutoScalingInstances: (input.InstanceIds ?? []).filter((id) => world.groups.has(id))
      .map((id) => ({ InstanceId: id, AutoScalingGroupName: world.groups.get(id) })),
  }));
  sfnMock.on(StartExecutionCommand).callsFake((input) => {
    if (world.executions.has(input.name!)) throw new ExecutionAlreadyExists({ $metadata: {}, message: `Execution Already Exists: '${input.name}'` });
    world.executions.set(input.name!, input.input!);
    return { executionArn: `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: new Date() };
  });
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
}

/** Installs the fakes, the captured console and the fake clock for every test of the file. */
export function installDrainerHarness(): void {
  captureConsole();
  beforeEach(() => {
    for (const m of [ecsMock, asgMock, sfnMock, snsMock]) m.reset();
    world.containerInstances.clear();
    world.tasks = [];
    world.actions.clear();
    world.executions.clear();
    world.groups.clear();
    world.listed = [];
    world.containerInstances.set(INSTANCE, { arn: CONTAINER_INSTANCE, status: 'ACTIVE' });
    world.actions.set(TOKEN, { open: true, heartbeats: 0 });
    serve();
    jest.useFakeTimers({ now: START, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'] });
  });
  afterEach(() => {
    jest.useRealTimers();
    restoreEnv();
  });
}

export const loadHandler = (env: Record<string, string | undefined> = {}) => loadHandlerModule<HandlerModule>({
  modulePath: require.resolve('../../../lambda/ecs-instance-drainer/index'),
  baseEnv: BASE_ENV,
  overrides: env,
  sdkModules: { '@aws-sdk/client-ecs': ecsSdk, '@aws-sdk/client-auto-scaling': autoscalingSdk, '@aws-sdk/client-sfn': sfnSdk, '@aws-sdk/client-sns': snsSdk },
}).handler;

/** A lifecycle drain as the state machine carries it once begun (a check's input). */
export const drainOf = (props: Partial<Drain> = {}): Drain => ({
  kind: 'lifecycle',
  instanceId: INSTANCE,
  autoScalingGroupName: GROUP,
  lifecycleHookName: HOOK,
  lifecycleActionToken: TOKEN,
  startedAt: new Date(START).toISOString(),
  heartbeatAt: new Date(START).toISOString(),
  containerInstanceArn: CONTAINER_INSTANCE,
  executionName: `${INSTANCE}-${TOKEN}`,
  generation: 0,
  checks: 0,
  stoppedTasks: 0,
  next: 'WAIT',
  waitSeconds: 10,
  ...props,
});

export const lifecycleEvent = (props: Record<string, unknown> = {}) => ({
  'version': '0',
  'id': '12345678-1234-1234-1234-123456789012',
  'detail-type': 'EC2 Instance-terminate Lifecycle Action',
  'source': 'aws.autoscaling',
  'account': ACCOUNT,
  'time': '2026-06-01T10:00:00Z',
  'region': REGION,
  'resources': [],
  'detail': {
    LifecycleActionToken: TOKEN,
    AutoScalingGroupName: GROUP,
    LifecycleHookName: HOOK,
    EC2InstanceId: INSTANCE,
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    ...props,
  },
});
export const spotEvent = (instanceId = INSTANCE) => ({
  'version': '0',
  'id': 'a1b2c3d4-0000-4000-8000-000000000001',
  'detail-type': 'EC2 Spot Instance Interruption Warning',
  'source': 'aws.ec2',
  'account': ACCOUNT,
  'time': '2026-06-01T10:00:00Z',
  'region': REGION,
  'resources': [],
  'detail': { 'instance-id': instanceId, 'instance-action': 'terminate' },
});

/** Starts a drain from the event and returns the drain the execution was started with. */
export async function started(handler: HandlerModule['handler'], event: unknown = lifecycleEvent()): Promise<Drain> {
  await handler(event);
  const input = sfnMock.commandCalls(StartExecutionCommand).at(-1)!.args[0].input;
  return JSON.parse(input.input!).drain as Drain;
}
export const at = (seconds: number) => jest.setSystemTime(START + seconds * 1000);
export const step = async (handler: HandlerModule['handler'], name: string, drain: Drain) => await handler({ step: name, drain }) as Drain;
export const published = () => snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);

