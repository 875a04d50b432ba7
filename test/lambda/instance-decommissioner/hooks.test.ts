import { InvokeCommand, InvokeCommandInput, InvokeCommandOutput, LambdaClient, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { DecommissionDetail } from '../../../lambda/instance-decommissioner/announce';
import { ERROR_TEXT_MAX, hookPayload, invokeHooks, PAYLOAD_MAX_BYTES } from '../../../lambda/instance-decommissioner/hooks';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';

const lambdaMock = mockClient(LambdaClient);
const lambda = new LambdaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const noWait = { sleep: async () => undefined };

const HOOK_A = 'arn:aws:lambda:eu-west-1:111122223333:function:chef-node-delete';
const HOOK_B = 'arn:aws:lambda:eu-west-1:111122223333:function:consul-deregister';
const HOOK_C = 'arn:aws:lambda:eu-west-1:111122223333:function:cmdb-retire';
const ID = 'i-0aaaaaaaaaaaaaaa1';

function snapshotOf(instanceId: string, overrides: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return {
    instanceId,
    privateIp: '10.0.1.23',
    privateIps: ['10.0.1.23'],
    publicIps: ['54.12.0.9'],
    ipv6s: [],
    privateDnsName: 'ip-10-0-1-23.eu-west-1.compute.internal',
    tags: { Name: 'web-1', Team: 'platform' },
    autoScalingGroupName: 'web',
    availabilityZone: 'eu-west-1a',
    vpcId: 'vpc-0123',
    launchTime: '2024-05-01T09:00:00.000Z',
    recordNames: ['web-1.internal.example.com'],
    ...overrides,
  };
}

function detail(instanceId: string, overrides: Partial<DecommissionDetail> = {}): DecommissionDetail {
  return {
    instanceId,
    state: 'terminated',
    snapshot: snapshotOf(instanceId),
    snapshotSource: 'table',
    dryRun: false,
    cleaned: {
      records: [{ zoneId: 'Z0123', name: 'web-1.internal.example.com', type: 'A', values: ['10.0.1.23'] }],
      keptRecords: [{ zoneId: 'Z0123', name: 'web.internal.example.com', type: 'A', reason: 'holds other addresses too' }],
      alarms: [`cpu-${instanceId}`],
    },
    ...overrides,
  };
}

/** A detail whose deleted records alone take about `kb` kilobytes of JSON. */
function bigDetail(instanceId: string, kb: number): DecommissionDetail {
  const base = detail(instanceId);
  const records = Array.from({ length: kb }, (_, i) => ({
    zoneId: 'Z0123', name: `r${i}.internal.example.com`, type: 'TXT', setIdentifier: `set-${i}`, values: ['x'.repeat(950)],
  }));
  return { ...base, cleaned: { ...base.cleaned, records } };
}

// The SDK hands back a Uint8Array with helper methods; the handler reads it as a plain Uint8Array.
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8')) as InvokeCommandOutput['Payload'];
const ok = { StatusCode: 200, Payload: bytes('null') };
const functionError = (errorType: string, errorMessage: string) => ({
  StatusCode: 200, FunctionError: 'Unhandled', Payload: bytes(JSON.stringify({ errorType, errorMessage, trace: [`${errorType}: ${errorMessage}`, '    at Runtime.handler (/var/task/index.js:3:9)'] })),
});
const throttled = () => new TooManyRequestsException({ $metadata: { httpStatusCode: 429 }, message: 'Rate Exceeded.', Reason: 'CallerRateLimitExceeded' });
function awsError(code: string, httpStatusCode: number, message = `${code} (test)`): Error {
  return Object.assign(new Error(message), { name: code, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}

const invocations = (): InvokeCommandInput[] => lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input);
const sentPayload = (input: InvokeCommandInput) => JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'));

beforeEach(() => {
  lambdaMock.reset();
  lambdaMock.on(InvokeCommand).resolves(ok);
});

test('each hook invoked synchronously, in order, with the event\'s source, detail-type and detail', async () => {
  const d = detail(ID);
  const outcome = await invokeHooks(lambda, [HOOK_A, HOOK_B], d, noWait);
  expect(outcome).toEqual({ results: [{ hook: HOOK_A, ok: true }, { hook: HOOK_B, ok: true }], failed: false, truncated: false });
  expect(invocations().map((i) => [i.FunctionName, i.InvocationType])).toEqual([[HOOK_A, 'RequestResponse'], [HOOK_B, 'RequestResponse']]);
  for (const input of invocations()) {
    expect(sentPayload(input)).toEqual({ source: 'cdk-fleet-janitor', detailType: 'Instance Decommissioned', detail: JSON.parse(JSON.stringify(d)) });
  }
  expect(hookPayload(d)).toEqual({ source: 'cdk-fleet-janitor', detailType: 'Instance Decommissioned', detail: d });
});

test('no hooks: no call, nothing failed', async () => {
  expect(await invokeHooks(lambda, [], detail(ID))).toEqual({ results: [], failed: false, truncated: false });
  expect(lambdaMock.calls()).toHaveLength(0);
});

test('a hook that throws (FunctionError): failed, named with its errorType and errorMessage; the next hook is still invoked', async () => {
  lambdaMock.on(InvokeCommand, { FunctionName: HOOK_A }).resolves(functionError('ChefApiError', 'node web-1 not found on chef.example.com'));
  const outcome = await invokeHooks(lambda, [HOOK_A, HOOK_B, HOOK_C], detail(ID), noWait);
  expect(outcome.failed).toBe(true);
  expect(outcome.results).toEqual([
    { hook: HOOK_A, ok: false, errorCode: 'ChefApiError', error: 'ChefApiError: node web-1 not found on chef.example.com' },
    { hook: HOOK_B, ok: true },
    { hook: HOOK_C, ok: true },
  ]);
  expect(invocations().map((i) => i.FunctionName)).toEqual([HOOK_A, HOOK_B, HOOK_C]);
});

test('a function error is not retried: SQS redelivers the whole message', async () => {
  lambdaMock.on(InvokeCommand).resolves(functionError('Error', 'boom'));
  await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
  expect(lambdaMock).toHaveReceivedCommandTimes(InvokeCommand, 1);
});

test('a long error message is cut to 300 characters', async () => {
  lambdaMock.on(InvokeCommand).resolves(functionError('Error', 'x'.repeat(5_000)));
  const { results } = await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
  expect(results[0].error).toHaveLength(ERROR_TEXT_MAX);
  expect(results[0].error).toMatch(/^Error: x+\.\.\.$/);
});

test.each([
  ['a timeout, as the runtime reports it', JSON.stringify({ errorMessage: '2024-05-01T10:00:03.000Z abc Task timed out after 3.00 seconds' }), 'Unhandled', 'Unhandled: 2024-05-01T10:00:03.000Z abc Task timed out after 3.00 seconds'],
  ['a payload that is not JSON', 'Segmentation fault', 'Unhandled', 'Unhandled: Segmentation fault'],
  ['JSON that is not an object', '"oops"', 'Unhandled', 'Unhandled: "oops"'],
  ['an object without a message', '{"errorType":"Weird"}', 'Unhandled', 'Unhandled: {"errorType":"Weird"}'],
  ['an empty payload', '', 'Unhandled', 'Unhandled'],
])('FunctionError with %s', async (_, payload, errorCode, error) => {
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: bytes(payload) });
  const { results, failed } = await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
  expect(failed).toBe(true);
  expect(results).toEqual([{ hook: HOOK_A, ok: false, errorCode, error }]);
});

