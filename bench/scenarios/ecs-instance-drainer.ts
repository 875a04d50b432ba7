/**
 * EcsInstanceDrainer: drains of D = 5, 30 and 120 minutes of simulated time with the default poll
 * interval (10 s) and heartbeat timeout (5 min). One container instance runs TASKS service tasks that
 * stop evenly over the drain, the last one a poll before its end. The shipped bundle, loaded once
 * (a warm container), runs the `begin` step and then one `check` per poll, as the state machine
 * would; the drain's clock is its own state (startedAt, heartbeatAt), so each check is handed the
 * drain as it would be at its simulated time and answers from the real cluster in moto.
 */
import { randomUUID } from 'crypto';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateClusterCommand, DesiredStatus, ECSClient, ListTasksCommand, RegisterContainerInstanceCommand, RegisterTaskDefinitionCommand, StartTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Drain } from '../../lambda/ecs-instance-drainer/drain';
import { EcsInstanceDrainer } from '../../src';
import { CHECK_SLACK_SECONDS, ENV } from '../../src/ecs-instance-drainer/contract';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { startInvoker } from '../invoker';
import type { BenchScenario, LifecycleContext, LifecycleStep } from '../scenario';

const BUNDLE = 'ecs-instance-drainer';
const CLUSTER = 'bench-drain';
const GROUP = 'bench-capacity';
const HOOK = 'bench-drain-hook';
const TASKS = 30;
const POLL_SECONDS = 10;
const HEARTBEAT_SECONDS = 300;
const DRAINS_MINUTES = [5, 30, 120];
/** ListTasks and DescribeTasks take 100 tasks a page / a call. */
const PAGE = 100;
/** ecs-cid-sample re-published its SNS message at 5 to 10 invocations a second, about a dozen API calls each. */
const CID_INVOCATIONS_PER_SECOND = [5, 10];
const CID_CALLS_PER_INVOCATION = 12;
/** Lambda's recursive loop detection stops a chain of invocations after about 16 hops. */
const RECURSION_HOPS = 16;

export const ecsInstanceDrainer: BenchScenario = {
  name: 'EcsInstanceDrainer',
  bundle: BUNDLE,

  exampleStack(stack: Stack, topic: sns.ITopic): void {
    const { cluster, autoScalingGroup } = importedFleet(stack);
    new EcsInstanceDrainer(stack, 'Drainer', { cluster, autoScalingGroup, topic });
  },

  lifecycle: {
    description: `one container instance running ${TASKS} service tasks that stop evenly over the drain (the last one a poll before `
      + `its end), drained with the default poll (${POLL_SECONDS} s) and heartbeat timeout (${HEARTBEAT_SECONDS / 60} min), maxDrainTime over the longest drain; each operation `
      + 'is one whole drain of simulated time: the `begin` step and one `check` per poll, run by the shipped bundle in one warm '
      + 'container against moto, each check handed the drain as it stands at its simulated time. The start (1 invocation, 1 '
      + 'StartExecution) is not counted. The operation names give the checks, the state transitions of the standard workflow '
      + '(4 + 3 per check), and the median billed milliseconds of a check (its handler time, rounded up to 1 ms).',
    minimumRationale: 'finding the container instance is 1 ListContainerInstances and 1 DescribeContainerInstances, setting it '
      + 'DRAINING 1 UpdateContainerInstancesState; each check needs ceil(tasks/100) ListTasks pages (at least 1) and ceil(tasks/100) '
      + 'DescribeTasks for the tasks still running, plus 1 RecordLifecycleActionHeartbeat when the hook would expire before the next '
      + 'check; the end is 1 CompleteLifecycleAction. The handler\'s extras: a second ListTasks per check for the tasks told to stop '
      + '(desired STOPPED) that may still be in their graceful shutdown, and describing those, which a count of desired-RUNNING '
      + 'tasks alone would miss.',
    get originals(): string {
      const rows = DRAINS_MINUTES.map((d) => {
        const seconds = d * 60;
        const [low, high] = CID_INVOCATIONS_PER_SECOND.map((r) => r * seconds);
        const cdk = seconds <= 15 * 60 ? `1 invocation billed ${(seconds * 1000).toLocaleString('en-US')} ms` : 'impossible (Lambda stops at 15 minutes)';
        return `D = ${d} min: ecs-cid-sample ${low.toLocaleString('en-US')} to ${high.toLocaleString('en-US')} invocations (about `
          + `${(low * CID_CALLS_PER_INVOCATION).toLocaleString('en-US')} to ${(high * CID_CALLS_PER_INVOCATION).toLocaleString('en-US')} API calls), `
          + `but cut by Lambda's recursive loop detection after about ${RECURSION_HOPS} hops (a few seconds); aws-cdk-lib's drain hook ${cdk}`;
      });
      return `${rows.join('; ')}. This construct: the checks counted above, each billed only for itself; the waiting is Step Functions'.`;
    },
    measure: measureDrains,
  },
};

