/**
 * Contract between the TagPolicyEngine handler and its construct. The handler runs (aws-sdk-client-mock)
 * with what the construct synthesizes, its Refs replaced by test values:
 * - metrics: the EMF records it writes are what the construct's metricXxx() methods and the dashboard read;
 * - limits and defaults: every variable the construct sets is read and accepted, at the limits both
 *   sides share, and the handler's own defaults are the construct's;
 * - rules: the rules custom resource is accepted, written in the seed's format, and read back equal to the props;
 * - IAM: every call the handler makes, in each configuration, is allowed by the handler's synthesized policy.
 */
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import * as ec2Sdk from '@aws-sdk/client-ec2';
import { StopInstancesCommand, TerminateInstancesCommand, TerminateInstancesCommandInput } from '@aws-sdk/client-ec2';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { App, CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DEFAULT_BACKFILL_MAX_LOOKUPS, readConfig } from '../../lambda/tag-policy-engine/config';
import type { SweepResult } from '../../lambda/tag-policy-engine/index';
import { readRuleTable } from '../../lambda/tag-policy-engine/observe';
import { FleetJanitorDashboard, IFleetJanitor, TagPolicyEngine, TagPolicyEngineProps, TagRule, TagValue, ViolationAction } from '../../src';
import { TAG_POLICY_ENGINE_ENV_LIMITS } from '../../src/common/env-limits';
import { HandlerFunction } from '../../src/common/handler-function';
import { RULES_RESOURCE_TYPE } from '../../src/tag-policy-engine/contract';
import type { DefaultSpec, ParsedRule } from '../../src/tag-policy-engine/rule-format';
import { tagPolicyEngineEverythingOn, tagPolicyRules } from '../helpers/configurations';
import { ec2Error } from '../lambda/helpers';
import {
  ACCOUNT, ago, COMPLIANT_TAGS, ctMock, DAY, ddbMock, ec2Instance, ec2Mock, emfRecords, iamUserRecord, installHandlerHarness, launchEvent,
  loadHandler, markOf, PROTECT, REGION, rulesEvent, serveInstances, serveLookups, serveTable, snsMock, TABLE, TOPIC_ARN, VIOLATION,
} from '../lambda/tag-policy-engine/harness';

installHandlerHarness();

