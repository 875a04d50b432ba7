/*
 * Seeded malformed input through the function's entry point.
 *
 * Message bodies (500+): truncated JSON, text that is not JSON, JSON that is not an object, extra
 * or missing fields, the wrong detail-type or source, bad times, instance ids and states, nested
 * junk, huge strings and bodies over the size limit. Each is one message of a batch whose other
 * message is well formed: the bad one must be in batchItemFailures with a clear EventShapeError in
 * the logs and the notification, and nothing may be changed for it. A batch with any malformed
 * message is notified (it needs a human), so Publish is the one state-changing call allowed.
 *
 * Whole invocation events (50+): not an object, Records not an array or empty or too long, records
 * that are not SQS messages (eventSource, messageId, body), other services' events. Each must
 * reject with an EventShapeError before any AWS call.
 *
 * The world is live: an instance whose records, alarm and hook a well-formed message would clean
 * up, named by every broken body, so a body that slipped through would show as a change.
 */
import 'aws-sdk-client-mock-jest';
import {
  batch, described, DOMAIN, expectNoCallsAtAll, expectNoStateChanges, failedIds, FWD, given, Handler, host, installHandlerHarness, instanceAlarm,
  loadHandler,
  logLines, message, ptrName, publishCalls, published, REV, rr, sentCommands, SqsMessage, sqsMessage, stateChange, storedItem, STATE_CHANGING,
} from './harness';
import { mulberry32 } from '../../emulator/random';

installHandlerHarness();

const random = mulberry32(0x1d3c0);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
/** A long string, under the body limit once in JSON (the size check is a case of its own). */
const long = () => pick(['x', 'é', '😀', '\u0000', '{"a":', '\\', '"']).repeat(1_000 + int(30_000));

/** Any value that is not a string. */
function nonString(depth = 0): unknown {
  const choices: Array<() => unknown> = [
    () => null, () => true, () => false, () => 0, () => -1, () => 1e21, () => 3.5, () => 1748779083,
    () => Array.from({ length: int(4) }, () => junk(depth + 1)),
    () => Object.fromEntries(Array.from({ length: int(4) }, (_, i) => [`k${i}`, junk(depth + 1)])),
  ];
  return pick(depth > 2 ? choices.slice(0, 8) : choices)();
}

function junk(depth = 0): unknown {
  return random() < 0.5 ? nonString(depth) : pick(['', 'x', long(), '\u0000', 'é😀', 'terminated', 'aws.ec2', 'i-0123456789abcdef0']);
}

/** Nested arrays and objects, `depth` levels deep. */
function nested(depth: number): unknown {
  return depth === 0 ? junk(3) : random() < 0.5 ? [nested(depth - 1), junk(3)] : { [`level${depth}`]: nested(depth - 1), junk: junk(3) };
}

// The world: TARGET would be cleaned up by a well-formed message; DONE is decommissioned already.
const TARGET = host(1, { name: 'fuzz-target', service: 'fuzz' });
const DONE = host(2, { name: 'fuzz-done' });
function serveWorld(): void {
  given({
    instances: [described(TARGET, 'shutting-down'), described(DONE, 'terminated')],
    items: [storedItem(TARGET), storedItem(DONE, { status: 'DECOMMISSIONED' })],
    zones: {
      [FWD]: [rr(`fuzz-target.${DOMAIN}`, 'A', [TARGET.privateIp]), rr(`fuzz.${DOMAIN}`, 'A', [TARGET.privateIp, '10.0.9.9'])],
      [REV]: [rr(ptrName(TARGET.privateIp), 'PTR', [`fuzz-target.${DOMAIN}.`])],
    },
    alarms: [instanceAlarm('fuzz-target-cpu', TARGET.id)],
  });
}

/** The well-formed event every body case breaks one thing of. */
const valid = (): Record<string, any> => stateChange(TARGET.id, pick(['shutting-down', 'terminated', 'running']));

interface BodyCase {
  readonly title: string;
  readonly body: string;
  /** What the error must name. */
  readonly names: RegExp;
}