test('FunctionError without a payload at all', async () => {
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled' });
  const { results } = await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
  expect(results).toEqual([{ hook: HOOK_A, ok: false, errorCode: 'Unhandled', error: 'Unhandled' }]);
});

test('the SDK throws (function gone, access denied): failed with the code and message; the other hooks still run', async () => {
  lambdaMock.on(InvokeCommand, { FunctionName: HOOK_A }).rejects(awsError('ResourceNotFoundException', 404, `Function not found: ${HOOK_A}`));
  lambdaMock.on(InvokeCommand, { FunctionName: HOOK_B }).rejects(awsError('AccessDeniedException', 403, 'not authorized to perform: lambda:InvokeFunction'));
  const outcome = await invokeHooks(lambda, [HOOK_A, HOOK_B, HOOK_C], detail(ID), noWait);
  expect(outcome.results).toEqual([
    { hook: HOOK_A, ok: false, errorCode: 'ResourceNotFoundException', error: `ResourceNotFoundException: Function not found: ${HOOK_A}` },
    { hook: HOOK_B, ok: false, errorCode: 'AccessDeniedException', error: 'AccessDeniedException: not authorized to perform: lambda:InvokeFunction' },
    { hook: HOOK_C, ok: true },
  ]);
  expect(outcome.failed).toBe(true);
  expect(lambdaMock).toHaveReceivedCommandTimes(InvokeCommand, 3);
});

