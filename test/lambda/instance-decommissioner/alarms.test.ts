import {
  CloudWatchClient, DeleteAlarmsCommand, DeleteAlarmsCommandInput, DescribeAlarmsCommand, DescribeAlarmsCommandInput, Dimension, MetricAlarm,
  ResourceNotFound,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AlarmIndex, createAlarmIndexCache, DEFAULT_INDEX_MAX_AGE_MS, deleteAlarms, instanceIdsOf, isAlarmNotFound,
} from '../../../lambda/instance-decommissioner/alarms';

const cwMock = mockClient(CloudWatchClient);
const cloudwatch = new CloudWatchClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const noWait = { sleep: async () => undefined };

const I1 = 'i-0aaaaaaaaaaaaaaa1';
const I2 = 'i-0bbbbbbbbbbbbbbb2';
const I3 = 'i-0ccccccccccccccc3';

const dims = (extra: Record<string, string>): Dimension[] => Object.entries(extra).map(([Name, Value]) => ({ Name, Value }));
const alarm = (name: string, dimensions: Record<string, string>): MetricAlarm => ({
  AlarmName: name, Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Dimensions: dims(dimensions),
});
/** A metric-math alarm reading one metric per dimension set, plus the expression itself. */
const mathAlarm = (name: string, ...dimensionSets: Array<Record<string, string>>): MetricAlarm => ({
  AlarmName: name,
  Metrics: [
    ...dimensionSets.map((d, i) => ({ Id: `m${i}`, ReturnData: false, MetricStat: { Metric: { Namespace: 'CWAgent', MetricName: 'mem_used_percent', Dimensions: dims(d) }, Period: 60, Stat: 'Average' } })),
    { Id: 'e1', Expression: 'MAX(METRICS())', ReturnData: true },
  ],
});
const cpuAlarm = (n: number, instanceId: string) => alarm(`cpu-${n}`, { InstanceId: instanceId });

/** Serves `alarms` in pages of `pageSize`, with opaque tokens, and records each request. */
function serveAlarms(alarms: MetricAlarm[], pageSize = 100): DescribeAlarmsCommandInput[] {
  const requests: DescribeAlarmsCommandInput[] = [];
  cwMock.on(DescribeAlarmsCommand).callsFake(async (input: DescribeAlarmsCommandInput) => {
    // The paginator reuses one input object for every page: keep a copy of each.
    requests.push({ ...input });
    const start = input.NextToken ? Number(input.NextToken.replace('token-', '')) : 0;
    const end = start + pageSize;
    return { MetricAlarms: alarms.slice(start, end), ...(end < alarms.length ? { NextToken: `token-${end}` } : {}) };
  });
  return requests;
}

function deleteCalls(): string[][] {
  return cwMock.commandCalls(DeleteAlarmsCommand).map((c) => c.args[0].input.AlarmNames!);
}

