/**
 * moto_launcher.py patches 13 and 14, the emulator pieces the EcsInstanceDrainer's tests stand on.
 *
 * 13: a Lambda function tagged `moto-fixture:bundle` runs its bundle in a fresh node process (through
 * invoke-handler.cjs), called directly with the SDK and from moto's own Step Functions interpreter: a
 * STANDARD state machine with a `lambda:invoke` Task (Payload from the state input, ResultSelector), a
 * one-second Wait and a Choice looping until n >= 3, with a Retry on States.TaskFailed; and the plain
 * function-ARN resource form.
 * 14: CompleteLifecycleAction / RecordLifecycleActionHeartbeat against lifecycle actions the test
 * registers with the launcher's fixture endpoint.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AutoScalingClient, CompleteLifecycleActionCommand, RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateStateMachineCommand, DescribeExecutionCommand, DescribeExecutionOutput, ExecutionStatus, GetExecutionHistoryCommand, SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { createRole } from './instance-decommissioner-harness';
import { EMULATOR_ACCOUNT, EMULATOR_REGION, MotoServer, startMoto } from './moto';

jest.setTimeout(120_000);

const BUNDLE_TAG = 'moto-fixture:bundle';
const FUNCTION_NAME = 'launcher-sfn-bundle';

/** The tiny bundle: `{ seen: event, n: event.n + 1 }`, a throw when event.fail, one throw when event.failOnce. */
const BUNDLE_SOURCE = `'use strict';
const fs = require('fs');
exports.handler = async (event, context) => {
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  if (event.fail) throw new TypeError('asked to fail at n=' + event.n);
  if (event.failOnce && !fs.existsSync(process.env.MARKER)) {
    fs.writeFileSync(process.env.MARKER, 'failed once');
    throw new Error('first attempt fails');
  }
  if (event.echoEnv) {
    const answer = await fetch(process.env.AWS_ENDPOINT_URL + '/moto-api/');
    return {
      seen: event,
      n: event.n + 1,
      env: {
        GREETING: process.env.GREETING,
        AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME,
        AWS_REGION: process.env.AWS_REGION,
        AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL,
        AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
      },
      endpointAnswered: answer.ok,
      remainingMs: context.getRemainingTimeInMillis(),
    };
  }
  return { seen: event, n: event.n + 1 };
};
`;

let moto: MotoServer;
let tmp: string;
let marker: string;
let functionArn: string;
let roleArn: string;
let lambdaClient: LambdaClient;
let sfn: SFNClient;
let autoscaling: AutoScalingClient;

