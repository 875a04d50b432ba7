import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SNSClient } from '@aws-sdk/client-sns';
import { errorMessage } from './errors';
import { publishReport } from './notifier';
import { countEntries, ReportEntry, RunSummary, runStatus } from './report';
import { logEntries, publishRunMetrics } from './telemetry';

/** Collects what a run saw and did as it goes, so a run that dies half-way still reports it. */
export class RunRecorder {
  scanned = 0;
  readonly entries: ReportEntry[] = [];
  /** The construct's own summary lines (RunSummary.overview). */
  readonly overview: string[] = [];
  add(...entries: ReportEntry[]): void {
    this.entries.push(...entries);
  }
}

export interface SweepContext {
  readonly construct: string;
  readonly dryRun: boolean;
  readonly topicArn: string;
  readonly sns: SNSClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: Date;
  /** Whether this run's report goes to the topic; logs and metrics are written either way. @default every run */
  readonly shouldNotify?: (summary: RunSummary) => boolean;
}

/**
 * Runs observe → decide → act inside `work`, then always reports: one log line per entry, EMF
 * metrics and one SNS notification. A run that threw is reported as FAILED and the error is
 * re-thrown so the function's Errors alarm fires.
 */
export async function runSweep(ctx: SweepContext, work: (recorder: RunRecorder) => Promise<void>): Promise<RunSummary> {
  const recorder = new RunRecorder();
  let failure: unknown;
  try {
    await work(recorder);
  } catch (error) {
    failure = error;
    ctx.logger.error('run failed before it finished', { error: errorMessage(error) });
  }
  const counts = countEntries(recorder.entries, recorder.scanned);
  const error = failure === undefined ? undefined : errorMessage(failure);
  const summary: RunSummary = {
    construct: ctx.construct,
    status: runStatus(counts, error),
    dryRun: ctx.dryRun,
    startedAt: ctx.now.toISOString(),
    counts,
    error,
    ...(recorder.overview.length > 0 ? { overview: recorder.overview } : {}),
    entries: recorder.entries,
  };
  logEntries(ctx.logger, summary.entries);
  publishRunMetrics(ctx.metrics, summary);
  let messageId: string | undefined;
  try {
    if (ctx.shouldNotify?.(summary) ?? true) messageId = await publishReport(ctx.sns, ctx.topicArn, summary);
  } catch (publishError) {
    // The run is in the logs and metrics already; failing the invocation makes the error alarm fire.
    ctx.logger.error('run finished, but its report could not be published', {
      status: summary.status, dryRun: summary.dryRun, counts, error: errorMessage(publishError),
    });
    throw failure ?? publishError;
  }
  ctx.logger.info('run finished', { status: summary.status, dryRun: summary.dryRun, counts, notificationId: messageId });
  if (failure !== undefined) throw failure;
  return summary;
}
