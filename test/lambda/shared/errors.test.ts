import { deepenStackTraces, STACK_TRACE_FRAMES } from '../../../lambda/shared/errors';

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
