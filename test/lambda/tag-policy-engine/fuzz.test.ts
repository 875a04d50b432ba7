/*
 * Seeded malformed input through the function's entry point. Events: random shapes, broken
 * Scheduled Events, broken CloudTrail envelopes and records, custom resource events with bad
 * RequestType or properties, huge strings, arrays, null. Each must be refused with an
 * EventShapeError (or, for a well-formed envelope whose record launched nothing, be a no-op), and
 * none may lead to a state-changing call. The fleet and the rule table are served so that anything
 * that got through would have something to tag, stop or write.
 * Rule items: 200 malformed items in the table, each reported as an invalid rule while the run
 * goes on and writes only the valid rules' tags.
 */
import { AttributeValue } from '@aws-sdk/client-dynamodb';
import { StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import 'aws-sdk-client-mock-jest';
import {
  asgRecord, COMPLIANT_TAGS, ec2Instance, ec2Mock, expectNoStateChanges, Handler, iamUserRecord, idsOf, installHandlerHarness, item, launchEvent,
  loadHandler, markOf, ago, DAY, RuleItem, rulesEvent, rulesProperties, SEED_RULES, sentCommands, serveInstances, serveTable, ssoRecord,
  STATE_CHANGING, VIOLATION, writtenTags,
} from './harness';
import type { SweepResult } from '../../../lambda/tag-policy-engine/index';
import { mulberry32 } from '../../emulator/random';
import { CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT } from '../../helpers/scheduled-events';

installHandlerHarness();

const random = mulberry32(0x7a9e13);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
const huge = () => pick(['x', 'é', '😀', '\u0000', '{"a":']).repeat(10_000 + int(500_000));

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
  return random() < 0.5 ? nonString(depth) : pick(['', 'x', huge(), '\u0000', 'é😀', 'RunInstances', 'Scheduled Event', 'Create']);
}

/** A value that is not a non-empty object (for fields that must be one). */
const notObject = () => pick([null, undefined, 'detail', 42, true, [], [{}], huge()]);

// The fleet every case would act on if it got through: instances that need tags, marks, a stop.
const FLEET = [
  ec2Instance({ tags: {} }),
  ec2Instance({ tags: { ...COMPLIANT_TAGS, Environment: 'nope' } }),
  ec2Instance({ tags: { CostCenter: '1001', [VIOLATION]: markOf(ago(9 * DAY)) } }),
];
const IDS = idsOf(FLEET);

interface Case {
  readonly title: string;
  readonly event: unknown;
  /** A well-formed envelope whose content launched nothing may be accepted as a no-op. */
  readonly noOpAllowed?: boolean;
}

function withField(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...base };
  if (value === undefined && random() < 0.5) delete copy[key];
  else copy[key] = value;
  return copy;
}

const RECORDS = [() => iamUserRecord({ instanceIds: IDS }), () => ssoRecord({ instanceIds: IDS }), () => asgRecord({ instanceIds: IDS })];

