import { EventShapeError } from '../../../lambda/shared/errors';
import { parseSweepEvent } from '../../../lambda/shared/event';

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

  test('an EventBridge rule event (unknown keys alongside a valid source)', () => {
    const message = rejection({ 'version': '0', 'id': 'abc', 'detail-type': 'Scheduled Event', 'source': 'aws.events', 'detail': {} }).message;
    expect(message).toContain('"version"');
    expect(message).toContain('"detail-type"');
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
