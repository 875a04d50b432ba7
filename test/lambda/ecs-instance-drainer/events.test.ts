import { drainOf } from './harness';
import { readConfig } from '../../../lambda/ecs-instance-drainer/config';
import { isStepInput, parseStartEvent, parseStepInput } from '../../../lambda/ecs-instance-drainer/events';
import { ConfigError, EventShapeError } from '../../../lambda/shared/errors';

const TOKEN = '3f1a0c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
const INSTANCE = 'i-0123456789abcdef0';

const lifecycleEvent = (detail: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) => ({
  'version': '0',
  'id': '12345678-1234-1234-1234-123456789012',
  'detail-type': 'EC2 Instance-terminate Lifecycle Action',
  'source': 'aws.autoscaling',
  'account': '111122223333',
  'time': '2026-06-01T10:00:00Z',
  'region': 'eu-west-1',
  'resources': ['arn:aws:autoscaling:eu-west-1:111122223333:autoScalingGroup:5e6f:autoScalingGroupName/ecs-capacity'],
  'detail': {
    LifecycleActionToken: TOKEN,
    AutoScalingGroupName: 'ecs-capacity',
    LifecycleHookName: 'fleet-janitor-drain',
    EC2InstanceId: INSTANCE,
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    Origin: 'AutoScalingGroup',
    Destination: 'EC2',
    ...detail,
  },
  ...envelope,
});

const spotEvent = (detail: Record<string, unknown> = {}) => ({
  'version': '0',
  'id': 'a1b2c3d4-0000-4000-8000-000000000001',
  'detail-type': 'EC2 Spot Instance Interruption Warning',
  'source': 'aws.ec2',
  'account': '111122223333',
  'time': '2026-06-01T10:00:00Z',
  'region': 'eu-west-1',
  'resources': [`arn:aws:ec2:eu-west-1a:instance/${INSTANCE}`],
  'detail': { 'instance-id': INSTANCE, 'instance-action': 'terminate', ...detail },
});

/** A drain as a step receives it, with any field replaced (invalid values included). */
const drain = (props: Record<string, unknown> = {}) => ({ ...drainOf(), ...props });

