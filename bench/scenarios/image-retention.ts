/**
 * ImageRetention: N deletable images among 5,000 in use, in ten repositories, deleted by the shipped
 * handler with action DELETE, keepNewest 0 and minAge 0 (every image that nothing names is a candidate,
 * so no push time has to be moved into the past). The 5,000 images in use are the containers of the
 * 500 task definition revisions (10 containers each, ECS's limit) that 100 services deploy, 5
 * deployments each, and that one running task per deployment runs.
 *
 * The ratio must not depend on how many tasks run the same revisions: before the measured fleets, a
 * variant is measured on a fleet of its own (N = 1,000) with 1 and then 10 tasks per deployment, through
 * the counting proxy and a naming proxy in front of it (Lambda and EventBridge Scheduler speak REST:
 * the counting proxy files them under `<service>:unknown`). That fleet is then discarded (moto reset)
 * and the measured fleets are built from nothing; the variant's figures go into the fleet description.
 */
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import { CreateRepositoryCommand, DescribeImagesCommand, ECRClient, PutImageCommand } from '@aws-sdk/client-ecr';
import {
  CreateClusterCommand, CreateServiceCommand, ECSClient, LaunchType, RegisterTaskDefinitionCommand, RunTaskCommand, UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { CreateTopicCommand, ListTopicsCommand, SNSClient } from '@aws-sdk/client-sns';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ImageRetention, RetentionAction } from '../../src';
import { ECR_DESCRIBE_PAGE_MAX, ECR_IMAGE_BATCH_MAX, ECS_DESCRIBE_SERVICES_MAX, ECS_DESCRIBE_TASKS_MAX } from '../../src/image-retention/contract';
import { startFaultProxy } from '../../test/emulator/fault-proxy';
import { dockerManifest, MEDIA, motoApi, sha256 } from '../../test/emulator/image-retention-harness';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { BundleRun, runBundle } from '../../test/emulator/run-bundle';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { bundlePath } from '../measure';
import type { BenchScenario, EconomyFixture } from '../scenario';
import { chunks, forEachConcurrently, timeMs } from '../util';

const BUNDLE = 'image-retention';
const REGISTRY = `${EMULATOR_ACCOUNT}.dkr.ecr.${EMULATOR_REGION}.amazonaws.com`;
/** Ten repositories, one per container of a revision (an app and its sidecars). */
const REPOSITORIES = Array.from({ length: 10 }, (_, i) => `shop/app-${String(i).padStart(2, '0')}`);
/** No name is a substring of another: moto's ListTasks matches a task's cluster ARN by substring. */
const CLUSTERS = ['prod-a', 'prod-b', 'prod-c', 'prod-d', 'prod-e'];
const SERVICES_PER_CLUSTER = 20;
const SERVICES = CLUSTERS.length * SERVICES_PER_CLUSTER;
/** Each service's deployments: the PRIMARY one and four earlier ones still ACTIVE. */
const REVISIONS_PER_SERVICE = 5;
/** ECS takes at most 10 container definitions per task definition. */
const CONTAINERS_PER_REVISION = REPOSITORIES.length;
const REVISIONS = SERVICES * REVISIONS_PER_SERVICE;
const IN_USE = REVISIONS * CONTAINERS_PER_REVISION;
/** Running tasks per deployment in the measured fleets (and the variant's first run), and in the variant's second run. */
const TASKS_PER_REVISION = 1;
const VARIANT_TASKS_PER_REVISION = 10;
const VARIANT_N = 1_000;
/** One deletable image in two is untagged (a build whose tag moved on), the other keeps its build tag. */
const UNTAGGED_EVERY = 2;
/** API limits, as the handler uses them (src/image-retention/contract.ts); ListServices and ListTasks pages of 100. */
const ECR_PAGE = ECR_DESCRIBE_PAGE_MAX;
const ECR_BATCH = ECR_IMAGE_BATCH_MAX;
const ECS_DESCRIBE_SERVICES = ECS_DESCRIBE_SERVICES_MAX;
const ECS_PAGE = 100;
/** RunTask starts at most 10 tasks per call. */
const RUN_TASK_MAX = 10;
/** Fixture calls in flight (moto's server is threaded; more gains nothing on 2 cores). */
const IN_FLIGHT = 8;
const SCHEDULE_EVENT = { source: 'cdk-fleet-janitor.schedule' };

