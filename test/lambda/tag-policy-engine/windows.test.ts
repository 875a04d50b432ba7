import { lookupWindows } from '../../../lambda/tag-policy-engine/backfill';
import { ObservedInstance } from '../../../lambda/tag-policy-engine/decide';

const NOW = new Date('2025-06-01T12:00:00Z');
const MINUTE = 60_000;
const DAY = 86_400_000;
const BEFORE = 15 * MINUTE;
const AFTER = 5 * MINUTE;
const HORIZON = NOW.getTime() - 90 * DAY;

const at = (msAgo: number) => new Date(NOW.getTime() - msAgo);

let counter = 0;
function instance(launchedAt: Date | undefined, id?: string): ObservedInstance {
  counter++;
  return { instanceId: id ?? `i-${counter.toString(16).padStart(17, '0')}`, state: 'running', launchedAt, tags: {}, attachedResourceIds: [] };
}

/** Windows as [start, end] ISO strings with their instance ids. */
function windowsOf(instances: ObservedInstance[], now = NOW) {
  return lookupWindows(instances, now).windows.map((w) => ({
    start: new Date(w.start).toISOString(),
    end: new Date(w.end).toISOString(),
    ids: w.instanceIds,
  }));
}

describe('lookupWindows', () => {
  test('one launch: 15 minutes before to 5 minutes after', () => {
    const i = instance(new Date('2025-05-20T08:30:00Z'));
    expect(windowsOf([i])).toEqual([{ start: '2025-05-20T08:15:00.000Z', end: '2025-05-20T08:35:00.000Z', ids: [i.instanceId] }]);
    expect(lookupWindows([i], NOW).unknown.size).toBe(0);
  });

  test('no instances: no windows', () => {
    expect(lookupWindows([], NOW)).toEqual({ windows: [], unknown: new Map() });
  });

  test('launches 20 minutes apart: the windows touch, and are merged', () => {
    const a = instance(at(DAY));
    const b = instance(at(DAY - (BEFORE + AFTER)));
    const windows = lookupWindows([a, b], NOW).windows;
    expect(windows).toEqual([{
      start: at(DAY).getTime() - BEFORE,
      end: at(DAY - BEFORE - AFTER).getTime() + AFTER,
      instanceIds: [a.instanceId, b.instanceId],
    }]);
  });

  test('launches 20 minutes and 1 ms apart: two windows', () => {
    const a = instance(at(DAY));
    const b = instance(at(DAY - (BEFORE + AFTER) - 1));
    const windows = lookupWindows([a, b], NOW).windows;
    expect(windows.map((w) => w.instanceIds)).toEqual([[a.instanceId], [b.instanceId]]);
    expect(windows[1].start - windows[0].end).toBe(1);
  });

  test('a chain of overlapping launches is one window, from the first start to the last end', () => {
    const launches = [0, 10, 20, 30].map((m) => instance(at(2 * DAY - m * MINUTE)));
    const [window, ...rest] = lookupWindows(launches, NOW).windows;
    expect(rest).toEqual([]);
    expect(window.start).toBe(at(2 * DAY).getTime() - BEFORE);
    expect(window.end).toBe(at(2 * DAY - 30 * MINUTE).getTime() + AFTER);
    expect(window.instanceIds).toEqual(launches.map((i) => i.instanceId));
  });

  test('a window inside another (same launch time) keeps the wider end', () => {
    const a = instance(at(DAY));
    const b = instance(at(DAY));
    expect(lookupWindows([a, b], NOW).windows).toEqual([{
      start: at(DAY).getTime() - BEFORE,
      end: at(DAY).getTime() + AFTER,
      instanceIds: [a.instanceId, b.instanceId],
    }]);
  });

  test('oldest first, whatever the order given; instance ids by launch inside a window', () => {
    const late = instance(at(DAY));
    const early = instance(at(10 * DAY));
    const middle = instance(at(5 * DAY));
    const sameWindowEarlier = instance(at(DAY + MINUTE));
    const windows = windowsOf([late, early, middle, sameWindowEarlier]);
    expect(windows.map((w) => w.ids)).toEqual([[early.instanceId], [middle.instanceId], [sameWindowEarlier.instanceId, late.instanceId]]);
    expect(windows.map((w) => w.start)).toEqual([...windows.map((w) => w.start)].sort());
  });

  test('windows never overlap', () => {
    const instances = Array.from({ length: 200 }, (_, k) => instance(at(((k * 7_919) % 1_000) * 3 * MINUTE)));
    const windows = lookupWindows(instances, NOW).windows;
    for (let k = 1; k < windows.length; k++) expect(windows[k].start).toBeGreaterThan(windows[k - 1].end);
    expect(windows.flatMap((w) => w.instanceIds).sort()).toEqual(instances.map((i) => i.instanceId).sort());
  });

  test('clipped at now: a launch 1 minute ago searches up to now', () => {
    const i = instance(at(MINUTE));
    expect(lookupWindows([i], NOW).windows).toEqual([{ start: at(MINUTE).getTime() - BEFORE, end: NOW.getTime(), instanceIds: [i.instanceId] }]);
  });

  test('a launch exactly 5 minutes ago ends at now', () => {
    expect(lookupWindows([instance(at(AFTER))], NOW).windows[0].end).toBe(NOW.getTime());
  });

  test('a launch time ahead of the clock still gives a valid window, ending at now', () => {
    for (const ahead of [1, MINUTE, BEFORE, BEFORE + 1, DAY]) {
      const [window] = lookupWindows([instance(new Date(NOW.getTime() + ahead))], NOW).windows;
      expect(window.end).toBe(NOW.getTime());
      expect(window.start).toBeLessThan(window.end);
      expect(window.start).toBe(NOW.getTime() - BEFORE);
    }
  });

  test('clipped at now - 90 days: a launch just inside the horizon starts at the horizon', () => {
    const i = instance(new Date(HORIZON + MINUTE));
    expect(lookupWindows([i], NOW).windows).toEqual([{ start: HORIZON, end: HORIZON + MINUTE + AFTER, instanceIds: [i.instanceId] }]);
  });

  test('exactly 90 days ago is searched; 1 ms older is unknown', () => {
    const edge = instance(new Date(HORIZON));
    const older = instance(new Date(HORIZON - 1));
    const { windows, unknown } = lookupWindows([edge, older], NOW);
    expect(windows).toEqual([{ start: HORIZON, end: HORIZON + AFTER, instanceIds: [edge.instanceId] }]);
    expect(unknown).toEqual(new Map([[older.instanceId, 'launched more than 90 days ago, beyond CloudTrail\'s event history']]));
  });

  test('an unknown launch time is reported as unknown with the reason', () => {
    const none = instance(undefined);
    const invalid = instance(new Date('not a date'));
    const { windows, unknown } = lookupWindows([none, invalid], NOW);
    expect(windows).toEqual([]);
    expect(unknown).toEqual(new Map([[none.instanceId, 'its launch time is unknown'], [invalid.instanceId, 'its launch time is unknown']]));
  });

  test('unknown instances are left out of the windows, the others searched', () => {
    const old = instance(at(365 * DAY));
    const recent = instance(at(DAY));
    const { windows, unknown } = lookupWindows([old, recent, instance(undefined)], NOW);
    expect(windows.map((w) => w.instanceIds)).toEqual([[recent.instanceId]]);
    expect([...unknown.keys()]).not.toContain(recent.instanceId);
    expect(unknown.size).toBe(2);
  });

  test('the windows returned are fresh objects each call', () => {
    const instances = [instance(at(DAY)), instance(at(DAY))];
    const first = lookupWindows(instances, NOW).windows;
    first[0].instanceIds.push('i-mutated');
    expect(lookupWindows(instances, NOW).windows[0].instanceIds).toHaveLength(2);
  });
});
