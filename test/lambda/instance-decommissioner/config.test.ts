import {
  DEFAULT_PROTECTION_TAG_KEY,
  DEFAULT_SNAPSHOT_RETENTION_SECONDS,
  readConfig,
} from '../../../lambda/instance-decommissioner/config';
import { ConfigError } from '../../../lambda/shared/errors';
import { INSTANCE_DECOMMISSIONER_ENV_LIMITS } from '../../../src/common/env-limits';

const DAY = 86_400;
const REQUIRED = { TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:janitor', TABLE_NAME: 'fleet-janitor-instance-snapshots' };
const ZONES = '[{"id":"Z0123456789ABCDEFGHIJ","name":"internal.example.com"}]';
const MAX_RETENTION = 3_660 * DAY;

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
      zones: [],
      recordNameTemplates: [],
      deleteAlarms: false,
      eventBus: 'default',
      hookFunctions: [],
      instanceSelector: {},
      snapshotRetentionSeconds: 90 * DAY,
      protectionTagKey: 'fleet-janitor:protect',
      dryRun: false,
      maxActionsPerRun: 100,
    });
    expect(DEFAULT_SNAPSHOT_RETENTION_SECONDS).toBe(7_776_000);
    expect(DEFAULT_PROTECTION_TAG_KEY).toBe('fleet-janitor:protect');
  });

  test('the retention bounds are the shared table\'s', () => {
    expect(INSTANCE_DECOMMISSIONER_ENV_LIMITS.SNAPSHOT_RETENTION_SECONDS).toEqual({ min: 3_600, max: MAX_RETENTION });
    expect(INSTANCE_DECOMMISSIONER_ENV_LIMITS.MAX_ACTIONS_PER_RUN).toEqual({ min: 0, max: 100_000 });
  });

  test('every variable set', () => {
    expect(readConfig({
      ...REQUIRED,
      HOSTED_ZONES: '[{"id":"/hostedzone/Z0123456789ABCDEFGHIJ","name":"Internal.Example.com."},{"id":"Z2FDTNDATAQYW2","name":"10.in-addr.arpa"}]',
      RECORD_NAME_TEMPLATES: '["{tag:Name}.internal.example.com","{privateIpDashed}.internal.example.com"]',
      DELETE_ALARMS: 'true',
      EVENT_BUS: 'arn:aws:events:us-east-1:123456789012:event-bus/ops',
      HOOK_FUNCTIONS: '["arn:aws:lambda:us-east-1:123456789012:function:chef-deregister"]',
      INSTANCE_SELECTOR: '{"managed":"true"}',
      SNAPSHOT_RETENTION_SECONDS: '3600',
      PROTECTION_TAG_KEY: 'keep',
      DRY_RUN: 'true',
      MAX_ACTIONS_PER_RUN: '5',
    })).toEqual({
      topicArn: REQUIRED.TOPIC_ARN,
      tableName: REQUIRED.TABLE_NAME,
      zones: [{ id: 'Z0123456789ABCDEFGHIJ', name: 'internal.example.com' }, { id: 'Z2FDTNDATAQYW2', name: '10.in-addr.arpa' }],
      recordNameTemplates: ['{tag:Name}.internal.example.com', '{privateIpDashed}.internal.example.com'],
      deleteAlarms: true,
      eventBus: 'arn:aws:events:us-east-1:123456789012:event-bus/ops',
      hookFunctions: ['arn:aws:lambda:us-east-1:123456789012:function:chef-deregister'],
      instanceSelector: { managed: 'true' },
      snapshotRetentionSeconds: 3_600,
      protectionTagKey: 'keep',
      dryRun: true,
      maxActionsPerRun: 5,
    });
  });

  test('empty values read as unset', () => {
    expect(readConfig({
      ...REQUIRED,
      HOSTED_ZONES: '',
      RECORD_NAME_TEMPLATES: '',
      DELETE_ALARMS: '',
      EVENT_BUS: '',
      HOOK_FUNCTIONS: '',
      INSTANCE_SELECTOR: '',
      SNAPSHOT_RETENTION_SECONDS: '',
      PROTECTION_TAG_KEY: '',
      DRY_RUN: '',
      MAX_ACTIONS_PER_RUN: '',
    })).toEqual(readConfig(REQUIRED));
  });

  test('an event bus name is kept as it is', () => {
    expect(readConfig({ ...REQUIRED, EVENT_BUS: 'ops' }).eventBus).toBe('ops');
  });

  test('HOSTED_ZONES: the "/hostedzone/" prefix is stripped', () => {
    expect(readConfig({ ...REQUIRED, HOSTED_ZONES: '[{"id":"/hostedzone/Z123","name":"example.com"}]' }).zones).toEqual([{ id: 'Z123', name: 'example.com' }]);
  });

  test('HOSTED_ZONES: the zone name is lower case without its trailing dot', () => {
    expect(readConfig({ ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":"Corp.EXAMPLE.com."}]' }).zones).toEqual([{ id: 'Z123', name: 'corp.example.com' }]);
  });

  test('HOSTED_ZONES: an empty array is no zone', () => {
    expect(readConfig({ ...REQUIRED, HOSTED_ZONES: '[]' }).zones).toEqual([]);
  });

  test('HOSTED_ZONES: ids of 1 and 32 characters', () => {
    const id32 = 'Z'.repeat(32);
    expect(readConfig({ ...REQUIRED, HOSTED_ZONES: `[{"id":"Z","name":"a.com"},{"id":"${id32}","name":"b.com"}]` }).zones.map((z) => z.id)).toEqual(['Z', id32]);
  });

  test('RECORD_NAME_TEMPLATES with HOSTED_ZONES', () => {
    expect(readConfig({ ...REQUIRED, HOSTED_ZONES: ZONES, RECORD_NAME_TEMPLATES: '["{instanceId}.internal.example.com"]' }).recordNameTemplates)
      .toEqual(['{instanceId}.internal.example.com']);
  });

  test('bounds, both ways: SNAPSHOT_RETENTION_SECONDS 3600 to 3660 days', () => {
    expect(readConfig({ ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: '3600' }).snapshotRetentionSeconds).toBe(3_600);
    expect(readConfig({ ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: String(MAX_RETENTION) }).snapshotRetentionSeconds).toBe(MAX_RETENTION);
    expect(configErrorOf({ ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: '3599' }).message).toContain(`expected an integer from 3600 to ${MAX_RETENTION}`);
    expect(configErrorOf({ ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: String(MAX_RETENTION + 1) }).variable).toBe('SNAPSHOT_RETENTION_SECONDS');
  });

  test('bounds, both ways: MAX_ACTIONS_PER_RUN 0 to 100000', () => {
    expect(readConfig({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '0' }).maxActionsPerRun).toBe(0);
    expect(readConfig({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '100000' }).maxActionsPerRun).toBe(100_000);
    expect(configErrorOf({ ...REQUIRED, MAX_ACTIONS_PER_RUN: '100001' }).variable).toBe('MAX_ACTIONS_PER_RUN');
  });

  test.each<[string, Record<string, string | undefined>, string]>([
    ['TOPIC_ARN unset', { TABLE_NAME: 't' }, 'TOPIC_ARN'],
    ['TOPIC_ARN blank', { TOPIC_ARN: ' ', TABLE_NAME: 't' }, 'TOPIC_ARN'],
    ['TABLE_NAME unset', { TOPIC_ARN: 'arn' }, 'TABLE_NAME'],
    ['TABLE_NAME empty', { TOPIC_ARN: 'arn', TABLE_NAME: '' }, 'TABLE_NAME'],
    ['HOSTED_ZONES not JSON', { ...REQUIRED, HOSTED_ZONES: 'Z123:example.com' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES not an array', { ...REQUIRED, HOSTED_ZONES: '{"id":"Z123","name":"example.com"}' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a list of ids', { ...REQUIRED, HOSTED_ZONES: '["Z123"]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a null zone', { ...REQUIRED, HOSTED_ZONES: '[null]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a nested list', { ...REQUIRED, HOSTED_ZONES: '[["Z123","example.com"]]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES an extra key', { ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":"example.com","private":true}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES no id', { ...REQUIRED, HOSTED_ZONES: '[{"name":"example.com"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES no name', { ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a lower-case id', { ...REQUIRED, HOSTED_ZONES: '[{"id":"z123","name":"example.com"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES an id of 33 characters', { ...REQUIRED, HOSTED_ZONES: `[{"id":"${'Z'.repeat(33)}","name":"example.com"}]` }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES an empty id', { ...REQUIRED, HOSTED_ZONES: '[{"id":"","name":"example.com"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES an id with another prefix', { ...REQUIRED, HOSTED_ZONES: '[{"id":"/change/C123","name":"example.com"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a numeric id', { ...REQUIRED, HOSTED_ZONES: '[{"id":123,"name":"example.com"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a numeric name', { ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":5}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES a name with a space', { ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":"my zone.com"}]' }, 'HOSTED_ZONES'],
    ['HOSTED_ZONES an empty name', { ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":""}]' }, 'HOSTED_ZONES'],
    ['RECORD_NAME_TEMPLATES not JSON', { ...REQUIRED, HOSTED_ZONES: ZONES, RECORD_NAME_TEMPLATES: '{tag:Name}.example.com' }, 'RECORD_NAME_TEMPLATES'],
    ['RECORD_NAME_TEMPLATES an unknown placeholder', { ...REQUIRED, HOSTED_ZONES: ZONES, RECORD_NAME_TEMPLATES: '["{hostname}.example.com"]' }, 'RECORD_NAME_TEMPLATES'],
    ['RECORD_NAME_TEMPLATES without a placeholder', { ...REQUIRED, HOSTED_ZONES: ZONES, RECORD_NAME_TEMPLATES: '["web.example.com"]' }, 'RECORD_NAME_TEMPLATES'],
    ['RECORD_NAME_TEMPLATES an empty string', { ...REQUIRED, HOSTED_ZONES: ZONES, RECORD_NAME_TEMPLATES: '[""]' }, 'RECORD_NAME_TEMPLATES'],
    ['RECORD_NAME_TEMPLATES without HOSTED_ZONES', { ...REQUIRED, RECORD_NAME_TEMPLATES: '["{tag:Name}.example.com"]' }, 'RECORD_NAME_TEMPLATES'],
    ['RECORD_NAME_TEMPLATES with an empty HOSTED_ZONES', { ...REQUIRED, HOSTED_ZONES: '[]', RECORD_NAME_TEMPLATES: '["{tag:Name}.example.com"]' }, 'RECORD_NAME_TEMPLATES'],
    ['SNAPSHOT_RETENTION_SECONDS below 3600', { ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: '60' }, 'SNAPSHOT_RETENTION_SECONDS'],
    ['SNAPSHOT_RETENTION_SECONDS above 3660 days', { ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: String(MAX_RETENTION + DAY) }, 'SNAPSHOT_RETENTION_SECONDS'],
    ['SNAPSHOT_RETENTION_SECONDS a fraction', { ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: '3600.5' }, 'SNAPSHOT_RETENTION_SECONDS'],
    ['SNAPSHOT_RETENTION_SECONDS with a unit', { ...REQUIRED, SNAPSHOT_RETENTION_SECONDS: '90d' }, 'SNAPSHOT_RETENTION_SECONDS'],
    ['DELETE_ALARMS yes', { ...REQUIRED, DELETE_ALARMS: 'yes' }, 'DELETE_ALARMS'],
    ['DELETE_ALARMS TRUE', { ...REQUIRED, DELETE_ALARMS: 'TRUE' }, 'DELETE_ALARMS'],
    ['HOOK_FUNCTIONS a string', { ...REQUIRED, HOOK_FUNCTIONS: 'arn:aws:lambda:us-east-1:123456789012:function:f' }, 'HOOK_FUNCTIONS'],
    ['HOOK_FUNCTIONS with a number', { ...REQUIRED, HOOK_FUNCTIONS: '[1]' }, 'HOOK_FUNCTIONS'],
    ['INSTANCE_SELECTOR a list', { ...REQUIRED, INSTANCE_SELECTOR: '["managed"]' }, 'INSTANCE_SELECTOR'],
    ['DRY_RUN 1', { ...REQUIRED, DRY_RUN: '1' }, 'DRY_RUN'],
    ['MAX_ACTIONS_PER_RUN negative', { ...REQUIRED, MAX_ACTIONS_PER_RUN: '-1' }, 'MAX_ACTIONS_PER_RUN'],
    ['MAX_ACTIONS_PER_RUN not a number', { ...REQUIRED, MAX_ACTIONS_PER_RUN: 'many' }, 'MAX_ACTIONS_PER_RUN'],
  ])('%s: a ConfigError naming the variable', (_label, env, variable) => {
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(`environment variable ${variable}=`);
  });

  test('HOSTED_ZONES errors say what is expected', () => {
    expect(configErrorOf({ ...REQUIRED, HOSTED_ZONES: 'nope' }).message).toContain('expected JSON');
    expect(configErrorOf({ ...REQUIRED, HOSTED_ZONES: '{}' }).message)
      .toContain('expected a JSON array of {"id": "<hosted zone id>", "name": "<zone name>"}');
    expect(configErrorOf({ ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":"example.com","x":1}]' }).message)
      .toContain('expected a JSON array of {"id": "<hosted zone id>", "name": "<zone name>"}');
    expect(configErrorOf({ ...REQUIRED, HOSTED_ZONES: '[{"id":"Z123","name":"bad name"}]' }).message).toContain('zone name "bad name" is not a DNS name');
  });

  test('RECORD_NAME_TEMPLATES errors carry the template\'s own error', () => {
    expect(configErrorOf({ ...REQUIRED, HOSTED_ZONES: ZONES, RECORD_NAME_TEMPLATES: '["{tag:Name}.example.com","{hostname}.example.com"]' }).message)
      .toContain('unknown placeholder {hostname}; known: {instanceId}');
    expect(configErrorOf({ ...REQUIRED, RECORD_NAME_TEMPLATES: '["{tag:Name}.example.com"]' }).message)
      .toContain('templates need hosted zones (HOSTED_ZONES)');
  });
});