export const imageRetention: BenchScenario = {
  name: 'ImageRetention',
  bundle: BUNDLE,

  exampleStack(stack: Stack, topic: sns.ITopic): void {
    new ImageRetention(stack, 'ImageRetention', { topic });
  },

  economy: {
    matching: [1_000, 5_000],
    nonMatching: IN_USE,
    get fleetDescription(): string {
      return `${REPOSITORIES.length} repositories (${REPOSITORIES.map((r) => `\`${r}\``).join(', ')}), configured by name; matching: an image `
        + `nothing names, N/${REPOSITORIES.length} per repository, ${UNTAGGED_EVERY === 2 ? 'half' : `one in ${UNTAGGED_EVERY}`} of them untagged `
        + '(builds whose tag moved on) and the others tagged `build-<k>`; '
        + `non-matching: the ${IN_USE.toLocaleString('en-US')} images in use, ${IN_USE / REPOSITORIES.length} per repository, each tagged `
        + `\`<service>-r<revision>\` and named by tag in the container definitions of ${REVISIONS} task definition revisions of `
        + `${CONTAINERS_PER_REVISION} containers (ECS's limit), one per repository; ${SERVICES} services in ${CLUSTERS.length} clusters deploy them, `
        + `each with ${REVISIONS_PER_SERVICE} deployments (the PRIMARY one and ${REVISIONS_PER_SERVICE - 1} earlier ones still ACTIVE: a service `
        + `updated several times before its rollouts finished), and ${TASKS_PER_REVISION} running task per deployment runs each `
        + `revision (${REVISIONS * TASKS_PER_REVISION} tasks, ${(REVISIONS * TASKS_PER_REVISION) / CLUSTERS.length} per cluster), its containers `
        + 'reporting the digest they pulled. No EventBridge rule, schedule, Lambda function or consumer account. The construct runs with '
        + 'action DELETE, keepNewest 0 and minAge 0 s (so no image is `newest` or `young` and no push time had to be moved into the past: '
        + 'moto stamps every image with the time of its PutImage), keepTagPatterns at its default (`latest`, which no image has) and '
        + `maxActionsPerRun 100,000; between runs the deleted images are pushed again (same manifests, same digests). ${variantText()}`;
    },
    minimumRationale: 'the issue\'s definition: ceil(images/1000) DescribeImages pages per repository (every repository holds at most '
      + `1,000 images here, so one page each, which is also what moto returns: it does not paginate DescribeImages); ceil(N/${ECR_BATCH}) `
      + 'BatchDeleteImage (N/10 per repository, a multiple of 100); one DescribeTaskDefinition per distinct revision in use '
      + `(${REVISIONS}), however many deployments and tasks name it; per cluster, the ListServices pages (${SERVICES_PER_CLUSTER} services: 1), `
      + `DescribeServices ${ECS_DESCRIBE_SERVICES} per call (2), the ListTasks pages of the running tasks and DescribeTasks ${ECS_PAGE} per `
      + 'call; one Publish. ListTasks, ListServices and ListClusters are single pages in moto whatever their length (it does not '
      + `paginate them); on ECS a cluster's ListTasks takes ceil(tasks/${ECS_PAGE}) pages for the handler (page size ${ECS_PAGE}) and the `
      + `minimum alike, which is 1 for the ${(REVISIONS * TASKS_PER_REVISION) / CLUSTERS.length} tasks per cluster here. The handler's calls beyond the `
      + 'minimum: `ecr:DescribeRepositories`, one call for up to 100 configured repositories (asked one by one only when a '
      + 'call names a missing one, which fails it as a whole); '
      + '`ecr:ListTagsForResource`, one per repository (the protection tag: DescribeRepositories returns no tags); '
      + '`ecr:BatchGetImage`, per repository ceil(untagged OCI images/100): the manifests of untagged OCI images that no index lists '
      + '(Docker schema 2 manifests, as here, have no subject field and are not read), '
      + 'read for an OCI `subject` (a signature, SBOM or attestation of a kept image is kept; DescribeImages does not return the '
      + 'subject); `ecs:ListClusters`, one page; `ecs:ListTasks` with desiredStatus STOPPED, one page per cluster (tasks on their way '
      + 'down still run their images; none here, so no DescribeTasks for them); `events:ListEventBuses` and `events:ListRules` '
      + '(one page per bus) for rules whose ECS targets run task definitions; `scheduler:unknown` is ListSchedules (schedules that '
      + 'run ECS tasks) and `lambda:unknown` is ListFunctions (image functions): both REST APIs, whose operation the counting proxy '
      + 'cannot read from the request; the variant\'s naming proxy names them, one call each. Not counted because moto cannot '
      + 'show it: on ECS the handler also reads each service\'s current service revisions (DescribeServiceRevisions, 20 per call, per '
      + 'cluster) for the digests version consistency pinned at deployment; moto 5.2.1 returns no `currentServiceRevisions`, so it '
      + `makes none here, where ECS would add up to ${CLUSTERS.length} × ceil(${SERVICES_PER_CLUSTER * REVISIONS_PER_SERVICE}/20) = `
      + `${CLUSTERS.length * Math.ceil((SERVICES_PER_CLUSTER * REVISIONS_PER_SERVICE) / 20)} calls (one revision per deployment).`,
    construct(stack: Stack, topic: sns.ITopic): void {
      retentionForBench(stack, topic);
    },
    event: SCHEDULE_EVENT,
    prepare: async (aws) => prepareFleet(aws.sns, await endpointOf(aws.sns)),
  },
};

