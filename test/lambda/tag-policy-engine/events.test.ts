import { EventShapeError } from '../../../lambda/shared/errors';
import { kindOf, parseLaunchEvent } from '../../../lambda/tag-policy-engine/events';
import { CLOUDTRAIL_DETAIL_TYPE } from '../../../src/tag-policy-engine/contract';

/** An EventBridge "AWS API Call via CloudTrail" event for RunInstances, as the capture rule forwards it. */
function launchEvent(overrides: Record<string, unknown> = {}, detail: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'version': '0',
    'id': '6f6a2b2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
    'detail-type': 'AWS API Call via CloudTrail',
    'source': 'aws.ec2',
    'account': '123456789012',
    'time': '2025-05-20T08:29:41Z',
    'region': 'us-east-1',
    'resources': [],
    'detail': {
      eventVersion: '1.09',
      userIdentity: { type: 'IAMUser', principalId: 'AIDAJ45Q7YFFAREXAMPLE', arn: 'arn:aws:iam::123456789012:user/Alice', accountId: '123456789012', userName: 'Alice' },
      eventTime: '2025-05-20T08:29:41Z',
      eventSource: 'ec2.amazonaws.com',
      eventName: 'RunInstances',
      awsRegion: 'us-east-1',
      requestParameters: { instanceType: 't3.micro' },
      responseElements: { instancesSet: { items: [{ instanceId: 'i-0123456789abcdef0' }] } },
      eventType: 'AwsApiCall',
      ...detail,
    },
    ...overrides,
  };
}

function rejection(event: Record<string, unknown>): EventShapeError {
  let thrown: unknown;
  try {
    parseLaunchEvent(event);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EventShapeError);
  const error = thrown as EventShapeError;
  expect(error.message).toMatch(/^Rejected event: not a CloudTrail RunInstances event: .*\. No resource was changed\.$/s);
  return error;
}

describe('kindOf', () => {
  test('a CloudFormation custom resource event: rules', () => {
    expect(kindOf({ RequestType: 'Create', ResourceProperties: { TableName: 't' }, ServiceToken: 'arn', ResponseURL: 'https://x' })).toBe('rules');
  });

  test('needs both RequestType and ResourceProperties to be rules', () => {
    expect(kindOf({ RequestType: 'Create' })).toBe('sweep');
    expect(kindOf({ ResourceProperties: {} })).toBe('sweep');
  });

  test('an "AWS API Call via CloudTrail" event: launch', () => {
    expect(CLOUDTRAIL_DETAIL_TYPE).toBe('AWS API Call via CloudTrail');
    expect(kindOf(launchEvent())).toBe('launch');
    // Told by detail-type alone: parseLaunchEvent then checks the rest.
    expect(kindOf({ 'detail-type': 'AWS API Call via CloudTrail' })).toBe('launch');
  });

  test('any other detail-type is a sweep (parseSweepEvent rejects what is not one)', () => {
    expect(kindOf(launchEvent({ 'detail-type': 'Scheduled Event' }))).toBe('sweep');
    expect(kindOf(launchEvent({ 'detail-type': 'aws api call via cloudtrail' }))).toBe('sweep');
  });

  test.each([{}, { source: 'cdk-fleet-janitor.schedule' }, { dryRun: true }, null, undefined, 'x', 42, [], [launchEvent()]])('%j is a sweep', (event) => {
    expect(kindOf(event)).toBe('sweep');
  });
});

describe('parseLaunchEvent accepts', () => {
  test('the documented envelope, returning the CloudTrail record', () => {
    const event = launchEvent();
    expect(parseLaunchEvent(event)).toBe(event.detail);
  });

  test('an envelope without the optional fields', () => {
    const event = { source: 'aws.ec2', account: '123456789012', region: 'us-east-1', detail: (launchEvent().detail) };
    expect(parseLaunchEvent(event)).toBe(event.detail);
  });

  // Two-digit region numbers are allowed for regions to come.
  test.each(['us-east-1', 'eu-west-3', 'ap-southeast-2', 'us-gov-west-1', 'cn-north-1', 'il-central-1', 'ca-west-1', 'us-isob-east-1', 'ap-east-12'])('region %s', (region) => {
    expect(() => parseLaunchEvent(launchEvent({ region }))).not.toThrow();
  });

  test('a failed RunInstances record is accepted here (launchFromRecord finds nothing to tag in it)', () => {
    expect(() => parseLaunchEvent(launchEvent({}, { errorCode: 'Client.UnauthorizedOperation' }))).not.toThrow();
  });
});

