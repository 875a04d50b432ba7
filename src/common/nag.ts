import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

/*
 * Acknowledgements of cdk-nag findings that are inherent to what a construct does, shipped with the
 * construct so that a user running cdk-nag on their stack sees no finding of ours. cdk-nag is not a
 * runtime dependency. Each acknowledgement is written in two forms, both on the CloudFormation
 * resource the finding is about, never on a parent: cdk-nag 3 applies an acknowledgement to the
 * descendants of the construct it is on, so one on a parent would also hide the same finding on
 * resources a user adds there.
 *
 * - cdk-nag 2 (an Aspect) reads the `cdk_nag` CloudFormation metadata of each resource and ignores a
 *   finding when `rules_to_suppress` holds an entry with the rule id and, for granular rules such as
 *   AwsSolutions-IAM5, the exact finding in `applies_to`. cdk-nag 3 does not read this metadata.
 * - cdk-nag 3 (a validation plugin: `Validations.of(app).addPlugins(new AwsSolutionsChecks(app))`)
 *   reads the `Validations.ACKNOWLEDGED_RULES_METADATA_KEY` construct metadata (acknowledged id →
 *   reason) of the resource and of its ancestors, and ignores a finding `<rule>` or `<rule>[<finding>]`
 *   that is a key there once a leading `Annotation::` is removed. `Annotation::<rule>[<finding>]` is
 *   what `Validations.of(resource).acknowledge({ id: '<rule>[<finding>]', reason })` records on
 *   aws-cdk-lib >= 2.269.0. We record that key ourselves because `acknowledge()` cannot do it across
 *   our peer range (measured with cdk-nag 3.0.2 on aws-cdk-lib 2.257.0, 2.268.0 and 2.276.0):
 *   - before 2.269.0 it throws on an id with more than one `::` (every ARN finding,
 *     "Resource::arn:<AWS::Partition>:..."), and it records `<rule>[Resource::*]` without the prefix,
 *     a key the validation framework of 2.262.0-2.268.0 matches on every resource of the app;
 *   - it rewrites spaces to `-`, so the finding ".../key-pair/packer *" would no longer match;
 *   - the `<pack>::<rule>[<finding>]` form cdk-nag 3 prints ("Acknowledge with ...") throws before
 *     2.269.0 for granular findings, is matched on every resource of the app (the path ignored) by
 *     the framework of 2.258.0-2.270.0, and is not read by cdk-nag's own `NagPack.validateScope()`.
 *   The `Annotation::` key is read by cdk-nag itself, for the resource and its descendants only, on
 *   every version, and no version's framework matches it against a cdk-nag finding.
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

/**
 * The rule packs of cdk-nag, by the prefix of their rule ids (`<pack>-<rule>`); the pack name is
 * also the name cdk-nag 3 registers the pack under as a validation plugin.
 */
const NAG_PACKS = ['AwsSolutions', 'NIST.800.53.R5', 'NIST.800.53.R4', 'HIPAA.Security', 'PCI.DSS.321', 'Serverless'];
const RULE_ID = new RegExp(`^(${NAG_PACKS.map((p) => p.replace(/\./g, '\\.')).join('|')})-[A-Za-z0-9]+$`);

/** The prefix aws-cdk-lib's `Validations.acknowledge()` gives an id without a plugin namespace; cdk-nag 3 removes it. */
const V3_ACKNOWLEDGED_PREFIX = 'Annotation::';

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
    if (!RULE_ID.test(ack.id)) {
      throw new Error(`cdk-nag acknowledgement on ${construct.node.path}: "${ack.id}" is not a rule id of a known pack `
        + `(<pack>-<rule> with pack one of ${NAG_PACKS.join(', ')}; granular findings go in appliesTo)`);
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

  // cdk-nag 3: one acknowledged id per rule, or per finding of a granular rule.
  const recorded = resource.node.metadata
    // (constructs never stores an entry without data)
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
  for (const ack of acknowledgements) {
    for (const id of ack.appliesTo ? ack.appliesTo.map((finding) => `${ack.id}[${finding}]`) : [ack.id]) {
      const key = V3_ACKNOWLEDGED_PREFIX + id;
      if (recorded.some(([k, reason]) => k === key && reason === ack.reason)) continue;
      resource.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [key]: ack.reason });
      recorded.push([key, ack.reason]);
    }
  }
}

/**
 * The AwsSolutions-IAM5 finding id cdk-nag reports for a policy resource: `Resource::` followed by
 * the resolved ARN with references written as `<AWS::Region>` and `<Logical.Attribute>`. Computing
 * it from the same ARN the statement uses keeps the acknowledgement exact for any stack environment.
 */
export function resourceFinding(scope: IConstruct, arn: string): string {
  return `Resource::${flatten(Stack.of(scope).resolve(arn))}`;
}

/** A resolved ARN (string or intrinsic) in cdk-nag's finding notation. */
export function flattenFinding(scope: IConstruct, resolved: unknown): string {
  // resourceFinding resolves its argument; an already resolved value resolves to itself.
  return resourceFinding(scope, resolved as string).slice('Resource::'.length);
}

/**
 * Acknowledges what the rule packs find in the inline DefaultPolicy aws-cdk-lib writes for a role
 * it creates (a provider framework function, a state machine): the inline policy itself, and each
 * wildcard resource of its statements, with the reasons given.
 */
export function acknowledgeRoleDefaultPolicy(role: IConstruct, inlineReason: string, wildcardReason: string): void {
  const policy = role.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
  if (!policy) return;
  const acks: NagAcknowledgement[] = ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'].map((pack) => ({ id: `${pack}-IAMNoInlinePolicy`, reason: inlineReason }));
  const document = Stack.of(policy).resolve(policy.document) as { Statement?: Array<{ Resource?: unknown }> };
  const wildcards = new Set<string>();
  for (const statement of document.Statement ?? []) {
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    for (const resource of resources) {
      const finding = `Resource::${flattenFinding(policy, resource)}`;
      if (finding.includes('*')) wildcards.add(finding);
    }
  }
  if (wildcards.size > 0) acks.push({ id: 'AwsSolutions-IAM5', reason: wildcardReason, appliesTo: [...wildcards] });
  acknowledgeNagFindings(policy, acks);
}

function flatten(value: unknown): string {
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
