import * as nodePath from 'path';
import { App, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ASSETS_DIR } from '../../src/common/handler-function';
import { ENV, LIFECYCLE_DETAIL_TYPE, SPOT_DETAIL_TYPE } from '../../src/ecs-instance-drainer/contract';
import { DrainTimeoutAction } from '../../src/ecs-instance-drainer/drain-timeout-action';
import { EcsInstanceDrainer, EcsInstanceDrainerProps } from '../../src/ecs-instance-drainer/ecs-instance-drainer';
import { expectNoNagFindings } from '../helpers/nag';
import { maskedTemplate } from '../helpers/template';

const CLUSTER_ARN = 'arn:aws:ecs:eu-west-1:111122223333:cluster/prod';

function newStack(): Stack {
  return new Stack(new App(), 'TestStack', { env: { account: '111122223333', region: 'eu-west-1' } });
}

/** An imported cluster and group, the way a platform team that owns them elsewhere would pass them. */
function fleet(stack: Stack) {
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-0123', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-0123'] });
  const cluster = ecs.Cluster.fromClusterAttributes(stack, 'Cluster', { clusterName: 'prod', clusterArn: CLUSTER_ARN, vpc });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', 'ecs-capacity');
  return { cluster, autoScalingGroup, vpc };
}

function build(props: Partial<EcsInstanceDrainerProps> = {}, stack = newStack()) {
  const drainer = new EcsInstanceDrainer(stack, 'Drainer', { ...fleet(stack), ...props });
  return { stack, drainer, template: Template.fromStack(stack) };
}

