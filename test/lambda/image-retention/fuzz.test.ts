/*
 * Seeded malformed events through the ImageRetention handler's entry point: values that are not
 * objects, random shapes, bad `source` / `dryRun`, broken EventBridge Scheduled Events (one field
 * at a time), other services' events, huge strings, arrays, null, extra keys. Each must be refused
 * with an EventShapeError that says what is wrong without echoing a huge value, and none may lead
 * to a state-changing call (BatchDeleteImage, DeregisterTaskDefinition, DeleteTaskDefinitions).
 * As in the other sweep handlers' fuzz tests (TagPolicyEngine), Publish is not counted as a change.
 * The world is served fresh for every case with old unused images and task definition revisions,
 * so anything that got through would have something to delete.
 */
import { expectNoStateChanges, Handler, image, installHandlerHarness, loadHandler, olds, serve, STATE_CHANGING, uri, World } from './harness';
import { mulberry32 } from '../../emulator/random';
import { CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT } from '../../helpers/scheduled-events';

installHandlerHarness();

const random = mulberry32(0x1a9e7e);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
const huge = () => pick(['x', 'é', '😀', '\u0000', '{"a":', ' ']).repeat(10_000 + int(200_000));

/** Any value that is not a string. */
function nonString(depth = 0): unknown {
  const choices: Array<() => unknown> = [
    () => null, () => undefined, () => true, () => false, () => 0, () => -1, () => 1e21, () => Number.NaN, () => 3.5,
    () => Array.from({ length: int(4) }, () => junk(depth + 1)),
    () => Object.fromEntries(Array.from({ length: int(4) }, (_, i) => [`k${i}`, junk(depth + 1)])),
  ];
  return pick(depth > 2 ? choices.slice(0, 9) : choices)();
}

function junk(depth = 0): unknown {
  return random() < 0.5 ? nonString(depth) : pick(['', 'x', huge(), '\u0000', 'é😀', 'Scheduled Event', 'aws.events', 'true', 'DELETE']);
}

interface Case {
  readonly title: string;
  readonly event: unknown;
}

/** A copy of `base` with `key` set to `value`, or removed (value undefined, half the time). */
function withField(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...base };
  if (value === undefined && random() < 0.5) delete copy[key];
  else copy[key] = value;
  return copy;
}