function awsError(code: string, httpStatusCode: number): Error {
  return Object.assign(new Error(`${code} (test)`), { name: code, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}
const notFound = (name: string) => new ResourceNotFound({ $metadata: { httpStatusCode: 404 }, message: `Alarm ${name} not found` });

beforeEach(() => {
  cwMock.reset();
  cwMock.on(DeleteAlarmsCommand).resolves({});
});

describe('AlarmIndex', () => {
  test('one paginated scan of metric alarms over 3+ pages of 100: every page read, tokens passed on', async () => {
    const alarms = Array.from({ length: 345 }, (_, n) => cpuAlarm(n, n % 2 ? I1 : I2));
    const requests = serveAlarms(alarms);
    const index = await AlarmIndex.build(cloudwatch, new Date(), noWait);
    expect(requests).toEqual([
      { AlarmTypes: ['MetricAlarm'], MaxRecords: 100 },
      { AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: 'token-100' },
      { AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: 'token-200' },
      { AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: 'token-300' },
    ]);
    expect(index.pages).toBe(4);
    expect(index.alarmsScanned).toBe(345);
    expect(index.alarmsFor(I1)).toHaveLength(172);
    expect(index.alarmsFor(I2)).toHaveLength(173);
    expect(index.alarmsFor(I2).slice(0, 3)).toEqual(['cpu-0', 'cpu-2', 'cpu-4']);
  });

  test('a page throttled past the SDK\'s retries resumes from its token, not from the start', async () => {
    const alarms = Array.from({ length: 250 }, (_, n) => cpuAlarm(n, I1));
    const requests: DescribeAlarmsCommandInput[] = [];
    let throttled = false;
    cwMock.on(DescribeAlarmsCommand).callsFake(async (input: DescribeAlarmsCommandInput) => {
      requests.push({ ...input });
      if (input.NextToken === 'token-100' && !throttled) {
        throttled = true;
        throw awsError('Throttling', 400);
      }
      const start = input.NextToken ? Number(input.NextToken.replace('token-', '')) : 0;
      return { MetricAlarms: alarms.slice(start, start + 100), ...(start + 100 < alarms.length ? { NextToken: `token-${start + 100}` } : {}) };
    });
    const index = await AlarmIndex.build(cloudwatch, new Date(), noWait);
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'token-100', 'token-100', 'token-200']);
    expect(index.alarmsFor(I1)).toEqual(alarms.map((a) => a.AlarmName));
  });

  test('an alarm belongs to the instance of its InstanceId dimension, whatever other dimensions the metric has', async () => {
    serveAlarms([
      alarm('plain', { InstanceId: I1 }),
      alarm('agent', { InstanceId: I1, ImageId: 'ami-0123', InstanceType: 't3.micro', path: '/', fstype: 'xfs' }),
      alarm('other-instance', { InstanceId: I2 }),
      alarm('asg', { AutoScalingGroupName: 'web' }),
      alarm('lookalike-names', { instanceid: I1, InstanceID: I1, Instance: I1, ImageId: I1 }),
      alarm('volume', { VolumeId: 'vol-0123' }),
      { AlarmName: 'no-dimensions', Namespace: 'AWS/Billing', MetricName: 'EstimatedCharges' },
      { Namespace: 'AWS/EC2', Dimensions: dims({ InstanceId: I1 }) }, // no name: cannot be deleted anyway
    ]);
    const index = await AlarmIndex.build(cloudwatch, new Date(), noWait);
    expect(index.alarmsFor(I1)).toEqual(['plain', 'agent']);
    expect(index.alarmsFor(I2)).toEqual(['other-instance']);
    expect(index.alarmsFor(I3)).toEqual([]);
    expect(index.instanceIdsWithAlarms().sort()).toEqual([I1, I2].sort());
    expect(index.alarmsScanned).toBe(8);
  });

  test('metric-math alarms: matched by the dimensions of any metric they read, listed under each instance once', async () => {
    serveAlarms([
      mathAlarm('mem-one', { InstanceId: I1, ImageId: 'ami-1', InstanceType: 'm5.large' }),
      mathAlarm('mem-two', { InstanceId: I1 }, { InstanceId: I2 }),
      mathAlarm('mem-same-twice', { InstanceId: I3 }, { InstanceId: I3, objectname: 'Memory' }),
      mathAlarm('mem-none', { AutoScalingGroupName: 'web' }),
      { AlarmName: 'expression-only', Metrics: [{ Id: 'e1', Expression: 'SEARCH(\'{AWS/EC2,InstanceId} CPUUtilization\', \'Average\', 300)' }] },
    ]);
    const index = await AlarmIndex.build(cloudwatch, new Date(), noWait);
    expect(index.alarmsFor(I1)).toEqual(['mem-one', 'mem-two']);
    expect(index.alarmsFor(I2)).toEqual(['mem-two']);
    expect(index.alarmsFor(I3)).toEqual(['mem-same-twice']);
    expect(index.instanceIdsWithAlarms()).toHaveLength(3);
  });

  test('instanceIdsOf reads both the alarm\'s own dimensions and its metrics\'', () => {
    expect(instanceIdsOf({ Dimensions: dims({ InstanceId: I1 }), Metrics: [{ Id: 'm', MetricStat: { Metric: { Dimensions: dims({ InstanceId: I2 }) }, Period: 60, Stat: 'Sum' } }] })).toEqual([I1, I2]);
    expect(instanceIdsOf({ Dimensions: [{ Name: 'InstanceId' } as Dimension, { Name: 'InstanceId', Value: '' }] })).toEqual([]);
    expect(instanceIdsOf({})).toEqual([]);
    // An alarm on another account's metrics (cross-account observability) names that account's instances: never ours.
    const crossAccount = { Id: 'm', AccountId: '999999999999', MetricStat: { Metric: { Dimensions: dims({ InstanceId: I2 }) }, Period: 60, Stat: 'Sum' } };
    expect(instanceIdsOf({ Metrics: [crossAccount] })).toEqual([]);
    expect(instanceIdsOf({ Dimensions: dims({ InstanceId: I1 }), Metrics: [crossAccount] })).toEqual([]);
    expect(instanceIdsOf({ Metrics: [{ ...crossAccount, AccountId: '' }] })).toEqual([I2]);
  });

  test('a page without MetricAlarms is an empty page', async () => {
    cwMock.on(DescribeAlarmsCommand).resolvesOnce({ NextToken: 't1' }).resolves({ MetricAlarms: [cpuAlarm(1, I1)] });
    const index = await AlarmIndex.build(cloudwatch, new Date(), noWait);
    expect(index.alarmsFor(I1)).toEqual(['cpu-1']);
    expect(index.pages).toBe(2);
  });

  test('alarmsFor returns a copy: changing it does not change the index', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    const index = await AlarmIndex.build(cloudwatch, new Date(), noWait);
    index.alarmsFor(I1).push('x');
    expect(index.alarmsFor(I1)).toEqual(['cpu-1']);
  });

  test('remove forgets names under every instance, and instances left with none', () => {
    const index = new AlarmIndex([cpuAlarm(1, I1), cpuAlarm(2, I1), mathAlarm('both', { InstanceId: I1 }, { InstanceId: I2 }), cpuAlarm(3, I3)], new Date());
    index.remove(['both', 'cpu-1']);
    expect(index.alarmsFor(I1)).toEqual(['cpu-2']);
    expect(index.alarmsFor(I2)).toEqual([]);
    expect(index.instanceIdsWithAlarms().sort()).toEqual([I1, I3].sort());
    index.remove([]);
    expect(index.alarmsFor(I3)).toEqual(['cpu-3']);
  });
});

