import { EventShapeError } from '../../../lambda/shared/errors';
import { parseSweepEvent } from '../../../lambda/shared/event';
import { CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT } from '../../helpers/scheduled-events';

function rejection(event: unknown): EventShapeError {
  let thrown: unknown;
  try {
    parseSweepEvent(event);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EventShapeError);
  const error = thrown as EventShapeError;
  expect(error.message).toMatch(/^Rejected event: .*No resource was changed\.$/s);
  return error;
}

describe('parseSweepEvent accepts', () => {
  test.each([
    [{}, { source: undefined, dryRun: undefined }],
    [{ source: 'cdk-fleet-janitor.schedule' }, { source: 'cdk-fleet-janitor.schedule', dryRun: undefined }],
    [{ dryRun: true }, { source: undefined, dryRun: true }],
    [{ dryRun: false }, { source: undefined, dryRun: false }],
    [{ source: 'manual', dryRun: true }, { source: 'manual', dryRun: true }],
    [{ source: 's'.repeat(256) }, { source: 's'.repeat(256), dryRun: undefined }],
  ])('%j', (event, expected) => {
    expect(parseSweepEvent(event)).toEqual(expected);
  });

  test('an explicitly undefined field counts as absent', () => {
    expect(parseSweepEvent({ source: undefined, dryRun: undefined })).toEqual({ source: undefined, dryRun: undefined });
  });
});

describe('parseSweepEvent rejects', () => {
  test.each([
    ['null', null, 'got null'],
    ['undefined', undefined, 'got undefined'],
    ['a string', 'run', 'got a string of 3 characters'],
    ['a number', 42, 'got number'],
    ['a boolean', true, 'got boolean'],
    ['an empty array', [], 'got an array'],
    ['an array of events', [{ source: 'x' }], 'got an array'],
  ])('%s', (_label, event, detail) => {
    expect(rejection(event).message).toContain(detail);
  });

  test('unknown keys, naming them', () => {
    const message = rejection({ unexpected: 1 }).message;
    expect(message).toContain('"unexpected"');
    expect(message).toContain('accepted fields are "source" and "dryRun"');
  });

  test('an incomplete EventBridge event (envelope fields without account, time, region, resources)', () => {
    const message = rejection({ 'version': '0', 'id': 'abc', 'detail-type': 'Scheduled Event', 'source': 'aws.events', 'detail': {} }).message;
    expect(message).toContain('not a valid EventBridge Scheduled Event');
    expect(message).toContain('missing field(s) "account", "time", "region", "resources"');
  });

  test.each([
    [5, '"k0", "k1", "k2", "k3", "k4";'],
    [6, '"k0", "k1", "k2", "k3", "k4" and 1 more;'],
    [7, '"k0", "k1", "k2", "k3", "k4" and 2 more;'],
  ])('%d unknown keys: the first five are named, the rest counted', (count, named) => {
    const message = rejection(Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]))).message;
    expect(message).toContain(`unexpected field(s) ${named} accepted fields are`);
  });

  test('a near-miss key such as "dry_run"', () => {
    expect(rejection({ dry_run: true }).message).toContain('"dry_run"');
  });

  test('many or huge unknown keys without echoing them in full', () => {
    const event = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`${'k'.repeat(10_000)}${i}`, i]));
    const message = rejection(event).message;
    expect(message.length).toBeLessThan(1_000);
  });

  test.each([
    ['"yes"', 'yes', 'got a string of 3 characters'],
    ['"true"', 'true', 'got a string of 4 characters'],
    ['1', 1, 'got number'],
    ['null', null, 'got null'],
    ['an object', { value: true }, 'got object'],
  ])('dryRun as %s', (_label, dryRun, detail) => {
    const message = rejection({ dryRun }).message;
    expect(message).toContain('"dryRun" must be true or false');
    expect(message).toContain(detail);
  });

  test.each([
    ['a number', 5, 'got number'],
    ['null', null, 'got null'],
    ['an array', ['a'], 'got an array'],
  ])('source as %s', (_label, source, detail) => {
    const message = rejection({ source }).message;
    expect(message).toContain('"source" must be a string');
    expect(message).toContain(detail);
  });

  test('a huge source string, without echoing it', () => {
    const message = rejection({ source: 'x'.repeat(1_000_000) }).message;
    expect(message).toContain('got a string of 1000000 characters');
    expect(message.length).toBeLessThan(500);
  });

  test('a source one character over the limit', () => {
    expect(rejection({ source: 's'.repeat(257) }).message).toContain('at most 256 characters');
  });

  test('a huge string event, without echoing it', () => {
    const message = rejection('{'.repeat(5_000_000)).message;
    expect(message.length).toBeLessThan(500);
  });
});

const scheduled = (changes: Record<string, unknown> = {}, drop: string[] = []): Record<string, unknown> => {
  const event: Record<string, unknown> = { ...RULE_SCHEDULED_EVENT, ...changes };
  for (const key of drop) delete event[key];
  return event;
};

