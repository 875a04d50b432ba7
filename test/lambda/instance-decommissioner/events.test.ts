import { isInstanceId, isSqsBatch, parseStateChange, sqsRecords } from '../../../lambda/instance-decommissioner/events';
import { EventShapeError } from '../../../lambda/shared/errors';
import { STATE_CHANGE_DETAIL_TYPE, WATCHED_STATES } from '../../../src/instance-decommissioner/contract';

/** An EventBridge "EC2 Instance State-change Notification", in the shape the EC2 user guide documents. */
function stateChange(overrides: Record<string, unknown> = {}, detail: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'version': '0',
    'id': '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'EC2 Instance State-change Notification',
    'source': 'aws.ec2',
    'account': '123456789012',
    'time': '2015-11-11T21:30:34Z',
    'region': 'us-east-1',
    'resources': ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'],
    'detail': { 'instance-id': 'i-abcd1111', 'state': 'terminated', ...detail },
    ...overrides,
  };
}

const body = (overrides: Record<string, unknown> = {}, detail: Record<string, unknown> = {}) => JSON.stringify(stateChange(overrides, detail));

/** A Lambda SQS event record, as the event source mapping delivers it. */
function sqsRecord(messageBody: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
    receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...',
    body: messageBody,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1545082649183',
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: '1545082649185',
    },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:fleet-janitor-instance-events',
    awsRegion: 'us-east-1',
    ...overrides,
  };
}

function rejectionOf(run: () => unknown): EventShapeError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EventShapeError);
  const error = thrown as EventShapeError;
  expect(error.message).toMatch(/^Rejected event: .*\. No resource was changed\.$/s);
  return error;
}

function rejection(messageBody: string): EventShapeError {
  const error = rejectionOf(() => parseStateChange(messageBody));
  expect(error.message).toMatch(/^Rejected event: not an EC2 instance state-change event: /);
  return error;
}

describe('parseStateChange accepts', () => {
  test('the detail-type is EC2\'s', () => {
    expect(STATE_CHANGE_DETAIL_TYPE).toBe('EC2 Instance State-change Notification');
    expect(WATCHED_STATES).toEqual(['running', 'shutting-down', 'terminated']);
  });

  test.each(['running', 'shutting-down', 'terminated'])('the documented event for state %s', (state) => {
    expect(parseStateChange(body({}, { state }))).toEqual({ instanceId: 'i-abcd1111', state, time: '2015-11-11T21:30:34Z' });
  });

  test('17-character instance ids', () => {
    expect(parseStateChange(body({}, { 'instance-id': 'i-0123456789abcdef0' })).instanceId).toBe('i-0123456789abcdef0');
  });

  test('an envelope without its optional fields (version, resources)', () => {
    const event = {
      'id': '7bf73129-1428-4cd3-a780-95db273d1602',
      'detail-type': STATE_CHANGE_DETAIL_TYPE,
      'source': 'aws.ec2',
      'account': '123456789012',
      'time': '2024-06-30T12:00:00Z',
      'region': 'us-east-1',
      'detail': { 'instance-id': 'i-abcd1111', 'state': 'running' },
    };
    expect(parseStateChange(JSON.stringify(event))).toEqual({ instanceId: 'i-abcd1111', state: 'running', time: '2024-06-30T12:00:00Z' });
  });

  test('a body of exactly 256 KB', () => {
    const base = body();
    // padded with JSON whitespace up to the limit
    const text = base + ' '.repeat(256 * 1024 - Buffer.byteLength(base));
    expect(Buffer.byteLength(text)).toBe(256 * 1024);
    expect(parseStateChange(text).instanceId).toBe('i-abcd1111');
  });
});

