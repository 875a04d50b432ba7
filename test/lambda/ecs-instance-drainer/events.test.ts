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

/** The environment the construct sets, with its defaults. */
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

describe('readConfig', () => {

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

/** The exact message of a rejection (the class checked too). */
const rejected = (reason: string) => new EventShapeError(reason);

describe('parseStartEvent: each field\'s message, and the edges of its pattern', () => {
  test('an envelope field of the wrong shape is named, with what it must be and the value', () => {
    expect(() => parseStartEvent(lifecycleEvent({}, { account: '1234' }))).toThrow(EventShapeError);
    expect(() => parseStartEvent(lifecycleEvent({}, { account: '1234' }))).toThrow(rejected('"account" must be a 12-digit account id, got "1234"'));
  });

  test.each([
    ['a string', 'x', 'string'],
    ['an array', [], 'an array'],
    ['null', null, 'null'],
  ])('a detail that is %s, not an object', (_name, detail, described) => {
    const event = { ...lifecycleEvent(), detail };
    expect(() => parseStartEvent(event)).toThrow(EventShapeError);
    expect(() => parseStartEvent(event)).toThrow(rejected(`"detail" must be an object, got ${described}`));
  });

  test('another detail-type: both accepted ones named, and the one sent', () => {
    expect(() => parseStartEvent(lifecycleEvent({}, { 'detail-type': 'EC2 Instance-launch Lifecycle Action' }))).toThrow(rejected(
      '"detail-type" must be "EC2 Instance-terminate Lifecycle Action" or "EC2 Spot Instance Interruption Warning", got "EC2 Instance-launch Lifecycle Action"'));
  });

  test.each([
    ['junk before', `x${TOKEN}`],
    ['junk after', `${TOKEN}x`],
  ])('a token with %s is no UUID', (_name, token) => {
    expect(() => parseStartEvent(lifecycleEvent({ LifecycleActionToken: token }))).toThrow(rejected(
      `"detail.LifecycleActionToken" must be a lifecycle action token (a UUID), got "${token}"`));
  });

  test('a hook name of 255 characters is read; 256, a space before or after, are refused', () => {
    expect(parseStartEvent(lifecycleEvent({ LifecycleHookName: 'h'.repeat(255) })).lifecycleHookName).toBe('h'.repeat(255));
    for (const name of ['h'.repeat(256), ' fleet-janitor-drain', 'fleet-janitor-drain ']) {
      expect(() => parseStartEvent(lifecycleEvent({ LifecycleHookName: name }))).toThrow(rejected(
        `"detail.LifecycleHookName" must be a lifecycle hook name, got ${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name)}`));
    }
  });
});

describe('parseStepInput: each field\'s message, its bounds and its pattern', () => {
  const check = (drainProps: Record<string, unknown>) => ({ step: 'check', drain: drain(drainProps) });

  test.each([
    ['an array', [], 'an array'],
    ['null', null, 'null'],
    ['a string', 'check', 'string'],
  ])('a step input that is %s, not an object', (_name, input, described) => {
    expect(() => parseStepInput(input)).toThrow(EventShapeError);
    expect(() => parseStepInput(input)).toThrow(rejected(`expected a step input object, got ${described}`));
  });

  test.each([
    ['instanceId', 'i-xyz', '"drain.instanceId" must be an instance id such as "i-0123456789abcdef0", got "i-xyz"'],
    // an array of one id reads as that id once made a string: refused by its type
    ['instanceId', ['i-0123456789abcdef0'], '"drain.instanceId" must be an instance id such as "i-0123456789abcdef0", got an array'],
    ['autoScalingGroupName', 'arn:aws:autoscaling:x', '"drain.autoScalingGroupName" must be an Auto Scaling group name, got "arn:aws:autoscaling:x"'],
    ['lifecycleHookName', 'hook name', '"drain.lifecycleHookName" must be a lifecycle hook name, got "hook name"'],
    ['lifecycleActionToken', 'abc', '"drain.lifecycleActionToken" must be a lifecycle action token (a UUID), got "abc"'],
    ['startedAt', 'now', '"drain.startedAt" must be an ISO 8601 time, got "now"'],
    ['heartbeatAt', 'now', '"drain.heartbeatAt" must be an ISO 8601 time, got "now"'],
    // a date Date.parse reads, but not ISO 8601
    ['heartbeatAt', 'Mon, 01 Jun 2026 10:00:00 GMT', '"drain.heartbeatAt" must be an ISO 8601 time, got "Mon, 01 Jun 2026 10:00:00 GMT"'],
    // the expanded-year form Date.parse reads: the pattern wants the four-digit year first
    ['heartbeatAt', '+002026-06-01T10:00:00Z', '"drain.heartbeatAt" must be an ISO 8601 time, got "+002026-06-01T10:00:00Z"'],
    // an array of one ISO time reads as that time once made a string: refused by its type
    ['startedAt', ['2026-06-01T10:00:00.000Z'], '"drain.startedAt" must be an ISO 8601 time, got an array'],
    ['executionName', 'x'.repeat(81), `"drain.executionName" must be an execution name, got "${'x'.repeat(64)}..."`],
    ['generation', 1_001, '"drain.generation" must be an integer from 0 to 1000, got number'],
    ['checks', 100_001, '"drain.checks" must be an integer from 0 to 100000, got number'],
    ['checks', 1.5, '"drain.checks" must be an integer from 0 to 100000, got number'],
    ['checks', '5', '"drain.checks" must be an integer from 0 to 100000, got "5"'],
    ['stoppedTasks', 100_001, '"drain.stoppedTasks" must be an integer from 0 to 100000, got number'],
    ['waitSeconds', 86_401, '"drain.waitSeconds" must be an integer from 0 to 86400, got number'],
  ])('drain.%s = %j is refused, named', (field, value, reason) => {
    expect(() => parseStepInput(check({ [field]: value }))).toThrow(EventShapeError);
    expect(() => parseStepInput(check({ [field]: value }))).toThrow(rejected(reason));
  });

  test('the largest counts and wait are read', () => {
    const edge = { generation: 1_000, checks: 100_000, stoppedTasks: 100_000, waitSeconds: 86_400 };
    expect(parseStepInput(check(edge)).drain).toMatchObject(edge);
  });

  test('a drain without a container instance (none was found) is read without one', () => {
    const { containerInstanceArn: _found, ...none } = drainOf();
    const parsed = parseStepInput({ step: 'check', drain: none }).drain;
    expect(parsed).toEqual(none);
    expect(parsed).not.toHaveProperty('containerInstanceArn');
  });

  const CI = 'container-instance/prod/0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c';
  test.each([
    `arn:aws-cn:ecs:cn-north-1:111122223333:${CI}`,
    `arn:aws-us-gov:ecs:us-gov-west-1:111122223333:${CI}`,
  ])('a container instance ARN of another partition is read: %s', (arn) => {
    expect(parseStepInput(check({ containerInstanceArn: arn })).drain.containerInstanceArn).toBe(arn);
  });

  test.each([
    ['junk before', `x-arn:aws:ecs:eu-west-1:111122223333:${CI}`],
    ['junk after', `arn:aws:ecs:eu-west-1:111122223333:${CI} `],
    ['another service', `arn:aws:ec2:eu-west-1:111122223333:${CI}`],
  ])('a container instance ARN with %s is refused', (_name, arn) => {
    expect(() => parseStepInput(check({ containerInstanceArn: arn }))).toThrow(rejected(`"drain.containerInstanceArn" must be a container instance ARN, got ${JSON.stringify(`${arn.slice(0, 64)}...`)}`));
  });

  test('the caught error: text cut at 2000 characters, anything but a string dropped', () => {
    const long = 'c'.repeat(2_001);
    expect(parseStepInput({ step: 'failed', drain: drain(), error: { Error: 'States.Timeout', Cause: long } }).error).toEqual({ Error: 'States.Timeout', Cause: 'c'.repeat(2_000) });
    expect(parseStepInput({ step: 'failed', drain: drain(), error: { Error: 7, Cause: { nested: true } } }).error).toEqual({ Error: undefined, Cause: undefined });
  });

  test('an error that is null is no object', () => {
    expect(() => parseStepInput({ step: 'failed', drain: drain(), error: null })).toThrow(rejected('"error" must be the object Step Functions caught, got null'));
  });
});

describe('readConfig: the ARN patterns', () => {
  const cluster = (prefix: string, name: string) => `${prefix}:ecs:eu-west-1:111122223333:cluster/${name}`;
  const machine = (prefix: string, name: string) => `${prefix}:states:eu-west-1:111122223333:stateMachine:${name}`;

  test.each(['arn:aws-cn', 'arn:aws-us-gov'])('the partition %s is accepted', (partition) => {
    const env = { ...ENV, CLUSTER_ARN: cluster(partition, 'prod'), STATE_MACHINE_ARN: machine(partition, 'drainer') };
    expect(readConfig(env)).toMatchObject({ clusterArn: env.CLUSTER_ARN, stateMachineArn: env.STATE_MACHINE_ARN });
  });

  test('a cluster name of 255 characters and a state machine name of 80 are accepted', () => {
    const env = { ...ENV, CLUSTER_ARN: cluster('arn:aws', 'c'.repeat(255)), STATE_MACHINE_ARN: machine('arn:aws', 'm'.repeat(80)) };
    expect(readConfig(env)).toMatchObject({ clusterArn: env.CLUSTER_ARN, stateMachineArn: env.STATE_MACHINE_ARN });
  });

  test.each([
    ['one character too long', cluster('arn:aws', 'c'.repeat(256))],
    ['junk before', `x${cluster('arn:aws', 'prod')}`],
    ['junk after', `${cluster('arn:aws', 'prod')}/x`],
    ['another service', 'arn:aws:eks:eu-west-1:111122223333:cluster/prod'],
  ])('a cluster ARN %s is refused', (_name, arn) => {
    expect(() => readConfig({ ...ENV, CLUSTER_ARN: arn })).toThrow(new ConfigError('CLUSTER_ARN', arn, 'expected an ECS cluster ARN'));
  });

  test.each([
    ['one character too long', machine('arn:aws', 'm'.repeat(81))],
    ['junk before', `x${machine('arn:aws', 'drainer')}`],
    ['junk after', `${machine('arn:aws', 'drainer')}:1`],
    ['another service', 'arn:aws:lambda:eu-west-1:111122223333:stateMachine:drainer'],
  ])('a state machine ARN %s is refused', (_name, arn) => {
    expect(() => readConfig({ ...ENV, STATE_MACHINE_ARN: arn })).toThrow(new ConfigError('STATE_MACHINE_ARN', arn, 'expected a Step Functions state machine ARN'));
  });
});
