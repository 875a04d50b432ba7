import { ConfigError } from '../../../lambda/shared/errors';
import {
  DEFAULT_BACKFILL_MAX_LOOKUPS,
  DEFAULT_GRACE_PERIOD_SECONDS,
  DEFAULT_PROTECTION_TAG_KEY,
  readConfig,
} from '../../../lambda/tag-policy-engine/config';

const REQUIRED = { TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:janitor', TABLE_NAME: 'fleet-janitor-tag-rules' };

function configErrorOf(env: Record<string, string | undefined>): ConfigError {
  let thrown: unknown;
  try {
    readConfig(env);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

describe('readConfig', () => {
  test('defaults: only the topic and the table are required', () => {
    expect(readConfig(REQUIRED)).toEqual({
      topicArn: REQUIRED.TOPIC_ARN,
      tableName: REQUIRED.TABLE_NAME,
      untaggedAction: 'NOTIFY',
      gracePeriodSeconds: 3 * 86_400,
      vpcIds: [],
      instanceSelector: {},
      protectionTagKey: 'fleet-janitor:protect',
      dryRun: false,
      maxActionsPerRun: 100,
      backfillCreators: true,
      backfillMaxLookups: 200,
      propagateToVolumes: false,
    });
    expect(DEFAULT_GRACE_PERIOD_SECONDS).toBe(259_200);
    expect(DEFAULT_PROTECTION_TAG_KEY).toBe('fleet-janitor:protect');
    expect(DEFAULT_BACKFILL_MAX_LOOKUPS).toBe(200);
  });

  test('every variable set', () => {
    expect(readConfig({
      ...REQUIRED,
      UNTAGGED_ACTION: 'TERMINATE',
      GRACE_PERIOD_SECONDS: '3600',
      VPC_IDS: '["vpc-0123456789abcdef0","vpc-0fedcba9876543210"]',
      INSTANCE_SELECTOR: '{"managed":"true"}',
      PROTECTION_TAG_KEY: 'keep',
      DRY_RUN: 'true',
      MAX_ACTIONS_PER_RUN: '5',
      BACKFILL_CREATORS: 'false',
      BACKFILL_MAX_LOOKUPS: '20',
      PROPAGATE_TO_VOLUMES: 'true',
    })).toEqual({
      topicArn: REQUIRED.TOPIC_ARN,
      tableName: REQUIRED.TABLE_NAME,
      untaggedAction: 'TERMINATE',
      gracePeriodSeconds: 3_600,
      vpcIds: ['vpc-0123456789abcdef0', 'vpc-0fedcba9876543210'],
      instanceSelector: { managed: 'true' },
      protectionTagKey: 'keep',
      dryRun: true,
      maxActionsPerRun: 5,
      backfillCreators: false,
      backfillMaxLookups: 20,
      propagateToVolumes: true,
    });
  });

  test.each(['NOTIFY', 'MARK', 'STOP', 'TERMINATE'])('UNTAGGED_ACTION %s', (action) => {
    expect(readConfig({ ...REQUIRED, UNTAGGED_ACTION: action }).untaggedAction).toBe(action);
  });

  test('empty values read as unset', () => {
    const cfg = readConfig({
      ...REQUIRED,
      UNTAGGED_ACTION: '',
      GRACE_PERIOD_SECONDS: '',
      VPC_IDS: '',
      INSTANCE_SELECTOR: '',
      PROTECTION_TAG_KEY: '',
      DRY_RUN: '',
      MAX_ACTIONS_PER_RUN: '',
      BACKFILL_CREATORS: '',
      BACKFILL_MAX_LOOKUPS: '',
      PROPAGATE_TO_VOLUMES: '',
    });
    expect(cfg).toEqual(readConfig(REQUIRED));
  });

  test('bounds, both ways: GRACE_PERIOD_SECONDS 0 to 366 days', () => {
    expect(readConfig({ ...REQUIRED, GRACE_PERIOD_SECONDS: '0' }).gracePeriodSeconds).toBe(0);
    expect(readConfig({ ...REQUIRED, GRACE_PERIOD_SECONDS: String(366 * 86_400) }).gracePeriodSeconds).toBe(366 * 86_400);
    expect(configErrorOf({ ...REQUIRED, GRACE_PERIOD_SECONDS: '-1' }).variable).toBe('GRACE_PERIOD_SECONDS');
    expect(configErrorOf({ ...REQUIRED, GRACE_PERIOD_SECONDS: String(366 * 86_400 + 1) }).message).toContain('expected an integer from 0 to 31622400');
  });

  test('bounds, both ways: MAX_ACTIONS_PER_RUN 0 to 100000', () => {
    expect(readConfig({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '0' }).maxActionsPerRun).toBe(0);
    expect(readConfig({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '100000' }).maxActionsPerRun).toBe(100_000);
    expect(configErrorOf({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '-1' }).variable).toBe('MAX_ACTIONS_PER_RUN');
    expect(configErrorOf({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '100001' }).variable).toBe('MAX_ACTIONS_PER_RUN');
  });

  test('bounds, both ways: BACKFILL_MAX_LOOKUPS 1 to 10000', () => {
    expect(readConfig({ ...REQUIRED, BACKFILL_MAX_LOOKUPS: '1' }).backfillMaxLookups).toBe(1);
    expect(readConfig({ ...REQUIRED, BACKFILL_MAX_LOOKUPS: '10000' }).backfillMaxLookups).toBe(10_000);
    expect(configErrorOf({ ...REQUIRED, BACKFILL_MAX_LOOKUPS: '0' }).message).toContain('expected an integer from 1 to 10000');
    expect(configErrorOf({ ...REQUIRED, BACKFILL_MAX_LOOKUPS: '10001' }).variable).toBe('BACKFILL_MAX_LOOKUPS');
  });

  test.each<[string, Record<string, string | undefined>, string]>([
    ['TOPIC_ARN unset', { TABLE_NAME: 't' }, 'TOPIC_ARN'],
    ['TOPIC_ARN blank', { TOPIC_ARN: ' ', TABLE_NAME: 't' }, 'TOPIC_ARN'],
    ['TABLE_NAME unset', { TOPIC_ARN: 'arn' }, 'TABLE_NAME'],
    ['TABLE_NAME empty', { TOPIC_ARN: 'arn', TABLE_NAME: '' }, 'TABLE_NAME'],
    ['UNTAGGED_ACTION lower case', { ...REQUIRED, UNTAGGED_ACTION: 'stop' }, 'UNTAGGED_ACTION'],
    ['UNTAGGED_ACTION DELETE', { ...REQUIRED, UNTAGGED_ACTION: 'DELETE' }, 'UNTAGGED_ACTION'],
    ['GRACE_PERIOD_SECONDS not a number', { ...REQUIRED, GRACE_PERIOD_SECONDS: '3d' }, 'GRACE_PERIOD_SECONDS'],
    ['GRACE_PERIOD_SECONDS a fraction', { ...REQUIRED, GRACE_PERIOD_SECONDS: '1.5' }, 'GRACE_PERIOD_SECONDS'],
    ['VPC_IDS not JSON', { ...REQUIRED, VPC_IDS: 'vpc-1' }, 'VPC_IDS'],
    ['VPC_IDS an object', { ...REQUIRED, VPC_IDS: '{"a":"vpc-1"}' }, 'VPC_IDS'],
    ['VPC_IDS with an empty id', { ...REQUIRED, VPC_IDS: '[""]' }, 'VPC_IDS'],
    ['INSTANCE_SELECTOR a list', { ...REQUIRED, INSTANCE_SELECTOR: '["managed"]' }, 'INSTANCE_SELECTOR'],
    ['INSTANCE_SELECTOR a number value', { ...REQUIRED, INSTANCE_SELECTOR: '{"managed":1}' }, 'INSTANCE_SELECTOR'],
    ['DRY_RUN yes', { ...REQUIRED, DRY_RUN: 'yes' }, 'DRY_RUN'],
    ['BACKFILL_CREATORS TRUE', { ...REQUIRED, BACKFILL_CREATORS: 'TRUE' }, 'BACKFILL_CREATORS'],
    ['PROPAGATE_TO_VOLUMES 1', { ...REQUIRED, PROPAGATE_TO_VOLUMES: '1' }, 'PROPAGATE_TO_VOLUMES'],
    ['MAX_ACTIONS_PER_RUN not a number', { ...REQUIRED, MAX_ACTIONS_PER_RUN: 'many' }, 'MAX_ACTIONS_PER_RUN'],
    ['BACKFILL_MAX_LOOKUPS not a number', { ...REQUIRED, BACKFILL_MAX_LOOKUPS: 'x' }, 'BACKFILL_MAX_LOOKUPS'],
  ])('%s: a ConfigError naming the variable', (_label, env, variable) => {
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(`environment variable ${variable}=`);
  });

  test('the first variable read that is wrong is the one reported', () => {
    expect(configErrorOf({ TABLE_NAME: '', DRY_RUN: 'x' }).variable).toBe('TOPIC_ARN');
  });
});
