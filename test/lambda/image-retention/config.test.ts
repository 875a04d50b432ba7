/*
 * The ImageRetention handler's environment, variable by variable (src/image-retention/contract.ts
 * ENV): defaults, accepted forms, and every bad value refused with a ConfigError that names the
 * variable and the value. Through the handler: a bad configuration makes no AWS call at all.
 */
import { CONSUMER_ROLE, expectNoCallsAtAll, image, installHandlerHarness, loadHandler, serve, TOPIC_ARN, World } from './harness';
import { DEFAULT_PROTECTION_TAG_KEY, readConfig } from '../../../lambda/image-retention/config';
import { ConfigError } from '../../../lambda/shared/errors';
import { IMAGE_RETENTION_ENV_LIMITS as LIMITS } from '../../../src/common/env-limits';
import { DEFAULTS, ENV } from '../../../src/image-retention/contract';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const MINIMAL = { [ENV.topicArn]: TOPIC_ARN };

/** The ConfigError readConfig throws for `env` (fails the test if it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    readConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`readConfig accepted ${JSON.stringify(env)}`);
}

/** Asserts `variable=value` is refused, the error naming both (and, if given, saying why). */
function expectRefused(variable: string, value: string, reason?: RegExp | string): void {
  const error = configError({ ...MINIMAL, [variable]: value });
  expect(error).toMatchObject({ name: 'ConfigError', variable, value });
  expect(error.message).toContain(`Invalid configuration: environment variable ${variable}=${JSON.stringify(value)}: `);
  if (reason !== undefined) expect(error.message).toMatch(reason);
}

describe('defaults', () => {
  test('only TOPIC_ARN set: the documented defaults (the contract\'s DEFAULTS)', () => {
    expect(readConfig(MINIMAL)).toEqual({
      topicArn: TOPIC_ARN,
      repositories: undefined,
      keepNewest: DEFAULTS.keepNewest,
      minAgeSeconds: DEFAULTS.minAgeDays * 86_400,
      keepTagPatterns: [...DEFAULTS.keepTagPatterns],
      pinnedImages: [],
      consumerAccountRoles: [],
      action: 'REPORT',
      taskDefinitions: undefined,
      protectionTagKey: DEFAULT_PROTECTION_TAG_KEY,
      dryRun: false,
      maxActionsPerRun: 100,
    });
  });

  test('empty strings mean unset for the optional variables', () => {
    const empty = Object.fromEntries(Object.values(ENV).filter((v) => v !== ENV.topicArn).map((v) => [v, '']));
    expect(readConfig({ ...MINIMAL, ...empty })).toEqual(readConfig(MINIMAL));
  });

  test('every variable set', () => {
    const config = readConfig({
      ...MINIMAL,
      [ENV.repositories]: '["app","team/api","a.b-c_d"]',
      [ENV.keepNewest]: '3',
      [ENV.minAgeSeconds]: '0',
      [ENV.keepTagPatterns]: '["release-*","v?"]',
      [ENV.pinnedImages]: JSON.stringify([`app@${DIGEST}`, 'team/api:golden', 'app:v1.2_3-rc']),
      [ENV.consumerAccountRoles]: JSON.stringify([CONSUMER_ROLE, 'arn:aws-cn:iam::123456789012:role/path/to/reader']),
      [ENV.action]: 'DELETE',
      [ENV.taskDefinitions]: '{"keepNewestRevisions":5,"deregisterUnused":false,"deleteInactive":true}',
      [ENV.protectionTagKey]: 'keep',
      [ENV.dryRun]: 'true',
      [ENV.maxActionsPerRun]: '0',
    });
    expect(config).toEqual({
      topicArn: TOPIC_ARN,
      repositories: ['app', 'team/api', 'a.b-c_d'],
      keepNewest: 3,
      minAgeSeconds: 0,
      keepTagPatterns: ['release-*', 'v?'],
      pinnedImages: [{ repository: 'app', digest: DIGEST }, { repository: 'team/api', tag: 'golden' }, { repository: 'app', tag: 'v1.2_3-rc' }],
      consumerAccountRoles: [CONSUMER_ROLE, 'arn:aws-cn:iam::123456789012:role/path/to/reader'],
      action: 'DELETE',
      taskDefinitions: { keepNewestRevisions: 5, deregisterUnused: false, deleteInactive: true },
      protectionTagKey: 'keep',
      dryRun: true,
      maxActionsPerRun: 0,
    });
  });

  test('KEEP_TAG_PATTERNS [] keeps no tag', () => {
    expect(readConfig({ ...MINIMAL, [ENV.keepTagPatterns]: '[]' }).keepTagPatterns).toEqual([]);
  });
});

