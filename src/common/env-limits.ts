/*
 * Numeric limits that a construct validates on a prop and its handler enforces on the environment
 * variable the prop becomes: one table, read by both (src/ at synth, the handler bundle at cold
 * start). Plain data, no imports, so that the handler bundle stays free of aws-cdk-lib.
 */

/** Inclusive bounds of an integer environment variable. */
export interface EnvLimit {
  readonly min: number;
  readonly max: number;
}

const DAY_SECONDS = 86_400;

/** Variables every janitor's handler reads. */
export const COMMON_ENV_LIMITS = {
  MAX_ACTIONS_PER_RUN: { min: 0, max: 100_000 },
} as const satisfies Record<string, EnvLimit>;

/** PackerCleaner's variables. */
export const PACKER_CLEANER_ENV_LIMITS = {
  ...COMMON_ENV_LIMITS,
  MAX_AGE_SECONDS: { min: 60, max: 366 * DAY_SECONDS },
  TERMINATE_STOPPED_AFTER_SECONDS: { min: 60, max: 3_660 * DAY_SECONDS },
} as const satisfies Record<string, EnvLimit>;

/** TagPolicyEngine's variables. */
export const TAG_POLICY_ENGINE_ENV_LIMITS = {
  ...COMMON_ENV_LIMITS,
  GRACE_PERIOD_SECONDS: { min: 0, max: 366 * DAY_SECONDS },
  BACKFILL_MAX_LOOKUPS: { min: 1, max: 10_000 },
} as const satisfies Record<string, EnvLimit>;

/** InstanceDecommissioner's variables. */
export const INSTANCE_DECOMMISSIONER_ENV_LIMITS = {
  ...COMMON_ENV_LIMITS,
  SNAPSHOT_RETENTION_SECONDS: { min: 3_600, max: 3_660 * DAY_SECONDS },
} as const satisfies Record<string, EnvLimit>;

/** EcsInstanceDrainer's variables (seconds). */
export const ECS_INSTANCE_DRAINER_ENV_LIMITS = {
  ...COMMON_ENV_LIMITS,
  POLL_INTERVAL_SECONDS: { min: 1, max: 3_600 },
  // Auto Scaling's bounds on a lifecycle hook's heartbeat timeout.
  HEARTBEAT_TIMEOUT_SECONDS: { min: 30, max: 7_200 },
  // A lifecycle action lasts at most 48 hours (and at most 100 heartbeat timeouts).
  MAX_DRAIN_SECONDS: { min: 60, max: 2 * DAY_SECONDS },
  STOP_STANDALONE_AFTER_SECONDS: { min: 0, max: 2 * DAY_SECONDS },
} as const satisfies Record<string, EnvLimit>;

/** ImageRetention's variables. */
export const IMAGE_RETENTION_ENV_LIMITS = {
  ...COMMON_ENV_LIMITS,
  // ECR keeps at most 100,000 images per repository (raisable); a larger count would keep everything.
  KEEP_NEWEST: { min: 0, max: 100_000 },
  MIN_AGE_SECONDS: { min: 0, max: 3_660 * DAY_SECONDS },
  // An ECS family holds at most 1,000,000 revisions.
  KEEP_NEWEST_REVISIONS: { min: 1, max: 1_000_000 },
} as const satisfies Record<string, EnvLimit>;