/** The construct as the economy runs configure it. */
function retentionForBench(stack: Stack, topic: sns.ITopic): ImageRetention {
  return new ImageRetention(stack, 'ImageRetention', {
    topic,
    repositories: REPOSITORIES.map((name, i) => ecr.Repository.fromRepositoryName(stack, `Repository${i}`, name)),
    action: RetentionAction.DELETE,
    keepNewest: 0,
    minAge: Duration.seconds(0),
    maxActionsPerRun: 100_000,
  });
}

// ---- the minimum --------------------------------------------------------------------------------------

function minimumCalls(n: number, tasksPerRevision: number): Record<string, number> {
  const perRepository = IN_USE / REPOSITORIES.length + n / REPOSITORIES.length;
  const tasksPerCluster = (REVISIONS * tasksPerRevision) / CLUSTERS.length;
  return {
    'ecr:DescribeImages': REPOSITORIES.length * Math.ceil(perRepository / ECR_PAGE),
    'ecr:BatchDeleteImage': Math.ceil(n / ECR_BATCH),
    'ecs:DescribeTaskDefinition': REVISIONS,
    'ecs:ListServices': CLUSTERS.length * Math.ceil(SERVICES_PER_CLUSTER / ECS_PAGE),
    'ecs:DescribeServices': CLUSTERS.length * Math.ceil(SERVICES_PER_CLUSTER / ECS_DESCRIBE_SERVICES),
    // moto answers ListTasks in one page whatever the count (see minimumRationale).
    'ecs:ListTasks': CLUSTERS.length,
    'ecs:DescribeTasks': CLUSTERS.length * Math.ceil(tasksPerCluster / ECS_DESCRIBE_TASKS_MAX),
    'sns:Publish': 1,
  };
}

// ---- the fleet ------------------------------------------------------------------------------------------

interface Deletable {
  readonly repository: string;
  readonly manifest: string;
  readonly digest: string;
  readonly tag?: string;
}

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' };

