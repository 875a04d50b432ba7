import * as path from 'path';
import { Duration, IResolvable, IResolveContext, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from './metrics';

/** Where the build puts each handler's bundle (assets/<name>/index.js), shipped in the package. */
export const ASSETS_DIR = path.join(__dirname, '..', '..', 'assets');

export interface HandlerFunctionProps {
  /** Folder name of the bundle under assets/, e.g. "packer-cleaner". */
  readonly bundle: string;
  /** Powertools service name, also the `service` metric dimension. */
  readonly serviceName: string;
  readonly description: string;
  readonly environment: { [key: string]: string };
  readonly memorySize?: number;
  readonly timeout?: Duration;
  readonly logRetention?: logs.RetentionDays;
  /** Scheduled sweeps run one at a time so two runs never act on the same resources. */
  readonly singleConcurrency: boolean;
}

export const DEFAULT_MEMORY_MB = 512;
export const DEFAULT_TIMEOUT = Duration.minutes(5);
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * The Lambda function every construct runs: the pre-built bundle (nothing is bundled at the
 * consumer's synth), Node.js on arm64, its own log group and a role with no managed policies, to
 * which the construct adds exactly the statements its behaviour needs.
 */
export class HandlerFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? DEFAULT_LOG_RETENTION,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.description}`,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new lambda.Function(this, 'Function', {
      description: props.description,
      code: lambda.Code.fromAsset(path.join(ASSETS_DIR, props.bundle)),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      timeout: props.timeout ?? DEFAULT_TIMEOUT,
      role: this.role,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.singleConcurrency ? 1 : undefined,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });
    // The role's log statement must exist before the function can write its first line.
    this.function.node.addDependency(this.role);
  }

  /**
   * The role's default policy, which holds every statement the construct adds. It exists from the
   * start: the log group grant creates it.
   */
  get policy(): iam.Policy {
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (!(policy instanceof iam.Policy)) throw new Error(`${this.role.node.path} has no default policy`);
    return policy;
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
