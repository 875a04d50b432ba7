import {
  EventBridgeClient, PutEventsCommand, PutEventsCommandInput, PutEventsRequestEntry, PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  announce, DecommissionDetail, DETAIL_MAX_BYTES, fitDetail, PUT_EVENTS_MAX_BYTES,
} from '../../../lambda/instance-decommissioner/announce';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';
import { byteLength } from '../../../lambda/shared/report';

const ebMock = mockClient(EventBridgeClient);
const eventbridge = new EventBridgeClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const noWait = { sleep: async () => undefined };
const BUS = 'arn:aws:events:eu-west-1:111122223333:event-bus/fleet';

let counter = 0;
const nextId = () => `i-0${(++counter).toString(16).padStart(16, '0')}`;

function snapshotOf(instanceId: string, overrides: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return {
    instanceId,
    privateIp: '10.0.1.23',
    privateIps: ['10.0.1.23'],
    publicIps: ['54.12.0.9'],
    ipv6s: [],
    privateDnsName: 'ip-10-0-1-23.eu-west-1.compute.internal',
    tags: { Name: 'web-1', Team: 'platform' },
    autoScalingGroupName: 'web',
    availabilityZone: 'eu-west-1a',
    vpcId: 'vpc-0123',
    launchTime: '2024-05-01T09:00:00.000Z',
    recordNames: ['web-1.internal.example.com'],
    ...overrides,
  };
}

function detail(instanceId = nextId(), overrides: Partial<DecommissionDetail> = {}): DecommissionDetail {
  return {
    instanceId,
    state: 'terminated',
    snapshot: snapshotOf(instanceId),
    snapshotSource: 'table',
    dryRun: false,
    cleaned: {
      records: [{ zoneId: 'Z0123', name: 'web-1.internal.example.com', type: 'A', values: ['10.0.1.23'] }],
      keptRecords: [{ zoneId: 'Z0123', name: 'web.internal.example.com', type: 'A', reason: 'holds other addresses too' }],
      alarms: [`cpu-${instanceId}`],
    },
    ...overrides,
  };
}

/** A detail whose deleted records alone take about `kb` kilobytes of JSON. */
function bigDetail(kb: number, instanceId = nextId()): DecommissionDetail {
  const base = detail(instanceId);
  const records = Array.from({ length: kb }, (_, i) => ({
    zoneId: 'Z0123', name: `r${i}.internal.example.com`, type: 'TXT', setIdentifier: `set-${i}`, values: ['x'.repeat(950)],
  }));
  return { ...base, cleaned: { ...base.cleaned, records } };
}

/** What EventBridge answers: an EventId per entry, or the error `failWith` gives for it. */
function serve(failWith: (entry: PutEventsRequestEntry, call: number) => PutEventsResultEntry | undefined = () => undefined) {
  let call = 0;
  const fake = async (input: PutEventsCommandInput) => {
    call++;
    const Entries = input.Entries!.map((e) => failWith(e, call) ?? { EventId: `ev-${instanceOf(e)}-${call}` });
    return { FailedEntryCount: Entries.filter((e) => e.ErrorCode).length, Entries };
  };
  ebMock.on(PutEventsCommand).callsFake(fake);
  return fake;
}

