import { INSTANCE_DECOMMISSIONER_ENV_LIMITS as LIMITS } from '../../src/common/env-limits';
import { ENV } from '../../src/instance-decommissioner/contract';
import { normalizeName, parseTemplate } from '../../src/instance-decommissioner/record-template';
import { optionalString, readBoolean, readInteger, readStringList, readStringMap, requireString } from '../shared/config';
import { ConfigError } from '../shared/errors';

/** A hosted zone the handler may change: its id and its name (lower case, no trailing dot). */
export interface Zone {
  readonly id: string;
  readonly name: string;
}

export interface InstanceDecommissionerConfig {
  readonly topicArn: string;
  readonly tableName: string;
  readonly zones: readonly Zone[];
  readonly recordNameTemplates: readonly string[];
  readonly deleteAlarms: boolean;
  /** Name or ARN of the bus; undefined: the account's default bus. */
  readonly eventBus: string;
  readonly hookFunctions: readonly string[];
  readonly instanceSelector: Readonly<Record<string, string>>;
  readonly snapshotRetentionSeconds: number;
  readonly protectionTagKey: string;
  readonly dryRun: boolean;
  readonly maxActionsPerRun: number;
}

export const DEFAULT_PROTECTION_TAG_KEY = 'fleet-janitor:protect';
export const DEFAULT_SNAPSHOT_RETENTION_SECONDS = 90 * 86_400;
const HOSTED_ZONE_ID = /^(\/hostedzone\/)?[A-Z0-9]{1,32}$/;

/** Reads and validates the environment the InstanceDecommissioner construct sets. Throws ConfigError. */
export function readConfig(env: Record<string, string | undefined>): InstanceDecommissionerConfig {
  const templates = readStringList(env, ENV.recordNameTemplates, { fallback: [] });
  for (const template of templates) {
    const parsed = parseTemplate(template);
    if (parsed.error !== undefined) throw new ConfigError(ENV.recordNameTemplates, env[ENV.recordNameTemplates], parsed.error);
  }
  const zones = readZones(env);
  if (templates.length > 0 && zones.length === 0) {
    throw new ConfigError(ENV.recordNameTemplates, env[ENV.recordNameTemplates], `templates need hosted zones (${ENV.hostedZones})`);
  }
  return {
    topicArn: requireString(env, ENV.topicArn),
    tableName: requireString(env, ENV.tableName),
    zones,
    recordNameTemplates: templates,
    deleteAlarms: readBoolean(env, ENV.deleteAlarms, false),
    eventBus: optionalString(env, ENV.eventBus) ?? 'default',
    hookFunctions: readStringList(env, ENV.hookFunctions, { fallback: [] }),
    instanceSelector: readStringMap(env, ENV.instanceSelector),
    snapshotRetentionSeconds: readInteger(env, ENV.snapshotRetentionSeconds, {
      ...LIMITS.SNAPSHOT_RETENTION_SECONDS, fallback: DEFAULT_SNAPSHOT_RETENTION_SECONDS,
    }),
    protectionTagKey: env[ENV.protectionTagKey] ? env[ENV.protectionTagKey]! : DEFAULT_PROTECTION_TAG_KEY,
    dryRun: readBoolean(env, ENV.dryRun, false),
    maxActionsPerRun: readInteger(env, ENV.maxActionsPerRun, { ...LIMITS.MAX_ACTIONS_PER_RUN, fallback: 100 }),
  };
}

function readZones(env: Record<string, string | undefined>): Zone[] {
  const name = ENV.hostedZones;
  const value = env[name];
  if (value === undefined || value === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(name, value, 'expected JSON');
  }
  const wanted = 'expected a JSON array of {"id": "<hosted zone id>", "name": "<zone name>"}';
  if (!Array.isArray(parsed)) throw new ConfigError(name, value, wanted);
  return parsed.map((item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new ConfigError(name, value, wanted);
    const { id, name: zoneName, ...rest } = item as Record<string, unknown>;
    if (Object.keys(rest).length > 0 || typeof id !== 'string' || !HOSTED_ZONE_ID.test(id) || typeof zoneName !== 'string') {
      throw new ConfigError(name, value, wanted);
    }
    const normalized = normalizeName(zoneName);
    if (normalized === undefined) throw new ConfigError(name, value, `zone name ${JSON.stringify(zoneName)} is not a DNS name`);
    return { id: id.replace(/^\/hostedzone\//, ''), name: normalized };
  });
}