test('TooManyRequestsException is retried, then the hook succeeds', async () => {
  lambdaMock.on(InvokeCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves(ok);
  const outcome = await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
  expect(outcome).toEqual({ results: [{ hook: HOOK_A, ok: true }], failed: false, truncated: false });
  expect(lambdaMock).toHaveReceivedCommandTimes(InvokeCommand, 3);
});

test('throttled through every attempt: the hook fails with TooManyRequestsException', async () => {
  lambdaMock.on(InvokeCommand).rejects(throttled());
  const outcome = await invokeHooks(lambda, [HOOK_A], detail(ID), { ...noWait, attempts: 3 });
  expect(lambdaMock).toHaveReceivedCommandTimes(InvokeCommand, 3);
  expect(outcome.results).toEqual([{ hook: HOOK_A, ok: false, errorCode: 'TooManyRequestsException', error: 'TooManyRequestsException: Rate Exceeded.' }]);
});

test('a payload over 256 KB: the deleted records cut to counts, marked truncated; the hook still runs', async () => {
  const big = bigDetail(ID, 300);
  const outcome = await invokeHooks(lambda, [HOOK_A], big, noWait);
  expect(outcome).toEqual({ results: [{ hook: HOOK_A, ok: true }], failed: false, truncated: true });
  const [input] = invocations();
  expect((input.Payload as Uint8Array).length).toBeLessThanOrEqual(PAYLOAD_MAX_BYTES);
  const sent = sentPayload(input);
  expect(sent.detail.truncated).toBe(true);
  expect(sent.detail.cleaned).toEqual({
    records: [], keptRecords: big.cleaned.keptRecords, alarms: big.cleaned.alarms, counts: { records: 300, keptRecords: 1, alarms: 1 },
  });
  expect(sent.detail.snapshot).toEqual(big.snapshot);
});

describe('invokeHooks: edges of a function error', () => {
  beforeEach(() => lambdaMock.reset());
  const failing = (payload: string) => ({ StatusCode: 200, FunctionError: 'Unhandled', Payload: Buffer.from(payload) as unknown as InvokeCommandOutput['Payload'] });

  test('no hooks: nothing to cut, even for a detail too large for a payload', async () => {
    const outcome = await invokeHooks(lambda, [], bigDetail(ID, 400), noWait);
    expect(outcome).toEqual({ results: [], failed: false, truncated: false });
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  test('a payload of JSON null is the kind of error with the raw text, not a crash of the handler', async () => {
    lambdaMock.on(InvokeCommand).resolves(failing('null'));
    const outcome = await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
    expect(outcome.results).toEqual([{ hook: HOOK_A, ok: false, errorCode: 'Unhandled', error: 'Unhandled: null' }]);
  });

  test('an empty errorType falls back to the kind of error', async () => {
    lambdaMock.on(InvokeCommand).resolves(failing(JSON.stringify({ errorType: '', errorMessage: 'node locked' })));
    const outcome = await invokeHooks(lambda, [HOOK_A], detail(ID), noWait);
    expect(outcome.results).toEqual([{ hook: HOOK_A, ok: false, errorCode: 'Unhandled', error: 'Unhandled: node locked' }]);
  });

  test(`an error text of exactly ${ERROR_TEXT_MAX} characters is kept whole; one more is cut`, async () => {
    const message = (length: number) => 'm'.repeat(length - 'Error: '.length);
    lambdaMock.on(InvokeCommand).resolvesOnce(failing(JSON.stringify({ errorType: 'Error', errorMessage: message(ERROR_TEXT_MAX) })))
      .resolvesOnce(failing(JSON.stringify({ errorType: 'Error', errorMessage: message(ERROR_TEXT_MAX + 1) })));
    const outcome = await invokeHooks(lambda, [HOOK_A, HOOK_B], detail(ID), noWait);
    expect(outcome.results[0].error).toBe(`Error: ${message(ERROR_TEXT_MAX)}`);
    expect(outcome.results[1].error).toHaveLength(ERROR_TEXT_MAX);
    expect(outcome.results[1].error!.endsWith('...')).toBe(true);
  });
});
