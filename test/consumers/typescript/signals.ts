// README example (TypeScript): the CloudFormation signals pattern of the AmiManager section; built and
// checked by typescript.test.ts, and shown verbatim in the README (readme-examples.test.ts).
import { App, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AmiManager } from '../../../src';

export function synthSignalsExample(outdir: string): void {
  const app = new App({ outdir });
  const stack = new Stack(app, 'SignalsStack');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }] });

  // --- example: signals ---
  // AL2023 may come without the CloudFormation helper scripts: install them before cfn-init runs.
  const userData = ec2.UserData.forLinux();
  userData.addCommands('dnf install -y aws-cfn-bootstrap');

  const builder = new ec2.Instance(stack, 'Builder', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
    machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
    requireImdsv2: true,
    userData,
    // The first wait: cfn-init provisions the instance, then cfn-signal reports success.
    // CloudFormation marks the instance created only once the signal arrives (or fails it after
    // the timeout), and the AmiManager, which depends on the instance, starts only then.
    init: ec2.CloudFormationInit.fromElements(
      ec2.InitPackage.yum('nginx'),
      ec2.InitService.enable('nginx'),
    ),
    initOptions: { timeout: Duration.minutes(20) },
  });

  const ami = new AmiManager(stack, 'Ami', {
    instance: builder, // the dependency on the instance, and so on its signal
    imageName: 'web-golden',
  });

  // The second wait, only if the instance itself must act once the image exists. These commands
  // run after cfn-signal: waiting before the signal would deadlock (the image waits for the
  // signal), and the image holds the disk as it was when CreateImage started, not this step.
  builder.addUserData(
    'TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
    'ME=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id)',
    `until [ "$(aws ec2 describe-images --region ${Aws.REGION} --owners self --filters Name=source-instance-id,Values=$ME `
      + `Name=tag:fleet-janitor:ami:stack-id,Values=${Aws.STACK_ID} Name=state,Values=available `
      + '--query "length(Images)" --output text)" -ge 1 ]; do sleep 30; done',
    'echo "image available: the instance may go on"',
  );
  builder.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeImages'], resources: ['*'] }));

  // Anything that must come after the image in the stack uses it: it is available by then.
  new ec2.LaunchTemplate(stack, 'WebTemplate', {
    machineImage: ami.machineImage,
    instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
    requireImdsv2: true,
  });
  // --- end example ---

  app.synth();
}
