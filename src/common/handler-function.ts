import * as path from 'path';
import { Duration, IResolvable, IResolveContext, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { JanitorCommonProps } from './common-props';
import { createLogGroup } from './log-group';
import { METRICS_NAMESPACE } from './metrics';
import { NagAcknowledgement, acknowledgeNagFindings } from './nag';

/** Where the build puts each handler's bundle (assets/<name>/index.js), shipped in the package. */
export const ASSETS_DIR = path.join(__dirname, '..', '..', 'assets');

export interface HandlerFunctionProps {
  /** Folder name of the bundle under assets/, e.g. "packer-cleaner". */
  readonly bundle: string;
  /** Powertools service name, also the `service` metric dimension. */
  readonly serviceName: string;
  readonly description: string;
  readonly environment: { [key: string]: string };
  /** The construct's props: memory, timeout, logs, tracing, VPC, concurrency. */
  readonly common: JanitorCommonProps;
  /**
   * The function is invoked asynchronously (a schedule, an event rule): events it fails to handle
   * after Lambda's retries go to a dead-letter queue instead of being dropped.
   */
  readonly invokedAsynchronously: boolean;
  /**
   * What else sends to the dead-letter queue, for its cdk-nag acknowledgement (e.g. an event queue's redrive).
   * @default - only the handler and its schedule
   */
  readonly deadLetterQueueUsers?: string;
  /**
   * Why runs need no concurrency reservation, for the LambdaConcurrency acknowledgement.
   * @default - the reason of a scheduled sweep: the rate schedule is longer than the timeout
   */
  readonly concurrencyReason?: string;
}

export const DEFAULT_MEMORY_MB = 512;
export const DEFAULT_TIMEOUT = Duration.minutes(5);
export const DEFAULT_TRACING = lambda.Tracing.ACTIVE;
/**
 * Stack traces that name our .ts files and lines (the bundle ships a source map of our own sources,
 * positions only); the handler deepens them itself once loaded.
 */
export const HANDLER_NODE_OPTIONS = '--enable-source-maps';

/** Why each kind of run-time statement needs Resource "*" (the AwsSolutions-IAM5 finding). */
const WILDCARD_REASONS = {
  tracing: 'xray:PutTraceSegments, xray:PutTelemetryRecords: X-Ray supports no resource-level permissions',
  vpc: 'ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DescribeSubnets, ec2:DeleteNetworkInterface, '
    + 'ec2:AssignPrivateIpAddresses, ec2:UnassignPrivateIpAddresses: the network interfaces Lambda creates in the VPC are '
    + 'not known in advance and the Describe actions support no resource-level permissions (the statements of the AWS '
    + 'managed AWSLambdaVPCAccessExecutionRole policy)',
};

/**
 * The Lambda function every construct runs: the pre-built bundle (nothing is bundled at the
 * consumer's synth), Node.js on arm64, its own log group, and a role whose permissions are all in
 * two managed policies of its own: `runtimePolicy` (logs, tracing, VPC networking, dead-letter
 * queue) and `policy` (what the construct does, added by the construct). The cdk-nag
 * acknowledgements the library ships sit on those two policies only; a statement a user adds to the
 * role (`handler.addToRolePolicy`) lands in a policy of its own and is checked like any other.
 */
export class HandlerFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The construct's own statements. */
  readonly policy: iam.ManagedPolicy;
  /** What any handler needs to run. */
  readonly runtimePolicy: iam.ManagedPolicy;
  readonly deadLetterQueue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const common = props.common;
    const tracing = common.tracing ?? DEFAULT_TRACING;

    this.logGroup = createLogGroup(this, 'LogGroup', { retention: common.logRetention, encryptionKey: common.logEncryptionKey });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.description}`,
    });
    this.runtimePolicy = new iam.ManagedPolicy(this, 'RuntimePolicy', {
      description: `What ${props.serviceName}'s handler needs to run: its log group, tracing, networking, dead-letter queue`,
      roles: [this.role],
    });
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `What ${props.serviceName}'s handler does`,
      roles: [this.role],
    });

    const runtime = this.runtimePolicy;
    runtime.addStatements(new iam.PolicyStatement({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [this.logGroup.logGroupArn],
    }));
    const wildcardReasons: string[] = [];
    if (tracing === lambda.Tracing.ACTIVE || tracing === lambda.Tracing.PASS_THROUGH) {
      runtime.addStatements(new iam.PolicyStatement({
        sid: 'Tracing',
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
        resources: ['*'],
      }));
      wildcardReasons.push(WILDCARD_REASONS.tracing);
    }
    if (common.vpc) {
      runtime.addStatements(new iam.PolicyStatement({
        sid: 'VpcNetworking',
        actions: [
          'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }));
      wildcardReasons.push(WILDCARD_REASONS.vpc);
    }
    if (props.invokedAsynchronously) {
      this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      acknowledgeNagFindings(this.deadLetterQueue, [{
        id: 'Serverless-SQSRedrivePolicy',
        reason: `This queue is itself the dead-letter queue of the handler and its schedule${props.deadLetterQueueUsers ? `, and of ${props.deadLetterQueueUsers}` : ''}; `
          + 'its depth alarm notifies the topic.',
      }]);
      runtime.addStatements(new iam.PolicyStatement({
        sid: 'DeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }));
    }

    this.function = new lambda.Function(this, 'Function', {
      description: props.description,
      code: lambda.Code.fromAsset(path.join(ASSETS_DIR, props.bundle)),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: common.memorySize ?? DEFAULT_MEMORY_MB,
      timeout: common.timeout ?? DEFAULT_TIMEOUT,
      // The role by reference: lambda.Function makes the function depend on the role construct it is
      // given, which CloudFormation's GetAtt already implies (cfn-lint W3005). The function waits
      // for the two policies below instead. Statements added through the function still land in a
      // policy attached to this role (an imported role is mutable by default).
      role: iam.Role.fromRoleArn(this, 'RoleRef', this.role.roleArn),
      logGroup: this.logGroup,
      vpc: common.vpc,
      vpcSubnets: common.vpcSubnets,
      securityGroups: common.securityGroups,
      environmentEncryption: common.environmentEncryptionKey,
      reservedConcurrentExecutions: common.reserveConcurrency ? 1 : undefined,
      environment: {
        NODE_OPTIONS: HANDLER_NODE_OPTIONS,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });
    // Tracing and the dead-letter queue are set on the resource: through lambda.Function's props,
    // their statements would go to an inline policy of the role rather than to runtimePolicy.
    const cfnFunction = this.function.node.defaultChild as lambda.CfnFunction;
    if (tracing !== lambda.Tracing.DISABLED) cfnFunction.tracingConfig = { mode: tracing };
    if (this.deadLetterQueue) cfnFunction.deadLetterConfig = { targetArn: this.deadLetterQueue.queueArn };
    // The function's first invocation writes logs (and a VPC function needs its networking rights to be created).
    this.function.node.addDependency(this.runtimePolicy, this.policy);

    if (wildcardReasons.length > 0) {
      acknowledgeNagFindings(this.runtimePolicy, [{ id: 'AwsSolutions-IAM5', reason: `${wildcardReasons.join('; ')}.`, appliesTo: ['Resource::*'] }]);
    }
    const acknowledgements: NagAcknowledgement[] = [];
    if (!common.reserveConcurrency) {
      const reason = props.concurrencyReason ?? 'No reservation by default: Lambda refuses one that leaves an account below its minimum unreserved '
        + 'concurrency (10 or 50 in new accounts) and the stack would not deploy. Runs do not overlap without it (a rate '
        + 'schedule is validated to be longer than the timeout) and every action is safe to repeat; reserveConcurrency: true reserves 1.';
      for (const pack of ['NIST.800.53.R5', 'HIPAA.Security']) acknowledgements.push({ id: `${pack}-LambdaConcurrency`, reason });
    }
    if (!props.invokedAsynchronously) {
      const reason = 'Invoked synchronously (by the CDK provider framework for a CloudFormation custom resource): a failure '
        + 'goes back to the caller and fails the deployment step, so there is no event to keep; the error alarm notifies the topic.';
      for (const rule of ['NIST.800.53.R5-LambdaDLQ', 'HIPAA.Security-LambdaDLQ', 'Serverless-LambdaDLQ']) acknowledgements.push({ id: rule, reason });
    }
    if (!common.vpc) {
      const reason = 'The handler only calls AWS APIs over TLS with IAM authentication and serves no network traffic; '
        + 'pass the vpc prop to run it in a VPC.';
      for (const pack of ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321']) {
        acknowledgements.push({ id: `${pack}-LambdaInsideVPC`, reason });
      }
    }
    if (acknowledgements.length > 0) acknowledgeNagFindings(this.function, acknowledgements);
  }

  /** An ARN pattern for EC2 resources of one type in this stack's account and region. */
  ec2Arn(resourceType: string, resourceName: string): string {
    const stack = Stack.of(this);
    return stack.formatArn({ service: 'ec2', resource: resourceType, resourceName });
  }
}

/**
 * A number as an environment variable value. `String()` of a number token (`Lazy.number`, a
 * parameter) yields a number that cannot be resolved back; the token resolves to a JSON number,
 * which Lambda's environment rejects. Resolve it at synth and render it as a string instead.
 */
export function envNumber(value: number): string {
  if (!Token.isUnresolved(value)) return String(value);
  return Token.asString(new NumberAsString(value));
}

class NumberAsString implements IResolvable {
  public readonly creationStack: string[] = [];
  constructor(private readonly value: number) {}

  public resolve(context: IResolveContext): unknown {
    const resolved = context.resolve(this.value);
    return typeof resolved === 'number' ? String(resolved) : resolved;
  }

  public toString(): string {
    return Token.asString(this);
  }
}