const STACK_NAME = 'TestStack';
const FUNCTION_NAME = `${STACK_NAME}-TagsHandlerFunction-contract`;
const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${TABLE}`;
const SWEEP = { source: 'cdk-fleet-janitor.schedule' };

// Synthesis, and the template's references replaced by what CloudFormation would put there.

interface Synthesized {
  readonly stack: Stack;
  readonly engine: TagPolicyEngine;
  readonly template: Template;
  /** A template value with its Refs, Fn::GetAtt and Fn::Join resolved to test values. */
  readonly resolve: (value: unknown) => any;
}

type PropsOf = TagPolicyEngineProps | ((stack: Stack) => TagPolicyEngineProps);

function synthesize(props: PropsOf, extra: (stack: Stack, engine: TagPolicyEngine) => void = () => undefined): Synthesized {
  const stack = new Stack(new App(), STACK_NAME);
  const engine = new TagPolicyEngine(stack, 'Tags', typeof props === 'function' ? props(stack) : props);
  extra(stack, engine);
  const template = Template.fromStack(stack);
  const id = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const refs: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::StackName': STACK_NAME,
    'AWS::URLSuffix': 'amazonaws.com',
    [id(engine.table)]: TABLE,
    [id(engine.topic)]: TOPIC_ARN,
    [id(engine.handler)]: FUNCTION_NAME,
  };
  const arns: Record<string, string> = { [`${id(engine.table)}.Arn`]: TABLE_ARN };
  const resolve = (value: unknown): any => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const v = value as Record<string, any>;
    if ('Ref' in v) return refs[v.Ref] ?? `ref:${v.Ref}`;
    if ('Fn::GetAtt' in v) return arns[v['Fn::GetAtt'].join('.')] ?? `arn:aws:test:${REGION}:${ACCOUNT}:${v['Fn::GetAtt'].join('.')}`;
    if ('Fn::Join' in v) return (resolve(v['Fn::Join'][1]) as string[]).join(v['Fn::Join'][0]);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  };
  return { stack, engine, template, resolve };
}

/** The handler function's environment as deployed. */
function functionEnv({ stack, engine, template, resolve }: Synthesized): Record<string, string> {
  const fn = template.toJSON().Resources[stack.getLogicalId(engine.handler.node.defaultChild as CfnElement)];
  return resolve(fn.Properties.Environment.Variables);
}

/** The environment the handler runs with: the function's, in Lambda, and nothing of the harness's base that the construct does not set. */
function handlerEnv(synthesized: Synthesized): Record<string, string | undefined> {
  return { ...functionEnv(synthesized), AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME, BACKFILL_MAX_LOOKUPS: undefined };
}

/** The Create event the provider framework passes on for the rules resource: its synthesized properties, resolved. */
function rulesCreateEvent(synthesized: Synthesized) {
  const resources = Object.values(synthesized.template.findResources(RULES_RESOURCE_TYPE));
  expect(resources).toHaveLength(1);
  return rulesEvent('Create', synthesized.resolve(resources[0].Properties));
}

/** Deploys the rules through the handler's rules path, then serves the rule table with the items it wrote. */
async function deployRules(synthesized: Synthesized): Promise<void> {
  const before = ddbMock.commandCalls(PutItemCommand).length;
  await loadHandler(handlerEnv(synthesized))(rulesCreateEvent(synthesized));
  const puts = ddbMock.commandCalls(PutItemCommand).slice(before).map((c) => c.args[0].input);
  expect(puts.map((p) => p.TableName)).toEqual(puts.map(() => TABLE));
  serveTable(puts.map((p) => p.Item!));
}

// 1. Metrics.

const METHODS: Array<[keyof IFleetJanitor & `metric${string}`, 'scanned' | 'actionsTaken' | 'actionsFailed' | 'skippedProtected' | 'skippedCap']> = [
  ['metricResourcesScanned', 'scanned'],
  ['metricActionsTaken', 'actionsTaken'],
  ['metricActionsFailed', 'actionsFailed'],
  ['metricSkippedProtected', 'skippedProtected'],
  ['metricSkippedCap', 'skippedCap'],
];

/** The EMF record value that a CloudWatch metric with this namespace, name and dimensions would read, if any. */
function read(records: Array<Record<string, any>>, namespace: string, name: string, dimensions: Record<string, string>): number | undefined {
  for (const record of records) {
    for (const directive of record._aws.CloudWatchMetrics) {
      if (directive.Namespace !== namespace || !directive.Metrics.some((m: { Name: string }) => m.Name === name)) continue;
      for (const set of directive.Dimensions as string[][]) {
        if (set.length === Object.keys(dimensions).length && set.every((d) => record[d] === dimensions[d])) return record[name];
      }
    }
  }
  return undefined;
}

describe('metrics: what the handler emits is what the construct reads', () => {
  function setUp() {
    const synthesized = synthesize({ rules: tagPolicyRules(), untaggedAction: ViolationAction.TERMINATE, maxActionsPerRun: 2 }, (stack, engine) => {
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [engine] });
    });
    return { ...synthesized, dashboard: synthesized.stack.node.findChild('Dashboard') as FleetJanitorDashboard };
  }

  async function run(synthesized: Synthesized) {
    // 8 scanned: 4 overdue (cap 2: 1 terminated, 1 refused, 2 over the cap), 1 tagged, 2 protected, 1 compliant.
    const overdue = Array.from({ length: 4 }, () => ec2Instance({ tags: { ...COMPLIANT_TAGS, CostCenter: '9999', [VIOLATION]: markOf(ago(4 * DAY)) } }));
    serveInstances([
      ...overdue,
      ec2Instance({ tags: { ...COMPLIANT_TAGS, CostCenter: '' } }),
      ec2Instance({ tags: { [PROTECT]: 'yes' } }),
      ec2Instance({ tags: { ...COMPLIANT_TAGS, CostCenter: '9999', [PROTECT]: 'yes' } }),
      ec2Instance({ tags: COMPLIANT_TAGS }),
    ]);
    await deployRules(synthesized);
    const refused = overdue[0].InstanceId!;
    ec2Mock.on(TerminateInstancesCommand).callsFake(async (input: TerminateInstancesCommandInput) => {
      if (input.InstanceIds!.includes(refused)) throw ec2Error('OperationNotPermitted');
      return { TerminatingInstances: input.InstanceIds!.map((InstanceId) => ({ InstanceId, PreviousState: { Name: 'running' as const } })) };
    });
    return await loadHandler(handlerEnv(synthesized))(SWEEP) as SweepResult;
  }

  /** A metric's dimensions with the function's Ref replaced by the deployed function's name. */
  const dimensionsOf = (stack: Stack, metric: cloudwatch.Metric): Record<string, string> =>
    Object.fromEntries(Object.entries(stack.resolve(metric.dimensions) as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : FUNCTION_NAME]));

  test('every metric method resolves to the run\'s own count, with all its dimensions', async () => {
    const synthesized = setUp();
    const result = await run(synthesized);
    expect(result.counts).toMatchObject({ scanned: 8, actionsTaken: 2, actionsFailed: 1, skippedProtected: 2, skippedCap: 2 });
    const records = emfRecords();
    expect(records).toHaveLength(1);
    for (const [method, count] of METHODS) {
      const metric = synthesized.engine[method]();
      expect({ method, value: read(records, metric.namespace, metric.metricName, dimensionsOf(synthesized.stack, metric)) })
        .toEqual({ method, value: result.counts[count] });
    }
  });

  test('every janitor metric on the dashboard is one the handler emits', async () => {
    const synthesized = setUp();
    await run(synthesized);
    const records = emfRecords();
    const body = synthesized.stack.resolve((synthesized.dashboard.dashboard.node.defaultChild as cloudwatch.CfnDashboard).dashboardBody);
    const text = (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : FUNCTION_NAME)).join('');
    const janitorMetrics = JSON.parse(text).widgets.flatMap((w: any) => w.properties.metrics ?? []).filter((m: unknown[]) => m[0] === 'CdkFleetJanitor');
    expect(janitorMetrics).toHaveLength(METHODS.length);
    for (const m of janitorMetrics) {
      const [namespace, name, ...rest] = m.slice(0, -1) as string[];
      const dimensions = Object.fromEntries(Array.from({ length: rest.length / 2 }, (_, i) => [rest[2 * i], rest[2 * i + 1]]));
      expect({ name, value: read(records, namespace, name, dimensions) }).toEqual({ name, value: expect.any(Number) });
    }
  });
});

// 2. Limits and defaults.

describe('limits and defaults: the construct and the handler agree on every variable', () => {
  const BASE: TagPolicyEngineProps = { rules: tagPolicyRules() };
  const envOf = (props: TagPolicyEngineProps) => functionEnv(synthesize({ ...BASE, ...props }));
  /** The limited variables that come from a prop, and that prop. */
  const PROPS: Partial<Record<keyof typeof TAG_POLICY_ENGINE_ENV_LIMITS, [string, (n: number) => TagPolicyEngineProps]>> = {
    GRACE_PERIOD_SECONDS: ['gracePeriod', (n) => ({ gracePeriod: Duration.seconds(n) })],
    MAX_ACTIONS_PER_RUN: ['maxActionsPerRun', (n) => ({ maxActionsPerRun: n })],
  };

  test.each(Object.entries(PROPS))('%s: both sides accept the limits and refuse one past either end', (variable, [prop, props]) => {
    const limit = TAG_POLICY_ENGINE_ENV_LIMITS[variable as keyof typeof TAG_POLICY_ENGINE_ENV_LIMITS];
    for (const n of [limit.min, limit.max]) {
      const env = envOf(props(n));
      expect(env[variable]).toBe(String(n));
      expect(() => readConfig(env)).not.toThrow();
    }
    for (const n of [limit.min - 1, limit.max + 1]) {
      // A negative Duration cannot even be made: the construct cannot be given one.
      if (prop === 'gracePeriod' && n < 0) expect(() => props(n)).toThrow(/negative/);
      else expect(() => envOf(props(n))).toThrow(new RegExp(`^TagPolicyEngine: invalid ${prop} `));
      expect(() => readConfig({ ...envOf({}), [variable]: String(n) })).toThrow(new RegExp(`environment variable ${variable}=`));
    }
  });

  test('BACKFILL_MAX_LOOKUPS is no prop: the construct leaves it unset, and the handler\'s default is within its limits', () => {
    const limit = TAG_POLICY_ENGINE_ENV_LIMITS.BACKFILL_MAX_LOOKUPS;
    const env = envOf({});
    expect(env).not.toHaveProperty('BACKFILL_MAX_LOOKUPS');
    expect(readConfig(env).backfillMaxLookups).toBe(DEFAULT_BACKFILL_MAX_LOOKUPS);
    expect(DEFAULT_BACKFILL_MAX_LOOKUPS).toBeGreaterThanOrEqual(limit.min);
    expect(DEFAULT_BACKFILL_MAX_LOOKUPS).toBeLessThanOrEqual(limit.max);
    for (const n of [limit.min, limit.max]) expect(readConfig({ ...env, BACKFILL_MAX_LOOKUPS: String(n) }).backfillMaxLookups).toBe(n);
    for (const n of [limit.min - 1, limit.max + 1]) expect(() => readConfig({ ...env, BACKFILL_MAX_LOOKUPS: String(n) })).toThrow(/BACKFILL_MAX_LOOKUPS=/);
  });

  test('every variable the construct sets, in every configuration, is one the handler reads and accepts', () => {
    const everything = tagPolicyEngineEverythingOn(new Stack(new App(), 'User')).props;
    // Everything on, less the user's resources (another stack's); its VPCs become an imported one.
    const { topic, vpc, vpcs, securityGroups, logEncryptionKey, environmentEncryptionKey, ...behaviour } = everything;
    const configurations: Array<[string, PropsOf]> = [
      ['defaults', BASE],
      ['everything on', behaviour],
      ['everything on, with a VPC', (stack) => ({
        ...behaviour, vpcs: [ec2.Vpc.fromVpcAttributes(stack, 'Imported', { vpcId: 'vpc-0a1b2c3d', availabilityZones: [`${REGION}a`] })],
      })],
    ];
    for (const [label, props] of configurations) {
      const env = functionEnv(synthesize(props));
      const config = readConfig(env);
      const seen = new Set<string>();
      readConfig(new Proxy(env, { get: (target, key: string) => { seen.add(key); return target[key]; } }));
      const runtime = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];
      // A variable the handler ignores would be a prop that silently does nothing.
      expect({ label, ignored: Object.keys(env).filter((k) => !runtime.includes(k) && !seen.has(k)) }).toEqual({ label, ignored: [] });
      expect(config).toMatchObject({ topicArn: TOPIC_ARN, tableName: TABLE });
      if (label !== 'defaults') {
        expect(config).toMatchObject({
          untaggedAction: 'TERMINATE', gracePeriodSeconds: 7 * DAY, instanceSelector: { managed: 'true' }, maxActionsPerRun: 50, propagateToVolumes: true,
        });
      }
      if (label === 'everything on, with a VPC') expect(config.vpcIds).toEqual(['vpc-0a1b2c3d']);
    }
  });

  test('the handler\'s own defaults (a variable unset) are the construct\'s defaults', () => {
    const fromConstruct = readConfig(envOf({}));
    const fromHandler = readConfig({ TOPIC_ARN, TABLE_NAME: TABLE });
    expect(fromHandler).toEqual(fromConstruct);
    expect(fromHandler).toEqual({
      topicArn: TOPIC_ARN,
      tableName: TABLE,
      untaggedAction: 'NOTIFY',
      gracePeriodSeconds: 3 * DAY,
      vpcIds: [],
      instanceSelector: {},
      protectionTagKey: PROTECT,
      dryRun: false,
      maxActionsPerRun: 100,
      backfillCreators: true,
      backfillMaxLookups: DEFAULT_BACKFILL_MAX_LOOKUPS,
      propagateToVolumes: false,
    });
  });
});

// 3. Rules.

describe('rules: the custom resource the construct writes is what the handler writes to, and reads from, the table', () => {
  /** Every kind of TagValue, allowed values, a pattern, every onViolation, required and not, a ruleId of its own. */
  const EVERY_KIND: TagRule[] = [
    { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', '1002', 'unassigned'] },
    { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator(), ruleId: '2' },
    { tagKey: 'LaunchDate', defaultValue: TagValue.launchDate(), pattern: '\\d{4}-\\d{2}-\\d{2}', onViolation: ViolationAction.MARK },
    { tagKey: 'Owner', required: true, defaultValue: TagValue.fromTag('CreatedBy'), onViolation: ViolationAction.STOP },
    { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$', onViolation: ViolationAction.NOTIFY, ruleId: 'env' },
    { tagKey: 'Team', required: false, allowedValues: ['web', 'data'], onViolation: ViolationAction.TERMINATE },
  ];
  const RULE_SETS: Array<[string, TagRule[]]> = [
    ['the issue\'s rules', tagPolicyRules()],
    ['everything on', tagPolicyEngineEverythingOn(new Stack(new App(), 'User')).props.rules!],
    ['every kind of rule', EVERY_KIND],
  ];
  /** Who owns the items: the stack's name and the construct's path (which starts with the stack's id). */
  const OWNER = `${STACK_NAME}/${STACK_NAME}/Tags`;

  /** What a TagValue stands for, from its description (the construct's encoding is what is under test). */
  function specOf(value: TagValue): DefaultSpec {
    const [, fn, arg] = /^(\w+)\((.*)\)$/.exec(value.toString())!;
    switch (fn) {
      case 'fixed': return { kind: 'fixed', value: JSON.parse(arg) };
      case 'fromTag': return { kind: 'fromTag', tagKey: JSON.parse(arg) };
      case 'creator': return { kind: 'creator' };
      case 'launchDate': return { kind: 'launchDate' };
      default: throw new Error(`unknown TagValue ${value}`);
    }
  }

  /** The seed's Action and Default of each kind of default. */
  function seedDefault(spec: DefaultSpec): Record<string, string> {
    switch (spec.kind) {
      case 'fixed': return { Action: 'Update', Default: spec.value };
      case 'creator': return { Action: 'UserLookup' };
      case 'launchDate': return { Action: 'Function', Default: 'today()' };
      case 'fromTag': return { Action: 'FromTag', Default: spec.tagKey };
    }
  }

  const expectedItem = (rule: TagRule): Record<string, unknown> => ({
    RuleId: rule.ruleId ?? rule.tagKey,
    TagKey: rule.tagKey,
    Required: String(rule.required ?? false),
    ...(rule.defaultValue ? seedDefault(specOf(rule.defaultValue)) : {}),
    ...(rule.allowedValues ? { AllowedValues: rule.allowedValues } : {}),
    ...(rule.pattern !== undefined ? { Pattern: rule.pattern } : {}),
    ...(rule.onViolation ? { OnViolation: rule.onViolation } : {}),
    ManagedBy: OWNER,
  });

  const expectedRule = (rule: TagRule): ParsedRule => ({
    ruleId: rule.ruleId ?? rule.tagKey,
    tagKey: rule.tagKey,
    required: rule.required ?? false,
    ...(rule.defaultValue ? { defaultValue: specOf(rule.defaultValue) } : {}),
    ...(rule.allowedValues ? { allowedValues: rule.allowedValues } : {}),
    ...(rule.pattern !== undefined ? { pattern: rule.pattern } : {}),
    ...(rule.onViolation ? { onViolation: rule.onViolation } : {}),
    managedBy: OWNER,
  });

  const byRuleId = <T extends { ruleId?: string; RuleId?: unknown }>(list: T[]) =>
    [...list].sort((a, b) => String(a.ruleId ?? a.RuleId).localeCompare(String(b.ruleId ?? b.RuleId)));

  test.each(RULE_SETS)('%s: accepted, written in the seed\'s format plus ManagedBy, and read back equal to the props', async (_label, rules) => {
    const synthesized = synthesize({ rules });
    const event = rulesCreateEvent(synthesized);
    expect(event.ResourceProperties).toMatchObject({ TableName: TABLE, Owner: OWNER, Rules: expect.any(String) });
    const result = await loadHandler(handlerEnv(synthesized))(event);
    expect(result).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: String(rules.length), Deleted: '0' } });

    const written = ddbMock.commandCalls(PutItemCommand).map((c) => c.args[0].input);
    expect(written.map((w) => unmarshall(w.Item!))).toEqual(rules.map(expectedItem));
    expect(written.map((w) => w.TableName)).toEqual(rules.map(() => TABLE));

    // The next sweep's Scan returns those items: the rules it reads are the props.
    serveTable(written.map((w) => w.Item!));
    const table = await readRuleTable(new DynamoDBClient({ region: REGION }), TABLE);
    expect(table.invalid).toEqual([]);
    expect(table.cachedCreators.size).toBe(0);
    expect(byRuleId(table.rules)).toEqual(byRuleId(rules.map(expectedRule)));
  });
});

// 4. IAM: every call the handler makes is allowed by the policy the construct gives it.

interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

/** One authorization IAM makes for a call: per action and resource, with the resource's tags before the call and the tag keys in the request. */
interface Request {
  readonly action: string;
  readonly resource: string;
  readonly resourceTags?: Record<string, string>;
  readonly requestTagKeys?: string[];
}

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const glob = (pattern: string, flags = '') => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, flags);
const ec2Arn = (id: string) => {
  const type = [['i-', 'instance'], ['vol-', 'volume'], ['eni-', 'network-interface']].find(([prefix]) => id.startsWith(prefix))?.[1];
  if (!type) throw new Error(`no ARN modelled for ${id}`);
  return `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
};