describe('parseSweepEvent accepts an EventBridge Scheduled Event as a plain run', () => {
  test.each([
    ['the Lambda console test event, verbatim', CONSOLE_SCHEDULED_EVENT],
    ['a schedule rule\'s event', RULE_SCHEDULED_EVENT],
    ['its JSON round trip (what Lambda hands the handler)', JSON.parse(JSON.stringify(RULE_SCHEDULED_EVENT))],
    ['without "detail"', scheduled({}, ['detail'])],
    ['with milliseconds in "time"', scheduled({ time: '2026-03-01T00:00:00.123Z' })],
    ['a rule on a custom event bus', scheduled({ resources: ['arn:aws:events:eu-west-1:123456789012:rule/janitor-bus/nightly-sweep'], region: 'eu-west-1' })],
    ['another partition', scheduled({ resources: ['arn:aws-cn:events:cn-north-1:123456789012:rule/sweep'], region: 'cn-north-1' })],
    ['a GovCloud region', scheduled({ region: 'us-gov-west-1' })],
    ['a version of several digits', scheduled({ version: '12' })],
    ['a region numbered past 9', scheduled({ region: 'ap-southeast-10', resources: ['arn:aws:events:ap-southeast-10:123456789012:rule/sweep'] })],
    ['a rule in a region with a three-part name', scheduled({ resources: ['arn:aws-us-gov:events:us-gov-west-1:123456789012:rule/sweep'], region: 'us-gov-west-1' })],
    ['10 rule ARNs, the most accepted', scheduled({ resources: Array.from({ length: 10 }, (_, i) => `arn:aws:events:us-east-1:123456789012:rule/r${i}`) })],
    ['a rule ARN of exactly 1,600 characters', scheduled({ resources: [`arn:aws:events:us-east-1:123456789012:rule/${'x'.repeat(1_600 - 43)}`] })],
  ])('%s', (_label, event) => {
    // Nothing in it configures the run: a live run unless the construct is configured for a dry run.
    expect(parseSweepEvent(event)).toEqual({ source: 'aws.events', dryRun: undefined });
  });
});

