import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { act } from './act';
import { PackerCleanerConfig, readConfig } from './config';
import { decide } from './decide';
import { observe } from './observe';
import { clientConfig } from '../shared/clients';
import { deepenStackTraces } from '../shared/errors';
import { parseSweepEvent } from '../shared/event';
import { RunSummary } from '../shared/report';
import { runSweep } from '../shared/sweep';
import { createTelemetry } from '../shared/telemetry';

const ec2 = new EC2Client(clientConfig('packer-cleaner'));
const sns = new SNSClient(clientConfig('packer-cleaner'));
const { logger, metrics } = createTelemetry(process.env.POWERTOOLS_SERVICE_NAME ?? 'PackerCleaner');

// Read once per container; a bad value fails every invocation before any AWS call is made.
let config: PackerCleanerConfig | undefined;

/** Largest number of entries returned in the invocation result (the notification and logs carry all). */
const RESULT_ENTRIES_MAX = 200;

export async function handler(event: unknown): Promise<RunSummary & { entriesOmitted: number }> {
  deepenStackTraces();
  config ??= readConfig(process.env);
  const cfg = config;
  const request = parseSweepEvent(event);
  const dryRun = cfg.dryRun || request.dryRun === true;
  const now = new Date();

  const summary = await runSweep({ construct: 'PackerCleaner', dryRun, topicArn: cfg.topicArn, sns, logger, metrics, now }, async (recorder) => {
    const observation = await observe(ec2, cfg);
    recorder.scanned = observation.scanned;
    const plan = decide(observation, cfg, now);
    logger.info('plan', { matched: plan.items.length, ignored: plan.ignored, dryRun });
    await act(ec2, plan, dryRun, (entries) => recorder.add(...entries));
  });
  return {
    ...summary,
    entries: summary.entries.slice(0, RESULT_ENTRIES_MAX),
    entriesOmitted: Math.max(0, summary.entries.length - RESULT_ENTRIES_MAX),
  };
}
