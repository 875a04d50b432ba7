/*
 * What the AmiManager emulator tests share: CloudFormation-shaped custom resource events, the CDK
 * provider framework's calling pattern (onEvent, then isComplete until it says so), two ways of
 * invoking the shipped bundle (a fresh process per call, or one long-lived runner), and readers for
 * the images and snapshots a resource owns in moto.
 */
import { randomUUID } from 'crypto';
import {
  DescribeImageAttributeCommand, DescribeImagesCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand, EC2Client, Image,
  RunInstancesCommand, Snapshot, Tag,
} from '@aws-sdk/client-ec2';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from './moto';
import { runBundle, shippedBundle } from './run-bundle';
import { startWarmRunner } from './warm-runner';
import { AmiManager, AmiManagerProps } from '../../src/ami-manager/ami-manager';
import { AMI_RESOURCE_TYPE, IS_COMPLETE_ALIAS, OWNERSHIP_TAGS } from '../../src/ami-manager/contract';

export const AMI_BUNDLE = shippedBundle('ami-manager');
export const FUNCTION_NAME = 'FleetJanitorAmiManager';
export const SERVICE_TOKEN = `arn:aws:lambda:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:function:FleetJanitorAmiManagerProviderframeworkonEvent`;
/** Fixture tag (removed by moto_launcher.py) that makes every image of the instance end `failed` with this reason. */
export const FIXTURE_AMI_FAILS = 'moto-fixture:ami-fails';

// ---- events ------------------------------------------------------------------------------------------

export type Properties = Record<string, unknown>;

export interface CfnEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ServiceToken: string;
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly ResourceType: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: Properties;
  readonly OldResourceProperties?: Properties;
}

export interface ResourceIdentity {
  readonly stackId: string;
  readonly logicalId: string;
}

export function newStackId(name: string): string {
  return `arn:aws:cloudformation:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:stack/${name}/${randomUUID()}`;
}

export function cfnEvent(
  who: ResourceIdentity, requestType: CfnEvent['RequestType'], properties: Properties,
  extra: { physicalResourceId?: string; oldProperties?: Properties; requestId?: string } = {},
): CfnEvent {
  const requestId = extra.requestId ?? randomUUID();
  return {
    RequestType: requestType,
    ServiceToken: SERVICE_TOKEN,
    ResponseURL: `https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/${encodeURIComponent(who.stackId)}%7C${who.logicalId}%7C${requestId}`,
    StackId: who.stackId,
    RequestId: requestId,
    LogicalResourceId: who.logicalId,
    ResourceType: AMI_RESOURCE_TYPE,
    ...(extra.physicalResourceId !== undefined ? { PhysicalResourceId: extra.physicalResourceId } : {}),
    // CloudFormation adds the service token to the properties it sends.
    ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...properties },
    ...(extra.oldProperties !== undefined ? { OldResourceProperties: { ServiceToken: SERVICE_TOKEN, ...extra.oldProperties } } : {}),
  };
}

// ---- the construct's properties ------------------------------------------------------------------------

/**
 * The custom resource's Properties as the AmiManager construct synthesizes them, resolved the way
 * CloudFormation would (the topic's Ref becomes `topicArn`; the service token is dropped: cfnEvent adds it).
 */
export function synthesizedProperties(props: Omit<AmiManagerProps, 'topic'>, topicArn: string, stackName = 'AmiStack'): Properties {
  const app = new App();
  const stack = new Stack(app, stackName, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  const topic = new sns.Topic(stack, 'Reports');
  new AmiManager(stack, 'Image', { ...props, topic });
  const template = Template.fromStack(stack).toJSON();
  const resources = Object.entries<any>(template.Resources).filter(([, r]) => r.Type === AMI_RESOURCE_TYPE);
  if (resources.length !== 1) throw new Error(`expected one ${AMI_RESOURCE_TYPE} in the template, found ${resources.length}`);
  const [, resource] = resources[0];
  const { ServiceToken: _token, ...properties } = resource.Properties as Properties;
  const topicId = Object.entries<any>(template.Resources).find(([, r]) => r.Type === 'AWS::SNS::Topic')![0];
  return resolveCfn(properties, { [topicId]: topicArn }) as Properties;
}

function resolveCfn(value: unknown, refs: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveCfn(v, refs));
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'Ref') {
      const target = (value as { Ref: string }).Ref;
      if (refs[target] === undefined) throw new Error(`no value for { Ref: ${target} }`);
      return refs[target];
    }
    if (keys.length === 1 && keys[0].startsWith('Fn::')) throw new Error(`cannot resolve ${JSON.stringify(value)} outside CloudFormation`);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveCfn(v, refs)]));
  }
  // CloudFormation delivers every scalar as a string.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return value;
}