describe('parseSweepEvent rejects near-miss Scheduled Events', () => {
  const invalid = (event: unknown, detail: string | RegExp) => {
    const message = rejection(event).message;
    expect(message).toContain('not a valid EventBridge Scheduled Event');
    if (typeof detail === 'string') expect(message).toContain(detail);
    else expect(message).toMatch(detail);
    expect(message.length).toBeLessThan(1_000);
  };

  test.each([
    ['lower-case detail-type', { 'detail-type': 'scheduled event' }, 'got "detail-type" "scheduled event"'],
    ['detail-type with a trailing space', { 'detail-type': 'Scheduled Event ' }, 'got "detail-type" "Scheduled Event "'],
    ['another kind of event', { 'detail-type': 'EC2 Instance State-change Notification', 'source': 'aws.ec2' }, '"source" "aws.ec2"'],
    ['source aws.scheduler', { source: 'aws.scheduler' }, 'only "detail-type" "Scheduled Event" from "source" "aws.events"'],
    ['source of our own schedule', { source: 'cdk-fleet-janitor.schedule' }, 'got "detail-type" "Scheduled Event" and "source" "cdk-fleet-janitor.schedule"'],
    ['detail-type not a string', { 'detail-type': ['Scheduled Event'] }, 'got "detail-type" an array'],
    ['a huge detail-type, not echoed', { 'detail-type': 'S'.repeat(100_000) }, 'a string of 100000 characters'],
    ['a detail-type of 64 characters, echoed', { 'detail-type': 'S'.repeat(64) }, `got "detail-type" "${'S'.repeat(64)}" and`],
    ['a detail-type of 65 characters, not echoed', { 'detail-type': 'S'.repeat(65) }, 'got "detail-type" a string of 65 characters and'],
  ])('%s', (_label, changes, detail) => {
    invalid(scheduled(changes), detail);
  });

  test('an unknown field: the message lists the fields a Scheduled Event has', () => {
    invalid(scheduled({ extra: 1 }), 'unexpected field(s) "extra"; a Scheduled Event has only '
      + '"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"');
  });

  test.each([
    ['dryRun alongside the envelope', { dryRun: true }, '"dryRun"'],
    ['dryRun: false alongside the envelope', { dryRun: false }, '"dryRun"'],
    ['detail_type as well', { detail_type: 'Scheduled Event' }, '"detail_type"'],
    ['a prototype key', JSON.parse('{"__proto__": {"dryRun": false}}'), '"__proto__"'],
  ])('an unknown field: %s', (_label, extra, named) => {
    const event = JSON.parse(JSON.stringify(scheduled()));
    for (const [k, v] of Object.entries(extra)) Object.defineProperty(event, k, { value: v, enumerable: true, writable: true, configurable: true });
    invalid(event, `unexpected field(s) ${named}`);
  });

  test.each(['id', 'account', 'time', 'region', 'resources', 'detail-type', 'source'])('without "%s"', (key) => {
    invalid(scheduled({}, [key]), key === 'detail-type' || key === 'source' ? 'got "' : `missing field(s) "${key}"`);
  });

  test.each([
    ['version as a number', { version: 0 }, '"version" must be a string of digits'],
    ['version not digits', { version: 'v0' }, '"version" must be'],
    ['version with a trailing letter', { version: '0a' }, '"version" must be a string of digits such as "0", got "0a"'],
    ['time with junk before it', { time: 'x2015-10-08T16:53:06Z' }, '"time" must be a UTC timestamp such as "2015-10-08T16:53:06Z", got "x2015'],
    ['time with junk after it', { time: '2015-10-08T16:53:06Zx' }, '"time" must be a UTC timestamp such as "2015-10-08T16:53:06Z", got "2015'],
    ['id with spaces', { id: 'not an id' }, '"id" must be an event id'],
    ['a huge id, not echoed', { id: 'a'.repeat(1_000_000) }, 'got a string of 1000000 characters'],
    ['account of 11 digits', { account: '12345678901' }, '"account" must be a 12-digit account id, got "12345678901"'],
    ['account as a number', { account: 123456789012 }, 'got number'],
    ['time without the T and Z', { time: '1970-01-01 00:00:00' }, '"time" must be a UTC timestamp'],
    ['time with an offset', { time: '2015-10-08T16:53:06+02:00' }, '"time" must be a UTC timestamp'],
    ['time that is no date', { time: '2015-13-45T25:61:61Z' }, '"time" must be a real date'],
    ['time in words', { time: 'yesterday' }, '"time" must be'],
    ['region in capitals', { region: 'US-EAST-1' }, '"region" must be a region'],
    ['a huge region, not echoed', { region: 'us-east-1'.repeat(10_000) }, 'got a string of 90000 characters'],
    ['resources empty', { resources: [] }, '"resources" must list 1 to 10 rule ARNs, got 0 entries'],
    ['resources a string', { resources: 'arn:aws:events:us-east-1:123456789012:rule/x' }, 'got a string of'],
    ['resources too many', { resources: Array.from({ length: 11 }, (_, i) => `arn:aws:events:us-east-1:123456789012:rule/r${i}`) }, 'got 11 entries'],
    ['resources holding a number', { resources: [1] }, 'got number'],
    ['resources holding an SNS ARN', { resources: ['arn:aws:sns:us-east-1:123456789012:topic'] }, 'must hold EventBridge rule ARNs'],
    ['resources holding a rule ARN with a bad account', { resources: ['arn:aws:events:us-east-1:1234:rule/x'] }, 'must hold EventBridge rule ARNs'],
    ['resources holding a rule ARN of 1,601 characters', { resources: [`arn:aws:events:us-east-1:123456789012:rule/${'x'.repeat(1_601 - 43)}`] }, 'must hold EventBridge rule ARNs'],
    ['resources holding a rule ARN wrapped in an array', { resources: [['arn:aws:events:us-east-1:123456789012:rule/x']] }, 'must hold EventBridge rule ARNs'],
    ['a region that fits the pattern but is over 32 characters', { region: `us-${'a'.repeat(30)}-1` }, `"region" must be a region such as "us-east-1", got "us-${'a'.repeat(30)}-1"`],
    ['resources holding a rule ARN with junk before it', { resources: ['xarn:aws:events:us-east-1:123456789012:rule/x'] }, 'must hold EventBridge rule ARNs'],
    ['resources holding a rule ARN with a space in the name', { resources: ['arn:aws:events:us-east-1:123456789012:rule/x y'] }, 'must hold EventBridge rule ARNs'],
    ['region with junk before it', { region: 'xus-east-1' }, '"region" must be a region such as "us-east-1", got "xus-east-1"'],
    ['region with junk after it', { region: 'us-east-1x' }, '"region" must be a region such as "us-east-1", got "us-east-1x"'],
    ['resources holding a huge ARN', { resources: [`arn:aws:events:us-east-1:123456789012:rule/${'x'.repeat(2_000)}`] }, 'must hold EventBridge rule ARNs'],
    ['detail with a field', { detail: { dryRun: false } }, '"detail" must be an empty object {}, got an object with fields'],
    ['detail null', { detail: null }, 'got null'],
    ['detail an array', { detail: [] }, 'got an array'],
    ['detail a string', { detail: '{}' }, 'got a string of 2 characters'],
    // Values with no keys of their own that are still not an object.
    ['detail an empty string', { detail: '' }, '"detail" must be an empty object {}, got a string of 0 characters'],
    ['detail a number', { detail: 0 }, '"detail" must be an empty object {}, got number'],
    ['detail false', { detail: false }, '"detail" must be an empty object {}, got boolean'],
  ])('%s', (_label, changes, detail) => {
    invalid(scheduled(changes), detail);
  });

  test('a lone envelope field turns a sweep event into an (incomplete) Scheduled Event', () => {
    invalid({ source: 'cdk-fleet-janitor.schedule', time: '2026-01-01T00:00:00Z' }, /got "detail-type" undefined and "source" "cdk-fleet-janitor.schedule"/);
    invalid({ dryRun: true, detail: {} }, 'got "detail-type" undefined');
  });
});