/** The statements of every policy of the handler's role: the construct's (Handler/Policy) and the runtime's (Handler/RuntimePolicy). */
function handlerStatements(synthesized: Synthesized): Statement[] {
  const fn = synthesized.engine.node.findChild('Handler') as HandlerFunction;
  const resources = synthesized.template.toJSON().Resources;
  const roleId = synthesized.stack.getLogicalId(fn.role.node.defaultChild as CfnElement);
  const ids = [fn.policy, fn.runtimePolicy].map((p) => synthesized.stack.getLogicalId(p.node.defaultChild as CfnElement));
  // Nothing else grants the role anything.
  const attached = Object.entries(resources as Record<string, any>)
    .filter(([, r]) => ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(r.Type) && (r.Properties.Roles ?? []).some((x: any) => x.Ref === roleId));
  expect(attached.map(([id]) => id).sort()).toEqual([...ids].sort());
  expect(resources[roleId].Properties).not.toHaveProperty('Policies');
  expect(resources[roleId].Properties).not.toHaveProperty('ManagedPolicyArns');
  return ids.flatMap((id) => synthesized.resolve(resources[id].Properties.PolicyDocument.Statement) as Statement[]);
}

function contextValues(key: string, request: Request): string[] {
  const tag = /^ec2:ResourceTag\/(.+)$/.exec(key);
  if (tag) return request.resourceTags?.[tag[1]] === undefined ? [] : [request.resourceTags[tag[1]]];
  if (key === 'aws:TagKeys') return request.requestTagKeys ?? [];
  throw new Error(`condition key ${key} is not modelled here`);
}

