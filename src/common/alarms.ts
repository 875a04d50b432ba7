import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface FailureAlarms {
  readonly errorAlarm: cloudwatch.Alarm;
  readonly throttleAlarm: cloudwatch.Alarm;
  /** Present when the function has a dead-letter queue. */
  readonly deadLetterAlarm?: cloudwatch.Alarm;
}

/**
 * A failed, throttled or dropped run is never silent: each alarm notifies the construct's topic (a
 * function shared by several constructs passes none and adds each construct's topic later).
 */
export function createFailureAlarms(
  scope: Construct, fn: lambda.IFunction, topic: sns.ITopic | undefined, label: string, deadLetterQueue?: sqs.IQueue,
): FailureAlarms {
  // The metrics' own defaults are what each alarm needs (tested): the sum of errors and throttles, the
  // maximum of visible messages, over 5 minutes.
  const errorAlarm = atLeastOnce(scope, 'ErrorAlarm', fn.metricErrors(),
    `${label}: the handler failed (bad configuration, AWS errors, or a run that could not finish). See its log group.`);
  const throttleAlarm = atLeastOnce(scope, 'ThrottleAlarm', fn.metricThrottles(),
    `${label}: invocations were throttled, so a run may not have happened.`);
  const deadLetterAlarm = deadLetterQueue && atLeastOnce(scope, 'DeadLetterAlarm',
    deadLetterQueue.metricApproximateNumberOfMessagesVisible(),
    `${label}: an invocation failed after every retry and its event is in the dead-letter queue. Read it, fix the cause, and invoke again.`);
  const alarms = [errorAlarm, throttleAlarm, ...(deadLetterAlarm ? [deadLetterAlarm] : [])];
  if (topic) for (const alarm of alarms) alarm.addAlarmAction(new actions.SnsAction(topic));
  return { errorAlarm, throttleAlarm, deadLetterAlarm };
}

function atLeastOnce(scope: Construct, id: string, metric: cloudwatch.IMetric, alarmDescription: string): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription,
    metric,
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
