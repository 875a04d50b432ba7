import {
  DescribeServiceRevisionsCommand, DescribeServicesCommand, DescribeTaskDefinitionCommand, DescribeTasksCommand, DesiredStatus, ECSClient,
  paginateListClusters, paginateListServices, paginateListTasks,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, ListEventBusesCommand, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionCommand, LambdaClient, paginateListFunctions } from '@aws-sdk/client-lambda';
import { GetScheduleCommand, paginateListSchedules, SchedulerClient } from '@aws-sdk/client-scheduler';
import { ECS_DESCRIBE_SERVICE_REVISIONS_MAX, ECS_DESCRIBE_SERVICES_MAX, ECS_DESCRIBE_TASKS_MAX } from '../../src/image-retention/contract';
import { chunk, mapConcurrent } from '../shared/batch';
import { errorCode } from '../shared/errors';
import { collectPages, tokenPages } from '../shared/paginate';
import { retryTransient } from '../shared/retry';

/*
 * What one account runs: every image its ECS services, tasks, scheduled tasks and Lambda image
 * functions name, read with that account's clients (ours, or a consumer role's).
 */

export interface UsageClients {
  readonly ecs: ECSClient;
  readonly events: EventBridgeClient;
  readonly scheduler: SchedulerClient;
  readonly lambda: LambdaClient;
}

/** An image as something names it: the URI it runs, and the digest it reported, if any. */
export interface ImageUse {
  readonly image: string;
  readonly digest?: string;
  readonly usedBy: string;
}

export interface AccountUsage {
  readonly account: string;
  readonly uses: ImageUse[];
  /** The task definition revisions (ARNs) that something in the account runs or will run. */
  readonly taskDefinitionsInUse: Set<string>;
  /** API calls by operation, for the report's overview and the bench. */
  readonly pages: number;
}

interface TaskDefinitionUse {
  readonly reference: string;
  readonly usedBy: string;
}

const LIST_PAGE_SIZE = 100;

/** Reads every use of a container image in one account. Throws when any listing fails: partial knowledge is no knowledge. */
export async function observeUsage(clients: UsageClients, account: string): Promise<AccountUsage> {
  const uses: ImageUse[] = [];
  const taskDefinitions: TaskDefinitionUse[] = [];
  let pages = 0;
  const count = (n: number) => {
    pages += n;
  };
  await Promise.all([
    ecsUses(clients.ecs, account, uses, taskDefinitions, count),
    ruleUses(clients.events, account, taskDefinitions, count),
    scheduleUses(clients.scheduler, account, taskDefinitions, count),
    lambdaUses(clients.lambda, account, uses, count),
  ]);
  const taskDefinitionsInUse = new Set<string>();
  // One DescribeTaskDefinition per distinct revision, however many tasks run it and however it is named.
  const byRevision = new Map<string, { reference: string; usedBy: string }>();
  for (const use of taskDefinitions) {
    const key = revisionKey(use.reference);
    if (!byRevision.has(key)) byRevision.set(key, use);
  }
  const revisions = [...byRevision.values()];
  const described = await mapConcurrent(revisions, DESCRIBE_CONCURRENCY, async ({ reference }) => {
    try {
      return (await retryTransient(() => clients.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: reference })))).taskDefinition;
    } catch (error) {
      // A rule or schedule naming a family with no ACTIVE revision left runs nothing.
      if (errorCode(error) === 'ClientException' && isFamilyOnly(reference)) return undefined;
      throw error;
    } finally {
      pages++;
    }
  });
  revisions.forEach(({ reference, usedBy }, i) => {
    const definition = described[i];
    if (!definition) return;
    if (definition.taskDefinitionArn) taskDefinitionsInUse.add(definition.taskDefinitionArn);
    const revision = definition.family ? `${definition.family}:${definition.revision}` : reference;
    for (const container of definition.containerDefinitions ?? []) {
      if (container.image) uses.push({ image: container.image, usedBy: `${usedBy} (task definition ${revision})` });
    }
  });
  return { account, uses, taskDefinitionsInUse, pages };
}

/** DescribeTaskDefinition calls in flight at once: the bulk of a run's calls, and independent. */
const DESCRIBE_CONCURRENCY = 4;

/** A task definition reference as `family[:revision]`, whether written as that or as its ARN (one account's). */
export function revisionKey(reference: string): string {
  const marker = ':task-definition/';
  return reference.includes(marker) ? reference.slice(reference.indexOf(marker) + marker.length) : reference;
}

/** `family` or `arn:…:task-definition/family` (no revision): ECS takes its latest ACTIVE revision. */
export function isFamilyOnly(reference: string): boolean {
  return !revisionKey(reference).includes(':');
}

function nameOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

type Count = (n: number) => void;

