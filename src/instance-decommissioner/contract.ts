/*
 * What the InstanceDecommissioner construct writes (environment, event rule, bus events) and what its
 * handler reads: one definition for both sides. Plain data with no imports, so that the handler
 * bundle stays free of aws-cdk-lib.
 */

/** EventBridge detail-type of EC2's state-change events. */
export const STATE_CHANGE_DETAIL_TYPE = 'EC2 Instance State-change Notification';
/** The states the rule forwards: a snapshot is taken on the first, cleanup runs on the other two. */
export const WATCHED_STATES = ['running', 'shutting-down', 'terminated'] as const;
export type WatchedState = typeof WATCHED_STATES[number];

/** The event put on the user's bus after each decommission, for their own rules (Chef, Consul, CMDB). */
export const DECOMMISSIONED_EVENT = { source: 'cdk-fleet-janitor', detailType: 'Instance Decommissioned' } as const;

/** Attributes of a snapshot item (partition key `InstanceId`). */
export const SNAPSHOT_ATTRIBUTES = {
  instanceId: 'InstanceId',
  /** LIVE or DECOMMISSIONED. */
  status: 'Status',
  /** The instance as EC2 described it while it ran (JSON of InstanceSnapshot). */
  snapshot: 'Snapshot',
  capturedAt: 'CapturedAt',
  decommissionedAt: 'DecommissionedAt',
  /** What the decommission removed (JSON), for audit. */
  cleaned: 'Cleaned',
  /** The hooks that already ran for this instance (a string set): a retried message does not call them again. */
  hooksDone: 'HooksDone',
  /** Epoch seconds: DynamoDB's TTL deletes the item after `snapshotRetention`. */
  expiresAt: 'ExpiresAt',
} as const;
export const SNAPSHOT_STATUS = { live: 'LIVE', decommissioned: 'DECOMMISSIONED' } as const;
export const TTL_ATTRIBUTE = SNAPSHOT_ATTRIBUTES.expiresAt;

/** Environment variables of the handler. */
export const ENV = {
  topicArn: 'TOPIC_ARN',
  tableName: 'TABLE_NAME',
  /** JSON array of {"id":"Z…","name":"internal.example.com"}: the only zones whose records change. */
  hostedZones: 'HOSTED_ZONES',
  /** JSON array of templates, e.g. "{tag:Name}.internal.example.com". */
  recordNameTemplates: 'RECORD_NAME_TEMPLATES',
  deleteAlarms: 'DELETE_ALARMS',
  /** Name or ARN of the bus the "Instance Decommissioned" events go to. */
  eventBus: 'EVENT_BUS',
  /** JSON array of function ARNs invoked with each snapshot. */
  hookFunctions: 'HOOK_FUNCTIONS',
  instanceSelector: 'INSTANCE_SELECTOR',
  snapshotRetentionSeconds: 'SNAPSHOT_RETENTION_SECONDS',
  protectionTagKey: 'PROTECTION_TAG_KEY',
  dryRun: 'DRY_RUN',
  maxActionsPerRun: 'MAX_ACTIONS_PER_RUN',
} as const;