function cases(): Case[] {
  const all: Case[] = [];
  const add = (title: string, event: unknown, noOpAllowed = false) => all.push({ title, event, noOpAllowed });

  // 1. Not an object at all.
  for (let i = 0; i < 40; i++) {
    add('not an object', pick([null, undefined, 0, -1, true, false, '', 'sweep', huge(), [], [{}], [CONSOLE_SCHEDULED_EVENT], Number.NaN, [[null]]]));
  }

  // 2. Random shapes: at least one field a sweep event does not have, or a bad source / dryRun.
  for (let i = 0; i < 80; i++) {
    const event: Record<string, unknown> = {};
    const n = 1 + int(5);
    for (let k = 0; k < n; k++) event[pick(['foo', 'Source', 'dry_run', 'detail', 'RequestType', '', huge().slice(0, 300), `k${k}`, 'resources'])] = junk();
    if (random() < 0.3) event.source = random() < 0.5 ? nonString() ?? 7 : huge();
    if (random() < 0.3) event.dryRun = pick(['true', 'false', 1, 0, null, [], {}]);
    if (Object.keys(event).every((k) => k === 'source' || k === 'dryRun') && typeof event.source === 'string' && event.source.length <= 256) event.bogus = 1;
    add('random shape', event);
  }
  for (let i = 0; i < 20; i++) add('bad dryRun or source', pick([{ dryRun: pick(['yes', 1, null, [], {}]) }, { source: pick([1, null, [], {}, huge()]) }]));

  // 3. Broken Scheduled Events: one field at a time.
  const scheduled: Record<string, () => unknown> = {
    'detail-type': () => pick(['Scheduled event', 'AWS API Call via CloudTrail', '', undefined, nonString(), huge()]),
    'source': () => pick(['aws.ec2', 'aws.event', '', undefined, nonString(), huge()]),
    'id': () => pick([undefined, '', 'a b', 'x'.repeat(129), nonString()]),
    'account': () => pick([undefined, '12345', '1234567890123', 'abcdefghijkl', 123456789012, nonString()]),
    'time': () => pick([undefined, 'yesterday', '2015-10-08 16:53:06', '2015-13-45T99:99:99Z', 1444323186, nonString()]),
    'region': () => pick([undefined, 'eu-west', 'EU-WEST-1', 'moon-1', '', nonString()]),
    'resources': () => pick([undefined, [], 'arn:aws:events:us-east-1:123456789012:rule/x', [1], ['arn:aws:sns:us-east-1:123456789012:x'],
      Array.from({ length: 11 }, () => 'arn:aws:events:us-east-1:123456789012:rule/x'), [huge()], nonString()]),
    'detail': () => pick([null, [], 'x', { a: 1 }, 0]),
    'version': () => pick(['v0', '', 0, nonString(), '123456789']),
  };
  for (let i = 0; i < 90; i++) {
    const key = pick(Object.keys(scheduled));
    const base = random() < 0.5 ? CONSOLE_SCHEDULED_EVENT : RULE_SCHEDULED_EVENT;
    const value = scheduled[key]();
    if (key === 'version' && value === undefined) continue;
    add(`Scheduled Event, bad ${key}`, withField(base, key, value === undefined && !['detail-type', 'source'].includes(key) ? undefined : value));
  }
  for (let i = 0; i < 10; i++) add('Scheduled Event with an extra field', { ...CONSOLE_SCHEDULED_EVENT, [pick(['dryRun', 'Detail', 'extra', 'RequestType'])]: junk() });

  // 4. Broken CloudTrail envelopes.
  const envelope: Record<string, () => unknown> = {
    source: () => pick(['aws.events', 'aws.s3', 'ec2.amazonaws.com', '', undefined, nonString(), huge()]),
    account: () => pick(['12345', '', undefined, 111122223333, nonString(), huge()]),
    region: () => pick(['eu_west_1', '', undefined, 'xx', nonString(), huge()]),
    detail: () => notObject(),
  };
  for (let i = 0; i < 80; i++) {
    const key = pick(Object.keys(envelope));
    add(`CloudTrail envelope, bad ${key}`, withField(launchEvent(pick(RECORDS)()), key, envelope[key]()));
  }
  for (let i = 0; i < 15; i++) add('CloudTrail envelope with an extra field', { ...launchEvent(pick(RECORDS)()), [pick(['dryRun', 'Records', 'extra', 'ResourceProperties'])]: junk() });
  for (let i = 0; i < 15; i++) {
    const event = launchEvent(pick(RECORDS)());
    add('CloudTrail envelope, bad detail-type', { ...event, 'detail-type': pick(['AWS API Call via CloudTrail ', 'AWS Service Event via CloudTrail', 'Scheduled Event', '', huge()]) });
  }

  // 5. Broken CloudTrail records: wrong event, wrong source, no identity (refused) ...
  const record: Record<string, () => unknown> = {
    eventName: () => pick(['StartInstances', 'runInstances', 'RunInstance', '', undefined, nonString(), huge()]),
    eventSource: () => pick(['autoscaling.amazonaws.com', 'ec2.amazonaws', '', undefined, nonString(), huge()]),
    userIdentity: () => pick([null, undefined, 'alice', 42, [], [{ type: 'IAMUser', userName: 'alice' }]]),
  };
  for (let i = 0; i < 60; i++) {
    const key = pick(Object.keys(record));
    add(`CloudTrail record, bad ${key}`, launchEvent(withField(pick(RECORDS)(), key, record[key]())));
  }
  // ... and records that say nothing was launched, or by nobody known: a no-op at most.
  const empty: Array<() => Record<string, unknown>> = [
    () => ({ ...iamUserRecord({ instanceIds: IDS }), errorCode: pick(['Client.UnauthorizedOperation', 'Server.InsufficientInstanceCapacity', '']) }),
    () => ({ ...iamUserRecord({ instanceIds: IDS }), responseElements: pick([null, undefined, 'x', [], {}, { instancesSet: pick([null, 'x', [], { items: 'x' }, { items: [] }]) }]) }),
    () => ({ ...iamUserRecord({ instanceIds: IDS.map((id) => pick([id.toUpperCase(), `${id}0`, id.replace('i-', 'vol-'), '', huge().slice(0, 50)])) }) }),
    () => ({ ...iamUserRecord({ instanceIds: IDS }), userIdentity: pick([{}, { type: 'IAMUser' }, { type: 'AssumedRole', arn: '' }, { type: 42 }]) }),
  ];
  for (let i = 0; i < 40; i++) add('CloudTrail record that launched nothing known', launchEvent(pick(empty)()), true);

  // 6. Custom resource events with a bad RequestType or properties.
  const goodRules = SEED_RULES;
  const badRules: Array<() => unknown> = [
    () => undefined, () => '', () => '[', () => '{}', () => 'null', () => '"rules"', () => JSON.stringify([null]), () => JSON.stringify([[]]),
    () => JSON.stringify([{ TagKey: 'x' }]), () => JSON.stringify([{ RuleId: '', TagKey: 'x' }]), () => JSON.stringify([{ RuleId: 'r'.repeat(300), TagKey: 'x' }]),
    () => huge(), () => 42, () => [goodRules],
  ];
  const badWritable: Array<() => unknown> = [
    ...badRules,
    () => JSON.stringify([{ RuleId: 'r', TagKey: 'aws:x' }]), () => JSON.stringify([{ RuleId: 'r', TagKey: 'X', Action: 'Lookup' }]),
    () => JSON.stringify([{ RuleId: 'r', TagKey: 'X', Pattern: '(' }]), () => JSON.stringify([{ RuleId: 'r', TagKey: 'X', Action: 'Update', Default: 'a', AllowedValues: ['b'] }]),
  ];
  const badProperties = (writable: boolean): unknown => {
    const choice = int(5);
    if (choice === 0) return notObject();
    const props: Record<string, unknown> = { ...rulesProperties(goodRules) };
    if (choice === 1) props.TableName = pick([undefined, '', 42, null, []]);
    else if (choice === 2) props.Owner = pick([undefined, '', 42, null, {}]);
    else props.Rules = pick(writable ? badWritable : badRules)();
    return props;
  };
  for (let i = 0; i < 30; i++) {
    add('custom resource, bad RequestType', { ...rulesEvent('Create', rulesProperties(goodRules)), RequestType: pick(['create', 'CREATE', 'Delete ', 'Replace', '', null, 1, [], huge()]) });
  }
  for (let i = 0; i < 50; i++) {
    const type = pick(['Create', 'Update', 'Delete'] as const);
    const extra = type === 'Update' ? { OldResourceProperties: rulesProperties(goodRules) } : {};
    add(`custom resource ${type}, bad ResourceProperties`, { ...rulesEvent(type, {}, extra), ResourceProperties: badProperties(type !== 'Delete') });
  }
  for (let i = 0; i < 20; i++) {
    add('custom resource Update, bad OldResourceProperties', rulesEvent('Update', rulesProperties(goodRules), { OldResourceProperties: badProperties(false) }));
  }
  return all;
}