describe('parseStateChange: the bounds of what is accepted', () => {
  const arn = (n: number) => `arn:aws:ec2:us-east-1:123456789012:instance/i-${String(n).padStart(8, '0')}`;

  test('ten resources are accepted, eleven are not', () => {
    const ten = Array.from({ length: 10 }, (_, n) => arn(n));
    expect(parseStateChange(body({ resources: ten })).instanceId).toBe('i-abcd1111');
    expect(() => parseStateChange(body({ resources: [...ten, arn(10)] }))).toThrow('"resources" must list at most 10 ARNs');
  });

  test('a resource of 1,600 characters is accepted, one of 1,601 is not; every resource must be a string, not only one', () => {
    const long = (length: number) => `arn:aws:ec2:us-east-1:123456789012:instance/${'x'.repeat(length - 44)}`;
    expect(long(1600)).toHaveLength(1600);
    expect(parseStateChange(body({ resources: [long(1600)] })).state).toBe('terminated');
    expect(() => parseStateChange(body({ resources: [long(1601)] }))).toThrow('"resources" must list at most 10 ARNs');
    expect(() => parseStateChange(body({ resources: [arn(1), 42] }))).toThrow('"resources" must list at most 10 ARNs, got an array');
  });

  test('an instance id inside a list is refused, though its text would match', () => {
    expect(() => parseStateChange(body({}, { 'instance-id': ['i-abcd1111'] }))).toThrow('"detail.instance-id" must be an instance id such as "i-0123456789abcdef0", got an array');
  });

  test('the messages name each unexpected field, at most five, each cut to 64 characters, and the body limit in bytes', () => {
    expect(() => parseStateChange(body({}, { a: 1, b: 2 }))).toThrow('unexpected detail field(s) "a", "b"');
    expect(() => parseStateChange(body({ a: 1, b: 2 }))).toThrow('unexpected field(s) "a", "b"');
    const seven = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => [k, 1]));
    const message = (() => {
      try {
        parseStateChange(body({}, seven));
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).toContain('unexpected detail field(s) "a", "b", "c", "d", "e". No resource');
    expect(() => parseStateChange(body({}, { ['k'.repeat(100)]: 1 }))).toThrow(`unexpected detail field(s) "${'k'.repeat(64)}". No resource`);
    expect(() => parseStateChange(' '.repeat(256 * 1024 + 1))).toThrow('the message body is over 262144 bytes');
  });

  test('isInstanceId: "i-" and 8 or 17 lower-case hex digits, nothing else (the sweep asks it of alarm dimensions)', () => {
    expect(['i-abcd1111', 'i-0123456789abcdef0'].map(isInstanceId)).toEqual([true, true]);
    expect(['web-frontend-1', 'i-abcd111', 'i-0123456789abcdef', 'i-ABCD1111', ' i-abcd1111', 'i-abcd1111 '].map(isInstanceId)).toEqual([false, false, false, false, false, false]);
  });
});

