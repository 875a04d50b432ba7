/*
 * Integration test for PackerCleaner, run by integ-runner (never by jest: it matches *.test.ts only).
 *
 * Offline, `npx projen integ:snapshot` synthesizes this app and compares it with the committed
 * snapshot in integ.packer-cleaner.ts.snapshot/. With AWS credentials, `integ-runner
 * --update-on-failed --force` deploys it and runs the assertions below (see the README).
 *
 * The stack launches one instance the way Packer does (a key pair named `packer_…`) and a
 * PackerCleaner that terminates Packer instances older than one minute. The cleaner's tagSelector
 * (and so its IAM grant) only reaches instances tagged by this test: real Packer instances in the
 * account are never touched. The stack is environment-agnostic: no account, region or AMI id is
 * written here, and nothing is looked up at synth.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicies, Stack, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { PackerCleaner, PackerCleanerAction } from '../src';

/** Packer's key pair naming (`packer_<uuid>`); fixed, so one run per account and region at a time. */
const KEY_NAME = 'packer_fleet-janitor-integ';
/** The only instances this test's cleaner may see or terminate. */
const TAG_KEY = 'fleet-janitor-integ';
const TAG_VALUE = 'packer-cleaner';

// No creation stack traces in the snapshot's metadata: they hold this machine's file paths.
const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'FleetJanitorPackerCleanerInteg', {
  description: 'cdk-fleet-janitor integration test: PackerCleaner terminates a Packer-style instance (safe to delete)',
});

// A public subnet in one AZ and no NAT gateway: the instance only has to exist, not to reach anything.
const vpc = new ec2.Vpc(stack, 'Vpc', {
  maxAzs: 1,
  natGateways: 0,
  subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
  restrictDefaultSecurityGroup: false,
});

const keyPair = new ec2.KeyPair(stack, 'PackerKeyPair', { keyPairName: KEY_NAME });

// The smallest Graviton instance on the latest Amazon Linux 2023, resolved from the public SSM
// parameter by CloudFormation at deploy time (no AMI id, no context lookup).
const instance = new ec2.Instance(stack, 'PackerBuildInstance', {
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
  machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
  keyPair,
  requireImdsv2: true,
});
Tags.of(instance).add(TAG_KEY, TAG_VALUE);

const cleaner = new PackerCleaner(stack, 'PackerCleaner', {
  action: PackerCleanerAction.TERMINATE,
  maxAge: Duration.minutes(1),
  tagSelector: { [TAG_KEY]: TAG_VALUE },
});
// The assertions invoke the function themselves. A scheduled run racing them could terminate the
// instance first (and the handler runs one at a time), so the schedule is created disabled.
(cleaner.schedule.node.defaultChild as scheduler.CfnSchedule).state = 'DISABLED';

// Leave nothing behind on destroy: the topic's KMS key and the log group are retained by default.
RemovalPolicies.of(stack).destroy();

const integ = new IntegTest(app, 'PackerCleanerIntegTest', {
  testCases: [stack],
  // The test is stateful (it terminates its instance): deploying the previous snapshot first and
  // then updating it would leave the update nothing to terminate.
  stackUpdateWorkflow: false,
});

const describeInstance = { InstanceIds: [instance.instanceId] };

/** DescribeInstances output for our one instance, with its state matching `stateName`. */
function instanceInState(stateName: unknown) {
  return ExpectedResult.objectLike({
    Reservations: [{
      Instances: [{ InstanceId: instance.instanceId, KeyName: KEY_NAME, State: { Name: stateName } }],
    }],
  });
}

// 1. The instance runs with Packer's key name: the cleaner has something to find.
integ.assertions
  .awsApiCall('EC2', 'describeInstances', describeInstance)
  .expect(instanceInState('running'))
  .waitForAssertions({ interval: Duration.seconds(10), totalTimeout: Duration.minutes(3) })
  // 2. Invoke the cleaner until it terminates the instance. Runs before the instance is a minute
  //    old report it as KEPT (not due), so the retries are the wait for maxAge.
  .next(integ.assertions
    .invokeFunction({
      functionName: cleaner.handler.functionName,
      payload: JSON.stringify({ source: 'integ.packer-cleaner' }),
    })
    .expect(ExpectedResult.objectLike({
      Payload: Match.serializedJson(Match.objectLike({
        status: 'SUCCEEDED',
        dryRun: false,
        counts: { matched: 1, actionsTaken: 1, actionsFailed: 0 },
        entries: [{ resourceType: 'instance', id: instance.instanceId, action: 'TERMINATE', outcome: 'DONE' }],
      })),
    }))
    .waitForAssertions({ interval: Duration.seconds(30), totalTimeout: Duration.minutes(10) }))
  // 3. EC2 agrees: the instance is shutting down or already gone.
  .next(integ.assertions
    .awsApiCall('EC2', 'describeInstances', describeInstance)
    .expect(instanceInState(Match.stringLikeRegexp('^(shutting-down|terminated)$')))
    .waitForAssertions({ interval: Duration.seconds(10), totalTimeout: Duration.minutes(3) }));

app.synth();
