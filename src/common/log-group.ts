import { Annotations, ArnFormat, Aws, Fn, Names, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeNagFindings } from './nag';

export const DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

export interface JanitorLogGroupProps {
  readonly retention?: logs.RetentionDays;
  readonly encryptionKey?: kms.IKey;
}

/**
 * A log group for a handler or a state machine. With a KMS key, the key's policy must name the log
 * group before the group can be created with it, and a name CloudFormation generates is not known
 * then. So an encrypted group gets a name: a prefix unique to the construct (what the key policy
 * allows) and the deploying stack's id (so that a retained group of a deleted stack never blocks a
 * new one).
 */
export function createLogGroup(scope: Construct, id: string, props: JanitorLogGroupProps): logs.LogGroup {
  const retention = props.retention ?? DEFAULT_LOG_RETENTION;
  const key = props.encryptionKey;
  if (!key) {
    const plain = new logs.LogGroup(scope, id, { retention });
    const reason = 'Encrypted by CloudWatch Logs with AWS owned keys, as every log group is; '
      + 'pass logEncryptionKey to encrypt it with a customer managed KMS key.';
    acknowledgeNagFindings(plain, ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'].map((pack) => ({ id: `${pack}-CloudWatchLogGroupEncrypted`, reason })));
    return plain;
  }

  const stack = Stack.of(scope);
  const prefix = `/cdk-fleet-janitor/${Names.uniqueResourceName(scope, { maxLength: 200, separator: '-' })}-${id}`;
  const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
  const logGroup = new logs.LogGroup(scope, id, { retention, encryptionKey: key, logGroupName: `${prefix}/${stackUuid}` });

  const allowedArns = stack.formatArn({
    service: 'logs', resource: 'log-group', resourceName: `${prefix}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  const statement = new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': allowedArns } },
  });
  if (!key.addToResourcePolicy(statement).statementAdded) {
    Annotations.of(scope).addWarningV2('cdk-fleet-janitor:logEncryptionKeyPolicy',
      `logEncryptionKey is imported, so its key policy cannot be changed here. Let CloudWatch Logs use it for ${logGroup.node.path}: `
      + 'allow principal logs.<region>.amazonaws.com kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey*, kms:Describe* '
      + `on condition ArnLike kms:EncryptionContext:aws:logs:arn = arn:<partition>:logs:<region>:<account>:log-group:${prefix}/*`);
  }
  return logGroup;
}
