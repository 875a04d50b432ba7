import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient, paginateListTaskDefinitions, TaskDefinitionStatus } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { actOnImages, actOnRevisions } from './act';
import { ImageRetentionConfig, readConfig } from './config';
import { decideImages } from './decide';
import { repositoryOverview, revisionEntry } from './entries';
import { listRepositories, mayPull, ObservedRepository, observeRepository } from './observe';
import { accountOfArn } from './references';
import { decideRevisions } from './task-definitions';
import { AccountUsage, observeUsage, UsageClients } from './usage';
import { TASK_DEFINITION_CALL_INTERVAL_MS } from '../../src/image-retention/contract';
import { clientConfig } from '../shared/clients';
import { deepenStackTraces, errorCode, errorMessage } from '../shared/errors';
import { parseSweepEvent } from '../shared/event';
import { createPacer } from '../shared/pace';
import { collectPages } from '../shared/paginate';
import { RunSummary } from '../shared/report';
import { retryTransient } from '../shared/retry';
import { RunRecorder, runSweep } from '../shared/sweep';
import { createTelemetry } from '../shared/telemetry';

const CLIENT = clientConfig('image-retention');
const ecr = new ECRClient(CLIENT);
const sns = new SNSClient(CLIENT);
const sts = new STSClient(CLIENT);
const own: UsageClients = {
  ecs: new ECSClient(CLIENT),
  events: new EventBridgeClient(CLIENT),
  scheduler: new SchedulerClient(CLIENT),
  lambda: new LambdaClient(CLIENT),
};
const { logger, metrics } = createTelemetry(process.env.POWERTOOLS_SERVICE_NAME ?? 'ImageRetention');

// Read once per container; a bad value fails every invocation before any AWS call is made.
let config: ImageRetentionConfig | undefined;

/** Largest number of entries returned in the invocation result (the notification and logs carry all). */
const RESULT_ENTRIES_MAX = 200;
export const ROLE_SESSION_NAME = 'cdk-fleet-janitor-image-retention';

/** A consumer account that could not be read: the repositories it may pull keep every candidate. */
interface FailedConsumer {
  readonly role: string;
  readonly account: string;
  readonly errorCode: string;
  readonly message: string;
}

export async function handler(event: unknown): Promise<RunSummary & { entriesOmitted: number }> {
  deepenStackTraces();
  config ??= readConfig(process.env);
  const cfg = config;
  const request = parseSweepEvent(event);
  const dryRun = cfg.dryRun || request.dryRun === true;
  const now = new Date();

  const summary = await runSweep({ construct: 'ImageRetention', dryRun, topicArn: cfg.topicArn, sns, logger, metrics, now }, async (recorder) => {
    const { repositories: inScope, missing } = await listRepositories(ecr, cfg);
    for (const name of missing) recorder.overview.push(`${name}: no such repository in this account and region`);
    if (inScope.length === 0 && !cfg.taskDefinitions) {
      logger.info('no repository in scope', { repositories: cfg.repositories ?? 'tagged' });
      return;
    }
    const ownAccount = inScope[0]?.registryId ?? 'this account';
    // What runs where, and what the repositories hold, read side by side.
    const [ownUsage, consumers, observed] = await Promise.all([
      observeUsage(own, ownAccount),
      Promise.all(cfg.consumerAccountRoles.map((role) => consumerUsage(role))),
      Promise.all(inScope.map(async (repository) => {
        try {
          return await observeRepository(ecr, repository, cfg.protectionTagKey);
        } catch (error) {
          logger.warn('repository not read: nothing in it is touched this run', { repository: repository.repositoryName, errorCode: errorCode(error), error: errorMessage(error) });
          recorder.overview.push(`${repository.repositoryName}: could not be read (${errorCode(error)}: ${errorMessage(error)}); nothing in it was touched`);
          return undefined;
        }
      })),
    ]);
    const repositories = observed.filter((r): r is ObservedRepository => r !== undefined);
    const failed = consumers.filter((c): c is FailedConsumer => 'errorCode' in c);
    const usages = [ownUsage, ...consumers.filter((c): c is AccountUsage => 'uses' in c)];
    const unknownConsumers = await repositoriesPulledBy(failed, repositories);
    for (const consumer of failed) {
      const held = repositories.filter((r) => unknownConsumers.get(r.name)?.includes(consumer.account)).map((r) => r.name);
      recorder.overview.push(`consumer account ${consumer.account} (${consumer.role}) could not be read (${consumer.errorCode}): `
        + `every deletable image kept in the ${held.length} repositories it may pull${held.length ? `: ${held.join(', ')}` : ''}`);
    }

    const uses = usages.flatMap((u) => u.uses);
    const imagePlan = decideImages({ repositories, uses, unknownConsumers }, { ...cfg, dryRun }, cfg.maxActionsPerRun, now);
    recorder.scanned += repositories.reduce((n, r) => n + r.images.length, 0);
    logger.info('plan', { images: imagePlan.items.length, deletions: imagePlan.deletions, dryRun, action: cfg.action });
    await actOnImages(ecr, imagePlan.items, { action: cfg.action, dryRun }, (entries) => recorder.add(...entries));
    for (const repository of repositories) recorder.overview.push(repositoryOverview(repository.name, recorder.entries));

    if (cfg.taskDefinitions) await sweepRevisions(cfg, ownUsage, cfg.maxActionsPerRun - imagePlan.deletions, dryRun, recorder);
  });
  return {
    ...summary,
    entries: summary.entries.slice(0, RESULT_ENTRIES_MAX),
    entriesOmitted: Math.max(0, summary.entries.length - RESULT_ENTRIES_MAX),
  };
}