const NOT_JSON = /the message body is not JSON/;
const NOT_OBJECT = /expected a JSON object, got /;
const EXTRA = /unexpected field\(s\) "/;
const KIND = /only "detail-type" "EC2 Instance State-change Notification" from "source" "aws\.ec2" is accepted, got /;
const TIME = /"time" must be a UTC timestamp such as "2015-10-08T16:53:06Z", got |"time" must be a real date, got |missing field\(s\) "time"/;
const DETAIL = /"detail" must be an object, got |missing field\(s\) "detail"/;
const DETAIL_EXTRA = /unexpected detail field\(s\) "/;
const ID = /"detail\.instance-id" must be an instance id such as "i-0123456789abcdef0", got /;
const STATE = /"detail\.state" must be one of running, shutting-down, terminated, got /;
const SIZE = /the message body is over 262144 bytes/;

function without(event: Record<string, any>, key: string): Record<string, any> {
  const copy = { ...event };
  delete copy[key];
  return copy;
}
const withDetail = (event: Record<string, any>, detail: Record<string, unknown>) => ({ ...event, detail });
const detailWithout = (event: Record<string, any>, key: string) => withDetail(event, without(event.detail, key));

function bodyCases(): BodyCase[] {
  const all: BodyCase[] = [];
  const add = (title: string, body: unknown, names: RegExp) => all.push({ title, body: typeof body === 'string' ? body : JSON.stringify(body), names });

  // 1. Truncated JSON (cut anywhere: what a broken producer or a hand-edited message leaves).
  for (let i = 0; i < 50; i++) {
    const text = JSON.stringify(valid());
    add('truncated JSON', text.slice(0, int(text.length - 1)), NOT_JSON);
  }
  // 2. Text that is not JSON at all.
  const notJson = [
    '', ' ', 'undefined', 'NaN', 'Infinity', '{\'detail-type\': \'EC2 Instance State-change Notification\'}', '{"a":1,}', '[1,2', 'terminated',
    `\uFEFF${JSON.stringify(valid())}`, `${JSON.stringify(valid())}}`, `${JSON.stringify(valid())}\n${JSON.stringify(valid())}`, 'i-0123456789abcdef0',
    'detail-type=EC2 Instance State-change Notification&source=aws.ec2', '<Message>terminated</Message>', '{"detail": {"instance-id": "i-0123456789abcdef0",}}',
  ];
  for (let i = 0; i < 40; i++) add('not JSON', pick(notJson), NOT_JSON);
  for (let i = 0; i < 10; i++) add('not JSON: binary', Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256))).toString('latin1'), NOT_JSON);
  // 3. JSON that is not an object.
  for (let i = 0; i < 40; i++) add('JSON, not an object', pick<unknown>(['null', '0', '-1', '1e400', 'true', 'false', '"aws.ec2"', '[]', `[${JSON.stringify(valid())}]`, JSON.stringify(long()), '[[[]]]', JSON.stringify([null])]), NOT_OBJECT);
  // 4. A field the event does not have (as it is, or a near miss of a real one).
  const extraKeys = ['Detail', 'detailType', 'detail_type', 'Source', 'Records', 'body', 'dryRun', '__proto__', 'constructor', 'source ', '', 'x'.repeat(500), 'ресурсы', 'replay-name'];
  for (let i = 0; i < 50; i++) {
    const event = valid();
    const text = JSON.stringify(event);
    const key = pick(extraKeys);
    add('extra field', `${text.slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(junk())}}`, EXTRA);
  }
  for (let i = 0; i < 15; i++) {
    const event = valid();
    const k = pick(['detail-type', 'source', 'detail', 'time']);
    const misspelt = pick([k.toUpperCase(), `${k} `, ` ${k}`, k.includes('-') ? k.replace('-', '_') : `${k}s`, `${k[0].toUpperCase()}${k.slice(1)}`]);
    const renamed: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(event)) renamed[key === k ? misspelt : key] = value;
    add('extra field: a real one misspelt', renamed, EXTRA);
  }
  // 5. The wrong kind of event (detail-type or source), or none.
  const detailTypes = [
    'EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation', 'AWS API Call via CloudTrail', 'Scheduled Event',
    'EC2 Instance State-change Notification ', 'ec2 instance state-change notification', 'EC2 Instance State Change Notification', '', undefined,
  ];
  const sources = ['aws.autoscaling', 'aws.events', 'aws.ec2 ', 'AWS.EC2', 'ec2.amazonaws.com', 'aws', '', undefined];
  for (let i = 0; i < 30; i++) {
    const value = random() < 0.8 ? pick(detailTypes) : nonString();
    add('wrong detail-type', value === undefined ? without(valid(), 'detail-type') : { ...valid(), 'detail-type': value }, KIND);
  }
  for (let i = 0; i < 30; i++) {
    const value = random() < 0.8 ? pick(sources) : nonString();
    add('wrong source', value === undefined ? without(valid(), 'source') : { ...valid(), source: value }, KIND);
  }
  for (let i = 0; i < 5; i++) {
    const text = JSON.stringify(valid());
    add('duplicate key, the last one wrong', `${text.slice(0, -1)},"detail-type":"Scheduled Event"}`, KIND);
  }
  // 6. Bad times.
  const times = ['', 'yesterday', 'not a time', '2025-13-45T99:99:99Z', 'T11:58:03Z', '2025-06-01T11:58:03Z'.padEnd(41, 'Z'), ' '.repeat(41), undefined];
  for (let i = 0; i < 30; i++) {
    const value = random() < 0.7 ? pick(times) : nonString();
    add('bad time', value === undefined ? without(valid(), 'time') : { ...valid(), time: value }, TIME);
  }
  // 7. A detail that is not an object.
  for (let i = 0; i < 25; i++) {
    const value = pick<unknown>([null, [], [valid().detail], 'terminated', 42, true, undefined, long(), JSON.stringify(valid().detail)]);
    add('detail not an object', value === undefined ? without(valid(), 'detail') : { ...valid(), detail: value }, DETAIL);
  }
  // 8. A detail with more than the instance and its state.
  for (let i = 0; i < 30; i++) {
    const event = valid();
    const key = pick(['instance-action', 'previous-state', 'State', 'instanceId', 'instance_id', 'detail', '__proto__', '', 'x'.repeat(300), 'nested']);
    add('extra detail field', withDetail(event, { ...event.detail, [key]: key === 'nested' ? nested(4) : junk() }), DETAIL_EXTRA);
  }
  // 9. Bad instance ids.
  const ids = [
    'i-0123456789ABCDEF0', 'I-0123456789abcdef0', 'i-0123', 'i-0123456789abcdef', 'i-0123456789abcdef01', 'i-012345678', 'i-0123456789abcdefg',
    'vol-0123456789abcdef0', 'ami-0123456789abcdef0', ' i-0123456789abcdef0', 'i-0123456789abcdef0\n', 'i-0123456789abcdef0 ', 'i_0123456789abcdef0',
    'i-', '', '*', 'i-*', `arn:aws:ec2:eu-west-1:111122223333:instance/${TARGET.id}`, 'i-０１２３４５６７', TARGET.id.toUpperCase(), `${TARGET.id}\u0000`,
  ];
  for (let i = 0; i < 60; i++) {
    const event = valid();
    const choice = int(10);
    const value = choice < 6 ? pick(ids) : choice < 8 ? nonString() : choice < 9 ? long() : nested(3);
    add('bad instance id', random() < 0.1 ? detailWithout(event, 'instance-id') : withDetail(event, { ...event.detail, 'instance-id': value }), ID);
  }
  // 10. Bad states.
  const states = ['pending', 'stopping', 'stopped', 'rebooting', 'Running', 'TERMINATED', 'terminated ', 'shutting_down', 'shutting down', '', '16', 'terminated\u0000'];
  for (let i = 0; i < 50; i++) {
    const event = valid();
    const value = random() < 0.7 ? pick(states) : random() < 0.5 ? nonString() : pick([{ name: 'terminated', code: 48 }, ['terminated'], long()]);
    add('bad state', random() < 0.1 ? detailWithout(event, 'state') : withDetail(event, { ...event.detail, state: value }), STATE);
  }
  // 11. Bodies over the size limit, even when otherwise well formed.
  for (let i = 0; i < 10; i++) {
    const event = valid();
    const body = pick([
      () => JSON.stringify(event) + ' '.repeat(262_144),
      () => JSON.stringify({ ...event, resources: [...event.resources, 'x'.repeat(262_144)] }),
      () => JSON.stringify({ ...event, detail: { ...event.detail, state: 'é'.repeat(131_073) } }),
      () => '['.repeat(262_145),
    ])();
    add('over the size limit', body, SIZE);
  }
  // 12. Several things wrong at once: the first one checked is named.
  for (let i = 0; i < 20; i++) {
    const event = { ...valid(), 'detail-type': 'Scheduled Event', 'time': 'never', 'detail': [] };
    add('several things wrong: the kind is named first', event, KIND);
  }
  for (let i = 0; i < 10; i++) {
    add('several things wrong: an extra field is named first', { ...valid(), extra: 1, source: 'aws.s3', detail: null }, EXTRA);
  }
  return all;
}

