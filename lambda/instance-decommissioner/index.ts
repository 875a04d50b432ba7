import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { PartialItemFailureResponse } from '@aws-lambda-powertools/batch/types';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SNSClient } from '@aws-sdk/client-sns';
import { createAlarmIndexCache } from './alarms';
import { InstanceDecommissionerConfig, readConfig } from './config';
import { Clients, processBatch } from './decommission';
import { isSqsBatch, sqsRecords } from './events';
import { reconcile } from './reconcile';
import { clientConfig } from '../shared/clients';
import { deepenStackTraces, errorMessage } from '../shared/errors';
import { parseSweepEvent } from '../shared/event';
import { RunSummary } from '../shared/report';
import { runSweep } from '../shared/sweep';
import { createTelemetry, logEntries } from '../shared/telemetry';

const NAME = 'InstanceDecommissioner';
const sdk = clientConfig('instance-decommissioner');
const clients: Clients = {
  ec2: new EC2Client(sdk),
  dynamodb: new DynamoDBClient(sdk),
  // Route 53 is a global service with its endpoint in us-east-1 (the SDK resolves it for any region).
  route53: new Route53Client(sdk),
  cloudwatch: new CloudWatchClient(sdk),
  lambda: new LambdaClient(sdk),
  eventbridge: new EventBridgeClient(sdk),
  // Kept by the container: a burst of batches scans the account's alarms once, not once per batch.
  alarmIndex: createAlarmIndexCache(),
};
const sns = new SNSClient(sdk);
const { logger, metrics } = createTelemetry(process.env.POWERTOOLS_SERVICE_NAME ?? NAME);
const processor = new BatchProcessor(EventType.SQS);

// Read once per container; a bad value fails every invocation before any AWS call is made.
let config: InstanceDecommissionerConfig | undefined;

/** Largest number of entries returned in a sweep's result (the notification and logs carry all). */
const RESULT_ENTRIES_MAX = 200;
export type SweepResult = RunSummary & { entriesOmitted: number };

/**
 * Two invocations: a batch of state-change messages from the queue (answered with the messages to
 * deliver again), and the scheduled reconcile sweep.
 */
export async function handler(event: unknown): Promise<PartialItemFailureResponse | SweepResult> {
  deepenStackTraces();
  config ??= readConfig(process.env);
  const cfg = config;
  if (isSqsBatch(event)) return onBatch(event, cfg);
  const request = parseSweepEvent(event);
  const summary = await reconcile(cfg, { ...clients, sns, logger, metrics }, cfg.dryRun || request.dryRun === true, new Date());
  const entriesOmitted = Math.max(0, summary.entries.length - RESULT_ENTRIES_MAX);
  return { ...summary, entries: summary.entries.slice(0, RESULT_ENTRIES_MAX), entriesOmitted };
}

async function onBatch(event: { Records: unknown[] }, cfg: InstanceDecommissionerConfig): Promise<PartialItemFailureResponse> {
  const records = sqsRecords(event);
  const now = new Date();
  let failed: ReadonlySet<string>;
  try {
    const outcome = await processBatch(records, cfg, clients, now);
    failed = outcome.failedMessageIds;
    if (outcome.notify) {
      await runSweep({ construct: NAME, dryRun: cfg.dryRun, topicArn: cfg.topicArn, sns, logger, metrics, now }, async (recorder) => {
        recorder.scanned = outcome.instances;
        recorder.add(...outcome.entries);
      });
    } else {
      logEntries(logger, outcome.entries);
    }
  } catch (error) {
    // A step the whole batch depends on failed (the table, EC2): every message is delivered again.
    logger.error('batch failed before it finished; every message will be delivered again', { error: errorMessage(error), messages: records.length });
    failed = new Set(records.map((r) => r.messageId));
  }
  // Powertools builds the partial batch response (and fails the invocation when every message failed).
  return processPartialResponse(event as never, (record: { messageId: string }) => {
    if (failed.has(record.messageId)) throw new Error(`message ${record.messageId}: not processed completely, to be delivered again`);
  }, processor);
}