describe('TOPIC_ARN', () => {
  test.each([[undefined], [''], ['   ']])('%j is refused', (value) => {
    const error = configError({ [ENV.topicArn]: value });
    expect(error).toMatchObject({ variable: ENV.topicArn, value });
    expect(error.message).toContain('a non-empty value is required');
  });
});

describe('REPOSITORIES', () => {
  test.each([
    ['not JSON', '[app', 'expected JSON'],
    ['a bare string', '"app"', 'expected a JSON array of non-empty strings'],
    ['an object', '{"app":1}', 'expected a JSON array of non-empty strings'],
    ['a number in the list', '["app",1]', 'expected a JSON array of non-empty strings'],
    ['an empty name', '["app",""]', 'expected a JSON array of non-empty strings'],
    ['an empty list', '[]', 'expected at least 1 item(s)'],
    ['upper case', '["App"]', '"App" is not an ECR repository name'],
    ['a leading slash', '["/app"]', '"/app" is not an ECR repository name'],
    ['a trailing separator', '["app-"]', '"app-" is not an ECR repository name'],
    ['a double slash', '["team//app"]', '"team//app" is not an ECR repository name'],
    ['a tag', '["app:latest"]', '"app:latest" is not an ECR repository name'],
    ['a space', '["my app"]', 'is not an ECR repository name'],
  ])('%s is refused', (_label, value, reason) => expectRefused(ENV.repositories, value, reason));

  test('the error names the bad entry among good ones', () => {
    expect(configError({ ...MINIMAL, [ENV.repositories]: '["good","Bad","also-good"]' }).message).toContain('"Bad" is not an ECR repository name');
  });
});

describe('PINNED_IMAGES', () => {
  test.each([
    ['no tag or digest', '["app"]'],
    ['an empty tag', '["app:"]'],
    ['no repository', '[":v1"]'],
    ['no repository before the digest', `["@${DIGEST}"]`],
    ['a short digest', '["app@sha256:abc"]'],
    ['an upper-case digest', `["app@sha256:${'AB'.repeat(32)}"]`],
    ['another algorithm', `["app@sha512:${'ab'.repeat(32)}"]`],
    ['a tag and a digest', `["app:v1@${DIGEST}"]`],
    ['a bad repository name', '["App:v1"]'],
    ['a tag with a space', '["app:v 1"]'],
    ['a tag starting with a dot', '["app:.hidden"]'],
    ['a tag of 129 characters', `["app:${'t'.repeat(129)}"]`],
    ['a full image URI by tag (it would pin nothing)', '["111122223333.dkr.ecr.eu-west-1.amazonaws.com/app:v1"]'],
    ['a full image URI by digest', `["111122223333.dkr.ecr-fips.us-east-1.amazonaws.com/app@${DIGEST}"]`],
  ])('%s is refused, naming the entry', (_label, value) => {
    expectRefused(ENV.pinnedImages, value, /is neither "repository@sha256:<64 hex digits>" nor "repository:tag"/);
    expect(configError({ ...MINIMAL, [ENV.pinnedImages]: value }).message).toContain(JSON.stringify(JSON.parse(value)[0]));
  });

  test.each([['not JSON', 'app:v1'], ['not a list', '{"app":"v1"}'], ['a non-string', '[1]']])('%s is refused', (_label, value) => expectRefused(ENV.pinnedImages, value));

  test('a tag of 128 characters and a namespaced repository are accepted', () => {
    expect(readConfig({ ...MINIMAL, [ENV.pinnedImages]: `["team/app:${'t'.repeat(128)}"]` }).pinnedImages).toEqual([{ repository: 'team/app', tag: 't'.repeat(128) }]);
  });
});

describe('CONSUMER_ACCOUNT_ROLES', () => {
  test.each([
    ['a user ARN', 'arn:aws:iam::444455556666:user/reader'],
    ['an assumed-role ARN', 'arn:aws:sts::444455556666:assumed-role/reader/session'],
    ['an account id', '444455556666'],
    ['a short account id', 'arn:aws:iam::44445555666:role/reader'],
    ['a region in an IAM ARN', 'arn:aws:iam:eu-west-1:444455556666:role/reader'],
    ['no role name', 'arn:aws:iam::444455556666:role/'],
    ['a role name with a space', 'arn:aws:iam::444455556666:role/my reader'],
    ['a role name', 'reader'],
    ['another service', 'arn:aws:s3:::444455556666'],
  ])('%s is refused, naming the entry', (_label, arn) => {
    const value = JSON.stringify([CONSUMER_ROLE, arn]);
    expectRefused(ENV.consumerAccountRoles, value, `${JSON.stringify(arn)} is not an IAM role ARN`);
  });

  test.each([['not JSON', CONSUMER_ROLE], ['not a list', `{"r":"${CONSUMER_ROLE}"}`], ['an empty entry', '[""]']])('%s is refused', (_label, value) => expectRefused(ENV.consumerAccountRoles, value));

  test('role ARNs of every partition, with paths, are accepted', () => {
    const arns = ['arn:aws:iam::444455556666:role/reader', 'arn:aws-us-gov:iam::444455556666:role/a/b/c+d=e,f.g@h-i_j', 'arn:aws-cn:iam::444455556666:role/x'];
    expect(readConfig({ ...MINIMAL, [ENV.consumerAccountRoles]: JSON.stringify(arns) }).consumerAccountRoles).toEqual(arns);
  });
});

