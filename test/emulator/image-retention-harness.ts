/*
 * What the ImageRetention emulator tests share: the construct synthesized and its handler's environment
 * read out of the template, a fleet of ECR images in two accounts and of everything that runs them
 * (ECS services, tasks, task definitions, an EventBridge rule, a Scheduler schedule, a Lambda image
 * function, a consumer account's service), readers for the end state (images, task definition
 * states, the run's report rows and its notification), and a small front proxy for the fault tests.
 *
 * moto's gaps are filled in moto_launcher.py only (production code reaches moto through AWS_ENDPOINT_URL):
 * - patch 15: a moved tag leaves the old image untagged; BatchDeleteImage names deleted untagged images
 *   and refuses a child an image index still lists (ImageReferencedByManifestList);
 * - patch 16: push times in the past (`/moto-api/fixtures/ecr-images`), and a per-image deletion failure;
 * - patch 17: a task has one container per definition, each with the imageDigest ECS pulled;
 * - patch 18: UpdateService with a new revision adds a PRIMARY deployment, the old one stays ACTIVE;
 * - patch 19: a family named without revision means its latest ACTIVE revision;
 * - patch 20: a published Lambda version keeps its own ImageUri;
 * - patch 21: AssumeRole of a role tagged `moto-fixture:deny-assume-role` is refused (AccessDenied).
 * moto resolves a Lambda image function's ImageUri to the image's digest only with
 * MOTO_LAMBDA_STUB_ECR=false in its environment: `startRetentionMoto` sets it.
 */
import { createHash } from 'crypto';
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import {
  CreateRepositoryCommand, DescribeImagesCommand, ECRClient, ImageDetail, PutImageCommand, SetRepositoryPolicyCommand,
} from '@aws-sdk/client-ecr';
import {
  CreateClusterCommand, CreateServiceCommand, DeregisterTaskDefinitionCommand, DescribeTaskDefinitionCommand, ECSClient,
  RegisterContainerInstanceCommand, RegisterTaskDefinitionCommand, RunTaskCommand, StartTaskCommand, StopTaskCommand, UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateFunctionCommand, LambdaClient, PublishVersionCommand, UpdateFunctionCodeCommand } from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { createInstances, EmulatorClients, emulatorClients, Notification, TopicWithQueue } from './fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION, MotoServer, startMoto } from './moto';