describe('the cache of the index', () => {
  const T0 = new Date('2024-05-01T10:00:00Z');
  const at = (ms: number) => new Date(T0.getTime() + ms);

  test('reused within maxAge by later invocations: one scan for a burst; rebuilt once older', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    let now = T0;
    const cache = createAlarmIndexCache({ clock: () => now });
    const first = await cache.get(cloudwatch, now);
    now = at(60_000);
    expect(await cache.get(cloudwatch, now)).toBe(first);
    now = at(DEFAULT_INDEX_MAX_AGE_MS);
    expect(await cache.get(cloudwatch, now)).toBe(first);
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 1);
    now = at(DEFAULT_INDEX_MAX_AGE_MS + 1);
    const second = await cache.get(cloudwatch, now);
    expect(second).not.toBe(first);
    expect(second.builtAt).toEqual(now);
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 2);
  });

  test('the age counts from when the scan started, and `now` defaults to the clock', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    let now = T0;
    const cache = createAlarmIndexCache({ maxAgeMs: 1_000, clock: () => now });
    expect(cache.peek()).toBeUndefined();
    const first = await cache.get(cloudwatch);
    expect(first.builtAt).toEqual(T0);
    now = at(1_000);
    expect(await cache.get(cloudwatch)).toBe(first);
    now = at(1_001);
    expect(await cache.get(cloudwatch)).not.toBe(first);
    expect(cache.peek()!.builtAt).toEqual(at(1_001));
  });

  test('one invocation never scans twice: an index built after the invocation started is fresh for it', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    let now = T0;
    const cache = createAlarmIndexCache({ maxAgeMs: 1_000, clock: () => now });
    const invocationStart = T0;
    now = at(10_000); // the scan starts long after the invocation did
    const first = await cache.get(cloudwatch, invocationStart);
    now = at(20_000);
    expect(await cache.get(cloudwatch, invocationStart)).toBe(first);
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 1);
  });

  test('without a clock, the system clock stamps the index', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    const before = Date.now();
    const index = await createAlarmIndexCache().get(cloudwatch);
    expect(index.builtAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(index.builtAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  test('concurrent callers share one scan', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    const cache = createAlarmIndexCache({ clock: () => T0 });
    const [a, b, c] = await Promise.all([cache.get(cloudwatch, T0), cache.get(cloudwatch, T0), cache.get(cloudwatch, T0)]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 1);
  });

  test('a failed scan is not cached: the next call scans again', async () => {
    cwMock.on(DescribeAlarmsCommand).rejectsOnce(awsError('AccessDenied', 403)).resolves({ MetricAlarms: [cpuAlarm(1, I1)] });
    const cache = createAlarmIndexCache({ clock: () => T0, retry: noWait });
    await expect(cache.get(cloudwatch, T0)).rejects.toThrow('AccessDenied');
    expect(cache.peek()).toBeUndefined();
    expect((await cache.get(cloudwatch, T0)).alarmsFor(I1)).toEqual(['cpu-1']);
  });

  test('clear drops the index', async () => {
    serveAlarms([cpuAlarm(1, I1)]);
    const cache = createAlarmIndexCache({ clock: () => T0 });
    await cache.get(cloudwatch, T0);
    cache.clear();
    expect(cache.peek()).toBeUndefined();
    await cache.get(cloudwatch, T0);
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 2);
  });

  test('deleted alarms are removed from the cached index the next invocation reuses', async () => {
    serveAlarms([cpuAlarm(1, I1), cpuAlarm(2, I1), cpuAlarm(3, I2)]);
    const cache = createAlarmIndexCache({ clock: () => T0 });
    const index = await cache.get(cloudwatch, T0);
    await deleteAlarms(cloudwatch, index.alarmsFor(I1), { dryRun: false, index, retry: noWait });
    const reused = await cache.get(cloudwatch, at(1_000));
    expect(reused).toBe(index);
    expect(reused.alarmsFor(I1)).toEqual([]);
    expect(reused.alarmsFor(I2)).toEqual(['cpu-3']);
    expect(reused.instanceIdsWithAlarms()).toEqual([I2]);
  });
});

