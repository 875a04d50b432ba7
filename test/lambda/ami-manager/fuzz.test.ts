/*
 * Seeded malformed events through the function's entry point, routed both as onEvent and as
 * isComplete. Every malformed event must be refused with an EventShapeError whose message starts
 * with the field at fault, before any state-changing EC2 call (in fact before any EC2 call). Only a
 * well-formed Delete is allowed to run, and even then it may only deregister and delete.
 */
import {
  CreateImageCommand, CreateTagsCommand, DeleteTagsCommand, DisableImageDeprecationCommand, EnableImageDeprecationCommand,
  ModifyImageAttributeCommand, ModifySnapshotAttributeCommand, StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  createEvent, deleteEvent, ec2Mock, ec2Writes, HandlerModule, installHandlerHarness, IS_COMPLETE_CONTEXT, loadModule, ON_EVENT_CONTEXT, props,
  serveImages, serveSnapshots, snsMock, STACK_ID, updateEvent, WRITE_COMMANDS,
} from './harness';
import { EventShapeError } from '../../../lambda/shared/errors';
import { AMI_PROPERTIES as P } from '../../../src/ami-manager/contract';
import { mulberry32 } from '../../emulator/random';

installHandlerHarness();

const random = mulberry32(0xa3109e);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
const IMAGE_ID = 'ami-0123456789abcdef0';

/** Any JSON-ish value that is not a string: the wrong type for every scalar field. */
function nonString(depth = 0): unknown {
  const choices: Array<() => unknown> = [
    () => null, () => undefined, () => true, () => false, () => 0, () => -1, () => 1e21, () => Number.NaN, () => 3.5,
    () => Array.from({ length: int(4) }, () => junk(depth + 1)),
    () => Object.fromEntries(Array.from({ length: int(4) }, (_, i) => [`k${i}`, junk(depth + 1)])),
  ];
  return pick(depth > 2 ? choices.slice(0, 9) : choices)();
}

/** Any value at all, nested junk included. */
function junk(depth = 0): unknown {
  return random() < 0.5 ? nonString(depth) : pick(['', 'x', 'x'.repeat(5_000 + int(200_000)), '\u0000', 'é😀', '{"RequestType":"Create"}']);
}

/** A string of `length` characters, some of them outside any id's alphabet. */
function noise(length: number): string {
  const alphabet = 'abcXYZ019 -_/:*\n\t\u00e9{}[]"\'';
  return Array.from({ length }, () => alphabet[int(alphabet.length)]).join('') + pick([' ', '/', '*', '\n', '\u00e9']);
}

function insertAt(text: string, bad: string): string {
  const at = int(text.length + 1);
  return text.slice(0, at) + bad + text.slice(at);
}

const huge = () => 'a'.repeat(2_049 + int(1_000_000));

/** Values each field must refuse, by construction (never one that happens to be valid). */
const BAD: Record<string, () => unknown> = {
  RequestType: () => pick([nonString(), '', 'create', 'CREATE', 'delete', 'Replace', 'Create ', ' Update', 'Delete\n', noise(1 + int(10)), huge()]),
  StackId: () => pick([
    nonString(), '', huge(), noise(1 + int(60)), 'arn:aws:cloudformation:eu-west-1:111122223333:stack/app',
    STACK_ID.replace('111122223333', '11112222333'), STACK_ID.replace(':cloudformation:', ':sns:'), insertAt(STACK_ID, pick([' ', '\n', '*', '\u00e9'])),
    STACK_ID.replace('stack/app/', 'stack/9app/'), `${STACK_ID}-extra`,
  ]),
  RequestId: () => pick([nonString(), '', 'r'.repeat(129 + int(100_000)), insertAt('7c9e6679-7425-40de-944b-e07fc1f90ae7', pick(['/', ' ', '\n', '_', '.', '\u00e9']))]),
  LogicalResourceId: () => pick([nonString(), '', 'L'.repeat(256 + int(1_000)), insertAt('BuildImage4F2A9C31', pick(['-', '_', ' ', '.', '\u00e9', '\n']))]),
  PhysicalResourceId: () => pick([undefined, null, 0, 7, true, [], {}, [IMAGE_ID], '', 'p'.repeat(1_025 + int(100_000))]),
  ResourceProperties: () => pick([undefined, null, 'props', 42, true, [], [props()], '{}']),
  OldResourceProperties: () => pick([undefined, null, 'props', 42, false, [], [props()]]),
};

const ACCOUNTS = (n: number) => Array.from({ length: n }, (_, i) => String(200_000_000_000 + i));

