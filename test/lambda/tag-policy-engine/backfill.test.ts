import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import 'aws-sdk-client-mock-jest';
import { asgRecord, ctMock, DAY, iamUserRecord, installHandlerHarness, lookupEvent, nextId, serveLookups, ssoRecord, SSO_ROLE } from './harness';
import { backfillCreators, BackfillOptions, LOOKUP_INTERVAL_MS } from '../../../lambda/tag-policy-engine/backfill';
import type { ObservedInstance } from '../../../lambda/tag-policy-engine/decide';

installHandlerHarness();

const cloudtrail = new CloudTrailClient({ region: 'eu-west-1' });
const NOW = new Date('2024-06-30T12:00:00Z');
const MINUTE = 60_000;
const DAY_MS = DAY * 1000;
const NO_WAIT = { sleep: async () => undefined, retry: { sleep: async () => undefined } };

const observed = (launchedAt: Date | undefined, id = nextId()): ObservedInstance => ({ instanceId: id, state: 'running', launchedAt, tags: {}, attachedResourceIds: [] });
const before = (ms: number, from = NOW) => new Date(from.getTime() - ms);

/** A fake clock that only moves when the code under test sleeps. */
function fakeTime() {
  let t = 1_000_000;
  const sleeps: number[] = [];
  const options: Omit<BackfillOptions, 'maxLookups'> = {
    now: NOW,
    clock: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    retry: { sleep: async () => undefined },
  };
  return { options, sleeps };
}

const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