interface EventCase {
  readonly title: string;
  readonly event: unknown;
}

function eventCases(): EventCase[] {
  const all: EventCase[] = [];
  const add = (title: string, event: unknown) => all.push({ title, event });
  const good = () => message(TARGET.id, 'terminated') as unknown as Record<string, unknown>;
  const records = (n: number) => Array.from({ length: n }, good);
  const breakOne = (list: unknown[], broken: unknown) => {
    list[int(list.length)] = broken;
    return { Records: list };
  };

  for (const value of [null, undefined, 0, -1, 'x', '', true, Number.NaN, [], [good()], [[null]], 'Records']) add('not an object', value);
  for (const value of ['x', {}, null, 42, { 0: good() }, JSON.stringify([good()]), true]) add('Records not an array', { Records: value });
  add('Records empty', { Records: [] });
  add('Records over 10000', { Records: Array.from({ length: 10_001 }, () => good()) });
  for (const value of [null, 'x', 1, [], true, [good()]]) add('a record that is not an object', breakOne(records(1 + int(5)), value));
  for (const value of ['aws:sns', 'aws:kinesis', 'aws:SQS', 'aws:sqs ', '', undefined, null, 7, 'aws:dynamodb']) {
    add('a record whose eventSource is not aws:sqs', breakOne(records(1 + int(5)), { ...good(), eventSource: value }));
  }
  for (const value of [undefined, '', 42, null, 'x'.repeat(129), ['id'], {}]) {
    add('a record with a bad messageId', breakOne(records(1 + int(5)), { ...good(), messageId: value }));
  }
  for (const value of [undefined, null, 42, true, [], stateChange(TARGET.id, 'terminated')]) {
    add('a record whose body is not a string', breakOne(records(1 + int(5)), { ...good(), body: value }));
  }
  add('an SNS notification event', {
    Records: [{
      EventSource: 'aws:sns',
      EventVersion: '1.0',
      EventSubscriptionArn: 'arn:aws:sns:eu-west-1:111122223333:topic:0b1d4f3c',
      Sns: { Type: 'Notification', MessageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e', Message: JSON.stringify(stateChange(TARGET.id, 'terminated')) },
    }],
  });
  add('a DynamoDB stream event', { Records: [{ eventID: '1', eventName: 'INSERT', eventSource: 'aws:dynamodb', dynamodb: { Keys: { InstanceId: { S: TARGET.id } } } }] });
  add('a Kinesis event', { Records: [{ eventSource: 'aws:kinesis', kinesis: { data: Buffer.from(JSON.stringify(stateChange(TARGET.id, 'terminated'))).toString('base64') } }] });
  add('the state-change event itself, not through the queue', stateChange(TARGET.id, 'terminated'));
  add('the state-change event with Records beside it', { ...stateChange(TARGET.id, 'terminated'), Records: 'x' });
  add('a sweep event with a bad field', { source: 'cdk-fleet-janitor.schedule', dryRun: 'yes' });
  add('a sweep event with Records beside it', { source: 'cdk-fleet-janitor.schedule', Records: null });
  return all;
}

const BODY_CASES = bodyCases();
const EVENT_CASES = eventCases();

/** A handler whose configuration is read now (it is read at the first invocation), so it outlives the test's environment. */
async function configuredHandler(): Promise<Handler> {
  const loaded = loadHandler({ HOOK_FUNCTIONS: JSON.stringify(['arn:aws:lambda:eu-west-1:111122223333:function:cmdb-update']) });
  await expect(loaded(null)).rejects.toMatchObject({ name: 'EventShapeError' });
  return loaded;
}

let handler: Handler;
beforeAll(async () => {
  handler = await configuredHandler();
});

/** The reason the handler gave for a message, from its warning log line. */
function reasonFor(messageId: string): string {
  const lines = logLines('warn').filter((l) => l.resourceId === messageId);
  expect(lines).toEqual([expect.objectContaining({ message: 'action failed', resourceType: 'message', action: 'NONE', outcome: 'FAILED', errorCode: 'EventShapeError' })]);
  return String(lines[0].reason);
}

describe('malformed message bodies', () => {
  beforeEach(serveWorld);

  test('at least 500 cases, of every kind', () => {
    expect(BODY_CASES.length).toBeGreaterThanOrEqual(500);
    expect(new Set(BODY_CASES.map((c) => c.title)).size).toBeGreaterThanOrEqual(15);
    expect(new Set(BODY_CASES.map((c) => c.names)).size).toBe(10);
  });

  test('the world is live: a well-formed message about the target changes things, so the cases below are meaningful', async () => {
    const response = await handler(batch(message(TARGET.id, 'terminated')));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(new Set(sentCommands().filter((n) => STATE_CHANGING.has(n)))).toEqual(new Set([
      'ChangeResourceRecordSetsCommand', 'DeleteAlarmsCommand', 'InvokeCommand', 'PutEventsCommand', 'UpdateItemCommand', 'PublishCommand',
    ]));
  });

  test.each(BODY_CASES.map((c, n) => [n, c.title, c] as const))('#%i %s: that message fails with a clear EventShapeError, nothing changed', async (_n, _title, c) => {
    const bad = sqsMessage(c.body);
    const companion = message(DONE.id, 'terminated');
    const response = await handler(batch(companion, bad));

    expect(failedIds(response)).toEqual([bad.messageId]);
    expectNoStateChanges(['PublishCommand']);
    const reason = reasonFor(bad.messageId);
    expect(reason).toMatch(/^Rejected event: not an EC2 instance state-change event: .+\. No resource was changed\.$/s);
    expect(reason).toMatch(c.names);
    // named without echoing a huge value back (a value is cut at 64 characters, each at most 6 once escaped)
    expect(reason.length).toBeLessThan(700);
    const notification = published();
    expect(notification.Message).toContain(`- message ${bad.messageId}    action=NONE  result=FAILED  error=EventShapeError  (${reason})`);
    expect(notification.Subject).toBe('[fleet-janitor] InstanceDecommissioner: 0 done, 1 failed');
  });

  test('a batch of malformed messages only: all fail, so Powertools fails the invocation; the notification lists each', async () => {
    const bad = BODY_CASES.filter((_, n) => n % 53 === 0).slice(0, 10).map((c) => sqsMessage(c.body));
    await expect(handler(batch(...bad))).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    expectNoStateChanges(['PublishCommand']);
    expect(publishCalls()).toHaveLength(1);
    for (const m of bad) expect(reasonFor(m.messageId)).toMatch(/No resource was changed\.$/);
    expect(published().Subject).toBe(`[fleet-janitor] InstanceDecommissioner: 0 done, ${bad.length} failed`);
  });

  test('many malformed messages beside well-formed ones: exactly the malformed ids fail', async () => {
    const bad = BODY_CASES.filter((_, n) => n % 7 === 3).map((c) => sqsMessage(c.body));
    const goodOnes = [message(DONE.id, 'terminated'), message(DONE.id, 'shutting-down')];
    const mixed: SqsMessage[] = [goodOnes[0], ...bad.slice(0, 40), goodOnes[1], ...bad.slice(40)];
    const response = await handler(batch(...mixed));
    expect(failedIds(response)).toEqual(bad.map((m) => m.messageId));
    expectNoStateChanges(['PublishCommand']);
  });
});

describe('malformed invocation events', () => {
  beforeEach(serveWorld);

  test('at least 50 cases', () => {
    expect(EVENT_CASES.length).toBeGreaterThanOrEqual(50);
  });

  test.each(EVENT_CASES.map((c, n) => [n, c.title, c] as const))('#%i %s: rejected with an EventShapeError before any AWS call', async (_n, _title, c) => {
    const invocation = handler(c.event);
    await expect(invocation).rejects.toMatchObject({ name: 'EventShapeError' });
    const error = await invocation.catch((e: Error) => e) as Error;
    expect(error.message).toMatch(/^Rejected event: .+\. No resource was changed\.$/s);
    expect(error.message.length).toBeLessThan(700);
    expectNoCallsAtAll();
  });
});
