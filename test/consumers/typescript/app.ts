// README example (TypeScript): the same stack every consumer app builds; checked by check-template.cjs.
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { InstanceType, LaunchTemplate, UserData, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Repository } from 'aws-cdk-lib/aws-ecr';
import { AmiHardwareType, AsgCapacityProvider, Cluster, EcsOptimizedImage } from 'aws-cdk-lib/aws-ecs';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { HostedZone } from 'aws-cdk-lib/aws-route53';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import {
  AmiManager, DrainTimeoutAction, EcsInstanceDrainer, FleetJanitorDashboard, ImageRetention, InstanceDecommissioner, PackerCleaner,
  PackerCleanerAction, RetentionAction, TagPolicyEngine, TagValue, ViolationAction,
} from '../../../src';

export function synthConsumerApp(outdir: string): void {
  // --- example: typescript ---
  const app = new App({ outdir });
  const stack = new Stack(app, 'ConsumerStack');

  const cleaner = new PackerCleaner(stack, 'Cleaner', {
    action: PackerCleanerAction.TERMINATE,
    maxAge: Duration.hours(3),
    tagSelector: { team: 'platform' },
    cleanupKeyPairs: true,
    maxActionsPerRun: 50,
    schedule: ScheduleExpression.rate(Duration.minutes(30)),
  });
  // cleaner.topic receives each run's report and the failure alarms.
  console.log(`report topic: ${cleaner.topic.node.path}`);

  const ami = new AmiManager(stack, 'Ami', {
    instanceId: 'i-0123456789abcdef0',
    imageName: 'golden-web',
    tags: { team: 'platform' },
    shareWithAccounts: ['111122223333'],
    deprecateAfter: Duration.days(90),
    removalPolicy: RemovalPolicy.RETAIN,
  });
  // ami.imageId (or ami.machineImage) is available once the image is; ami.topic gets its reports.
  console.log(`image: ${ami.resource.node.path}`);

  const tags = new TagPolicyEngine(stack, 'Tags', {
    rules: [
      { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', '1002', 'unassigned'] },
      { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator() },
      { tagKey: 'LaunchDate', required: true, defaultValue: TagValue.launchDate() },
      { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$', onViolation: ViolationAction.NOTIFY },
    ],
    instanceSelector: { managed: 'true' },
    untaggedAction: ViolationAction.STOP,
    gracePeriod: Duration.days(3),
  });
  // tags.table holds the rules; add items by hand to edit rules live.
  console.log(`rule table: ${tags.table.node.path}`);

  const zone = HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'internal.example.com' });
  const decommissioner = new InstanceDecommissioner(stack, 'Decommissioner', {
    hostedZones: [zone],
    recordNameTemplates: ['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com'],
    deleteAlarms: true,
    hooks: [LambdaFunction.fromFunctionArn(stack, 'ChefCleanup', 'arn:aws:lambda:us-east-1:111122223333:function:chef-node-cleanup')],
    instanceSelector: { team: 'platform' },
    snapshotRetention: Duration.days(30),
  });
  // decommissioner.table holds a snapshot of every instance; hooks get it when the instance dies.
  console.log(`snapshot table: ${decommissioner.table.node.path}`);

  // An ECS cluster on Graviton container instances (launch template: ECS-optimized AL2023, IMDSv2).
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const cluster = new Cluster(stack, 'Cluster', { vpc });
  const launchTemplate = new LaunchTemplate(stack, 'ContainerInstances', {
    instanceType: new InstanceType('m7g.large'),
    machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.ARM),
    userData: UserData.forLinux(), // the cluster adds ECS_CLUSTER=<name> to it
    role: new Role(stack, 'InstanceRole', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') }),
    requireImdsv2: true,
  });
  const capacity = new AutoScalingGroup(stack, 'Capacity', { vpc, launchTemplate, minCapacity: 1, maxCapacity: 10 });
  // enableManagedDraining: false: aws-cdk-lib adds no drain hook of its own; the drainer drains.
  cluster.addAsgCapacityProvider(new AsgCapacityProvider(stack, 'CapacityProvider', { autoScalingGroup: capacity, enableManagedDraining: false }));

  const drainer = new EcsInstanceDrainer(stack, 'Drainer', {
    cluster,
    autoScalingGroup: capacity,
    maxDrainTime: Duration.hours(4),
    heartbeatTimeout: Duration.minutes(10),
    onTimeout: DrainTimeoutAction.ABANDON,
    stopStandaloneTasksAfter: Duration.hours(1),
    notifyOnEveryDrain: true,
  });
  // drainer.stateMachine carries each drain; drainer.topic gets the drain reports and the alarms.
  console.log(`drain state machine: ${drainer.stateMachine.node.path}`);

  const images = new Repository(stack, 'Images', { repositoryName: 'web-images' });
  const retention = new ImageRetention(stack, 'Retention', {
    repositories: [images],
    keepNewest: 5,
    minAge: Duration.days(14),
    keepTagPatterns: ['latest', 'release-*'],
    pinnedImages: ['web-images:v1.0.0'],
    consumerAccountRoles: ['arn:aws:iam::111122223333:role/ImageUsageReader'],
    action: RetentionAction.DELETE,
    taskDefinitions: { keepNewestRevisions: 3, deleteInactive: true },
    schedule: ScheduleExpression.rate(Duration.hours(12)),
  });
  // retention.role is the principal the consumer accounts' reader roles trust; retention.topic gets each run's report.
  console.log(`retention role: ${retention.role.node.path}`);

  // One CloudWatch dashboard, a row per janitor: resources and actions, handler errors and duration, alarm states.
  const dashboard = new FleetJanitorDashboard(stack, 'Dashboard', {
    dashboardName: 'fleet-janitor',
    janitors: [cleaner, ami, tags, decommissioner, drainer],
    period: Duration.minutes(15),
  });
  dashboard.addJanitor(retention);

  app.synth();
  // --- end example ---
}