describe('TASK_DEFINITIONS', () => {
  const ok = { keepNewestRevisions: 5, deregisterUnused: true, deleteInactive: false };
  const json = (value: unknown) => JSON.stringify(value);
  const { min, max } = LIMITS.KEEP_NEWEST_REVISIONS;

  test.each([
    ['not JSON', '{keepNewestRevisions:5}', 'expected JSON'],
    ['null', 'null', 'expected a JSON object'],
    ['a list', json([ok]), 'expected a JSON object'],
    ['a string', '"on"', 'expected a JSON object'],
    ['true', 'true', 'expected a JSON object'],
    ['an unknown key', json({ ...ok, keepNewest: 3 }), 'unknown field(s) keepNewest; expected keepNewestRevisions, deregisterUnused, deleteInactive'],
    ['a misspelt key', json({ keepNewestRevision: 5, deregisterUnused: true, deleteInactive: true }), 'unknown field(s) keepNewestRevision'],
    ['two unknown keys', json({ ...ok, keepNewest: 3, dryRun: true }), 'unknown field(s) keepNewest, dryRun; expected'],
    ['no keepNewestRevisions', json({ deregisterUnused: true, deleteInactive: true }), `keepNewestRevisions must be an integer from ${min} to ${max}`],
    ['keepNewestRevisions below the minimum', json({ ...ok, keepNewestRevisions: min - 1 }), `keepNewestRevisions must be an integer from ${min} to ${max}`],
    ['keepNewestRevisions above the maximum', json({ ...ok, keepNewestRevisions: max + 1 }), `keepNewestRevisions must be an integer from ${min} to ${max}`],
    ['keepNewestRevisions fractional', json({ ...ok, keepNewestRevisions: 2.5 }), 'keepNewestRevisions must be an integer'],
    ['keepNewestRevisions as a string', json({ ...ok, keepNewestRevisions: '5' }), 'keepNewestRevisions must be an integer'],
    ['keepNewestRevisions null', json({ ...ok, keepNewestRevisions: null }), 'keepNewestRevisions must be an integer'],
    ['no deregisterUnused', json({ keepNewestRevisions: 5, deleteInactive: true }), 'deregisterUnused must be true or false'],
    ['no deleteInactive', json({ keepNewestRevisions: 5, deregisterUnused: true }), 'deleteInactive must be true or false'],
    ['deregisterUnused as a string', json({ ...ok, deregisterUnused: 'true' }), 'deregisterUnused must be true or false'],
    ['deleteInactive as a number', json({ ...ok, deleteInactive: 1 }), 'deleteInactive must be true or false'],
  ])('%s is refused', (_label, value, reason) => expectRefused(ENV.taskDefinitions, value, reason));

  test.each([min, max])('keepNewestRevisions %i (a bound) is accepted', (n) => {
    const config = readConfig({ ...MINIMAL, [ENV.taskDefinitions]: json({ ...ok, keepNewestRevisions: n }) });
    expect(config.taskDefinitions).toEqual({ ...ok, keepNewestRevisions: n });
  });
});

