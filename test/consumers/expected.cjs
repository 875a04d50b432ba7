'use strict';
/*
 * The props every consumer app (and so every README usage example) sets, as the synthesized template
 * must show them: check-template.cjs checks the templates against these, and
 * readme-examples.test.ts checks each language's example sets exactly these values.
 */
const EXPECTED = {
  action: 'TERMINATE',
  maxAgeSeconds: '10800',
  tagSelector: { team: 'platform' },
  scheduleExpression: 'rate(30 minutes)',
  maxActionsPerRun: '50',
  // AmiManager `Ami`: the custom resource's properties as CloudFormation sends them (every scalar a string).
  ami: {
    instanceId: 'i-0123456789abcdef0',
    imageName: 'golden-web',
    tags: { team: 'platform' },
    shareWithAccounts: ['111122223333'],
    deprecateAfterSeconds: '7776000',
    removalPolicy: 'retain',
  },
  // TagPolicyEngine `Tags`: the Custom::FleetJanitorTagRules resource's Rules (a JSON string of these
  // items, in the seed's format: RuleId = the tag key, every scalar a string) and the handler's environment.
  tags: {
    rules: [
      { RuleId: 'CostCenter', TagKey: 'CostCenter', Required: 'true', Action: 'Update', Default: 'unassigned', AllowedValues: ['1001', '1002', 'unassigned'] },
      { RuleId: 'CreatedBy', TagKey: 'CreatedBy', Required: 'true', Action: 'UserLookup' },
      { RuleId: 'LaunchDate', TagKey: 'LaunchDate', Required: 'true', Action: 'Function', Default: 'today()' },
      { RuleId: 'Environment', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$', OnViolation: 'NOTIFY' },
    ],
    instanceSelector: { managed: 'true' },
    untaggedAction: 'STOP',
    gracePeriodSeconds: '259200',
  },
  // InstanceDecommissioner `Decommissioner`: the handler's environment (every value a string, the lists
  // and maps as JSON) and what IAM may touch.
  decommissioner: {
    zone: { id: 'Z0123456789ABCDEFGHIJ', name: 'internal.example.com' },
    recordNameTemplates: ['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com'],
    deleteAlarms: 'true',
    hookArn: 'arn:aws:lambda:us-east-1:111122223333:function:chef-node-cleanup',
    instanceSelector: { team: 'platform' },
    snapshotRetentionSeconds: '2592000',
  },
  // EcsInstanceDrainer `Drainer` (on the stack's ECS cluster and its Auto Scaling group): the handler's
  // environment (every value a string) and the termination hook's heartbeat timeout (a number).
  drainer: {
    maxDrainSeconds: '14400',
    heartbeatTimeoutSeconds: '600',
    onTimeout: 'ABANDON',
    stopStandaloneAfterSeconds: '3600',
    notifyOnEveryDrain: 'true',
  },
  // ImageRetention `Retention` (on the stack's ECR repository): the handler's environment (every value a
  // string, the lists and the task-definition settings as JSON), the schedule and what IAM may touch.
  retention: {
    repositoryName: 'web-images',
    keepNewest: '5',
    minAgeSeconds: '1209600',
    keepTagPatterns: ['latest', 'release-*'],
    pinnedImages: ['web-images:v1.0.0'],
    consumerAccountRoles: ['arn:aws:iam::111122223333:role/ImageUsageReader'],
    action: 'DELETE',
    // keepNewestRevisions and deleteInactive as set; deregisterUnused at its default (true).
    taskDefinitions: { keepNewestRevisions: 3, deregisterUnused: true, deleteInactive: true },
    scheduleExpression: 'rate(12 hours)',
  },
  // FleetJanitorDashboard `Dashboard`: its name, the period of every graph (15 minutes) and its rows in
  // order, [janitor name, construct id]: five janitors given in `janitors`, ImageRetention added by addJanitor().
  dashboard: {
    name: 'fleet-janitor',
    periodSeconds: 900,
    rows: [
      ['PackerCleaner', 'Cleaner'], ['AmiManager', 'Ami'], ['TagPolicyEngine', 'Tags'],
      ['InstanceDecommissioner', 'Decommissioner'], ['EcsInstanceDrainer', 'Drainer'], ['ImageRetention', 'Retention'],
    ],
  },
};

module.exports = { EXPECTED };
