/*
 * The construct kit's prop checks on their own, at their boundaries. The constructs' tests show
 * each check wired to its prop; these show where each one draws the line and what it says.
 */
import { App, Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { checkCommonProps, checkDuration, checkInteger, checkTagKey, checkTagMap, checkUnique, secondsBounds } from '../../src/common/validation';

const C = 'TestJanitor';

describe('checkTagMap', () => {
  test('a value of 256 characters is accepted, 257 are not', () => {
    expect(() => checkTagMap(C, 'tags', { team: 'v'.repeat(256) })).not.toThrow();
    expect(() => checkTagMap(C, 'tags', { team: 'v'.repeat(257) }))
      .toThrow(`TestJanitor: invalid tags["team"] ("${'v'.repeat(257)}"): a tag value must be a string of at most 256 characters`);
  });

  test('a value that is not a string (from a language without the type check) is refused', () => {
    expect(() => checkTagMap(C, 'tags', { team: 42 as unknown as string }))
      .toThrow('TestJanitor: invalid tags["team"] (42): a tag value must be a string of at most 256 characters');
  });

  test('each key is checked as a tag key, named as the map\'s key', () => {
    expect(() => checkTagMap(C, 'tags', { ['k'.repeat(129)]: 'v' })).toThrow(`TestJanitor: invalid tags key ("${'k'.repeat(129)}"): a tag key must have 1 to 128 characters`);
    expect(() => checkTagMap(C, 'tags', { ['k'.repeat(128)]: '' })).not.toThrow();
    expect(() => checkTagMap(C, 'tags', undefined)).not.toThrow();
  });
});

describe('checkTagKey', () => {
  test.each([[''], ['   ']])('%j is refused', (key) => {
    expect(() => checkTagKey(C, 'protectionTagKey', key)).toThrow(`TestJanitor: invalid protectionTagKey (${JSON.stringify(key)}): a tag key must have 1 to 128 characters`);
  });

  test('a token is left for deploy time', () => {
    expect(() => checkTagKey(C, 'protectionTagKey', Lazy.string({ produce: () => '' }))).not.toThrow();
  });
});

describe('checkUnique', () => {
  test('the first value given again is named; distinct values and an empty list pass', () => {
    expect(() => checkUnique(C, 'roles', ['a', 'b', 'c', 'b', 'a'])).toThrow(/^TestJanitor: invalid roles \("b"\): is given more than once$/);
    expect(() => checkUnique(C, 'roles', ['a', 'b', 'c'])).not.toThrow();
    expect(() => checkUnique(C, 'roles', [])).not.toThrow();
  });
});

describe('checkDuration', () => {
  const bounds = { min: Duration.seconds(10), max: Duration.minutes(15) };
  test.each([
    [Duration.seconds(10), undefined],
    [Duration.minutes(15), undefined],
    [Duration.seconds(9), 'TestJanitor: invalid timeout (9 seconds): must be at least 10 seconds'],
    [Duration.seconds(901), 'TestJanitor: invalid timeout (15 minutes 1 second): must be at most 15 minutes'],
    [Duration.millis(10_500), 'TestJanitor: invalid timeout (10.5 seconds): must be a whole number of seconds'],
  ])('%s', (value, error) => {
    const check = () => checkDuration(C, 'timeout', value, bounds);
    if (error) expect(check).toThrow(error);
    else expect(check).not.toThrow();
  });

  test('without bounds only whole seconds are asked for', () => {
    expect(() => checkDuration(C, 'd', Duration.days(10_000), {})).not.toThrow();
    expect(() => checkDuration(C, 'd', Duration.millis(1), {})).toThrow('must be a whole number of seconds');
  });
});

describe('checkInteger', () => {
  test.each([
    [1, true], [100, true], [0, false], [101, false], [1.5, false], [Number.NaN, false],
  ])('%p within 1..100: %p', (value, ok) => {
    const check = () => checkInteger(C, 'n', value, 1, 100);
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(`TestJanitor: invalid n (${JSON.stringify(value)}): must be an integer from 1 to 100`);
  });
});

describe('checkCommonProps', () => {
  test('an empty securityGroups list is refused, with a vpc too', () => {
    const vpc = new ec2.Vpc(new Stack(new App(), 'S'), 'Vpc');
    expect(() => checkCommonProps(C, { vpc, securityGroups: [] }))
      .toThrow('TestJanitor: invalid securityGroups ([]): give at least one security group, or leave it out for a new one');
  });

  test('a tracing mode that is not one of lambda.Tracing names the ones that are', () => {
    expect(() => checkCommonProps(C, { tracing: 'Sometimes' as lambda.Tracing }))
      .toThrow(`TestJanitor: invalid tracing ("Sometimes"): must be one of ${Object.values(lambda.Tracing).join(', ')}`);
    expect(() => checkCommonProps(C, { tracing: lambda.Tracing.ACTIVE })).not.toThrow();
  });

  test('memorySize from 128 to 10,240 MB', () => {
    expect(() => checkCommonProps(C, { memorySize: 128 })).not.toThrow();
    expect(() => checkCommonProps(C, { memorySize: 10_240 })).not.toThrow();
    expect(() => checkCommonProps(C, { memorySize: 127 })).toThrow('invalid memorySize (127): must be an integer from 128 to 10240');
    expect(() => checkCommonProps(C, { memorySize: 10_241 })).toThrow('invalid memorySize (10241)');
  });
});

test('secondsBounds turns an environment limit into Durations', () => {
  const { min, max } = secondsBounds({ min: 60, max: 3_600 });
  expect([min.toSeconds(), max.toSeconds()]).toEqual([60, 3_600]);
});
