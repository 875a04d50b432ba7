import { CfnResource, Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/*
 * Acknowledgements of cdk-nag findings that are inherent to what a construct does, shipped with the
 * construct so that a user running cdk-nag on their stack sees no finding of ours. cdk-nag is not a
 * runtime dependency: it reads the `cdk_nag` metadata of each CloudFormation resource (not of its
 * parents) and ignores a finding when `rules_to_suppress` holds an entry with the rule id and, for
 * granular rules such as AwsSolutions-IAM5, the exact finding in `applies_to`.
 */

/** One acknowledged cdk-nag finding. */
export interface NagAcknowledgement {
  /** The rule, e.g. "AwsSolutions-IAM5". */
  readonly id: string;
  /** Why the finding is acceptable here: specific to the resource, at least 10 characters. */
  readonly reason: string;
  /**
   * The granular findings acknowledged, exactly as cdk-nag reports them ("Resource::*",
   * "Resource::arn:<AWS::Partition>:ec2:..."). Omitted only for rules that are not granular.
   */
  readonly appliesTo?: string[];
}

const METADATA_KEY = 'cdk_nag';

interface CfnSuppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: string[];
  readonly is_reason_encoded?: boolean;
}

/** Adds acknowledgements to the CloudFormation resource of `construct` (itself or its default child). */
export function acknowledgeNagFindings(construct: IConstruct, acknowledgements: NagAcknowledgement[]): void {
  const resource = cfnResourceOf(construct);
  const added = acknowledgements.map((ack): CfnSuppression => {
    // cdk-nag rejects a reason under 10 characters when it evaluates the stack: fail at the source instead.
    if (ack.reason.trim().length < 10) {
      throw new Error(`cdk-nag acknowledgement of ${ack.id} on ${construct.node.path} needs a written reason, got "${ack.reason}"`);
    }
    if (ack.appliesTo !== undefined && ack.appliesTo.length === 0) {
      throw new Error(`cdk-nag acknowledgement of ${ack.id} on ${construct.node.path} has an empty appliesTo: name the findings`);
    }
    // cdk-nag stores reasons with characters beyond Latin-1 (a user's tag key can have them) in base64.
    const encode = [...ack.reason].some((c) => c.codePointAt(0)! > 0xff);
    return {
      id: ack.id,
      reason: encode ? Buffer.from(ack.reason).toString('base64') : ack.reason,
      ...(encode ? { is_reason_encoded: true } : {}),
      ...(ack.appliesTo ? { applies_to: [...ack.appliesTo] } : {}),
    };
  });
  const existing: CfnSuppression[] = resource.getMetadata(METADATA_KEY)?.rules_to_suppress ?? [];
  const seen = new Set<string>();
  const merged = [...existing, ...added].filter((s) => {
    const key = JSON.stringify(s);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  resource.addMetadata(METADATA_KEY, { rules_to_suppress: merged });
}

/**
 * The AwsSolutions-IAM5 finding id cdk-nag reports for a policy resource: `Resource::` followed by
 * the resolved ARN with references written as `<AWS::Region>` and `<Logical.Attribute>`. Computing
 * it from the same ARN the statement uses keeps the acknowledgement exact for any stack environment.
 */
export function resourceFinding(scope: IConstruct, arn: string): string {
  return `Resource::${flatten(Stack.of(scope).resolve(arn))}`;
}

function flatten(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof value === 'object' && value !== null) {
    const fn = value as Record<string, any>;
    if (fn['Fn::Join']) {
      const [delimiter, parts] = fn['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(delimiter);
    }
    if (fn['Fn::Sub']) return flatten(fn['Fn::Sub']);
    if (fn['Fn::GetAtt']) {
      const [logicalId, attribute] = fn['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(logicalId)}.${flatten(attribute)}>`;
    }
    if (fn['Fn::ImportValue']) return flatten(fn['Fn::ImportValue']);
    if (fn.Ref) return `<${flatten(fn.Ref)}>`;
  }
  return JSON.stringify(value);
}

function cfnResourceOf(construct: IConstruct): CfnResource {
  if (CfnResource.isCfnResource(construct)) return construct;
  const child = construct.node.defaultChild;
  if (child && CfnResource.isCfnResource(child)) return child;
  throw new Error(`${construct.node.path} is not a CloudFormation resource and has none as its default child`);
}