/**
 * A service or task deleted between the listing and the describe runs nothing (MISSING); any other
 * failure leaves its usage unknown, which fails the account.
 */
function throwUnlessMissing(operation: string, failures: ReadonlyArray<{ arn?: string; reason?: string }> | undefined): void {
  const unexpected = (failures ?? []).filter((f) => f.reason !== 'MISSING');
  if (unexpected.length > 0) throw new Error(`${operation} failed for ${unexpected.map((f) => `${f.arn}: ${f.reason}`).join(', ')}`);
}

async function ecsUses(ecs: ECSClient, account: string, uses: ImageUse[], taskDefinitions: TaskDefinitionUse[], count: Count): Promise<void> {
  const clusters = await collectPages(
    (startingToken) => paginateListClusters({ client: ecs, pageSize: LIST_PAGE_SIZE, startingToken }, {}),
    (page) => page.nextToken,
    (page) => page.clusterArns ?? [],
  );
  count(clusters.pages);
  for (const cluster of clusters.items) {
    const clusterName = nameOf(cluster);
    const services = await collectPages(
      (startingToken) => paginateListServices({ client: ecs, pageSize: LIST_PAGE_SIZE, startingToken }, { cluster }),
      (page) => page.nextToken,
      (page) => page.serviceArns ?? [],
    );
    count(services.pages);
    const serviceRevisions = new Map<string, string>();
    for (const batch of chunk(services.items, ECS_DESCRIBE_SERVICES_MAX)) {
      const out = await retryTransient(() => ecs.send(new DescribeServicesCommand({ cluster, services: batch })));
      count(1);
      throwUnlessMissing('DescribeServices', out.failures);
      for (const service of out.services ?? []) {
        const usedBy = `ecs-service ${account}/${clusterName}/${service.serviceName}`;
        const revisions = [
          service.taskDefinition,
          ...(service.deployments ?? []).map((d) => d.taskDefinition),
          ...(service.taskSets ?? []).map((t) => t.taskDefinition),
        ];
        for (const reference of revisions) if (reference) taskDefinitions.push({ reference, usedBy });
        for (const revision of service.currentServiceRevisions ?? []) if (revision.arn) serviceRevisions.set(revision.arn, usedBy);
      }
    }
    await pinnedDigests(ecs, serviceRevisions, uses, count);
    // Tasks that are not STOPPED: those meant to run, and those on their way down.
    for (const desiredStatus of [DesiredStatus.RUNNING, DesiredStatus.STOPPED]) {
      const tasks = await collectPages(
        (startingToken) => paginateListTasks({ client: ecs, pageSize: LIST_PAGE_SIZE, startingToken }, { cluster, desiredStatus }),
        (page) => page.nextToken,
        (page) => page.taskArns ?? [],
      );
      count(tasks.pages);
      for (const batch of chunk(tasks.items, ECS_DESCRIBE_TASKS_MAX)) {
        const out = await retryTransient(() => ecs.send(new DescribeTasksCommand({ cluster, tasks: batch })));
        count(1);
        throwUnlessMissing('DescribeTasks', out.failures);
        for (const task of out.tasks ?? []) {
          if (task.lastStatus === 'STOPPED') continue;
          const usedBy = `ecs-task ${account}/${clusterName}/${nameOf(task.taskArn ?? 'unknown')}`;
          if (task.taskDefinitionArn) taskDefinitions.push({ reference: task.taskDefinitionArn, usedBy });
          for (const container of task.containers ?? []) {
            if (container.image) uses.push({ image: container.image, ...(container.imageDigest ? { digest: container.imageDigest } : {}), usedBy });
          }
        }
      }
    }
  }
}

/**
 * The digests ECS resolved each service's images to when it deployed them (version consistency):
 * a service scaling up later starts those digests, not what its tags name now. A revision ECS
 * cannot describe (made before service revisions existed, October 2024) leaves its tags as the
 * only reference, as before.
 */
async function pinnedDigests(ecs: ECSClient, revisions: Map<string, string>, uses: ImageUse[], count: Count): Promise<void> {
  for (const batch of chunk([...revisions.keys()], ECS_DESCRIBE_SERVICE_REVISIONS_MAX)) {
    const out = await retryTransient(() => ecs.send(new DescribeServiceRevisionsCommand({ serviceRevisionArns: batch })));
    count(1);
    for (const revision of out.serviceRevisions ?? []) {
      const owner = revisions.get(revision.serviceRevisionArn ?? '') ?? `ecs-service-revision ${revision.serviceRevisionArn}`;
      // Named as the task definition's own uses are: this use comes first, and the first use names the image in the report.
      const usedBy = revision.taskDefinition ? `${owner} (task definition ${revisionKey(revision.taskDefinition)})` : owner;
      for (const image of revision.containerImages ?? []) {
        if (image.image) uses.push({ image: image.image, ...(image.imageDigest ? { digest: image.imageDigest } : {}), usedBy });
      }
    }
  }
}

