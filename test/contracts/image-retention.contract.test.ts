/**
 * Contract between the ImageRetention construct and its handler's configuration: the handler's
 * `readConfig` runs on the environment of the synthesized function, its references replaced by what
 * CloudFormation would put there.
 * - what the construct writes, the handler reads as the props meant: the defaults, every prop, the boundaries;
 * - every variable the construct sets is one the handler reads, and the handler's own defaults are the construct's;
 * - what the construct refuses, the handler refuses too, where the same value can reach it.
 */
import { App, CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as sns from 'aws-cdk-lib/aws-sns';
import { DEFAULT_PROTECTION_TAG_KEY, ImageRetentionConfig, readConfig } from '../../lambda/image-retention/config';
import { ImageRetention, ImageRetentionProps, RetentionAction } from '../../src';
import { IMAGE_RETENTION_ENV_LIMITS } from '../../src/common/env-limits';
import { ENV } from '../../src/image-retention/contract';
import { IMAGE_USAGE_READER_ROLE_ARN, imageRetentionEverythingOn } from '../helpers/configurations';

const STACK_NAME = 'TestStack';
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:image-retention-reports`;
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const READER = 'arn:aws:iam::111111111111:role/ImageUsageReader';
/** Variables Lambda and the construct's function base set for every handler, not read by readConfig. */
const RUNTIME_VARIABLES = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];

type PropsOf = ImageRetentionProps | ((stack: Stack) => ImageRetentionProps);

/**
 * The function's environment as deployed: Refs of the topic and of repositories made in the stack, and
 * the pseudo parameters, replaced by test values; Fn::Join joined.
 */
function envOf(props: PropsOf = {}, repositoryNames: Record<string, string> = {}): Record<string, string> {
  const stack = new Stack(new App(), STACK_NAME);
  const retention = new ImageRetention(stack, 'Retention', typeof props === 'function' ? props(stack) : props);
  const template = Template.fromStack(stack);
  const id = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const refs: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::StackName': STACK_NAME,
    ...(retention.topic instanceof sns.Topic ? { [id(retention.topic)]: TOPIC_ARN } : {}),
    ...Object.fromEntries(Object.entries(repositoryNames).map(([path, name]) => [id(stack.node.findChild(path) as ecr.Repository), name])),
  };
  const resolve = (value: unknown): any => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const v = value as Record<string, any>;
    if ('Ref' in v) {
      if (!(v.Ref in refs)) throw new Error(`no test value for Ref ${v.Ref}`);
      return refs[v.Ref];
    }
    if ('Fn::Join' in v) return (resolve(v['Fn::Join'][1]) as string[]).join(v['Fn::Join'][0]);
    throw new Error(`cannot resolve ${JSON.stringify(v)}`);
  };
  const functions = Object.values(template.findResources('AWS::Lambda::Function'));
  expect(functions).toHaveLength(1);
  const variables = functions[0].Properties.Environment.Variables as Record<string, unknown>;
  return Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, resolve(v)]));
}

/** The config the handler reads from a synthesized environment, checking on the way that it reads every variable set. */
function configOf(env: Record<string, string>): ImageRetentionConfig {
  const seen = new Set<string>();
  const config = readConfig(new Proxy(env, { get: (target, key: string) => { seen.add(key); return target[key]; } }));
  // A variable the handler ignores would be a prop that silently does nothing.
  expect(Object.keys(env).filter((k) => !RUNTIME_VARIABLES.includes(k) && !seen.has(k))).toEqual([]);
  return config;
}

const DEFAULT_CONFIG: ImageRetentionConfig = {
  topicArn: TOPIC_ARN,
  repositories: undefined,
  keepNewest: 10,
  minAgeSeconds: 30 * 86_400,
  keepTagPatterns: ['latest'],
  pinnedImages: [],
  consumerAccountRoles: [],
  action: 'REPORT',
  taskDefinitions: undefined,
  protectionTagKey: 'fleet-janitor:protect',
  dryRun: false,
  maxActionsPerRun: 100,
};

describe('what the construct writes is what the handler reads', () => {
  test('defaults: every repository that opted in, REPORT, no task definitions', () => {
    expect(configOf(envOf())).toEqual(DEFAULT_CONFIG);
  });

  test('the handler\'s own defaults (every optional variable unset) are the construct\'s defaults', () => {
    expect(readConfig({ [ENV.topicArn]: TOPIC_ARN })).toEqual(configOf(envOf()));
    expect(DEFAULT_PROTECTION_TAG_KEY).toBe(DEFAULT_CONFIG.protectionTagKey);
  });

  test('every prop', () => {
    const config = configOf(envOf((stack) => ({
      repositories: [ecr.Repository.fromRepositoryName(stack, 'Web', 'team/web'), ecr.Repository.fromRepositoryName(stack, 'Api', 'api')],
      keepNewest: 3,
      minAge: Duration.hours(36),
      keepTagPatterns: ['latest', 'release-*', 'v?.?'],
      pinnedImages: [`team/web@${DIGEST}`, 'api:v1.2.3'],
      consumerAccountRoles: [READER, 'arn:aws-cn:iam::333333333333:role/path/to/Reader'],
      action: RetentionAction.DELETE,
      taskDefinitions: { keepNewestRevisions: 2, deregisterUnused: false, deleteInactive: true },
      protectionTagKey: 'keep-me',
      dryRun: true,
      maxActionsPerRun: 7,
      topic: sns.Topic.fromTopicArn(stack, 'Alerts', TOPIC_ARN),
    })));
    expect(config).toEqual({
      topicArn: TOPIC_ARN,
      repositories: ['team/web', 'api'],
      keepNewest: 3,
      minAgeSeconds: 36 * 3_600,
      keepTagPatterns: ['latest', 'release-*', 'v?.?'],
      pinnedImages: [{ repository: 'team/web', digest: DIGEST }, { repository: 'api', tag: 'v1.2.3' }],
      consumerAccountRoles: [READER, 'arn:aws-cn:iam::333333333333:role/path/to/Reader'],
      action: 'DELETE',
      taskDefinitions: { keepNewestRevisions: 2, deregisterUnused: false, deleteInactive: true },
      protectionTagKey: 'keep-me',
      dryRun: true,
      maxActionsPerRun: 7,
    });
  });

  test('repositories made in the stack: their names as CloudFormation gives them', () => {
    const config = configOf(envOf((stack) => ({ repositories: [new ecr.Repository(stack, 'Made'), new ecr.Repository(stack, 'Other')] }),
      { Made: 'teststack-made-1a2b3c', Other: 'team/other' }));
    expect(config.repositories).toEqual(['teststack-made-1a2b3c', 'team/other']);
  });

  test('taskDefinitions: {} is read as the documented defaults', () => {
    expect(configOf(envOf({ taskDefinitions: {} })).taskDefinitions)
      .toEqual({ keepNewestRevisions: 5, deregisterUnused: true, deleteInactive: false });
  });

  test.each([
    [{}, { deregisterUnused: true, deleteInactive: false }],
    [{ deregisterUnused: false }, { deregisterUnused: false, deleteInactive: false }],
    [{ deleteInactive: true }, { deregisterUnused: true, deleteInactive: true }],
  ])('taskDefinitions flags %j', (flags, expected) => {
    expect(configOf(envOf({ taskDefinitions: flags })).taskDefinitions).toEqual({ keepNewestRevisions: 5, ...expected });
  });

  test('an empty keepTagPatterns is read as keep nothing by tag (not as the default)', () => {
    expect(configOf(envOf({ keepTagPatterns: [] })).keepTagPatterns).toEqual([]);
  });

  test.each([RetentionAction.REPORT, RetentionAction.DELETE])('action %s', (action) => {
    expect(configOf(envOf({ action })).action).toBe(action);
  });

  test('the everything-on configuration of the compliance checks', () => {
    // The team's topic and network are left out: what reaches the environment is the retention behaviour.
    const config = configOf(envOf((stack) => ({
      ...imageRetentionEverythingOn(stack).props, topic: undefined, vpc: undefined, securityGroups: undefined,
    })));
    expect(config).toMatchObject({
      repositories: ['team/web', 'team/api'],
      keepNewest: 20,
      minAgeSeconds: 14 * 86_400,
      consumerAccountRoles: [IMAGE_USAGE_READER_ROLE_ARN],
      action: 'DELETE',
      taskDefinitions: { keepNewestRevisions: 3, deregisterUnused: true, deleteInactive: true },
      maxActionsPerRun: 500,
    });
    expect(config.pinnedImages).toHaveLength(2);
  });
});

describe('limits: the construct and the handler agree on every bounded variable', () => {
  /** The prop each limited variable comes from. */
  const PROPS: Record<keyof typeof IMAGE_RETENTION_ENV_LIMITS, [string, (n: number) => ImageRetentionProps]> = {
    MAX_ACTIONS_PER_RUN: ['maxActionsPerRun', (n) => ({ maxActionsPerRun: n })],
    KEEP_NEWEST: ['keepNewest', (n) => ({ keepNewest: n })],
    MIN_AGE_SECONDS: ['minAge', (n) => ({ minAge: Duration.seconds(n) })],
    KEEP_NEWEST_REVISIONS: ['taskDefinitions.keepNewestRevisions', (n) => ({ taskDefinitions: { keepNewestRevisions: n } })],
  };
  /** How the handler reads each one back. */
  const READ: Record<keyof typeof IMAGE_RETENTION_ENV_LIMITS, (config: ImageRetentionConfig) => number | undefined> = {
    MAX_ACTIONS_PER_RUN: (c) => c.maxActionsPerRun,
    KEEP_NEWEST: (c) => c.keepNewest,
    MIN_AGE_SECONDS: (c) => c.minAgeSeconds,
    KEEP_NEWEST_REVISIONS: (c) => c.taskDefinitions?.keepNewestRevisions,
  };
  /** The environment with the variable set to n, as the construct would write it if it allowed n. */
  const withValue = (variable: keyof typeof IMAGE_RETENTION_ENV_LIMITS, n: number): Record<string, string> => {
    const env = envOf(variable === 'KEEP_NEWEST_REVISIONS' ? { taskDefinitions: {} } : {});
    if (variable !== 'KEEP_NEWEST_REVISIONS') return { ...env, [variable]: String(n) };
    return { ...env, [ENV.taskDefinitions]: JSON.stringify({ ...JSON.parse(env[ENV.taskDefinitions]), keepNewestRevisions: n }) };
  };

  test.each(Object.entries(IMAGE_RETENTION_ENV_LIMITS))('%s: both sides accept %j and refuse one past either end', (name, limit) => {
    const variable = name as keyof typeof IMAGE_RETENTION_ENV_LIMITS;
    const [prop, props] = PROPS[variable];
    for (const n of [limit.min, limit.max]) {
      expect(READ[variable](configOf(envOf(props(n))))).toBe(n);
    }
    for (const n of [limit.min - 1, limit.max + 1]) {
      // A negative Duration cannot even be made: aws-cdk-lib refuses it before the construct sees it.
      const refusal = variable === 'MIN_AGE_SECONDS' && n < 0 ? /^Duration amounts cannot be negative/ : new RegExp(`^ImageRetention: invalid ${prop.replace('.', '\\.')} `);
      expect(() => envOf(props(n))).toThrow(refusal);
      const variableName = variable === 'KEEP_NEWEST_REVISIONS' ? ENV.taskDefinitions : variable;
      expect(() => readConfig(withValue(variable, n))).toThrow(new RegExp(`environment variable ${variableName}=`));
    }
  });

  test('a fraction is refused by both (an integer count, whole seconds)', () => {
    expect(() => envOf({ keepNewest: 2.5 })).toThrow(/^ImageRetention: invalid keepNewest \(2\.5\)/);
    expect(() => readConfig({ ...envOf(), [ENV.keepNewest]: '2.5' })).toThrow(/environment variable KEEP_NEWEST=/);
    expect(() => envOf({ minAge: Duration.millis(1_500) })).toThrow(/^ImageRetention: invalid minAge \(1\.5 seconds\)/);
    expect(() => readConfig({ ...envOf(), [ENV.minAgeSeconds]: '1.5' })).toThrow(/environment variable MIN_AGE_SECONDS=/);
  });
});

describe('what the construct refuses, the handler refuses too', () => {
  /** A value the construct refuses as a prop, and the same value in the variable it would become. */
  const cases: Array<[string, ImageRetentionProps | ((stack: Stack) => ImageRetentionProps), string, (env: Record<string, string>) => string]> = [
    ['a pinned image neither by digest nor by tag', { pinnedImages: ['web'] }, ENV.pinnedImages, () => '["web"]'],
    ['a pinned image with a short digest', { pinnedImages: ['web@sha256:abc'] }, ENV.pinnedImages, () => '["web@sha256:abc"]'],
    ['a pinned image with an upper-case repository', { pinnedImages: ['Web:v1'] }, ENV.pinnedImages, () => '["Web:v1"]'],
    ['a consumer role that is a user', { consumerAccountRoles: ['arn:aws:iam::111111111111:user/reader'] }, ENV.consumerAccountRoles,
      () => '["arn:aws:iam::111111111111:user/reader"]'],
    ['a consumer role with a short account id', { consumerAccountRoles: ['arn:aws:iam::1111:role/Reader'] }, ENV.consumerAccountRoles,
      () => '["arn:aws:iam::1111:role/Reader"]'],
    ['an unknown action', { action: 'PURGE' as RetentionAction }, ENV.action, () => 'PURGE'],
    ['no repository', { repositories: [] }, ENV.repositories, () => '[]'],
    ['a repository name ECR does not allow', (stack) => ({ repositories: [ecr.Repository.fromRepositoryName(stack, 'Bad', 'Team/Web')] }),
      ENV.repositories, () => '["Team/Web"]'],
    ['an empty tag pattern', { keepTagPatterns: [''] }, ENV.keepTagPatterns, () => '[""]'],
    ['a pinned namespace with a character ECR does not allow', { pinnedImages: ['a$b/web:v1'] }, ENV.pinnedImages, () => '["a$b/web:v1"]'],
    ['a pinned digest with text before "sha256:"', { pinnedImages: [`web@x${DIGEST}`] }, ENV.pinnedImages, () => JSON.stringify([`web@x${DIGEST}`])],
    ['a pinned digest of 65 hex digits', { pinnedImages: [`web@${DIGEST}0`] }, ENV.pinnedImages, () => JSON.stringify([`web@${DIGEST}0`])],
    ['a consumer role ARN with text before it', { consumerAccountRoles: [`x${READER}`] }, ENV.consumerAccountRoles, () => JSON.stringify([`x${READER}`])],
    ['a consumer role ARN with text after it', { consumerAccountRoles: [`${READER} extra`] }, ENV.consumerAccountRoles, () => JSON.stringify([`${READER} extra`])],
  ];

  test.each(cases)('%s', (_name, props, variable, value) => {
    expect(() => envOf(props)).toThrow(/^ImageRetention: invalid /);
    const env = envOf();
    expect(() => readConfig({ ...env, [variable]: value(env) })).toThrow(new RegExp(`environment variable ${variable}=`));
  });

  test('what the construct accepts at the edges, the handler accepts: role ARNs of other partitions, namespaced pins, wildcard-only patterns', () => {
    const config = configOf(envOf({
      consumerAccountRoles: ['arn:aws-us-gov:iam::444444444444:role/a+b=c,d.e@f-g', READER],
      pinnedImages: [`a/b/c@${DIGEST}`, `x:${'t'.repeat(128)}`],
      keepTagPatterns: ['*', '?', 'x'.repeat(128)],
    }));
    expect(config.consumerAccountRoles).toHaveLength(2);
    expect(config.pinnedImages).toEqual([{ repository: 'a/b/c', digest: DIGEST }, { repository: 'x', tag: 't'.repeat(128) }]);
    expect(config.keepTagPatterns).toEqual(['*', '?', 'x'.repeat(128)]);
  });

  test('repository names with separators inside namespaces, and one that only looks like a registry host after its first namespace', () => {
    // A name is refused as an image URI only when it starts with a registry host; further in, dots are a name's own.
    const pins = ['my-team.x_y/web-app:v1', `a-b/c.d/e_f@${DIGEST}`, 'team/123.dkr.ecr.us-east-1.amazonaws.com/app:v1'];
    const config = configOf(envOf({ pinnedImages: pins }));
    expect(config.pinnedImages).toEqual([
      { repository: 'my-team.x_y/web-app', tag: 'v1' },
      { repository: 'a-b/c.d/e_f', digest: DIGEST },
      { repository: 'team/123.dkr.ecr.us-east-1.amazonaws.com/app', tag: 'v1' },
    ]);
  });
});
