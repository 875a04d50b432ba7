/*
 * The PackerCleaner handler under aws-sdk-client-mock: a fresh module per environment, EC2 and SNS
 * mocked, the console captured. Shared by the handler tests and the handler/construct contract tests.
 */
import * as ec2Sdk from '@aws-sdk/client-ec2';
import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeInstancesCommandInput,
  EC2Client,
  Instance,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import * as snsSdk from '@aws-sdk/client-sns';
import { PublishCommand, PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { captureConsole, loadHandlerModule, restoreEnv } from '../helpers';
export { emfRecords, logLines } from '../helpers';

type HandlerModule = typeof import('../../../lambda/packer-cleaner/index');
export type Handler = HandlerModule['handler'];

export const ec2Mock = mockClient(EC2Client);
export const snsMock = mockClient(SNSClient);

export const TOPIC_ARN = 'arn:aws:sns:eu-west-1:111122223333:fleet-janitor';
export const HOUR = 3_600;
export const DAY = 86_400;
export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

export const BASE_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  TOPIC_ARN,
  ACTION: 'TERMINATE',
  MAX_AGE_SECONDS: String(2 * HOUR),
  KEY_NAME_PATTERNS: '["packer_*","packer *"]',
  DRY_RUN: 'false',
  MAX_ACTIONS_PER_RUN: '100000',
  // Logger and Metrics write through the global console in dev mode, where the tests capture them.
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_SERVICE_NAME: 'PackerCleaner',
  POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitorTest',
};

/**
 * Loads a fresh copy of the handler module (its config is read once per module load) with this
 * environment. The SDK modules are shared with this file so the mocks above intercept its clients.
 */
export function loadHandler(env: Record<string, string | undefined> = {}): Handler {
  return loadHandlerModule<HandlerModule>({
    modulePath: require.resolve('../../../lambda/packer-cleaner/index'),
    baseEnv: BASE_ENV,
    overrides: env,
    sdkModules: { '@aws-sdk/client-ec2': ec2Sdk, '@aws-sdk/client-sns': snsSdk },
  }).handler;
}

let counter = 0;
export const nextId = () => `i-${(++counter).toString(16).padStart(17, '0')}`;
export const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);
export const packerName = (createdAt: Date, sep = '_') =>
  `packer${sep}${Math.floor(createdAt.getTime() / 1000).toString(16).padStart(8, '0')}-${(counter++ % 0xffff).toString(16).padStart(4, '0')}-4c4d-8e6f-0123456789ab`;

export interface InstanceProps {
  readonly age?: number;
  readonly keyName?: string;
  readonly state?: string;
  readonly tags?: Record<string, string>;
  readonly groups?: string[];
  readonly reason?: string;
  readonly id?: string;
}

export function ec2Instance(props: InstanceProps = {}): Instance {
  const age = props.age ?? 3 * HOUR;
  return {
    InstanceId: props.id ?? nextId(),
    KeyName: 'keyName' in props ? props.keyName : packerName(ago(age)),
    State: { Name: (props.state ?? 'running') as ec2Sdk.InstanceStateName },
    LaunchTime: ago(age),
    StateTransitionReason: props.reason ?? '',
    Tags: Object.entries({ Name: 'Packer Builder', ...props.tags }).map(([Key, Value]) => ({ Key, Value })),
    SecurityGroups: (props.groups ?? []).map((GroupId) => ({ GroupId, GroupName: GroupId })),
  };
}

export const oldInstances = (n: number, props: InstanceProps = {}) => Array.from({ length: n }, () => ec2Instance({ age: DAY, ...props }));

/**
 * Serves DescribeInstances in pages of `pageSize` (two instances per reservation), chaining opaque
 * NextTokens. `faults` maps a 1-based request number to the error that request throws. Returns a
 * copy of every request as it was sent (the SDK paginator reuses and mutates one input object).
 */
export function serveInstances(instances: Instance[], pageSize = 1000, faults: Record<number, Error> = {}): DescribeInstancesCommandInput[] {
  const requests: DescribeInstancesCommandInput[] = [];
  ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
    requests.push(structuredClone(input));
    const fault = faults[requests.length];
    if (fault) throw fault;
    const page = input.NextToken ? Number(/^tok-(\d+)$/.exec(input.NextToken)![1]) : 0;
    const slice = instances.slice(page * pageSize, (page + 1) * pageSize);
    const Reservations = [];
    for (let i = 0; i < slice.length; i += 2) Reservations.push({ ReservationId: `r-${page}-${i}`, Instances: slice.slice(i, i + 2) });
    return { Reservations, NextToken: (page + 1) * pageSize < instances.length ? `tok-${page + 1}` : undefined };
  });
  return requests;
}

export const idsOf = (instances: Instance[]) => instances.map((i) => i.InstanceId!);
export const terminatedIds = () => ec2Mock.commandCalls(TerminateInstancesCommand).flatMap((c) => c.args[0].input.InstanceIds ?? []);
export const stoppedIds = () => ec2Mock.commandCalls(StopInstancesCommand).flatMap((c) => c.args[0].input.InstanceIds ?? []);

export function publishedReport(): PublishCommandInput {
  const calls = snsMock.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0].args[0].input;
}

export function expectNoChanges(): void {
  expect(ec2Mock).not.toHaveReceivedCommand(StopInstancesCommand);
  expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
  expect(ec2Mock).not.toHaveReceivedCommand(DeleteSecurityGroupCommand);
}

export function expectNoCallsAtAll(): void {
  expect(ec2Mock.calls()).toHaveLength(0);
  expect(snsMock.calls()).toHaveLength(0);
}

/** Resets the mocks before each test, captures the console, and restores the environment after. */
export function installHandlerHarness(): void {
  captureConsole();
  beforeEach(() => {
    ec2Mock.reset();
    snsMock.reset();
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
  });

  afterEach(() => {
    restoreEnv();
  });
}

