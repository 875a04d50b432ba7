import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';

/** Tag key that exempts a resource from every fleet-janitor action. */
export const DEFAULT_PROTECTION_TAG_KEY = 'fleet-janitor:protect';
export const DEFAULT_MAX_ACTIONS_PER_RUN = 100;

/**
 * Props of every fleet-janitor construct's handler function and notifications: where it reports, how
 * it logs, where it runs. Every construct accepts them.
 */
export interface JanitorFunctionProps {
  /**
   * Topic that receives each run's report and the failure alarms.
   * @default - a new topic, encrypted with a new KMS key and refusing non-TLS publishers
   */
  readonly topic?: sns.ITopic;

  /**
   * How long the handler's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * KMS key that encrypts the handler's log group and every other log group the construct creates.
   * The construct adds a statement to the key's policy that lets CloudWatch Logs use the key for
   * those log groups only (for an imported key, add that statement yourself: synth warns with it).
   * Those log groups then get names of the form `/cdk-fleet-janitor/<construct>/<stack id>`.
   * @default - CloudWatch Logs' own encryption (AWS owned keys)
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * AWS X-Ray tracing of the handler.
   * @default lambda.Tracing.ACTIVE
   */
  readonly tracing?: lambda.Tracing;

  /**
   * VPC to run the handler in. The handler calls AWS APIs only: its subnets need a NAT gateway or
   * interface VPC endpoints for the services it calls (see the README, per construct), for `sns`
   * (reports) and for `xray` when tracing is on. The dead-letter queue and CloudWatch Logs need none:
   * Lambda writes to them, not the handler.
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Subnets of `vpc` for the handler.
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups of the handler in `vpc`.
   * @default - a new security group that allows all outbound traffic and no inbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * KMS key that encrypts the handler's environment variables at rest. They hold configuration
   * only (ARNs, tag keys, limits), never a secret.
   * @default - Lambda's AWS managed key
   */
  readonly environmentEncryptionKey?: kms.IKey;

  /**
   * Memory of the handler function, in MiB.
   * @default 512
   */
  readonly memorySize?: number;
}

/** Props every fleet-janitor construct that sweeps on a schedule accepts. */
export interface JanitorCommonProps extends JanitorFunctionProps {
  /**
   * Report what would be done without changing anything. The function then gets no permission
   * to change anything either.
   * @default false
   */
  readonly dryRun?: boolean;

  /**
   * A resource carrying a tag with this key (any value) is never acted on; it is reported as protected.
   * @default "fleet-janitor:protect"
   */
  readonly protectionTagKey?: string;

  /**
   * Most changes made in one run; further candidates are reported as skipped and handled by later runs.
   * @default 100
   */
  readonly maxActionsPerRun?: number;

  /**
   * Reserve a concurrency of 1 for the handler, so that two runs can never overlap. Off by default:
   * Lambda refuses a reservation that leaves less than the account's minimum unreserved
   * concurrency (10 or 50 in new accounts), and the stack then fails to deploy ("Specified
   * ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution
   * below its minimum value"). Without it, runs still don't overlap on their own: a rate schedule
   * must be longer than the function timeout (validated), and every action is safe to repeat, so a
   * manual invoke during a run does no harm.
   * @default false
   */
  readonly reserveConcurrency?: boolean;

  /**
   * Timeout of the handler function.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
}
