import { errorCode, errorMessage, isCallerLevel, isTransient } from '../../../lambda/shared/errors';
import { retryTransient, sleep } from '../../../lambda/shared/retry';
import { ec2Error, instantRetry } from '../helpers';

describe('errorCode / errorMessage', () => {
  test('reads the SDK v3 error name, then Code/code, never the generic "Error"', () => {
    expect(errorCode(ec2Error('OperationNotPermitted'))).toBe('OperationNotPermitted');
    expect(errorCode({ Code: 'InvalidKeyPair.NotFound' })).toBe('InvalidKeyPair.NotFound');
    expect(errorCode({ code: 'ECONNRESET' })).toBe('ECONNRESET');
    expect(errorCode(new Error('boom'))).toBe('UnknownError');
    expect(errorCode('boom')).toBe('UnknownError');
    expect(errorCode(undefined)).toBe('UnknownError');
    expect(errorCode({ name: '' })).toBe('UnknownError');
    // Only objects carry a code: a thrown function's (or class's) name is not one.
    expect(errorCode(class ThrottlingException {})).toBe('UnknownError');
  });

  test('message of an Error, or the value as text', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});

describe('isTransient / isCallerLevel', () => {
  // Every code in the list, each with HTTP 400, so that the status check cannot make it transient.
  test.each([
    'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestLimitExceeded', 'RequestThrottled', 'RequestThrottledException',
    'TooManyRequestsException', 'SlowDown', 'ServiceUnavailable', 'ServiceUnavailableException', 'InternalError', 'InternalFailure',
  ])(
    '%s is transient, not caller-level', (code) => {
      expect(isTransient(ec2Error(code))).toBe(true);
      expect(isCallerLevel(ec2Error(code))).toBe(false);
    });

  test.each([429, 500, 502, 503, 504])('HTTP %d is transient whatever the code', (status) => {
    expect(isTransient(ec2Error('SomethingOdd', status))).toBe(true);
  });

  test.each([
    'UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'AuthFailure', 'ExpiredToken', 'InvalidClientTokenId',
    'SignatureDoesNotMatch', 'OptInRequired',
  ])('%s is caller-level, not transient', (code) => {
    expect(isCallerLevel(ec2Error(code, 403))).toBe(true);
    expect(isTransient(ec2Error(code, 403))).toBe(false);
  });

  test.each(['OperationNotPermitted', 'InvalidInstanceID.NotFound', 'InvalidGroup.InUse'])('%s is neither', (code) => {
    expect(isTransient(ec2Error(code))).toBe(false);
    expect(isCallerLevel(ec2Error(code))).toBe(false);
  });

  test.each([400, 404, 409, 499, 501, 505])('HTTP %d with an unknown code is not transient', (status) => {
    expect(isTransient(ec2Error('SomethingOdd', status))).toBe(false);
  });

  test('errors without SDK metadata (network errors, plain objects) are neither, and reading them does not throw', () => {
    expect(isTransient(new Error('socket hang up'))).toBe(false);
    expect(isTransient({ name: 'SomethingOdd' })).toBe(false);
    expect(isCallerLevel(new Error('socket hang up'))).toBe(false);
  });

  test('non-errors are neither', () => {
    expect(isTransient(undefined)).toBe(false);
    expect(isTransient(null)).toBe(false);
    expect(isCallerLevel('AccessDenied')).toBe(false);
  });
});

describe('retryTransient', () => {
  test('returns the first success without waiting', async () => {
    const retry = instantRetry();
    const call = jest.fn(async () => 'ok');
    await expect(retryTransient(call, retry.options)).resolves.toBe('ok');
    expect(call).toHaveBeenCalledTimes(1);
    expect(retry.delays).toEqual([]);
  });

  test('retries throttling until it succeeds', async () => {
    const retry = instantRetry();
    const call = jest.fn()
      .mockRejectedValueOnce(ec2Error('RequestLimitExceeded'))
      .mockRejectedValueOnce(ec2Error('ThrottlingException'))
      .mockResolvedValueOnce('done');
    await expect(retryTransient(call, retry.options)).resolves.toBe('done');
    expect(call).toHaveBeenCalledTimes(3);
    expect(retry.delays).toHaveLength(2);
  });

  test('gives up after the configured attempts with the last error', async () => {
    const retry = instantRetry(3);
    const call = jest.fn(async () => { throw ec2Error('RequestLimitExceeded'); });
    await expect(retryTransient(call, retry.options)).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
    expect(call).toHaveBeenCalledTimes(3);
    expect(retry.delays).toHaveLength(2);
  });

  test('defaults to 4 attempts', async () => {
    const retry = instantRetry();
    const call = jest.fn(async () => { throw ec2Error('ThrottlingException'); });
    await expect(retryTransient(call, retry.options)).rejects.toThrow();
    expect(call).toHaveBeenCalledTimes(4);
  });

  test.each(['OperationNotPermitted', 'UnauthorizedOperation'])('does not retry %s', async (code) => {
    const retry = instantRetry();
    const call = jest.fn(async () => { throw ec2Error(code); });
    await expect(retryTransient(call, retry.options)).rejects.toMatchObject({ name: code });
    expect(call).toHaveBeenCalledTimes(1);
    expect(retry.delays).toEqual([]);
  });

  test('delays are jittered within an exponential bound capped at maxDelayMs', async () => {
    const delays: number[] = [];
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    try {
      const call = jest.fn(async () => { throw ec2Error('ThrottlingException'); });
      const options = { attempts: 6, baseDelayMs: 100, maxDelayMs: 1_000, sleep: async (ms: number) => { delays.push(ms); } };
      await expect(retryTransient(call, options)).rejects.toThrow();
    } finally {
      random.mockRestore();
    }
    // bounds: min(1000, 100 * 2^attempt) for attempts 1..5
    const bounds = [200, 400, 800, 1_000, 1_000];
    expect(delays).toHaveLength(5);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThan(bounds[i] * 0.99);
      expect(d).toBeLessThanOrEqual(bounds[i]);
    });
  });
});

describe('sleep (the default wait between retries)', () => {
  test('resolves once the time has passed, not before', async () => {
    const started = Date.now();
    await sleep(50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});
