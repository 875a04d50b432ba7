import { props } from './harness';
import {
  completion, deprecateAt, FAILURE_REASON_MAX, fingerprintOf, imageNameFor, InPlaceChanges, isNoChange, planUpdate, UpdatePlan, waitStart,
} from '../../../lambda/ami-manager/decide';
import { AmiSpec, parseSpec } from '../../../lambda/ami-manager/properties';
import { AMI_LIMITS, IMAGE_DEFINING_PROPERTIES, IMAGE_NAME_PATTERN } from '../../../src/ami-manager/contract';

const NOW = new Date('2025-06-01T12:00:00Z');
const IMAGE_ID = 'ami-0123456789abcdef0';
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

function spec(overrides: Partial<AmiSpec> = {}): AmiSpec {
  return { ...parseSpec(props()), ...overrides };
}

function inPlace(plan: UpdatePlan): InPlaceChanges {
  expect(plan.kind).toBe('in-place');
  return plan as InPlaceChanges;
}

describe('imageNameFor', () => {
  test('the user\'s name, "-" and 8 hex digits', () => {
    expect(imageNameFor({ imageName: 'web-server' }, '7c9e6679-7425-40de-944b-e07fc1f90ae7')).toMatch(/^web-server-[0-9a-f]{8}$/);
  });

  test('the same request id always gives the same name (a retried create finds its image)', () => {
    const requestId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    expect(imageNameFor({ imageName: 'web' }, requestId)).toBe(imageNameFor({ imageName: 'web' }, requestId));
  });

  test('different requests give different names (a replacement coexists with the image it replaces)', () => {
    const names = new Set(Array.from({ length: 200 }, (_, i) => imageNameFor({ imageName: 'web' }, `request-${i}`)));
    expect(names.size).toBe(200);
  });

  test('the longest allowed name stays within EC2\'s 128 characters and its character set', () => {
    const name = imageNameFor({ imageName: 'a'.repeat(AMI_LIMITS.imageNameMax) }, 'r');
    expect(name).toHaveLength(128);
    expect(name).toMatch(IMAGE_NAME_PATTERN);
  });
});

describe('fingerprintOf', () => {
  test('32 hex digits, the same for the same defining properties', () => {
    expect(fingerprintOf(spec())).toMatch(/^[0-9a-f]{32}$/);
    expect(fingerprintOf(spec())).toBe(fingerprintOf(spec()));
  });

  test.each([
    ['instanceId', { instanceId: 'i-0fedcba9876543210' }],
    ['imageName', { imageName: 'api-server' }],
    ['description', { description: 'nightly' }],
    ['reboot', { reboot: true }],
  ])('changes with %s', (_, change) => {
    expect(fingerprintOf(spec(change))).not.toBe(fingerprintOf(spec()));
  });

  test('does not change with anything applied in place', () => {
    const other = spec({
      tags: { a: 'b' },
      shareWithAccounts: ['444455556666'],
      deprecateAfterSeconds: 600,
      stopInstanceAfterImage: true,
      removalPolicy: 'retain',
      timeoutSeconds: 300,
      topicArn: 'arn:aws:sns:eu-west-1:111122223333:other',
    });
    expect(fingerprintOf(other)).toBe(fingerprintOf(spec()));
  });

  test('values are not confused across properties (no plain concatenation)', () => {
    expect(fingerprintOf(spec({ imageName: 'ab', description: 'c' }))).not.toBe(fingerprintOf(spec({ imageName: 'a', description: 'bc' })));
  });
});