export { Duration, RemovalPolicy };

// ---- invoking the bundle -------------------------------------------------------------------------------

export interface Invocation {
  readonly ok: boolean;
  readonly result?: any;
  readonly message?: string;
}

export interface Invoker {
  invoke(event: unknown, qualifier?: string): Promise<Invocation>;
  stop(): Promise<void>;
}

export function functionEnv(): Record<string, string> {
  return {
    AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    POWERTOOLS_SERVICE_NAME: 'AmiManager',
    TZ: 'UTC',
  };
}

/** One fresh node process per invocation (run-bundle.ts): the way a cold Lambda runs the shipped bundle. */
export function processPerCallInvoker(endpoint: string): Invoker {
  return {
    async invoke(event, qualifier) {
      const run = await runBundle({
        bundlePath: AMI_BUNDLE, env: functionEnv(), event, endpoint, functionName: FUNCTION_NAME, qualifier, timeoutSeconds: 120,
      });
      if (run.timedOut) throw new Error(`the handler timed out\nstderr:\n${run.stderr.slice(-4000)}`);
      return run.error ? { ok: false, message: run.error.message } : { ok: true, result: run.result };
    },
    async stop() {},
  };
}

/**
 * One long-lived `invoke-many.cjs --serve` process: a warm container, requests one at a time.
 * `delayScale` shortens the handler's timers (retry backoffs) by that factor.
 */
export function longLivedInvoker(endpoint: string, delayScale?: number): Invoker {
  const runner = startWarmRunner({ bundlePath: AMI_BUNDLE, env: functionEnv(), endpoint, delayScale });
  return {
    async invoke(event, qualifier) {
      const o = await runner.invoke(event, qualifier);
      return o.ok ? { ok: true, result: o.result } : { ok: false, message: o.message };
    },
    stop: () => runner.stop(),
  };
}

// ---- the provider framework ---------------------------------------------------------------------------

export interface Deployment {
  readonly ok: boolean;
  /** Which handler failed. */
  readonly failedIn?: 'onEvent' | 'isComplete';
  readonly message?: string;
  /** onEvent's PhysicalResourceId (also when isComplete failed afterwards). */
  readonly physicalResourceId?: string;
  /** isComplete's Data. */
  readonly data?: { ImageId: string; ImageName: string; SnapshotIds: string };
  readonly polls: number;
}

export const MAX_POLLS = 20;

/**
 * What the CDK provider framework (aws-cdk-lib custom-resources runtime/framework.js) does with one
 * CloudFormation request: onEvent with the response URL redacted, then isComplete (the alias) with
 * onEvent's result merged into the event, until IsComplete; an error in either fails the request
 * with its message. The Data returned to CloudFormation is onEvent's Data overlaid with isComplete's.
 */
