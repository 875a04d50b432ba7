import { isProtected, splitAtCap } from '../../../lambda/shared/guards';
import { ageSeconds, formatAge } from '../../../lambda/shared/time';

describe('isProtected', () => {
  test('the tag key protects whatever its value, even empty', () => {
    expect(isProtected({ 'fleet-janitor:protect': 'true' }, 'fleet-janitor:protect')).toBe(true);
    expect(isProtected({ 'fleet-janitor:protect': 'false' }, 'fleet-janitor:protect')).toBe(true);
    expect(isProtected({ 'fleet-janitor:protect': '' }, 'fleet-janitor:protect')).toBe(true);
  });

  test('other keys, other cases and inherited properties do not protect', () => {
    expect(isProtected({ Name: 'x' }, 'fleet-janitor:protect')).toBe(false);
    expect(isProtected({ 'Fleet-Janitor:Protect': 'true' }, 'fleet-janitor:protect')).toBe(false);
    expect(isProtected({}, 'toString')).toBe(false);
    expect(isProtected({}, 'constructor')).toBe(false);
  });
});

describe('splitAtCap', () => {
  const items = ['a1', 'k1', 'a2', 'a3', 'k2', 'a4'];
  const isAction = (s: string) => s.startsWith('a');

  test('keeps the first maxActions action items in order; the rest are over', () => {
    const { within, over } = splitAtCap(items, isAction, 2);
    expect([...within]).toEqual(['a1', 'a2']);
    expect([...over]).toEqual(['a3', 'a4']);
  });

  test('non-action items are in neither set', () => {
    const { within, over } = splitAtCap(items, isAction, 10);
    expect([...within]).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(over.size).toBe(0);
    expect(within.has('k1') || over.has('k1')).toBe(false);
  });

  test('a cap of 0 puts every action over', () => {
    const { within, over } = splitAtCap(items, isAction, 0);
    expect(within.size).toBe(0);
    expect([...over]).toEqual(['a1', 'a2', 'a3', 'a4']);
  });

  test('exactly at the cap nothing is over', () => {
    expect(splitAtCap(items, isAction, 4).over.size).toBe(0);
    expect([...splitAtCap(items, isAction, 3).over]).toEqual(['a4']);
  });
});

describe('time helpers', () => {
  test('formatAge', () => {
    expect(formatAge(30)).toBe('30s');
    expect(formatAge(59.9)).toBe('59s');
    expect(formatAge(60)).toBe('1m');
    expect(formatAge(3_600 + 5 * 60)).toBe('1h 05m');
    expect(formatAge(3 * 86_400 + 4 * 3_600 + 59)).toBe('3d 4h');
    expect(formatAge(-5)).toBe('0s');
    expect(formatAge(Number.NaN)).toBe('unknown');
  });

  test('ageSeconds', () => {
    const now = new Date('2025-06-01T12:00:00Z');
    expect(ageSeconds(new Date('2025-06-01T10:00:00Z'), now)).toBe(7_200);
    expect(ageSeconds(undefined, now)).toBeNaN();
    expect(ageSeconds(new Date('not a date'), now)).toBeNaN();
  });
});
