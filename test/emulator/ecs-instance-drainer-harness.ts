/*
 * What the EcsInstanceDrainer emulator tests use: the construct synthesized and the moto side of its
 * stack built FROM THE TEMPLATE (the handler function with its environment, run from the shipped
 * bundle by moto_launcher.py patch 13; the state machine from its DefinitionString, run by moto's
 * interpreter; the lifecycle hook; the two rules with their event patterns); an ECS cluster of EC2
 * instances registered as container instances, with service and standalone tasks; the Auto Scaling
 * group with the instances attached and the lifecycle actions of patch 14; and readers for the end
 * state (executions, lifecycle actions, bundle invocations, notifications).
 *
 * Event delivery: moto's EventBridge cannot deliver to a Lambda target (its Rule.send_to_targets
 * raises NotImplementedError for any ARN but logs, SQS and event buses), so the rules are created
 * with the template's patterns but an SQS queue as their target; the test plays EventBridge's Lambda
 * target and invokes the function asynchronously (InvocationType Event, as EventBridge does) with
 * each event the rules matched, exactly as moto delivered it.
 */
import {
  AttachInstancesCommand, AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, PutLifecycleHookCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateClusterCommand, DescribeContainerInstancesCommand, DescribeTasksCommand, ECSClient, RegisterContainerInstanceCommand,
  RegisterTaskDefinitionCommand, StartTaskCommand, StopTaskCommand, Task,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand, PutEventsRequestEntry, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateStateMachineCommand, DescribeExecutionCommand, DescribeExecutionOutput, ExecutionListItem, ListExecutionsCommand, SFNClient,
} from '@aws-sdk/client-sfn';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { EmulatorClients, TopicWithQueue, createInstances, createTopicWithQueue, emulatorClients } from './fleet';
import { createQueue, createRole, QueueRef } from './instance-decommissioner-harness';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from './moto';
import { shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { EcsInstanceDrainer, EcsInstanceDrainerProps } from '../../src';
import { LIFECYCLE_DETAIL_TYPE, SPOT_DETAIL_TYPE } from '../../src/ecs-instance-drainer/contract';

export const BUNDLE = shippedBundle('ecs-instance-drainer');
export const STACK_NAME = 'EcsInstanceDrainerEmulator';
export const CLUSTER_NAME = 'web';
export const GROUP_NAME = 'web-asg';
/** CloudFormation names the hook (the template has no LifecycleHookName); moto's gets this name, and the rule's Ref resolves to it. */
export const HOOK_NAME = 'web-asg-DrainerLifecycleHook-1A2B3C4D';
export const FUNCTION_NAME = 'FleetJanitorEcsInstanceDrainer';
export const BUNDLE_TAG = 'moto-fixture:bundle';
/** moto_launcher.py patch 13: the bundle's AWS_ENDPOINT_URL (a proxy in front of moto). */
export const ENDPOINT_TAG = 'moto-fixture:endpoint';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' };
const EMPTY_ZIP = Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);

/** The settings the emulator tests drain with (all within the construct's validation). */
export const DRAIN_PROPS = {
  pollInterval: Duration.seconds(2),
  heartbeatTimeout: Duration.seconds(30),
  maxDrainTime: Duration.seconds(60),
  stopStandaloneTasksAfter: Duration.seconds(10),
} as const;

export interface DrainerClients extends EmulatorClients {
  readonly ecs: ECSClient;
  readonly autoscaling: AutoScalingClient;
  readonly sfn: SFNClient;
  readonly lambda: LambdaClient;
  readonly eventbridge: EventBridgeClient;
}

export function drainerClients(endpoint: string): DrainerClients {
  const config = { endpoint, region: EMULATOR_REGION, credentials: CREDENTIALS };
  return {
    ...emulatorClients(endpoint),
    ecs: new ECSClient(config),
    autoscaling: new AutoScalingClient(config),
    sfn: new SFNClient(config),
    lambda: new LambdaClient(config),
    eventbridge: new EventBridgeClient(config),
  };
}

export function destroyClients(clients: DrainerClients | undefined): void {
  if (!clients) return;
  for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
}