export async function frameworkRequest(invoker: Invoker, event: CfnEvent): Promise<Deployment> {
  const sanitized = { ...event, ResponseURL: '...' };
  const first = await invoker.invoke(sanitized);
  if (!first.ok) return { ok: false, failedIn: 'onEvent', message: first.message, polls: 0 };
  const onEventResult = first.result ?? {};
  const physicalResourceId: string = onEventResult.PhysicalResourceId ?? event.PhysicalResourceId ?? event.RequestId;
  const completeEvent = { ...sanitized, ...onEventResult, PhysicalResourceId: physicalResourceId };
  for (let polls = 1; polls <= MAX_POLLS; polls++) {
    const poll = await invoker.invoke(completeEvent, IS_COMPLETE_ALIAS);
    if (!poll.ok) return { ok: false, failedIn: 'isComplete', message: poll.message, physicalResourceId, polls };
    if (poll.result?.IsComplete === true) {
      return { ok: true, physicalResourceId, data: { ...completeEvent.Data, ...poll.result.Data }, polls };
    }
    if (poll.result?.IsComplete !== false) throw new Error(`isComplete returned ${JSON.stringify(poll.result)}`);
    if (poll.result.Data && Object.keys(poll.result.Data).length > 0) {
      return { ok: false, failedIn: 'isComplete', message: '"Data" is not allowed if "IsComplete" is "False"', physicalResourceId, polls };
    }
  }
  return { ok: false, failedIn: 'isComplete', message: `still not complete after ${MAX_POLLS} polls`, physicalResourceId, polls: MAX_POLLS };
}

// ---- moto fixtures and readers ------------------------------------------------------------------------

export const VOLUMES = [
  { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, VolumeType: 'gp3' as const } },
  { DeviceName: '/dev/xvdb', Ebs: { VolumeSize: 20, VolumeType: 'gp3' as const } },
  { DeviceName: '/dev/xvdc', Ebs: { VolumeSize: 30, VolumeType: 'gp3' as const } },
];

/** A running instance with 3 EBS volumes; `failImagesWith` makes every image of it end `failed` with that reason. */
export async function launchInstance(ec2: EC2Client, failImagesWith?: string): Promise<string> {
  const ubuntu = await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] }));
  const tags: Tag[] = [{ Key: 'Name', Value: 'ami-source' }];
  if (failImagesWith) tags.push({ Key: FIXTURE_AMI_FAILS, Value: failImagesWith });
  const out = await ec2.send(new RunInstancesCommand({
    ImageId: ubuntu.Images![0].ImageId!,
    InstanceType: 't3.micro',
    MinCount: 1,
    MaxCount: 1,
    BlockDeviceMappings: VOLUMES,
    TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
  }));
  return out.Instances![0].InstanceId!;
}

export function tagsOf(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

/** Images carrying the stack-id tag (and the logical id, if given), whatever their state. */
export async function ownedImages(ec2: EC2Client, who: { stackId: string; logicalId?: string }): Promise<Image[]> {
  const filters = [{ Name: `tag:${OWNERSHIP_TAGS.stackId}`, Values: [who.stackId] }];
  if (who.logicalId) filters.push({ Name: `tag:${OWNERSHIP_TAGS.logicalId}`, Values: [who.logicalId] });
  const out = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: filters }));
  return out.Images ?? [];
}

export async function ownedSnapshots(ec2: EC2Client, who: { stackId: string; logicalId?: string }): Promise<Snapshot[]> {
  const filters = [{ Name: `tag:${OWNERSHIP_TAGS.stackId}`, Values: [who.stackId] }];
  if (who.logicalId) filters.push({ Name: `tag:${OWNERSHIP_TAGS.logicalId}`, Values: [who.logicalId] });
  const out = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters }));
  return out.Snapshots ?? [];
}

/** Snapshots CreateImage made for `imageId` (EC2's description), owned or not. */
export async function snapshotsOfImage(ec2: EC2Client, imageId: string): Promise<Snapshot[]> {
  const out = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'description', Values: [`* for ${imageId}`] }] }));
  return out.Snapshots ?? [];
}

export async function launchPermissions(ec2: EC2Client, imageId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
  return (out.LaunchPermissions ?? []).map((p) => p.UserId ?? `group:${p.Group}`).sort();
}

export async function createVolumePermissions(ec2: EC2Client, snapshotId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }));
  return (out.CreateVolumePermissions ?? []).map((p) => p.UserId ?? `group:${p.Group}`).sort();
}
