import { IMAGE_RETENTION_ENV_LIMITS as LIMITS } from '../../src/common/env-limits';
import { DEFAULTS, ENV, IAM_ROLE_ARN, parsePinnedImage, type PinnedImage, REPOSITORY_NAME, RETENTION_ACTIONS, RetentionActionName } from '../../src/image-retention/contract';
import { readBoolean, readEnum, readInteger, readStringList, requireString } from '../shared/config';
import { ConfigError } from '../shared/errors';

export const DEFAULT_PROTECTION_TAG_KEY = 'fleet-janitor:protect';

// The names' grammars and the pinnedImages parser are shared with the construct (src/ cannot import lambda/).
export { IMAGE_DIGEST, IMAGE_TAG, REPOSITORY_NAME, parsePinnedImage } from '../../src/image-retention/contract';
export type { PinnedImage } from '../../src/image-retention/contract';

export interface TaskDefinitionSettings {
  readonly keepNewestRevisions: number;
  readonly deregisterUnused: boolean;
  readonly deleteInactive: boolean;
}

export interface ImageRetentionConfig {
  readonly topicArn: string;
  /** Repository names; undefined: every repository that carries the opt-in tag. */
  readonly repositories?: readonly string[];
  readonly keepNewest: number;
  readonly minAgeSeconds: number;
  readonly keepTagPatterns: readonly string[];
  readonly pinnedImages: readonly PinnedImage[];
  readonly consumerAccountRoles: readonly string[];
  readonly action: RetentionActionName;
  readonly taskDefinitions?: TaskDefinitionSettings;
  readonly protectionTagKey: string;
  readonly dryRun: boolean;
  readonly maxActionsPerRun: number;
}

const TASK_DEFINITION_KEYS = ['keepNewestRevisions', 'deregisterUnused', 'deleteInactive'];

/** Reads and validates the environment the ImageRetention construct sets. Throws ConfigError. */
export function readConfig(env: Record<string, string | undefined>): ImageRetentionConfig {
  const repositories = env[ENV.repositories] === undefined || env[ENV.repositories] === ''
    ? undefined
    : readStringList(env, ENV.repositories, { minItems: 1 });
  for (const name of repositories ?? []) {
    if (!REPOSITORY_NAME.test(name)) throw new ConfigError(ENV.repositories, env[ENV.repositories], `${JSON.stringify(name)} is not an ECR repository name`);
  }
  const pinnedImages = readStringList(env, ENV.pinnedImages, { fallback: [] }).map((value) => {
    const pinned = parsePinnedImage(value);
    if (!pinned) throw new ConfigError(ENV.pinnedImages, env[ENV.pinnedImages], `${JSON.stringify(value)} is neither "repository@sha256:<64 hex digits>" nor "repository:tag" (a repository name, not an image URI)`);
    return pinned;
  });
  const consumerAccountRoles = readStringList(env, ENV.consumerAccountRoles, { fallback: [] });
  for (const arn of consumerAccountRoles) {
    if (!IAM_ROLE_ARN.test(arn)) throw new ConfigError(ENV.consumerAccountRoles, env[ENV.consumerAccountRoles], `${JSON.stringify(arn)} is not an IAM role ARN`);
  }
  return {
    topicArn: requireString(env, ENV.topicArn),
    repositories,
    keepNewest: readInteger(env, ENV.keepNewest, { ...LIMITS.KEEP_NEWEST, fallback: DEFAULTS.keepNewest }),
    minAgeSeconds: readInteger(env, ENV.minAgeSeconds, { ...LIMITS.MIN_AGE_SECONDS, fallback: DEFAULTS.minAgeDays * 86_400 }),
    keepTagPatterns: readStringList(env, ENV.keepTagPatterns, { fallback: [...DEFAULTS.keepTagPatterns] }),
    pinnedImages,
    consumerAccountRoles,
    action: readEnum(env, ENV.action, RETENTION_ACTIONS, 'REPORT'),
    taskDefinitions: readTaskDefinitions(env),
    protectionTagKey: env[ENV.protectionTagKey] ? env[ENV.protectionTagKey]! : DEFAULT_PROTECTION_TAG_KEY,
    dryRun: readBoolean(env, ENV.dryRun, false),
    maxActionsPerRun: readInteger(env, ENV.maxActionsPerRun, { ...LIMITS.MAX_ACTIONS_PER_RUN, fallback: 100 }),
  };
}

function readTaskDefinitions(env: Record<string, string | undefined>): TaskDefinitionSettings | undefined {
  const value = env[ENV.taskDefinitions];
  if (value === undefined || value === '') return undefined;
  const bad = (reason: string): never => {
    throw new ConfigError(ENV.taskDefinitions, value, reason);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    bad('expected JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) bad('expected a JSON object');
  const record = parsed as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !TASK_DEFINITION_KEYS.includes(k));
  if (unknown.length > 0) bad(`unknown field(s) ${unknown.join(', ')}; expected ${TASK_DEFINITION_KEYS.join(', ')}`);
  const keep = record.keepNewestRevisions;
  const { min, max } = LIMITS.KEEP_NEWEST_REVISIONS;
  if (typeof keep !== 'number' || !Number.isSafeInteger(keep) || keep < min || keep > max) bad(`keepNewestRevisions must be an integer from ${min} to ${max}`);
  for (const flag of ['deregisterUnused', 'deleteInactive']) {
    if (typeof record[flag] !== 'boolean') bad(`${flag} must be true or false`);
  }
  return {
    keepNewestRevisions: keep as number,
    deregisterUnused: record.deregisterUnused as boolean,
    deleteInactive: record.deleteInactive as boolean,
  };
}