beforeAll(async () => {
  moto = await startMoto();
  const config = {
    endpoint: moto.endpoint,
    region: EMULATOR_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' },
  };
  lambdaClient = new LambdaClient(config);
  sfn = new SFNClient(config);
  autoscaling = new AutoScalingClient(config);

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'launcher-sfn-'));
  marker = path.join(tmp, 'failed-once');
  const bundlePath = path.join(tmp, 'index.js');
  fs.writeFileSync(bundlePath, BUNDLE_SOURCE);

  roleArn = await createRole(moto.endpoint, 'launcher-sfn-role');
  const created = await lambdaClient.send(new CreateFunctionCommand({
    FunctionName: FUNCTION_NAME,
    Runtime: 'nodejs20.x',
    Role: roleArn,
    Handler: 'index.handler',
    Timeout: 10,
    Code: { ZipFile: Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]) },
    Environment: { Variables: { GREETING: 'hello', MARKER: marker } },
    Tags: { [BUNDLE_TAG]: bundlePath },
  }));
  functionArn = created.FunctionArn!;

  const enabled = await fetch(`${moto.endpoint}/moto-api/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ stepfunctions: { execute_state_machine: true } }),
  });
  expect(enabled.status).toBe(201);
}, 300_000);

afterAll(async () => {
  lambdaClient?.destroy();
  sfn?.destroy();
  autoscaling?.destroy();
  await moto?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface BundleInvocation {
  FunctionArn: string;
  FunctionName: string;
  InvocationType: string;
  Payload: any;
  Result: any;
  Error: { errorType: string; errorMessage: string; trace: string[] } | null;
  FunctionError: string | null;
  TimedOut: boolean;
  StartTime: number;
  EndTime: number | null;
}

async function bundleInvocations(): Promise<BundleInvocation[]> {
  const response = await fetch(`${moto.endpoint}/moto-api/fixtures/bundle-invocations`);
  expect(response.status).toBe(200);
  return (await response.json() as { Invocations: BundleInvocation[] }).Invocations;
}

async function invoke(payload: unknown) {
  const out = await lambdaClient.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, Payload: JSON.stringify(payload) }));
  return { ...out, payload: JSON.parse(Buffer.from(out.Payload!).toString('utf8')) };
}

async function runExecution(definition: object, name: string, input: object): Promise<{ execution: DescribeExecutionOutput; ms: number }> {
  const { stateMachineArn } = await sfn.send(new CreateStateMachineCommand({
    name, roleArn, type: 'STANDARD', definition: JSON.stringify(definition),
  }));
  const started = Date.now();
  const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }));
  const deadline = started + 60_000;
  while (true) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== ExecutionStatus.RUNNING) return { execution, ms: Date.now() - started };
    if (Date.now() > deadline) throw new Error(`${name} still RUNNING after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The drainer's loop in miniature: invoke, keep n, wait a second, until n >= 3. */
function loopDefinition(retry: boolean): object {
  return {
    StartAt: 'Invoke',
    States: {
      'Invoke': {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { 'FunctionName': functionArn, 'Payload.$': '$' },
        ResultSelector: { 'n.$': '$.Payload.n' },
        ...(retry ? { Retry: [{ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 1 }] } : {}),
        Next: 'Done?',
      },
      'Done?': {
        Type: 'Choice',
        Choices: [{ Variable: '$.n', NumericGreaterThanEquals: 3, Next: 'Drained' }],
        Default: 'Pause',
      },
      'Pause': { Type: 'Wait', Seconds: 1, Next: 'Invoke' },
      'Drained': { Type: 'Succeed' },
    },
  };
}

describe('patch 13: bundle-backed Lambda functions', () => {
  test('Invoke runs the bundle in node with the function environment and returns its result', async () => {
    const before = (await bundleInvocations()).length;
    const ok = await invoke({ n: 1, echoEnv: true });
    expect(ok.StatusCode).toBe(200);
    expect(ok.FunctionError).toBeUndefined();
    expect(ok.ExecutedVersion).toBe('$LATEST');
    expect(ok.payload).toMatchObject({
      seen: { n: 1, echoEnv: true },
      n: 2,
      env: {
        GREETING: 'hello',
        AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
        AWS_REGION: EMULATOR_REGION,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
      },
      endpointAnswered: true,
    });
    expect(ok.payload.remainingMs).toBeGreaterThan(5_000); // counts down from the function's Timeout (10 s)
    expect(ok.payload.remainingMs).toBeLessThanOrEqual(10_000);

    const plain = await invoke({ n: 41 });
    expect(plain.payload).toEqual({ seen: { n: 41 }, n: 42 });

    const recorded = (await bundleInvocations()).slice(before);
    expect(recorded).toHaveLength(2);
    expect(recorded[1]).toMatchObject({
      FunctionArn: functionArn,
      FunctionName: FUNCTION_NAME,
      InvocationType: 'RequestResponse',
      Payload: { n: 41 },
      Result: { seen: { n: 41 }, n: 42 },
      Error: null,
      FunctionError: null,
      TimedOut: false,
    });
    expect(recorded[1].EndTime!).toBeGreaterThanOrEqual(recorded[1].StartTime);
  });

  test('a thrown error comes back as the Node.js runtime reports it (Unhandled)', async () => {
    const failed = await invoke({ n: 7, fail: true });
    expect(failed.StatusCode).toBe(200);
    expect(failed.FunctionError).toBe('Unhandled');
    expect(failed.payload).toEqual({
      errorType: 'TypeError',
      errorMessage: 'asked to fail at n=7',
      trace: expect.arrayContaining([expect.stringMatching(/^TypeError: asked to fail at n=7/)]),
    });
    const last = (await bundleInvocations()).pop()!;
    expect(last).toMatchObject({ Payload: { n: 7, fail: true }, Result: null, FunctionError: 'Unhandled', Error: failed.payload });
  });

  test('a handler still running at the function\'s Timeout is killed and reported as Lambda does', async () => {
    await lambdaClient.send(new CreateFunctionCommand({
      FunctionName: 'launcher-sfn-slow',
      Runtime: 'nodejs20.x',
      Role: roleArn,
      Handler: 'index.handler',
      Timeout: 1,
      Code: { ZipFile: Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]) },
      Tags: { [BUNDLE_TAG]: path.join(tmp, 'index.js') },
    }));
    const started = Date.now();
    const out = await lambdaClient.send(new InvokeCommand({ FunctionName: 'launcher-sfn-slow', Payload: JSON.stringify({ n: 0, sleepMs: 10_000 }) }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(out.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(out.Payload!).toString('utf8'))).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: expect.stringMatching(/^RequestId: \S+ Error: Task timed out after 1\.00 seconds$/),
    });
    expect((await bundleInvocations()).pop()).toMatchObject({ FunctionName: 'launcher-sfn-slow', TimedOut: true, FunctionError: 'Unhandled' });
  });

  test('moto\'s Step Functions interpreter runs the bundle: lambda:invoke Task, Wait, Choice loop', async () => {
    const before = (await bundleInvocations()).length;
    const { execution, ms } = await runExecution(loopDefinition(false), 'launcher-sfn-loop', { n: 0 });
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toEqual({ n: 3 });
    expect(ms).toBeGreaterThanOrEqual(2_000); // two one-second waits

    const recorded = (await bundleInvocations()).slice(before);
    expect(recorded.map((i) => i.Payload)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(recorded.map((i) => i.Result.n)).toEqual([1, 2, 3]);
    // The interpreter's client (access key "ak") lands in the account the function lives in.
    expect(recorded.every((i) => i.FunctionArn === `arn:aws:lambda:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:function:${FUNCTION_NAME}`)).toBe(true);
    // The waits really happened between the invocations.
    expect(recorded[1].StartTime - recorded[0].EndTime!).toBeGreaterThanOrEqual(0.9);
    expect(recorded[2].StartTime - recorded[1].EndTime!).toBeGreaterThanOrEqual(0.9);

    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn: execution.executionArn }));
    const types = history.events!.map((e) => e.type);
    expect(types.filter((t) => t === 'WaitStateEntered')).toHaveLength(2);
    expect(types.filter((t) => t === 'TaskSucceeded')).toHaveLength(3);
  });

  test('a Retry on States.TaskFailed recovers from one failure; without recovery the execution fails', async () => {
    fs.rmSync(marker, { force: true });
    const before = (await bundleInvocations()).length;
    const { execution } = await runExecution(loopDefinition(true), 'launcher-sfn-retry', { n: 0, failOnce: true });
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toEqual({ n: 3 });
    const recorded = (await bundleInvocations()).slice(before);
    expect(recorded.map((i) => i.FunctionError)).toEqual(['Unhandled', null, null, null]);
    expect(recorded[0].Error).toMatchObject({ errorType: 'Error', errorMessage: 'first attempt fails' });
    expect(recorded[1].StartTime - recorded[0].EndTime!).toBeGreaterThanOrEqual(0.9); // IntervalSeconds: 1

    const always = await runExecution(loopDefinition(true), 'launcher-sfn-always-fails', { n: 5, fail: true });
    expect(always.execution.status).toBe('FAILED');
    expect(always.execution.error).toBe('TypeError');
    expect(JSON.parse(always.execution.cause!)).toMatchObject({ errorType: 'TypeError', errorMessage: 'asked to fail at n=5' });
    const attempts = (await bundleInvocations()).filter((i) => i.Payload.n === 5 && i.Payload.fail);
    expect(attempts).toHaveLength(3); // the first try and MaxAttempts 2 retries
  });

  test('the plain function-ARN resource form passes the state input and returns the handler result', async () => {
    const { execution } = await runExecution({
      StartAt: 'Invoke',
      States: { Invoke: { Type: 'Task', Resource: functionArn, End: true } },
    }, 'launcher-sfn-plain-arn', { n: 10 });
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toEqual({ seen: { n: 10 }, n: 11 });
  });
});

