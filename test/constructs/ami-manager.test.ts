import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AmiManager, AmiManagerProps } from '../../src';
import { PROVIDER_ID, QUERY_INTERVAL } from '../../src/ami-manager/ami-manager-provider';
import { AMI_PROPERTIES as P, AMI_RESOURCE_TYPE, IS_COMPLETE_ALIAS, OWNERSHIP_TAGS } from '../../src/ami-manager/contract';
import { METRIC_NAMES, METRICS_NAMESPACE } from '../../src/common/metric-names';
import { amiManagerEverythingOn } from '../helpers/configurations';
import { expectNoNagFindings } from '../helpers/nag';
import { maskedTemplate } from '../helpers/template';

const INSTANCE = 'i-0123456789abcdef0';
const ENV = { account: '123456789012', region: 'eu-west-1' };

function newStack(): Stack {
  return new Stack(new App(), 'TestStack', { env: ENV });
}

function build(props: Partial<AmiManagerProps> = {}, stack = newStack()) {
  const ami = new AmiManager(stack, 'Golden', { instanceId: INSTANCE, ...props } as AmiManagerProps);
  return { stack, ami, template: Template.fromStack(stack) };
}

function resourceProperties(template: Template): Record<string, unknown> {
  const resources = Object.values(template.findResources(AMI_RESOURCE_TYPE));
  expect(resources).toHaveLength(1);
  return resources[0].Properties;
}

/** The statements of the provider handler's own managed policy (the second of its two). */
function handlerStatements(stack: Stack, template: Template): any[] {
  const provider = stack.node.findChild(PROVIDER_ID);
  const policy = provider.node.findChild('Handler').node.findChild('Policy');
  const id = stack.getLogicalId(policy.node.defaultChild as never);
  return template.toJSON().Resources[id].Properties.PolicyDocument.Statement;
}

const ownStack = { StringEquals: { [`aws:ResourceTag/${OWNERSHIP_TAGS.stackId}`]: { Ref: 'AWS::StackId' } } };
const arn = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, rest]] });