const CASES = cases();

/** The fleet and a rule table that every route would act on, served fresh for each case. */
function serveWorld() {
  serveInstances(FLEET);
  serveTable(SEED_RULES.map(item));
  ec2Mock.on(StopInstancesCommand).resolves({});
  ec2Mock.on(TerminateInstancesCommand).resolves({});
}

/** A handler whose configuration is read now (it is read at the first invocation), so it outlives the test's environment. */
async function configuredHandler(env: Record<string, string> = {}): Promise<Handler> {
  const loaded = loadHandler(env);
  await expect(loaded(null)).rejects.toMatchObject({ name: 'EventShapeError' });
  return loaded;
}

let handler: Handler;
let ruleHandler: Handler;
beforeAll(async () => {
  jest.spyOn(Math, 'random').mockReturnValue(0);
  handler = await configuredHandler({ UNTAGGED_ACTION: 'STOP' });
  ruleHandler = await configuredHandler();
});
afterAll(() => jest.restoreAllMocks());

describe('malformed events', () => {
  beforeEach(serveWorld);

  test('at least 500 cases, of every kind', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(500);
    const kinds = new Set(CASES.map((c) => c.title.split(',')[0]));
    expect(kinds.size).toBeGreaterThanOrEqual(10);
  });

  test('the world is live: a plain sweep changes things, so the cases below are meaningful', async () => {
    await handler({ source: 'fuzz' });
    expect(sentCommands().filter((n) => STATE_CHANGING.has(n)).length).toBeGreaterThan(0);
  });

  test.each(CASES.map((c, n) => [n, c.title, c] as const))('#%i %s: refused (or a no-op), no state-changing call', async (_n, _title, c) => {
    let outcome: { error?: Error; result?: unknown };
    try {
      outcome = { result: await handler(c.event) };
    } catch (error) {
      outcome = { error: error as Error };
    }
    expectNoStateChanges();
    if (outcome.error) {
      expect(outcome.error.name).toBe('EventShapeError');
      expect(outcome.error.message).toMatch(/^Rejected event: .+\. No resource was changed\.$/s);
      // the error names what is wrong without echoing a huge value back
      expect(outcome.error.message.length).toBeLessThan(1_000);
    } else {
      expect(c.noOpAllowed).toBe(true);
      expect(outcome.result).toMatchObject({ status: 'SUCCEEDED', counts: { actionsTaken: 0 } });
    }
  });
});

