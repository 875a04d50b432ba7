import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { IConstruct } from 'constructs';

/**
 * What every fleet-janitor construct offers for wiring and monitoring: its handler, its topic, its
 * alarms and the metrics every handler emits. `FleetJanitorDashboard.addJanitor()` takes any of them.
 */
export interface IFleetJanitor extends IConstruct {
  /** The kind of janitor, e.g. "PackerCleaner" (also the `service` dimension of its metrics). */
  readonly janitorName: string;
  /** The handler function. */
  readonly handler: lambda.IFunction;
  /** The topic that receives each run's report and the alarms. */
  readonly topic: sns.ITopic;
  /** Every alarm of the janitor; each notifies `topic`. */
  readonly alarms: cloudwatch.IAlarm[];

  /** Resources each run looked at. */
  metricResourcesScanned(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Changes carried out. */
  metricActionsTaken(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Changes AWS refused. */
  metricActionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Candidates left alone because they carry the protection tag. */
  metricSkippedProtected(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Candidates left for a later run because of `maxActionsPerRun`. */
  metricSkippedCap(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}