describe('AmiManager: the custom resource', () => {
  test('defaults: the properties CloudFormation sends, as strings', () => {
    const { template, stack } = build();
    expect(resourceProperties(template)).toEqual({
      ServiceToken: { 'Fn::GetAtt': [expect.stringMatching(/^FleetJanitorAmiManagerProviderframeworkonEvent/), 'Arn'] },
      [P.instanceId]: INSTANCE,
      [P.imageName]: expect.stringMatching(/^TestStack-Golden-[0-9A-F]{8}$/),
      [P.reboot]: 'false',
      [P.tags]: {},
      [P.shareWithAccounts]: [],
      [P.stopInstanceAfterImage]: 'false',
      [P.removalPolicy]: 'destroy',
      [P.timeoutSeconds]: '3600',
      [P.topicArn]: { Ref: stack.getLogicalId(stack.node.findChild('Golden').node.findChild('Topic').node.defaultChild as never) },
    });
  });

  test('every prop reaches the resource', () => {
    const topic = new sns.Topic(newStack(), 'T');
    const { template } = build({
      imageName: 'web-golden',
      description: 'web tier',
      reboot: true,
      tags: { team: 'web' },
      deprecateAfter: Duration.days(90),
      shareWithAccounts: ['111111111111'],
      stopInstanceAfterImage: true,
      removalPolicy: RemovalPolicy.RETAIN,
      timeout: Duration.minutes(20),
    }, Stack.of(topic));
    expect(resourceProperties(template)).toMatchObject({
      [P.imageName]: 'web-golden',
      [P.description]: 'web tier',
      [P.reboot]: 'true',
      [P.tags]: { team: 'web' },
      [P.deprecateAfterSeconds]: String(90 * 86_400),
      [P.shareWithAccounts]: ['111111111111'],
      [P.stopInstanceAfterImage]: 'true',
      [P.removalPolicy]: 'retain',
      [P.timeoutSeconds]: '1200',
    });
  });

  test('an IInstance: its id by reference, the resource depends on it, and machineImage keeps its OS', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
    const instance = new ec2.Instance(stack, 'Source', {
      vpc,
      instanceType: new ec2.InstanceType('t3.micro'),
      machineImage: ec2.MachineImage.latestWindows(ec2.WindowsVersion.WINDOWS_SERVER_2022_ENGLISH_FULL_BASE),
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    });
    const ami = new AmiManager(stack, 'Golden', { instance });
    const template = Template.fromStack(stack).toJSON();
    const [id, resource] = Object.entries<any>(template.Resources).find(([, r]) => r.Type === AMI_RESOURCE_TYPE)!;
    const instanceId = stack.getLogicalId(instance.node.defaultChild as never);
    expect(resource.Properties[P.instanceId]).toEqual({ Ref: instanceId });
    expect(resource.DependsOn).toContain(instanceId);
    const image = ami.machineImage.getImage(stack);
    expect(stack.resolve(image.imageId)).toEqual({ Ref: id });
    expect(image.osType).toBe(ec2.OperatingSystemType.WINDOWS);
    expect(image.userData.render()).toContain('<powershell>');
  });

  test('the default image name: the construct path and its hash, within EC2\'s limits even for a long path', () => {
    const stack = new Stack(new App(), 'S'.repeat(100), { env: ENV });
    new AmiManager(stack, 'G'.repeat(200), { instanceId: INSTANCE });
    const name = resourceProperties(Template.fromStack(stack))[P.imageName] as string;
    expect(name.length).toBeLessThanOrEqual(119);
    expect(name.length).toBeGreaterThan(100);
    expect(name).toMatch(/^S+-?G+-[0-9A-F]{8}$/);
  });

  test('outputs: imageId is the physical id, snapshotIds and imageName come from the resource\'s data; Linux by default', () => {
    const { stack, ami } = build();
    const id = stack.getLogicalId(ami.resource.node.defaultChild as never);
    expect(stack.resolve(ami.imageId)).toEqual({ Ref: id });
    expect(stack.resolve(ami.snapshotIds)).toEqual({ 'Fn::Split': [',', { 'Fn::GetAtt': [id, 'SnapshotIds'] }] });
    expect(stack.resolve(ami.imageName)).toEqual({ 'Fn::GetAtt': [id, 'ImageName'] });
    const image = ami.machineImage.getImage(stack);
    expect(image.osType).toBe(ec2.OperatingSystemType.LINUX);
    expect(image.userData.render()).toContain('#!/bin/bash');
  });

  test('a launch template uses the image by reference', () => {
    const stack = newStack();
    const ami = new AmiManager(stack, 'Golden', { instanceId: INSTANCE });
    new ec2.LaunchTemplate(stack, 'Lt', { machineImage: ami.machineImage });
    const id = stack.getLogicalId(ami.resource.node.defaultChild as never);
    Template.fromStack(stack).hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ ImageId: { Ref: id } }) });
  });
});