describe('patch 14: Auto Scaling lifecycle actions', () => {
  const GROUP = 'ecs-asg';
  const HOOK = 'drain-hook';

  interface LifecycleActionRecord {
    AutoScalingGroupName: string;
    LifecycleHookName: string;
    InstanceId: string;
    LifecycleActionToken: string;
    Heartbeats: number[];
    Completion: { Result: string; At: number } | null;
    Expired: { At: number; Result: string } | null;
  }

  async function registerAction(action: Record<string, unknown>): Promise<LifecycleActionRecord> {
    const response = await fetch(`${moto.endpoint}/moto-api/fixtures/lifecycle-actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(action),
    });
    expect(response.status).toBe(201);
    return response.json() as Promise<LifecycleActionRecord>;
  }

  async function lifecycleActions(): Promise<LifecycleActionRecord[]> {
    const response = await fetch(`${moto.endpoint}/moto-api/fixtures/lifecycle-actions`);
    expect(response.status).toBe(200);
    return (await response.json() as { LifecycleActions: LifecycleActionRecord[] }).LifecycleActions;
  }

  const noActiveAction = (what: string) => expect.objectContaining({
    name: 'ValidationError',
    message: `No active Lifecycle Action found with ${what}`,
    $metadata: expect.objectContaining({ httpStatusCode: 400 }),
  });

  test('heartbeat then CONTINUE closes the action; a second completion and an unknown token are refused', async () => {
    const token = 'b6f0d3c2-1111-4222-8333-944455556666';
    const t0 = Date.now() / 1000;
    await registerAction({ AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, InstanceId: 'i-0123456789abcdef0', LifecycleActionToken: token });

    await autoscaling.send(new RecordLifecycleActionHeartbeatCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, LifecycleActionToken: token,
    }));
    await autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, LifecycleActionToken: token, LifecycleActionResult: 'CONTINUE',
    }));

    await expect(autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, LifecycleActionToken: token, LifecycleActionResult: 'CONTINUE',
    }))).rejects.toEqual(noActiveAction(`token ${token}`));
    await expect(autoscaling.send(new RecordLifecycleActionHeartbeatCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, LifecycleActionToken: token,
    }))).rejects.toEqual(noActiveAction(`token ${token}`));
    const unknown = '00000000-0000-4000-8000-000000000000';
    await expect(autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, LifecycleActionToken: unknown, LifecycleActionResult: 'ABANDON',
    }))).rejects.toEqual(noActiveAction(`token ${unknown}`));

    const record = (await lifecycleActions()).find((a) => a.LifecycleActionToken === token)!;
    expect(record).toMatchObject({
      AutoScalingGroupName: GROUP,
      LifecycleHookName: HOOK,
      InstanceId: 'i-0123456789abcdef0',
      Completion: { Result: 'CONTINUE' },
      Expired: null,
    });
    expect(record.Heartbeats).toHaveLength(1);
    expect(record.Heartbeats[0]).toBeGreaterThanOrEqual(t0 - 1);
    expect(record.Completion!.At).toBeGreaterThanOrEqual(record.Heartbeats[0]);
  });

  test('found by instance id without a token; group and hook must match; only CONTINUE or ABANDON', async () => {
    const instanceId = 'i-0fedcba9876543210';
    const { LifecycleActionToken: token } = await registerAction({ AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, InstanceId: instanceId });
    expect(token).toMatch(/^[0-9a-f-]{36}$/);

    await expect(autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: 'other-hook', LifecycleActionToken: token, LifecycleActionResult: 'CONTINUE',
    }))).rejects.toEqual(noActiveAction(`token ${token}`));
    await expect(autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: 'other-group', LifecycleHookName: HOOK, InstanceId: instanceId, LifecycleActionResult: 'CONTINUE',
    }))).rejects.toEqual(noActiveAction(`instance ID ${instanceId}`));
    await expect(autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, InstanceId: instanceId, LifecycleActionResult: 'MAYBE',
    }))).rejects.toMatchObject({ name: 'ValidationError' });

    await autoscaling.send(new RecordLifecycleActionHeartbeatCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, InstanceId: instanceId,
    }));
    await autoscaling.send(new CompleteLifecycleActionCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: HOOK, InstanceId: instanceId, LifecycleActionResult: 'ABANDON',
    }));
    const record = (await lifecycleActions()).find((a) => a.LifecycleActionToken === token)!;
    expect(record.Completion!.Result).toBe('ABANDON');
    expect(record.Heartbeats).toHaveLength(1);
  });

  test('an action past its heartbeat timeout has expired with its default result', async () => {
    const token = 'c0ffee00-0000-4000-8000-000000000001';
    await registerAction({
      AutoScalingGroupName: GROUP,
      LifecycleHookName: 'short-hook',
      InstanceId: 'i-00000000000000001',
      LifecycleActionToken: token,
      HeartbeatTimeout: 1,
      DefaultResult: 'CONTINUE',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await expect(autoscaling.send(new RecordLifecycleActionHeartbeatCommand({
      AutoScalingGroupName: GROUP, LifecycleHookName: 'short-hook', LifecycleActionToken: token,
    }))).rejects.toEqual(noActiveAction(`token ${token}`));
    const record = (await lifecycleActions()).find((a) => a.LifecycleActionToken === token)!;
    expect(record.Completion).toBeNull();
    expect(record.Expired).toMatchObject({ Result: 'CONTINUE' });
  });
});
