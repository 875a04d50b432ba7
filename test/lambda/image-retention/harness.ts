/*
 * The ImageRetention handler under aws-sdk-client-mock: a fresh module per environment, and a small
 * in-memory world behind every client it makes (ECR, ECS, EventBridge, Scheduler, Lambda, STS, SNS).
 *
 * The world keeps state the way the services do: repositories with images, manifests and tags;
 * per account, ECS clusters, services, tasks and task definition revisions, EventBridge buses,
 * rules and targets, Scheduler schedules and Lambda image functions. Listings are served in pages
 * of `world.pageSize` (opaque tokens), batch calls refuse more ids than the API takes, and
 * BatchDeleteImage refuses a manifest an index still lists, as ECR does.
 *
 * Which account a call is served from is read from the credentials of the client that sent it: the
 * handler's own clients carry the environment's (test) keys, a consumer's clients the keys that the
 * fake STS AssumeRole returned for that role. A consumer's ECS, rules, schedules and functions are
 * therefore only seen when the handler really uses the assumed credentials.
 *
 * The task-definition pacer is replaced by the real pacer on a virtual clock (no real waits), and
 * every wait it asks for is recorded; retry back-offs are made instant (Math.random = 0).
 */
import * as ecrSdk from '@aws-sdk/client-ecr';
import {
  BatchDeleteImageCommand, BatchGetImageCommand, DescribeImagesCommand, DescribeRepositoriesCommand, ECRClient, ECRServiceException,
  GetRepositoryPolicyCommand, ListTagsForResourceCommand as EcrListTagsCommand,
} from '@aws-sdk/client-ecr';
import * as ecsSdk from '@aws-sdk/client-ecs';
import {
  DeleteTaskDefinitionsCommand, DeregisterTaskDefinitionCommand, DescribeServicesCommand, DescribeTaskDefinitionCommand, DescribeTasksCommand,
  ECSClient, ECSServiceException, ListClustersCommand, ListServicesCommand, ListTagsForResourceCommand as EcsListTagsCommand,
  ListTaskDefinitionsCommand, ListTasksCommand,
} from '@aws-sdk/client-ecs';
import * as eventsSdk from '@aws-sdk/client-eventbridge';
import { EventBridgeClient, ListEventBusesCommand, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import * as lambdaSdk from '@aws-sdk/client-lambda';
import { GetFunctionCommand, LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import * as schedulerSdk from '@aws-sdk/client-scheduler';
import { GetScheduleCommand, ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import * as snsSdk from '@aws-sdk/client-sns';
import { PublishCommand, PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import * as stsSdk from '@aws-sdk/client-sts';
import { AssumeRoleCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { createPacer as realCreatePacer, PacerOptions } from '../../../lambda/shared/pace';
import { captureConsole, loadHandlerModule, logLines, restoreEnv } from '../helpers';
export { emfRecords, logLines } from '../helpers';

type HandlerModule = typeof import('../../../lambda/image-retention/index');
export type Handler = HandlerModule['handler'];
export type RunResult = Awaited<ReturnType<Handler>>;

export const ecrMock = mockClient(ECRClient);
export const ecsMock = mockClient(ECSClient);
export const eventsMock = mockClient(EventBridgeClient);
export const schedulerMock = mockClient(SchedulerClient);
export const lambdaMock = mockClient(LambdaClient);
export const stsMock = mockClient(STSClient);
export const snsMock = mockClient(SNSClient);
const MOCKS = [ecrMock, ecsMock, eventsMock, schedulerMock, lambdaMock, stsMock, snsMock];

export const REGION = 'eu-west-1';
export const ACCOUNT = '111122223333';
export const REGISTRY = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`;
export const CONSUMER = '444455556666';
export const CONSUMER_ROLE = `arn:aws:iam::${CONSUMER}:role/image-usage-reader`;
export const OTHER_CONSUMER = '777788889999';
export const OTHER_CONSUMER_ROLE = `arn:aws:iam::${OTHER_CONSUMER}:role/image-usage-reader`;
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:image-retention`;
export const DAY = 86_400;
export const PROTECTION_TAG = 'fleet-janitor:protect';
export const OPT_IN = { key: 'fleet-janitor:image-retention', value: 'enabled' };
export const ROLE_SESSION_NAME = 'cdk-fleet-janitor-image-retention';
const TEST_KEY = 'test';

export const BASE_ENV: Record<string, string> = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: TEST_KEY,
  AWS_SECRET_ACCESS_KEY: TEST_KEY,
  TOPIC_ARN,
  REPOSITORIES: '["app"]',
  KEEP_NEWEST: '0',
  MIN_AGE_SECONDS: String(30 * DAY),
  KEEP_TAG_PATTERNS: '["latest"]',
  ACTION: 'DELETE',
  DRY_RUN: 'false',
  MAX_ACTIONS_PER_RUN: '100000',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_SERVICE_NAME: 'ImageRetention',
  POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitorTest',
};

// ---- media types ------------------------------------------------------------------------------

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.oci.image.config.v1+json',
  signature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  sbom: 'application/spdx+json',
} as const;

// ---- images -----------------------------------------------------------------------------------

let digestCounter = 0;
/** A fresh digest (unique within the test file). */
export const newDigest = () => `sha256:${(++digestCounter).toString(16).padStart(64, '0')}`;
export const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);

export interface FakeImage {
  readonly digest: string;
  tags: string[];
  readonly pushedAt: Date;
  readonly sizeBytes: number;
  readonly mediaType: string;
  readonly artifactMediaType?: string;
  /** The manifest as BatchGetImage returns it; a string is returned as is (e.g. not JSON). */
  readonly manifest: object | string;
}

export interface ImageProps {
  readonly ageDays?: number;
  readonly tags?: string[];
  readonly sizeBytes?: number;
  readonly digest?: string;
}

/** A single-platform image (OCI manifest, container image config). */
export function image(props: ImageProps = {}): FakeImage {
  return {
    digest: props.digest ?? newDigest(),
    tags: props.tags ?? [],
    pushedAt: ago((props.ageDays ?? 100) * DAY),
    sizeBytes: props.sizeBytes ?? 1_000,
    mediaType: MEDIA.manifest,
    artifactMediaType: MEDIA.config,
    manifest: { schemaVersion: 2, mediaType: MEDIA.manifest, config: { mediaType: MEDIA.config, digest: newDigest(), size: 2 }, layers: [] },
  };
}

/** An image index listing `children` (which must be pushed too, untagged, as buildx does). */
export function imageIndex(children: readonly FakeImage[], props: ImageProps & { mediaType?: string } = {}): FakeImage {
  const mediaType = props.mediaType ?? MEDIA.index;
  return {
    digest: props.digest ?? newDigest(),
    tags: props.tags ?? [],
    pushedAt: ago((props.ageDays ?? 100) * DAY),
    sizeBytes: props.sizeBytes ?? 500,
    mediaType,
    manifest: { schemaVersion: 2, mediaType, manifests: children.map((c) => ({ mediaType: c.mediaType, digest: c.digest, size: 1 })) },
  };
}

/** A child manifest of an index: untagged, pushed with it. */
export const child = (props: ImageProps = {}) => image({ tags: [], ...props });

/** A referrer (signature, SBOM) whose manifest names `subject`. */
export function referrer(subject: FakeImage, props: ImageProps & { artifactMediaType?: string } = {}): FakeImage {
  return {
    digest: props.digest ?? newDigest(),
    tags: props.tags ?? [],
    pushedAt: ago((props.ageDays ?? 100) * DAY),
    sizeBytes: props.sizeBytes ?? 300,
    mediaType: MEDIA.manifest,
    artifactMediaType: props.artifactMediaType ?? MEDIA.signature,
    manifest: {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType: MEDIA.signature,
      config: { mediaType: MEDIA.signature },
      layers: [],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: 1 },
    },
  };
}

export const olds = (n: number, props: ImageProps = {}) => Array.from({ length: n }, () => image(props));

export interface FakeRepository {
  readonly name: string;
  tags: Record<string, string>;
  /** The repository policy text; undefined: none (RepositoryPolicyNotFoundException); an Error: GetRepositoryPolicy throws it. */
  policy?: string | Error;
  images: FakeImage[];
}

export const uri = (repository: string, ref = '') => `${REGISTRY}/${repository}${ref}`;
export const repositoryArn = (name: string) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`;

/** A repository policy that lets `accounts` pull. */
export function pullPolicy(...accounts: string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'pull', Effect: 'Allow', Principal: { AWS: accounts.map((a) => `arn:aws:iam::${a}:root`) }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] }],
  });
}

// ---- what an account runs ---------------------------------------------------------------------

export interface FakeTaskDefinition {
  readonly family: string;
  readonly revision: number;
  status: 'ACTIVE' | 'INACTIVE' | 'DELETE_IN_PROGRESS';
  readonly images: string[];
  tags?: Record<string, string>;
}

export interface FakeService {
  readonly name: string;
  readonly taskDefinition: string;
  readonly deployments?: string[];
  readonly taskSets?: string[];
}

export interface FakeTask {
  readonly id: string;
  readonly taskDefinitionArn: string;
  readonly lastStatus: string;
  readonly desiredStatus: 'RUNNING' | 'STOPPED';
  readonly containers: Array<{ image: string; imageDigest?: string }>;
}

export interface FakeCluster {
  readonly name: string;
  services: FakeService[];
  tasks: FakeTask[];
}

export interface FakeTarget {
  readonly Id: string;
  readonly Arn: string;
  readonly EcsParameters?: { TaskDefinitionArn: string };
  readonly Input?: string;
}

export interface FakeSchedule {
  readonly name: string;
  readonly group?: string;
  readonly target: FakeTarget;
}

export interface FakeFunctionVersion {
  readonly version: string;
  readonly packageType?: 'Image' | 'Zip';
  readonly imageUri?: string;
  readonly resolvedImageUri?: string;
}

export interface FakeAccount {
  readonly id: string;
  clusters: FakeCluster[];
  taskDefinitions: FakeTaskDefinition[];
  buses: Array<{ name: string; rules: Array<{ name: string; targets: FakeTarget[] }> }>;
  schedules: FakeSchedule[];
  functions: Array<{ name: string; versions: FakeFunctionVersion[] }>;
}

export const clusterArn = (account: string, name: string) => `arn:aws:ecs:${REGION}:${account}:cluster/${name}`;
export const taskDefinitionArn = (family: string, revision?: number, account = ACCOUNT) =>
  `arn:aws:ecs:${REGION}:${account}:task-definition/${family}${revision === undefined ? '' : `:${revision}`}`;
export const UNIVERSAL_RUN_TASK = 'arn:aws:scheduler:::aws-sdk:ecs:runTask';

// ---- errors -------------------------------------------------------------------------------------

function serviceError<T>(Base: new (o: any) => T, name: string, status: number, message: string): T {
  return new Base({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}
export const ecrError = (name: string, status = 400, message = `${name} (test)`) => serviceError(ECRServiceException, name, status, message);
export const ecsError = (name: string, status = 400, message = `${name} (test)`) => serviceError(ECSServiceException, name, status, message);
export const stsError = (name: string, status = 403, message = `${name} (test)`) => serviceError(STSServiceException, name, status, message);
export const throttled = () => ecrError('ThrottlingException', 400, 'Rate exceeded');

// ---- the world ------------------------------------------------------------------------------------

/** A call as the world saw it: operation (command name without "Command"), the account that sent it, a copy of its input. */
export interface CallRecord {
  readonly op: string;
  readonly account: string;
  readonly input: any;
}

interface Fault {
  readonly op: string;
  readonly error: Error;
  readonly account?: string;
  /** Fail the n-th call (1-based) of this operation (in that account, if given). Unset: the next ones. */
  readonly call?: number;
  times: number;
}

export class World {
  readonly repositories: FakeRepository[] = [];
  readonly accounts = new Map<string, FakeAccount>();
  /** Role ARN → the account it opens, or the error AssumeRole throws. */
  readonly roles = new Map<string, string | Error>();
  /** Digest → the failure code BatchDeleteImage reports for it (instead of deleting). */
  readonly deleteFailures = new Map<string, string>();
  /** Digest → the failure code BatchGetImage reports for it. */
  readonly manifestFailures = new Map<string, string>();
  readonly calls: CallRecord[] = [];
  /** The virtual time (ms) at each call, on the pacer's clock. */
  readonly callTimes: number[] = [];
  /** Largest number of items in a page of any listing (the request's own maximum may make it smaller). */
  pageSize = 1_000;
  private readonly faults: Fault[] = [];

  constructor() {
    this.account(ACCOUNT);
    this.roles.set(CONSUMER_ROLE, CONSUMER);
    this.roles.set(OTHER_CONSUMER_ROLE, OTHER_CONSUMER);
  }

  /** The account's state, created empty on first use. */
  account(id: string): FakeAccount {
    if (!this.accounts.has(id)) this.accounts.set(id, { id, clusters: [], taskDefinitions: [], buses: [{ name: 'default', rules: [] }], schedules: [], functions: [] });
    return this.accounts.get(id)!;
  }

  repository(name: string, images: FakeImage[] = [], props: Partial<Omit<FakeRepository, 'name' | 'images'>> = {}): FakeRepository {
    const repo: FakeRepository = { name, images, tags: props.tags ?? {}, ...('policy' in props ? { policy: props.policy } : {}) };
    this.repositories.push(repo);
    return repo;
  }

  cluster(name: string, account = ACCOUNT): FakeCluster {
    const acc = this.account(account);
    let cluster = acc.clusters.find((c) => c.name === name);
    if (!cluster) {
      cluster = { name, services: [], tasks: [] };
      acc.clusters.push(cluster);
    }
    return cluster;
  }

  /** Registers a revision of `family` running `images` (the next revision number); returns its ARN. */
  taskDefinition(family: string, images: string[], props: { account?: string; status?: FakeTaskDefinition['status']; tags?: Record<string, string> } = {}): string {
    const acc = this.account(props.account ?? ACCOUNT);
    const revision = 1 + Math.max(0, ...acc.taskDefinitions.filter((t) => t.family === family).map((t) => t.revision));
    acc.taskDefinitions.push({ family, revision, status: props.status ?? 'ACTIVE', images, tags: props.tags });
    return taskDefinitionArn(family, revision, acc.id);
  }

  /** A service (in `cluster`) whose primary deployment runs a new revision of `family` with `images`. */
  service(clusterName: string, name: string, images: string[], account = ACCOUNT): string {
    const arn = this.taskDefinition(name, images, { account });
    this.cluster(clusterName, account).services.push({ name, taskDefinition: arn, deployments: [arn] });
    return arn;
  }

  task(clusterName: string, props: Partial<FakeTask> & { taskDefinitionArn: string }, account = ACCOUNT): FakeTask {
    const cluster = this.cluster(clusterName, account);
    const task: FakeTask = {
      id: props.id ?? `${(cluster.tasks.length + 1).toString(16).padStart(32, '0')}`,
      lastStatus: props.lastStatus ?? 'RUNNING',
      desiredStatus: props.desiredStatus ?? 'RUNNING',
      containers: props.containers ?? [],
      taskDefinitionArn: props.taskDefinitionArn,
    };
    cluster.tasks.push(task);
    return task;
  }

  rule(name: string, target: Omit<FakeTarget, 'Id'> & { Id?: string }, props: { bus?: string; account?: string } = {}): void {
    const acc = this.account(props.account ?? ACCOUNT);
    const busName = props.bus ?? 'default';
    let bus = acc.buses.find((b) => b.name === busName);
    if (!bus) {
      bus = { name: busName, rules: [] };
      acc.buses.push(bus);
    }
    let rule = bus.rules.find((r) => r.name === name);
    if (!rule) {
      rule = { name, targets: [] };
      bus.rules.push(rule);
    }
    rule.targets.push({ Id: target.Id ?? `t${rule.targets.length + 1}`, ...target });
  }

  schedule(name: string, target: Omit<FakeTarget, 'Id'>, props: { group?: string; account?: string } = {}): void {
    this.account(props.account ?? ACCOUNT).schedules.push({ name, group: props.group, target: { Id: name, ...target } });
  }

  lambdaFunction(name: string, versions: FakeFunctionVersion[], account = ACCOUNT): void {
    this.account(account).functions.push({ name, versions });
  }

  /** Makes calls of `op` throw `error`: the `call`-th one only (1-based), or the next `times` ones. */
  fault(op: string, error: Error, props: { account?: string; call?: number; times?: number } = {}): void {
    this.faults.push({ op, error, account: props.account, call: props.call, times: props.times ?? 1 });
  }

  /** The calls of `op` (in `account`, if given). */
  callsOf(op: string, account?: string): CallRecord[] {
    return this.calls.filter((c) => c.op === op && (account === undefined || c.account === account));
  }

  /** The digests of the images a repository still holds. */
  digests(repository: string): string[] {
    return this.repositories.find((r) => r.name === repository)!.images.map((i) => i.digest).sort();
  }

  /** The digests passed to BatchDeleteImage, call by call. */
  deleteCalls(repository?: string): string[][] {
    return this.callsOf('BatchDeleteImage').filter((c) => repository === undefined || c.input.repositoryName === repository)
      .map((c) => c.input.imageIds.map((id: { imageDigest: string }) => id.imageDigest));
  }

  deleted(repository?: string): string[] {
    return this.deleteCalls(repository).flat().sort();
  }

  /** Records the call; throws the fault planned for it, if any. */
  enter(op: string, account: string, input: unknown, now: number): void {
    this.calls.push({ op, account, input: structuredClone(input) });
    this.callTimes.push(now);
    const n = this.callsOf(op, undefined).filter((c) => c.account === account).length;
    const all = this.callsOf(op).length;
    const index = this.faults.findIndex((f) => f.op === op && f.times > 0 && (f.account === undefined || f.account === account)
      && (f.call === undefined || f.call === (f.account === undefined ? all : n)));
    if (index < 0) return;
    const fault = this.faults[index];
    fault.times--;
    throw fault.error;
  }
}

/** Sorted digests. */
export const digestsOf = (images: readonly FakeImage[]) => images.map((i) => i.digest).sort();

// ---- serving the world through the mocks ------------------------------------------------------------

/** Access key id → the account a consumer role's credentials belong to. */
const KEY_PREFIX = 'ASIAFAKE';
const accountOfKey = (key: string | undefined) => (key === TEST_KEY ? ACCOUNT : key?.startsWith(KEY_PREFIX) ? key.slice(KEY_PREFIX.length) : `unknown(${key})`);

async function callerAccount(getClient: () => { config: { credentials?: unknown } }): Promise<string> {
  const provider = getClient().config.credentials as (() => Promise<{ accessKeyId?: string }>) | { accessKeyId?: string } | undefined;
  const identity = typeof provider === 'function' ? await provider() : provider;
  return accountOfKey(identity?.accessKeyId);
}

/** The pacer's virtual clock: waits advance it instead of sleeping. */
export const pacerClock = { now: 0, waits: [] as number[], intervals: [] as number[] };

function page<T>(items: readonly T[], token: string | undefined, requested: number | undefined, pageSize: number): { items: T[]; next?: string } {
  const offset = token ? Number(/^page-(\d+)$/.exec(token)?.[1] ?? NaN) : 0;
  if (Number.isNaN(offset)) throw Object.assign(new Error(`invalid token ${token}`), { name: 'InvalidParameterException' });
  const size = Math.min(requested ?? Number.POSITIVE_INFINITY, pageSize);
  const slice = items.slice(offset, offset + size);
  return { items: slice, next: offset + size < items.length ? `page-${offset + size}` : undefined };
}

function limit(op: string, n: number, max: number): void {
  if (n < 1 || n > max) throw Object.assign(new Error(`${op}: ${n} ids, the API takes 1 to ${max}`), { name: 'InvalidParameterException' });
}

function parseDefinition(reference: string): { family: string; revision?: number } {
  const name = reference.includes(':task-definition/') ? reference.slice(reference.indexOf(':task-definition/') + ':task-definition/'.length) : reference;
  const [family, revision] = name.split(':');
  return { family, revision: revision === undefined ? undefined : Number(revision) };
}

/** Wires every mock to the world. Call again after changing nothing: the world is read at each call. */
export function serve(world: World): void {
  const on = <M extends (typeof MOCKS)[number]>(mock: M, command: any, op: string, fn: (input: any, account: string) => unknown) => {
    (mock as any).on(command).callsFake(async (input: any, getClient: any) => {
      const account = await callerAccount(getClient);
      world.enter(op, account, input, pacerClock.now);
      return fn(input, account);
    });
  };
  const repo = (name: string) => {
    const found = world.repositories.find((r) => r.name === name);
    if (!found) throw ecrError('RepositoryNotFoundException', 400, `The repository with name '${name}' does not exist in the registry with id '${ACCOUNT}'`);
    return found;
  };
  const repository = (r: FakeRepository) => ({
    registryId: ACCOUNT, repositoryName: r.name, repositoryArn: repositoryArn(r.name), repositoryUri: uri(r.name),
  });

  // ECR (this account only: the handler has one ECR client)
  on(ecrMock, DescribeRepositoriesCommand, 'DescribeRepositories', (input) => {
    if (input.repositoryNames) return { repositories: input.repositoryNames.map((n: string) => repository(repo(n))) };
    const p = page(world.repositories, input.nextToken, input.maxResults, world.pageSize);
    return { repositories: p.items.map(repository), nextToken: p.next };
  });
  on(ecrMock, EcrListTagsCommand, 'ecr:ListTagsForResource', (input) => {
    const name = String(input.resourceArn).slice(String(input.resourceArn).indexOf(':repository/') + ':repository/'.length);
    return { tags: Object.entries(repo(name).tags).map(([Key, Value]) => ({ Key, Value })) };
  });
  on(ecrMock, DescribeImagesCommand, 'DescribeImages', (input) => {
    if ((input.maxResults ?? 100) > 1000) throw ecrError('InvalidParameterException');
    const r = repo(input.repositoryName);
    const p = page(r.images, input.nextToken, input.maxResults, world.pageSize);
    return {
      imageDetails: p.items.map((i) => ({
        registryId: ACCOUNT,
        repositoryName: r.name,
        imageDigest: i.digest,
        imageTags: i.tags.length ? [...i.tags] : undefined,
        imagePushedAt: i.pushedAt,
        imageSizeInBytes: i.sizeBytes,
        imageManifestMediaType: i.mediaType,
        artifactMediaType: i.artifactMediaType,
      })),
      nextToken: p.next,
    };
  });
  on(ecrMock, BatchGetImageCommand, 'BatchGetImage', (input) => {
    limit('BatchGetImage', input.imageIds.length, 100);
    const r = repo(input.repositoryName);
    const images = [];
    const failures = [];
    for (const id of input.imageIds as Array<{ imageDigest: string }>) {
      const found = r.images.find((i) => i.digest === id.imageDigest);
      const code = world.manifestFailures.get(id.imageDigest) ?? (found ? undefined : 'ImageNotFound');
      if (code || !found) {
        failures.push({ imageId: id, failureCode: code, failureReason: `${code} (test)` });
        continue;
      }
      images.push({
        registryId: ACCOUNT,
        repositoryName: r.name,
        imageId: { imageDigest: found.digest },
        imageManifest: typeof found.manifest === 'string' ? found.manifest : JSON.stringify(found.manifest),
        imageManifestMediaType: found.mediaType,
      });
    }
    return { images, failures };
  });
  on(ecrMock, BatchDeleteImageCommand, 'BatchDeleteImage', (input) => {
    limit('BatchDeleteImage', input.imageIds.length, 100);
    const r = repo(input.repositoryName);
    const imageIds = [];
    const failures = [];
    for (const id of input.imageIds as Array<{ imageDigest: string }>) {
      const found = r.images.find((i) => i.digest === id.imageDigest);
      const listedBy = r.images.find((i) => typeof i.manifest === 'object' && ((i.manifest as { manifests?: Array<{ digest: string }> }).manifests ?? []).some((m) => m.digest === id.imageDigest));
      const code = world.deleteFailures.get(id.imageDigest) ?? (!found ? 'ImageNotFound' : listedBy ? 'ImageReferencedByManifestList' : undefined);
      if (code) {
        failures.push({ imageId: id, failureCode: code, failureReason: `${code} (test)` });
        continue;
      }
      r.images = r.images.filter((i) => i !== found);
      imageIds.push({ imageDigest: id.imageDigest, ...(found!.tags[0] ? { imageTag: found!.tags[0] } : {}) });
    }
    return { imageIds, failures };
  });
  on(ecrMock, GetRepositoryPolicyCommand, 'GetRepositoryPolicy', (input) => {
    const r = repo(input.repositoryName);
    if (r.policy instanceof Error) throw r.policy;
    if (r.policy === undefined) throw ecrError('RepositoryPolicyNotFoundException');
    return { registryId: ACCOUNT, repositoryName: r.name, policyText: r.policy };
  });

  // ECS (any account)
  const clusterOf = (account: string, ref: string) => {
    const name = ref.slice(ref.lastIndexOf('/') + 1);
    const cluster = world.account(account).clusters.find((c) => c.name === name);
    if (!cluster) throw ecsError('ClusterNotFoundException');
    return cluster;
  };
  on(ecsMock, ListClustersCommand, 'ListClusters', (input, account) => {
    const p = page(world.account(account).clusters, input.nextToken, input.maxResults, world.pageSize);
    return { clusterArns: p.items.map((c) => clusterArn(account, c.name)), nextToken: p.next };
  });
  on(ecsMock, ListServicesCommand, 'ListServices', (input, account) => {
    const cluster = clusterOf(account, input.cluster);
    const p = page(cluster.services, input.nextToken, input.maxResults, world.pageSize);
    return { serviceArns: p.items.map((s) => `arn:aws:ecs:${REGION}:${account}:service/${cluster.name}/${s.name}`), nextToken: p.next };
  });
  on(ecsMock, DescribeServicesCommand, 'DescribeServices', (input, account) => {
    limit('DescribeServices', input.services.length, 10);
    const cluster = clusterOf(account, input.cluster);
    const services = [];
    const failures = [];
    for (const arn of input.services as string[]) {
      const s = cluster.services.find((x) => x.name === arn.slice(arn.lastIndexOf('/') + 1));
      if (!s) {failures.push({ arn, reason: 'MISSING' });} else {
        services.push({
          serviceName: s.name,
          serviceArn: arn,
          taskDefinition: s.taskDefinition,
          deployments: (s.deployments ?? []).map((td, i) => ({ id: `ecs-svc/${i}`, status: i === 0 ? 'PRIMARY' : 'ACTIVE', taskDefinition: td })),
          taskSets: (s.taskSets ?? []).map((td, i) => ({ id: `ecs-svc/ts${i}`, taskDefinition: td })),
        });
      }
    }
    return { services, failures };
  });
  on(ecsMock, ListTasksCommand, 'ListTasks', (input, account) => {
    const cluster = clusterOf(account, input.cluster);
    const tasks = cluster.tasks.filter((t) => t.desiredStatus === (input.desiredStatus ?? 'RUNNING'));
    const p = page(tasks, input.nextToken, input.maxResults, world.pageSize);
    return { taskArns: p.items.map((t) => `arn:aws:ecs:${REGION}:${account}:task/${cluster.name}/${t.id}`), nextToken: p.next };
  });
  on(ecsMock, DescribeTasksCommand, 'DescribeTasks', (input, account) => {
    limit('DescribeTasks', input.tasks.length, 100);
    const cluster = clusterOf(account, input.cluster);
    const tasks = [];
    const failures = [];
    for (const arn of input.tasks as string[]) {
      const t = cluster.tasks.find((x) => x.id === arn.slice(arn.lastIndexOf('/') + 1));
      if (!t) failures.push({ arn, reason: 'MISSING' });
      else tasks.push({ taskArn: arn, taskDefinitionArn: t.taskDefinitionArn, lastStatus: t.lastStatus, desiredStatus: t.desiredStatus, containers: t.containers.map((c, i) => ({ name: `c${i}`, ...c })) });
    }
    return { tasks, failures };
  });
  const revisionOf = (account: string, reference: string) => {
    const { family, revision } = parseDefinition(reference);
    const candidates = world.account(account).taskDefinitions.filter((t) => t.family === family && t.status !== 'DELETE_IN_PROGRESS');
    const found = revision === undefined
      ? candidates.filter((t) => t.status === 'ACTIVE').sort((a, b) => b.revision - a.revision)[0]
      : candidates.find((t) => t.revision === revision);
    if (!found) throw ecsError('ClientException', 400, 'Unable to describe task definition.');
    return found;
  };
  on(ecsMock, DescribeTaskDefinitionCommand, 'DescribeTaskDefinition', (input, account) => {
    const t = revisionOf(account, input.taskDefinition);
    return {
      taskDefinition: {
        taskDefinitionArn: taskDefinitionArn(t.family, t.revision, account),
        family: t.family,
        revision: t.revision,
        status: t.status,
        containerDefinitions: t.images.map((name, i) => ({ name: `c${i}`, image: name })),
      },
    };
  });
  on(ecsMock, ListTaskDefinitionsCommand, 'ListTaskDefinitions', (input, account) => {
    const arns = world.account(account).taskDefinitions.filter((t) => t.status === (input.status ?? 'ACTIVE'))
      .sort((a, b) => a.family.localeCompare(b.family) || a.revision - b.revision).map((t) => taskDefinitionArn(t.family, t.revision, account));
    const p = page(arns, input.nextToken, input.maxResults, world.pageSize);
    return { taskDefinitionArns: p.items, nextToken: p.next };
  });
  on(ecsMock, EcsListTagsCommand, 'ecs:ListTagsForResource', (input, account) => {
    const t = revisionOf(account, input.resourceArn);
    return { tags: Object.entries(t.tags ?? {}).map(([key, value]) => ({ key, value })) };
  });
  on(ecsMock, DeregisterTaskDefinitionCommand, 'DeregisterTaskDefinition', (input, account) => {
    const t = revisionOf(account, input.taskDefinition);
    t.status = 'INACTIVE';
    return { taskDefinition: { taskDefinitionArn: input.taskDefinition, status: 'INACTIVE' } };
  });
  on(ecsMock, DeleteTaskDefinitionsCommand, 'DeleteTaskDefinitions', (input, account) => {
    limit('DeleteTaskDefinitions', input.taskDefinitions.length, 10);
    const taskDefinitions = [];
    const failures = [];
    for (const arn of input.taskDefinitions as string[]) {
      const t = revisionOf(account, arn);
      if (t.status !== 'INACTIVE') {
        failures.push({ arn, reason: 'The specified task definition is not in INACTIVE status.' });
        continue;
      }
      t.status = 'DELETE_IN_PROGRESS';
      taskDefinitions.push({ taskDefinitionArn: arn, status: 'DELETE_IN_PROGRESS' });
    }
    return { taskDefinitions, failures };
  });

  // EventBridge
  const busOf = (account: string, name: string | undefined) => world.account(account).buses.find((b) => b.name === (name ?? 'default'))!;
  on(eventsMock, ListEventBusesCommand, 'ListEventBuses', (input, account) => {
    const p = page(world.account(account).buses, input.NextToken, input.Limit, world.pageSize);
    return { EventBuses: p.items.map((b) => ({ Name: b.name, Arn: `arn:aws:events:${REGION}:${account}:event-bus/${b.name}` })), NextToken: p.next };
  });
  on(eventsMock, ListRulesCommand, 'ListRules', (input, account) => {
    const p = page(busOf(account, input.EventBusName).rules, input.NextToken, input.Limit, world.pageSize);
    return { Rules: p.items.map((r) => ({ Name: r.name, EventBusName: input.EventBusName ?? 'default' })), NextToken: p.next };
  });
  on(eventsMock, ListTargetsByRuleCommand, 'ListTargetsByRule', (input, account) => {
    const rule = busOf(account, input.EventBusName).rules.find((r) => r.name === input.Rule);
    if (!rule) throw Object.assign(new Error('no such rule'), { name: 'ResourceNotFoundException' });
    const p = page(rule.targets, input.NextToken, input.Limit, world.pageSize);
    return { Targets: p.items, NextToken: p.next };
  });

  // Scheduler
  on(schedulerMock, ListSchedulesCommand, 'ListSchedules', (input, account) => {
    const p = page(world.account(account).schedules, input.NextToken, input.MaxResults, world.pageSize);
    return {
      Schedules: p.items.map((s) => ({ Name: s.name, GroupName: s.group ?? 'default', State: 'ENABLED', Target: { Arn: s.target.Arn } })),
      NextToken: p.next,
    };
  });
  on(schedulerMock, GetScheduleCommand, 'GetSchedule', (input, account) => {
    const s = world.account(account).schedules.find((x) => x.name === input.Name && (x.group ?? 'default') === (input.GroupName ?? 'default'));
    if (!s) throw Object.assign(new Error('no such schedule'), { name: 'ResourceNotFoundException' });
    const { Id: _id, ...target } = s.target;
    return { Name: s.name, GroupName: s.group ?? 'default', Target: { RoleArn: `arn:aws:iam::${account}:role/scheduler`, ...target } };
  });

  // Lambda
  on(lambdaMock, ListFunctionsCommand, 'ListFunctions', (input, account) => {
    const versions = world.account(account).functions.flatMap((f) => (input.FunctionVersion === 'ALL' ? f.versions : f.versions.filter((v) => v.version === '$LATEST'))
      .map((v) => ({ FunctionName: f.name, Version: v.version, PackageType: v.packageType ?? 'Image' })));
    const p = page(versions, input.Marker, input.MaxItems, world.pageSize);
    return { Functions: p.items, NextMarker: p.next };
  });
  on(lambdaMock, GetFunctionCommand, 'GetFunction', (input, account) => {
    const f = world.account(account).functions.find((x) => x.name === input.FunctionName);
    const v = f?.versions.find((x) => x.version === (input.Qualifier ?? '$LATEST'));
    if (!f || !v) throw Object.assign(new Error('Function not found'), { name: 'ResourceNotFoundException' });
    return {
      Configuration: { FunctionName: f.name, Version: v.version, PackageType: v.packageType ?? 'Image' },
      Code: v.packageType === 'Zip' ? { RepositoryType: 'S3', Location: 'https://example.invalid/code.zip' } : { RepositoryType: 'ECR', ImageUri: v.imageUri, ResolvedImageUri: v.resolvedImageUri },
    };
  });

  // STS: a role's credentials name its account, so that the world can tell whose client calls.
  on(stsMock, AssumeRoleCommand, 'AssumeRole', (input) => {
    const opens = world.roles.get(input.RoleArn);
    if (opens === undefined) throw stsError('AccessDenied', 403, `not authorized to perform: sts:AssumeRole on resource: ${input.RoleArn}`);
    if (opens instanceof Error) throw opens;
    return {
      Credentials: { AccessKeyId: `${KEY_PREFIX}${opens}`, SecretAccessKey: 'secret', SessionToken: 'token', Expiration: new Date(Date.now() + 3_600_000) },
      AssumedRoleUser: { AssumedRoleId: `AROA:${input.RoleSessionName}`, Arn: `arn:aws:sts::${opens}:assumed-role/x/${input.RoleSessionName}` },
    };
  });

  on(snsMock, PublishCommand, 'Publish', () => ({ MessageId: 'msg-1' }));
}

// ---- loading the handler ----------------------------------------------------------------------------

const SDK_MODULES = {
  '@aws-sdk/client-ecr': ecrSdk,
  '@aws-sdk/client-ecs': ecsSdk,
  '@aws-sdk/client-eventbridge': eventsSdk,
  '@aws-sdk/client-lambda': lambdaSdk,
  '@aws-sdk/client-scheduler': schedulerSdk,
  '@aws-sdk/client-sns': snsSdk,
  '@aws-sdk/client-sts': stsSdk,
};

/** The pace module the handler gets: the real pacer on the virtual clock. */
const VIRTUAL_PACE = {
  createPacer: (options: PacerOptions) => {
    pacerClock.intervals.push(options.intervalMs);
    return realCreatePacer({
      ...options,
      clock: () => pacerClock.now,
      sleep: async (ms: number) => {
        pacerClock.waits.push(ms);
        pacerClock.now += ms;
      },
    });
  },
};

/**
 * Loads a fresh copy of the handler module (its config is read at its first invocation, once) with
 * this environment. The SDK modules are this file's, so the mocks above intercept its clients.
 */
export function loadHandler(env: Record<string, string | undefined> = {}): Handler {
  return loadHandlerModule<HandlerModule>({
    modulePath: require.resolve('../../../lambda/image-retention/index'),
    baseEnv: BASE_ENV,
    overrides: env,
    sdkModules: { ...SDK_MODULES, [require.resolve('../../../lambda/shared/pace')]: VIRTUAL_PACE },
  }).handler;
}

// ---- reading what happened -----------------------------------------------------------------------------

/** Every report row the run logged (one JSON line per image / revision), from the captured console. */
export function loggedRows(): Array<Record<string, any>> {
  return [...logLines('info'), ...logLines('warn')].filter((l) => l.message === 'decision' || l.message === 'action failed');
}

/** Report rows by id: `<repository>@<digest>` → the row. */
export function rowsById(): Map<string, Record<string, any>> {
  return new Map(loggedRows().map((r) => [r.resourceId as string, r]));
}

/** The outcome (and kept reason, error code) of an image's row: e.g. "KEPT:in-use", "DONE", "FAILED:KmsError". */
export function verdict(repository: string, img: FakeImage | string): string | undefined {
  const row = rowsById().get(`${repository}@${typeof img === 'string' ? img : img.digest}`);
  if (!row) return undefined;
  if (row.outcome === 'KEPT') return `KEPT:${row.kept}`;
  if (row.outcome === 'FAILED') return `FAILED:${row.errorCode}`;
  return row.outcome;
}

export function publishedReport(): PublishCommandInput {
  const calls = snsMock.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0].args[0].input;
}

/** The calls that change something: ECR images, ECS task definitions. */
export const STATE_CHANGING = ['BatchDeleteImage', 'DeregisterTaskDefinition', 'DeleteTaskDefinitions'];

export function expectNoStateChanges(world: World): void {
  expect(world.calls.filter((c) => STATE_CHANGING.includes(c.op)).map((c) => c.op)).toEqual([]);
}

/** Not one call to any client. */
export function expectNoCallsAtAll(): void {
  for (const mock of MOCKS) expect(mock.calls()).toHaveLength(0);
}

/** Resets the mocks and the pacer's clock before each test, captures the console, makes retry back-offs instant, restores the environment after. */
export function installHandlerHarness(): void {
  captureConsole();
  let random: jest.SpyInstance | undefined;
  beforeEach(() => {
    for (const mock of MOCKS) mock.reset();
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
    pacerClock.now = 0;
    pacerClock.waits.length = 0;
    pacerClock.intervals.length = 0;
    // retryTransient waits Math.random() * backoff: no wait at all.
    random = jest.spyOn(Math, 'random').mockReturnValue(0);
  });
  afterEach(() => {
    random?.mockRestore();
    restoreEnv();
  });
}
