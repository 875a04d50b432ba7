import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { createFailureAlarms } from '../../src/common/alarms';

function fixture() {
  const stack = new Stack(new App(), 'AlarmStack');
  const fn = new lambda.Function(stack, 'Fn', { runtime: lambda.Runtime.NODEJS_20_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = 1') });
  const topic = new sns.Topic(stack, 'Topic');
  return { stack, fn, topic };
}

describe('createFailureAlarms', () => {
  test('without a dead-letter queue: the error and throttle alarms only, each notifying the topic', () => {
    const { stack, fn, topic } = fixture();
    const alarms = createFailureAlarms(stack, fn, topic, 'Janitor');

    expect(alarms.deadLetterAlarm).toBeUndefined();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    const topicRef = stack.resolve(topic.topicArn);
    for (const [metricName, description] of [['Errors', 'Janitor: the handler failed'], ['Throttles', 'Janitor: invocations were throttled']]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metricName,
        Namespace: 'AWS/Lambda',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef],
        AlarmDescription: expectStringStartingWith(description),
      });
    }
  });

  test('with a dead-letter queue: a third alarm on its visible messages (maximum over 5 minutes)', () => {
    const { stack, fn, topic } = fixture();
    const dlq = new sqs.Queue(stack, 'Dlq', { retentionPeriod: Duration.days(14) });
    const alarms = createFailureAlarms(stack, fn, topic, 'Janitor', dlq);

    expect(alarms.deadLetterAlarm).toBeDefined();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Statistic: 'Maximum',
      Period: 300,
      AlarmActions: [stack.resolve(topic.topicArn)],
      AlarmDescription: expectStringStartingWith('Janitor: an invocation failed after every retry'),
    });
  });
});

function expectStringStartingWith(prefix: string) {
  return Match.stringLikeRegexp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
}