/** Reads one consumer account through its role; any failure is returned, never thrown. */
async function consumerUsage(role: string): Promise<AccountUsage | FailedConsumer> {
  const account = accountOfArn(role) ?? role;
  try {
    // Beyond the SDK's own attempts: a consumer taken as unreadable keeps everything it may pull.
    const out = await retryTransient(() => sts.send(new AssumeRoleCommand({ RoleArn: role, RoleSessionName: ROLE_SESSION_NAME })));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw Object.assign(new Error('AssumeRole returned no credentials'), { name: 'NoCredentials' });
    const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
    const clients: UsageClients = {
      ecs: new ECSClient({ ...CLIENT, credentials }),
      events: new EventBridgeClient({ ...CLIENT, credentials }),
      scheduler: new SchedulerClient({ ...CLIENT, credentials }),
      lambda: new LambdaClient({ ...CLIENT, credentials }),
    };
    return await observeUsage(clients, account);
  } catch (error) {
    logger.warn('consumer account not read', { role, account, errorCode: errorCode(error), error: errorMessage(error) });
    return { role, account, errorCode: errorCode(error), message: errorMessage(error) };
  }
}

/** Repository name → the failed consumer accounts that may pull it. */
async function repositoriesPulledBy(failed: readonly FailedConsumer[], repositories: readonly ObservedRepository[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const consumer of failed) {
    for (const repository of repositories) {
      if (!await mayPull(ecr, repository.name, consumer.account)) continue;
      map.set(repository.name, [...map.get(repository.name) ?? [], consumer.account]);
    }
  }
  return map;
}

async function sweepRevisions(
  cfg: ImageRetentionConfig,
  ownUsage: AccountUsage,
  budget: number,
  dryRun: boolean,
  recorder: RunRecorder,
): Promise<void> {
  const settings = cfg.taskDefinitions!;
  const list = async (status: TaskDefinitionStatus) => (await collectPages(
    (startingToken) => paginateListTaskDefinitions({ client: own.ecs, pageSize: 100, startingToken }, { status }),
    (page) => page.nextToken,
    (page) => page.taskDefinitionArns ?? [],
  )).items;
  const active = await list(TaskDefinitionStatus.ACTIVE);
  const inactive = settings.deleteInactive ? await list(TaskDefinitionStatus.INACTIVE) : [];
  recorder.scanned += active.length + inactive.length;
  const items = decideRevisions(active, inactive, ownUsage.taskDefinitionsInUse, settings, Math.max(0, budget), cfg.action === 'DELETE');
  const pacer = createPacer({ intervalMs: TASK_DEFINITION_CALL_INTERVAL_MS });
  await actOnRevisions(own.ecs, items, { action: cfg.action, dryRun, protectionTagKey: cfg.protectionTagKey, pacer }, (results) => {
    recorder.add(...results.map((r) => revisionEntry(r.item, r.outcome, r.errorCode)));
  });
  const rows = recorder.entries.filter((e) => e.resourceType === 'task-definition');
  const done = (action: string) => rows.filter((e) => e.action === action && e.outcome === 'DONE').length;
  recorder.overview.push(`task definitions: ${active.length} ACTIVE and ${inactive.length} INACTIVE revisions scanned, `
    + `${done('DEREGISTER')} deregistered, ${done('DELETE')} deleted, ${rows.filter((e) => e.outcome === 'FAILED').length} failed`);
}