import type { Row } from './notification';
import { BundleRun, DAY, runBundle, shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { ImageRetention, ImageRetentionProps, RetentionAction } from '../../src';

export const BUNDLE = shippedBundle('image-retention');
export const STACK_NAME = 'ImageRetentionEmulator';
export const FUNCTION_NAME = 'FleetJanitorImageRetention';
export const ACCOUNT = EMULATOR_ACCOUNT;
/** The account that pulls images of ACCOUNT's registry (the consumer). */
export const CONSUMER_ACCOUNT = '222222222222';
export const REGISTRY = `${ACCOUNT}.dkr.ecr.${EMULATOR_REGION}.amazonaws.com`;
export const READER_ROLE = `arn:aws:iam::${CONSUMER_ACCOUNT}:role/image-retention-reader`;
export const PROTECT = 'fleet-janitor:protect';
export const OPT_IN = { key: 'fleet-janitor:image-retention', value: 'enabled' } as const;
/** moto_launcher.py patch 21. */
export const DENY_ASSUME_ROLE_TAG = 'moto-fixture:deny-assume-role';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' };
/** Never let a hung bundle outlive the jest timeout. */
const BUNDLE_TIMEOUT_CAP_SECONDS = 90;

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  notarySignature: 'application/vnd.cncf.notary.signature',
  cosignConfig: 'application/vnd.oci.image.config.v1+json',
  cosignSignature: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const;

// ---- clients and moto ------------------------------------------------------------------------------

export interface RetentionClients extends EmulatorClients {
  readonly ecr: ECRClient;
  readonly ecs: ECSClient;
  readonly events: EventBridgeClient;
  readonly scheduler: SchedulerClient;
  readonly lambda: LambdaClient;
  readonly sts: STSClient;
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Clients of one account: ACCOUNT's with the default credentials, another's with credentials of a role in it. */
export function retentionClients(endpoint: string, credentials: Credentials = CREDENTIALS): RetentionClients {
  const config = { endpoint, region: EMULATOR_REGION, credentials };
  const base = emulatorClients(endpoint);
  return {
    ...base,
    ecr: new ECRClient(config),
    ecs: new ECSClient(config),
    events: new EventBridgeClient(config),
    scheduler: new SchedulerClient(config),
    lambda: new LambdaClient(config),
    sts: new STSClient(config),
  };
}

export function destroyClients(clients: RetentionClients | undefined): void {
  if (!clients) return;
  for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
}

/** moto with what these tests need of it: Lambda image functions resolved against its ECR (see the top of this file). */
export async function startRetentionMoto(): Promise<MotoServer> {
  // moto.ts hands this process's environment to moto; moto reads the setting at each CreateFunction.
  const previous = process.env.MOTO_LAMBDA_STUB_ECR;
  process.env.MOTO_LAMBDA_STUB_ECR = 'false';
  try {
    return await startMoto();
  } finally {
    if (previous === undefined) delete process.env.MOTO_LAMBDA_STUB_ECR;
    else process.env.MOTO_LAMBDA_STUB_ECR = previous;
  }
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
 * A fresh emulator: everything of the previous test gone, and ECS tasks that stay where they are. moto's
 * tasks move one state along (RUNNING, DEACTIVATING, ..., STOPPED) at each DescribeTasks that names them;
 * with the transition on "manual" a task runs until StopTask stops it.
 */
export async function resetEmulator(endpoint: string): Promise<void> {
  await motoApi(endpoint, '/moto-api/reset', {});
  await motoApi(endpoint, '/moto-api/state-manager/set-transition', {
    model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000 },
  });
}

/** moto_launcher.py patch 16: an image's push time, and (optionally) a failure BatchDeleteImage answers for it. */
export async function ecrImageFixture(endpoint: string, fixture: {
  readonly repositoryName: string;
  readonly digest: string;
  readonly pushedAt?: Date;
  readonly deleteFailure?: { readonly code: string; readonly reason: string } | null;
}): Promise<void> {
  await motoApi(endpoint, '/moto-api/fixtures/ecr-images', {
    RepositoryName: fixture.repositoryName,
    ImageDigest: fixture.digest,
    ...(fixture.pushedAt ? { ImagePushedAt: fixture.pushedAt.toISOString() } : {}),
    ...(fixture.deleteFailure !== undefined ? {
      DeleteFailure: fixture.deleteFailure && { FailureCode: fixture.deleteFailure.code, FailureReason: fixture.deleteFailure.reason },
    } : {}),
  });
}

/** IAM over the Query protocol (the repo has no IAM client); moto takes the account from the access key. */
export async function iamQuery(endpoint: string, credentials: Credentials, action: string, params: Record<string, string>): Promise<string> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      // moto reads the service, region and access key from the credential scope; the signature is not checked.
      'authorization': `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/20260101/${EMULATOR_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
      ...(credentials.sessionToken ? { 'x-amz-security-token': credentials.sessionToken } : {}),
    },
    body: new URLSearchParams({ Action: action, Version: '2010-05-08', ...params }).toString(),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`IAM ${action} failed: ${response.status} ${text}`);
  return text;
}

/** Credentials in another account: an administrator role there, assumed from ACCOUNT (what a person or a pipeline does). */
export async function assumeAccount(sts: STSClient, account: string): Promise<Credentials> {
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/fleet-admin`, RoleSessionName: 'fleet-builder' }));
  const c = out.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken };
}

/** The consumer's reader role refuses (or again allows) the janitor's AssumeRole: moto_launcher.py patch 21. */
export async function denyReaderRole(endpoint: string, consumer: Credentials, deny: boolean): Promise<void> {
  const roleName = READER_ROLE.slice(READER_ROLE.lastIndexOf('/') + 1);
  if (deny) await iamQuery(endpoint, consumer, 'TagRole', { 'RoleName': roleName, 'Tags.member.1.Key': DENY_ASSUME_ROLE_TAG, 'Tags.member.1.Value': 'true' });
  else await iamQuery(endpoint, consumer, 'UntagRole', { 'RoleName': roleName, 'TagKeys.member.1': DENY_ASSUME_ROLE_TAG });
}

// ---- the construct -----------------------------------------------------------------------------------

export interface Synthesized {
  readonly template: any;
  readonly env: Record<string, string>;
  readonly timeoutSeconds: number;
  /** What the construct's schedule sends the function (its Target.Input). */
  readonly event: unknown;
}

