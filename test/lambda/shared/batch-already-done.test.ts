/**
 * actInBatches with overlapping runs in mind: an item another run (or someone else) already took
 * care of is a success marked `alreadyDone`, and only when the evidence cannot be this run's own work.
 */
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { actInBatches, sdkAttempts } from '../../../lambda/shared/batch';
import { ec2Error, instantRetry } from '../helpers';

const gone = { isAlreadyGone: (error: unknown) => (error as { name?: string }).name === 'InvalidGroup.NotFound' || (error as { name?: string }).name === 'InvalidInstanceID.NotFound' };
const found = (entries: Array<[string, string]>) => ({ alreadyDone: new Map(entries) });

function withAttempts(error: EC2ServiceException, attempts: number): EC2ServiceException {
  (error.$metadata as { attempts?: number }).attempts = attempts;
  return error;
}

describe('actInBatches: already done', () => {
  test('without isAlreadyGone, a "not found" error is a failure as before', async () => {
    const results = await actInBatches(['sg-1'], 1, async () => { throw ec2Error('InvalidGroup.NotFound'); }, instantRetry().options);
    expect(results).toStrictEqual([expect.objectContaining({ id: 'sg-1', ok: false, errorCode: 'InvalidGroup.NotFound' })]);
  });

  test('a call of one id failing with an already-gone error is done, marked with the code', async () => {
    const results = await actInBatches(['sg-1', 'sg-2'], 1, async ([id]) => {
      if (id === 'sg-1') throw ec2Error('InvalidGroup.NotFound');
    }, instantRetry().options, gone);
    expect(results).toStrictEqual([{ id: 'sg-1', ok: true, alreadyDone: 'InvalidGroup.NotFound' }, { id: 'sg-2', ok: true }]);
  });

  test('other errors still fail, even with isAlreadyGone', async () => {
    const results = await actInBatches(['sg-1'], 1, async () => { throw ec2Error('DependencyViolation'); }, instantRetry().options, gone);
    expect(results).toStrictEqual([expect.objectContaining({ id: 'sg-1', ok: false, errorCode: 'DependencyViolation' })]);
  });

  test('what the call reports as already done is marked, per id', async () => {
    const results = await actInBatches(['i-1', 'i-2', 'i-3'], 1_000, async () => found([['i-2', 'was-terminated']]), instantRetry().options, gone);
    expect(results).toStrictEqual([{ id: 'i-1', ok: true }, { id: 'i-2', ok: true, alreadyDone: 'was-terminated' }, { id: 'i-3', ok: true }]);
  });

  test('a batch refused as already gone (nothing applied) falls back id by id, and the evidence there is believed', async () => {
    const calls: string[][] = [];
    const results = await actInBatches(['i-1', 'i-2', 'i-3'], 1_000, async (batch) => {
      calls.push(batch);
      if (batch.includes('i-2')) throw ec2Error('InvalidInstanceID.NotFound');
      return found(batch.map((id) => [id, id === 'i-3' ? 'was-shutting-down' : ''] as [string, string]).filter(([, v]) => v));
    }, instantRetry().options, gone);
    expect(calls.map((c) => c.length)).toEqual([3, 1, 1, 1]);
    expect(results).toStrictEqual([
      { id: 'i-1', ok: true },
      { id: 'i-2', ok: true, alreadyDone: 'InvalidInstanceID.NotFound' },
      { id: 'i-3', ok: true, alreadyDone: 'was-shutting-down' },
    ]);
  });

  test('after a batch refused for another reason (it may have applied part), the fallback claims nothing', async () => {
    const results = await actInBatches(['i-1', 'i-2', 'i-3'], 1_000, async (batch) => {
      if (batch.includes('i-2')) throw ec2Error('OperationNotPermitted');
      if (batch[0] === 'i-3') throw ec2Error('InvalidInstanceID.NotFound');
      return found([[batch[0], 'was-shutting-down']]);
    }, instantRetry().options, gone);
    expect(results).toStrictEqual([
      { id: 'i-1', ok: true },
      expect.objectContaining({ id: 'i-2', ok: false, errorCode: 'OperationNotPermitted' }),
      { id: 'i-3', ok: true },
    ]);
  });

  test('nor after the batch itself needed a retry before it was refused as already gone', async () => {
    let first = true;
    const results = await actInBatches(['i-1', 'i-2'], 1_000, async (batch) => {
      if (first) {
        first = false;
        throw ec2Error('RequestLimitExceeded', 503);
      }
      if (batch.length > 1) throw ec2Error('InvalidInstanceID.NotFound');
      return found([[batch[0], 'was-terminated']]);
    }, instantRetry().options, gone);
    expect(results).toStrictEqual([{ id: 'i-1', ok: true }, { id: 'i-2', ok: true }]);
  });

  test('nor after the SDK retried the batch itself before it was refused as already gone', async () => {
    const results = await actInBatches(['i-1', 'i-2'], 1_000, async (batch) => {
      if (batch.length > 1) throw withAttempts(ec2Error('InvalidInstanceID.NotFound'), 2);
      return found([[batch[0], 'was-terminated']]);
    }, instantRetry().options, gone);
    expect(results).toStrictEqual([{ id: 'i-1', ok: true }, { id: 'i-2', ok: true }]);
  });

  test('a retried call (throttled first) claims nothing: the first attempt may have landed', async () => {
    let calls = 0;
    const results = await actInBatches(['sg-1', 'i-x'], 1, async ([id]) => {
      calls++;
      if (calls === 1 || calls === 3) throw ec2Error('RequestLimitExceeded', 503);
      if (id === 'sg-1') throw ec2Error('InvalidGroup.NotFound');
      return found([[id, 'was-terminated']]);
    }, instantRetry().options, gone);
    expect(calls).toBe(4);
    expect(results).toStrictEqual([{ id: 'sg-1', ok: true }, { id: 'i-x', ok: true }]);
  });

  test('an already-gone error the SDK got after retrying itself claims nothing', async () => {
    const results = await actInBatches(['sg-1'], 1, async () => { throw withAttempts(ec2Error('InvalidGroup.NotFound'), 3); }, instantRetry().options, gone);
    expect(results).toStrictEqual([{ id: 'sg-1', ok: true }]);
  });
});

describe('sdkAttempts', () => {
  test.each([
    [{ $metadata: { attempts: 3 } }, 3],
    [{ $metadata: { attempts: 1 } }, 1],
    [{ $metadata: {} }, 1],
    [{ $metadata: { attempts: 0 } }, 1],
    [{ $metadata: { attempts: '2' } }, 1],
    [{}, 1],
    [undefined, 1],
    [null, 1],
  ])('%j → %d', (value, attempts) => {
    expect(sdkAttempts(value)).toBe(attempts);
  });
});