export async function motoApi(endpoint: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${endpoint}${path}`, body === undefined ? {} : {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * The emulator as the drainer needs it: moto's Step Functions interpreter on, and ECS tasks that
 * stay where they are until told otherwise. moto's tasks start RUNNING and, by default, move one
 * state along (DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED) at each DescribeTasks that names them,
 * StopTask or not: a task the test never stops would be STOPPED after four checks. With the
 * transition on "manual" and a count no test reaches, a task runs until StopTask stops it.
 */
export async function configureEmulator(endpoint: string): Promise<void> {
  await motoApi(endpoint, '/moto-api/config', { stepfunctions: { execute_state_machine: true } });
  await motoApi(endpoint, '/moto-api/state-manager/set-transition', {
    model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000 },
  });
}

// ---- the construct -------------------------------------------------------------------------------

export interface Synthesized {
  readonly template: any;
  readonly functionTimeout: number;
  readonly functionMemory: number;
  /** The state machine's name (the handler's STATE_MACHINE_ARN ends with it) and its DefinitionString, unresolved. */
  readonly stateMachineName: string;
  readonly definitionString: unknown;
  readonly hook: { readonly heartbeatTimeout: number; readonly defaultResult: string; readonly transition: string };
  /** The rules' EventPatterns, the hook's Ref still in the lifecycle one. */
  readonly rules: readonly { readonly logicalId: string; readonly pattern: unknown }[];
}

export function synthesizeDrainer(extra: Partial<EcsInstanceDrainerProps> = {}): Synthesized {
  const app = new App();
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-00000000000000001', availabilityZones: [`${EMULATOR_REGION}a`] });
  new EcsInstanceDrainer(stack, 'Drainer', {
    cluster: ecs.Cluster.fromClusterAttributes(stack, 'Cluster', { clusterName: CLUSTER_NAME, vpc, securityGroups: [] }),
    autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', GROUP_NAME),
    ...DRAIN_PROPS,
    ...extra,
  });
  const template = Template.fromStack(stack).toJSON();
  const resources = Object.entries<any>(template.Resources);
  const only = (type: string) => {
    const found = resources.filter(([, r]) => r.Type === type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0][1];
  };
  const fn = resources.find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.STATE_MACHINE_ARN)![1];
  const machine = only('AWS::StepFunctions::StateMachine');
  const hook = only('AWS::AutoScaling::LifecycleHook');
  return {
    template,
    functionTimeout: Number(fn.Properties.Timeout),
    functionMemory: Number(fn.Properties.MemorySize),
    stateMachineName: machine.Properties.StateMachineName,
    definitionString: machine.Properties.DefinitionString,
    hook: {
      heartbeatTimeout: Number(hook.Properties.HeartbeatTimeout),
      defaultResult: hook.Properties.DefaultResult,
      transition: hook.Properties.LifecycleTransition,
    },
    rules: resources.filter(([, r]) => r.Type === 'AWS::Events::Rule').map(([logicalId, r]) => ({ logicalId, pattern: r.Properties.EventPattern })),
  };
}

/** Resolve what CloudFormation would: Refs and GetAtts from `values` (keyed by logical id, "id.Attr" or pseudo parameter), Fn::Join. */
export function resolveCfn(value: unknown, values: Record<string, string>, where = 'value'): any {
  if (Array.isArray(value)) return value.map((v, i) => resolveCfn(v, values, `${where}[${i}]`));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0];
    const lookup = (name: string) => {
      if (values[name] === undefined) throw new Error(`${where}: no value for ${key} ${name}`);
      return values[name];
    };
    if (key === 'Ref') return lookup(arg as string);
    if (key === 'Fn::GetAtt') return lookup((arg as string[]).join('.'));
    if (key === 'Fn::Join') {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((p, i) => resolveCfn(p, values, `${where}[Fn::Join ${i}]`)).join(separator);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveCfn(v, values, `${where}.${k}`)]));
}

// ---- the stack in moto --------------------------------------------------------------------------

export interface DrainerStack {
  readonly synth: Synthesized;
  readonly functionArn: string;
  readonly stateMachineArn: string;
  readonly clusterArn: string;
  readonly env: Record<string, string>;
  readonly notifications: TopicWithQueue;
  /** Where the rules send the events they match (the test invokes the function with them). */
  readonly eventQueue: QueueRef;
  readonly definition: any;
}

export interface DeployOptions {
  /** The bundle's AWS_ENDPOINT_URL (patch 13's `moto-fixture:endpoint`), e.g. a fault proxy. @default moto itself */
  readonly bundleEndpoint?: string;
  readonly extra?: Partial<EcsInstanceDrainerProps>;
}

/** Build the stack's pieces in moto from the synthesized template; the cluster, group and hook first (the ARNs the template names). */
export async function deployDrainer(endpoint: string, clients: DrainerClients, options: DeployOptions = {}): Promise<DrainerStack> {
  const synth = synthesizeDrainer(options.extra);
  const { cluster } = await clients.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER_NAME }));
  await clients.autoscaling.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: `${GROUP_NAME}-lc`, ImageId: 'ami-12c6146b', InstanceType: 't3.micro' }));
  await clients.autoscaling.send(new CreateAutoScalingGroupCommand({
    AutoScalingGroupName: GROUP_NAME,
    LaunchConfigurationName: `${GROUP_NAME}-lc`,
    MinSize: 0,
    MaxSize: 50,
    DesiredCapacity: 0,
    AvailabilityZones: [`${EMULATOR_REGION}a`],
  }));
  await clients.autoscaling.send(new PutLifecycleHookCommand({
    AutoScalingGroupName: GROUP_NAME,
    LifecycleHookName: HOOK_NAME,
    LifecycleTransition: synth.hook.transition,
    HeartbeatTimeout: synth.hook.heartbeatTimeout,
    DefaultResult: synth.hook.defaultResult,
  }));
  const notifications = await createTopicWithQueue(clients, 'ecs-drainer-reports');
  const roleArn = await createRole(endpoint, 'ecs-drainer-role');

  const logicalIdOf = (type: string, where: (r: any) => boolean = () => true) =>
    Object.entries<any>(synth.template.Resources).find(([, r]) => r.Type === type && where(r))![0];
  const functionId = logicalIdOf('AWS::Lambda::Function', (r) => r.Properties?.Environment?.Variables?.STATE_MACHINE_ARN);
  const hookId = logicalIdOf('AWS::AutoScaling::LifecycleHook');
  const env = functionEnvironmentFromTemplate(synth.template, {
    logicalIdPrefix: functionId,
    resolveRefs: { 'AWS::SNS::Topic': notifications.topicArn, 'AWS::Partition': 'aws' },
  });
  const fn = await clients.lambda.send(new CreateFunctionCommand({
    FunctionName: FUNCTION_NAME,
    Runtime: 'nodejs20.x',
    Role: roleArn,
    Handler: 'index.handler',
    Timeout: synth.functionTimeout,
    MemorySize: synth.functionMemory,
    Code: { ZipFile: EMPTY_ZIP },
    Environment: { Variables: env },
    Tags: { [BUNDLE_TAG]: BUNDLE, ...(options.bundleEndpoint ? { [ENDPOINT_TAG]: options.bundleEndpoint } : {}) },
  }));
  const values = {
    'AWS::Partition': 'aws',
    'AWS::Region': EMULATOR_REGION,
    'AWS::AccountId': EMULATOR_ACCOUNT,
    [`${functionId}.Arn`]: fn.FunctionArn!,
    [hookId]: HOOK_NAME,
  };
  const definition = JSON.parse(resolveCfn(synth.definitionString, values, 'DefinitionString'));
  const machine = await clients.sfn.send(new CreateStateMachineCommand({
    name: synth.stateMachineName, roleArn, type: 'STANDARD', definition: JSON.stringify(definition),
  }));

  const eventQueue = await createQueue(clients.sqs, 'ecs-drainer-events');
  for (const rule of synth.rules) {
    await clients.eventbridge.send(new PutRuleCommand({ Name: rule.logicalId, EventPattern: JSON.stringify(resolveCfn(rule.pattern, values)), State: 'ENABLED' }));
    await clients.eventbridge.send(new PutTargetsCommand({ Rule: rule.logicalId, Targets: [{ Id: 'Target0', Arn: eventQueue.arn }] }));
  }
  return {
    synth,
    functionArn: fn.FunctionArn!,
    stateMachineArn: machine.stateMachineArn!,
    clusterArn: cluster!.clusterArn!,
    env,
    notifications,
    eventQueue,
    definition,
  };
}

// ---- the fleet ----------------------------------------------------------------------------------

export interface FleetNode {
  readonly instanceId: string;
  /** Undefined for an instance that never joined the cluster. */
  readonly containerInstanceArn?: string;
}

/** EC2 instances attached to the group; those with `registered` join the cluster as container instances. */
export async function launchNodes(clients: DrainerClients, registered: readonly boolean[]): Promise<FleetNode[]> {
  const launched = await createInstances(clients.ec2, [{ count: registered.length, name: 'ecs-node', instanceType: 'm5.large' }]);
  const ids = launched.map((l) => l.instanceId);
  await clients.autoscaling.send(new AttachInstancesCommand({ AutoScalingGroupName: GROUP_NAME, InstanceIds: ids }));
  const nodes: FleetNode[] = [];
  for (const [i, instanceId] of ids.entries()) {
    if (!registered[i]) {
      nodes.push({ instanceId });
      continue;
    }
    // What the ECS agent sends: the instance identity document names the EC2 instance.
    const { containerInstance } = await clients.ecs.send(new RegisterContainerInstanceCommand({
      cluster: CLUSTER_NAME,
      instanceIdentityDocument: JSON.stringify({ instanceId, region: EMULATOR_REGION, accountId: EMULATOR_ACCOUNT, instanceType: 'm5.large' }),
      instanceIdentityDocumentSignature: 'signature',
    }));
    nodes.push({ instanceId, containerInstanceArn: containerInstance!.containerInstanceArn! });
  }
  return nodes;
}

export async function registerTaskDefinitions(clients: DrainerClients): Promise<void> {
  for (const family of ['web', 'batch']) {
    await clients.ecs.send(new RegisterTaskDefinitionCommand({
      family,
      containerDefinitions: [{ name: family, image: `public.ecr.aws/docker/library/${family === 'web' ? 'nginx' : 'busybox'}:latest`, memory: 128, cpu: 64, essential: true }],
    }));
  }
}

/** A service's task (group service:web) or a standalone one (RunTask's group family:batch) on a container instance. */
export async function startTask(clients: DrainerClients, node: FleetNode, kind: 'service' | 'standalone'): Promise<string> {
  const { tasks, failures } = await clients.ecs.send(new StartTaskCommand({
    cluster: CLUSTER_NAME,
    taskDefinition: kind === 'service' ? 'web' : 'batch',
    containerInstances: [node.containerInstanceArn!],
    group: kind === 'service' ? 'service:web' : 'family:batch',
    startedBy: kind === 'service' ? 'ecs-svc/1234567890123456789' : 'nightly-batch',
  }));
  if (failures?.length || tasks?.length !== 1) throw new Error(`StartTask failed: ${JSON.stringify(failures)}`);
  return tasks[0].taskArn!;
}

/** What ECS does to a service's task on a DRAINING instance (the scheduler replaces it elsewhere and stops it). */
export async function stopServiceTask(clients: DrainerClients, taskArn: string): Promise<void> {
  await clients.ecs.send(new StopTaskCommand({ cluster: CLUSTER_NAME, task: taskArn, reason: 'Service web: container instance is in DRAINING state' }));
}

export async function describeTasks(clients: DrainerClients, taskArns: readonly string[]): Promise<Task[]> {
  return (await clients.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER_NAME, tasks: [...taskArns] }))).tasks ?? [];
}

export async function containerInstanceStatus(clients: DrainerClients, arn: string): Promise<string | undefined> {
  const out = await clients.ecs.send(new DescribeContainerInstancesCommand({ cluster: CLUSTER_NAME, containerInstances: [arn] }));
  return out.containerInstances?.[0]?.status;
}

// ---- lifecycle actions (patch 14) and events --------------------------------------------------------

export interface LifecycleActionRecord {
  AutoScalingGroupName: string;
  LifecycleHookName: string;
  InstanceId: string;
  LifecycleActionToken: string;
  HeartbeatTimeout: number;
  StartTime: number;
  Heartbeats: number[];
  Completion: null | { Result: string; At: number };
  Expired: null | { At: number; Result: string };
}

/** Open the action Auto Scaling opens when it starts terminating the instance (the hook's timeout and default result). */
export async function openLifecycleAction(endpoint: string, instanceId: string, token: string): Promise<LifecycleActionRecord> {
  return motoApi(endpoint, '/moto-api/fixtures/lifecycle-actions', {
    AutoScalingGroupName: GROUP_NAME, LifecycleHookName: HOOK_NAME, InstanceId: instanceId, LifecycleActionToken: token,
  });
}

export async function lifecycleActions(endpoint: string): Promise<LifecycleActionRecord[]> {
  return (await motoApi(endpoint, '/moto-api/fixtures/lifecycle-actions')).LifecycleActions;
}

/** The event Auto Scaling puts on the default bus when the termination hook holds the instance. */
export function lifecycleEvent(instanceId: string, token: string, time: Date): PutEventsRequestEntry {
  return {
    Source: 'aws.autoscaling',
    DetailType: LIFECYCLE_DETAIL_TYPE,
    Time: time,
    Resources: [`arn:aws:autoscaling:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:autoScalingGroup:6d1a2e4b-0000-4000-8000-000000000001:autoScalingGroupName/${GROUP_NAME}`],
    Detail: JSON.stringify({
      Origin: 'AutoScalingGroup',
      Destination: 'EC2',
      LifecycleActionToken: token,
      AutoScalingGroupName: GROUP_NAME,
      LifecycleHookName: HOOK_NAME,
      EC2InstanceId: instanceId,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    }),
  };
}

/** The warning EC2 puts on the default bus two minutes before it interrupts a Spot instance. */
export function spotWarning(instanceId: string, time: Date): PutEventsRequestEntry {
  return {
    Source: 'aws.ec2',
    DetailType: SPOT_DETAIL_TYPE,
    Time: time,
    Resources: [`arn:aws:ec2:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:instance/${instanceId}`],
    Detail: JSON.stringify({ 'instance-id': instanceId, 'instance-action': 'terminate' }),
  };
}

/**
 * Put the events on the default bus (the synthesized rules match them into the event queue), then
 * deliver what the rules matched as EventBridge's Lambda target does: an asynchronous Invoke per event.
 * Returns the events delivered.
 */
export async function putAndDeliver(clients: DrainerClients, stack: DrainerStack, entries: readonly PutEventsRequestEntry[]): Promise<any[]> {
  const put = await clients.eventbridge.send(new PutEventsCommand({ Entries: [...entries] }));
  if (put.FailedEntryCount) throw new Error(`PutEvents failed: ${JSON.stringify(put.Entries)}`);
  const delivered: any[] = [];
  while (true) {
    const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.eventQueue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = out.Messages ?? [];
    if (!messages.length) break;
    for (const m of messages) {
      const event = JSON.parse(m.Body!);
      const answer = await clients.lambda.send(new InvokeCommand({ FunctionName: stack.functionArn, InvocationType: 'Event', Payload: m.Body! }));
      if (answer.StatusCode !== 202) throw new Error(`async Invoke answered ${answer.StatusCode}`);
      delivered.push(event);
    }
    await clients.sqs.send(new DeleteMessageBatchCommand({
      QueueUrl: stack.eventQueue.url,
      Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
    }));
  }
  return delivered;
}

// ---- reading back ---------------------------------------------------------------------------------

export interface BundleInvocation {
  FunctionArn: string;
  InvocationType: string;
  Payload: any;
  Result: any;
  Error: { errorType: string; errorMessage: string } | null;
  FunctionError: string | null;
  TimedOut: boolean;
  StartTime: number;
  EndTime: number | null;
}

export async function bundleInvocations(endpoint: string): Promise<BundleInvocation[]> {
  return (await motoApi(endpoint, '/moto-api/fixtures/bundle-invocations')).Invocations;
}

export async function listExecutions(clients: DrainerClients, stateMachineArn: string): Promise<ExecutionListItem[]> {
  const items: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.sfn.send(new ListExecutionsCommand({ stateMachineArn, nextToken }));
    items.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return items;
}

/** Wait until `probe` answers something other than undefined or false (polled every 250 ms). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The execution of the drain named `prefix...`, once it has ended. */
export async function finishedExecution(
  clients: DrainerClients, stateMachineArn: string, namePrefix: string, timeoutMs: number,
): Promise<DescribeExecutionOutput> {
  return waitFor(`the execution ${namePrefix}* to end`, async () => {
    const item = (await listExecutions(clients, stateMachineArn)).find((e) => e.name!.startsWith(namePrefix));
    if (!item) return undefined;
    const execution = await clients.sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
    return execution.status === 'RUNNING' ? undefined : execution;
  }, timeoutMs);
}
