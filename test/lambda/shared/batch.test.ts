import { actInBatches, chunk, mapConcurrent, MAX_CONSECUTIVE_DENIED } from '../../../lambda/shared/batch';
import { ec2Error, instantRetry } from '../helpers';

const ids = (n: number, prefix = 'i-') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);

describe('chunk', () => {
  test('2,500 items in chunks of 1000 are 1000, 1000, 500, in order', () => {
    const items = ids(2_500);
    const chunks = chunk(items, 1_000);
    expect(chunks.map((c) => c.length)).toEqual([1_000, 1_000, 500]);
    expect(chunks.flat()).toEqual(items);
  });

  test('exact multiples leave no empty chunk; nothing gives no chunks', () => {
    expect(chunk(ids(2_000), 1_000).map((c) => c.length)).toEqual([1_000, 1_000]);
    expect(chunk([], 1_000)).toEqual([]);
    expect(chunk(['a', 'b', 'c'], 1)).toEqual([['a'], ['b'], ['c']]);
  });

  test.each([0, -1, 1.5, Number.NaN])('rejects chunk size %p', (size) => {
    expect(() => chunk(['a'], size)).toThrow(/positive integer/);
  });
});

describe('actInBatches', () => {
  test('2,500 ids make exactly three calls of 1000, 1000 and 500, and all succeed', async () => {
    const all = ids(2_500);
    const calls: string[][] = [];
    const results = await actInBatches(all, 1_000, async (batch) => { calls.push([...batch]); });
    expect(calls.map((c) => c.length)).toEqual([1_000, 1_000, 500]);
    expect(calls.flat()).toEqual(all);
    expect(results).toHaveLength(2_500);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => r.id)).toEqual(all);
  });

  test('a failed batch falls back to one by one; only the bad id is reported failed, with its code', async () => {
    const all = ids(2_500);
    const bad = all[1_234]; // in the second batch
    const calls: string[][] = [];
    const results = await actInBatches(all, 1_000, async (batch) => {
      calls.push([...batch]);
      if (batch.includes(bad)) throw ec2Error('OperationNotPermitted', 400, `The instance '${bad}' may not be terminated.`);
    }, instantRetry().options);

    // batch 1, failed batch 2, its 1000 ids one by one, batch 3
    expect(calls).toHaveLength(1 + 1 + 1_000 + 1);
    expect(calls[0]).toHaveLength(1_000);
    expect(calls[1]).toHaveLength(1_000);
    expect(calls.slice(2, 1_002).every((c) => c.length === 1)).toBe(true);
    expect(calls.slice(2, 1_002).map((c) => c[0])).toEqual(all.slice(1_000, 2_000));
    expect(calls[1_002]).toEqual(all.slice(2_000));

    const failed = results.filter((r) => !r.ok);
    expect(failed).toEqual([{ id: bad, ok: false, errorCode: 'OperationNotPermitted', errorMessage: `The instance '${bad}' may not be terminated.` }]);
    expect(results.filter((r) => r.ok)).toHaveLength(2_499);
    expect(new Set(results.map((r) => r.id))).toEqual(new Set(all));
  });

  test('in the one-by-one fallback, access denied on one id stops the calls; the rest are reported with that code', async () => {
    const all = ids(10);
    const calls: string[][] = [];
    const results = await actInBatches(all, 10, async (batch) => {
      calls.push([...batch]);
      if (batch.length > 1) throw ec2Error('OperationNotPermitted');
      if (batch[0] === all[3]) throw ec2Error('UnauthorizedOperation', 403);
    }, instantRetry().options);
    // the batch, then ids 0..3 one by one; nothing after the denial
    expect(calls.map((c) => c.length)).toEqual([10, 1, 1, 1, 1]);
    expect(results.filter((r) => r.ok).map((r) => r.id)).toEqual(all.slice(0, 3));
    expect(results.filter((r) => !r.ok).map((r) => [r.id, r.errorCode])).toEqual(all.slice(3).map((id) => [id, 'UnauthorizedOperation']));
  });

  describe('perResourceAuthorization: a grant with conditions on each resource', () => {
    test('a batch refused for one id is retried id by id; only that id fails', async () => {
      const all = ids(6);
      const calls: number[] = [];
      const results = await actInBatches(all, 6, async (batch) => {
        calls.push(batch.length);
        if (batch.includes(all[2])) throw ec2Error('UnauthorizedOperation', 403);
      }, instantRetry().options, { perResourceAuthorization: true });
      expect(calls).toEqual([6, 1, 1, 1, 1, 1, 1]);
      expect(results.filter((r) => !r.ok).map((r) => [r.id, r.errorCode])).toEqual([[all[2], 'UnauthorizedOperation']]);
    });

    test('MAX_CONSECUTIVE_DENIED ids refused in a row: the grant is missing, the rest fail without a call each', async () => {
      expect(MAX_CONSECUTIVE_DENIED).toBe(3);
      const all = ids(8);
      const calls: string[][] = [];
      // ids 1 and 2 refused, 3 accepted (the count starts again), then 4, 5, 6 refused: stop before 7.
      const refused = new Set([all[1], all[2], all[4], all[5], all[6], all[7]]);
      const results = await actInBatches(all, 8, async (batch) => {
        calls.push([...batch]);
        if (batch.length > 1 || refused.has(batch[0])) throw ec2Error('UnauthorizedOperation', 403);
      }, instantRetry().options, { perResourceAuthorization: true });
      expect(calls.map((c) => (c.length > 1 ? 'batch' : c[0]))).toEqual(['batch', ...all.slice(0, 7)]);
      expect(results.filter((r) => r.ok).map((r) => r.id)).toEqual([all[0], all[3]]);
      expect(results.find((r) => r.id === all[7])).toMatchObject({ ok: false, errorCode: 'UnauthorizedOperation' });
    });

    test('off by default: the same refusal fails the whole batch with one call', async () => {
      const call = jest.fn(async (_batch: string[]) => { throw ec2Error('UnauthorizedOperation', 403); });
      await actInBatches(ids(5), 5, call, instantRetry().options);
      expect(call).toHaveBeenCalledTimes(1);
    });
  });

  test('in the one-by-one fallback, an id that stays throttled stops the calls; the rest are reported with that code', async () => {
    const all = ids(6);
    const retry = instantRetry(3);
    const calls: string[][] = [];
    const results = await actInBatches(all, 6, async (batch) => {
      calls.push([...batch]);
      if (batch.length > 1) throw ec2Error('OperationNotPermitted');
      if (batch[0] === all[2]) throw ec2Error('RequestLimitExceeded', 503);
    }, retry.options);
    // the batch, ids 0 and 1, then id 2's three attempts; nothing after
    expect(calls.map((c) => c.join())).toEqual([all.join(), all[0], all[1], all[2], all[2], all[2]]);
    expect(results.filter((r) => r.ok).map((r) => r.id)).toEqual(all.slice(0, 2));
    expect(results.filter((r) => !r.ok).map((r) => [r.id, r.errorCode])).toEqual(all.slice(2).map((id) => [id, 'RequestLimitExceeded']));
  });

  test('several bad ids in one batch are each reported with their own error code', async () => {
    const all = ids(10);
    const errors: Record<string, string> = { [all[2]]: 'OperationNotPermitted', [all[7]]: 'InvalidInstanceID.NotFound' };
    const results = await actInBatches(all, 1_000, async (batch) => {
      const hit = batch.find((id) => errors[id]);
      if (hit) throw ec2Error(errors[hit]);
    }, instantRetry().options);
    expect(results.filter((r) => !r.ok).map((r) => [r.id, r.errorCode])).toEqual([
      [all[2], 'OperationNotPermitted'],
      [all[7], 'InvalidInstanceID.NotFound'],
    ]);
  });

  test('a single-id batch that fails is not tried again', async () => {
    const call = jest.fn(async () => { throw ec2Error('InvalidGroup.InUse'); });
    const results = await actInBatches(['sg-1', 'sg-2'], 1, call, instantRetry().options);
    expect(call).toHaveBeenCalledTimes(2);
    expect(results).toEqual([
      expect.objectContaining({ id: 'sg-1', ok: false, errorCode: 'InvalidGroup.InUse' }),
      expect.objectContaining({ id: 'sg-2', ok: false, errorCode: 'InvalidGroup.InUse' }),
    ]);
  });

  test.each(['UnauthorizedOperation', 'AccessDenied', 'AuthFailure', 'ExpiredToken'])(
    'caller-level %s fails the batch without per-item or repeated calls',
    async (code) => {
      const retry = instantRetry();
      const call = jest.fn(async (_batch: string[]) => { throw ec2Error(code, 403); });
      const results = await actInBatches(ids(1_500), 1_000, call, retry.options);
      expect(call).toHaveBeenCalledTimes(2); // one per batch, no per-id fallback
      expect(call.mock.calls.map(([b]) => b.length)).toEqual([1_000, 500]);
      expect(retry.delays).toEqual([]);
      expect(results).toHaveLength(1_500);
      expect(results.every((r) => !r.ok && r.errorCode === code)).toBe(true);
    },
  );

  test('a throttled batch is retried as a whole, then succeeds without per-item calls', async () => {
    const retry = instantRetry();
    let attempt = 0;
    const call = jest.fn(async (_batch: string[]) => {
      attempt++;
      if (attempt <= 2) throw ec2Error(attempt === 1 ? 'RequestLimitExceeded' : 'ThrottlingException', 400);
    });
    const results = await actInBatches(ids(1_000), 1_000, call, retry.options);
    expect(call).toHaveBeenCalledTimes(3);
    expect(call.mock.calls.every(([b]) => b.length === 1_000)).toBe(true);
    expect(retry.delays).toHaveLength(2);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  test('a batch that stays throttled is reported failed as a whole, not hammered id by id', async () => {
    const retry = instantRetry(3);
    const call = jest.fn(async (_batch: string[]) => { throw ec2Error('RequestLimitExceeded', 503); });
    const results = await actInBatches(ids(1_000), 1_000, call, retry.options);
    expect(call).toHaveBeenCalledTimes(3); // the batch's attempts only
    expect(results).toHaveLength(1_000);
    expect(results.every((r) => !r.ok && r.errorCode === 'RequestLimitExceeded')).toBe(true);
  });

  test('per-item calls are retried on throttling too', async () => {
    const retry = instantRetry();
    const seen = new Map<string, number>();
    const call = jest.fn(async (batch: string[]) => {
      if (batch.length > 1) throw ec2Error('OperationNotPermitted');
      const n = (seen.get(batch[0]) ?? 0) + 1;
      seen.set(batch[0], n);
      if (batch[0] === 'i-b' && n === 1) throw ec2Error('RequestLimitExceeded');
    });
    const results = await actInBatches(['i-a', 'i-b', 'i-c'], 1_000, call, retry.options);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(seen.get('i-b')).toBe(2);
  });

  test('no ids, no calls', async () => {
    const call = jest.fn();
    expect(await actInBatches([], 1_000, call)).toEqual([]);
    expect(call).not.toHaveBeenCalled();
  });
});

describe('mapConcurrent', () => {
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  test('results in the items\' order, never more than the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapConcurrent([5, 1, 4, 2, 3, 0], 3, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      for (let i = 0; i < n; i++) await tick();
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(3);
  });

  test('the first failure is thrown after the calls in flight settle, and no new call starts after it', async () => {
    const started: number[] = [];
    let settled = 0;
    const run = mapConcurrent([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await tick();
      if (n === 1) throw new Error('boom 1');
      await tick();
      settled++;
      return n;
    });
    await expect(run).rejects.toThrow('boom 1');
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(1);
  });

  test('an empty list makes no call; a limit that is not a positive integer is refused', async () => {
    const fn = jest.fn(async (n: number) => n);
    await expect(mapConcurrent([], 4, fn)).resolves.toEqual([]);
    expect(fn).not.toHaveBeenCalled();
    await expect(mapConcurrent([1], 0, fn)).rejects.toThrow('concurrency must be a positive integer, got 0');
    await expect(mapConcurrent([1], 1.5, fn)).rejects.toThrow('concurrency must be a positive integer, got 1.5');
  });
});
