import { createPacer } from '../../../lambda/shared/pace';

/** A clock that moves only when the pacer sleeps, or when the test says so. */
function fakeTime(start = 5_000) {
  const state = { t: start, sleeps: [] as number[] };
  return {
    state,
    clock: () => state.t,
    sleep: async (ms: number) => {
      state.sleeps.push(ms);
      state.t += ms;
    },
  };
}

describe('createPacer', () => {
  test('the first call goes at once; the next waits out the interval from the start of the one before', async () => {
    const time = fakeTime();
    const pacer = createPacer({ intervalMs: 200, clock: time.clock, sleep: time.sleep });
    await pacer.wait();
    time.state.t += 50;
    await pacer.wait();
    expect(time.state.sleeps).toEqual([150]);
  });

  test('no wait (not even 0 ms) once the interval has passed', async () => {
    const time = fakeTime();
    const pacer = createPacer({ intervalMs: 200, clock: time.clock, sleep: time.sleep });
    await pacer.wait();
    time.state.t += 200;
    await pacer.wait();
    time.state.t += 500;
    await pacer.wait();
    expect(time.state.sleeps).toEqual([]);
  });

  test('callers waiting at the same time are spaced one after the other', async () => {
    const time = fakeTime();
    const pacer = createPacer({ intervalMs: 200, clock: time.clock, sleep: time.sleep });
    const starts: number[] = [];
    await Promise.all([1, 2, 3, 4].map(async () => {
      await pacer.wait();
      starts.push(time.state.t);
    }));
    expect(starts).toEqual([5_000, 5_200, 5_400, 5_600]);
  });

  test('a sleep that fails fails that caller only; the queue goes on', async () => {
    let t = 0;
    let fail = true;
    const pacer = createPacer({
      intervalMs: 100,
      clock: () => t,
      sleep: async (ms) => {
        if (fail) {
          fail = false;
          throw new Error('timer broke');
        }
        t += ms;
      },
    });
    await pacer.wait();
    await expect(pacer.wait()).rejects.toThrow('timer broke');
    await expect(pacer.wait()).resolves.toBeUndefined();
  });

  test('an interval that is not a finite number of milliseconds >= 0 is refused', () => {
    for (const bad of [-1, NaN, Infinity]) expect(() => createPacer({ intervalMs: bad })).toThrow(/finite number of milliseconds >= 0/);
    expect(() => createPacer({ intervalMs: 0 })).not.toThrow();
  });
});
