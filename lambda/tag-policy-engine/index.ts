import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { act } from './act';
import { backfillCreators } from './backfill';
import { cacheCreators } from './cache';
import { readConfig, TagPolicyEngineConfig } from './config';
import { launchFromRecord } from './creators';
import { CreatorStatus, decide, needsCreator, ObservedInstance, PlanItem } from './decide';
import { kindOf, parseLaunchEvent } from './events';
import { observeInstances, readRuleTable, RuleTable } from './observe';
import { overviewLines } from './overview';
import { parseRulesRequest, RulesResult, syncRules } from './rules-sync';
import { valueProblem } from '../../src/tag-policy-engine/rule-format';
import { clientConfig } from '../shared/clients';
import { deepenStackTraces, errorCode } from '../shared/errors';
import { parseSweepEvent } from '../shared/event';
import { countEntries, ReportEntry, RunSummary } from '../shared/report';
import { retryTransient } from '../shared/retry';
import { runSweep } from '../shared/sweep';
import { createTelemetry } from '../shared/telemetry';

const NAME = 'TagPolicyEngine';
const ec2 = new EC2Client(clientConfig('tag-policy-engine'));
const sns = new SNSClient(clientConfig('tag-policy-engine'));
const dynamodb = new DynamoDBClient(clientConfig('tag-policy-engine'));
const cloudtrail = new CloudTrailClient(clientConfig('tag-policy-engine'));
const { logger, metrics } = createTelemetry(process.env.POWERTOOLS_SERVICE_NAME ?? NAME);

// Read once per container; a bad value fails every invocation before any AWS call is made.
let config: TagPolicyEngineConfig | undefined;

/** Largest number of entries returned in the invocation result (the notification and logs carry all). */
const RESULT_ENTRIES_MAX = 200;
/** A new instance can be unknown to DescribeInstances for a few seconds after RunInstances returns. */
const LAUNCH_DESCRIBE_ATTEMPTS = 5;

export type SweepResult = RunSummary & { entriesOmitted: number };

/**
 * One function, three invocations: the scheduled sweep, a RunInstances event (tag the creator now),
 * and the custom resource that writes the props rules on deploy.
 */
export async function handler(event: unknown): Promise<SweepResult | RulesResult> {
  deepenStackTraces();
  // The rules resource carries everything it needs in its properties: a bad environment must not
  // stop a stack from deleting or rolling back its rules.
  if (kindOf(event) === 'rules') {
    const request = parseRulesRequest(event as Record<string, unknown>);
    logger.info('rules', { requestType: request.requestType, tableName: request.tableName, rules: request.items.length });
    return syncRules(dynamodb, request);
  }
  config ??= readConfig(process.env);
  const cfg = config;
  switch (kindOf(event)) {
    case 'launch':
      return trimmed(await onLaunch(parseLaunchEvent(event as Record<string, unknown>), cfg));
    default: {
      const request = parseSweepEvent(event);
      return trimmed(await sweep(cfg, cfg.dryRun || request.dryRun === true));
    }
  }
}

function trimmed(summary: RunSummary): SweepResult {
  return {
    ...summary,
    entries: summary.entries.slice(0, RESULT_ENTRIES_MAX),
    entriesOmitted: Math.max(0, summary.entries.length - RESULT_ENTRIES_MAX),
  };
}

async function sweep(cfg: TagPolicyEngineConfig, dryRun: boolean): Promise<RunSummary> {
  const now = new Date();
  return runSweep({ construct: NAME, dryRun, topicArn: cfg.topicArn, sns, logger, metrics, now }, async (recorder) => {
    const table = await readRuleTable(dynamodb, cfg.tableName);
    recorder.add(...table.invalid.map(invalidRuleEntry));
    const instances = await observeInstances(ec2, cfg);
    recorder.scanned = instances.length;

    const creators = await resolveCreators(instances, table, cfg, { now, dryRun, record: (entry) => recorder.add(entry) });

    const plan = decide(instances, table.rules, creators, cfg, now);
    recorder.overview.push(...overviewLines(plan));
    logger.info('plan', { rules: table.rules.length, invalidRules: table.invalid.length, instances: instances.length, compliant: plan.compliant, items: plan.items.length, dryRun });
    await act(ec2, plan, dryRun, (entries) => recorder.add(...entries));
  });
}

/**
 * What is known of the creator of each instance a creator rule could fill in: cached by an earlier
 * run, found in CloudTrail now (and cached, outside a dry run), unknown, or pending (the lookup
 * budget ran out, or CloudTrail failed: reported, and the rest of the run goes on).
 */