/** Synthesizes an ImageRetention (props built inside the stack, e.g. to import repositories) and reads its handler's environment. */
export function synthesizeRetention(props: (stack: Stack) => ImageRetentionProps, topicArn: string): Synthesized {
  const app = new App();
  const stack = new Stack(app, STACK_NAME, { env: { account: ACCOUNT, region: EMULATOR_REGION } });
  new ImageRetention(stack, 'Retention', props(stack));
  const template = Template.fromStack(stack).toJSON();
  const resources = Object.entries<any>(template.Resources);
  const handlers = resources.filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.ACTION);
  if (handlers.length !== 1) throw new Error(`expected one handler function, found ${handlers.map(([id]) => id).join(', ')}`);
  const [logicalId, fn] = handlers[0];
  const env = functionEnvironmentFromTemplate(template, {
    logicalIdPrefix: logicalId,
    resolveRefs: { 'AWS::SNS::Topic': topicArn, 'AWS::Partition': 'aws', 'AWS::Region': EMULATOR_REGION, 'AWS::AccountId': ACCOUNT },
  });
  const schedules = resources.filter(([, r]) => r.Type === 'AWS::Scheduler::Schedule');
  if (schedules.length !== 1) throw new Error(`expected one schedule, found ${schedules.length}`);
  const event = JSON.parse(schedules[0][1].Properties.Target.Input);
  return { template, env, timeoutSeconds: Number(fn.Properties.Timeout ?? 300), event };
}

/** Runs the shipped bundle once, as the schedule invokes it, against `endpoint` (moto or a proxy in front of it). */
export async function runRetention(synth: Synthesized, endpoint: string, event: unknown = synth.event): Promise<BundleRun> {
  return runBundle({
    bundlePath: BUNDLE,
    env: synth.env,
    event,
    endpoint,
    functionName: FUNCTION_NAME,
    timeoutSeconds: Math.min(synth.timeoutSeconds, BUNDLE_TIMEOUT_CAP_SECONDS),
  });
}

/** Runs the bundle and fails with its error and stderr if the handler threw. */
export async function runRetentionOk(synth: Synthesized, endpoint: string, event?: unknown): Promise<BundleRun> {
  const run = await runRetention(synth, endpoint, event);
  if (run.error) throw new Error(`the handler failed: ${run.error.message}\n${run.error.stack ?? ''}\nstderr:\n${run.stderr.slice(-4000)}`);
  return run;
}

// ---- manifests -------------------------------------------------------------------------------------

export function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** A Docker v2 image manifest with one config and two layers, all derived from `seed`. */
export function dockerManifest(seed: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.dockerConfig, size: 1_400 + seed.length, digest: sha256(`config:${seed}`) },
    layers: [
      { mediaType: MEDIA.dockerLayer, size: 29_000_000 + seed.length, digest: sha256(`base:${seed}`) },
      { mediaType: MEDIA.dockerLayer, size: 4_000_000 + seed.length, digest: sha256(`app:${seed}`) },
    ],
  });
}

/** An OCI image manifest (one platform of a multi-arch image). */
export function ociManifest(seed: string, architecture: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, size: 1_500 + seed.length, digest: sha256(`config:${seed}:${architecture}`) },
    layers: [{ mediaType: MEDIA.ociLayer, size: 30_000_000 + seed.length, digest: sha256(`layer:${seed}:${architecture}`) }],
  });
}

/** An OCI image index listing `children` (manifest text and platform), as `docker buildx --platform` pushes it. */
export function ociIndex(children: ReadonlyArray<{ manifest: string; architecture: string }>): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: children.map((c) => ({
      mediaType: MEDIA.ociManifest, size: Buffer.byteLength(c.manifest), digest: sha256(c.manifest), platform: { architecture: c.architecture, os: 'linux' },
    })),
  });
}

/** A Notary v2 signature pushed with OCI 1.1 referrers: an artifact manifest whose `subject` is the signed image. */
export function notarySignature(seed: string, subject: { manifest: string; mediaType: string }): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    artifactType: MEDIA.notarySignature,
    config: { mediaType: MEDIA.ociEmpty, size: 2, digest: sha256('{}') },
    layers: [{ mediaType: 'application/jose+json', size: 2_000 + seed.length, digest: sha256(`signature:${seed}`) }],
    subject: { mediaType: subject.mediaType, size: Buffer.byteLength(subject.manifest), digest: sha256(subject.manifest) },
    annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': `["${sha256(`cert:${seed}`).slice(7)}"]` },
  });
}

/** A cosign signature as cosign pushes it without OCI 1.1: a plain manifest, tagged `sha256-<hex>.sig` after its subject. */
export function cosignSignature(seed: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.cosignConfig, size: 233, digest: sha256(`cosign-config:${seed}`) },
    layers: [{
      mediaType: MEDIA.cosignSignature,
      size: 250,
      digest: sha256(`cosign:${seed}`),
      annotations: { 'dev.cosignproject.cosign/signature': Buffer.from(`signature of ${seed}`).toString('base64') },
    }],
  });
}