function conditionsHold(condition: Statement['Condition'], request: Request): boolean {
  return Object.entries(condition ?? {}).every(([operator, entries]) => Object.entries(entries).every(([key, expected]) => {
    const values = list(expected);
    const actual = contextValues(key, request);
    switch (operator) {
      case 'Null': return values[0] === 'true' ? actual.length === 0 : actual.length > 0;
      case 'StringEquals': return actual.some((a) => values.includes(a));
      case 'ForAllValues:StringEquals': return actual.every((a) => values.includes(a));
      default: throw new Error(`condition operator ${operator} is not modelled here`);
    }
  }));
}

function allows(statements: Statement[], request: Request): boolean {
  const applies = (s: Statement) => list(s.Action).some((a) => glob(a, 'i').test(request.action))
    && list(s.Resource).some((r) => glob(r).test(request.resource)) && conditionsHold(s.Condition, request);
  return !statements.some((s) => s.Effect === 'Deny' && applies(s)) && statements.some((s) => s.Effect === 'Allow' && applies(s));
}

/**
 * Every authorization the calls the handler made need, in order. EC2 tags are tracked from the fleet as
 * served through the calls' own CreateTags and DeleteTags, so a stop is checked against the tags it met.
 */
function requestsMade(fleet: ec2Sdk.Instance[]): Request[] {
  const tags = new Map(fleet.map((i) => [i.InstanceId!, Object.fromEntries((i.Tags ?? []).map((t) => [t.Key!, t.Value!]))]));
  const requests: Request[] = [];
  const commands = (mock: { calls: () => Array<{ args: unknown[] }> }) =>
    mock.calls().map((c) => c.args[0] as { constructor: { name: string }; input: any }).map((c) => ({ name: c.constructor.name.replace(/Command$/, ''), input: c.input }));
  for (const { name, input } of commands(ec2Mock)) {
    if (name === 'DescribeInstances') {
      requests.push({ action: 'ec2:DescribeInstances', resource: '*' });
    } else if (name === 'CreateTags' || name === 'DeleteTags') {
      const keys: string[] = input.Tags.map((t: ec2Sdk.Tag) => t.Key);
      for (const id of input.Resources as string[]) requests.push({ action: `ec2:${name}`, resource: ec2Arn(id), resourceTags: { ...tags.get(id) }, requestTagKeys: keys });
      for (const id of input.Resources as string[]) {
        const now = { ...tags.get(id) };
        for (const t of input.Tags as ec2Sdk.Tag[]) if (name === 'CreateTags') now[t.Key!] = t.Value!; else delete now[t.Key!];
        tags.set(id, now);
      }
    } else if (name === 'StopInstances' || name === 'TerminateInstances') {
      for (const id of input.InstanceIds as string[]) requests.push({ action: `ec2:${name}`, resource: ec2Arn(id), resourceTags: { ...tags.get(id) } });
    } else {
      throw new Error(`EC2 ${name} is not modelled here`);
    }
  }
  for (const { name, input } of commands(ddbMock)) {
    if (!['Scan', 'PutItem', 'DeleteItem', 'BatchWriteItem'].includes(name)) throw new Error(`DynamoDB ${name} is not modelled here`);
    const tables: string[] = name === 'BatchWriteItem' ? Object.keys(input.RequestItems) : [input.TableName];
    for (const table of tables) requests.push({ action: `dynamodb:${name}`, resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}` });
  }
  for (const { name } of commands(ctMock)) {
    if (name !== 'LookupEvents') throw new Error(`CloudTrail ${name} is not modelled here`);
    requests.push({ action: 'cloudtrail:LookupEvents', resource: '*' });
  }
  for (const { name, input } of commands(snsMock)) {
    if (name !== 'Publish') throw new Error(`SNS ${name} is not modelled here`);
    requests.push({ action: 'sns:Publish', resource: input.TopicArn });
  }
  return requests;
}

describe('IAM: every call the handler makes is allowed by the synthesized policy; Stop and Terminate only when configured', () => {
  const READS = ['ec2:DescribeInstances', 'dynamodb:Scan', 'dynamodb:PutItem', 'sns:Publish'];
  const TAGS = ['ec2:CreateTags', 'ec2:DeleteTags'];
  const LOOKUP = ['cloudtrail:LookupEvents', 'dynamodb:BatchWriteItem'];
  /** The configurations, and every action the deploy of the rules, a launch and a sweep lead the handler to call. */
  const CONFIGURATIONS: Array<[string, TagPolicyEngineProps, string[]]> = [
    ['defaults (NOTIFY)', {}, [...READS, ...TAGS, ...LOOKUP]],
    ['untaggedAction STOP', { untaggedAction: ViolationAction.STOP }, [...READS, ...TAGS, ...LOOKUP, 'ec2:StopInstances']],
    ['untaggedAction TERMINATE', { untaggedAction: ViolationAction.TERMINATE }, [...READS, ...TAGS, ...LOOKUP, 'ec2:TerminateInstances']],
    ['dryRun (TERMINATE)', { untaggedAction: ViolationAction.TERMINATE, dryRun: true }, [...READS, 'cloudtrail:LookupEvents']],
    ['backfillCreators false (STOP)', { untaggedAction: ViolationAction.STOP, backfillCreators: false }, [...READS, ...TAGS, 'ec2:StopInstances']],
    ['propagateToVolumes (STOP)', { untaggedAction: ViolationAction.STOP, propagateToVolumes: true }, [...READS, ...TAGS, ...LOOKUP, 'ec2:StopInstances']],
    ['instanceSelector (STOP)', { untaggedAction: ViolationAction.STOP, instanceSelector: { managed: 'true' } }, [...READS, ...TAGS, ...LOOKUP, 'ec2:StopInstances']],
    ['everything on (TERMINATE, a STOP rule, selector, volumes)', everythingOnBehaviour(), [...READS, ...TAGS, ...LOOKUP, 'ec2:TerminateInstances']],
  ];

  /** Everything on, less the user's resources (VPC, keys, topic), whose ids the handler's calls do not depend on. */
  function everythingOnBehaviour(): TagPolicyEngineProps {
    const { topic, vpc, vpcs, securityGroups, logEncryptionKey, environmentEncryptionKey, ...behaviour } = tagPolicyEngineEverythingOn(new Stack(new App(), 'User')).props;
    return behaviour;
  }

  /** Deploys the rules, handles a launch, runs a sweep over a fleet that takes every path; returns what was sent. */
  async function exercise(synthesized: Synthesized, selected: Record<string, string> = {}) {
    // The mocked DescribeInstances does not filter: with an instanceSelector, the whole fleet carries its tags.
    const fleet = {
      missing: ec2Instance({ tags: { ...selected } }),
      overdue: ec2Instance({ tags: { ...selected, ...COMPLIANT_TAGS, CostCenter: '9999', [VIOLATION]: markOf(ago(8 * DAY)) } }),
      newViolator: ec2Instance({ tags: { ...selected, ...COMPLIANT_TAGS, CostCenter: '9999' } }),
      compliantMarked: ec2Instance({ tags: { ...selected, ...COMPLIANT_TAGS, [VIOLATION]: markOf(ago(5 * DAY)) } }),
      protected: ec2Instance({ tags: { ...selected, [PROTECT]: 'true', [VIOLATION]: markOf(ago(9 * DAY)) } }),
      compliant: ec2Instance({ tags: { ...selected, ...COMPLIANT_TAGS } }),
    };
    const launched = ec2Instance({ age: 60, tags: selected });
    ec2Mock.on(StopInstancesCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    serveLookups([iamUserRecord({ instanceIds: [fleet.missing.InstanceId!], eventTime: ago(DAY + 60) }, 'carol')]);
    await deployRules(synthesized);
    const env = handlerEnv(synthesized);

    serveInstances([launched]);
    await loadHandler(env)(launchEvent(iamUserRecord({ instanceIds: [launched.InstanceId!] }, 'alice')));
    serveInstances(Object.values(fleet));
    await loadHandler(env)(SWEEP);
    return { fleet, launched, requests: requestsMade([...Object.values(fleet), launched]) };
  }

  test.each(CONFIGURATIONS)('%s', async (_label, props, expectedActions) => {
    const synthesized = synthesize({ rules: tagPolicyRules(), ...props });
    const statements = handlerStatements(synthesized);
    const { fleet, launched, requests } = await exercise(synthesized, props.instanceSelector);

    expect(requests.filter((r) => !allows(statements, r))).toEqual([]);
    expect([...new Set(requests.map((r) => r.action))].sort()).toEqual([...expectedActions].sort());

    const acted = (action: string) => requests.filter((r) => r.action === action).map((r) => r.resource);
    const instanceActions = ['ec2:StopInstances', 'ec2:TerminateInstances'].filter((a) => expectedActions.includes(a));
    for (const action of instanceActions) expect(acted(action)).toEqual([ec2Arn(fleet.overdue.InstanceId!)]);
    if (props.dryRun || (props.untaggedAction ?? 'NOTIFY') === 'NOTIFY') {
      // Neither granted nor called.
      expect(statements.flatMap((s) => list(s.Action)).filter((a) => /^ec2:(Stop|Terminate)Instances$/.test(a))).toEqual([]);
      expect(instanceActions).toEqual([]);
    }
    if (props.backfillCreators === false) expect(statements.flatMap((s) => list(s.Action))).not.toContain('cloudtrail:LookupEvents');
    if (props.propagateToVolumes) {
      const attached = [...fleet.missing.BlockDeviceMappings!.map((b) => b.Ebs!.VolumeId!), fleet.missing.NetworkInterfaces![0].NetworkInterfaceId!];
      expect(acted('ec2:CreateTags')).toEqual(expect.arrayContaining([...attached, `eni-${launched.InstanceId!.slice(2)}`].map(ec2Arn)));
    }
    // The protected instance is never touched, whatever the configuration.
    expect(requests.filter((r) => r.resource === ec2Arn(fleet.protected.InstanceId!))).toEqual([]);
  });

  test('the evaluation is not vacuous: calls outside what the handler does are refused', () => {
    const synthesized = synthesize({ rules: tagPolicyRules(), untaggedAction: ViolationAction.STOP });
    const statements = handlerStatements(synthesized);
    const instance = ec2Arn('i-0123456789abcdef0');
    const mark = { [VIOLATION]: markOf(ago(4 * DAY)) };
    expect(allows(statements, { action: 'ec2:StopInstances', resource: instance, resourceTags: mark })).toBe(true);
    const refused: Request[] = [
      { action: 'ec2:StopInstances', resource: instance, resourceTags: {} },
      { action: 'ec2:StopInstances', resource: instance, resourceTags: { ...mark, [PROTECT]: '' } },
      { action: 'ec2:TerminateInstances', resource: instance, resourceTags: mark },
      { action: 'ec2:CreateTags', resource: instance, resourceTags: { [PROTECT]: 'yes' }, requestTagKeys: ['CostCenter'] },
      { action: 'ec2:DeleteTags', resource: instance, resourceTags: mark, requestTagKeys: ['CostCenter'] },
      { action: 'ec2:CreateTags', resource: ec2Arn('vol-0123456789abcdef0'), resourceTags: {}, requestTagKeys: ['CostCenter'] },
      { action: 'dynamodb:PutItem', resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/other` },
      { action: 'sns:Publish', resource: `arn:aws:sns:${REGION}:${ACCOUNT}:other` },
    ];
    expect(refused.filter((r) => allows(statements, r))).toEqual([]);
  });
});