describe('parseStartEvent', () => {
  test('a termination lifecycle action: the instance, group, hook and token, from the event\'s time', () => {
    expect(parseStartEvent(lifecycleEvent())).toEqual({
      kind: 'lifecycle',
      instanceId: INSTANCE,
      autoScalingGroupName: 'ecs-capacity',
      lifecycleHookName: 'fleet-janitor-drain',
      lifecycleActionToken: TOKEN,
      time: '2026-06-01T10:00:00.000Z',
      eventId: '12345678-1234-1234-1234-123456789012',
    });
  });

  test('a Spot interruption warning: the instance only', () => {
    expect(parseStartEvent(spotEvent())).toEqual({
      kind: 'spot', instanceId: INSTANCE, time: '2026-06-01T10:00:00.000Z', eventId: 'a1b2c3d4-0000-4000-8000-000000000001',
    });
  });

  test.each([
    ['not an object', [], /expected an EventBridge event object, got an array/],
    ['an unknown field', { ...lifecycleEvent(), extra: 1 }, /unexpected field "extra"/],
    ['no detail', (() => { const e: Record<string, unknown> = lifecycleEvent(); delete e.detail; return e; })(), /"detail" is missing/],
    ['a bad time', lifecycleEvent({}, { time: 'yesterday' }), /"time" must be/],
    ['a time of the right shape that is no time', lifecycleEvent({}, { time: '2026-13-45T99:00:00Z' }), /"time" must be a valid time, got "2026-13-45T99:00:00Z"/],
    ['an id that is undefined (as good as missing)', lifecycleEvent({}, { id: undefined }), /"id" is missing/],
    ['a group name with a control character', lifecycleEvent({ AutoScalingGroupName: 'ecs\u0000capacity' }), /"detail.AutoScalingGroupName" must be an Auto Scaling group name/],
    ['another detail-type', lifecycleEvent({}, { 'detail-type': 'EC2 Instance-launch Lifecycle Action' }), /"detail-type" must be "EC2 Instance-terminate Lifecycle Action" or/],
    ['a lifecycle action from another source', lifecycleEvent({}, { source: 'custom.app' }), /"source" of a lifecycle action must be "aws.autoscaling", got "custom.app"/],
    ['a launch transition', lifecycleEvent({ LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING' }), /"detail.LifecycleTransition" must be "autoscaling:EC2_INSTANCE_TERMINATING"/],
    ['a bad instance id', lifecycleEvent({ EC2InstanceId: 'i-xyz' }), /"detail.EC2InstanceId" must be an instance id such as "i-0123456789abcdef0", got "i-xyz"/],
    ['a group ARN instead of its name', lifecycleEvent({ AutoScalingGroupName: 'arn:aws:autoscaling:x' }), /"detail.AutoScalingGroupName" must be an Auto Scaling group name/],
    ['no hook name', lifecycleEvent({ LifecycleHookName: undefined }), /"detail.LifecycleHookName" must be a lifecycle hook name/],
    ['a token that is not a UUID', lifecycleEvent({ LifecycleActionToken: 'abc' }), /"detail.LifecycleActionToken" must be a lifecycle action token \(a UUID\), got "abc"/],
    ['a Spot warning from another source', { ...spotEvent(), source: 'aws.autoscaling' }, /"source" of a Spot interruption warning must be "aws.ec2"/],
    ['a Spot warning without an instance', spotEvent({ 'instance-id': 7 }), /"detail.instance-id" must be an instance id/],
    ['a Spot warning with an unknown action', spotEvent({ 'instance-action': 'explode' }), /"detail.instance-action" must be terminate, stop or hibernate, got "explode"/],
  ])('rejected, nothing changed: %s', (_name, event, message) => {
    expect(() => parseStartEvent(event)).toThrow(EventShapeError);
    expect(() => parseStartEvent(event)).toThrow(message);
    expect(() => parseStartEvent(event)).toThrow(/^Rejected event: .*\. No resource was changed\.$/);
  });

  test('stop and hibernate warnings start a drain too (the instance leaves the cluster either way)', () => {
    expect(parseStartEvent(spotEvent({ 'instance-action': 'stop' })).kind).toBe('spot');
    expect(parseStartEvent(spotEvent({ 'instance-action': 'hibernate' })).kind).toBe('spot');
  });

  test('a token in upper case is read in lower case (the execution name is built from it)', () => {
    expect(parseStartEvent(lifecycleEvent({ LifecycleActionToken: TOKEN.toUpperCase() })).lifecycleActionToken).toBe(TOKEN);
  });
});

describe('parseStepInput', () => {
  test('a check with its drain', () => {
    expect(isStepInput({ step: 'check', drain: drain() })).toBe(true);
    expect(isStepInput(lifecycleEvent())).toBe(false);
    expect(parseStepInput({ step: 'check', drain: drain() })).toEqual({ step: 'check', drain: drain() });
  });

  test('the failed step keeps what Step Functions caught', () => {
    expect(parseStepInput({ step: 'failed', drain: drain(), error: { Error: 'Lambda.Unknown', Cause: 'boom' } }).error).toEqual({ Error: 'Lambda.Unknown', Cause: 'boom' });
  });

  test('a Spot drain carries no hook and no token', () => {
    const spot = drain({ kind: 'spot', lifecycleHookName: 'ignored', lifecycleActionToken: 'ignored' });
    expect(parseStepInput({ step: 'begin', drain: spot }).drain).not.toHaveProperty('lifecycleActionToken');
  });

  test.each([
    ['an unknown step', { step: 'sleep', drain: drain() }, /"step" must be one of begin, check, failed, got "sleep"/],
    ['no drain', { step: 'check' }, /"drain" must be an object, got undefined/],
    ['an unknown kind', { step: 'check', drain: drain({ kind: 'scale-in' }) }, /"drain.kind" must be lifecycle or spot/],
    ['a bad next', { step: 'check', drain: drain({ next: 'SLEEP' }) }, /"drain.next" must be one of WAIT, CONTINUE_AS_NEW, END/],
    ['a negative count', { step: 'check', drain: drain({ checks: -1 }) }, /"drain.checks" must be an integer from 0/],
    ['a bad start time', { step: 'check', drain: drain({ startedAt: 'now' }) }, /"drain.startedAt" must be an ISO 8601 time/],
    ['an execution name too long', { step: 'check', drain: drain({ executionName: 'x'.repeat(81) }) }, /"drain.executionName" must be an execution name/],
    ['a container instance that is not an ARN', { step: 'check', drain: drain({ containerInstanceArn: 'ci-1' }) }, /"drain.containerInstanceArn" must be a container instance ARN/],
    ['an error that is not an object', { step: 'failed', drain: drain(), error: 'boom' }, /"error" must be the object Step Functions caught/],
  ])('rejected: %s', (_name, input, message) => {
    expect(() => parseStepInput(input)).toThrow(message);
  });
});

describe('readConfig', () => {
  const ENV = {
    TOPIC_ARN: 'arn:aws:sns:eu-west-1:111122223333:drains',
    CLUSTER_ARN: 'arn:aws:ecs:eu-west-1:111122223333:cluster/prod',
    STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:111122223333:stateMachine:EcsInstanceDrainer-1A2B3C',
    AUTO_SCALING_GROUPS: '["ecs-capacity"]',
    POLL_INTERVAL_SECONDS: '10',
    HEARTBEAT_TIMEOUT_SECONDS: '300',
    MAX_DRAIN_SECONDS: '3600',
    ON_TIMEOUT: 'CONTINUE',
  };

  test('the settings, with the defaults of the optional ones', () => {
    expect(readConfig(ENV)).toEqual({
      topicArn: ENV.TOPIC_ARN,
      clusterArn: ENV.CLUSTER_ARN,
      stateMachineArn: ENV.STATE_MACHINE_ARN,
      autoScalingGroups: ['ecs-capacity'],
      pollIntervalSeconds: 10,
      heartbeatTimeoutSeconds: 300,
      maxDrainSeconds: 3_600,
      onTimeout: 'CONTINUE',
      stopStandaloneAfterSeconds: undefined,
      spotInterruptions: true,
      notifyOnEveryDrain: false,
      dryRun: false,
    });
    expect(readConfig({ ...ENV, STOP_STANDALONE_AFTER_SECONDS: '0', ON_TIMEOUT: 'ABANDON' })).toMatchObject({ stopStandaloneAfterSeconds: 0, onTimeout: 'ABANDON' });
  });

  test.each([
    [{ CLUSTER_ARN: 'prod' }, /CLUSTER_ARN.*expected an ECS cluster ARN/],
    [{ STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:111122223333:execution:x:y' }, /STATE_MACHINE_ARN.*expected a Step Functions state machine ARN/],
    [{ AUTO_SCALING_GROUPS: '[]' }, /AUTO_SCALING_GROUPS.*at least 1/],
    [{ HEARTBEAT_TIMEOUT_SECONDS: '29' }, /HEARTBEAT_TIMEOUT_SECONDS.*from 30 to 7200/],
    [{ MAX_DRAIN_SECONDS: '172801' }, /MAX_DRAIN_SECONDS.*to 172800/],
    [{ HEARTBEAT_TIMEOUT_SECONDS: '30', MAX_DRAIN_SECONDS: '3001' }, /MAX_DRAIN_SECONDS.*at most 100 heartbeat timeouts \(3000\)/],
    [{ ON_TIMEOUT: 'DEFAULT' }, /ON_TIMEOUT.*one of CONTINUE, ABANDON/],
    [{ POLL_INTERVAL_SECONDS: '0' }, /POLL_INTERVAL_SECONDS/],
    [{ TOPIC_ARN: '' }, /TOPIC_ARN/],
  ])('%j: a ConfigError naming the variable', (change, message) => {
    expect(() => readConfig({ ...ENV, ...change })).toThrow(ConfigError);
    expect(() => readConfig({ ...ENV, ...change })).toThrow(message);
  });

  test('100 heartbeat timeouts exactly is allowed', () => {
    expect(readConfig({ ...ENV, HEARTBEAT_TIMEOUT_SECONDS: '30', MAX_DRAIN_SECONDS: '3000' }).maxDrainSeconds).toBe(3_000);
  });
});