class RetentionFleet {
  readonly deletable: Deletable[] = [];
  private readonly ecr: ECRClient;
  private readonly ecs: ECSClient;
  /** cluster → revision ARNs its services deploy. */
  private readonly revisionsByCluster = new Map<string, string[]>();
  private tasksPerRevision = 0;

  constructor(private readonly endpoint: string) {
    const config = { endpoint, region: EMULATOR_REGION, credentials };
    this.ecr = new ECRClient(config);
    this.ecs = new ECSClient(config);
  }

  get tasks(): number {
    return REVISIONS * this.tasksPerRevision;
  }

  /** Repositories, the images in use, their revisions, services and one task per deployment. */
  async build(): Promise<void> {
    // Tasks stay RUNNING: moto otherwise moves a task one state on at each DescribeTasks that names it.
    await motoApi(this.endpoint, '/moto-api/state-manager/set-transition', {
      model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000 },
    });
    for (const repositoryName of REPOSITORIES) await this.ecr.send(new CreateRepositoryCommand({ repositoryName }));
    for (const clusterName of CLUSTERS) await this.ecs.send(new CreateClusterCommand({ clusterName }));
    const services = Array.from({ length: SERVICES }, (_, s) => ({
      cluster: CLUSTERS[Math.floor(s / SERVICES_PER_CLUSTER)],
      name: `svc-${String(s).padStart(3, '0')}`,
    }));
    // The images in use, pushed before the tasks start (a task's containers report the digest their tag names then).
    const inUse = services.flatMap((service) => Array.from({ length: REVISIONS_PER_SERVICE }, (_, r) => REPOSITORIES.map((repository) => ({
      repository, tag: `${service.name}-r${r + 1}`, manifest: dockerManifest(`${repository}/${service.name}-r${r + 1}`),
    }))).flat());
    await forEachConcurrently(inUse, IN_FLIGHT, (image) => this.push(image.repository, image.manifest, image.tag));
    await forEachConcurrently(services, IN_FLIGHT, async (service) => {
      const arns: string[] = [];
      for (let r = 1; r <= REVISIONS_PER_SERVICE; r++) {
        const out = await this.ecs.send(new RegisterTaskDefinitionCommand({
          family: service.name,
          containerDefinitions: REPOSITORIES.map((repository, c) => ({
            name: c === 0 ? 'app' : `sidecar-${c}`, image: `${REGISTRY}/${repository}:${service.name}-r${r}`, memory: 128, essential: c === 0,
          })),
        }));
        arns.push(out.taskDefinition!.taskDefinitionArn!);
      }
      // Created on the first revision, then updated to each later one: the last is PRIMARY, the earlier ones stay ACTIVE.
      const { cluster, name } = service;
      await this.ecs.send(new CreateServiceCommand({
        cluster, serviceName: name, taskDefinition: arns[0], desiredCount: 1, launchType: LaunchType.FARGATE,
      }));
      for (const arn of arns.slice(1)) await this.ecs.send(new UpdateServiceCommand({ cluster, service: name, taskDefinition: arn }));
      this.revisionsByCluster.set(service.cluster, [...this.revisionsByCluster.get(service.cluster) ?? [], ...arns]);
    });
    await this.runTasks(TASKS_PER_REVISION);
  }

  /** `perRevision` more running tasks of every revision, as their services' deployments start them. */
  async runTasks(perRevision: number): Promise<void> {
    const calls = [...this.revisionsByCluster].flatMap(([cluster, arns]) => arns.flatMap((arn) => {
      const family = arn.slice(arn.lastIndexOf('/') + 1, arn.lastIndexOf(':'));
      return chunks(Array.from({ length: perRevision }), RUN_TASK_MAX).map((part) => ({ cluster, arn, family, count: part.length }));
    }));
    await forEachConcurrently(calls, IN_FLIGHT, async (call) => {
      const out = await this.ecs.send(new RunTaskCommand({
        cluster: call.cluster,
        taskDefinition: call.arn,
        count: call.count,
        launchType: LaunchType.FARGATE,
        group: `service:${call.family}`,
        startedBy: `ecs-svc/${call.family}`,
      }));
      const started = (out.tasks ?? []).length;
      if (started !== call.count) throw new Error(`RunTask of ${call.arn} started ${started} of ${call.count} tasks`);
    });
    this.tasksPerRevision += perRevision;
  }

  /** `count` more images that nothing names, spread evenly over the repositories. */
  async addDeletable(count: number): Promise<void> {
    if (count % REPOSITORIES.length !== 0) throw new Error(`${count} deletable images do not spread evenly over ${REPOSITORIES.length} repositories`);
    const added: Deletable[] = [];
    const first = this.deletable.length / REPOSITORIES.length;
    for (let k = first; k < first + count / REPOSITORIES.length; k++) {
      for (const repository of REPOSITORIES) {
        const manifest = dockerManifest(`${repository}/old-build-${k}`);
        added.push({ repository, manifest, digest: sha256(manifest), ...(k % UNTAGGED_EVERY === 0 ? {} : { tag: `build-${k}` }) });
      }
    }
    await this.pushDeletable(added);
    this.deletable.push(...added);
  }

  /** Every deletable image pushed again, after checking that the run deleted them all and nothing else. */
  async restore(): Promise<void> {
    for (const repositoryName of REPOSITORIES) {
      const images = (await this.ecr.send(new DescribeImagesCommand({ repositoryName, maxResults: ECR_PAGE }))).imageDetails ?? [];
      const inUse = images.filter((i) => (i.imageTags ?? []).some((t) => /^svc-\d{3}-r\d+$/.test(t)));
      if (images.length !== IN_USE / REPOSITORIES.length || inUse.length !== images.length) {
        throw new Error(`${repositoryName} holds ${images.length} images after the run, ${inUse.length} of them in use; `
          + `expected exactly its ${IN_USE / REPOSITORIES.length} images in use`);
      }
    }
    await this.pushDeletable(this.deletable);
  }

  destroy(): void {
    this.ecr.destroy();
    this.ecs.destroy();
  }

  private async pushDeletable(images: readonly Deletable[]): Promise<void> {
    await forEachConcurrently(images, IN_FLIGHT, (image) => this.push(image.repository, image.manifest, image.tag));
  }

  private async push(repositoryName: string, imageManifest: string, imageTag: string | undefined): Promise<void> {
    await this.ecr.send(new PutImageCommand({
      repositoryName,
      imageManifest,
      imageManifestMediaType: MEDIA.dockerManifest,
      imageDigest: sha256(imageManifest),
      ...(imageTag ? { imageTag } : {}),
    }));
  }
}

