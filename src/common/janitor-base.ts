import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { IFleetJanitor } from './janitor';
import { METRIC_NAMES } from './metric-names';
import { janitorMetric } from './metrics';

/**
 * What every fleet-janitor construct has in common: the metrics its handler emits, read with the
 * names and dimensions the handler writes them with (one definition, src/common/metric-names.ts).
 */
export abstract class FleetJanitorBase extends Construct implements IFleetJanitor {
  /** The kind of janitor, e.g. "PackerCleaner" (also the `service` dimension of its metrics). */
  public abstract readonly janitorName: string;
  /** The handler function. */
  public abstract readonly handler: lambda.IFunction;
  /** The topic that receives the reports and the alarms. */
  public abstract readonly topic: sns.ITopic;
  /** Every alarm of the janitor; each notifies `topic`. */
  public abstract readonly alarms: cloudwatch.IAlarm[];

  /** Resources each run looked at. */
  public metricResourcesScanned(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return janitorMetric(this.handler, this.janitorName, METRIC_NAMES.scanned, props);
  }

  /** Changes carried out. */
  public metricActionsTaken(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return janitorMetric(this.handler, this.janitorName, METRIC_NAMES.actionsTaken, props);
  }

  /** Changes AWS refused. */
  public metricActionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return janitorMetric(this.handler, this.janitorName, METRIC_NAMES.actionsFailed, props);
  }

  /** Candidates left alone because they carry the protection tag. */
  public metricSkippedProtected(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return janitorMetric(this.handler, this.janitorName, METRIC_NAMES.skippedProtected, props);
  }

  /** Candidates left for a later run because of `maxActionsPerRun`. */
  public metricSkippedCap(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return janitorMetric(this.handler, this.janitorName, METRIC_NAMES.skippedCap, props);
  }
}