const instanceOf = (entry: PutEventsRequestEntry): string => JSON.parse(entry.Detail!).instanceId;
const calls = (): PutEventsRequestEntry[][] => ebMock.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries!);
const entrySize = (e: PutEventsRequestEntry) => byteLength(e.Source!) + byteLength(e.DetailType!) + byteLength(e.Detail!);
function awsError(code: string, httpStatusCode: number, message = `${code} (test)`): Error {
  return Object.assign(new Error(message), { name: code, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}

beforeEach(() => {
  ebMock.reset();
  serve();
});

test('23 details: calls of 10, 10 and 3 entries on the bus, one event per instance, with the detail as given', async () => {
  const details = Array.from({ length: 23 }, () => detail());
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(calls().map((c) => c.length)).toEqual([10, 10, 3]);
  const entries = calls().flat();
  expect(entries).toEqual(details.map((d) => ({
    EventBusName: BUS, Source: 'cdk-fleet-janitor', DetailType: 'Instance Decommissioned', Detail: JSON.stringify(d),
  })));
  expect(results).toEqual(details.map((d, i) => ({ instanceId: d.instanceId, ok: true, eventId: `ev-${d.instanceId}-${Math.floor(i / 10) + 1}` })));
});

test('no details: no call', async () => {
  expect(await announce(eventbridge, BUS, [], false, noWait)).toEqual([]);
  expect(ebMock.calls()).toHaveLength(0);
});

test('entries EventBridge refuses for good: mapped back to their instance with the code and message, not retried', async () => {
  const details = Array.from({ length: 12 }, () => detail());
  const refused = new Set([details[2].instanceId, details[11].instanceId]);
  serve((e) => (refused.has(instanceOf(e)) ? { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' } : undefined));
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(calls().map((c) => c.length)).toEqual([10, 2]);
  expect(results.filter((r) => !r.ok)).toEqual([
    { instanceId: details[2].instanceId, ok: false, errorCode: 'NotAuthorizedForSourceException', errorMessage: 'Not authorized for the source.' },
    { instanceId: details[11].instanceId, ok: false, errorCode: 'NotAuthorizedForSourceException', errorMessage: 'Not authorized for the source.' },
  ]);
  expect(results.map((r) => r.instanceId)).toEqual(details.map((d) => d.instanceId));
  expect(results.filter((r) => r.ok)).toHaveLength(10);
});

test('throttled and InternalFailure entries are sent again, alone: accepted events are never sent twice', async () => {
  const details = Array.from({ length: 6 }, () => detail());
  const throttledOnce = details[1].instanceId;
  const internalTwice = details[4].instanceId;
  serve((e, call) => {
    const id = instanceOf(e);
    if (id === throttledOnce && call === 1) return { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' };
    if (id === internalTwice && call <= 2) return { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal failure' };
    return undefined;
  });
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(calls().map((c) => c.map(instanceOf))).toEqual([details.map((d) => d.instanceId), [throttledOnce, internalTwice], [internalTwice]]);
  expect(results.every((r) => r.ok)).toBe(true);
  expect(results[1]).toEqual({ instanceId: throttledOnce, ok: true, eventId: `ev-${throttledOnce}-2` });
  expect(results[4]).toEqual({ instanceId: internalTwice, ok: true, eventId: `ev-${internalTwice}-3` });
});

test('an entry still throttled after 3 attempts fails with the code; the others are done', async () => {
  const details = Array.from({ length: 3 }, () => detail());
  const stuck = details[0].instanceId;
  serve((e) => (instanceOf(e) === stuck ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' } : undefined));
  const delays: number[] = [];
  const results = await announce(eventbridge, BUS, details, false, { sleep: async (ms: number) => { delays.push(ms); } });
  expect(calls().map((c) => c.length)).toEqual([3, 1, 1]);
  expect(delays).toHaveLength(2);
  expect(delays[0]).toBeLessThan(400);
  expect(delays[1]).toBeLessThan(800);
  expect(results.map((r) => [r.ok, r.errorCode])).toEqual([[false, 'ThrottlingException'], [true, undefined], [true, undefined]]);
});

test('entry retries wait with jittered backoff under the caller\'s bounds', async () => {
  const d = detail();
  serve((_, call) => (call === 1 ? { ErrorCode: 'InternalFailure' } : undefined));
  const delays: number[] = [];
  const random = jest.spyOn(Math, 'random').mockReturnValue(0.999);
  try {
    await announce(eventbridge, BUS, [d], false, { baseDelayMs: 1_000, maxDelayMs: 1_500, sleep: async (ms: number) => { delays.push(ms); } });
  } finally {
    random.mockRestore();
  }
  expect(delays).toHaveLength(1);
  expect(delays[0]).toBeGreaterThan(1_490);
  expect(delays[0]).toBeLessThan(1_500);
});

test('a refused entry without a message: failed with its code alone', async () => {
  const d = detail();
  ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'MalformedDetail' }] });
  expect(await announce(eventbridge, BUS, [d], false, noWait)).toEqual([{ instanceId: d.instanceId, ok: false, errorCode: 'MalformedDetail' }]);
});

test('an answer without entries: every instance of the request failed, not silently ok', async () => {
  const details = [detail(), detail()];
  ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0 });
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(results.map((r) => [r.ok, r.errorCode])).toEqual([[false, 'MissingResultEntry'], [false, 'MissingResultEntry']]);
});

test('the response lacks an entry: that instance fails, not silently ok', async () => {
  const details = [detail(), detail()];
  ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'ev-1' }] });
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(results).toEqual([
    { instanceId: details[0].instanceId, ok: true, eventId: 'ev-1' },
    { instanceId: details[1].instanceId, ok: false, errorCode: 'MissingResultEntry', errorMessage: expect.any(String) },
  ]);
});

test('the whole call refused: every entry of it failed with the code; the next request is still sent', async () => {
  const details = Array.from({ length: 13 }, () => detail());
  const fake = serve();
  ebMock.on(PutEventsCommand).rejectsOnce(awsError('AccessDeniedException', 400, 'not authorized to perform: events:PutEvents')).callsFake(fake);
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(calls().map((c) => c.length)).toEqual([10, 3]);
  expect(results.slice(0, 10).every((r) => !r.ok && r.errorCode === 'AccessDeniedException' && r.errorMessage === 'not authorized to perform: events:PutEvents')).toBe(true);
  expect(results.slice(10).every((r) => r.ok)).toBe(true);
});