export function cosignTag(subjectDigest: string, suffix: 'sig' | 'att' | 'sbom' = 'sig'): string {
  return `${subjectDigest.replace(':', '-')}.${suffix}`;
}

// ---- the fleet -----------------------------------------------------------------------------------------

/** One image of the fleet: its fixture name, where it is, what it is, and how old. */
export interface FleetImage {
  readonly name: string;
  readonly repository: string;
  readonly digest: string;
  readonly manifest: string;
  readonly mediaType: string;
  /** Tags as pushed (a tag moved later is gone from the image it was pushed with). */
  readonly tags: readonly string[];
  readonly ageDays: number;
}

export interface Fleet {
  readonly now: number;
  /** Fixture name → image. */
  readonly images: ReadonlyMap<string, FleetImage>;
  /** `family:revision` → ARN, in ACCOUNT. */
  readonly taskDefinitions: ReadonlyMap<string, string>;
  /** The standalone task (batch:2) and the consumer's service. */
  readonly batchTaskArn: string;
  readonly consumer: Credentials;
  /** Repositories that exist in ACCOUNT. */
  readonly repositories: readonly string[];
}

/** The repositories the construct is configured with in the main test; `scratch` is out of scope. */
export const REPOSITORIES = ['web', 'worker', 'vault'] as const;
export const CLUSTER = 'prod';
export const CONSUMER_CLUSTER = 'storefront';

/**
 * The fleet of the emulator and fault tests, in two accounts. What each image is for (the tests state
 * what must become of it):
 *
 * `web` (its policy lets CONSUMER_ACCOUNT pull):
 * - old-tagged (build-101, 90 d), old-untagged (80 d), stopped-task (build-107, 100 d: only a STOPPED
 *   task and task definitions name it), with sig-of-old-tagged (a Notary signature whose subject is
 *   old-tagged) and cosign-of-old-untagged (`sha256-<hex>.sig`);
 * - multi-tag (release-1.0 matches keepTagPatterns, build-102 does not; 85 d) and sig-of-multi-tag;
 * - index-old (build-103, 70 d) with index-old-amd64 / -arm64: nothing uses them;
 * - index-live (build-104, 60 d) with index-live-amd64 / -arm64, run by the `web` service's PRIMARY
 *   deployment (web-svc:2), and cosign-of-index-live;
 * - rollback (build-106, 58 d): the `web` service's previous deployment (web-svc:1, still ACTIVE);
 * - consumer (build-105, 55 d): run only by CONSUMER_ACCOUNT's `api` service;
 * - moved-old (50 d) pushed as `v7`, pulled by the standalone task batch:2, then `v7` moved to
 *   moved-new (45 d): moved-old is untagged and only the task's imageDigest names it;
 * - young-3 / young-2 / young-1 (3, 2, 1 d; untagged).
 * `worker` (no policy: CONSUMER_ACCOUNT cannot pull):
 * - pinned-digest (100 d, untagged; pinnedImages by digest), pinned-tag (`stable`, 100 d; by tag);
 * - old-tagged (build-1, 120 d), old-untagged (110 d), report-2 (87 d: only the INACTIVE report:2 names it);
 * - idle (95 d: the `idle` service at desired 0), nightly (90 d: an EventBridge rule's ECS target,
 *   nightly:1), report-1 (88 d: a Scheduler schedule's target names the family `report`, whose latest
 *   ACTIVE revision is report:1);
 * - fn-1 (75 d) pushed as `fn`, the `reporter` function created from `worker:fn` and version 1
 *   published, then `fn` moved to fn-2 (65 d) and $LATEST updated to `worker:fn-next` = fn-3 (62 d);
 * - latest (`latest`, 200 d), young-2 / young-1.
 * `vault` (carries the protection tag): old-tagged (build-9, 150 d), old-untagged (140 d), young-2 / young-1.
 * `scratch` (not configured): old (300 d).
 * CONSUMER_ACCOUNT: the `api` service (web:build-105 of ACCOUNT's registry), and the `mirror` service whose
 * images are `web:build-101` of its own registry and `web:build-103` of ACCOUNT's registry in another region.
 *
 * Task definitions in ACCOUNT: web-svc:1,2; idle:1; nightly:1; report:1, report:2 (deregistered);
 * batch:1 (web:build-101, nothing runs it), batch:2 (the standalone task); oneoff:1 (its task stopped);
 * legacy-job:1 (carries the protection tag), legacy-job:2; old-job:1 (deregistered).
 */
