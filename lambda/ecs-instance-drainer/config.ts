import type { DrainSettings } from './drain';
import { ECS_INSTANCE_DRAINER_ENV_LIMITS as LIMITS } from '../../src/common/env-limits';
import { DRAIN_TIMEOUT_RESULTS, ENV, LIFECYCLE_ACTION_MAX_HEARTBEATS } from '../../src/ecs-instance-drainer/contract';
import { optionalInteger, readBoolean, readEnum, readInteger, readStringList, requireString } from '../shared/config';
import { ConfigError } from '../shared/errors';

export interface EcsInstanceDrainerConfig extends DrainSettings {
  readonly topicArn: string;
  readonly clusterArn: string;
  readonly stateMachineArn: string;
  readonly autoScalingGroups: readonly string[];
  readonly spotInterruptions: boolean;
  readonly notifyOnEveryDrain: boolean;
  readonly dryRun: boolean;
}

const CLUSTER_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255}$/;
const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

/** Reads and validates the environment the EcsInstanceDrainer construct sets. Throws ConfigError. */
export function readConfig(env: Record<string, string | undefined>): EcsInstanceDrainerConfig {
  const clusterArn = requireString(env, ENV.cluster);
  if (!CLUSTER_ARN.test(clusterArn)) throw new ConfigError(ENV.cluster, clusterArn, 'expected an ECS cluster ARN');
  const stateMachineArn = requireString(env, ENV.stateMachineArn);
  if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new ConfigError(ENV.stateMachineArn, stateMachineArn, 'expected a Step Functions state machine ARN');
  const heartbeatTimeoutSeconds = readInteger(env, ENV.heartbeatTimeoutSeconds, LIMITS.HEARTBEAT_TIMEOUT_SECONDS);
  const maxDrainSeconds = readInteger(env, ENV.maxDrainSeconds, LIMITS.MAX_DRAIN_SECONDS);
  if (maxDrainSeconds > LIFECYCLE_ACTION_MAX_HEARTBEATS * heartbeatTimeoutSeconds) {
    throw new ConfigError(ENV.maxDrainSeconds, env[ENV.maxDrainSeconds], `must be at most ${LIFECYCLE_ACTION_MAX_HEARTBEATS} heartbeat timeouts (${LIFECYCLE_ACTION_MAX_HEARTBEATS * heartbeatTimeoutSeconds})`);
  }
  return {
    topicArn: requireString(env, ENV.topicArn),
    clusterArn,
    stateMachineArn,
    autoScalingGroups: readStringList(env, ENV.autoScalingGroups, { minItems: 1 }),
    pollIntervalSeconds: readInteger(env, ENV.pollIntervalSeconds, LIMITS.POLL_INTERVAL_SECONDS),
    heartbeatTimeoutSeconds,
    maxDrainSeconds,
    onTimeout: readEnum(env, ENV.onTimeout, DRAIN_TIMEOUT_RESULTS),
    stopStandaloneAfterSeconds: optionalInteger(env, ENV.stopStandaloneAfterSeconds, LIMITS.STOP_STANDALONE_AFTER_SECONDS),
    spotInterruptions: readBoolean(env, ENV.spotInterruptions, true),
    notifyOnEveryDrain: readBoolean(env, ENV.notifyOnEveryDrain, false),
    dryRun: readBoolean(env, ENV.dryRun, false),
  };
}