const BAD_PROPERTY: Record<string, () => unknown> = {
  [P.instanceId]: () => pick([undefined, nonString(), '', 'i-123', 'i-0123456789ABCDEF0', 'i-012345678', IMAGE_ID, insertAt('i-0123456789abcdef0', ' '), huge()]),
  [P.imageName]: () => pick([undefined, nonString(), '', 'ab', 'n'.repeat(120 + int(10_000)), insertAt('web-server', pick(['*', ':', ',', '\t', '\n', '#', '!', '?', '\u00e9', '%']))]),
  [P.description]: () => pick([nonString() ?? 42, 'd'.repeat(256 + int(10_000))]),
  [P.reboot]: () => pick(['TRUE', 'True', 'yes', 'no', '1', '0', '', 1, 0, null, [], {}, ['true']]),
  [P.stopInstanceAfterImage]: () => pick(['TRUE', 'False', 'on', '1', '', 1, null, {}, ['false']]),
  [P.timeoutSeconds]: () => pick([undefined, null, '', '299', '3601', '-300', '600.5', '1e3', ' 600', '0x258', '9'.repeat(13 + int(50)), 299, 3_601, 600.5, -1, [], {}, true]),
  [P.deprecateAfterSeconds]: () => pick([null, '', '59', '0', '315360001', '-60', '3600.0', 'P1D', 59, 315_360_001, 1.5, [], {}, false]),
  [P.tags]: () => pick([
    null, 'team=platform', 7, [{ Key: 'team', Value: 'x' }],
    Object.fromEntries(Array.from({ length: 47 + int(100) }, (_, i) => [`k${i}`, 'v'])),
    { team: 'x', ['aws:' + noise(3)]: 'v' },
    { ['fleet-janitor:ami:' + pick(['stack-id', 'logical-id', 'request-id', 'fingerprint', noise(3)])]: 'forged' },
    { '': 'empty key' }, { ['k'.repeat(129 + int(1_000))]: 'v' },
    { team: nonString() ?? 5 }, { team: 'v'.repeat(257 + int(10_000)) },
  ]),
  [P.shareWithAccounts]: () => pick([
    null, '444455556666', 444455556666, { a: '444455556666' }, true, [444455556666], ['444455556666', null], [['444455556666']],
    ['12345'], ['4444555566667'], ['44445555666a'], [' 444455556666'], ['444455556666', noise(12)], ACCOUNTS(101 + int(500)),
  ]),
  [P.removalPolicy]: () => pick(['Retain', 'RETAIN', 'Destroy', 'snapshot', '', 1, true, [], {}, ['retain']]),
  [P.topicArn]: () => pick([
    undefined, nonString(), '', 'arn:aws:sqs:eu-west-1:111122223333:q', 'arn:aws:sns:eu-west-1:1111:t', 'arn:aws:sns:eu-west-1:111122223333:',
    insertAt('arn:aws:sns:eu-west-1:111122223333:ami-reports', ' '), huge(),
  ]),
};

interface Case {
  readonly title: string;
  readonly event: unknown;
  readonly route: 'onEvent' | 'isComplete';
  /** The field a malformed event's error must start with; undefined for a well-formed Delete. */
  readonly field?: string;
  /** When several fields are broken, any of them may be named. */
  readonly anyOf?: readonly string[];
}

function baseEvent(requestType: string, route: Case['route']): Record<string, unknown> {
  if (requestType === 'Create') return route === 'isComplete' ? { ...createEvent(), PhysicalResourceId: IMAGE_ID } : { ...createEvent() };
  if (requestType === 'Update') return { ...updateEvent(IMAGE_ID, props(), props({ Tags: { team: 'changed' } })) };
  return { ...deleteEvent(IMAGE_ID) };
}

