// README example (TypeScript): the same stack every consumer app builds; checked by check-template.cjs.
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { HostedZone } from 'aws-cdk-lib/aws-route53';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { AmiManager, InstanceDecommissioner, PackerCleaner, PackerCleanerAction, TagPolicyEngine, TagValue, ViolationAction } from '../../../src';

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

  app.synth();
  // --- end example ---
}