/** What a run over `n` deletable images among the images in use must have done, or undefined. */
function checkRun(run: BundleRun, n: number): string | undefined {
  if (run.error) return `the handler failed: ${run.error.message}`;
  const { status, counts } = run.result ?? {};
  if (status !== 'SUCCEEDED' || counts?.actionsTaken !== n || counts?.actionsFailed !== 0 || counts?.kept !== IN_USE || counts?.scanned !== n + IN_USE) {
    return `expected ${n} images deleted and ${IN_USE} kept of ${n + IN_USE}, none failed, got ${status} ${JSON.stringify(counts)}`;
  }
  return undefined;
}

async function prepareFleet(snsClient: SNSClient, endpoint: string): Promise<EconomyFixture> {
  variant = await measureVariant(snsClient, endpoint);
  const fleet = new RetentionFleet(endpoint);
  let built = false;
  return {
    async add(matching: number, nonMatching: number): Promise<void> {
      if (!built) {
        if (nonMatching !== IN_USE) throw new Error(`the fleet is built with ${IN_USE} images in use, not ${nonMatching}`);
        await fleet.build();
        built = true;
      }
      await fleet.addDeletable(matching);
    },
    restore: () => fleet.restore(),
    minimumCalls: (n) => minimumCalls(n, TASKS_PER_REVISION),
    check: checkRun,
  };
}

