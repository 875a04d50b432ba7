import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface FailureAlarms {
  readonly errorAlarm: cloudwatch.Alarm;
  readonly throttleAlarm: cloudwatch.Alarm;
}

/** A failed or throttled run is never silent: each alarm notifies the construct's topic. */
export function createFailureAlarms(scope: Construct, fn: lambda.IFunction, topic: sns.ITopic, label: string): FailureAlarms {
  const period = Duration.minutes(5);
  const errorAlarm = new cloudwatch.Alarm(scope, 'ErrorAlarm', {
    alarmDescription: `${label}: the handler failed (bad configuration, AWS errors, or a run that could not finish). See its log group.`,
    metric: fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const throttleAlarm = new cloudwatch.Alarm(scope, 'ThrottleAlarm', {
    alarmDescription: `${label}: invocations were throttled, so a run may not have happened.`,
    metric: fn.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  for (const alarm of [errorAlarm, throttleAlarm]) alarm.addAlarmAction(new actions.SnsAction(topic));
  return { errorAlarm, throttleAlarm };
}