describe('deleteAlarms', () => {
  const names = (n: number, prefix = 'alarm') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  test('250 names: calls of exactly 100, 100 and 50, every name once, each DONE', async () => {
    const all = names(250);
    const results = await deleteAlarms(cloudwatch, all, { dryRun: false, retry: noWait });
    expect(deleteCalls().map((c) => c.length)).toEqual([100, 100, 50]);
    expect(deleteCalls().flat()).toEqual(all);
    expect(results).toEqual(all.map((alarmName) => ({ alarmName, outcome: 'DONE' })));
  });

  test('a name given twice is deleted once', async () => {
    const results = await deleteAlarms(cloudwatch, ['a', 'b', 'a'], { dryRun: false, retry: noWait });
    expect(deleteCalls()).toEqual([['a', 'b']]);
    expect(results.map((r) => r.alarmName)).toEqual(['a', 'b']);
  });

  test('a batch refused with ResourceNotFound (nothing deleted): retried one by one; the missing alarm already gone, the rest deleted', async () => {
    const all = names(5);
    const missing = all[3];
    cwMock.on(DeleteAlarmsCommand).callsFake(async (input: DeleteAlarmsCommandInput) => {
      if (input.AlarmNames!.includes(missing)) throw notFound(missing);
      return {};
    });
    const results = await deleteAlarms(cloudwatch, all, { dryRun: false, retry: noWait });
    expect(deleteCalls()).toEqual([all, ...all.map((n) => [n])]);
    expect(results).toEqual(all.map((alarmName) => ({ alarmName, outcome: 'DONE' })));
  });

  test('as AWS documents it today (the known names deleted, ResourceNotFound for the call): every alarm DONE, none claimed done by someone else', async () => {
    const all = names(4);
    const existing = new Set(all.filter((n) => n !== all[1]));
    cwMock.on(DeleteAlarmsCommand).callsFake(async (input: DeleteAlarmsCommandInput) => {
      const unknown = input.AlarmNames!.filter((n) => !existing.has(n));
      input.AlarmNames!.forEach((n) => existing.delete(n));
      if (unknown.length > 0) throw notFound(unknown[0]);
      return {};
    });
    const results = await deleteAlarms(cloudwatch, all, { dryRun: false, retry: noWait });
    expect(deleteCalls()).toEqual([all, ...all.map((n) => [n])]);
    expect(results).toEqual(all.map((alarmName) => ({ alarmName, outcome: 'DONE' })));
    expect(existing.size).toBe(0);
  });

  test('a single alarm not found on the first try: done, with the evidence that it was already gone', async () => {
    cwMock.on(DeleteAlarmsCommand).rejects(notFound('gone'));
    expect(await deleteAlarms(cloudwatch, ['gone'], { dryRun: false, retry: noWait })).toEqual([{ alarmName: 'gone', outcome: 'DONE', alreadyDone: 'ResourceNotFound' }]);
  });

  test('only the batch with the missing name falls back to one by one', async () => {
    const all = names(150);
    const missing = all[120];
    cwMock.on(DeleteAlarmsCommand).callsFake(async (input: DeleteAlarmsCommandInput) => {
      if (input.AlarmNames!.includes(missing)) throw notFound(missing);
      return {};
    });
    const results = await deleteAlarms(cloudwatch, all, { dryRun: false, retry: noWait });
    expect(deleteCalls().map((c) => c.length)).toEqual([100, 50, ...Array(50).fill(1)]);
    expect(results.every((r) => r.outcome === 'DONE')).toBe(true);
  });

  test('access denied: every alarm FAILED with the code, one call per batch of 100 and never one per alarm', async () => {
    cwMock.on(DeleteAlarmsCommand).rejects(awsError('AccessDenied', 403));
    const results = await deleteAlarms(cloudwatch, names(250), { dryRun: false, retry: noWait });
    expect(cwMock).toHaveReceivedCommandTimes(DeleteAlarmsCommand, 3);
    expect(results).toHaveLength(250);
    expect(results.every((r) => r.outcome === 'FAILED' && r.errorCode === 'AccessDenied' && r.errorMessage === 'AccessDenied (test)')).toBe(true);
  });

  test('one alarm that fails alone for another reason: the rest deleted, that one FAILED and kept in the index', async () => {
    const index = new AlarmIndex([cpuAlarm(1, I1), cpuAlarm(2, I1), cpuAlarm(3, I1)], new Date());
    cwMock.on(DeleteAlarmsCommand).callsFake(async (input: DeleteAlarmsCommandInput) => {
      if (input.AlarmNames!.includes('cpu-2')) throw awsError('InvalidParameterValue', 400);
      return {};
    });
    const results = await deleteAlarms(cloudwatch, index.alarmsFor(I1), { dryRun: false, index, retry: noWait });
    expect(results.map((r) => [r.alarmName, r.outcome, r.errorCode])).toEqual([['cpu-1', 'DONE', undefined], ['cpu-2', 'FAILED', 'InvalidParameterValue'], ['cpu-3', 'DONE', undefined]]);
    expect(index.alarmsFor(I1)).toEqual(['cpu-2']);
  });

  test('throttling is retried with the same batch', async () => {
    cwMock.on(DeleteAlarmsCommand).rejectsOnce(awsError('Throttling', 400)).resolves({});
    const results = await deleteAlarms(cloudwatch, ['a', 'b'], { dryRun: false, retry: noWait });
    expect(deleteCalls()).toEqual([['a', 'b'], ['a', 'b']]);
    expect(results.map((r) => r.outcome)).toEqual(['DONE', 'DONE']);
  });

  test('dry run: no call, every alarm DRY_RUN, the index untouched', async () => {
    const index = new AlarmIndex([cpuAlarm(1, I1), cpuAlarm(2, I1)], new Date());
    const results = await deleteAlarms(cloudwatch, index.alarmsFor(I1), { dryRun: true, index });
    expect(cwMock.calls()).toHaveLength(0);
    expect(results).toEqual([{ alarmName: 'cpu-1', outcome: 'DRY_RUN' }, { alarmName: 'cpu-2', outcome: 'DRY_RUN' }]);
    expect(index.alarmsFor(I1)).toEqual(['cpu-1', 'cpu-2']);
  });

  test('no names: no call', async () => {
    expect(await deleteAlarms(cloudwatch, [], { dryRun: false })).toEqual([]);
    expect(cwMock.calls()).toHaveLength(0);
  });

  test('isAlarmNotFound: both spellings CloudWatch uses, nothing else', () => {
    expect(isAlarmNotFound(notFound('x'))).toBe(true);
    expect(isAlarmNotFound(awsError('ResourceNotFoundException', 404))).toBe(true);
    expect(isAlarmNotFound(awsError('AccessDenied', 403))).toBe(false);
    expect(isAlarmNotFound(new Error('ResourceNotFound'))).toBe(false);
  });
});

