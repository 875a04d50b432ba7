import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/** Namespace the handlers' EMF records use (POWERTOOLS_METRICS_NAMESPACE). */
export const METRICS_NAMESPACE = 'CdkFleetJanitor';

/**
 * A metric a janitor handler emits. Powertools tags each record with the service name and the
 * handler adds the function name, so two instances of a construct in one account never mix.
 */
export function janitorMetric(
  fn: lambda.IFunction, serviceName: string, metricName: string, props: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: serviceName, FunctionName: fn.functionName },
    statistic: cloudwatch.Stats.SUM,
    period: Duration.hours(1),
    ...props,
  });
}