describe('parseLaunchEvent rejects', () => {
  test.each<[string, Record<string, unknown>, string]>([
    ['another source', launchEvent({ source: 'aws.autoscaling' }), '"source" must be "aws.ec2", got "aws.autoscaling"'],
    ['a custom source', launchEvent({ source: 'my.app' }), '"source" must be "aws.ec2", got "my.app"'],
    ['no source', launchEvent({ source: undefined }), '"source" must be "aws.ec2", got undefined'],
    ['a numeric source', launchEvent({ source: 5 }), '"source" must be "aws.ec2", got number'],
    ['an account of 11 digits', launchEvent({ account: '12345678901' }), '"account" must be a 12-digit account id, got "12345678901"'],
    ['an account with letters', launchEvent({ account: '12345678901a' }), '"account" must be a 12-digit account id, got "12345678901a"'],
    ['a numeric account', launchEvent({ account: 123456789012 }), '"account" must be a 12-digit account id, got number'],
    ['an account of 13 digits', launchEvent({ account: '1234567890123' }), '"account" must be a 12-digit account id, got "1234567890123"'],
    ['an account after a letter', launchEvent({ account: 'x123456789012' }), '"account" must be a 12-digit account id, got "x123456789012"'],
    ['no account', launchEvent({ account: undefined }), '"account" must be a 12-digit account id, got undefined'],
    ['a region in capitals', launchEvent({ region: 'US-EAST-1' }), '"region" must be a region such as "us-east-1", got "US-EAST-1"'],
    ['a region after other text', launchEvent({ region: 'xus-east-1' }), '"region" must be a region such as "us-east-1", got "xus-east-1"'],
    ['a region in a list', launchEvent({ region: ['us-east-1'] }), '"region" must be a region such as "us-east-1", got an array'],
    ['a region without a number', launchEvent({ region: 'us-east' }), '"region" must be a region such as "us-east-1", got "us-east"'],
    ['a region with a newline', launchEvent({ region: 'us-east-1\n' }), '"region" must be a region such as "us-east-1", got "us-east-1\\n"'],
    ['null region', launchEvent({ region: null }), '"region" must be a region such as "us-east-1", got null'],
    ['no detail', launchEvent({ detail: undefined }), '"detail" must be the CloudTrail record, an object'],
    ['a null detail', launchEvent({ detail: null }), '"detail" must be the CloudTrail record, an object'],
    ['a string detail', launchEvent({ detail: '{"eventName":"RunInstances"}' }), '"detail" must be the CloudTrail record, an object'],
    ['a list detail', launchEvent({ detail: [{}] }), '"detail" must be the CloudTrail record, an object'],
    ['another event name', launchEvent({}, { eventName: 'TerminateInstances' }),
      'only RunInstances from ec2.amazonaws.com is accepted, got "TerminateInstances" from "ec2.amazonaws.com"'],
    ['another event source', launchEvent({}, { eventSource: 'autoscaling.amazonaws.com' }),
      'only RunInstances from ec2.amazonaws.com is accepted, got "RunInstances" from "autoscaling.amazonaws.com"'],
    ['no event name', launchEvent({}, { eventName: undefined }), 'got undefined from "ec2.amazonaws.com"'],
    ['a list event name', launchEvent({}, { eventName: ['RunInstances'] }), 'got an array from "ec2.amazonaws.com"'],
    ['no userIdentity', launchEvent({}, { userIdentity: undefined }), '"detail.userIdentity" must be an object'],
    ['a string userIdentity', launchEvent({}, { userIdentity: 'Alice' }), '"detail.userIdentity" must be an object'],
    ['a null userIdentity', launchEvent({}, { userIdentity: null }), '"detail.userIdentity" must be an object'],
    ['a list userIdentity', launchEvent({}, { userIdentity: [] }), '"detail.userIdentity" must be an object'],
  ])('%s', (_label, event, reason) => {
    expect(rejection(event).message).toContain(reason);
  });

  test('extra keys, named', () => {
    const error = rejection(launchEvent({ dryRun: true, extra: 1 }));
    expect(error.message).toContain('unexpected field(s) "dryRun", "extra"');
  });

  test('extra keys: at most 5 named, each shortened', () => {
    const keys = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`k${i}${'x'.repeat(100)}`, 1]));
    const error = rejection(launchEvent(keys));
    expect(error.message).toContain(`"k0${'x'.repeat(62)}"`);
    expect(error.message).not.toContain('k5');
    expect(error.message).not.toContain('x'.repeat(63));
  });

  test('extra keys are checked first, before the source', () => {
    expect(rejection(launchEvent({ source: 'x', extra: 1 })).message).toContain('unexpected field(s) "extra"');
  });

  test('a long value is shortened in the message', () => {
    const error = rejection(launchEvent({ source: 's'.repeat(1_000) }));
    expect(error.message).toContain(`"${'s'.repeat(64)}..."`);
    expect(error.message.length).toBeLessThan(250);
  });

  test('an empty object', () => {
    expect(rejection({}).message).toContain('"source" must be "aws.ec2"');
  });
});
