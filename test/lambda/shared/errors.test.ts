import { deepenStackTraces, echo, STACK_TRACE_FRAMES } from '../../../lambda/shared/errors';

describe('deepenStackTraces', () => {
  const saved = Error.stackTraceLimit;
  afterEach(() => {
    Error.stackTraceLimit = saved;
  });

  test('raises a shallower limit (Node.js keeps 10 frames) to 30', () => {
    Error.stackTraceLimit = 10;
    deepenStackTraces();
    expect(STACK_TRACE_FRAMES).toBe(30);
    expect(Error.stackTraceLimit).toBe(30);
  });

  test('never lowers a deeper limit someone set on purpose', () => {
    Error.stackTraceLimit = 100;
    deepenStackTraces();
    expect(Error.stackTraceLimit).toBe(100);
  });
});

describe('echo: values in error messages', () => {
  test('a string of exactly 64 characters is shown whole; one of 65 is cut after 64', () => {
    expect(echo('s'.repeat(64))).toBe(JSON.stringify('s'.repeat(64)));
    expect(echo('s'.repeat(65))).toBe(JSON.stringify(`${'s'.repeat(64)}...`));
  });

  test('null and undefined by name, lists and other values by their kind', () => {
    expect([null, undefined, [], 42, {}, true].map(echo)).toEqual(['null', 'undefined', 'an array', 'number', 'object', 'boolean']);
  });
});