async function ruleUses(events: EventBridgeClient, account: string, taskDefinitions: TaskDefinitionUse[], count: Count): Promise<void> {
  const buses = await collectPages(
    (startingToken) => tokenPages((NextToken) => events.send(new ListEventBusesCommand({ NextToken })), startingToken),
    (page) => page.NextToken,
    (page) => page.EventBuses ?? [],
  );
  count(buses.pages);
  for (const bus of buses.items) {
    const rules = await collectPages(
      (startingToken) => tokenPages((NextToken) => events.send(new ListRulesCommand({ EventBusName: bus.Name, NextToken })), startingToken),
      (page) => page.NextToken,
      (page) => page.Rules ?? [],
    );
    count(rules.pages);
    for (const rule of rules.items) {
      const targets = await collectPages(
        (startingToken) => tokenPages(
          (NextToken) => events.send(new ListTargetsByRuleCommand({ Rule: rule.Name, EventBusName: bus.Name, NextToken })),
          startingToken,
        ),
        (page) => page.NextToken,
        (page) => page.Targets ?? [],
      );
      count(targets.pages);
      for (const target of targets.items) {
        const reference = target.EcsParameters?.TaskDefinitionArn;
        if (reference) taskDefinitions.push({ reference, usedBy: `events-rule ${account}/${bus.Name}/${rule.Name}` });
      }
    }
  }
}

/** Scheduler targets that run ECS tasks: the templated ECS target, or the universal aws-sdk:ecs:runTask one. */
const ECS_TARGET = /^arn:aws[a-z-]*:ecs:/;
const UNIVERSAL_RUN_TASK = /^arn:aws[a-z-]*:scheduler:::aws-sdk:ecs:runTask$/i;

async function scheduleUses(scheduler: SchedulerClient, account: string, taskDefinitions: TaskDefinitionUse[], count: Count): Promise<void> {
  const schedules = await collectPages(
    (startingToken) => paginateListSchedules({ client: scheduler, pageSize: LIST_PAGE_SIZE, startingToken }, {}),
    (page) => page.NextToken,
    (page) => page.Schedules ?? [],
  );
  count(schedules.pages);
  for (const summary of schedules.items) {
    const targetArn = summary.Target?.Arn ?? '';
    if (!ECS_TARGET.test(targetArn) && !UNIVERSAL_RUN_TASK.test(targetArn)) continue;
    const schedule = await retryTransient(() => scheduler.send(new GetScheduleCommand({ Name: summary.Name, GroupName: summary.GroupName })));
    count(1);
    const usedBy = `scheduler-schedule ${account}/${summary.GroupName ?? 'default'}/${summary.Name}`;
    const reference = schedule.Target?.EcsParameters?.TaskDefinitionArn ?? runTaskInputDefinition(schedule.Target?.Input);
    if (reference) taskDefinitions.push({ reference, usedBy });
  }
}

/** The task definition of a universal `ecs:runTask` target's input (`{"TaskDefinition": "..."}`). */
export function runTaskInputDefinition(input: string | undefined): string | undefined {
  if (!input) return undefined;
  try {
    const parsed = JSON.parse(input) as { TaskDefinition?: unknown; taskDefinition?: unknown };
    const value = parsed.TaskDefinition ?? parsed.taskDefinition;
    return typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    return undefined;
  }
}

async function lambdaUses(lambda: LambdaClient, account: string, uses: ImageUse[], count: Count): Promise<void> {
  const functions = await collectPages(
    // ALL lists $LATEST and every published version; aliases point at versions.
    (startingToken) => paginateListFunctions({ client: lambda, pageSize: 50, startingToken }, { FunctionVersion: 'ALL' }),
    (page) => page.NextMarker,
    (page) => page.Functions ?? [],
  );
  count(functions.pages);
  for (const fn of functions.items) {
    if (fn.PackageType !== 'Image' || !fn.FunctionName) continue;
    const out = await retryTransient(() => lambda.send(new GetFunctionCommand({ FunctionName: fn.FunctionName, Qualifier: fn.Version })));
    count(1);
    const usedBy = `lambda ${account}/${fn.FunctionName}:${fn.Version ?? '$LATEST'}`;
    const resolved = out.Code?.ResolvedImageUri;
    const digest = resolved?.includes('@') ? resolved.slice(resolved.indexOf('@') + 1) : undefined;
    if (out.Code?.ImageUri) uses.push({ image: out.Code.ImageUri, ...(digest ? { digest } : {}), usedBy });
    else if (resolved) uses.push({ image: resolved, usedBy });
  }
}