describe('AmiManager: one provider per stack', () => {
  test('two AmiManagers share one function, alias and waiter; each has its own topic and both topics get the alarms', () => {
    const stack = newStack();
    new AmiManager(stack, 'A', { instanceId: INSTANCE });
    new AmiManager(stack, 'B', { instanceId: 'i-0123456789abcdef1' });
    const template = Template.fromStack(stack);
    const ours = Object.values(template.findResources('AWS::Lambda::Function')).filter((f) => f.Properties.Handler === 'index.handler' && f.Properties.Runtime === 'nodejs24.x');
    expect(ours).toHaveLength(1);
    expect(ours[0].Properties).toMatchObject({
      Architectures: ['arm64'],
      Timeout: 120,
      MemorySize: 512,
      TracingConfig: { Mode: 'Active' },
      Description: 'cdk-fleet-janitor AmiManager: bakes AMIs for CloudFormation and deletes them with every snapshot',
    });
    template.resourceCountIs('AWS::Lambda::Alias', 1);
    template.hasResourceProperties('AWS::Lambda::Alias', { Name: IS_COMPLETE_ALIAS });
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.resourceCountIs(AMI_RESOURCE_TYPE, 2);
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.allResourcesProperties('AWS::SNS::Topic', { DisplayName: 'fleet-janitor AmiManager reports' });
    // Each topic its own statements, with statement ids unique in the one policy.
    const sids = handlerStatements(stack, template).map((st) => st.Sid);
    expect(sids.filter((sid) => sid.startsWith('PublishReports') || sid.startsWith('EncryptReports')))
      .toEqual(['PublishReports', 'EncryptReports', 'PublishReports2', 'EncryptReports2']);
    expect(new Set(sids).size).toBe(sids.length);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(2);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(2);
  });

  test('the waiter polls isComplete every 30 s for at most an hour, through the alias, logging ALL to an encrypted-capable log group', () => {
    const { template } = build();
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0];
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    expect(definition).toContain(`\\"IntervalSeconds\\":${QUERY_INTERVAL.toSeconds()}`);
    expect(definition).toContain(`\\"MaxAttempts\\":${3_600 / QUERY_INTERVAL.toSeconds()}`);
    expect(machine.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ USER_IS_COMPLETE_FUNCTION_ARN: Match.anyValue() }) },
    });
  });

  test('different function props in one stack: a clear error naming the prop', () => {
    const stack = newStack();
    new AmiManager(stack, 'A', { instanceId: INSTANCE });
    expect(() => new AmiManager(stack, 'B', { instanceId: INSTANCE, memorySize: 1024 }))
      .toThrow(/AmiManager: invalid memorySize at TestStack\/B: the AmiManagers of a stack share one provider function, so memorySize must be the same/);
    const key = new kms.Key(stack, 'K');
    expect(() => new AmiManager(stack, 'C', { instanceId: INSTANCE, logEncryptionKey: key })).toThrow(/invalid logEncryptionKey/);
  });

  test('equal lists and structs count as the same props (Python, Java and Go pass new copies)', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const sg = new ec2.SecurityGroup(stack, 'Sg', { vpc });
    const other = new ec2.SecurityGroup(stack, 'Other', { vpc });
    new AmiManager(stack, 'A', { instanceId: INSTANCE, vpc, securityGroups: [sg], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } });
    expect(() => new AmiManager(stack, 'B', {
      instanceId: INSTANCE, vpc, securityGroups: [sg], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    })).not.toThrow();
    expect(() => new AmiManager(stack, 'C', { instanceId: INSTANCE, vpc, securityGroups: [other], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } }))
      .toThrow(/invalid securityGroups/);
    expect(() => new AmiManager(stack, 'D', { instanceId: INSTANCE, vpc, securityGroups: [sg, other], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } }))
      .toThrow(/invalid securityGroups/);
    expect(() => new AmiManager(stack, 'E', { instanceId: INSTANCE, vpc, securityGroups: [sg], vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } }))
      .toThrow(/invalid vpcSubnets/);
    expect(() => new AmiManager(stack, 'F', { instanceId: INSTANCE, vpc, securityGroups: [sg] })).toThrow(/invalid vpcSubnets/);
    expect(() => new AmiManager(stack, 'G', { instanceId: INSTANCE, vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } }))
      .toThrow(/invalid securityGroups/);
    expect(() => new AmiManager(stack, 'H', {
      instanceId: INSTANCE, vpc, securityGroups: [sg], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, onePerAz: true },
    })).toThrow(/invalid vpcSubnets/);
  });

  test('lists: a prefix, or the same length with one item different, is not the same', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const [a, b, c] = ['A', 'B', 'C'].map((id) => new ec2.SecurityGroup(stack, id, { vpc }));
    new AmiManager(stack, 'First', { instanceId: INSTANCE, vpc, securityGroups: [a, b] });
    expect(() => new AmiManager(stack, 'Prefix', { instanceId: INSTANCE, vpc, securityGroups: [a] })).toThrow(/invalid securityGroups/);
    expect(() => new AmiManager(stack, 'OneDiffers', { instanceId: INSTANCE, vpc, securityGroups: [a, c] })).toThrow(/invalid securityGroups/);
    expect(() => new AmiManager(stack, 'Same', { instanceId: INSTANCE, vpc, securityGroups: [a, b] })).not.toThrow();
  });

  test('the is-complete alias points at the current version, which is deleted once replaced', () => {
    const { template } = build();
    const versions = Object.values(template.findResources('AWS::Lambda::Version'));
    expect(versions).toHaveLength(1);
    expect(versions[0].DeletionPolicy).toBe('Delete');
  });

  test('the same topic for two AmiManagers is granted and alarmed once', () => {
    const stack = newStack();
    const topic = new sns.Topic(stack, 'Shared');
    new AmiManager(stack, 'A', { instanceId: INSTANCE, topic });
    new AmiManager(stack, 'B', { instanceId: 'i-0123456789abcdef1', topic });
    const template = Template.fromStack(stack);
    const statements = handlerStatements(stack, template);
    expect(statements.filter((s) => s.Action === 'sns:Publish')).toHaveLength(1);
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) expect(alarm.Properties.AlarmActions).toHaveLength(1);
  });
});