// 200 malformed rule items: each breaks exactly one thing in an otherwise valid rule that would
// write a tag of its own (Fuzz<n>=value-<n>) if it were accepted.

const FUZZ_DEFAULT = (n: number) => `value-${n}`;

function malformedRule(n: number): Record<string, AttributeValue> {
  const base: RuleItem = { RuleId: `fuzz-${n}`, TagKey: `Fuzz${n}`, Action: 'Update', Default: FUZZ_DEFAULT(n), Required: 'true' };
  const raw = (attrs: Record<string, AttributeValue>) => ({ ...item(base), ...attrs });
  const breaks: Array<() => Record<string, AttributeValue>> = [
    () => item({ ...base, RuleId: undefined }),
    () => raw({ RuleId: pick<AttributeValue>([{ BOOL: true }, { L: [{ S: 'x' }] }, { M: {} }, { S: '' }, { S: 'r'.repeat(257 + int(1000)) }, { NULL: true }]) }),
    () => item({ ...base, TagKey: pick([undefined, '', '   ', 'aws:cost', 'AWS:Name', 'k'.repeat(129 + int(500))]) }),
    () => raw({ TagKey: pick<AttributeValue>([{ N: '5' }, { BOOL: false }, { L: [] }, { SS: ['a'] }]) }),
    () => item({ ...base, Required: pick(['yes', 'TRUE ', 'on', '1', '', 'truee']) }),
    () => raw({ Required: pick<AttributeValue>([{ N: '1' }, { L: [{ S: 'true' }] }, { M: { a: { S: 'b' } } }]) }),
    () => raw({ AllowedValues: pick<AttributeValue>([{ L: [] }, { S: 'a,b' }, { NS: ['1', '2'] }, { L: [{ N: '1' }] }, { L: [{ S: 'v'.repeat(257) }] }, { BOOL: true }]) }),
    () => item({ ...base, AllowedValues: Array.from({ length: 1_001 }, (_, k) => `v${k}`) }),
    () => item({ ...base, AllowedValues: ['other'] }),
    () => item({ ...base, Pattern: pick(['(', '[a-', '*', 'a{2,1}', '(?<x>a)(?<x>b)', 'p'.repeat(1_025 + int(100)), '']) }),
    () => item({ ...base, Pattern: '^[0-9]+$' }),
    () => raw({ Pattern: pick<AttributeValue>([{ N: '1' }, { L: [{ S: '.*' }] }, { BOOL: true }]) }),
    () => item({ ...base, OnViolation: pick(['DELETE', 'notify', 'Stop', '', 'TERMINATE ']) }),
    () => raw({ OnViolation: { N: '2' } }),
    () => item({ ...base, Action: pick(['Lookup', 'update', 'Delete', '', 'Function()', 'today()']) }),
    () => raw({ Action: pick<AttributeValue>([{ N: '1' }, { BOOL: true }, { L: [{ S: 'Update' }] }]) }),
    () => item({ ...base, Action: 'Function', Default: pick(['now()', 'today', 'TODAY()', '', undefined]) }),
    () => item({ ...base, Action: 'FromTag', Default: pick([undefined, '', ' ', 'k'.repeat(129), `Fuzz${n}`]) }),
    () => item({ ...base, Action: undefined }),
    () => item({ ...base, Default: 'd'.repeat(257 + int(1000)) }),
    () => raw({ Default: pick<AttributeValue>([{ N: '7' }, { L: [{ S: 'x' }] }, { BOOL: false }]) }),
    () => raw({ Required: { Q: 'x' } as unknown as AttributeValue }),
    () => raw({ Default: { M: null } as unknown as AttributeValue }),
  ];
  return breaks[n % breaks.length]();
}