function cases(): Case[] {
  const all: Case[] = [];
  const add = (title: string, event: unknown) => all.push({ title, event });

  // 1. Not an object at all.
  for (let i = 0; i < 60; i++) {
    add('not an object', pick([null, undefined, 0, -1, 1e21, true, false, '', 'run', '{}', huge(), [], [{}], [CONSOLE_SCHEDULED_EVENT], [{ dryRun: true }], Number.NaN, [[null]]]));
  }

  // 2. Random shapes: at least one field a sweep event does not have.
  const KEYS = ['foo', 'Source', 'DryRun', 'dry_run', 'dryrun', 'detail', 'resources', 'RequestType', 'Records', 'action', 'repositories', '', ' ', 'source ', `k${int(99)}`];
  for (let i = 0; i < 150; i++) {
    const event: Record<string, unknown> = {};
    const n = 1 + int(5);
    for (let k = 0; k < n; k++) event[random() < 0.1 ? huge().slice(0, 300 + int(5_000)) : pick(KEYS)] = junk();
    if (random() < 0.3) event.source = pick(['cdk-fleet-janitor.schedule', 'aws.events', 'manual']);
    if (random() < 0.3) event.dryRun = pick([true, false]);
    if (Object.keys(event).every((k) => k === 'source' || k === 'dryRun')) event.extra = junk();
    add('random shape', event);
  }
  add('an own "__proto__" key', JSON.parse('{"__proto__": {"dryRun": true}}'));
  add('an own "constructor" key', JSON.parse('{"source": "x", "constructor": {}}'));

  // 3. The sweep event's own fields with bad values.
  for (let i = 0; i < 70; i++) {
    const bad = pick([
      () => ({ dryRun: pick(['true', 'false', 'yes', 1, 0, null, [], {}, [true]]) }),
      () => ({ source: pick([1, null, [], {}, true, huge(), 's'.repeat(257)]) }),
      () => ({ source: 'cdk-fleet-janitor.schedule', dryRun: pick(['true', 1, null]) }),
      () => ({ source: pick([7, null, 's'.repeat(257 + int(1_000))]), dryRun: true }),
    ])();
    add('bad source or dryRun', bad);
  }

  // 4. Broken Scheduled Events, one field at a time.
  const scheduled: Record<string, () => unknown> = {
    'detail-type': () => pick(['Scheduled event', 'scheduled Event', 'AWS API Call via CloudTrail', 'EC2 Instance State-change Notification', '', undefined, nonString(), huge()]),
    'source': () => pick(['aws.ec2', 'aws.event', 'aws.scheduler', '', undefined, nonString(), huge()]),
    'id': () => pick([undefined, '', 'a b', 'x'.repeat(129), 'id/1', nonString()]),
    'account': () => pick([undefined, '12345', '1234567890123', 'abcdefghijkl', 123456789012, nonString(), huge()]),
    'time': () => pick([undefined, 'yesterday', '2015-10-08 16:53:06', '2015-13-45T99:99:99Z', '2015-10-08T16:53:06+02:00', 1444323186, nonString()]),
    'region': () => pick([undefined, 'eu-west', 'EU-WEST-1', 'moon-1', '', 'us-east-1 ', nonString()]),
    'resources': () => pick([undefined, [], 'arn:aws:events:us-east-1:123456789012:rule/x', [1], [null], ['arn:aws:sns:us-east-1:123456789012:x'],
      ['arn:aws:events:us-east-1:123456789012:event-bus/default'], Array.from({ length: 11 }, () => 'arn:aws:events:us-east-1:123456789012:rule/x'),
      [huge()], [`arn:aws:events:us-east-1:123456789012:rule/${'r'.repeat(1_600)}`], nonString()]),
    'detail': () => pick([null, [], 'x', { a: 1 }, { dryRun: true }, 0, huge()]),
    'version': () => pick(['v0', '', 0, nonString(), '123456789']),
  };
  for (let i = 0; i < 200; i++) {
    const key = pick(Object.keys(scheduled));
    const base = random() < 0.5 ? CONSOLE_SCHEDULED_EVENT : RULE_SCHEDULED_EVENT;
    let value = scheduled[key]();
    // Without "version" or "detail", a Scheduled Event is still whole: those two are only ever given bad values.
    if ((key === 'version' || key === 'detail') && value === undefined) value = 'bad';
    add(`Scheduled Event, bad ${key}`, withField(base, key, value));
  }
  for (let i = 0; i < 25; i++) {
    add('Scheduled Event with an extra field', { ...pick([CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT]), [pick(['dryRun', 'Detail', 'extra', 'repositories', 'action'])]: junk() });
  }
  for (let i = 0; i < 15; i++) {
    // A sweep event with envelope fields: taken as an (incomplete) Scheduled Event.
    add('sweep fields mixed with envelope fields', { source: pick(['cdk-fleet-janitor.schedule', 'aws.events']), dryRun: true, [pick(['detail-type', 'account', 'region', 'time', 'id', 'resources'])]: junk() });
  }

  // 5. Other services' events.
  const OTHERS: unknown[] = [
    { 'version': '0', 'id': 'a', 'detail-type': 'EC2 Instance State-change Notification', 'source': 'aws.ec2', 'account': '123456789012', 'time': '2024-01-01T00:00:00Z', 'region': 'us-east-1', 'resources': [], 'detail': { 'instance-id': 'i-0123456789abcdef0', 'state': 'terminated' } },
    { 'version': '0', 'id': 'b', 'detail-type': 'ECR Image Action', 'source': 'aws.ecr', 'account': '123456789012', 'time': '2024-01-01T00:00:00Z', 'region': 'us-east-1', 'resources': [], 'detail': { 'action-type': 'PUSH', 'repository-name': 'app' } },
    { Records: [{ eventSource: 'aws:sqs', body: '{}' }] },
    { Records: [{ EventSource: 'aws:sns', Sns: { Message: '{"dryRun":false}' } }] },
    { RequestType: 'Create', ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x', ResourceProperties: {} },
    { httpMethod: 'POST', path: '/run', body: '{"dryRun":false}' },
    { Payload: { dryRun: false } },
    { input: '{}' },
  ];
  for (let i = 0; i < 20; i++) add('another service\'s event', pick(OTHERS));
  return all;
}

const CASES = cases();

/** Old unused images and task definition revisions: a run that got through would delete them. */
function liveWorld(): World {
  const world = new World();
  world.repository('app', [...olds(5), image({ tags: ['latest'] })]);
  for (let i = 0; i < 4; i++) world.taskDefinition('web', [uri('base', ':1')]);
  world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
  return world;
}

const ENV = { ACTION: 'DELETE', TASK_DEFINITIONS: '{"keepNewestRevisions":1,"deregisterUnused":true,"deleteInactive":true}' };

let handler: Handler;
let world: World;

describe('malformed events', () => {
  // A fresh module for every case: its environment (configuration and credentials) is the test's.
  beforeEach(() => {
    handler = loadHandler(ENV);
    world = liveWorld();
    serve(world);
  });

  test('at least 500 seeded cases, of every kind', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(500);
    const kinds = new Set(CASES.map((c) => c.title.split(',')[0]));
    expect(kinds.size).toBeGreaterThanOrEqual(8);
  });

  test('the world is live: a plain run deletes images and changes revisions, so the cases below are meaningful', async () => {
    const result = await handler({ source: 'fuzz' });
    const changes = new Set(world.calls.filter((c) => STATE_CHANGING.includes(c.op)).map((c) => c.op));
    expect(changes).toEqual(new Set(STATE_CHANGING));
    expect(result.counts.actionsTaken).toBe(5 + 3 + 1); // images, deregistered, deleted
  });

  test.each(CASES.map((c, n) => [n, c.title, c] as const))('#%i %s: refused, no state-changing call', async (_n, _title, c) => {
    let error: Error | undefined;
    try {
      await handler(c.event);
    } catch (e) {
      error = e as Error;
    }
    expectNoStateChanges(world);
    expect(error?.name).toBe('EventShapeError');
    expect(error!.message).toMatch(/^Rejected event: .+\. No resource was changed\.$/s);
    // it says what is wrong without echoing a huge value back
    expect(error!.message.length).toBeLessThan(1_000);
  });
});