describe('backfillCreators', () => {
  test('one LookupEvents for instances launched close together: EventName=RunInstances over a window around the launches', async () => {
    const launched = before(10 * DAY_MS);
    const after = (ms: number) => new Date(launched.getTime() + ms);
    const [alice, bob, asg] = [observed(launched), observed(after(2 * MINUTE)), observed(after(4 * MINUTE))];
    const requests = serveLookups([
      iamUserRecord({ instanceIds: [alice.instanceId], eventTime: before(30_000, alice.launchedAt) }),
      ssoRecord({ instanceIds: [bob.instanceId], eventTime: before(30_000, bob.launchedAt) }),
      asgRecord({ instanceIds: [asg.instanceId], eventTime: before(30_000, asg.launchedAt) }),
    ]);
    const result = await backfillCreators(cloudtrail, [alice, bob, asg], { now: NOW, maxLookups: 10, sleep: async () => undefined });

    expect(requests).toHaveLength(1);
    expect(requests[0]).toEqual({
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'RunInstances' }],
      StartTime: new Date(launched.getTime() - 15 * MINUTE),
      EndTime: new Date(launched.getTime() + 4 * MINUTE + 5 * MINUTE),
      MaxResults: 50,
    });
    expect([...result.found]).toEqual([
      [asg.instanceId, 'autoscaling:web-asg'], [bob.instanceId, `${SSO_ROLE}/bob@example.com`], [alice.instanceId, 'alice'],
    ]);
    expect(result.statuses.get(alice.instanceId)).toEqual({ kind: 'known', creator: 'alice' });
    expect(result.statuses.get(bob.instanceId)).toEqual({ kind: 'known', creator: `${SSO_ROLE}/bob@example.com` });
    expect(result.statuses.get(asg.instanceId)).toEqual({ kind: 'known', creator: 'autoscaling:web-asg' });
    expect(result).toMatchObject({ lookups: 1, windows: 1 });
    expect(result.error).toBeUndefined();
  });

  test('a busy window is listed over 3+ pages by NextToken, paced at no more than 2 requests a second', async () => {
    const wanted = observed(before(5 * DAY_MS));
    // 120 launches by others in the same minutes, newer than the one wanted: it is on the third page.
    const others = Array.from({ length: 120 }, (_, n) => iamUserRecord({ instanceIds: [nextId()], eventTime: new Date(wanted.launchedAt!.getTime() + 1_000 * (n + 1)) }, 'carol'));
    const mine = iamUserRecord({ instanceIds: [wanted.instanceId], eventTime: before(60_000, wanted.launchedAt) });
    const time = fakeTime();
    const requests = serveLookups([...others, mine]);
    const result = await backfillCreators(cloudtrail, [wanted], { ...time.options, maxLookups: 10 });

    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'ct-1', 'ct-2']);
    for (const r of requests) expect(r.StartTime).toEqual(requests[0].StartTime);
    expect(result.statuses.get(wanted.instanceId)).toEqual({ kind: 'known', creator: 'alice' });
    // the clock stood still between calls: each call after the first waited the whole interval
    expect(time.sleeps).toEqual([LOOKUP_INTERVAL_MS, LOOKUP_INTERVAL_MS]);
    expect(result.lookups).toBe(3);
  });

  test('pacing: calls are at least 500 ms apart by the clock; no wait once the interval has passed anyway (not even 0 ms)', async () => {
    const a = observed(before(20 * DAY_MS));
    const b = observed(before(10 * DAY_MS));
    const c = observed(before(1 * DAY_MS));
    let t = 0;
    const times: number[] = [];
    const sleeps: number[] = [];
    ctMock.on(LookupEventsCommand).callsFake(async () => {
      times.push(t);
      t += times.length === 1 ? 100 : 500; // the first call takes 100 ms, the second exactly the interval
      return { Events: [] };
    });
    await backfillCreators(cloudtrail, [c, a, b], {
      now: NOW,
      maxLookups: 10,
      clock: () => t,
      sleep: async (ms) => {
        sleeps.push(ms);
        t += ms;
      },
    });
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(LOOKUP_INTERVAL_MS);
    expect(sleeps).toEqual([400]);
  });

  test('windows are searched oldest first; the lookup budget leaves the rest pending for a later run', async () => {
    const fleet = [observed(before(1 * DAY_MS)), observed(before(30 * DAY_MS)), observed(before(10 * DAY_MS))];
    const requests = serveLookups(fleet.map((i) => iamUserRecord({ instanceIds: [i.instanceId], eventTime: before(1_000, i.launchedAt) })));
    const result = await backfillCreators(cloudtrail, fleet, { now: NOW, maxLookups: 2, sleep: async () => undefined });
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => r.StartTime!.getTime())).toEqual([fleet[1], fleet[2]].map((i) => i.launchedAt!.getTime() - 15 * MINUTE));
    expect(result.statuses.get(fleet[1].instanceId)).toEqual({ kind: 'known', creator: 'alice' });
    expect(result.statuses.get(fleet[2].instanceId)).toEqual({ kind: 'known', creator: 'alice' });
    expect(result.statuses.get(fleet[0].instanceId)).toEqual({ kind: 'pending' });
    expect(result).toMatchObject({ lookups: 2, windows: 2 });
  });

  test('a budget spent inside a window: found creators are kept, the others pending', async () => {
    const early = observed(before(5 * DAY_MS));
    const late = observed(new Date(early.launchedAt!.getTime() + MINUTE));
    const records = [
      ...Array.from({ length: 60 }, (_, n) => iamUserRecord({ instanceIds: [nextId()], eventTime: new Date(late.launchedAt!.getTime() + n * 1_000) }, 'x')),
      iamUserRecord({ instanceIds: [late.instanceId], eventTime: before(1_000, late.launchedAt) }, 'late-user'),
      iamUserRecord({ instanceIds: [early.instanceId], eventTime: before(1_000, early.launchedAt) }, 'early-user'),
    ];
    serveLookups(records, 50);
    const result = await backfillCreators(cloudtrail, [early, late], { now: NOW, maxLookups: 1, sleep: async () => undefined });
    expect(result.lookups).toBe(1);
    expect(result.windows).toBe(0);
    expect(result.statuses.get(early.instanceId)).toEqual({ kind: 'pending' });
    expect(result.statuses.get(late.instanceId)).toEqual({ kind: 'pending' });
    // 60 newer events fill the first page: neither launch was reached
    expect(result.found.size).toBe(0);
  });

  test('ThrottlingException is retried (paced like any call) and the listing goes on', async () => {
    const one = observed(before(2 * DAY_MS));
    let t = 0;
    const times: number[] = [];
    ctMock.on(LookupEventsCommand)
      .callsFakeOnce(async () => {
        times.push(t);
        throw throttled();
      })
      .callsFake(async () => {
        times.push(t);
        return { Events: [lookupEvent(iamUserRecord({ instanceIds: [one.instanceId], eventTime: before(1_000, one.launchedAt) }))] };
      });
    const result = await backfillCreators(cloudtrail, [one], {
      now: NOW,
      maxLookups: 5,
      clock: () => t,
      sleep: async (ms) => {
        t += ms;
      },
      retry: { sleep: async () => undefined },
    });
    expect(times).toEqual([0, LOOKUP_INTERVAL_MS]);
    expect(result.statuses.get(one.instanceId)).toEqual({ kind: 'known', creator: 'alice' });
    expect(result.lookups).toBe(2);
    expect(result.error).toBeUndefined();
  });

  test('retries count against the budget: throttled at the last lookup, the search stops with the error, nothing thrown', async () => {
    const one = observed(before(2 * DAY_MS));
    ctMock.on(LookupEventsCommand).rejects(throttled());
    const result = await backfillCreators(cloudtrail, [one], { now: NOW, maxLookups: 1, ...NO_WAIT });
    expect(ctMock).toHaveReceivedCommandTimes(LookupEventsCommand, 1);
    expect(result.lookups).toBe(1);
    expect(result.statuses.get(one.instanceId)).toEqual({ kind: 'pending' });
    expect(result.error).toEqual({ code: 'ThrottlingException', message: 'Rate exceeded' });
  });

  test('access denied stops the search: the creators found before it are kept, the rest pending', async () => {
    const first = observed(before(20 * DAY_MS));
    const second = observed(before(10 * DAY_MS));
    const third = observed(before(2 * DAY_MS));
    const denied = Object.assign(new Error('not authorized to perform: cloudtrail:LookupEvents'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    serveLookups([iamUserRecord({ instanceIds: [first.instanceId], eventTime: before(1_000, first.launchedAt) })], 50, { 2: denied });
    const result = await backfillCreators(cloudtrail, [first, second, third], { now: NOW, maxLookups: 10, ...NO_WAIT });
    // the third window is not searched after the failure, though the budget allows it
    expect(ctMock).toHaveReceivedCommandTimes(LookupEventsCommand, 2);
    expect(result.statuses.get(first.instanceId)).toEqual({ kind: 'known', creator: 'alice' });
    expect(result.statuses.get(second.instanceId)).toEqual({ kind: 'pending' });
    expect(result.statuses.get(third.instanceId)).toEqual({ kind: 'pending' });
    expect([...result.found]).toEqual([[first.instanceId, 'alice']]);
    expect(result.error).toMatchObject({ code: 'AccessDeniedException' });
  });

  test('instances CloudTrail cannot know are unknown without a lookup: beyond 90 days, or no launch time', async () => {
    const old = observed(before(91 * DAY_MS));
    const noTime = observed(undefined);
    const badTime = observed(new Date(Number.NaN));
    const result = await backfillCreators(cloudtrail, [old, noTime, badTime], { now: NOW, maxLookups: 10, sleep: async () => undefined });
    expect(ctMock.calls()).toHaveLength(0);
    expect(result.statuses.get(old.instanceId)).toEqual({ kind: 'unknown', why: expect.stringContaining('more than 90 days ago') });
    expect(result.statuses.get(noTime.instanceId)).toEqual({ kind: 'unknown', why: 'its launch time is unknown' });
    expect(result.statuses.get(badTime.instanceId)).toEqual({ kind: 'unknown', why: 'its launch time is unknown' });
    expect(result).toMatchObject({ lookups: 0, windows: 0 });
  });

  test('a window searched to the end without the launch: unknown; failed calls, other instances and junk are not taken', async () => {
    const one = observed(before(3 * DAY_MS));
    const at = before(1_000, one.launchedAt);
    ctMock.on(LookupEventsCommand).resolves({
      Events: [
        lookupEvent(iamUserRecord({ instanceIds: [one.instanceId], eventTime: at, errorCode: 'Client.UnauthorizedOperation' }, 'mallory')),
        lookupEvent(iamUserRecord({ instanceIds: [nextId()], eventTime: at }, 'someone-else')),
        { EventId: 'x', CloudTrailEvent: '{not json' },
        { EventId: 'y' },
        { EventId: 'z', CloudTrailEvent: JSON.stringify({ ...iamUserRecord({ instanceIds: [one.instanceId] }), eventName: 'StartInstances' }) },
      ],
    });
    const result = await backfillCreators(cloudtrail, [one], { now: NOW, maxLookups: 10, sleep: async () => undefined });
    expect(result.statuses.get(one.instanceId)).toEqual({ kind: 'unknown', why: 'no RunInstances event for it in CloudTrail around its launch' });
    expect(result.found.size).toBe(0);
    expect(result).toMatchObject({ lookups: 1, windows: 1 });
  });

  test('the first creator seen for an instance (newest first) is kept', async () => {
    const one = observed(before(3 * DAY_MS));
    ctMock.on(LookupEventsCommand).resolves({
      Events: [
        lookupEvent(iamUserRecord({ instanceIds: [one.instanceId], eventTime: before(1_000, one.launchedAt) }, 'first')),
        lookupEvent(iamUserRecord({ instanceIds: [one.instanceId], eventTime: before(2_000, one.launchedAt) }, 'second')),
      ],
    });
    const result = await backfillCreators(cloudtrail, [one], { now: NOW, maxLookups: 10, sleep: async () => undefined });
    expect(result.found.get(one.instanceId)).toBe('first');
  });

  test('no instances: no call', async () => {
    const result = await backfillCreators(cloudtrail, [], { now: NOW, maxLookups: 10 });
    expect(ctMock.calls()).toHaveLength(0);
    expect(result).toEqual({ statuses: new Map(), found: new Map(), lookups: 0, windows: 0 });
  });
});