describe('planUpdate', () => {
  test.each(IMAGE_DEFINING_PROPERTIES.map((key) => [key]))('a change to %s replaces the image', (key) => {
    const changes: Record<string, Partial<AmiSpec>> = {
      instanceId: { instanceId: 'i-0fedcba9876543210' }, imageName: { imageName: 'api' }, description: { description: 'x' }, reboot: { reboot: true },
    };
    expect(planUpdate(spec(), spec(changes[key]))).toEqual({ kind: 'replace', changed: [key] });
  });

  test('removing the description replaces too; every changed defining property is named', () => {
    expect(planUpdate(spec({ description: 'x' }), spec({ description: undefined }))).toEqual({ kind: 'replace', changed: ['description'] });
    expect(planUpdate(spec(), spec({ imageName: 'api', reboot: true, tags: { x: 'y' } }))).toEqual({ kind: 'replace', changed: ['imageName', 'reboot'] });
  });

  test('the same properties: nothing to change', () => {
    const plan = inPlace(planUpdate(spec({ deprecateAfterSeconds: 600, shareWithAccounts: ['444455556666'] }), spec({ deprecateAfterSeconds: 600, shareWithAccounts: ['444455556666'] })));
    expect(plan).toEqual({
      kind: 'in-place', tagsToSet: {}, tagKeysToRemove: [], accountsToAdd: [], accountsToRemove: [], deprecation: { kind: 'unchanged' }, stopInstance: false,
    });
    expect(isNoChange(plan)).toBe(true);
  });

  test('tags: new and changed ones are set, removed ones deleted, unchanged ones left alone', () => {
    const plan = inPlace(planUpdate(spec({ tags: { keep: '1', change: 'old', drop: 'x' } }), spec({ tags: { keep: '1', change: 'new', add: 'y' } })));
    expect(plan.tagsToSet).toEqual({ change: 'new', add: 'y' });
    expect(plan.tagKeysToRemove).toEqual(['drop']);
    expect(isNoChange(plan)).toBe(false);
  });

  test('a tag whose value becomes empty is set, not removed', () => {
    const plan = inPlace(planUpdate(spec({ tags: { a: 'x' } }), spec({ tags: { a: '' } })));
    expect(plan).toMatchObject({ tagsToSet: { a: '' }, tagKeysToRemove: [] });
  });

  test('accounts: added and removed are told apart; order does not matter', () => {
    const plan = inPlace(planUpdate(
      spec({ shareWithAccounts: ['111111111111', '222222222222'] }),
      spec({ shareWithAccounts: ['333333333333', '111111111111'] }),
    ));
    expect(plan).toMatchObject({ accountsToAdd: ['333333333333'], accountsToRemove: ['222222222222'] });
    expect(isNoChange(inPlace(planUpdate(spec({ shareWithAccounts: ['1', '2'] }), spec({ shareWithAccounts: ['2', '1'] }))))).toBe(true);
  });

  test.each([
    ['set where there was none', undefined, 600, { kind: 'set', afterSeconds: 600 }],
    ['changed', 600, 1200, { kind: 'set', afterSeconds: 1200 }],
    ['cleared', 600, undefined, { kind: 'clear' }],
    ['unchanged', 600, 600, { kind: 'unchanged' }],
    ['still none', undefined, undefined, { kind: 'unchanged' }],
  ])('deprecation %s', (_, before, after, expected) => {
    const plan = inPlace(planUpdate(spec({ deprecateAfterSeconds: before }), spec({ deprecateAfterSeconds: after })));
    expect(plan.deprecation).toEqual(expected);
    expect(isNoChange(plan)).toBe(expected.kind === 'unchanged');
  });

  test.each([
    [false, true, true],
    [true, true, false],
    [true, false, false],
    [false, false, false],
  ])('stopInstanceAfterImage %s → %s stops the instance: %s', (before, after, stops) => {
    const plan = inPlace(planUpdate(spec({ stopInstanceAfterImage: before }), spec({ stopInstanceAfterImage: after })));
    expect(plan.stopInstance).toBe(stops);
    expect(isNoChange(plan)).toBe(!stops);
  });

  test('removal policy, timeout and topic change nothing on the image', () => {
    const plan = inPlace(planUpdate(spec(), spec({ removalPolicy: 'retain', timeoutSeconds: 300, topicArn: 'arn:aws:sns:eu-west-1:111122223333:x' })));
    expect(isNoChange(plan)).toBe(true);
  });

  test('isNoChange sees each kind of change on its own', () => {
    const none: InPlaceChanges = { tagsToSet: {}, tagKeysToRemove: [], accountsToAdd: [], accountsToRemove: [], deprecation: { kind: 'unchanged' }, stopInstance: false };
    expect(isNoChange(none)).toBe(true);
    for (const change of [
      { tagsToSet: { a: 'b' } }, { tagKeysToRemove: ['a'] }, { accountsToAdd: ['1'] }, { accountsToRemove: ['1'] },
      { deprecation: { kind: 'clear' as const } }, { stopInstance: true },
    ]) {
      expect(isNoChange({ ...none, ...change })).toBe(false);
    }
  });
});

