import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/**
 * The topic a construct reports to: the user's, or a new one that is KMS-encrypted and refuses
 * non-TLS publishers (cdk-nag SNS2/SNS3). CloudWatch alarms publish to it, so the key lets
 * CloudWatch use it (an AWS-managed SNS key would silently drop alarm notifications).
 */
export function resolveTopic(scope: Construct, topic: sns.ITopic | undefined, displayName: string): sns.ITopic {
  if (topic) return topic;
  const key = new kms.Key(scope, 'TopicKey', {
    description: `Encrypts the ${displayName} notification topic`,
    enableKeyRotation: true,
  });
  key.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'AllowCloudWatchAlarmsToPublish',
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
  }));
  return new sns.Topic(scope, 'Topic', {
    displayName,
    masterKey: key,
    enforceSSL: true,
  });
}

/**
 * Lets `grantee` publish to `topic`: sns:Publish on the topic and, when the topic's key is known,
 * the two KMS actions SNS uses for a publisher (GenerateDataKey, Decrypt) on that key only.
 * (`topic.grantPublish` grants `kms:GenerateDataKey*`, which also covers key pairs and
 * plaintext-free data keys that publishing never needs.) For a topic imported by ARN whose key is
 * a customer managed key, the key's owner must allow these two actions to the grantee.
 */
export function grantPublish(topic: sns.ITopic, grantee: iam.IGrantable): void {
  iam.Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [topic.topicArn] });
  topic.masterKey?.grant(grantee, 'kms:GenerateDataKey', 'kms:Decrypt');
}