describe('AlarmIndex: the instances of each alarm', () => {
  test('instancesOf: every instance an alarm watches; none for an alarm it does not know or that watches no instance', () => {
    const index = new AlarmIndex([
      cpuAlarm(1, I1),
      mathAlarm('both', { InstanceId: I1 }, { InstanceId: I2 }),
      { AlarmName: 'queue-depth', Dimensions: dims({ QueueName: 'jobs' }) },
    ], new Date());
    expect(index.instancesOf('both')).toEqual([I1, I2]);
    expect(index.instancesOf(cpuAlarm(1, I1).AlarmName!)).toEqual([I1]);
    expect(index.instancesOf('queue-depth')).toEqual([]);
    expect(index.instancesOf('never-listed')).toEqual([]);
    index.remove(['both']);
    expect(index.instancesOf('both')).toEqual([]);
    expect(index.alarmsFor(I2)).toEqual([]);
  });

  test('an alarm without a name is left out; one listed twice counts once', () => {
    const twice = cpuAlarm(1, I1);
    const index = new AlarmIndex([{ Dimensions: dims({ InstanceId: I1 }) }, twice, twice], new Date());
    expect(index.alarmsFor(I1)).toEqual([twice.AlarmName]);
  });

  test('a metric query with a MetricStat but no Metric names no instance (and does not throw)', () => {
    expect(instanceIdsOf({ Metrics: [{ Id: 'm', MetricStat: { Period: 60, Stat: 'Sum' } as never }] })).toEqual([]);
  });
});