describe('AmiManager: IAM', () => {
  test('exactly the statements the behaviour needs, destructive ones scoped to this stack\'s ownership tag', () => {
    const { stack, template, ami } = build({ shareWithAccounts: ['111111111111'] });
    const topicId = stack.getLogicalId(ami.topic.node.defaultChild as never);
    const keyId = stack.getLogicalId(ami.node.findChild('TopicKey').node.defaultChild as never);
    const images = arn(':ec2:eu-west-1::image/*');
    const snapshots = arn(':ec2:eu-west-1::snapshot/*');
    expect(handlerStatements(stack, template)).toEqual([
      { Sid: 'DescribeImages', Effect: 'Allow', Action: ['ec2:DescribeImages', 'ec2:DescribeImageAttribute', 'ec2:DescribeSnapshots'], Resource: '*' },
      { Sid: 'CreateImageFromInstances', Effect: 'Allow', Action: 'ec2:CreateImage', Resource: arn(`:ec2:eu-west-1:123456789012:instance/${INSTANCE}`) },
      {
        Sid: 'CreateTaggedImages',
        Effect: 'Allow',
        Action: 'ec2:CreateImage',
        Resource: [images, snapshots],
        Condition: { StringEquals: { [`aws:RequestTag/${OWNERSHIP_TAGS.stackId}`]: { Ref: 'AWS::StackId' } } },
      },
      { Sid: 'TagAtCreation', Effect: 'Allow', Action: 'ec2:CreateTags', Resource: [images, snapshots], Condition: { StringEquals: { 'ec2:CreateAction': 'CreateImage' } } },
      {
        Sid: 'RetagOwnImages',
        Effect: 'Allow',
        Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
        Resource: [images, snapshots],
        Condition: { ...ownStack, 'ForAllValues:StringNotLike': { 'aws:TagKeys': ['fleet-janitor:ami:*'] } },
      },
      {
        Sid: 'ChangeOwnImages',
        Effect: 'Allow',
        Resource: images,
        Condition: ownStack,
        Action: ['ec2:DeregisterImage', 'ec2:ModifyImageAttribute', 'ec2:EnableImageDeprecation', 'ec2:DisableImageDeprecation'],
      },
      { Sid: 'ChangeOwnSnapshots', Effect: 'Allow', Action: ['ec2:DeleteSnapshot', 'ec2:ModifySnapshotAttribute'], Resource: snapshots, Condition: ownStack },
      { Sid: 'PublishReports', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } },
      { Sid: 'EncryptReports', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });

  test('stopInstanceAfterImage: StopInstances on that instance only; the instance list grows with each AmiManager', () => {
    const stack = newStack();
    new AmiManager(stack, 'A', { instanceId: INSTANCE, stopInstanceAfterImage: true });
    new AmiManager(stack, 'B', { instanceId: 'i-0123456789abcdef1' });
    new AmiManager(stack, 'C', { instanceId: 'i-0123456789abcdef2', stopInstanceAfterImage: true });
    const statements = handlerStatements(stack, Template.fromStack(stack));
    expect(statements.find((s) => s.Sid === 'StopSourceInstances')).toEqual({
      Sid: 'StopSourceInstances',
      Effect: 'Allow',
      Action: 'ec2:StopInstances',
      Resource: [arn(`:ec2:eu-west-1:123456789012:instance/${INSTANCE}`), arn(':ec2:eu-west-1:123456789012:instance/i-0123456789abcdef2')],
    });
    expect(statements.find((s) => s.Sid === 'CreateImageFromInstances').Resource).toHaveLength(3);
  });

  test('nothing of ours is inline: the handler role has only its two managed policies', () => {
    const { stack, template } = build();
    const handler = stack.node.findChild(PROVIDER_ID).node.findChild('Handler');
    const roleId = stack.getLogicalId(handler.node.findChild('Role').node.defaultChild as never);
    const inline = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId));
    expect(inline).toEqual([]);
    expect(Object.keys(template.findResources('AWS::IAM::ManagedPolicy', { Properties: { Roles: [{ Ref: roleId }] } }))).toHaveLength(2);
  });
});