async function resolveCreators(
  instances: readonly ObservedInstance[],
  table: RuleTable,
  cfg: TagPolicyEngineConfig,
  run: { readonly now: Date; readonly dryRun: boolean; readonly record: (entry: ReportEntry) => void },
): Promise<Map<string, CreatorStatus>> {
  const creators = new Map<string, CreatorStatus>();
  const toLookUp: ObservedInstance[] = [];
  for (const instance of instances.filter((i) => needsCreator(i, table.rules, cfg.protectionTagKey))) {
    const cached = table.cachedCreators.get(instance.instanceId);
    if (cached !== undefined) creators.set(instance.instanceId, { kind: 'known', creator: cached });
    else if (cfg.backfillCreators) toLookUp.push(instance);
    else creators.set(instance.instanceId, { kind: 'unknown', why: 'not captured at launch, and backfillCreators is off' });
  }
  if (toLookUp.length === 0) return creators;

  const backfill = await backfillCreators(cloudtrail, toLookUp, { now: run.now, maxLookups: cfg.backfillMaxLookups });
  for (const [id, status] of backfill.statuses) creators.set(id, status);
  logger.info('creator backfill', { instances: toLookUp.length, lookups: backfill.lookups, windowsSearched: backfill.windows, found: backfill.found.size });
  if (backfill.error) {
    // The run goes on (fixed values, launch dates, marks); the failure is reported, not swallowed.
    const pending = [...backfill.statuses.values()].filter((s) => s.kind === 'pending').length;
    logger.warn('creator backfill stopped', { error: backfill.error.code, pending });
    run.record({
      resourceType: 'cloudtrail',
      id: 'LookupEvents',
      action: 'LOOKUP',
      reason: `creator lookup in CloudTrail failed (${backfill.error.message}); ${pending} instance(s) left for a later run`,
      outcome: 'FAILED',
      errorCode: backfill.error.code,
      details: [],
    });
  }
  // (cacheCreators makes no call when nothing was found.)
  if (!run.dryRun) {
    const launches = new Map(toLookUp.map((i) => [i.instanceId, i.launchedAt]));
    // The cache only saves later lookups: a failure to write it costs lookups, never a wrong tag.
    try {
      await cacheCreators(dynamodb, cfg.tableName, backfill.found, launches, run.now);
    } catch (error) {
      logger.warn('creators found, but not cached', { error: errorCode(error) });
    }
  }
  return creators;
}

/** Tags a launch's instances with their creator, for every rule whose default is the creator. */
async function onLaunch(record: Record<string, unknown>, cfg: TagPolicyEngineConfig): Promise<RunSummary> {
  const now = new Date();
  const launch = launchFromRecord(record);
  const recorder: ReportEntry[] = [];
  if (launch) {
    const table = await readRuleTable(dynamodb, cfg.tableName);
    const rules = table.rules.filter((r) => r.defaultValue?.kind === 'creator');
    if (rules.length > 0) {
      const instances = await retryTransient(() => observeInstances(ec2, cfg, launch.instanceIds), {
        attempts: LAUNCH_DESCRIBE_ATTEMPTS,
        baseDelayMs: 1_000,
        retryOn: (error) => errorCode(error) === 'InvalidInstanceID.NotFound',
      });
      const items: PlanItem[] = [];
      for (const instance of instances) {
        if (Object.prototype.hasOwnProperty.call(instance.tags, cfg.protectionTagKey)) continue;
        for (const rule of rules) {
          if (instance.tags[rule.tagKey]?.trim()) continue;
          // A creator the rule would refuse is left to the sweep, which reports it as a violation.
          if (valueProblem(rule, launch.creator)) continue;
          items.push({
            instanceId: instance.instanceId,
            action: 'TAG',
            disposition: 'ACT',
            reason: `launched by ${launch.creator}: creator default of rule ${rule.ruleId}`,
            tag: { key: rule.tagKey, value: launch.creator },
            alsoTag: cfg.propagateToVolumes ? instance.attachedResourceIds : undefined,
            details: [['tag', `${rule.tagKey}=${launch.creator}`]],
          });
        }
      }
      await act(ec2, { items, compliant: 0 }, cfg.dryRun, (entries) => recorder.push(...entries));
    }
  }
  logger.info('launch', { creator: launch?.creator, instances: launch?.instanceIds.length ?? 0, tagged: recorder.filter((e) => e.outcome === 'DONE').length });
  // A launch is reported only when something failed: one notification per instance launched would be noise.
  const failed = recorder.some((e) => e.outcome === 'FAILED');
  if (!failed) {
    for (const entry of recorder) logger.info('decision', { resourceId: entry.id, action: entry.action, outcome: entry.outcome, reason: entry.reason });
    return { construct: NAME, status: 'SUCCEEDED', dryRun: cfg.dryRun, startedAt: now.toISOString(), counts: countEntries(recorder, launch?.instanceIds.length ?? 0), entries: recorder };
  }
  return runSweep({ construct: NAME, dryRun: cfg.dryRun, topicArn: cfg.topicArn, sns, logger, metrics, now }, async (r) => {
    r.scanned = launch?.instanceIds.length ?? 0;
    r.add(...recorder);
  });
}

function invalidRuleEntry(invalid: { ruleId: string; error: string }): ReportEntry {
  return { resourceType: 'rule', id: invalid.ruleId, action: 'NONE', reason: `invalid rule item, skipped (the other rules apply): ${invalid.error}`, outcome: 'REPORTED', details: [] };
}
