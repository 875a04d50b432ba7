/*
 * Integration test for InstanceDecommissioner, run by integ-runner (never by jest: it matches *.test.ts only).
 *
 * Offline, `npx projen integ:snapshot` synthesizes this app and compares it with the committed
 * snapshot in integ.instance-decommissioner.ts.snapshot/. With AWS credentials, `integ-runner
 * --update-on-failed --force` deploys it and runs the assertions below (see the README).
 *
 * The stack creates a private hosted zone on its own VPC, the decommissioner (records of that zone
 * only, alarms, an instanceSelector that only matches the test's instance, no reconcile sweep) and,
 * after it, one instance tagged for this test: its `running` event reaches the queue and the handler
 * stores its snapshot. The assertions wait for the snapshot, create the instance's A record and an
 * alarm on its CPU (through the API, not CloudFormation: the handler deletes them, and the stack must
 * not own what it removes), terminate the instance, and check that the `terminated` event removed
 * the record and the alarm and marked the snapshot decommissioned. The stack is environment-agnostic.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicies, Stack, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { InstanceDecommissioner } from '../src';

const TAG_KEY = 'fleet-janitor-integ';
const TAG_VALUE = 'instance-decommissioner';
const ZONE_NAME = 'integ.fleet-janitor.internal';
const INSTANCE_NAME = 'web-integ';
const RECORD_NAME = `${INSTANCE_NAME}.${ZONE_NAME}`;
const ALARM_NAME = 'fleet-janitor-integ-instance-decommissioner-cpu';

// No creation stack traces in the snapshot's metadata: they hold this machine's file paths.
const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'FleetJanitorInstanceDecommissionerInteg', {
  description: 'cdk-fleet-janitor integration test: InstanceDecommissioner cleans up after a terminated instance (safe to delete)',
});

const vpc = new ec2.Vpc(stack, 'Vpc', {
  maxAzs: 1,
  natGateways: 0,
  subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
  restrictDefaultSecurityGroup: false,
});
const zone = new route53.PrivateHostedZone(stack, 'Zone', { zoneName: ZONE_NAME, vpc });

const decommissioner = new InstanceDecommissioner(stack, 'InstanceDecommissioner', {
  hostedZones: [zone],
  recordNameTemplates: [`{tag:Name}.${ZONE_NAME}`],
  deleteAlarms: true,
  instanceSelector: { [TAG_KEY]: TAG_VALUE },
  // The events are what is tested here; the sweep would only find nothing.
  reconcile: false,
});

const instance = new ec2.Instance(stack, 'Instance', {
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
  machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
  requireImdsv2: true,
});
Tags.of(instance).add(TAG_KEY, TAG_VALUE);
Tags.of(instance).add('Name', INSTANCE_NAME);
// The rule, queue and event source mapping first: the instance's `running` event must find them.
instance.node.addDependency(decommissioner);

// Leave nothing behind on destroy: the table, the topic's KMS key and the log groups are retained by default.
RemovalPolicies.of(stack).destroy();

const integ = new IntegTest(app, 'InstanceDecommissionerIntegTest', { testCases: [stack], stackUpdateWorkflow: false });
const snapshotItem = () => integ.assertions.awsApiCall('DynamoDB', 'getItem', {
  TableName: decommissioner.table.tableName,
  Key: { InstanceId: { S: instance.instanceId } },
  ConsistentRead: true,
});

// 1. The `running` event stored the instance's snapshot, with its record name.
snapshotItem()
  .expect(ExpectedResult.objectLike({ Item: Match.objectLike({ Status: { S: 'LIVE' } }) }))
  .waitForAssertions({ interval: Duration.seconds(20), totalTimeout: Duration.minutes(10) })
  // 2. The instance's A record and an alarm on it, as a team would have made them.
  .next(integ.assertions.awsApiCall('Route53', 'changeResourceRecordSets', {
    HostedZoneId: zone.hostedZoneId,
    ChangeBatch: {
      Changes: [{
        Action: 'UPSERT',
        ResourceRecordSet: { Name: RECORD_NAME, Type: 'A', TTL: 60, ResourceRecords: [{ Value: instance.instancePrivateIp }] },
      }],
    },
  }))
  .next(integ.assertions.awsApiCall('CloudWatch', 'putMetricAlarm', {
    AlarmName: ALARM_NAME,
    Namespace: 'AWS/EC2',
    MetricName: 'CPUUtilization',
    Dimensions: [{ Name: 'InstanceId', Value: instance.instanceId }],
    Statistic: 'Average',
    Period: 300,
    EvaluationPeriods: 1,
    Threshold: 90,
    ComparisonOperator: 'GreaterThanThreshold',
  }))
  // 3. The instance dies.
  .next(integ.assertions.awsApiCall('EC2', 'terminateInstances', { InstanceIds: [instance.instanceId] }))
  // 4. Its `terminated` (or `shutting-down`) event decommissioned it: the snapshot is marked.
  .next(snapshotItem()
    .expect(ExpectedResult.objectLike({ Item: Match.objectLike({ Status: { S: 'DECOMMISSIONED' } }) }))
    .waitForAssertions({ interval: Duration.seconds(20), totalTimeout: Duration.minutes(10) }))
  // 5. The record is gone (nothing sorts after it in the zone) and so is the alarm.
  .next(integ.assertions
    .awsApiCall('Route53', 'listResourceRecordSets', { HostedZoneId: zone.hostedZoneId, StartRecordName: RECORD_NAME, StartRecordType: 'A', MaxItems: 1 })
    .expect(ExpectedResult.objectLike({ ResourceRecordSets: [] })))
  .next(integ.assertions
    .awsApiCall('CloudWatch', 'describeAlarms', { AlarmNames: [ALARM_NAME] })
    .expect(ExpectedResult.objectLike({ MetricAlarms: [] })));

app.synth();
