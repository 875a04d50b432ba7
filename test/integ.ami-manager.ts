/*
 * Integration test for AmiManager, run by integ-runner (never by jest: it matches *.test.ts only).
 *
 * Offline, `npx projen integ:snapshot` synthesizes this app and compares it with the committed
 * snapshot in integ.ami-manager.ts.snapshot/. With AWS credentials, `integ-runner
 * --update-on-failed --force` deploys it and runs the assertions below (see the README).
 *
 * The stack launches one instance provisioned with CloudFormation init and a signal (the README's
 * signals pattern), and an AmiManager that images it once the signal arrived, tags image and
 * snapshots, deprecates the image after a day and stops the instance. A launch template takes the
 * image through `machineImage`. The assertions check the image, its snapshots and the stopped
 * instance; destroying the stack (integ-runner does, pass or fail) deregisters the image and
 * deletes its snapshots. The stack is environment-agnostic: no account, region or AMI id is
 * written here, and nothing is looked up at synth.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, Fn, RemovalPolicies, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AmiManager } from '../src';

/** Put on the image and its snapshots; only this test's. */
const TAG_KEY = 'fleet-janitor-integ';
const TAG_VALUE = 'ami-manager';

// No creation stack traces in the snapshot's metadata: they hold this machine's file paths.
const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'FleetJanitorAmiManagerInteg', {
  description: 'cdk-fleet-janitor integration test: AmiManager bakes an AMI from a signalled instance (safe to delete)',
});

// A public subnet in one AZ and no NAT gateway: the instance reaches the package repository and
// CloudFormation (for cfn-signal) through its public address.
const vpc = new ec2.Vpc(stack, 'Vpc', {
  maxAzs: 1,
  natGateways: 0,
  subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
  restrictDefaultSecurityGroup: false,
});

// AL2023 may come without the CloudFormation helper scripts: installed before cfn-init runs.
const userData = ec2.UserData.forLinux();
userData.addCommands('dnf install -y aws-cfn-bootstrap');

// The smallest Graviton instance on the latest Amazon Linux 2023, resolved from the public SSM
// parameter by CloudFormation at deploy time. CloudFormation waits for its signal (after cfn-init
// wrote the file below) before the AmiManager, which depends on it, takes the image.
const instance = new ec2.Instance(stack, 'Builder', {
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
  machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
  requireImdsv2: true,
  userData,
  init: ec2.CloudFormationInit.fromElements(
    ec2.InitFile.fromString('/etc/fleet-janitor-integ', 'provisioned by cfn-init before the image was taken\n'),
  ),
  initOptions: { timeout: Duration.minutes(15) },
});

const ami = new AmiManager(stack, 'Ami', {
  instance,
  imageName: 'fleet-janitor-integ',
  description: 'cdk-fleet-janitor integration test image (safe to delete)',
  tags: { [TAG_KEY]: TAG_VALUE },
  deprecateAfter: Duration.days(1),
  stopInstanceAfterImage: true,
  removalPolicy: RemovalPolicy.DESTROY,
  timeout: Duration.minutes(30),
});

// What a fleet does with the image: nothing is launched from it here.
new ec2.LaunchTemplate(stack, 'FromImage', {
  machineImage: ami.machineImage,
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
  requireImdsv2: true,
});

// Leave nothing behind on destroy: the topic's KMS key and the log groups are retained by default.
RemovalPolicies.of(stack).destroy();

const integ = new IntegTest(app, 'AmiManagerIntegTest', {
  testCases: [stack],
  // The test is stateful (it images and stops its instance): deploying the previous snapshot first
  // and then updating it would test a replacement, not a creation.
  stackUpdateWorkflow: false,
  // The is-complete alias points at the handler's current version, which is replaced whenever the
  // handler's code changes: an expected replacement, not a destructive change to review.
  allowDestroy: ['AWS::Lambda::Version'],
});

const userTag = { Key: TAG_KEY, Value: TAG_VALUE };

// 1. The image exists, is available (the resource returned only then), has the name EC2 gave it
//    (imageName plus the request suffix), the user's tag and a deprecation time.
integ.assertions
  .awsApiCall('EC2', 'describeImages', { ImageIds: [ami.imageId] })
  .expect(ExpectedResult.objectLike({
    Images: [Match.objectLike({
      ImageId: ami.imageId,
      State: 'available',
      Name: ami.imageName,
      Tags: Match.arrayWith([userTag]),
      DeprecationTime: Match.stringLikeRegexp('^\\d{4}-'),
    })],
  }))
  // 2. Its snapshot (the instance has one volume) carries the user's tag too, tagged in the
  //    CreateImage call itself. (The assertion's parameters are a string: a list token cannot go there.)
  .next(integ.assertions
    .awsApiCall('EC2', 'describeSnapshots', { SnapshotIds: [Fn.select(0, ami.snapshotIds)] })
    .expect(ExpectedResult.objectLike({
      Snapshots: Match.arrayWith([Match.objectLike({ Tags: Match.arrayWith([userTag]) })]),
    })))
  // 3. stopInstanceAfterImage: the source instance is stopping or stopped.
  .next(integ.assertions
    .awsApiCall('EC2', 'describeInstances', { InstanceIds: [instance.instanceId] })
    .expect(ExpectedResult.objectLike({
      Reservations: [{ Instances: [{ InstanceId: instance.instanceId, State: { Name: Match.stringLikeRegexp('^(stopping|stopped)$') } }] }],
    }))
    .waitForAssertions({ interval: Duration.seconds(15), totalTimeout: Duration.minutes(5) }));

app.synth();
