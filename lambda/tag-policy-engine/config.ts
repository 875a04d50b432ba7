import { TAG_POLICY_ENGINE_ENV_LIMITS as LIMITS } from '../../src/common/env-limits';
import { VIOLATION_ACTIONS } from '../../src/tag-policy-engine/contract';
import type { ViolationActionName } from '../../src/tag-policy-engine/rule-format';
import { readBoolean, readEnum, readInteger, readStringList, readStringMap, requireString } from '../shared/config';

export interface TagPolicyEngineConfig {
  readonly topicArn: string;
  readonly tableName: string;
  readonly untaggedAction: ViolationActionName;
  readonly gracePeriodSeconds: number;
  readonly vpcIds: string[];
  readonly instanceSelector: Record<string, string>;
  readonly protectionTagKey: string;
  readonly dryRun: boolean;
  readonly maxActionsPerRun: number;
  readonly backfillCreators: boolean;
  readonly backfillMaxLookups: number;
  readonly propagateToVolumes: boolean;
}

export const DEFAULT_PROTECTION_TAG_KEY = 'fleet-janitor:protect';
export const DEFAULT_GRACE_PERIOD_SECONDS = 3 * 86_400;
/** LookupEvents calls one run makes at most (at 2 per second, 100 s). */
export const DEFAULT_BACKFILL_MAX_LOOKUPS = 200;

/** Reads and validates the environment the TagPolicyEngine construct sets. Throws ConfigError. */
export function readConfig(env: Record<string, string | undefined>): TagPolicyEngineConfig {
  return {
    topicArn: requireString(env, 'TOPIC_ARN'),
    tableName: requireString(env, 'TABLE_NAME'),
    untaggedAction: readEnum(env, 'UNTAGGED_ACTION', VIOLATION_ACTIONS, 'NOTIFY'),
    gracePeriodSeconds: readInteger(env, 'GRACE_PERIOD_SECONDS', { ...LIMITS.GRACE_PERIOD_SECONDS, fallback: DEFAULT_GRACE_PERIOD_SECONDS }),
    vpcIds: readStringList(env, 'VPC_IDS', { fallback: [] }),
    instanceSelector: readStringMap(env, 'INSTANCE_SELECTOR'),
    protectionTagKey: env.PROTECTION_TAG_KEY ? env.PROTECTION_TAG_KEY : DEFAULT_PROTECTION_TAG_KEY,
    dryRun: readBoolean(env, 'DRY_RUN', false),
    maxActionsPerRun: readInteger(env, 'MAX_ACTIONS_PER_RUN', { ...LIMITS.MAX_ACTIONS_PER_RUN, fallback: 100 }),
    backfillCreators: readBoolean(env, 'BACKFILL_CREATORS', true),
    backfillMaxLookups: readInteger(env, 'BACKFILL_MAX_LOOKUPS', { ...LIMITS.BACKFILL_MAX_LOOKUPS, fallback: DEFAULT_BACKFILL_MAX_LOOKUPS }),
    propagateToVolumes: readBoolean(env, 'PROPAGATE_TO_VOLUMES', false),
  };
}
