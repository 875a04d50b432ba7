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
 * Lets the holder of `policy` publish to `topic`: sns:Publish on the topic and, when the topic's key
 * is known, the two KMS actions SNS uses for a publisher (GenerateDataKey, Decrypt) on that key only.
 * (`topic.grantPublish` grants `kms:GenerateDataKey*`, which also covers key pairs and
 * plaintext-free data keys that publishing never needs, and writes to the role's inline policy.)
 * `sidSuffix` keeps statement ids unique when one policy publishes to several topics.
 * For a topic imported by ARN whose key is a customer managed key, the key's owner must allow these
 * two actions to the role.
 */
export function grantPublish(topic: sns.ITopic, policy: iam.ManagedPolicy, sidSuffix = ''): void {
  policy.addStatements(new iam.PolicyStatement({ sid: `PublishReports${sidSuffix}`, actions: ['sns:Publish'], resources: [topic.topicArn] }));
  if (topic.masterKey) {
    policy.addStatements(new iam.PolicyStatement({
      sid: `EncryptReports${sidSuffix}`,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [topic.masterKey.keyArn],
    }));
  }
}