test('the whole call throttled: retried, then done', async () => {
  const details = [detail(), detail()];
  ebMock.on(PutEventsCommand).rejectsOnce(awsError('ThrottlingException', 400)).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }, { EventId: 'b' }] });
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
  expect(results.map((r) => r.eventId)).toEqual(['a', 'b']);
});

test('the whole call fails while retrying refused entries: only those fail, the accepted ones stay done', async () => {
  const details = [detail(), detail(), detail()];
  ebMock.on(PutEventsCommand)
    .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException' }, { EventId: 'c' }] })
    .rejects(awsError('ValidationException', 400));
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(results.map((r) => [r.ok, r.errorCode ?? r.eventId])).toEqual([[true, 'a'], [false, 'ValidationException'], [true, 'c']]);
});

test('a detail over ~250 KB: its deleted records cut to counts, marked truncated, in the event and in the result', async () => {
  const big = bigDetail(300);
  const small = detail();
  const results = await announce(eventbridge, BUS, [small, big], false, noWait);
  const [entries] = calls();
  expect(entries.map(entrySize).every((s) => s <= PUT_EVENTS_MAX_BYTES)).toBe(true);
  expect(byteLength(entries[1].Detail!)).toBeLessThanOrEqual(DETAIL_MAX_BYTES);
  const sent = JSON.parse(entries[1].Detail!);
  expect(sent).toEqual({
    ...JSON.parse(JSON.stringify(big)),
    cleaned: { records: [], keptRecords: big.cleaned.keptRecords, alarms: big.cleaned.alarms, counts: { records: 300, keptRecords: 1, alarms: 1 } },
    truncated: true,
  });
  expect(JSON.parse(entries[0].Detail!)).toEqual(JSON.parse(JSON.stringify(small)));
  expect(results.map((r) => r.truncated)).toEqual([undefined, true]);
});

