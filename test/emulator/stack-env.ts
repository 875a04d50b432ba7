/**
 * Read a handler's environment variables out of a synthesized CloudFormation template, so the
 * emulator runs the bundle with exactly the configuration the construct deploys.
 */

export interface FunctionEnvironmentOptions {
  /** Pick the AWS::Lambda::Function whose logical id starts with this. @default the only function with an Environment */
  readonly logicalIdPrefix?: string;
  /**
   * Values for `{ Ref }`s, keyed by the referenced logical id (or pseudo parameter such as
   * `AWS::Region`), or by the referenced resource's type, e.g. `{ 'AWS::SNS::Topic': topicArnInMoto }`.
   * @default none: any Ref is an error
   */
  readonly resolveRefs?: Record<string, string>;
}

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
}

/** Environment.Variables of one Lambda function in `template` (e.g. `Template.fromStack(stack).toJSON()`), as plain strings. */
export function functionEnvironmentFromTemplate(template: any, options: FunctionEnvironmentOptions = {}): Record<string, string> {
  const resources: Record<string, CfnResource> = template?.Resources ?? {};
  const [logicalId, fn] = pickFunction(resources, options.logicalIdPrefix);
  const variables: Record<string, unknown> = fn.Properties?.Environment?.Variables ?? {};
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    env[name] = resolve(value, resources, options.resolveRefs ?? {}, `${logicalId}.Environment.Variables.${name}`);
  }
  return env;
}

function pickFunction(resources: Record<string, CfnResource>, prefix: string | undefined): [string, CfnResource] {
  const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  // Without a prefix, skip functions CDK adds on its own (log retention, custom resource providers), which have no Environment.
  const candidates = prefix
    ? functions.filter(([id]) => id.startsWith(prefix))
    : functions.filter(([, r]) => r.Properties?.Environment?.Variables);
  if (candidates.length !== 1) {
    const wanted = prefix ? `whose logical id starts with "${prefix}"` : 'with environment variables';
    throw new Error(`expected exactly one AWS::Lambda::Function ${wanted}, found ${candidates.length}: `
      + `[${candidates.map(([id]) => id).join(', ')}] (all functions: [${functions.map(([id]) => id).join(', ')}])`);
  }
  return candidates[0];
}

function resolve(value: unknown, resources: Record<string, CfnResource>, refs: Record<string, string>, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'Ref') {
      const target = (value as { Ref: string }).Ref;
      const type = resources[target]?.Type;
      const resolved = refs[target] ?? (type !== undefined ? refs[type] : undefined);
      if (resolved === undefined) {
        throw new Error(`${where}: no value for { Ref: ${target} }${type ? ` (a ${type})` : ''}; pass it in resolveRefs`);
      }
      return resolved;
    }
    // CDK joins ARNs and names out of Refs; that is resolvable once every part is.
    if (keys.length === 1 && keys[0] === 'Fn::Join') {
      const [separator, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      return parts.map((part, i) => resolve(part, resources, refs, `${where}[Fn::Join part ${i}]`)).join(separator);
    }
  }
  throw new Error(`${where}: cannot resolve ${JSON.stringify(value)} outside CloudFormation`);
}