describe('AmiManager: metrics and the common janitor interface', () => {
  test('metricXxx() read the names and dimensions the handler emits', () => {
    const { stack, ami } = build();
    const fnName = stack.resolve(ami.handler.functionName);
    const cases: Array<[() => any, string]> = [
      [() => ami.metricResourcesScanned(), METRIC_NAMES.scanned],
      [() => ami.metricActionsTaken(), METRIC_NAMES.actionsTaken],
      [() => ami.metricActionsFailed(), METRIC_NAMES.actionsFailed],
      [() => ami.metricSkippedProtected(), METRIC_NAMES.skippedProtected],
      [() => ami.metricSkippedCap(), METRIC_NAMES.skippedCap],
    ];
    for (const [make, name] of cases) {
      const metric = make();
      expect(metric.namespace).toBe(METRICS_NAMESPACE);
      expect(metric.metricName).toBe(name);
      expect(stack.resolve(metric.dimensions)).toEqual({ service: 'AmiManager', FunctionName: fnName });
    }
    expect(ami.janitorName).toBe('AmiManager');
    expect(ami.alarms).toHaveLength(2);
  });
});

describe('AmiManager: validation before any resource', () => {
  const cases: Array<[string, Partial<AmiManagerProps>, RegExp]> = [
    ['neither instance nor instanceId', { instanceId: undefined }, /invalid instance .*give exactly one of instance and instanceId/],
    ['a malformed instance id', { instanceId: 'i-xyz' }, /invalid instanceId \("i-xyz"\): must be an EC2 instance id/],
    // The pattern is anchored at both ends: a valid id inside a longer string is not one.
    ['an id with a prefix', { instanceId: 'xi-0123456789abcdef0' }, /invalid instanceId \("xi-0123456789abcdef0"\)/],
    ['an id of 18 hex digits', { instanceId: 'i-0123456789abcdef01' }, /invalid instanceId \("i-0123456789abcdef01"\)/],
    ['a 2-character name', { imageName: 'ab' }, /invalid imageName \("ab"\): must have 3 to 119 characters/],
    ['a 120-character name', { imageName: 'a'.repeat(120) }, /must have 3 to 119 characters/],
    ['a name EC2 refuses', { imageName: 'web:golden' }, /invalid imageName \("web:golden"\): EC2 allows only letters/],
    ['a 256-character description', { description: 'd'.repeat(256) }, /invalid description .*at most 255 characters/],
    ['a reserved tag key', { tags: { 'fleet-janitor:ami:stack-id': 'x' } }, /invalid tags \("fleet-janitor:ami:stack-id"\): keys starting with .* reserved for the ownership tags/],
    ['an aws: tag key', { tags: { 'AWS:x': 'y' } }, /invalid tags \("AWS:x"\): keys starting with "aws:" are reserved by AWS/],
    ['a 129-character tag key', { tags: { ['k'.repeat(129)]: 'v' } }, /invalid tags key .*1 to 128 characters/],
    ['47 tags', { tags: Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`k${i}`, 'v'])) }, /invalid tags \(47\): at most 46 tags/],
    ['deprecateAfter under a minute', { deprecateAfter: Duration.seconds(59) }, /invalid deprecateAfter .*at least 1 minute/],
    ['deprecateAfter over 10 years', { deprecateAfter: Duration.days(3_651) }, /invalid deprecateAfter .*at most 3650 days/],
    ['a timeout under 5 minutes', { timeout: Duration.minutes(4) }, /invalid timeout .*at least 5 minutes/],
    ['a timeout over an hour', { timeout: Duration.minutes(61) }, /invalid timeout .*at most 1 hour/],
    ['an 11-digit account', { shareWithAccounts: ['11111111111'] }, /invalid shareWithAccounts \("11111111111"\): an account id is 12 digits/],
    ['a 13-digit account', { shareWithAccounts: ['1111111111112'] }, /invalid shareWithAccounts \("1111111111112"\): an account id is 12 digits/],
    ['an account with a prefix', { shareWithAccounts: ['x111111111111'] }, /invalid shareWithAccounts \("x111111111111"\)/],
    ['101 accounts', { shareWithAccounts: Array.from({ length: 101 }, (_, i) => String(100_000_000_000 + i)) }, /at most 100 accounts/],
    ['RemovalPolicy.SNAPSHOT', { removalPolicy: RemovalPolicy.SNAPSHOT }, /must be RemovalPolicy.DESTROY or RemovalPolicy.RETAIN/],
    ['a 64 MiB function', { memorySize: 64 }, /invalid memorySize/],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    const stack = newStack();
    expect(() => new AmiManager(stack, 'Golden', { instanceId: INSTANCE, ...props } as AmiManagerProps)).toThrow(message);
    expect(stack.node.children).toHaveLength(0);
  });

  test('both instance and instanceId', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
    const instance = new ec2.Instance(stack, 'Source', { vpc, instanceType: new ec2.InstanceType('t3.micro'), machineImage: ec2.MachineImage.latestAmazonLinux2023() });
    expect(() => new AmiManager(stack, 'Golden', { instance, instanceId: INSTANCE })).toThrow(/invalid instance \("TestStack\/Source"\): give exactly one/);
  });

  test('both instance id lengths EC2 has used are accepted: 8 and 17 hex digits', () => {
    for (const instanceId of ['i-01234567', 'i-0123456789abcdef0']) expect(() => new AmiManager(newStack(), 'Golden', { instanceId })).not.toThrow();
  });

  test('the limits themselves are accepted: a 3- and a 119-character name, 46 tags, "aws:" inside a key', () => {
    for (const imageName of ['abc', 'n'.repeat(119)]) expect(() => new AmiManager(newStack(), 'Golden', { instanceId: INSTANCE, imageName })).not.toThrow();
    const tags = { ...Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`k${i}`, 'v'])), 'team-aws:owner': 'web' };
    expect(() => new AmiManager(newStack(), 'Golden', { instanceId: INSTANCE, tags })).not.toThrow();
  });

  test('tokens are not validated at synth (the handler checks them)', () => {
    const stack = newStack();
    const id = new ec2.CfnInstance(stack, 'I', {}).ref;
    expect(() => new AmiManager(stack, 'Golden', { instanceId: id, shareWithAccounts: [stack.account] })).not.toThrow();
  });
});