export async function buildFleet(endpoint: string, aws: RetentionClients, now: number): Promise<Fleet> {
  const images = new Map<string, FleetImage>();
  const daysAgo = (days: number) => new Date(now - days * DAY);

  // ---- repositories ----
  for (const name of [...REPOSITORIES, 'scratch']) {
    await aws.ecr.send(new CreateRepositoryCommand({
      repositoryName: name,
      tags: name === 'vault' ? [{ Key: PROTECT, Value: 'true' }] : [{ Key: 'team', Value: 'platform' }],
    }));
  }
  await aws.ecr.send(new SetRepositoryPolicyCommand({
    repositoryName: 'web',
    policyText: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'ConsumerPull',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${CONSUMER_ACCOUNT}:root` },
        Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      }],
    }),
  }));

  const push = async (name: string, repository: string, manifest: string, mediaType: string, tags: readonly string[], ageDays: number) => {
    const digest = sha256(manifest);
    // One PutImage per tag (ECR's way to give a manifest several tags); an untagged image is one PutImage without.
    for (const imageTag of tags.length ? tags : [undefined]) {
      await aws.ecr.send(new PutImageCommand({
        repositoryName: repository, imageManifest: manifest, imageManifestMediaType: mediaType, imageDigest: digest, imageTag,
      }));
    }
    const image: FleetImage = { name, repository, digest, manifest, mediaType, tags, ageDays };
    images.set(`${repository}/${name}`, image);
    return image;
  };
  const image = (repository: string, name: string, tags: readonly string[], ageDays: number) =>
    push(name, repository, dockerManifest(`${repository}/${name}`), MEDIA.dockerManifest, tags, ageDays);
  const multiArch = async (repository: string, name: string, tags: readonly string[], ageDays: number) => {
    const children = [];
    for (const architecture of ['amd64', 'arm64']) {
      const manifest = ociManifest(`${repository}/${name}`, architecture);
      await push(`${name}-${architecture}`, repository, manifest, MEDIA.ociManifest, [], ageDays);
      children.push({ manifest, architecture });
    }
    return push(name, repository, ociIndex(children), MEDIA.ociIndex, tags, ageDays);
  };
  const notary = (repository: string, name: string, subject: FleetImage, ageDays: number) =>
    push(name, repository, notarySignature(`${repository}/${name}`, subject), MEDIA.ociManifest, [], ageDays);
  const cosign = (repository: string, name: string, subject: FleetImage, ageDays: number) =>
    push(name, repository, cosignSignature(`${repository}/${name}`), MEDIA.ociManifest, [cosignTag(subject.digest)], ageDays);

  // ---- web ----
  const oldTagged = await image('web', 'old-tagged', ['build-101'], 90);
  await notary('web', 'sig-of-old-tagged', oldTagged, 89);
  const oldUntagged = await image('web', 'old-untagged', [], 80);
  await cosign('web', 'cosign-of-old-untagged', oldUntagged, 79);
  await image('web', 'stopped-task', ['build-107'], 100);
  const multiTag = await image('web', 'multi-tag', ['release-1.0', 'build-102'], 85);
  await notary('web', 'sig-of-multi-tag', multiTag, 84);
  await multiArch('web', 'index-old', ['build-103'], 70);
  const indexLive = await multiArch('web', 'index-live', ['build-104'], 60);
  await cosign('web', 'cosign-of-index-live', indexLive, 59);
  await image('web', 'rollback', ['build-106'], 58);
  await image('web', 'consumer', ['build-105'], 55);
  await image('web', 'moved-old', ['v7'], 50);
  for (const [name, age] of [['young-3', 3], ['young-2', 2], ['young-1', 1]] as const) await image('web', name, [], age);

  // ---- worker ----
  await image('worker', 'pinned-digest', [], 100);
  await image('worker', 'pinned-tag', ['stable'], 100);
  await image('worker', 'old-tagged', ['build-1'], 120);
  await image('worker', 'old-untagged', [], 110);
  await image('worker', 'idle', ['idle'], 95);
  await image('worker', 'nightly', ['nightly'], 90);
  await image('worker', 'report-1', ['report-1'], 88);
  await image('worker', 'report-2', ['report-2'], 87);
  await image('worker', 'fn-1', ['fn'], 75);
  await image('worker', 'latest', ['latest'], 200);
  for (const [name, age] of [['young-2', 2], ['young-1', 1]] as const) await image('worker', name, [], age);

  // ---- vault and scratch ----
  await image('vault', 'old-tagged', ['build-9'], 150);
  await image('vault', 'old-untagged', [], 140);
  for (const [name, age] of [['young-2', 2], ['young-1', 1]] as const) await image('vault', name, [], age);
  await image('scratch', 'old', ['build-0'], 300);

  // ---- ECS in ACCOUNT ----
  const taskDefinitions = new Map<string, string>();
  const register = async (family: string, imageUris: readonly string[], tags: Record<string, string> = {}) => {
    const out = await aws.ecs.send(new RegisterTaskDefinitionCommand({
      family,
      containerDefinitions: imageUris.map((uri, i) => ({ name: i === 0 ? 'app' : `sidecar-${i}`, image: uri, memory: 128, essential: i === 0 })),
      ...(Object.keys(tags).length ? { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) } : {}),
    }));
    const td = out.taskDefinition!;
    taskDefinitions.set(`${td.family}:${td.revision}`, td.taskDefinitionArn!);
    return td.taskDefinitionArn!;
  };
  const uri = (repository: string, reference: string) => `${REGISTRY}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;

  const cluster = (await aws.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }))).cluster!.clusterArn!;
  const [node] = await createInstances(aws.ec2, [{ name: 'ecs-node', instanceType: 'm5.large' }]);
  const { containerInstance } = await aws.ecs.send(new RegisterContainerInstanceCommand({
    cluster: CLUSTER,
    instanceIdentityDocument: JSON.stringify({ instanceId: node.instanceId, region: EMULATOR_REGION, accountId: ACCOUNT, instanceType: 'm5.large' }),
    instanceIdentityDocumentSignature: 'signature',
  }));

  // The web service rolls from web-svc:1 (build-106) to web-svc:2 (build-104, multi-arch): both deployments listed.
  await register('web-svc', [uri('web', 'build-106')]);
  await register('web-svc', [uri('web', 'build-104')]);
  await aws.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'web-svc:1', desiredCount: 2 }));
  await aws.ecs.send(new UpdateServiceCommand({ cluster: CLUSTER, service: 'web', taskDefinition: 'web-svc:2' }));
  // Scaled to zero, still deployed.
  await register('idle', [uri('worker', 'idle')]);
  await aws.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'idle', taskDefinition: 'idle:1', desiredCount: 0 }));
  // Run by an EventBridge rule (by revision) and by a Scheduler schedule (by family: its latest ACTIVE revision).
  const nightly = await register('nightly', [uri('worker', 'nightly')]);
  await aws.events.send(new PutRuleCommand({ Name: 'nightly-batch', ScheduleExpression: 'cron(0 3 * * ? *)', State: 'ENABLED' }));
  await aws.events.send(new PutTargetsCommand({
    Rule: 'nightly-batch',
    Targets: [{ Id: 'ecs', Arn: cluster, RoleArn: `arn:aws:iam::${ACCOUNT}:role/events-run-task`, EcsParameters: { TaskDefinitionArn: nightly, TaskCount: 1, LaunchType: 'EC2' } }],
  }));
  await register('report', [uri('worker', 'report-1')]);
  const report2 = await register('report', [uri('worker', 'report-2')]);
  await aws.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: report2 }));
  const reportFamily = report2.slice(0, report2.lastIndexOf(':'));
  await aws.scheduler.send(new CreateScheduleCommand({
    Name: 'weekly-report',
    ScheduleExpression: 'rate(7 days)',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Target: { Arn: cluster, RoleArn: `arn:aws:iam::${ACCOUNT}:role/scheduler-run-task`, EcsParameters: { TaskDefinitionArn: reportFamily, TaskCount: 1, LaunchType: 'EC2' } },
  }));
  // A standalone task that pulled web:v7 (moved-old); then v7 moves to a new build (moved-new).
  await register('batch', [uri('web', 'build-101')]);
  await register('batch', [uri('web', 'v7'), 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable']);
  const started = await aws.ecs.send(new StartTaskCommand({
    cluster: CLUSTER, taskDefinition: 'batch:2', containerInstances: [containerInstance!.containerInstanceArn!], startedBy: 'nightly-import', group: 'family:batch',
  }));
  const batchTaskArn = started.tasks![0].taskArn!;
  await image('web', 'moved-new', ['v7'], 45);
  // A task that ran web:build-107 and stopped.
  await register('oneoff', [uri('web', 'build-107')]);
  const oneoff = await aws.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'oneoff:1', count: 1, startedBy: 'migration' }));
  await aws.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: oneoff.tasks![0].taskArn!, reason: 'Essential container in task exited' }));
  await register('legacy-job', [uri('worker', 'build-1')], { [PROTECT]: 'true' });
  await register('legacy-job', [uri('worker', 'build-1')]);
  const oldJob = await register('old-job', [uri('worker', 'build-1')]);
  await aws.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: oldJob }));

  // ---- Lambda: version 1 resolved `fn` to fn-1; then `fn` moved to fn-2 and $LATEST runs fn-next ----
  const role = await iamQuery(endpoint, CREDENTIALS, 'CreateRole', {
    RoleName: 'reporter-function',
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  });
  const roleArn = /<Arn>([^<]+)<\/Arn>/.exec(role)![1];
  await aws.lambda.send(new CreateFunctionCommand({ FunctionName: 'reporter', PackageType: 'Image', Code: { ImageUri: uri('worker', 'fn') }, Role: roleArn, Timeout: 60 }));
  await aws.lambda.send(new PublishVersionCommand({ FunctionName: 'reporter' }));
  await image('worker', 'fn-2', ['fn'], 65);
  await image('worker', 'fn-3', ['fn-next'], 62);
  await aws.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'reporter', ImageUri: uri('worker', 'fn-next') }));

  // ---- CONSUMER_ACCOUNT: its reader role, and a service that runs web:build-105 ----
  const consumer = await assumeAccount(aws.sts, CONSUMER_ACCOUNT);
  const other = retentionClients(endpoint, consumer);
  try {
    await iamQuery(endpoint, consumer, 'CreateRole', {
      RoleName: READER_ROLE.slice(READER_ROLE.lastIndexOf('/') + 1),
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }] }),
    });
    await other.ecs.send(new CreateClusterCommand({ clusterName: CONSUMER_CLUSTER }));
    await other.ecs.send(new RegisterTaskDefinitionCommand({ family: 'api', containerDefinitions: [{ name: 'api', image: uri('web', 'build-105'), memory: 256 }] }));
    await other.ecs.send(new CreateServiceCommand({ cluster: CONSUMER_CLUSTER, serviceName: 'api', taskDefinition: 'api:1', desiredCount: 3 }));
    // Same repository name and tags, other registries: the consumer's own, and ACCOUNT's in another region. Neither names an image here.
    await other.ecs.send(new RegisterTaskDefinitionCommand({
      family: 'mirror',
      containerDefinitions: [
        { name: 'own-registry', image: `${CONSUMER_ACCOUNT}.dkr.ecr.${EMULATOR_REGION}.amazonaws.com/web:build-101`, memory: 128 },
        { name: 'other-region', image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/web:build-103`, memory: 128 },
      ],
    }));
    await other.ecs.send(new CreateServiceCommand({ cluster: CONSUMER_CLUSTER, serviceName: 'mirror', taskDefinition: 'mirror:1', desiredCount: 1 }));
  } finally {
    destroyClients(other);
  }

  // ---- push times ----
  for (const fleetImage of images.values()) {
    await ecrImageFixture(endpoint, { repositoryName: fleetImage.repository, digest: fleetImage.digest, pushedAt: daysAgo(fleetImage.ageDays) });
  }
  return { now, images, taskDefinitions, batchTaskArn, consumer, repositories: [...REPOSITORIES, 'scratch'] };
}

/** The props of the main tests: DELETE, the consumer's role, task definitions on, the pinned images of `fleet`. */
export function fleetProps(fleet: Fleet, extra: Partial<ImageRetentionProps> = {}): (stack: Stack) => ImageRetentionProps {
  return (stack) => ({
    repositories: REPOSITORIES.map((name) => ecr.Repository.fromRepositoryName(stack, `Repo-${name}`, name)),
    keepNewest: 2,
    minAge: Duration.days(7),
    keepTagPatterns: ['release-*', 'latest'],
    pinnedImages: [`worker@${fleet.images.get('worker/pinned-digest')!.digest}`, 'worker:stable'],
    consumerAccountRoles: [READER_ROLE],
    action: RetentionAction.DELETE,
    taskDefinitions: { keepNewestRevisions: 1, deregisterUnused: true, deleteInactive: true },
    ...extra,
  });
}

// ---- reading back ------------------------------------------------------------------------------------

export interface ImageState {
  readonly digest: string;
  readonly tags: readonly string[];
  readonly pushedAt?: Date;
  readonly sizeBytes?: number;
  readonly mediaType?: string;
}

/** Every image of a repository, by digest (DescribeImages, paginated). */
export async function repositoryImages(client: ECRClient, repositoryName: string): Promise<Map<string, ImageState>> {
  const out = new Map<string, ImageState>();
  let nextToken: string | undefined;
  do {
    const page = await client.send(new DescribeImagesCommand({ repositoryName, nextToken }));
    for (const d of page.imageDetails ?? [] as ImageDetail[]) {
      out.set(d.imageDigest!, {
        digest: d.imageDigest!,
        tags: [...d.imageTags ?? []].sort(),
        pushedAt: d.imagePushedAt,
        sizeBytes: d.imageSizeInBytes,
        mediaType: d.imageManifestMediaType,
      });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

/** `repository@digest` → image, over the given repositories. */
export async function registryImages(client: ECRClient, repositories: readonly string[]): Promise<Map<string, ImageState>> {
  const out = new Map<string, ImageState>();
  for (const repository of repositories) {
    for (const [digest, state] of await repositoryImages(client, repository)) out.set(`${repository}@${digest}`, state);
  }
  return out;
}

/** ACTIVE, INACTIVE, or DELETED (DescribeTaskDefinition no longer finds it, or it is DELETE_IN_PROGRESS). */
export async function taskDefinitionStates(client: ECSClient, ids: Iterable<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of ids) {
    try {
      const status = (await client.send(new DescribeTaskDefinitionCommand({ taskDefinition: id }))).taskDefinition?.status ?? 'unknown';
      out.set(id, status === 'DELETE_IN_PROGRESS' ? 'DELETED' : status);
    } catch (error: any) {
      if (error?.name !== 'ClientException') throw error;
      out.set(id, 'DELETED');
    }
  }
  return out;
}

export type { Row };
/** Every resource line of a notification body, in order (see notification.ts). */
export { parseRowList as parseRows } from './notification';

/** The run summary's entries as rows, by id (an id listed twice is an error). */
export function resultRows(result: any): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const e of result.entries as any[]) {
    if (out.has(e.id)) throw new Error(`${e.id} is reported twice`);
    out.set(e.id, {
      resourceType: e.resourceType,
      id: e.id,
      details: Object.fromEntries(e.details as Array<[string, string]>),
      action: e.action,
      result: e.outcome,
      error: e.errorCode,
      reason: e.reason,
    });
  }
  return out;
}

/** Exactly one ImageRetention notification, within SNS's limits. */
export function onlyRetentionNotification(notifications: Notification[]): Notification {
  if (notifications.length !== 1) {
    throw new Error(`expected one notification, got ${notifications.length}: ${notifications.map((n) => n.Subject).join(' | ')}`);
  }
  const [n] = notifications;
  if (!n.Subject || n.Subject.length >= 100 || !n.Subject.includes('ImageRetention')) throw new Error(`bad subject ${n.Subject}`);
  if (Buffer.byteLength(n.Message, 'utf8') > 250_000) throw new Error('body over the SNS limit');
  return n;
}

export type { TopicWithQueue };

// ---- in front of the fault proxy ------------------------------------------------------------------------

export interface FrontProxy {
  readonly endpoint: string;
  /** Requests sent to `consumerTarget`. */
  consumerRequests(): number;
  stop(): Promise<void>;
}

const ACCESS_KEY = /Credential=([^/,\s]+)\/\d{8}\/[^/,\s]+\/([^/,\s]+)\//;

/**
 * A loopback pass-through the bundle calls instead of moto or the fault proxy: requests signed with
 * another access key than the default one (the consumer account's assumed-role credentials) go to
 * `consumerTarget`, the others to `target`, so one account's calls can be faulted.
 */
export async function startFrontProxy(opts: { target: string; consumerTarget?: string; defaultAccessKey?: string }): Promise<FrontProxy> {
  const defaultKey = opts.defaultAccessKey ?? CREDENTIALS.accessKeyId;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let consumer = 0;
  const server = http.createServer((req, res) => {
    const scope = ACCESS_KEY.exec(String(req.headers.authorization ?? ''));
    const toConsumer = opts.consumerTarget !== undefined && scope !== null && scope[1] !== defaultKey;
    if (toConsumer) consumer++;
    const target = new URL(toConsumer ? opts.consumerTarget! : opts.target);
    const request = { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent };
    const upstream = http.request(request, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (error) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`front proxy: ${error.message}`);
    });
    req.pipe(upstream);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    consumerRequests: () => consumer,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return stopped;
    },
  };
}

export { DAY };