const envOf = (template: Template) => Object.values(template.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
const statementsOf = (template: Template) => Object.values(template.findResources('AWS::IAM::ManagedPolicy'))
  .flatMap((p: any) => p.Properties.PolicyDocument.Statement) as Array<Record<string, any>>;
const statement = (template: Template, sid: string) => statementsOf(template).find((s) => s.Sid === sid);

describe('resources', () => {
  test('a termination lifecycle hook on the group: heartbeat timeout, default CONTINUE, no notification role (EventBridge)', () => {
    const { template } = build();
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 1);
    template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      AutoScalingGroupName: 'ecs-capacity',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      HeartbeatTimeout: 300,
      DefaultResult: 'CONTINUE',
      NotificationTargetARN: Match.absent(),
      RoleARN: Match.absent(),
    });
  });

  test('a rule for the group\'s lifecycle actions of this hook, and one for Spot warnings, both to the handler with a dead-letter queue', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.autoscaling'],
        'detail-type': [LIFECYCLE_DETAIL_TYPE],
        'detail': { AutoScalingGroupName: ['ecs-capacity'], LifecycleHookName: [{ Ref: Match.anyValue() }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DrainerHandler'), 'Arn'] }, DeadLetterConfig: Match.anyValue() })],
    });
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: { 'source': ['aws.ec2'], 'detail-type': [SPOT_DETAIL_TYPE] } });
    template.resourceCountIs('AWS::Events::Rule', 2);
  });

  test('spotInterruptions: false: no Spot rule, and no permission to look up groups', () => {
    const { template } = build({ spotInterruptions: false });
    template.resourceCountIs('AWS::Events::Rule', 1);
    expect(envOf(template)[ENV.spotInterruptions]).toBe('false');
    expect(statement(template, 'FindGroupOfSpotInstance')).toBeUndefined();
  });

  test('a standard state machine with its own log group (ALL, with execution data), X-Ray, named for the handler to start it', () => {
    const { template, drainer } = build();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: Match.anyValue() },
      StateMachineName: Match.stringLikeRegexp('^TestStack-Drainer-[A-Za-z0-9-]+$'),
    });
    const name = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0].Properties.StateMachineName as string;
    expect(name.length).toBeLessThanOrEqual(80);
    expect(envOf(template)[ENV.stateMachineArn]).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:states:eu-west-1:111122223333:stateMachine:${name}`]],
    });
    expect(drainer.stateMachine).toBeDefined();
  });

  test('the definition: resume or begin, wait by the check\'s own seconds, route on next, hand over, report failures', () => {
    const { template } = build();
    const definition = JSON.parse(JSON.stringify(Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0].Properties.DefinitionString)
      .replace(/\{"Fn::GetAtt":\[[^\]]+\]\}/g, '"FN"').replace(/\{"Ref":"[^"]+"\}/g, '"REF"'));
    const text = (definition['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'X')).join('');
    const states = JSON.parse(text);
    expect(states.StartAt).toBe('Resumed');
    expect(states.States.Resumed).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.drain.containerInstanceArn', IsPresent: true, Next: 'WaitForTasks' }],
      Default: 'Begin',
    });
    expect(states.States.WaitForTasks).toEqual({ Type: 'Wait', SecondsPath: '$.drain.waitSeconds', Next: 'Check' });
    expect(states.States.Check).toMatchObject({
      Resource: 'arn:REF:states:::lambda:invoke',
      Parameters: { Payload: { 'step': 'check', 'drain.$': '$.drain' } },
      ResultSelector: { 'drain.$': '$.Payload' },
      Next: 'NextStep',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ReportFailure' }],
    });
    expect(states.States.Check.Retry).toContainEqual({ ErrorEquals: ['States.ALL'], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2, MaxDelaySeconds: 120 });
    expect(states.States.NextStep.Choices).toEqual([
      { Variable: '$.drain.next', StringEquals: 'WAIT', Next: 'WaitForTasks' },
      { Variable: '$.drain.next', StringEquals: 'CONTINUE_AS_NEW', Next: 'ContinueInNewExecution' },
    ]);
    expect(states.States.NextStep.Default).toBe('DrainOver');
    expect(states.States.ReportFailure).toMatchObject({ Parameters: { Payload: { 'step': 'failed', 'drain.$': '$.drain', 'error.$': '$.error' } }, Next: 'DrainFailed' });
    expect(states.States.ContinueInNewExecution).toMatchObject({
      Resource: 'arn:REF:states:::states:startExecution',
      Parameters: { 'Input': { 'drain.$': '$.drain' }, 'Name.$': "States.Format('{}-{}', $.drain.executionName, States.JsonToString($.drain.generation))" },
      Next: 'DrainOver',
    });
  });

  test('the handler\'s environment says what the props say', () => {
    const { template } = build({
      pollInterval: Duration.seconds(20),
      heartbeatTimeout: Duration.minutes(10),
      maxDrainTime: Duration.hours(6),
      onTimeout: DrainTimeoutAction.ABANDON,
      stopStandaloneTasksAfter: Duration.minutes(30),
      notifyOnEveryDrain: true,
    });
    expect(envOf(template)).toMatchObject({
      [ENV.cluster]: CLUSTER_ARN,
      [ENV.autoScalingGroups]: '["ecs-capacity"]',
      [ENV.pollIntervalSeconds]: '20',
      [ENV.heartbeatTimeoutSeconds]: '600',
      [ENV.maxDrainSeconds]: '21600',
      [ENV.onTimeout]: 'ABANDON',
      [ENV.stopStandaloneAfterSeconds]: '1800',
      [ENV.notifyOnEveryDrain]: 'true',
      [ENV.dryRun]: 'false',
    });
    template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', { HeartbeatTimeout: 600 });
  });

  test('the handler runs the pre-built ecs-instance-drainer bundle; the alarms are the four', () => {
    const { template, drainer } = build();
    const expected = lambda.Code.fromAsset(nodePath.join(ASSETS_DIR, 'ecs-instance-drainer')).bind(newStack()).s3Location!.objectKey;
    template.hasResourceProperties('AWS::Lambda::Function', { Code: { S3Key: expected }, Handler: 'index.handler', Architectures: ['arm64'] });
    expect(drainer.alarms).toEqual([drainer.errorAlarm, drainer.throttleAlarm, drainer.deadLetterAlarm, drainer.executionAlarm]);
  });

  test('logRetention applies to the state machine\'s log group too; its timeout is the longest drain plus an hour', () => {
    const { template } = build({ logRetention: logs.RetentionDays.ONE_WEEK, heartbeatTimeout: Duration.hours(2), maxDrainTime: Duration.hours(48) });
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup')).map((g: any) => g.Properties.RetentionInDays);
    expect(groups).toEqual([7, 7]);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { DefinitionString: Match.anyValue() });
    const definition = JSON.stringify(Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0].Properties.DefinitionString);
    expect(definition).toContain('\\"TimeoutSeconds\\":176400');
  });

  test('the defaults: 10 s poll, 5 min heartbeat, 1 h drain, CONTINUE, standalone tasks never stopped, a 1-minute check', () => {
    const { template } = build();
    const env = envOf(template);
    expect(env).toMatchObject({ [ENV.pollIntervalSeconds]: '10', [ENV.heartbeatTimeoutSeconds]: '300', [ENV.maxDrainSeconds]: '3600', [ENV.onTimeout]: 'CONTINUE' });
    expect(env).not.toHaveProperty(ENV.stopStandaloneAfterSeconds);
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 60 });
  });

  test('addAutoScalingGroup: a second hook, rule and permission, and the handler knows both groups', () => {
    const stack = newStack();
    const drainer = new EcsInstanceDrainer(stack, 'Drainer', fleet(stack));
    drainer.addAutoScalingGroup(autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Spot', 'ecs-spot'));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 2);
    template.resourceCountIs('AWS::Events::Rule', 3);
    expect(envOf(template)[ENV.autoScalingGroups]).toBe('["ecs-capacity","ecs-spot"]');
    expect(statement(template, 'LifecycleActions2')!.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':autoscaling:eu-west-1:111122223333:autoScalingGroup:*:autoScalingGroupName/ecs-spot']],
    });
  });

  test('an alarm on failed, timed-out and aborted executions notifies the topic', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut + aborted' })]),
      Threshold: 1,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('DrainerTopic') }],
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
  });
});

describe('metrics', () => {
  test('metricDrainDuration: the handler\'s DrainDurationSeconds, its largest value per 5 minutes, under its service and function', () => {
    const { stack, drainer } = build();
    const metric = drainer.metricDrainDuration();
    expect(metric).toMatchObject({ namespace: 'CdkFleetJanitor', metricName: 'DrainDurationSeconds', statistic: 'Maximum' });
    expect(metric.period.toSeconds()).toBe(300);
    expect(stack.resolve(metric.dimensions)).toEqual({ service: 'EcsInstanceDrainer', FunctionName: { Ref: expect.stringMatching(/^DrainerHandlerFunction/) } });
    expect(drainer.metricDrainDuration({ period: Duration.hours(1) }).period.toSeconds()).toBe(3_600);
  });
});

describe('IAM: exactly what a drain does', () => {
  test('ECS on the cluster, its container instances and tasks (with ecs:cluster); lifecycle actions on the group; its own state machine', () => {
    const { template } = build({ stopStandaloneTasksAfter: Duration.minutes(30) });
    const inCluster = { ArnEquals: { 'ecs:cluster': CLUSTER_ARN } };
    expect(statement(template, 'FindContainerInstance')).toMatchObject({ Action: 'ecs:ListContainerInstances', Resource: CLUSTER_ARN });
    expect(statement(template, 'ReadContainerInstance')).toMatchObject({
      Action: ['ecs:DescribeContainerInstances', 'ecs:ListTasks', 'ecs:UpdateContainerInstancesState'], Condition: inCluster,
    });
    expect(statement(template, 'ReadTasks')).toMatchObject({ Action: 'ecs:DescribeTasks', Condition: inCluster });
    expect(statement(template, 'StopStandaloneTasks')).toMatchObject({ Action: 'ecs:StopTask', Condition: inCluster });
    expect(statement(template, 'LifecycleActions')).toMatchObject({ Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'] });
    expect(statement(template, 'StartDrains')).toMatchObject({ Action: 'states:StartExecution' });
    const actions = statementsOf(template).flatMap((s) => [s.Action].flat());
    expect(actions).not.toContain('ecs:DeregisterContainerInstance');
  });

  test('no StopTask without stopStandaloneTasksAfter', () => {
    expect(statement(build().template, 'StopStandaloneTasks')).toBeUndefined();
  });

  test('a dry run: no DRAINING, no StopTask, no heartbeat; only the completion', () => {
    const { template } = build({ dryRun: true, stopStandaloneTasksAfter: Duration.minutes(30) });
    expect(statement(template, 'ReadContainerInstance')!.Action).toEqual(['ecs:DescribeContainerInstances', 'ecs:ListTasks']);
    expect(statement(template, 'StopStandaloneTasks')).toBeUndefined();
    expect(statement(template, 'LifecycleActions')!.Action).toBe('autoscaling:CompleteLifecycleAction');
  });

  test('cdk-nag: nothing unacknowledged', () => {
    const { stack } = build({ stopStandaloneTasksAfter: Duration.minutes(30) });
    expectNoNagFindings(stack);
  });
});

describe('validation: a clear error naming the bad value, before any resource exists', () => {
  test.each([
    ['a heartbeat timeout under 30 s', { heartbeatTimeout: Duration.seconds(29) }, /heartbeatTimeout \(29 seconds\): must be at least 30 seconds/],
    ['a heartbeat timeout over 2 h', { heartbeatTimeout: Duration.seconds(7_201) }, /heartbeatTimeout .*: must be at most 2 hours/],
    ['a drain over 48 h', { heartbeatTimeout: Duration.hours(2), maxDrainTime: Duration.hours(49) }, /maxDrainTime \(2 days 1 hour\): must be at most 2 days/],
    ['a drain over 100 heartbeats', { heartbeatTimeout: Duration.seconds(30), maxDrainTime: Duration.seconds(3_001) },
      /maxDrainTime \(50 minutes 1 second\): must be at most 100 × heartbeatTimeout \(30 seconds\): Auto Scaling ends a lifecycle action after 100 heartbeat timeouts$/],
    ['a poll that leaves no time within the heartbeat', { heartbeatTimeout: Duration.seconds(30), pollInterval: Duration.seconds(16) },
      /pollInterval \(16 seconds\): must leave 15 seconds to a check within heartbeatTimeout \(30 seconds\): a heartbeat is sent at a check, and the hook must not expire between two$/],
    ['a poll of a fraction of a second', { pollInterval: Duration.millis(1_500) }, /pollInterval \(1.5 seconds\): must be a whole number of seconds/],
    ['a standalone grace as long as the drain', { stopStandaloneTasksAfter: Duration.hours(1) }, /stopStandaloneTasksAfter \(1 hour\): must be shorter than maxDrainTime \(1 hour\)/],
    ['a standalone grace over 48 h', { stopStandaloneTasksAfter: Duration.hours(49) }, /stopStandaloneTasksAfter \(2 days 1 hour\): must be at most 2 days/],
    ['a check timeout over 15 minutes', { timeout: Duration.minutes(16) }, /timeout \(16 minutes\): must be at most 15 minutes/],
    ['an unknown onTimeout', { onTimeout: 'DEFAULT' as DrainTimeoutAction }, /onTimeout \("DEFAULT"\): must be one of CONTINUE, ABANDON/],
  ])('%s', (_name, props, message) => {
    const stack = newStack();
    const given = fleet(stack);
    const before = stack.node.findAll().length;
    expect(() => new EcsInstanceDrainer(stack, 'Drainer', { ...given, ...props })).toThrow(message);
    expect(stack.node.findAll().length).toBe(before);
  });

  test('a plain JavaScript caller without the required props gets an error naming them', () => {
    const stack = newStack();
    const { cluster } = fleet(stack);
    expect(() => new EcsInstanceDrainer(stack, 'A', undefined as unknown as EcsInstanceDrainerProps)).toThrow(/^EcsInstanceDrainer: invalid cluster \(undefined\): is required$/);
    expect(() => new EcsInstanceDrainer(stack, 'B', {} as EcsInstanceDrainerProps)).toThrow(/invalid cluster .*: is required/);
    expect(() => new EcsInstanceDrainer(stack, 'C', { cluster } as EcsInstanceDrainerProps)).toThrow(/^EcsInstanceDrainer: invalid autoScalingGroup \(undefined\): is required$/);
  });

  test('durations known only at deploy are not checked against each other', () => {
    const stack = newStack();
    const given = fleet(stack);
    const seconds = new CfnParameter(stack, 'Seconds', { type: 'Number', default: 60 });
    const token = Duration.seconds(seconds.valueAsNumber);
    const cases: Array<Partial<EcsInstanceDrainerProps>> = [
      { pollInterval: token, heartbeatTimeout: Duration.seconds(30), maxDrainTime: Duration.minutes(50) },
      { heartbeatTimeout: token, maxDrainTime: Duration.hours(48) },
      { heartbeatTimeout: Duration.seconds(30), maxDrainTime: token },
      { pollInterval: Duration.seconds(29), heartbeatTimeout: token },
    ];
    cases.forEach((props, i) => expect(() => new EcsInstanceDrainer(stack, `Drainer${i}`, { ...given, ...props })).not.toThrow());
  });

  test('accepted at the boundaries: 30 s heartbeat with a 15 s poll and 100 heartbeats of drain; 48 h with a 2 h heartbeat', () => {
    const shortest = { heartbeatTimeout: Duration.seconds(30), pollInterval: Duration.seconds(15), maxDrainTime: Duration.seconds(3_000) };
    expect(() => build(shortest)).not.toThrow();
    expect(() => build({ heartbeatTimeout: Duration.hours(2), maxDrainTime: Duration.hours(48) })).not.toThrow();
  });
});

describe('another termination hook on the group', () => {
  test('aws-cdk-lib\'s drain hook (Cluster.addCapacity) is warned about, naming it', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }] });
    const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
    const group = cluster.addCapacity('Capacity', { instanceType: new ec2.InstanceType('t3.medium'), vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } });
    new EcsInstanceDrainer(stack, 'Drainer', { cluster, autoScalingGroup: group });
    const warnings = Annotations.fromStack(stack).findWarning('/TestStack/Drainer', Match.stringLikeRegexp('another termination lifecycle hook'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0].entry.data)).toContain('TestStack/Cluster/Capacity/LifecycleHookDrainHook/Resource');
    expect(String(warnings[0].entry.data)).toContain('Two hooks both hold the instance; if it is aws-cdk-lib\'s ECS drain hook (Cluster.addCapacity), '
      + 'add the group with an AsgCapacityProvider (enableManagedDraining: false) instead.');
    // acknowledgeable by its id, as every construct warning is
    expect(String(warnings[0].entry.data)).toContain('[ack: @cdk-fleet-janitor/ecs-instance-drainer:otherTerminationHook]');
  });

  test('no warning for the construct\'s own hook, nor for a launch hook', () => {
    const stack = newStack();
    const { cluster, autoScalingGroup } = fleet(stack);
    new autoscaling.CfnLifecycleHook(stack, 'LaunchHook', { autoScalingGroupName: 'ecs-capacity', lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING' });
    new autoscaling.CfnLifecycleHook(stack, 'OtherGroupHook', { autoScalingGroupName: 'batch', lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' });
    new EcsInstanceDrainer(stack, 'Drainer', { cluster, autoScalingGroup });
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('another termination lifecycle hook'))).toEqual([]);
  });
});

describe('snapshot', () => {
  test('representative stack', () => {
    const stack = newStack();
    new EcsInstanceDrainer(stack, 'Drainer', { ...fleet(stack), stopStandaloneTasksAfter: Duration.minutes(30), maxDrainTime: Duration.hours(4) });
    const template = maskedTemplate(stack);
    expect(JSON.stringify(template)).not.toMatch(/[0-9a-f]{64}/);
    expect(template).toMatchSnapshot();
  });
});
