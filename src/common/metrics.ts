import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { METRIC_DIMENSIONS, METRICS_NAMESPACE } from './metric-names';

export { METRICS_NAMESPACE };

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
    dimensionsMap: { [METRIC_DIMENSIONS.service]: serviceName, [METRIC_DIMENSIONS.functionName]: fn.functionName },
    statistic: cloudwatch.Stats.SUM,
    period: Duration.hours(1),
    ...props,
  });
}
