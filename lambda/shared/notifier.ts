import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { notificationBody, notificationSubject, RunSummary } from './report';
import { retryTransient } from './retry';

/** Publishes the run's notification; never lets a size problem fail the publish (the body is pre-truncated). */
export async function publishReport(sns: SNSClient, topicArn: string, summary: RunSummary): Promise<string | undefined> {
  const out = await retryTransient(() => sns.send(new PublishCommand({
    TopicArn: topicArn,
    Subject: notificationSubject(summary),
    Message: notificationBody(summary),
  })));
  return out.MessageId;
}