// ---- the variant: many more tasks on the same revisions -------------------------------------------------

interface VariantRun {
  readonly tasks: number;
  readonly calls: Record<string, number>;
  readonly minimum: Record<string, number>;
  readonly ms: number;
}

/** Set by prepare(), read by the fleet description after the runs. */
let variant: VariantRun[] | undefined;

/**
 * A fleet of its own at N = VARIANT_N, run once with one task per deployment and once with
 * VARIANT_TASKS_PER_REVISION, each call named; then moto is reset (the topic made again, same ARN).
 */
async function measureVariant(snsClient: SNSClient, endpoint: string): Promise<VariantRun[]> {
  const topics = (await snsClient.send(new ListTopicsCommand({}))).Topics ?? [];
  if (topics.length !== 1) throw new Error(`expected the one topic of the bench in moto, found ${topics.length}`);
  const topicArn = topics[0].TopicArn!;
  const { env, timeoutSeconds } = synthesizedEnvironment(topicArn);
  const fleet = new RetentionFleet(endpoint);
  const proxy = await startFaultProxy({ target: endpoint });
  const tap = await startRestTap(proxy.endpoint);
  const runs: VariantRun[] = [];
  try {
    await fleet.build();
    await fleet.addDeletable(VARIANT_N);
    for (const more of [0, VARIANT_TASKS_PER_REVISION - TASKS_PER_REVISION]) {
      if (more > 0) {
        await fleet.runTasks(more);
        await fleet.restore();
      }
      proxy.reset();
      tap.reset();
      const { ms, value: run } = await timeMs(() => runBundle({
        bundlePath: bundlePath(imageRetention), env, event: SCHEDULE_EVENT, endpoint: tap.endpoint, timeoutSeconds, functionName: BUNDLE,
      }));
      const problem = checkRun(run, VARIANT_N);
      if (problem) throw new Error(`ImageRetention variant, ${fleet.tasks} tasks: ${problem}\nstderr:\n${run.stderr.slice(-4000)}`);
      const calls = withRestOperations(proxy.counts(), tap);
      runs.push({ tasks: fleet.tasks, calls, minimum: minimumCalls(VARIANT_N, fleet.tasks / REVISIONS), ms });
    }
  } finally {
    await tap.stop();
    await proxy.stop();
    fleet.destroy();
  }
  // Back to an empty moto for the measured fleets: the reset drops the topic too, made again under the same name.
  await motoApi(endpoint, '/moto-api/reset', {});
  const recreated = await snsClient.send(new CreateTopicCommand({ Name: topicArn.slice(topicArn.lastIndexOf(':') + 1) }));
  if (recreated.TopicArn !== topicArn) throw new Error(`the topic came back as ${recreated.TopicArn}, not ${topicArn}`);
  return runs;
}

function variantText(): string {
  if (!variant) return '';
  const total = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);
  const line = (run: VariantRun) => `${run.tasks.toLocaleString('en-US')} tasks: ${total(run.calls).toLocaleString('en-US')} calls / `
    + `${total(run.minimum).toLocaleString('en-US')} minimum = ${(total(run.calls) / total(run.minimum)).toFixed(2)}×, `
    + `DescribeTaskDefinition ${run.calls['ecs:DescribeTaskDefinition'] ?? 0}, DescribeTasks ${run.calls['ecs:DescribeTasks'] ?? 0} `
    + `(minimum ${run.minimum['ecs:DescribeTasks']}), ${(run.ms / 1000).toFixed(1)} s`;
  const [base, more] = variant;
  const changed = Object.keys({ ...base.calls, ...more.calls }).filter((op) => (base.calls[op] ?? 0) !== (more.calls[op] ?? 0));
  const named = Object.entries(base.calls).filter(([op]) => op.startsWith('lambda:') || op.startsWith('scheduler:'))
    .map(([op, calls]) => `${op} ${calls}`).join(', ');
  return `Variant, measured first on a fleet of its own at N = ${VARIANT_N.toLocaleString('en-US')} (then discarded): the same fleet with `
    + `${TASKS_PER_REVISION} and then ${VARIANT_TASKS_PER_REVISION} running tasks per deployment: ${line(base)}; ${line(more)}. `
    + `Operations whose count changed: ${changed.length ? changed.join(', ') : 'none'}. Its naming proxy named the REST calls: ${named || 'none'}`;
}

