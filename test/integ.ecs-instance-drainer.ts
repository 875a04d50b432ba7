/*
 * Integration test for EcsInstanceDrainer, run by integ-runner (never by jest: it matches *.test.ts only).
 *
 * Offline, `npx projen integ:snapshot` synthesizes this app and compares it with the committed
 * snapshot in integ.ecs-instance-drainer.ts.snapshot/. With AWS credentials, `integ-runner
 * --update-on-failed --force` deploys it and runs the assertions below (see the README).
 *
 * The stack: a VPC with public subnets only (no NAT gateway to pay for), an ECS cluster with one
 * t4g.small container instance in an Auto Scaling group added through an AsgCapacityProvider without
 * managed draining (so aws-cdk-lib adds no drain hook of its own), a service of one task on it, and
 * the drainer with short durations. The assertions scale the group in to 0: the instance's
 * termination hook starts a drain, whose execution must succeed (the service task moves off, then
 * the lifecycle action is completed), and the group must be left with no instance. The stack is
 * environment-agnostic.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicies, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { EcsInstanceDrainer } from '../src';

// No creation stack traces in the snapshot's metadata: they hold this machine's file paths.
const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'FleetJanitorEcsInstanceDrainerInteg', {
  description: 'cdk-fleet-janitor integration test: EcsInstanceDrainer drains a container instance before it terminates (safe to delete)',
});

const vpc = new ec2.Vpc(stack, 'Vpc', {
  maxAzs: 1,
  natGateways: 0,
  subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
  restrictDefaultSecurityGroup: false,
});
const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
const launchTemplate = new ec2.LaunchTemplate(stack, 'CapacityTemplate', {
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
  machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.ARM),
  requireImdsv2: true,
  userData: ec2.UserData.forLinux(),
  associatePublicIpAddress: true,
  role: new iam.Role(stack, 'CapacityRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
});
const capacity = new autoscaling.AutoScalingGroup(stack, 'Capacity', {
  vpc, vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC }, launchTemplate, minCapacity: 0, maxCapacity: 1, desiredCapacity: 1,
});
cluster.addAsgCapacityProvider(new ecs.AsgCapacityProvider(stack, 'CapacityProvider', {
  autoScalingGroup: capacity, enableManagedDraining: false, enableManagedTerminationProtection: false,
}));
const taskDefinition = new ecs.Ec2TaskDefinition(stack, 'Task');
taskDefinition.addContainer('web', { image: ecs.ContainerImage.fromRegistry('public.ecr.aws/nginx/nginx:stable'), memoryLimitMiB: 128 });
new ecs.Ec2Service(stack, 'Service', { cluster, taskDefinition, desiredCount: 1, minHealthyPercent: 0 });

const drainer = new EcsInstanceDrainer(stack, 'Drainer', {
  cluster,
  autoScalingGroup: capacity,
  pollInterval: Duration.seconds(10),
  heartbeatTimeout: Duration.minutes(2),
  maxDrainTime: Duration.minutes(15),
});

// Leave nothing behind on destroy: the topic's KMS key and the log groups are retained by default.
RemovalPolicies.of(stack).destroy();

const integ = new IntegTest(app, 'EcsInstanceDrainerIntegTest', { testCases: [stack], stackUpdateWorkflow: false });

// 1. The container instance has joined the cluster and runs the service's task.
integ.assertions.awsApiCall('ECS', 'describeClusters', { clusters: [cluster.clusterName] })
  .expect(ExpectedResult.objectLike({ clusters: [Match.objectLike({ registeredContainerInstancesCount: 1, runningTasksCount: 1 })] }))
  .waitForAssertions({ interval: Duration.seconds(20), totalTimeout: Duration.minutes(10) })
  // 2. Scale in: Auto Scaling starts terminating it and the hook starts a drain.
  .next(integ.assertions.awsApiCall('AutoScaling', 'setDesiredCapacity', {
    AutoScalingGroupName: capacity.autoScalingGroupName, DesiredCapacity: 0, HonorCooldown: false,
  }))
  // 3. The drain's execution succeeded: the instance was set DRAINING, the task left, the action was completed.
  .next(integ.assertions
    .awsApiCall('SFN', 'listExecutions', { stateMachineArn: drainer.stateMachine.stateMachineArn, statusFilter: 'SUCCEEDED' })
    .expect(ExpectedResult.objectLike({ executions: [Match.objectLike({ status: 'SUCCEEDED' })] }))
    .waitForAssertions({ interval: Duration.seconds(30), totalTimeout: Duration.minutes(20) }))
  // 4. And the group went on with the termination.
  .next(integ.assertions
    .awsApiCall('AutoScaling', 'describeAutoScalingGroups', { AutoScalingGroupNames: [capacity.autoScalingGroupName] })
    .expect(ExpectedResult.objectLike({ AutoScalingGroups: [Match.objectLike({ Instances: [] })] }))
    .waitForAssertions({ interval: Duration.seconds(30), totalTimeout: Duration.minutes(10) }));

app.synth();
