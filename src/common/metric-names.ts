/*
 * The metrics every janitor handler emits (EMF) and the dimensions it emits them with. The one
 * definition both sides read: the handlers (lambda/shared/telemetry.ts, which bundles this file) and
 * the constructs' metricXxx() methods and the dashboard (src/common/metrics.ts). Plain data, no
 * imports, so that the handler bundle stays free of aws-cdk-lib.
 */

/** Namespace of every record (the function's POWERTOOLS_METRICS_NAMESPACE). */
export const METRICS_NAMESPACE = 'CdkFleetJanitor';

/** Metric name by the run count it carries (RunSummary.counts). */
export const METRIC_NAMES = {
  scanned: 'ResourcesScanned',
  actionsTaken: 'ActionsTaken',
  actionsFailed: 'ActionsFailed',
  skippedProtected: 'SkippedProtected',
  skippedCap: 'SkippedCap',
} as const;

/**
 * Dimensions of every record: Powertools' service dimension (the construct's name), and the
 * function's name, which the handler adds so that two instances of a construct never mix.
 */
export const METRIC_DIMENSIONS = { service: 'service', functionName: 'FunctionName' } as const;

/** EcsInstanceDrainer's own metric: how long each drain lasted, emitted when it ends. */
export const DRAINER_METRIC_NAMES = { drainDuration: 'DrainDurationSeconds' } as const;