/** The function's environment and timeout as the construct deploys them, the topic pointing into moto. */
function synthesizedEnvironment(topicArn: string): { env: Record<string, string>; timeoutSeconds: number } {
  const app = new App();
  const stack = new Stack(app, 'BenchVariant', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  retentionForBench(stack, new sns.Topic(stack, 'Topic'));
  const template = Template.fromStack(stack).toJSON();
  const env = functionEnvironmentFromTemplate(template, { resolveRefs: { 'AWS::SNS::Topic': topicArn } });
  const fn = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment);
  return { env, timeoutSeconds: Number(fn?.Properties?.Timeout ?? 60) };
}

// ---- REST requests by operation ------------------------------------------------------------------------

interface RestTap {
  /** Give this to the handler: every request is passed on to the counting proxy. */
  readonly endpoint: string;
  /** Lambda and Scheduler requests since the last reset, by `service:Operation`. */
  counts(): Record<string, number>;
  reset(): void;
  stop(): Promise<void>;
}

const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/;
const REST_SERVICES = new Set(['lambda', 'scheduler']);

/** The REST operations the handler calls, from method and path; anything else by its method and path. */
function restOperation(service: string, method: string, url: string): string {
  const pathname = new URL(url, 'http://tap').pathname.replace(/\/+$/, '');
  if (service === 'lambda' && method === 'GET') {
    if (/^\/2015-03-31\/functions$/.test(pathname)) return 'ListFunctions';
    if (/^\/2015-03-31\/functions\/[^/]+$/.test(pathname)) return 'GetFunction';
  }
  if (service === 'scheduler' && method === 'GET') {
    if (pathname === '/schedules') return 'ListSchedules';
    if (/^\/schedules\/[^/]+$/.test(pathname)) return 'GetSchedule';
  }
  return `${method} ${pathname}`;
}

async function startRestTap(target: string): Promise<RestTap> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let seen: string[] = [];
  const server = http.createServer((req, res) => {
    const service = CREDENTIAL_SCOPE.exec(String(req.headers.authorization ?? ''))?.[1];
    if (service && REST_SERVICES.has(service)) seen.push(`${service}:${restOperation(service, req.method ?? 'GET', req.url ?? '/')}`);
    const options = { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent };
    const forward = http.request(options, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
    });
    forward.on('error', (error) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`rest tap: ${error.message}`);
    });
    req.pipe(forward);
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
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts() {
      const out: Record<string, number> = {};
      for (const key of seen) out[key] = (out[key] ?? 0) + 1;
      return out;
    },
    reset() {
      seen = [];
    },
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    }),
  };
}

/** The counting proxy's counts with its REST requests (`lambda:unknown`, `scheduler:unknown`) named by the tap. */
function withRestOperations(counts: Record<string, number>, tap: RestTap): Record<string, number> {
  const out: Record<string, number> = {};
  let rest = 0;
  for (const [key, value] of Object.entries(counts)) {
    if (REST_SERVICES.has(key.slice(0, key.indexOf(':')))) rest += value;
    else out[key] = value;
  }
  const named = tap.counts();
  const namedTotal = Object.values(named).reduce((a, b) => a + b, 0);
  if (namedTotal !== rest) throw new Error(`the counting proxy saw ${rest} Lambda and Scheduler requests, the tap ${namedTotal}`);
  return { ...out, ...named };
}

async function endpointOf(client: SNSClient): Promise<string> {
  const resolved = await client.config.endpoint!();
  return `${resolved.protocol}//${resolved.hostname}${resolved.port ? `:${resolved.port}` : ''}`;
}