describe('AmiManager: compliance', () => {
  test('defaults: every rule pack reports nothing unacknowledged', () => {
    const { stack } = build();
    const acknowledged = expectNoNagFindings(stack);
    // The reasons are the ones written for each finding (spot checks of the three kinds).
    expect(acknowledged.filter((a) => a.ruleId === 'AwsSolutions-L1').map((a) => a.path).sort()).toEqual([
      'TestStack/FleetJanitorAmiManagerProvider/Provider/framework-isComplete/Resource',
      'TestStack/FleetJanitorAmiManagerProvider/Provider/framework-onEvent/Resource',
      'TestStack/FleetJanitorAmiManagerProvider/Provider/framework-onTimeout/Resource',
    ]);
    expect(acknowledged.find((a) => a.findingId === 'Resource::arn:<AWS::Partition>:ec2:eu-west-1::image/*')?.reason).toMatch(/CreateImage requires the request to carry/);
    expect(acknowledged.find((a) => a.ruleId === 'Serverless-LambdaDLQ' && a.path.includes('/Handler/Function/'))?.reason).toMatch(/^Invoked synchronously/);
  });

  test('everything on, two AmiManagers: every rule pack reports nothing unacknowledged (the VPC is the user\'s)', () => {
    const stack = newStack();
    const { props, user } = amiManagerEverythingOn(stack);
    new AmiManager(stack, 'A', props);
    new AmiManager(stack, 'B', { ...props, instanceId: 'i-0123456789abcdef1', topic: undefined });
    const acknowledged = expectNoNagFindings(stack, { userConstructs: [user] });
    expect(acknowledged.filter((a) => a.ruleId.endsWith('-LambdaInsideVPC'))).toEqual([]);
  });

  test('snapshot of the everything-on template (asset hashes masked)', () => {
    const stack = newStack();
    new AmiManager(stack, 'Golden', amiManagerEverythingOn(stack).props);
    expect(maskedTemplate(stack)).toMatchSnapshot();
  });

  test('tracing can be turned off for the shared function', () => {
    const { template } = build({ tracing: lambda.Tracing.DISABLED });
    const ours = Object.values(template.findResources('AWS::Lambda::Function')).filter((f) => f.Properties.Runtime === 'nodejs24.x');
    expect(ours[0].Properties.TracingConfig).toBeUndefined();
  });
});