describe('parseStateChange rejects', () => {
  test.each<[string, string, string]>([
    ['state pending', body({}, { state: 'pending' }), '"detail.state" must be one of running, shutting-down, terminated, got "pending"'],
    ['state stopped', body({}, { state: 'stopped' }), '"detail.state" must be one of running, shutting-down, terminated, got "stopped"'],
    ['state stopping', body({}, { state: 'stopping' }), 'got "stopping"'],
    ['state in capitals', body({}, { state: 'RUNNING' }), 'got "RUNNING"'],
    ['no state', body({}, { state: undefined }), 'got undefined'],
    ['a numeric state', body({}, { state: 16 }), 'got number'],
    ['another detail-type', body({ 'detail-type': 'EC2 Spot Instance Interruption Warning' }),
      'only "detail-type" "EC2 Instance State-change Notification" from "source" "aws.ec2" is accepted, got "EC2 Spot Instance Interruption Warning" from "aws.ec2"'],
    ['another source', body({ source: 'aws.autoscaling' }), 'got "EC2 Instance State-change Notification" from "aws.autoscaling"'],
    ['a custom source', body({ source: 'my.app' }), 'from "my.app"'],
    ['no detail-type', body({ 'detail-type': undefined }), 'got undefined from "aws.ec2"'],
    ['an extra envelope field', body({ replay: true }), 'unexpected field(s) "replay"'],
    ['an extra detail field', body({}, { 'previous-state': 'running' }), 'unexpected detail field(s) "previous-state"'],
    ['a bad instance id', body({}, { 'instance-id': 'i-xyz' }), '"detail.instance-id" must be an instance id such as "i-0123456789abcdef0", got "i-xyz"'],
    ['an instance id of 12 hex digits', body({}, { 'instance-id': 'i-0123456789ab' }), 'got "i-0123456789ab"'],
    ['an instance id in capitals', body({}, { 'instance-id': 'i-ABCD1111' }), 'got "i-ABCD1111"'],
    ['an instance id with a newline', body({}, { 'instance-id': 'i-abcd1111\n' }), 'got "i-abcd1111\\n"'],
    ['an AMI id', body({}, { 'instance-id': 'ami-abcd1111' }), 'got "ami-abcd1111"'],
    ['no instance id', body({}, { 'instance-id': undefined }), 'got undefined'],
    ['a bad time', body({ time: 'yesterday' }), '"time" must be a UTC timestamp such as "2015-10-08T16:53:06Z", got "yesterday"'],
    ['a numeric time', body({ time: 1447277434 }), '"time" must be a UTC timestamp such as "2015-10-08T16:53:06Z", got number'],
    ['no time', body({ time: undefined }), 'missing field(s) "time"'],
    ['no account', body({ account: undefined }), 'missing field(s) "account"'],
    ['no id, no region', body({ id: undefined, region: undefined }), 'missing field(s) "id", "region"'],
    ['a bad account', body({ account: '12345' }), '"account" must be a 12-digit account id, got "12345"'],
    ['a bad region', body({ region: 'Mars' }), '"region" must be a region such as "us-east-1", got "Mars"'],
    ['a time that is no date', body({ time: '2015-13-45T99:99:99Z' }), '"time" must be a real date'],
    ['resources not a list', body({ resources: 'arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111' }), '"resources" must list at most 10 ARNs'],
    ['a resource that is not a string', body({ resources: [42] }), '"resources" must list at most 10 ARNs, got an array'],
    ['eleven resources', body({ resources: new Array(11).fill('arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111') }), '"resources" must list at most 10 ARNs'],
    ['an over-long time', body({ time: `2015-11-11T21:30:34Z${' '.repeat(40)}` }), '"time" must be a UTC timestamp'],
    ['no detail', body({ detail: undefined }), 'missing field(s) "detail"'],
    ['a string detail', body({ detail: 'terminated' }), '"detail" must be an object, got "terminated"'],
    ['a list detail', body({ detail: [] }), '"detail" must be an object, got an array'],
    ['a null detail', body({ detail: null }), '"detail" must be an object, got null'],
    ['non-JSON', 'i-abcd1111 terminated', 'the message body is not JSON'],
    ['an empty body', '', 'the message body is not JSON'],
    ['a JSON string', '"terminated"', 'expected a JSON object, got "terminated"'],
    ['a JSON list', `[${body()}]`, 'expected a JSON object, got an array'],
    ['JSON null', 'null', 'expected a JSON object, got null'],
    ['a JSON number', '42', 'expected a JSON object, got number'],
  ])('%s', (_label, messageBody, reason) => {
    expect(rejection(messageBody).message).toContain(reason);
  });

  test('a body over 256 KB, before it is parsed', () => {
    const base = body();
    const text = base + ' '.repeat(256 * 1024 + 1 - Buffer.byteLength(base));
    expect(rejection(text).message).toContain('the message body is over 262144 bytes');
  });

  test('the size is counted in bytes, not characters', () => {
    const base = body();
    // "é" is 2 bytes in UTF-8: under the limit in characters, over it in bytes
    const chars = Math.ceil((256 * 1024 - Buffer.byteLength(base)) / 2) + 1;
    const text = JSON.stringify(stateChange({ version: 'é'.repeat(chars) }));
    expect(text.length).toBeLessThan(256 * 1024);
    expect(rejection(text).message).toContain('over 262144 bytes');
  });

  test('extra fields: at most 5 named, each shortened', () => {
    const keys = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`k${i}${'x'.repeat(100)}`, 1]));
    const error = rejection(body(keys));
    expect(error.message).toContain(`"k0${'x'.repeat(62)}"`);
    expect(error.message).not.toContain('k5');
    expect(error.message).not.toContain('x'.repeat(63));
  });

  test('a long value is shortened in the message', () => {
    const error = rejection(body({}, { 'instance-id': `i-${'a'.repeat(1_000)}` }));
    expect(error.message).toContain(`"i-${'a'.repeat(62)}..."`);
    expect(error.message.length).toBeLessThan(300);
  });
});