test('large entries share a request only while their sizes add up to under 256 KB', async () => {
  const details = Array.from({ length: 5 }, () => bigDetail(100));
  const results = await announce(eventbridge, BUS, details, false, noWait);
  expect(calls().map((c) => c.length)).toEqual([2, 2, 1]);
  for (const request of calls()) expect(request.map(entrySize).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
  expect(results.every((r) => r.ok && r.truncated === undefined)).toBe(true);
});

test('a detail too large even with its lists cut: not sent, failed as EntryTooLarge; the others are sent', async () => {
  const id = nextId();
  const huge = detail(id, { snapshot: snapshotOf(id, { recordNames: Array.from({ length: 300 }, (_, i) => `${'n'.repeat(1_000)}-${i}`) }) });
  const fine = detail();
  const results = await announce(eventbridge, BUS, [huge, fine], false, noWait);
  expect(calls().map((c) => c.map(instanceOf))).toEqual([[fine.instanceId]]);
  expect(results[0]).toMatchObject({ instanceId: id, ok: false, truncated: true, errorCode: 'EntryTooLarge' });
  expect(results[1]).toMatchObject({ instanceId: fine.instanceId, ok: true });
});

test('dry run: no call, every instance ok and marked dry run (and truncated where a real run would cut)', async () => {
  const details = [detail(), bigDetail(300)];
  const results = await announce(eventbridge, BUS, details, true, noWait);
  expect(ebMock.calls()).toHaveLength(0);
  expect(results).toEqual([
    { instanceId: details[0].instanceId, ok: true, dryRun: true },
    { instanceId: details[1].instanceId, ok: true, dryRun: true, truncated: true },
  ]);
});

describe('fitDetail', () => {
  const kept = (n: number) => Array.from({ length: n }, (_, i) => ({ zoneId: 'Z0123', name: `k${i}.example.com`, type: 'A', reason: 'r'.repeat(1_000) }));
  const alarms = (n: number) => Array.from({ length: n }, (_, i) => `${'a'.repeat(250)}-${i}`);

  test('a detail that fits is returned as it is', () => {
    const d = detail();
    expect(fitDetail(d, 10_000)).toEqual({ detail: d, json: JSON.stringify(d), fits: true });
  });

  test('cuts records first, then kept records, then alarms, always with every count', () => {
    const base = bigDetail(50);
    const d: DecommissionDetail = { ...base, cleaned: { ...base.cleaned, keptRecords: kept(30), alarms: alarms(40) } };
    const counts = { records: 50, keptRecords: 30, alarms: 40 };
    const afterRecords = fitDetail(d, 50_000);
    expect(afterRecords.fits).toBe(true);
    expect(afterRecords.detail.cleaned).toEqual({ records: [], keptRecords: d.cleaned.keptRecords, alarms: d.cleaned.alarms, counts });
    const afterKept = fitDetail(d, 15_000);
    expect(afterKept.detail.cleaned).toEqual({ records: [], keptRecords: [], alarms: d.cleaned.alarms, counts });
    const afterAlarms = fitDetail(d, 2_000);
    expect(afterAlarms.detail.cleaned).toEqual({ records: [], keptRecords: [], alarms: [], counts });
    for (const r of [afterRecords, afterKept, afterAlarms]) {
      expect(r.detail.truncated).toBe(true);
      expect(r.json).toBe(JSON.stringify(r.detail));
      expect(byteLength(r.json)).toBeLessThanOrEqual(r === afterRecords ? 50_000 : r === afterKept ? 15_000 : 2_000);
    }
    expect(fitDetail(d, 100).fits).toBe(false);
  });

  test('measures the wrapped JSON, in UTF-8 bytes', () => {
    const d = detail(nextId(), { snapshot: snapshotOf('i-1', { tags: { Name: 'é'.repeat(1_000) } }) });
    const chars = JSON.stringify(d).length;
    expect(fitDetail(d, chars + 10).detail.truncated).toBe(true);
    const wrapped = fitDetail(d, 100_000, (x) => ({ detail: x }));
    expect(wrapped.json).toBe(JSON.stringify({ detail: d }));
  });
});

describe('announce and fitDetail: the exact bounds', () => {
  /** A detail whose JSON is exactly `bytes` long, padded in a tag of its snapshot. */
  function detailOfSize(bytes: number, instanceId = nextId()): DecommissionDetail {
    const base = detail(instanceId);
    const padded = (n: number) => ({ ...base, snapshot: { ...base.snapshot, tags: { ...base.snapshot.tags, pad: 'p'.repeat(n) } } });
    const n = bytes - byteLength(JSON.stringify(padded(0)));
    const out = padded(n);
    expect(byteLength(JSON.stringify(out))).toBe(bytes);
    return out;
  }

  test('a detail of exactly the limit fits whole; one byte more is cut', () => {
    const d = detailOfSize(5_000);
    expect(fitDetail(d, 5_000)).toMatchObject({ fits: true, detail: d });
    expect(fitDetail(d, 4_999)).toMatchObject({ fits: true, detail: { truncated: true } });
  });

  test('a cut stage of exactly the limit is taken', () => {
    const d = detailOfSize(5_000);
    const firstStage = JSON.stringify(fitDetail(d, 4_999).detail);
    const fitted = fitDetail(d, byteLength(firstStage));
    expect(fitted.detail.cleaned.keptRecords).toEqual(d.cleaned.keptRecords);
    expect(fitted.detail.cleaned.records).toEqual([]);
  });

  test('EntryTooLarge names the entry\'s size: Source, DetailType and Detail together', async () => {
    const id = nextId();
    const huge = detail(id, { snapshot: snapshotOf(id, { recordNames: Array.from({ length: 300 }, (_, i) => `${'n'.repeat(1_000)}-${i}`) }) });
    const [result] = await announce(eventbridge, BUS, [huge], false, noWait);
    const cut = fitDetail(huge, DETAIL_MAX_BYTES);
    const size = byteLength('cdk-fleet-janitor') + byteLength('Instance Decommissioned') + byteLength(cut.json);
    expect(result.errorMessage).toBe(`the event is ${size} bytes even with its lists cut to counts; EventBridge takes up to ${PUT_EVENTS_MAX_BYTES}`);
  });

  test('two entries that add up to exactly the request limit go in two requests; one byte less, in one', async () => {
    serve();
    const overhead = byteLength('cdk-fleet-janitor') + byteLength('Instance Decommissioned');
    const half = PUT_EVENTS_MAX_BYTES / 2 - overhead;
    await announce(eventbridge, BUS, [detailOfSize(half), detailOfSize(half)], false, noWait);
    expect(calls().map((c) => c.length)).toEqual([1, 1]);
    expect(calls().flat().reduce((n, e) => n + entrySize(e), 0)).toBe(PUT_EVENTS_MAX_BYTES);
    ebMock.reset();
    serve();
    await announce(eventbridge, BUS, [detailOfSize(half), detailOfSize(half - 1)], false, noWait);
    expect(calls().map((c) => c.length)).toEqual([2]);
  });

  test('a response short of an entry says so in its message', async () => {
    const details = [detail(), detail()];
    ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'ev-1' }] });
    const results = await announce(eventbridge, BUS, details, false, noWait);
    expect(results[1].errorMessage).toBe('PutEvents returned fewer entries than it was sent');
  });
});