function importedFleet(stack: Stack) {
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-0bench', availabilityZones: ['us-east-1a'], privateSubnetIds: ['subnet-0bench'] });
  const cluster = ecs.Cluster.fromClusterAttributes(stack, 'Cluster', {
    clusterName: CLUSTER, clusterArn: `arn:aws:ecs:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:cluster/${CLUSTER}`, vpc,
  });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', GROUP);
  return { cluster, autoScalingGroup };
}

async function measureDrains(ctx: LifecycleContext): Promise<LifecycleStep[]> {
  const stack = new Stack(new App(), 'BenchDrainer', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  const { cluster, autoScalingGroup } = importedFleet(stack);
  new EcsInstanceDrainer(stack, 'Drainer', {
    cluster,
    autoScalingGroup,
    pollInterval: Duration.seconds(POLL_SECONDS),
    heartbeatTimeout: Duration.seconds(HEARTBEAT_SECONDS),
    // The longest drain measured must end drained, not timed out.
    maxDrainTime: Duration.minutes(Math.max(...DRAINS_MINUTES) + 10),
  });
  const env = functionEnvironmentFromTemplate(Template.fromStack(stack).toJSON(), { resolveRefs: { 'AWS::SNS::Topic': ctx.topicArn, 'AWS::Partition': 'aws' } });
  // moto moves a task one state further at every DescribeTasks (RUNNING to STOPPED in four), whatever
  // its desired status: here a task runs until it is stopped, as on ECS.
  await motoApi(ctx, '/moto-api/state-manager/set-transition', { model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000 } });
  const ecsClient = new ECSClient({ region: EMULATOR_REGION, endpoint: ctx.motoEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  await ecsClient.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  const family = 'bench-web';
  await ecsClient.send(new RegisterTaskDefinitionCommand({ family, containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128 }] }));
  const invoker = startInvoker(BUNDLE, { ...env, [ENV.cluster]: `arn:aws:ecs:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:cluster/${CLUSTER}` }, ctx.proxyEndpoint);
  const steps: LifecycleStep[] = [];
  try {
    for (const minutes of DRAINS_MINUTES) {
      steps.push(await measureDrain(ctx, ecsClient, invoker, family, minutes));
    }
  } finally {
    await invoker.stop();
  }
  return steps;
}

