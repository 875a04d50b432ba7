import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ReportEntry, RunSummary } from './report';
import { METRIC_DIMENSIONS, METRIC_NAMES, METRICS_NAMESPACE } from '../../src/common/metric-names';

/*
 * One JSON log line per decision/action and one EMF record per run, with the metric names and
 * dimensions the constructs' metricXxx() methods read (one definition: src/common/metric-names.ts).
 */
export { METRIC_NAMES };

export function createTelemetry(serviceName: string) {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ serviceName, namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE });
  return { logger, metrics };
}

export function logEntries(logger: Logger, entries: readonly ReportEntry[]): void {
  for (const entry of entries) {
    const line = {
      resourceType: entry.resourceType,
      resourceId: entry.id,
      action: entry.action,
      outcome: entry.outcome,
      reason: entry.reason,
      errorCode: entry.errorCode,
      ...Object.fromEntries(entry.details),
    };
    if (entry.outcome === 'FAILED') logger.warn('action failed', line);
    else logger.info('decision', line);
  }
}

export function publishRunMetrics(metrics: Metrics, summary: RunSummary): void {
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
  if (functionName) metrics.addDimension(METRIC_DIMENSIONS.functionName, functionName);
  const c = summary.counts;
  metrics.addMetric(METRIC_NAMES.scanned, MetricUnit.Count, c.scanned);
  metrics.addMetric(METRIC_NAMES.actionsTaken, MetricUnit.Count, c.actionsTaken);
  metrics.addMetric(METRIC_NAMES.actionsFailed, MetricUnit.Count, c.actionsFailed);
  metrics.addMetric(METRIC_NAMES.skippedProtected, MetricUnit.Count, c.skippedProtected);
  metrics.addMetric(METRIC_NAMES.skippedCap, MetricUnit.Count, c.skippedCap);
  metrics.publishStoredMetrics();
}
