/*
 * Integration test for TagPolicyEngine, run by integ-runner (never by jest: it matches *.test.ts only).
 *
 * Offline, `npx projen integ:snapshot` synthesizes this app and compares it with the committed
 * snapshot in integ.tag-policy-engine.ts.snapshot/. With AWS credentials, `integ-runner
 * --update-on-failed --force` deploys it and runs the assertions below (see the README).
 *
 * The stack launches one instance tagged for this test only, with one tag missing, and an engine
 * whose instanceSelector (and so its IAM grant) only reaches instances with that tag: other
 * instances in the account are never touched. The engine's rules go to its table through the
 * custom resource on deploy; the assertions invoke the sweep and check that the missing tag was
 * filled in with its default. The stack is environment-agnostic.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicies, Stack, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { TagPolicyEngine, TagValue, ViolationAction } from '../src';

const TAG_KEY = 'fleet-janitor-integ';
const TAG_VALUE = 'tag-policy-engine';

// No creation stack traces in the snapshot's metadata: they hold this machine's file paths.
const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'FleetJanitorTagPolicyEngineInteg', {
  description: 'cdk-fleet-janitor integration test: TagPolicyEngine fills in a missing tag (safe to delete)',
});

const vpc = new ec2.Vpc(stack, 'Vpc', {
  maxAzs: 1,
  natGateways: 0,
  subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
  restrictDefaultSecurityGroup: false,
});

const instance = new ec2.Instance(stack, 'Instance', {
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
  machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
  requireImdsv2: true,
});
Tags.of(instance).add(TAG_KEY, TAG_VALUE);
Tags.of(instance).add('Environment', 'dev');

const engine = new TagPolicyEngine(stack, 'TagPolicyEngine', {
  rules: [
    { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', 'unassigned'] },
    { tagKey: 'LaunchDate', required: true, defaultValue: TagValue.launchDate() },
    { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$' },
  ],
  vpcs: [vpc],
  instanceSelector: { [TAG_KEY]: TAG_VALUE },
  untaggedAction: ViolationAction.NOTIFY,
  // The assertions run the sweep themselves; CloudTrail lookups and capture are not what is tested here.
  captureCreators: false,
  backfillCreators: false,
});
(engine.schedule.node.defaultChild as scheduler.CfnSchedule).state = 'DISABLED';

// Leave nothing behind on destroy: the table, the topic's KMS key and the log groups are retained by default.
RemovalPolicies.of(stack).destroy();

const integ = new IntegTest(app, 'TagPolicyEngineIntegTest', { testCases: [stack], stackUpdateWorkflow: false });

// 1. The sweep tags the instance (its CostCenter and LaunchDate were missing; Environment is valid).
integ.assertions
  .invokeFunction({ functionName: engine.handler.functionName, payload: JSON.stringify({ source: 'integ.tag-policy-engine' }) })
  .expect(ExpectedResult.objectLike({
    Payload: Match.serializedJson(Match.objectLike({
      status: 'SUCCEEDED',
      dryRun: false,
      counts: Match.objectLike({ scanned: 1, actionsTaken: 2, actionsFailed: 0 }),
    })),
  }))
  .waitForAssertions({ interval: Duration.seconds(20), totalTimeout: Duration.minutes(5) })
  // 2. EC2 agrees: the tags are there.
  .next(integ.assertions
    .awsApiCall('EC2', 'describeTags', { Filters: [{ Name: 'resource-id', Values: [instance.instanceId] }, { Name: 'key', Values: ['CostCenter'] }] })
    .expect(ExpectedResult.objectLike({ Tags: [{ Key: 'CostCenter', Value: 'unassigned', ResourceId: instance.instanceId }] }))
    .waitForAssertions({ interval: Duration.seconds(10), totalTimeout: Duration.minutes(2) }));

app.synth();