function cases(): Case[] {
  const all: Case[] = [];
  const routes: Array<Case['route']> = ['onEvent', 'isComplete'];
  // Not an object at all.
  for (let i = 0; i < 40; i++) {
    const event = pick([null, undefined, 0, 1, -1, true, false, '', 'Create', JSON.stringify(createEvent()), huge(), [], [createEvent()], [[null]], Number.NaN]);
    all.push({ title: `not an object: ${typeof event}`, event, route: routes[i % 2], field: 'the event' });
  }
  // One envelope field broken, on each request type it applies to.
  const envelopeFields = ['RequestType', 'StackId', 'RequestId', 'LogicalResourceId', 'PhysicalResourceId', 'ResourceProperties', 'OldResourceProperties'];
  for (let i = 0; i < 260; i++) {
    const route = routes[i % 2];
    const field = pick(envelopeFields);
    const requestType = field === 'OldResourceProperties' ? 'Update' : field === 'PhysicalResourceId' ? pick(['Update', 'Delete', 'Create']) : pick(['Create', 'Update', 'Delete']);
    const event = baseEvent(requestType, route);
    let value = BAD[field]();
    // A Create sent to onEvent carries no physical id: only a present, malformed one is wrong there.
    if (field === 'PhysicalResourceId' && requestType === 'Create' && route === 'onEvent' && value === undefined) value = '';
    if (value === undefined) delete event[field];
    else event[field] = value;
    // The provider framework's isComplete skips the properties of a Delete; only the envelope is read.
    all.push({ title: `${requestType} with a bad ${field}`, event, route, field });
  }
  // isComplete for a Create without the physical id onEvent returned.
  for (let i = 0; i < 10; i++) {
    all.push({ title: 'isComplete for a Create without a PhysicalResourceId', event: createEvent(), route: 'isComplete', field: 'PhysicalResourceId' });
  }
  // One property broken, on Create and Update.
  const propertyNames = Object.keys(BAD_PROPERTY);
  for (let i = 0; i < 260; i++) {
    const route = routes[i % 2];
    const name = pick(propertyNames);
    const requestType = pick(['Create', 'Update']);
    const event = baseEvent(requestType, route);
    const value = BAD_PROPERTY[name]();
    const properties = { ...(event.ResourceProperties as Record<string, unknown>) };
    if (value === undefined) delete properties[name];
    else properties[name] = value;
    all.push({ title: `${requestType} with a bad ${name}`, event: { ...event, ResourceProperties: properties }, route, field: `ResourceProperties.${name}` });
  }
  // Several fields broken at once: one of them is named.
  for (let i = 0; i < 60; i++) {
    const route = routes[i % 2];
    const event = baseEvent(pick(['Create', 'Update']), route);
    const broken = ['StackId', 'RequestId', 'LogicalResourceId'].filter(() => random() < 0.6);
    const brokenProps = propertyNames.filter(() => random() < 0.3);
    for (const field of broken) event[field] = BAD[field]() ?? 5;
    const properties = { ...(event.ResourceProperties as Record<string, unknown>) };
    for (const name of brokenProps) properties[name] = BAD_PROPERTY[name]() ?? 5;
    event.ResourceProperties = properties;
    const anyOf = [...broken, ...brokenProps.map((n) => `ResourceProperties.${n}`)];
    if (anyOf.length === 0) {
      event.RequestType = 'Upsert';
      anyOf.push('RequestType');
    }
    all.push({ title: `several broken: ${anyOf.join(', ')}`, event, route, anyOf });
  }
  // Well-formed Deletes with broken properties: allowed to run (a broken template must stay deletable).
  for (let i = 0; i < 40; i++) {
    const properties = Object.fromEntries(propertyNames.filter(() => random() < 0.5).map((n) => [n, BAD_PROPERTY[n]()]));
    const physicalId = pick([IMAGE_ID, 'ami-0fedcba9876543210', noise(10).replace(/\s/g, 'x') || 'x', 'resource-that-never-made-an-image']);
    all.push({ title: 'a well-formed Delete with broken properties', event: deleteEvent(physicalId, properties), route: routes[i % 2] });
  }
  return all;
}

const CASES = cases();
const NON_DELETE_WRITES = [
  CreateImageCommand, CreateTagsCommand, DeleteTagsCommand, ModifyImageAttributeCommand, ModifySnapshotAttributeCommand,
  EnableImageDeprecationCommand, DisableImageDeprecationCommand, StopInstancesCommand,
];

let mod: HandlerModule;
beforeAll(() => {
  mod = loadModule();
});

test('the corpus is large and covers every field', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(500);
  const named = new Set(CASES.flatMap((c) => (c.field ? [c.field] : [])));
  for (const field of ['the event', 'RequestType', 'StackId', 'RequestId', 'LogicalResourceId', 'PhysicalResourceId', 'ResourceProperties', 'OldResourceProperties']) {
    expect(named).toContain(field);
  }
  for (const name of Object.values(P)) expect(named).toContain(`ResourceProperties.${name}`);
  expect(WRITE_COMMANDS).toHaveLength(10);
});

test.each(CASES.map((c, i) => [i, c.route, c.title, c] as const))('#%i %s: %s', async (_, route, __, c) => {
  serveImages([]);
  serveSnapshots([]);
  const context = route === 'isComplete' ? IS_COMPLETE_CONTEXT : ON_EVENT_CONTEXT;
  let outcome: { error?: unknown; result?: unknown } = {};
  try {
    outcome = { result: await mod.handler(c.event, context) };
  } catch (error) {
    outcome = { error };
  }

  if (c.field === undefined && c.anyOf === undefined) {
    // A well-formed Delete: it may run, but never creates, tags, shares, deprecates or stops anything.
    for (const command of NON_DELETE_WRITES) expect(ec2Mock.commandCalls(command as typeof CreateImageCommand)).toHaveLength(0);
    expect(outcome.error).toBeUndefined();
    return;
  }

  // The handler module is a fresh copy (jest.isolateModules): its EventShapeError is another class object.
  expect(outcome.error).toBeInstanceOf(Error);
  expect((outcome.error as Error).name).toBe(new EventShapeError('x').name);
  const message = (outcome.error as Error).message;
  const fields = c.anyOf ?? [c.field!];
  expect(fields.some((f) => message.startsWith(`Rejected event: ${f} `) || message.startsWith(`Rejected event: ${f}[`))).toBe(true);
  expect(message.length).toBeLessThan(1_000);
  expect(ec2Writes()).toEqual([]);
  expect(ec2Mock.calls()).toHaveLength(0);
  expect(snsMock.calls()).toHaveLength(0);
});