describe('integer bounds (IMAGE_RETENTION_ENV_LIMITS)', () => {
  const BOUNDED: Array<[string, { min: number; max: number }]> = [
    [ENV.keepNewest, LIMITS.KEEP_NEWEST],
    [ENV.minAgeSeconds, LIMITS.MIN_AGE_SECONDS],
    [ENV.maxActionsPerRun, LIMITS.MAX_ACTIONS_PER_RUN],
  ];
  const READ: Record<string, (c: ReturnType<typeof readConfig>) => number> = {
    [ENV.keepNewest]: (c) => c.keepNewest,
    [ENV.minAgeSeconds]: (c) => c.minAgeSeconds,
    [ENV.maxActionsPerRun]: (c) => c.maxActionsPerRun,
  };

  test.each(BOUNDED)('%s: both bounds accepted', (variable, { min, max }) => {
    expect(READ[variable](readConfig({ ...MINIMAL, [variable]: String(min) }))).toBe(min);
    expect(READ[variable](readConfig({ ...MINIMAL, [variable]: String(max) }))).toBe(max);
  });

  test.each(BOUNDED)('%s: one past each bound refused', (variable, { min, max }) => {
    expectRefused(variable, String(min - 1), `expected an integer from ${min} to ${max}`);
    expectRefused(variable, String(max + 1), `expected an integer from ${min} to ${max}`);
  });

  test.each(BOUNDED.flatMap(([variable]) => ['1.5', '1e3', 'ten', '0x10', ' ', '5s', '9007199254740993'].map((value) => [variable, value] as const)))('%s=%j refused', (variable, value) => {
    expectRefused(variable, value);
  });
});

describe('ACTION, DRY_RUN, PROTECTION_TAG_KEY', () => {
  test.each(['delete', 'Report', 'NOTIFY', 'DEREGISTER', ' DELETE'])('ACTION=%j refused', (value) => expectRefused(ENV.action, value, 'expected one of REPORT, DELETE'));
  test.each(['REPORT', 'DELETE'])('ACTION=%s accepted', (value) => expect(readConfig({ ...MINIMAL, [ENV.action]: value }).action).toBe(value));
  test.each(['yes', 'TRUE', '1', 'False'])('DRY_RUN=%j refused', (value) => expectRefused(ENV.dryRun, value, 'expected "true" or "false"'));
  test('PROTECTION_TAG_KEY is taken as written', () => {
    expect(readConfig({ ...MINIMAL, [ENV.protectionTagKey]: 'team:keep' }).protectionTagKey).toBe('team:keep');
  });
  test('KEEP_TAG_PATTERNS must be a JSON list of non-empty strings', () => {
    expectRefused(ENV.keepTagPatterns, 'latest', 'expected JSON');
    expectRefused(ENV.keepTagPatterns, '"latest"');
    expectRefused(ENV.keepTagPatterns, '["latest",""]');
  });
});

describe('through the handler', () => {
  installHandlerHarness();

  /** A world a run would delete from, had it started. */
  function liveWorld(): World {
    const world = new World();
    world.repository('app', [image(), image()]);
    serve(world);
    return world;
  }

  test.each([
    [ENV.repositories, '[]'],
    [ENV.repositories, '["App"]'],
    [ENV.pinnedImages, '["app"]'],
    [ENV.consumerAccountRoles, '["arn:aws:iam::444455556666:user/x"]'],
    [ENV.taskDefinitions, '{"keepNewestRevisions":0,"deregisterUnused":true,"deleteInactive":true}'],
    [ENV.taskDefinitions, '{"keepNewestRevisions":1}'],
    [ENV.keepNewest, '-1'],
    [ENV.minAgeSeconds, String(LIMITS.MIN_AGE_SECONDS.max + 1)],
    [ENV.maxActionsPerRun, '100001'],
    [ENV.action, 'delete'],
    [ENV.dryRun, 'no'],
    [ENV.keepTagPatterns, '[latest]'],
    [ENV.topicArn, ''],
  ])('%s=%j: ConfigError naming it, and no AWS call at all', async (variable, value) => {
    const world = liveWorld();
    const handler = loadHandler({ [variable]: value });
    const rejection = handler({});
    await expect(rejection).rejects.toMatchObject({ name: 'ConfigError', variable, value });
    await expect(rejection).rejects.toThrow(`environment variable ${variable}=${JSON.stringify(value)}`);
    expectNoCallsAtAll();
    expect(world.calls).toEqual([]);
  });

  test('the error repeats on every invocation, still without a call', async () => {
    liveWorld();
    const handler = loadHandler({ [ENV.action]: 'NUKE' });
    await expect(handler({})).rejects.toThrow('ACTION="NUKE"');
    await expect(handler({ dryRun: true })).rejects.toThrow('ACTION="NUKE"');
    expectNoCallsAtAll();
  });

  test('a bad configuration is reported before a bad event', async () => {
    liveWorld();
    await expect(loadHandler({ [ENV.action]: 'NUKE' })(null)).rejects.toMatchObject({ name: 'ConfigError' });
    expectNoCallsAtAll();
  });

  test('the configuration is read once, at the first invocation', async () => {
    const world = liveWorld();
    const handler = loadHandler({ [ENV.action]: 'REPORT' });
    await handler({});
    process.env[ENV.action] = 'DELETE';
    await handler({});
    expect(world.callsOf('BatchDeleteImage')).toEqual([]);
  });
});
