import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  AmiManagerProps, DrainTimeoutAction, EcsInstanceDrainerProps, ImageRetentionProps, InstanceDecommissionerProps, PackerCleanerAction,
  PackerCleanerProps, RetentionAction, TagPolicyEngineProps, TagValue, ViolationAction,
} from '../../src';

/*
 * The configurations every compliance check (cdk-nag packs, cfn-lint) runs besides the defaults:
 * "everything on", as a regulated platform team would configure a construct. `user` holds what
 * the team brings (a VPC): its own findings are theirs.
 */

/** Everything on, with the VPC and keys a platform team would pass (the VPC's own findings are theirs). */
export function packerCleanerEverythingOn(stack: Stack): { props: PackerCleanerProps; user: ec2.Vpc } {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return {
    user: vpc,
    props: {
      action: PackerCleanerAction.TERMINATE,
      terminateStoppedAfter: Duration.days(1),
      tagSelector: { 'packer-build': 'true' },
      cleanupKeyPairs: true,
      cleanupSecurityGroups: true,
      maxActionsPerRun: 500,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
      vpc,
      securityGroups: [new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' })],
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
      environmentEncryptionKey: new kms.Key(stack, 'EnvKey', { enableKeyRotation: true }),
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
      reserveConcurrency: true,
      tracing: lambda.Tracing.ACTIVE,
      timeout: Duration.minutes(10),
      memorySize: 1024,
    },
  };
}


/** AmiManager with everything on: a VPC, keys, a user topic, sharing, deprecation, stop, RETAIN. */
export function amiManagerEverythingOn(stack: Stack): { props: AmiManagerProps; user: ec2.Vpc } {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return {
    user: vpc,
    props: {
      instanceId: 'i-0123456789abcdef0',
      imageName: 'web-golden',
      description: 'web tier golden image',
      reboot: true,
      tags: { 'team': 'web', 'cost-center': '1234' },
      deprecateAfter: Duration.days(90),
      shareWithAccounts: ['111111111111', '222222222222'],
      stopInstanceAfterImage: true,
      removalPolicy: RemovalPolicy.RETAIN,
      timeout: Duration.minutes(45),
      vpc,
      securityGroups: [new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' })],
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
      environmentEncryptionKey: new kms.Key(stack, 'EnvKey', { enableKeyRotation: true }),
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
      tracing: lambda.Tracing.ACTIVE,
      memorySize: 1024,
    },
  };
}

/** The issue's own example rules: a fixed default with allowed values, the creator, the launch date, a pattern that only notifies. */
export function tagPolicyRules(): NonNullable<TagPolicyEngineProps['rules']> {
  return [
    { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', '1002', 'unassigned'] },
    { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator() },
    { tagKey: 'LaunchDate', required: true, defaultValue: TagValue.launchDate() },
    { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$', onViolation: ViolationAction.NOTIFY },
  ];
}

/** Everything on: terminate after the grace period, VPC-scoped, selector, volumes too, and the team's VPC and keys. */
export function tagPolicyEngineEverythingOn(stack: Stack): { props: TagPolicyEngineProps; user: ec2.Vpc } {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return {
    user: vpc,
    props: {
      rules: [...tagPolicyRules(), { tagKey: 'Owner', required: true, defaultValue: TagValue.fromTag('CreatedBy'), onViolation: ViolationAction.STOP }],
      vpcs: [vpc],
      instanceSelector: { managed: 'true' },
      untaggedAction: ViolationAction.TERMINATE,
      gracePeriod: Duration.days(7),
      propagateToVolumes: true,
      maxActionsPerRun: 50,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
      vpc,
      securityGroups: [new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' })],
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
      environmentEncryptionKey: new kms.Key(stack, 'EnvKey', { enableKeyRotation: true }),
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
      reserveConcurrency: true,
      tracing: lambda.Tracing.ACTIVE,
      timeout: Duration.minutes(10),
      memorySize: 1024,
    },
  };
}

/** A hook of the team's, imported by ARN: the decommissioner may invoke exactly this function. */
export const DECOMMISSION_HOOK_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:chef-cleanup';

/**
 * InstanceDecommissioner with everything on: a private zone and its reverse zone in the team's VPC,
 * both template kinds, alarms, a bus and a hook of the team's, a selector, a daily reconcile sweep.
 * (No reserveConcurrency: the construct refuses it.)
 */
export function instanceDecommissionerEverythingOn(stack: Stack): { props: InstanceDecommissionerProps; user: ec2.Vpc } {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return {
    user: vpc,
    props: {
      hostedZones: [
        new route53.PrivateHostedZone(stack, 'PrivateZone', { zoneName: 'internal.example.com', vpc }),
        new route53.PrivateHostedZone(stack, 'ReverseZone', { zoneName: '10.in-addr.arpa', vpc }),
      ],
      recordNameTemplates: ['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com'],
      deleteAlarms: true,
      eventBus: new events.EventBus(stack, 'FleetBus', { eventBusName: 'fleet-events' }),
      hooks: [lambda.Function.fromFunctionArn(stack, 'ChefCleanup', DECOMMISSION_HOOK_ARN)],
      instanceSelector: { env: 'prod' },
      snapshotRetention: Duration.days(180),
      reconcileSchedule: scheduler.ScheduleExpression.rate(Duration.hours(12)),
      maxReceiveCount: 10,
      maxActionsPerRun: 500,
      vpc,
      securityGroups: [new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' })],
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
      environmentEncryptionKey: new kms.Key(stack, 'EnvKey', { enableKeyRotation: true }),
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
      tracing: lambda.Tracing.ACTIVE,
      timeout: Duration.minutes(10),
      memorySize: 1024,
    },
  };
}

/**
 * An ECS cluster with its capacity, as a platform team builds it for the drainer: its own group added
 * through an AsgCapacityProvider without managed draining (so aws-cdk-lib adds no drain hook of its own).
 */
export function ecsFleet(stack: Stack, vpc: ec2.IVpc = new ec2.Vpc(stack, 'EcsVpc', { maxAzs: 2, natGateways: 1 })) {
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const launchTemplate = new ec2.LaunchTemplate(stack, 'CapacityTemplate', {
    instanceType: new ec2.InstanceType('m7g.large'),
    machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.ARM),
    requireImdsv2: true,
    userData: ec2.UserData.forLinux(),
    role: new iam.Role(stack, 'CapacityRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
  });
  const capacity = new autoscaling.AutoScalingGroup(stack, 'Capacity', { vpc, launchTemplate, minCapacity: 1, maxCapacity: 4 });
  cluster.addAsgCapacityProvider(new ecs.AsgCapacityProvider(stack, 'CapacityProvider', { autoScalingGroup: capacity, enableManagedDraining: false }));
  return { cluster, capacity, vpc };
}

/** EcsInstanceDrainer with everything on: two groups, long drains, standalone tasks stopped, in the team's VPC with keys. */
export function ecsInstanceDrainerEverythingOn(stack: Stack): {
  props: EcsInstanceDrainerProps; user: ec2.Vpc; second: autoscaling.IAutoScalingGroup;
} {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const { cluster, capacity } = ecsFleet(stack, vpc);
  return {
    user: vpc,
    second: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'SpotCapacity', 'ecs-spot-capacity'),
    props: {
      cluster,
      autoScalingGroup: capacity,
      pollInterval: Duration.seconds(30),
      heartbeatTimeout: Duration.minutes(15),
      maxDrainTime: Duration.hours(12),
      onTimeout: DrainTimeoutAction.ABANDON,
      stopStandaloneTasksAfter: Duration.hours(2),
      notifyOnEveryDrain: true,
      vpc,
      securityGroups: [new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' })],
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
      environmentEncryptionKey: new kms.Key(stack, 'EnvKey', { enableKeyRotation: true }),
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
      timeout: Duration.minutes(2),
      memorySize: 256,
    },
  };
}

/** A read-only role in an account that pulls the team's images (see ImageRetention.usageReaderPolicy()). */
export const IMAGE_USAGE_READER_ROLE_ARN = 'arn:aws:iam::222222222222:role/fleet-janitor/ImageUsageReader';

/**
 * ImageRetention with everything on: two repositories of the team's (imported by name), deletion of
 * images and task definitions, pins, tag patterns, a consumer account, in the team's VPC with keys.
 */
export function imageRetentionEverythingOn(stack: Stack): { props: ImageRetentionProps; user: ec2.Vpc } {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return {
    user: vpc,
    props: {
      repositories: [ecr.Repository.fromRepositoryName(stack, 'WebRepo', 'team/web'), ecr.Repository.fromRepositoryName(stack, 'ApiRepo', 'team/api')],
      keepNewest: 20,
      minAge: Duration.days(14),
      keepTagPatterns: ['latest', 'release-*', 'v?.*'],
      pinnedImages: [`team/web@sha256:${'a'.repeat(64)}`, 'team/api:v1.2.3'],
      consumerAccountRoles: [IMAGE_USAGE_READER_ROLE_ARN],
      action: RetentionAction.DELETE,
      taskDefinitions: { keepNewestRevisions: 3, deregisterUnused: true, deleteInactive: true },
      maxActionsPerRun: 500,
      schedule: scheduler.ScheduleExpression.rate(Duration.hours(12)),
      vpc,
      securityGroups: [new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' })],
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
      environmentEncryptionKey: new kms.Key(stack, 'EnvKey', { enableKeyRotation: true }),
      topic: new sns.Topic(stack, 'Alerts', { masterKey: new kms.Key(stack, 'AlertsKey', { enableKeyRotation: true }), enforceSSL: true }),
      reserveConcurrency: true,
      tracing: lambda.Tracing.ACTIVE,
      timeout: Duration.minutes(10),
      memorySize: 1024,
    },
  };
}
