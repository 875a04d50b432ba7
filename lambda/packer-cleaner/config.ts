import { PACKER_CLEANER_ENV_LIMITS as LIMITS } from '../../src/common/env-limits';
import { optionalInteger, readBoolean, readEnum, readInteger, readStringList, readStringMap, requireString } from '../shared/config';
import { ConfigError } from '../shared/errors';

export const ACTIONS = ['NOTIFY', 'STOP', 'TERMINATE'] as const;
export type PackerAction = typeof ACTIONS[number];

export interface PackerCleanerConfig {
  readonly topicArn: string;
  readonly action: PackerAction;
  readonly maxAgeSeconds: number;
  readonly terminateStoppedAfterSeconds?: number;
  readonly keyNamePatterns: string[];
  readonly tagSelector: Record<string, string>;
  readonly protectionTagKey: string;
  readonly dryRun: boolean;
  readonly maxActionsPerRun: number;
  readonly cleanupKeyPairs: boolean;
  readonly cleanupSecurityGroups: boolean;
}

export const DEFAULT_KEY_NAME_PATTERNS = ['packer_*', 'packer *'];
export const DEFAULT_PROTECTION_TAG_KEY = 'fleet-janitor:protect';

/** Reads and validates the environment the PackerCleaner construct sets. Throws ConfigError. */
export function readConfig(env: Record<string, string | undefined>): PackerCleanerConfig {
  const patterns = readStringList(env, 'KEY_NAME_PATTERNS', { fallback: DEFAULT_KEY_NAME_PATTERNS, minItems: 1 });
  if (patterns.some((p) => /^[*?]+$/.test(p))) {
    // A bare wildcard would make every instance in the account a "Packer instance".
    throw new ConfigError('KEY_NAME_PATTERNS', env.KEY_NAME_PATTERNS, 'a pattern must contain literal characters, not only wildcards');
  }
  return {
    topicArn: requireString(env, 'TOPIC_ARN'),
    action: readEnum(env, 'ACTION', ACTIONS, 'NOTIFY'),
    maxAgeSeconds: readInteger(env, 'MAX_AGE_SECONDS', { ...LIMITS.MAX_AGE_SECONDS, fallback: 7_200 }),
    terminateStoppedAfterSeconds: optionalInteger(env, 'TERMINATE_STOPPED_AFTER_SECONDS', LIMITS.TERMINATE_STOPPED_AFTER_SECONDS),
    keyNamePatterns: patterns,
    tagSelector: readStringMap(env, 'TAG_SELECTOR'),
    protectionTagKey: env.PROTECTION_TAG_KEY ? env.PROTECTION_TAG_KEY : DEFAULT_PROTECTION_TAG_KEY,
    dryRun: readBoolean(env, 'DRY_RUN', false),
    maxActionsPerRun: readInteger(env, 'MAX_ACTIONS_PER_RUN', { ...LIMITS.MAX_ACTIONS_PER_RUN, fallback: 100 }),
    cleanupKeyPairs: readBoolean(env, 'CLEANUP_KEY_PAIRS', false),
    cleanupSecurityGroups: readBoolean(env, 'CLEANUP_SECURITY_GROUPS', false),
  };
}