async function measureDrain(
  ctx: LifecycleContext, ecsClient: ECSClient, invoker: ReturnType<typeof startInvoker>, family: string, minutes: number,
): Promise<LifecycleStep> {
  const { Instances } = await ctx.aws.ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
  const instanceId = Instances![0].InstanceId!;
  const document = JSON.stringify({ instanceId, region: EMULATOR_REGION, availabilityZone: `${EMULATOR_REGION}a`, accountId: EMULATOR_ACCOUNT });
  const { containerInstance } = await ecsClient.send(new RegisterContainerInstanceCommand({ cluster: CLUSTER, instanceIdentityDocument: document }));
  const containerInstanceArn = containerInstance!.containerInstanceArn!;
  const started = await ecsClient.send(new StartTaskCommand({
    cluster: CLUSTER, taskDefinition: family, containerInstances: Array(TASKS).fill(containerInstanceArn), group: 'service:web',
  }));
  const taskArns = (started.tasks ?? []).map((t) => t.taskArn!);
  const token = randomUUID();
  await registerLifecycleAction(ctx, instanceId, token);

  const total = minutes * 60;
  const checks = total / POLL_SECONDS;
  // Task i stops before check stopAt[i]; the last before the final check.
  const stopAt = taskArns.map((_, i) => Math.ceil(((i + 1) * (checks - 1)) / TASKS));
  const realNow = () => Date.now();
  const at = (simulatedSeconds: number, simulatedHeartbeat: number): Pick<Drain, 'startedAt' | 'heartbeatAt'> => ({
    startedAt: new Date(realNow() - simulatedSeconds * 1000).toISOString(),
    heartbeatAt: new Date(realNow() - (simulatedSeconds - simulatedHeartbeat) * 1000).toISOString(),
  });
  let drain: Drain = {
    kind: 'lifecycle',
    instanceId,
    autoScalingGroupName: GROUP,
    lifecycleHookName: HOOK,
    lifecycleActionToken: token,
    ...at(0, 0),
    executionName: `${instanceId}-${token}`,
    generation: 0,
    checks: 0,
    stoppedTasks: 0,
    next: 'WAIT',
    waitSeconds: 0,
  };
  ctx.reset();
  const durations: number[] = [];
  let heartbeat = 0;
  const run = async (step: string, simulated: number) => {
    const sent = { ...drain, ...at(simulated, heartbeat) };
    const outcome = await invoker.invoke({ step, drain: sent });
    if (!outcome.ok) throw new Error(`EcsInstanceDrainer ${step} at ${simulated} s: ${outcome.message}`);
    durations.push(Math.ceil(outcome.durationMs));
    const next = outcome.result as Drain;
    // A heartbeat moves the hook's timer to the check's (real) time: in simulated time, to `simulated`.
    if (next.heartbeatAt !== sent.heartbeatAt) heartbeat = simulated;
    drain = next;
  };
  let invocations = 0;
  await run('begin', 0);
  invocations++;
  const minimum: Record<string, number> = {
    'ecs:ListContainerInstances': 1,
    'ecs:DescribeContainerInstances': 1,
    'ecs:UpdateContainerInstancesState': 1,
    'ecs:ListTasks': 1,
    'ecs:DescribeTasks': 1,
  };
  const add = (op: string, n: number) => { if (n > 0) minimum[op] = (minimum[op] ?? 0) + n; };
  let expectedHeartbeatAt = 0;
  for (let k = 1; drain.next === 'WAIT'; k++) {
    if (k > checks + 5) throw new Error(`EcsInstanceDrainer: the ${minutes}-minute drain did not end after ${k - 1} checks`);
    const due = taskArns.filter((_, i) => stopAt[i] === k);
    for (const task of due) await ecsClient.send(new StopTaskCommand({ cluster: CLUSTER, task, reason: 'bench: drained' }));
    const remaining = taskArns.filter((_, i) => stopAt[i] > k).length;
    const simulated = k * POLL_SECONDS;
    add('ecs:ListTasks', Math.max(1, Math.ceil(remaining / PAGE)));
    add('ecs:DescribeTasks', Math.ceil(remaining / PAGE));
    if (remaining > 0 && POLL_SECONDS + CHECK_SLACK_SECONDS >= HEARTBEAT_SECONDS - (simulated - expectedHeartbeatAt)) {
      add('autoscaling:RecordLifecycleActionHeartbeat', 1);
      expectedHeartbeatAt = simulated;
    }
    await run('check', simulated);
    invocations++;
  }
  add('autoscaling:CompleteLifecycleAction', 1);
  const calls = ctx.counts();
  // Tasks a later drain must not see.
  const left = await ecsClient.send(new ListTasksCommand({
    cluster: CLUSTER, containerInstance: containerInstanceArn, desiredStatus: DesiredStatus.RUNNING,
  }));
  if ((left.taskArns ?? []).length > 0) throw new Error(`EcsInstanceDrainer: ${left.taskArns!.length} tasks still running after the drain`);
  const checkDurations = durations.slice(1).sort((a, b) => a - b);
  const median = checkDurations[Math.floor(checkDurations.length / 2)];
  const transitions = 4 + 3 * (invocations - 1);
  ctx.log(`  EcsInstanceDrainer: ${minutes}-minute drain: ${invocations - 1} checks, ${Object.values(calls).reduce((a, b) => a + b, 0)} requests`);
  return {
    operation: `drain of ${minutes} min: ${invocations - 1} checks, ${transitions.toLocaleString('en-US')} state transitions, median ${median} ms billed per check`,
    invocations,
    calls,
    minimum,
  };
}

/** An open lifecycle action in moto (launcher patch 14), as Auto Scaling opens one when it starts terminating the instance. */
async function registerLifecycleAction(ctx: LifecycleContext, instanceId: string, token: string): Promise<void> {
  await motoApi(ctx, '/moto-api/fixtures/lifecycle-actions', {
    AutoScalingGroupName: GROUP,
    LifecycleHookName: HOOK,
    InstanceId: instanceId,
    LifecycleActionToken: token,
    HeartbeatTimeout: HEARTBEAT_SECONDS,
    DefaultResult: 'CONTINUE',
  });
}

async function motoApi(ctx: LifecycleContext, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${ctx.motoEndpoint}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${path} failed: ${response.status} ${await response.text()}`);
}