const MALFORMED_RULES = Array.from({ length: 200 }, (_, n) => malformedRule(n));
/** The valid rules: the seed's CostCenter (fixed default) and LaunchDate (launch date). */
const VALID_RULES = [SEED_RULES[0], SEED_RULES[2]];
const RULE_FLEET = [ec2Instance({ tags: {} }), ec2Instance({ tags: { CostCenter: '1002' } })];

function expectOnlyValidTags(): void {
  const allowed = new Set([
    ...idsOf(RULE_FLEET).map((id) => `${id} LaunchDate=${ago(0, RULE_FLEET.find((i) => i.InstanceId === id)!.NetworkInterfaces![0].Attachment!.AttachTime!.getTime())
      .toISOString().slice(0, 10)}`),
    `${RULE_FLEET[0].InstanceId} CostCenter=unassigned`,
  ]);
  expect(writtenTags()).toEqual([...allowed].sort());
}

describe('malformed rule items', () => {
  test('200 malformed items in one table (many Scan pages): each reported, the run goes on, only the valid rules write tags', async () => {
    serveInstances(RULE_FLEET);
    const items = [...MALFORMED_RULES];
    items.splice(37, 0, item(VALID_RULES[0]));
    items.splice(151, 0, item(VALID_RULES[1]));
    const scans = serveTable(items, 9);
    const result = await ruleHandler({ source: 'fuzz' }) as SweepResult;
    expect(scans.length).toBeGreaterThanOrEqual(3);
    expect(result.status).toBe('SUCCEEDED');
    const reported = result.entries.filter((e) => e.resourceType === 'rule');
    expect(reported).toHaveLength(200);
    for (const e of reported) expect(e).toMatchObject({ action: 'NONE', outcome: 'REPORTED', reason: expect.stringMatching(/^invalid rule item, skipped \(the other rules apply\): .+/) });
    expectOnlyValidTags();
    expect(new Set(sentCommands().filter((n) => STATE_CHANGING.has(n)))).toEqual(new Set(['CreateTagsCommand']));
  });

  test.each(MALFORMED_RULES.map((raw, n) => [n, JSON.stringify(raw).slice(0, 80), raw] as const))('rule item #%i %s: reported, run goes on, no wrong tag', async (n, _text, raw) => {
    serveInstances(RULE_FLEET);
    serveTable([item(VALID_RULES[0]), raw, item(VALID_RULES[1])]);
    const result = await ruleHandler({ source: 'fuzz' }) as SweepResult;
    expect(result.status).toBe('SUCCEEDED');
    const reported = result.entries.filter((e) => e.resourceType === 'rule');
    expect(reported).toHaveLength(1);
    const id = raw.RuleId?.S;
    expect(reported[0].id).toEqual(id === `fuzz-${n}` ? id : expect.any(String));
    expectOnlyValidTags();
  });
});