describe('isSqsBatch', () => {
  test('a Lambda SQS event', () => {
    expect(isSqsBatch({ Records: [sqsRecord(body())] })).toBe(true);
  });

  test('an empty Records list is still a batch (sqsRecords rejects it)', () => {
    expect(isSqsBatch({ Records: [] })).toBe(true);
  });

  test.each<[string, unknown]>([
    ['the EventBridge event itself', stateChange()],
    ['a scheduled sweep', { 'source': 'aws.scheduler', 'detail-type': 'Scheduled Event', 'detail': {} }],
    ['Records not a list', { Records: sqsRecord(body()) }],
    ['a records key in lower case', { records: [sqsRecord(body())] }],
    ['null', null],
    ['undefined', undefined],
    ['a string', '{"Records":[]}'],
    ['a list', [sqsRecord(body())]],
  ])('not %s', (_label, event) => {
    expect(isSqsBatch(event)).toBe(false);
  });
});

describe('sqsRecords', () => {
  test('the message id and body of each record, in order', () => {
    const first = sqsRecord(body({}, { state: 'running' }));
    const second = sqsRecord(body(), { messageId: '2e1424d4-f796-459a-8184-9c92662be6da' });
    expect(sqsRecords({ Records: [first, second] })).toEqual([
      { messageId: '059f36b4-87a3-44ab-83d2-661975830a7d', body: first.body },
      { messageId: '2e1424d4-f796-459a-8184-9c92662be6da', body: second.body },
    ]);
    expect(parseStateChange(sqsRecords({ Records: [first] })[0].body).state).toBe('running');
  });

  test('a batch of 10,000 messages is accepted, one of 10,001 is not', () => {
    const record = sqsRecord(body());
    expect(sqsRecords({ Records: new Array(10_000).fill(record) })).toHaveLength(10_000);
    expect(() => sqsRecords({ Records: new Array(10_001).fill(record) })).toThrow('"Records" must hold 1 to 10000 SQS messages, got 10001');
  });

  test('an empty body is a string: parseStateChange rejects it per message', () => {
    expect(sqsRecords({ Records: [sqsRecord('')] })).toEqual([{ messageId: '059f36b4-87a3-44ab-83d2-661975830a7d', body: '' }]);
  });

  test.each<[string, unknown[], string]>([
    ['an empty Records', [], '"Records" must hold 1 to 10000 SQS messages, got 0'],
    ['another event source', [sqsRecord(body(), { eventSource: 'aws:kinesis' })], 'Records[0].eventSource must be "aws:sqs", got "aws:kinesis"'],
    ['no event source', [sqsRecord(body(), { eventSource: undefined })], 'Records[0].eventSource must be "aws:sqs", got undefined'],
    ['a second record from SNS', [sqsRecord(body()), sqsRecord(body(), { eventSource: 'aws:sns' })], 'Records[1].eventSource must be "aws:sqs", got "aws:sns"'],
    ['a missing messageId', [sqsRecord(body(), { messageId: undefined })], 'Records[0].messageId must be a message id, got undefined'],
    ['an empty messageId', [sqsRecord(body(), { messageId: '' })], 'Records[0].messageId must be a message id, got ""'],
    ['a numeric messageId', [sqsRecord(body(), { messageId: 7 })], 'Records[0].messageId must be a message id, got number'],
    ['a messageId of 129 characters', [sqsRecord(body(), { messageId: 'm'.repeat(129) })], 'Records[0].messageId must be a message id'],
    ['a body that is an object', [sqsRecord(body(), { body: stateChange() })], 'Records[0].body must be a string, got object'],
    ['no body', [sqsRecord(body(), { body: undefined })], 'Records[0].body must be a string, got undefined'],
    ['a null record', [null], 'Records[0] must be an SQS message object'],
    ['a string record', [body()], 'Records[0] must be an SQS message object'],
    ['a list record', [[sqsRecord(body())]], 'Records[0] must be an SQS message object'],
  ])('rejects %s', (_label, records, reason) => {
    expect(rejectionOf(() => sqsRecords({ Records: records })).message).toContain(reason);
  });

  test('a messageId of 128 characters is accepted', () => {
    expect(sqsRecords({ Records: [sqsRecord(body(), { messageId: 'm'.repeat(128) })] })[0].messageId).toHaveLength(128);
  });
});