describe('completion', () => {
  const TIMEOUT = 1_800;
  const started = at(-TIMEOUT);

  test('available is done, whatever the time', () => {
    expect(completion({ state: 'available' }, IMAGE_ID, TIMEOUT, at(-10 * TIMEOUT), NOW)).toEqual({ kind: 'available' });
  });

  test.each(['pending', 'transient'])('%s within the timeout and exactly at it: another poll', (state) => {
    expect(completion({ state }, IMAGE_ID, TIMEOUT, at(-60), NOW)).toEqual({ kind: 'pending', waitedSeconds: 60 });
    expect(completion({ state }, IMAGE_ID, TIMEOUT, started, NOW)).toEqual({ kind: 'pending', waitedSeconds: TIMEOUT });
  });

  test.each(['pending', 'transient'])('%s one second past the timeout: failed, saying how long', (state) => {
    expect(completion({ state }, IMAGE_ID, TIMEOUT, at(-TIMEOUT - 1), NOW)).toEqual({
      kind: 'failed', reason: `image ${IMAGE_ID} was still ${state} after 1801 s (timeout 1800 s)`,
    });
  });

  test('fractions of a second do not count; a start in the future (clock skew) is 0 s', () => {
    expect(completion({ state: 'pending' }, IMAGE_ID, TIMEOUT, new Date(started.getTime() - 999), NOW)).toEqual({ kind: 'pending', waitedSeconds: TIMEOUT });
    expect(completion({ state: 'pending' }, IMAGE_ID, TIMEOUT, at(30), NOW)).toEqual({ kind: 'pending', waitedSeconds: 0 });
  });

  test('not visible yet (eventual consistency): pending up to the timeout, then failed', () => {
    expect(completion(undefined, IMAGE_ID, TIMEOUT, NOW, NOW)).toEqual({ kind: 'pending', waitedSeconds: 0 });
    expect(completion(undefined, IMAGE_ID, TIMEOUT, started, NOW)).toEqual({ kind: 'pending', waitedSeconds: TIMEOUT });
    expect(completion(undefined, IMAGE_ID, TIMEOUT, at(-TIMEOUT - 1), NOW)).toEqual({ kind: 'failed', reason: `image ${IMAGE_ID} was not found after 1801 s` });
  });

  test('failed with a reason, without one, and other end states', () => {
    expect(completion({ state: 'failed', stateReason: 'Client.InternalError: Client error on launch' }, IMAGE_ID, TIMEOUT, NOW, NOW)).toEqual({
      kind: 'failed', reason: `image ${IMAGE_ID} is failed: Client.InternalError: Client error on launch`,
    });
    expect(completion({ state: 'failed' }, IMAGE_ID, TIMEOUT, NOW, NOW)).toEqual({ kind: 'failed', reason: `image ${IMAGE_ID} is failed` });
    expect(completion({ state: 'deregistered' }, IMAGE_ID, TIMEOUT, NOW, NOW)).toEqual({ kind: 'failed', reason: `image ${IMAGE_ID} is deregistered` });
    expect(completion({ state: 'error', stateReason: '' }, IMAGE_ID, TIMEOUT, NOW, NOW)).toEqual({ kind: 'failed', reason: `image ${IMAGE_ID} is error` });
    expect(completion({}, IMAGE_ID, TIMEOUT, NOW, NOW)).toEqual({ kind: 'failed', reason: `image ${IMAGE_ID} is in an unknown state` });
  });

  test('a long reason is cut to 1,000 characters, and a reason of exactly 1,000 is kept', () => {
    const long = completion({ state: 'failed', stateReason: 'x'.repeat(5_000) }, IMAGE_ID, TIMEOUT, NOW, NOW);
    expect(long.kind === 'failed' && long.reason).toHaveLength(FAILURE_REASON_MAX);
    expect(long.kind === 'failed' && long.reason.endsWith('x...')).toBe(true);
    const prefix = `image ${IMAGE_ID} is failed: `;
    const exact = completion({ state: 'failed', stateReason: 'y'.repeat(FAILURE_REASON_MAX - prefix.length) }, IMAGE_ID, TIMEOUT, NOW, NOW);
    expect(exact.kind === 'failed' && exact.reason).toBe(`${prefix}${'y'.repeat(FAILURE_REASON_MAX - prefix.length)}`);
  });
});

describe('waitStart', () => {
  test('the image\'s creation date when EC2 gives a valid one, else the fallback', () => {
    expect(waitStart('2025-06-01T11:40:00.000Z', NOW)).toEqual(new Date('2025-06-01T11:40:00Z'));
    expect(waitStart(undefined, NOW)).toBe(NOW);
    expect(waitStart('', NOW)).toBe(NOW);
    expect(waitStart('not a date', NOW)).toBe(NOW);
  });
});

describe('deprecateAt', () => {
  test('creation plus the age, in whole minutes (seconds and milliseconds dropped)', () => {
    expect(deprecateAt(new Date('2025-06-01T11:40:37.250Z'), 86_400)).toEqual(new Date('2025-06-02T11:40:00Z'));
    expect(deprecateAt(new Date('2025-06-01T11:40:00Z'), 60)).toEqual(new Date('2025-06-01T11:41:00Z'));
    expect(deprecateAt(new Date('2025-06-01T11:40:00Z'), 119)).toEqual(new Date('2025-06-01T11:41:00Z'));
  });

  test('does not change the date it is given', () => {
    const created = new Date('2025-06-01T11:40:37Z');
    deprecateAt(created, 3_600);
    expect(created.toISOString()).toBe('2025-06-01T11:40:37.000Z');
  });
});
