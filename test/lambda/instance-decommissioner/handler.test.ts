import type { PartialItemFailureResponse } from '@aws-lambda-powertools/batch/types';
import { DeleteAlarmsCommand, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { BatchGetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { Change, ChangeResourceRecordSetsCommand, PriorRequestNotComplete } from '@aws-sdk/client-route-53';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import 'aws-sdk-client-mock-jest';
import {
  albAlarm, batch, changeCalls, cwMock, ddbError, ddbMock, deleteAlarmCalls, describeAlarmCalls, described, describeCalls, DOMAIN, ebMock,
  ec2Mock, emfRecords, EVENT_BUS, expectNoCallsAtAll, expectNoStateChanges, failedIds, fakeDate, FWD, given, Handler, hookPayloads, HOOK_CHEF,
  HOOK_CONSUL, host, idOf, inject, installHandlerHarness, instanceAlarm, itemOf, lambdaMock, listCalls, LIVE_STATES, loadHandler, logLines,
  mathAlarm, message, privateDnsOf, PROTECT, ptrName, publishCalls, published, putEventsCalls, putItemCalls, r53Error, r53Mock, redelivered,
  REV, route53Times, rowsOf, rr, scanCalls, sentCommands, sleeps, snapshotOf, snsMock, sqsMessage, stateChange, storedItem, SWEEP, SweepResult,
  timing, TOPIC_ARN, updateCalls, world, zoneText,
} from './harness';
import { ec2Error } from '../helpers';

installHandlerHarness();

type BatchResponse = PartialItemFailureResponse;
const run = async (handler: Handler, ...messages: ReturnType<typeof message>[]) => await handler(batch(...messages)) as BatchResponse;
const sweep = async (handler: Handler, event: unknown = SWEEP) => await handler(event) as SweepResult;
const name = (label: string) => `${label}.${DOMAIN}`;
const soa = () => rr(DOMAIN, 'SOA', ['ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400'], { TTL: 900 });
const ns = () => rr(DOMAIN, 'NS', ['ns-1536.awsdns-00.co.uk.', 'ns-0.awsdns-00.com.'], { TTL: 172800 });
/** A change as "ACTION name type [setId] values". */
const changeText = (c: Change) =>
  `${c.Action} ${c.ResourceRecordSet!.Name} ${c.ResourceRecordSet!.Type}${c.ResourceRecordSet!.SetIdentifier ? ` [${c.ResourceRecordSet!.SetIdentifier}]` : ''} `
  + (c.ResourceRecordSet!.ResourceRecords ?? []).map((r) => r.Value).join(',');
/** The environment of a construct without DNS, alarms or hooks: only the bus event and the mark. */
const BARE = { HOSTED_ZONES: '', RECORD_NAME_TEMPLATES: '', DELETE_ALARMS: 'false', HOOK_FUNCTIONS: '' };

describe('running event', () => {
  test('stores the snapshot with the rendered names, touches nothing else, sends no notification', async () => {
    const web = host(1, { name: 'Web-01', service: 'web', publicIp: '54.154.10.21', secondaryIps: ['10.0.1.111'], ipv6: '2a05:d018:abc:1201::11' });
    given({
      instances: [described(web)],
      zones: { [FWD]: [rr(name('web-01'), 'A', [web.privateIp])] },
      alarms: [instanceAlarm('web-01-cpu-high', web.id)],
    });
    const response = await run(loadHandler({ HOOK_FUNCTIONS: JSON.stringify([HOOK_CHEF, HOOK_CONSUL]) }), message(web.id, 'running'));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(describeCalls()).toEqual([{ Filters: [{ Name: 'instance-id', Values: [web.id] }], MaxResults: 1000 }]);
    expect(putItemCalls()).toHaveLength(1);
    const item = unmarshall(putItemCalls()[0].Item!);
    // no expiry while the instance lives (it may outlive the retention); the decommission sets it
    expect(item).toEqual({ InstanceId: web.id, Status: 'LIVE', Snapshot: expect.any(String), CapturedAt: expect.any(String) });
    const snapshot = JSON.parse(item.Snapshot);
    expect(snapshot).toEqual(snapshotOf(web));
    expect(snapshot.recordNames).toEqual([name('web-01'), name('web')]);
    expect(snapshot.privateIps).toEqual([web.privateIp, '10.0.1.111']);
    // a running event never overwrites a decommissioned snapshot, nor one whose hooks ran
    expect(putItemCalls()[0].ConditionExpression).toContain('attribute_not_exists');
    for (const mock of [r53Mock, cwMock, lambdaMock, ebMock, snsMock]) expect(mock.calls()).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateItemCommand);
    expect(logLines('info').filter((l) => l.message === 'decision')).toEqual([expect.objectContaining({
      resourceType: 'instance', resourceId: web.id, action: 'SNAPSHOT', outcome: 'KEPT', reason: 'running: snapshot stored (2 record name(s))',
    })]);
  });

  test('a snapshot the table refuses fails that instance\'s message only; the other snapshot of the batch is stored', async () => {
    const web = host(1, { name: 'Web-01', service: 'web' });
    const api = host(2, { name: 'Api-01', service: 'api' });
    given({ instances: [described(web), described(api)] });
    ddbMock.on(PutItemCommand, { Item: { InstanceId: { S: web.id } } }).rejects(ddbError('InternalServerError', 500));
    const handler = loadHandler();
    const webMessage = message(web.id, 'running');
    const response = await run(handler, webMessage, message(api.id, 'running'));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: webMessage.messageId }] });
    expect(putItemCalls().map((c) => c.Item!.InstanceId.S)).toEqual(expect.arrayContaining([web.id, api.id]));
    expect(rowsOf(published())).toContainEqual(expect.stringMatching(new RegExp(`^- instance ${web.id} .*action=SNAPSHOT  result=FAILED  error=InternalServerError`)));
  });

  test('a running event that arrives after the decommission leaves the snapshot as it was', async () => {
    const web = host(1, { name: 'web-01' });
    given({ instances: [described(web)], items: [storedItem(web, { status: 'LIVE', hooksDone: [HOOK_CHEF] })] });
    const before = itemOf(web.id);
    expect(await run(loadHandler(), message(web.id, 'running'))).toEqual({ batchItemFailures: [] });
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
    expect(itemOf(web.id)).toEqual(before);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ resourceId: web.id, reason: 'running event after its decommission: snapshot left as it was' }));
  });
});

/**
 * Three dying instances and their neighbours. web-01 and web-02 share the multi-value
 * web.internal.example.com with the live web-03; api-01 owns a weighted set (its id as the set
 * identifier) and a CNAME to its EC2 name; its PTR was handed to another host.
 */
function dyingFleet() {
  const a = host(1, { name: 'web-01', service: 'web', publicIp: '54.154.10.21' });
  const b = host(2, { name: 'web-02', service: 'web' });
  const c = host(3, { name: 'api-01', service: 'api' });
  const d = host(4, { name: 'web-03', service: 'web' });
  const e = host(5, { name: 'api-02', service: 'api' });
  given({
    instances: [described(a, 'terminated'), described(b, 'terminated'), described(c, 'shutting-down'), described(d), described(e)],
    items: [a, b, c, d, e].map((h) => storedItem(h)),
    zones: {
      [FWD]: [
        soa(), ns(),
        rr(name('web-01'), 'A', [a.privateIp]),
        rr(name('web-02'), 'A', [b.privateIp]),
        rr(name('web-03'), 'A', [d.privateIp]),
        rr(name('web'), 'A', [a.privateIp, b.privateIp, d.privateIp], { TTL: 60 }),
        rr(name('api'), 'A', [c.privateIp], { SetIdentifier: c.id, Weight: 10 }),
        rr(name('api'), 'A', [e.privateIp], { SetIdentifier: e.id, Weight: 10 }),
        rr(name('api-01'), 'CNAME', [privateDnsOf(c.privateIp)]),
        rr(name('db'), 'A', ['10.0.5.5']),
      ],
      [REV]: [
        rr(ptrName(a.privateIp), 'PTR', [`${name('web-01')}.`]),
        rr(ptrName(b.privateIp), 'PTR', [`${privateDnsOf(b.privateIp)}.`]),
        rr(ptrName(c.privateIp), 'PTR', ['legacy-host.corp.example.com.']),
        rr(ptrName(d.privateIp), 'PTR', [`${name('web-03')}.`]),
      ],
    },
    alarms: [
      instanceAlarm('web-01-cpu-high', a.id), instanceAlarm('web-02-memory', b.id, 'agent'), instanceAlarm('api-01-status-check', c.id, 'status'),
      mathAlarm('web-pool-cpu', [a.id, d.id]), instanceAlarm('web-03-cpu-high', d.id), albAlarm('web-alb-5xx'),
    ],
  });
  return { a, b, c, d, e };
}

describe('terminated instances with stored snapshots', () => {
  test('one batch: records, alarms, hooks, the bus event, the mark and one notification', async () => {
    const { a, b, c, d, e } = dyingFleet();
    const messages = [message(a.id, 'shutting-down'), message(a.id, 'terminated'), message(b.id, 'terminated'), message(c.id, 'shutting-down')];
    const response = await run(loadHandler(), ...messages);
    expect(response).toEqual({ batchItemFailures: [] });

    // observe: the snapshots (consistent reads), EC2's view of the instances, each name and reverse name listed once
    expect(ddbMock.commandCalls(BatchGetItemCommand).map((call) => call.args[0].input)).toEqual([{
      RequestItems: { 'fleet-janitor-instance-snapshots': { Keys: [a, b, c].map((h) => ({ InstanceId: { S: h.id } })), ConsistentRead: true } },
    }]);
    expect(listCalls()).toEqual([
      { HostedZoneId: FWD, StartRecordName: name('web-01'), MaxItems: 300 },
      { HostedZoneId: FWD, StartRecordName: name('web'), MaxItems: 300 },
      { HostedZoneId: REV, StartRecordName: ptrName(a.privateIp), MaxItems: 300 },
      { HostedZoneId: FWD, StartRecordName: name('web-02'), MaxItems: 300 },
      { HostedZoneId: REV, StartRecordName: ptrName(b.privateIp), MaxItems: 300 },
      { HostedZoneId: FWD, StartRecordName: name('api-01'), MaxItems: 300 },
      { HostedZoneId: FWD, StartRecordName: name('api'), MaxItems: 300 },
      { HostedZoneId: REV, StartRecordName: ptrName(c.privateIp), MaxItems: 300 },
    ]);
    // who holds the addresses now: every private address of every interface, and the public ones, live states only
    const ips = [a.privateIp, b.privateIp, c.privateIp];
    expect(describeCalls()).toEqual([
      { Filters: [{ Name: 'instance-id', Values: [a.id, b.id, c.id] }], MaxResults: 1000 },
      { Filters: [{ Name: 'network-interface.addresses.private-ip-address', Values: ips }, { Name: 'instance-state-name', Values: LIVE_STATES }], MaxResults: 1000 },
      { Filters: [{ Name: 'ip-address', Values: ips }, { Name: 'instance-state-name', Values: LIVE_STATES }], MaxResults: 1000 },
    ]);

    // act: one change batch per zone for the three instances
    const changes = changeCalls();
    expect(changes.map((call) => call.HostedZoneId)).toEqual([FWD, REV]);
    expect(changes[0].ChangeBatch!.Comment).toBe(`cdk-fleet-janitor instance-decommissioner: ${a.id} ${b.id} ${c.id}`);
    expect(changes[0].ChangeBatch!.Changes!.map(changeText)).toEqual([
      `DELETE ${name('web-01')}. A ${a.privateIp}`,
      `DELETE ${name('web')}. A ${a.privateIp},${b.privateIp},${d.privateIp}`,
      `CREATE ${name('web')}. A ${d.privateIp}`,
      `DELETE ${name('web-02')}. A ${b.privateIp}`,
      `DELETE ${name('api-01')}. CNAME ${privateDnsOf(c.privateIp)}`,
      `DELETE ${name('api')}. A [${c.id}] ${c.privateIp}`,
    ]);
    // the shrunk set keeps its TTL; the weighted set is deleted exactly as listed
    expect(changes[0].ChangeBatch!.Changes![2].ResourceRecordSet).toEqual({ Name: `${name('web')}.`, Type: 'A', TTL: 60, ResourceRecords: [{ Value: d.privateIp }] });
    expect(changes[0].ChangeBatch!.Changes![5].ResourceRecordSet).toMatchObject({ SetIdentifier: c.id, Weight: 10 });
    expect(changes[1].ChangeBatch!.Changes!.map(changeText)).toEqual([
      `DELETE ${ptrName(a.privateIp)}. PTR ${name('web-01')}.`,
      `DELETE ${ptrName(b.privateIp)}. PTR ${privateDnsOf(b.privateIp)}.`,
    ]);
    expect(zoneText(FWD)).toEqual([
      `${name('api')}. A [${e.id}] ${e.privateIp}`, `${name('db')}. A 10.0.5.5`, `${name('web-03')}. A ${d.privateIp}`, `${name('web')}. A ${d.privateIp}`,
      `${DOMAIN}. NS ns-1536.awsdns-00.co.uk.,ns-0.awsdns-00.com.`, `${DOMAIN}. SOA ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`,
    ].sort());
    expect(zoneText(REV)).toEqual([`${ptrName(c.privateIp)}. PTR legacy-host.corp.example.com.`, `${ptrName(d.privateIp)}. PTR ${name('web-03')}.`]);

    // alarms: one scan, one delete of the three that watch only dying instances
    expect(cwMock.commandCalls(DescribeAlarmsCommand).map((call) => call.args[0].input)).toEqual([{ AlarmTypes: ['MetricAlarm'], MaxRecords: 100 }]);
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['web-01-cpu-high', 'web-02-memory', 'api-01-status-check'] }]);
    expect(world.alarms.map((al) => al.AlarmName)).toEqual(['web-pool-cpu', 'web-03-cpu-high', 'web-alb-5xx']);

    // hooks: synchronous, with the snapshot and what was cleaned
    expect(lambdaMock.commandCalls(InvokeCommand).map((call) => [call.args[0].input.FunctionName, call.args[0].input.InvocationType]))
      .toEqual([[HOOK_CHEF, 'RequestResponse'], [HOOK_CHEF, 'RequestResponse'], [HOOK_CHEF, 'RequestResponse']]);
    const payloads = hookPayloads(HOOK_CHEF);
    expect(payloads.map((p) => [p.source, p.detailType, p.detail.instanceId, p.detail.state, p.detail.snapshotSource, p.detail.dryRun])).toEqual([
      ['cdk-fleet-janitor', 'Instance Decommissioned', a.id, 'shutting-down', 'table+describe', false],
      ['cdk-fleet-janitor', 'Instance Decommissioned', b.id, 'terminated', 'table+describe', false],
      ['cdk-fleet-janitor', 'Instance Decommissioned', c.id, 'shutting-down', 'table+describe', false],
    ]);
    expect(payloads[0].detail.snapshot).toEqual(snapshotOf(a));
    expect(payloads[0].detail.cleaned).toEqual({
      records: [
        { zoneId: FWD, name: name('web-01'), type: 'A', values: [a.privateIp] },
        { zoneId: FWD, name: name('web'), type: 'A', values: [a.privateIp] },
        { zoneId: REV, name: ptrName(a.privateIp), type: 'PTR', values: [`${name('web-01')}.`] },
      ],
      keptRecords: [],
      alarms: ['web-01-cpu-high'],
    });
    expect(payloads[2].detail.cleaned).toEqual({
      records: [
        { zoneId: FWD, name: name('api-01'), type: 'CNAME', values: [privateDnsOf(c.privateIp)] },
        { zoneId: FWD, name: name('api'), type: 'A', setIdentifier: c.id, values: [c.privateIp] },
      ],
      keptRecords: [{ zoneId: REV, name: ptrName(c.privateIp), type: 'PTR', reason: 'points at legacy-host.corp.example.com, not at this instance' }],
      alarms: ['api-01-status-check'],
    });

    // the bus: one PutEvents with an entry per instance, the same detail as the hooks
    const puts = putEventsCalls();
    expect(puts).toHaveLength(1);
    expect(puts[0].Entries!.map((entry) => [entry.EventBusName, entry.Source, entry.DetailType])).toEqual(Array(3).fill([EVENT_BUS, 'cdk-fleet-janitor', 'Instance Decommissioned']));
    expect(puts[0].Entries!.map((entry) => JSON.parse(entry.Detail!))).toEqual(payloads.map((p) => p.detail));

    // the mark, with what was cleaned
    expect(updateCalls().map((u) => u.Key!.InstanceId.S)).toEqual([a.id, b.id, c.id]);
    for (const h of [a, b, c]) {
      expect(itemOf(h.id)).toMatchObject({ Status: 'DECOMMISSIONED', DecommissionedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      expect(JSON.parse(itemOf(h.id)!.Cleaned)).toEqual(payloads.find((p) => p.detail.instanceId === h.id).detail.cleaned);
    }
    expect(itemOf(d.id)!.Status).toBe('LIVE');

    // one notification listing everything
    const notification = published();
    expect(notification.TopicArn).toBe(TOPIC_ARN);
    expect(notification.Subject).toBe('[fleet-janitor] InstanceDecommissioner: 16 done, 1 reported');
    expect(notification.Message).toContain('Scanned 3 resource(s); 18 matched.');
    expect(rowsOf(notification).sort()).toEqual([
      `- dns-record ${name('web-01')} A  instance=${a.id}  zone=${FWD}  values=${a.privateIp}  action=DELETE  result=DONE  (every value was the instance's)`,
      `- dns-record ${name('web')} A  instance=${a.id} ${b.id}  zone=${FWD}  values=${a.privateIp},${b.privateIp}  action=REMOVE_VALUES  result=DONE  (the other values stay)`,
      `- dns-record ${ptrName(a.privateIp)} PTR  instance=${a.id}  zone=${REV}  values=${name('web-01')}.  action=DELETE  result=DONE  (every value was the instance's)`,
      `- dns-record ${name('web-02')} A  instance=${b.id}  zone=${FWD}  values=${b.privateIp}  action=DELETE  result=DONE  (every value was the instance's)`,
      `- dns-record ${ptrName(b.privateIp)} PTR  instance=${b.id}  zone=${REV}  values=${privateDnsOf(b.privateIp)}.  action=DELETE  result=DONE  (every value was the instance's)`,
      `- dns-record ${name('api-01')} CNAME  instance=${c.id}  zone=${FWD}  values=${privateDnsOf(c.privateIp)}  action=DELETE  result=DONE  (every value was the instance's)`,
      `- dns-record ${name('api')} A [${c.id}]  instance=${c.id}  zone=${FWD}  values=${c.privateIp}  action=DELETE  result=DONE  (every value was the instance's)`,
      `- dns-record ${ptrName(c.privateIp)} PTR  instance=${c.id}  zone=${REV}  values=legacy-host.corp.example.com.  action=NONE  result=REPORTED  (points at legacy-host.corp.example.com, not at this instance)`,
      `- alarm web-pool-cpu  instance=${a.id}  action=NONE  result=KEPT  (also watches ${d.id}: the reconcile sweep deletes it once they are gone too)`,
      `- alarm web-01-cpu-high  instance=${a.id}  action=DELETE  result=DONE  (watched ${a.id})`,
      `- alarm web-02-memory  instance=${b.id}  action=DELETE  result=DONE  (watched ${b.id})`,
      `- alarm api-01-status-check  instance=${c.id}  action=DELETE  result=DONE  (watched ${c.id})`,
      ...[a, b, c].map((h) => `- hook ${HOOK_CHEF}  instance=${h.id}  action=INVOKE  result=DONE  (invoked with the snapshot)`),
      `- instance ${a.id}  snapshot=table+describe  action=DECOMMISSION  result=DONE  (shutting-down: cleaned up and marked decommissioned)`,
      `- instance ${b.id}  snapshot=table+describe  action=DECOMMISSION  result=DONE  (terminated: cleaned up and marked decommissioned)`,
      `- instance ${c.id}  snapshot=table+describe  action=DECOMMISSION  result=DONE  (shutting-down: cleaned up and marked decommissioned)`,
    ].sort());
  });

  test('the alarm index is scanned once and reused by the next invocations of the module for 5 minutes', async () => {
    const t0 = new Date('2025-06-01T12:00:00.000Z');
    fakeDate(t0);
    const [a, b, late, f, g] = [host(1), host(2), host(3), host(4), host(5)];
    given({
      instances: [a, b, late, f, g].map((h) => described(h, 'terminated')),
      items: [a, b, late, f, g].map((h) => storedItem(h)),
      alarms: [instanceAlarm('a-cpu', a.id), instanceAlarm('b-cpu', b.id), instanceAlarm('f-cpu', f.id), instanceAlarm('g-cpu', g.id)],
      zones: {},
    });
    const handler = loadHandler({ ...BARE, DELETE_ALARMS: 'true' });
    await run(handler, message(a.id, 'terminated'));
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 1);
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['a-cpu'] }]);

    // created after the scan: the event path misses it until the index is rebuilt (the reconcile sweep always rescans)
    world.alarms.push(instanceAlarm('late-cpu', late.id));
    jest.setSystemTime(new Date(t0.getTime() + 4 * 60_000));
    expect(await run(handler, message(b.id, 'terminated'), message(late.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 1);
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['a-cpu'] }, { AlarmNames: ['b-cpu'] }]);

    jest.setSystemTime(new Date(t0.getTime() + 5 * 60_000 + 1));
    await run(handler, message(f.id, 'terminated'));
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 2);
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['a-cpu'] }, { AlarmNames: ['b-cpu'] }, { AlarmNames: ['f-cpu'] }]);
    expect(world.alarms.map((al) => al.AlarmName)).toEqual(['g-cpu', 'late-cpu']);

    // a fresh module (a new container) scans again
    jest.setSystemTime(new Date(t0.getTime() + 6 * 60_000));
    await run(loadHandler({ ...BARE, DELETE_ALARMS: 'true' }), message(g.id, 'terminated'));
    expect(cwMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 3);
    // late's alarm stays for the reconcile sweep: late is decommissioned, its events are done
    expect(world.alarms.map((al) => al.AlarmName)).toEqual(['late-cpu']);
  });

  test('the alarm index is read over several pages', async () => {
    const dying = host(7);
    world.pageSize.alarms = 2;
    given({
      instances: [described(dying, 'terminated')],
      items: [storedItem(dying)],
      alarms: [albAlarm('alb-1'), albAlarm('alb-2'), albAlarm('alb-3'), instanceAlarm('dying-cpu', dying.id), albAlarm('alb-4')],
    });
    await run(loadHandler({ ...BARE, DELETE_ALARMS: 'true' }), message(dying.id, 'terminated'));
    expect(describeAlarmCalls().map((call) => call.NextToken)).toEqual([undefined, 'cw-2', 'cw-4']);
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['dying-cpu'] }]);
  });

  test('twelve instances: the bus events go in PutEvents calls of at most 10 entries', async () => {
    const hosts = Array.from({ length: 12 }, (_, n) => host(20 + n));
    given({ instances: hosts.map((h) => described(h, 'terminated')), items: hosts.map((h) => storedItem(h)) });
    const response = await run(loadHandler(BARE), ...hosts.map((h) => message(h.id, 'terminated')));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(putEventsCalls().map((call) => call.Entries!.length)).toEqual([10, 2]);
    expect(putEventsCalls().flatMap((call) => call.Entries!.map((entry) => JSON.parse(entry.Detail!).instanceId))).toEqual(hosts.map((h) => h.id));
    expect(world.events).toHaveLength(12);
    expect(hosts.map((h) => itemOf(h.id)!.Status)).toEqual(Array(12).fill('DECOMMISSIONED'));
  });
});

describe('partial batch response', () => {
  /** Instances that share no record: each has its own name and PTR. */
  function separateFleet(n = 3) {
    const hosts = Array.from({ length: n }, (_, i) => host(40 + i, { name: `node-${i}` }));
    given({
      instances: hosts.map((h) => described(h, 'terminated')),
      items: hosts.map((h) => storedItem(h)),
      zones: {
        [FWD]: [soa(), ...hosts.map((h) => rr(name(h.tags.Name), 'A', [h.privateIp]))],
        [REV]: hosts.map((h) => rr(ptrName(h.privateIp), 'PTR', [`${name(h.tags.Name)}.`])),
      },
    });
    return hosts;
  }

  test('a malformed message fails alone; the others are processed', async () => {
    const [p, q] = separateFleet(2);
    const bad = sqsMessage('{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification"');
    const good = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    const response = await run(loadHandler(), good[0], bad, good[1]);
    expect(failedIds(response)).toEqual([bad.messageId]);
    expect([itemOf(p.id)!.Status, itemOf(q.id)!.Status]).toEqual(['DECOMMISSIONED', 'DECOMMISSIONED']);
    expect(zoneText(FWD)).toHaveLength(1);
    expect(rowsOf(published())).toContain(`- message ${bad.messageId}    action=NONE  result=FAILED  error=EventShapeError  `
      + '(Rejected event: not an EC2 instance state-change event: the message body is not JSON. No resource was changed.)');
  });

  test('a hook that fails: only its instance\'s messages are delivered again; the hooks that ran are recorded and skipped on the retry', async () => {
    const [x, y] = separateFleet(2);
    world.hookError = (hook, payload) => (hook === HOOK_CONSUL && payload.detail.instanceId === x.id ? 'consul agent unreachable: dial tcp 10.0.0.2:8500: i/o timeout' : undefined);
    const handler = loadHandler({ HOOK_FUNCTIONS: JSON.stringify([HOOK_CHEF, HOOK_CONSUL]) });
    const xDying = message(x.id, 'shutting-down');
    const xGone = message(x.id, 'terminated');
    const response = await run(handler, xDying, message(y.id, 'terminated'), xGone);

    expect(failedIds(response)).toEqual([xDying.messageId, xGone.messageId]);
    expect(lambdaMock.commandCalls(InvokeCommand).map((call) => `${call.args[0].input.FunctionName} ${JSON.parse(Buffer.from(call.args[0].input.Payload as Uint8Array).toString()).detail.instanceId}`))
      .toEqual([`${HOOK_CHEF} ${x.id}`, `${HOOK_CONSUL} ${x.id}`, `${HOOK_CHEF} ${y.id}`, `${HOOK_CONSUL} ${y.id}`]);
    expect(itemOf(x.id)).toMatchObject({ Status: 'LIVE', HooksDone: [HOOK_CHEF] });
    expect(itemOf(y.id)!.Status).toBe('DECOMMISSIONED');
    expect(putEventsCalls().flatMap((call) => call.Entries!.map((entry) => JSON.parse(entry.Detail!).instanceId))).toEqual([y.id]);
    const rows = rowsOf(published());
    expect(rows).toContain(`- hook ${HOOK_CONSUL}  instance=${x.id}  action=INVOKE  result=FAILED  error=Error  (Error: consul agent unreachable: dial tcp 10.0.0.2:8500: i/o timeout)`);
    expect(rows).toContain(`- instance ${x.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (hook(s) failed: ${HOOK_CONSUL}; its message will be delivered again)`);

    // SQS delivers x's messages again; Consul is back
    world.hookError = undefined;
    lambdaMock.resetHistory();
    r53Mock.resetHistory();
    snsMock.resetHistory();
    const retry = await run(handler, redelivered(xDying), redelivered(xGone));
    expect(retry).toEqual({ batchItemFailures: [] });
    expect(hookPayloads().map((p) => p.detail.instanceId)).toEqual([x.id]);
    expect(hookPayloads(HOOK_CONSUL)).toHaveLength(1);
    expect(r53Mock).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
    expect(itemOf(x.id)).toMatchObject({ Status: 'DECOMMISSIONED', HooksDone: [HOOK_CHEF] });
    expect(rowsOf(published())).toContain(`- hook ${HOOK_CHEF}  instance=${x.id}  action=INVOKE  result=KEPT  (already called by an earlier delivery)`);
  });

  test('Route 53 refuses the change of one instance\'s record (changed since it was listed): only that instance fails', async () => {
    const [p, q, r] = separateFleet(3);
    // someone edits q's record between the listing and the change: the DELETE no longer matches it
    world.afterList = (input) => {
      if (input.StartRecordName !== name(q.tags.Name)) return;
      const sets = world.zones.get(FWD)!;
      const at = sets.findIndex((rs) => rs.Name === `${name(q.tags.Name)}.`);
      sets[at] = { ...sets[at], TTL: 60 };
    };
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated'), message(r.id, 'terminated')];
    const response = await run(loadHandler(), ...messages);

    expect(failedIds(response)).toEqual([messages[1].messageId]);
    // the zone's batch is refused as a whole, then sent again one instance at a time
    expect(changeCalls().filter((call) => call.HostedZoneId === FWD).map((call) => call.ChangeBatch!.Changes!.length)).toEqual([3, 1, 1, 1]);
    expect(zoneText(FWD).filter((t) => t.includes(' A '))).toEqual([`${name(q.tags.Name)}. A ${q.privateIp}`]);
    expect([p, q, r].map((h) => itemOf(h.id)!.Status)).toEqual(['DECOMMISSIONED', 'LIVE', 'DECOMMISSIONED']);
    expect(hookPayloads().map((payload) => payload.detail.instanceId)).toEqual([p.id, r.id]);
    expect(world.events.map((entry) => JSON.parse(entry.Detail!).instanceId)).toEqual([p.id, r.id]);
    expect(rowsOf(published())).toContain(
      `- dns-record ${name(q.tags.Name)} A  instance=${q.id}  zone=${FWD}  values=${q.privateIp}  action=DELETE  result=FAILED  error=InvalidChangeBatch  (every value was the instance's)`);
  });

  test('EventBridge refuses one entry: only that instance fails, its snapshot is not marked, and its hooks are not called again', async () => {
    const [p, q, r] = separateFleet(3);
    world.refuseEvent = (detail) => (detail.instanceId === q.id ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal Service Failure' } : undefined);
    const handler = loadHandler();
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated'), message(r.id, 'terminated')];
    const response = await run(handler, ...messages);

    expect(failedIds(response)).toEqual([messages[1].messageId]);
    // transient per-entry failures are sent again alone, so p's and r's events are not duplicated
    const sent = putEventsCalls().map((call) => call.Entries!.map((entry) => JSON.parse(entry.Detail!).instanceId));
    expect(sent).toEqual([[p.id, q.id, r.id], [q.id], [q.id]]);
    expect(world.events.map((entry) => JSON.parse(entry.Detail!).instanceId)).toEqual([p.id, r.id]);
    const isMark = (u: { ExpressionAttributeValues?: Record<string, { S?: string }> }) => u.ExpressionAttributeValues?.[':status']?.S === 'DECOMMISSIONED';
    expect(updateCalls().filter(isMark).map((u) => u.Key!.InstanceId.S)).toEqual([p.id, r.id]);
    // q's progress is kept for its retry: the hook it called, and the records it removed
    expect(itemOf(q.id)).toMatchObject({ Status: 'LIVE', HooksDone: [HOOK_CHEF] });
    expect(JSON.parse(itemOf(q.id)!.Cleaned).records.length).toBeGreaterThan(0);
    expect(rowsOf(published())).toContain(`- event ${q.id}    action=PUT_EVENT  result=FAILED  error=InternalFailure  (Internal Service Failure)`);

    world.refuseEvent = undefined;
    lambdaMock.resetHistory();
    ebMock.resetHistory();
    expect(await run(handler, redelivered(messages[1]))).toEqual({ batchItemFailures: [] });
    expect(lambdaMock).not.toHaveReceivedCommand(InvokeCommand);
    expect(putEventsCalls().map((call) => call.Entries!.length)).toEqual([1]);
    expect(itemOf(q.id)!.Status).toBe('DECOMMISSIONED');
  });

  test('a name that cannot be listed fails the instances that need it; the others go on', async () => {
    const [p, q, r] = separateFleet(3);
    inject('ListResourceRecordSetsCommand', () => r53Error('AccessDenied', 'User is not authorized to perform: route53:ListResourceRecordSets'), {
      when: (input) => input.StartRecordName === name(q.tags.Name),
    });
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated'), message(r.id, 'terminated')];
    const response = await run(loadHandler(), ...messages);
    expect(failedIds(response)).toEqual([messages[1].messageId]);
    // q's PTR was listed, but q is left out of the plan: a partial view could remove what a record not seen still needs
    expect(zoneText(REV)).toEqual([`${ptrName(q.privateIp)}. PTR ${name(q.tags.Name)}.`]);
    expect([p, q, r].map((h) => itemOf(h.id)!.Status)).toEqual(['DECOMMISSIONED', 'LIVE', 'DECOMMISSIONED']);
    expect(hookPayloads().map((payload) => payload.detail.instanceId)).toEqual([p.id, r.id]);
    const rows = rowsOf(published());
    expect(rows).toContain(`- dns-lookup ${name(q.tags.Name)}  zone=${FWD}  action=LOOKUP  result=FAILED  error=AccessDenied  `
      + `(User is not authorized to perform: route53:ListResourceRecordSets; instance(s) ${q.id} retried with their messages)`);
    expect(rows).toContain(`- instance ${q.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (DNS lookup failed: AccessDenied; its message will be delivered again)`);
  });

  test('EC2 cannot say who holds the addresses now: no record is changed, every instance is delivered again', async () => {
    const [p, q] = separateFleet(2);
    inject('DescribeInstancesCommand', () => ec2Error('UnauthorizedOperation', 403), { when: (input) => input.Filters?.[0]?.Name !== 'instance-id' });
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    await expect(run(loadHandler(), ...messages)).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    expect(r53Mock).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
    expect(lambdaMock).not.toHaveReceivedCommand(InvokeCommand);
    expect([p, q].map((h) => itemOf(h.id)!.Status)).toEqual(['LIVE', 'LIVE']);
    expect(rowsOf(published())).toContain(`- dns-lookup addresses    action=LOOKUP  result=FAILED  error=UnauthorizedOperation  (UnauthorizedOperation (test); instance(s) ${p.id}, ${q.id} retried with their messages)`);
  });

  test('the mark fails for one instance: only it is delivered again, and its hooks are recorded so the retry skips them', async () => {
    const [p, q] = separateFleet(2);
    // the mark (status DECOMMISSIONED) is refused; the progress record is not
    inject('UpdateItemCommand', () => ddbError('AccessDeniedException'), {
      when: (input) => input.Key.InstanceId.S === q.id && input.ExpressionAttributeValues?.[':status']?.S === 'DECOMMISSIONED',
    });
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    const response = await run(loadHandler(), ...messages);
    expect(failedIds(response)).toEqual([messages[1].messageId]);
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
    expect(itemOf(q.id)).toMatchObject({ Status: 'LIVE', HooksDone: [HOOK_CHEF] });
    expect(rowsOf(published())).toContain(`- instance ${q.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  error=AccessDeniedException  `
      + '(cleaned up, but the snapshot could not be marked (AccessDeniedException (test)); its message will be delivered again)');
  });

  test('the table refuses the hooks record as well: the failed instance is still reported, and its message delivered again', async () => {
    const [p, q] = separateFleet(2);
    world.hookError = (hook, payload) => (payload.detail.instanceId === q.id && hook === HOOK_CONSUL ? 'boom' : undefined);
    inject('UpdateItemCommand', () => ddbError('AccessDeniedException'), { when: (input) => input.Key.InstanceId.S === q.id });
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    const response = await run(loadHandler({ HOOK_FUNCTIONS: JSON.stringify([HOOK_CHEF, HOOK_CONSUL]) }), ...messages);
    expect(failedIds(response)).toEqual([messages[1].messageId]);
    expect(itemOf(q.id)).toMatchObject({ Status: 'LIVE' });
    expect(itemOf(q.id)!.HooksDone).toBeUndefined();
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
  });

  test('the table cannot be read: every message fails, and Powertools fails the whole invocation (FullBatchFailureError)', async () => {
    const [p, q] = separateFleet(2);
    inject('BatchGetItemCommand', () => ddbError('AccessDeniedException'));
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    const invocation = run(loadHandler(), ...messages);
    // Lambda logs the invocation's error with each message's own: the ids say which were not done.
    await expect(invocation).rejects.toMatchObject({
      name: 'FullBatchFailureError',
      recordErrors: messages.map((m) => expect.objectContaining({ message: `message ${m.messageId}: not processed completely, to be delivered again` })),
    });
    expectNoStateChanges();
    expect(r53Mock.calls()).toHaveLength(0);
    expect(logLines('error')).toContainEqual(expect.objectContaining({
      message: 'batch failed before it finished; every message will be delivered again', error: 'AccessDeniedException (test)', messages: 2,
    }));
  });

  test('the table cannot be read, and one message is malformed: every message fails as well', async () => {
    const [p] = separateFleet(1);
    inject('BatchGetItemCommand', () => ddbError('AccessDeniedException'));
    await expect(run(loadHandler(), message(p.id, 'terminated'), sqsMessage('null'))).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    expectNoStateChanges();
  });
});

describe('idempotence', () => {
  test('an instance already decommissioned: no change, no hook, no event, no notification', async () => {
    const { a } = dyingFleet();
    world.table.set(a.id, storedItem(a, { status: 'DECOMMISSIONED' }));
    const response = await run(loadHandler(), message(a.id, 'terminated'), message(a.id, 'shutting-down'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(r53Mock.calls()).toHaveLength(0);
    expect(cwMock.calls()).toHaveLength(0);
    expectNoStateChanges();
    expect(logLines('info')).toContainEqual(expect.objectContaining({
      resourceId: a.id, outcome: 'KEPT', reason: 'already decommissioned at 2025-05-30T10:00:00.000Z',
    }));
  });

  test('terminated before shutting-down in one batch: one decommission', async () => {
    const [p] = [host(50, { name: 'solo' })];
    given({ instances: [described(p, 'terminated')], items: [storedItem(p)], zones: { [FWD]: [rr(name('solo'), 'A', [p.privateIp])], [REV]: [] } });
    const response = await run(loadHandler(), message(p.id, 'terminated'), message(p.id, 'shutting-down'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(changeCalls()).toHaveLength(1);
    expect(hookPayloads().map((payload) => payload.detail.state)).toEqual(['terminated']);
    expect(putEventsCalls().map((call) => call.Entries!.length)).toEqual([1]);
    expect(updateCalls()).toHaveLength(1);
  });

  test('the same event twice in one batch: one change per record', async () => {
    const { a, b } = dyingFleet();
    const event = stateChange(a.id, 'terminated');
    const response = await run(loadHandler(), sqsMessage(event), sqsMessage(event), message(b.id, 'terminated'));
    expect(response).toEqual({ batchItemFailures: [] });
    const changed = changeCalls().flatMap((call) => call.ChangeBatch!.Changes!.map(changeText));
    expect(changed).toHaveLength(new Set(changed).size);
    expect(changed.filter((c) => c.startsWith(`DELETE ${name('web-01')}.`))).toHaveLength(1);
    expect(hookPayloads().map((p) => p.detail.instanceId)).toEqual([a.id, b.id]);
    expect(updateCalls()).toHaveLength(2);
  });
});

describe('what is not cleaned', () => {
  test('not selected by instanceSelector, or protected: nothing changed; the protected one is reported', async () => {
    const chosen = host(60, { name: 'pay-01', tags: { Team: 'payments', [PROTECT]: 'true' } });
    const other = host(61, { name: 'web-61', tags: { Team: 'web' } });
    given({
      instances: [described(chosen, 'terminated'), described(other, 'terminated')],
      items: [storedItem(chosen), storedItem(other)],
      zones: { [FWD]: [rr(name('pay-01'), 'A', [chosen.privateIp]), rr(name('web-61'), 'A', [other.privateIp])], [REV]: [] },
      alarms: [instanceAlarm('pay-01-cpu', chosen.id), instanceAlarm('web-61-cpu', other.id)],
    });
    const response = await run(loadHandler({ INSTANCE_SELECTOR: '{"Team":"payments"}' }), message(chosen.id, 'terminated'), message(other.id, 'terminated'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(r53Mock.calls()).toHaveLength(0);
    expect(cwMock.calls()).toHaveLength(0);
    expectNoStateChanges(['PublishCommand']);
    const notification = published();
    expect(notification.Subject).toBe('[fleet-janitor] InstanceDecommissioner: 0 done, 1 skipped');
    expect(rowsOf(notification).sort()).toEqual([
      `- instance ${chosen.id}    action=NONE  result=SKIPPED_PROTECTED  (carries the protection tag "${PROTECT}")`,
      `- instance ${other.id}    action=NONE  result=KEPT  (does not carry the instanceSelector tags)`,
    ]);
    expect(zoneText(FWD)).toHaveLength(2);
  });

  test('an unknown instance (no snapshot, EC2 knows nothing): reported, and its message succeeds', async () => {
    const ghost = idOf(0xbeef);
    const response = await run(loadHandler(), message(ghost, 'terminated'));
    expect(response).toEqual({ batchItemFailures: [] });
    expectNoStateChanges(['PublishCommand']);
    expect(r53Mock.calls()).toHaveLength(0);
    const notification = published();
    expect(notification.Subject).toBe('[fleet-janitor] InstanceDecommissioner: 0 done, 1 reported');
    expect(rowsOf(notification)).toEqual([
      `- instance ${ghost}    action=NONE  result=REPORTED  (no snapshot in the table and EC2 no longer describes the instance: nothing is known to clean up)`,
    ]);
  });

  test('no snapshot, but EC2 still describes the instance: cleanup from DescribeInstances', async () => {
    const late = host(70, { name: 'batch-7', service: 'batch', publicIp: '54.154.10.70' });
    given({
      instances: [described(late, 'shutting-down')],
      zones: {
        [FWD]: [rr(name('batch-7'), 'A', [late.privateIp]), rr(name('batch'), 'A', [late.privateIp, '10.0.9.9'])],
        [REV]: [rr(ptrName(late.privateIp), 'PTR', [`${privateDnsOf(late.privateIp)}.`])],
      },
    });
    const response = await run(loadHandler(), message(late.id, 'shutting-down'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(zoneText(FWD)).toEqual([`${name('batch')}. A 10.0.9.9`]);
    expect(zoneText(REV)).toEqual([]);
    const [payload] = hookPayloads();
    expect(payload.detail).toMatchObject({ instanceId: late.id, snapshotSource: 'describe', state: 'shutting-down' });
    expect(payload.detail.snapshot).toEqual(snapshotOf(late));
    expect(itemOf(late.id)).toMatchObject({ Status: 'DECOMMISSIONED' });
    expect(JSON.parse(itemOf(late.id)!.Snapshot)).toEqual(snapshotOf(late));
    expect(rowsOf(published())).toContain(`- instance ${late.id}  snapshot=describe  action=DECOMMISSION  result=DONE  (shutting-down: cleaned up and marked decommissioned)`);
  });

  test('IPv6: an AAAA record written in another form of the instance\'s address is deleted; EC2 is asked by the IPv6 filter', async () => {
    const v6 = host(85, { name: 'v6-85', ipv6: '2a05:d018:abc:1200::85' });
    given({
      instances: [described(v6, 'terminated')],
      items: [storedItem(v6)],
      zones: { [FWD]: [rr(name('v6-85'), 'AAAA', ['2A05:D018:0ABC:1200:0000:0000:0000:0085']), rr(name('v6-85'), 'A', [v6.privateIp])], [REV]: [] },
    });
    expect(await run(loadHandler(), message(v6.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    expect(describeCalls().map((call) => call.Filters![0])).toContainEqual({ Name: 'network-interface.ipv6-addresses.ipv6-address', Values: ['2a05:d018:abc:1200::85'] });
    expect(changeCalls()).toHaveLength(1);
    expect(zoneText(FWD)).toEqual([]);
  });

  test('IP reuse: a running instance holds the address now (as a secondary address): records kept and reported, no change', async () => {
    const old = host(80, { name: 'web-80', privateIp: '10.0.7.15' });
    const now = host(81, { name: 'worker-81', privateIp: '10.0.7.99', secondaryIps: ['10.0.7.15'] });
    given({
      instances: [described(old, 'terminated'), described(now)],
      items: [storedItem(old), storedItem(now)],
      zones: { [FWD]: [rr(name('web-80'), 'A', ['10.0.7.15'])], [REV]: [rr(ptrName('10.0.7.15'), 'PTR', [`${name('web-80')}.`])] },
    });
    const response = await run(loadHandler(), message(old.id, 'terminated'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(describeCalls()[1]).toEqual({
      Filters: [{ Name: 'network-interface.addresses.private-ip-address', Values: ['10.0.7.15'] }, { Name: 'instance-state-name', Values: LIVE_STATES }],
      MaxResults: 1000,
    });
    expect(r53Mock).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
    expect(zoneText(FWD)).toEqual([`${name('web-80')}. A 10.0.7.15`]);
    expect(rowsOf(published()).filter((row) => row.startsWith('- dns-record')).sort()).toEqual([
      `- dns-record ${name('web-80')} A  instance=${old.id}  zone=${FWD}  values=10.0.7.15  action=NONE  result=REPORTED  (reused by ${now.id})`,
      `- dns-record ${ptrName('10.0.7.15')} PTR  instance=${old.id}  zone=${REV}  values=${name('web-80')}.  action=NONE  result=REPORTED  (reused by ${now.id})`,
    ].sort());
    expect(hookPayloads()[0].detail.cleaned.keptRecords).toEqual([
      { zoneId: FWD, name: name('web-80'), type: 'A', reason: `reused by ${now.id}` },
      { zoneId: REV, name: ptrName('10.0.7.15'), type: 'PTR', reason: `reused by ${now.id}` },
    ]);
    expect(itemOf(old.id)!.Status).toBe('DECOMMISSIONED');
  });
});

describe('dry run', () => {
  test('DRY_RUN=true: nothing changed; the notification says so and lists what would be done', async () => {
    const { a, b, c } = dyingFleet();
    const zonesBefore = [zoneText(FWD), zoneText(REV)];
    const response = await run(loadHandler({ DRY_RUN: 'true' }), message(a.id, 'terminated'), message(b.id, 'terminated'), message(c.id, 'terminated'));
    expect(response).toEqual({ batchItemFailures: [] });
    expectNoStateChanges(['PublishCommand']);
    expect([zoneText(FWD), zoneText(REV)]).toEqual(zonesBefore);
    expect(world.alarms).toHaveLength(6);
    expect([a, b, c].map((h) => itemOf(h.id)!.Status)).toEqual(['LIVE', 'LIVE', 'LIVE']);
    const notification = published();
    expect(notification.Subject).toBe('[fleet-janitor] InstanceDecommissioner (dry run): 16 would act, 1 reported');
    expect(notification.Message).toContain('DRY RUN: nothing was changed; "DRY_RUN" marks what a real run would have done.');
    const rows = rowsOf(notification);
    expect(rows.filter((row) => row.includes('result=DRY_RUN')).map((row) => row.split('  ')[0]).sort()).toEqual([
      `- dns-record ${name('web-01')} A`, `- dns-record ${name('web')} A`, `- dns-record ${ptrName(a.privateIp)} PTR`, `- dns-record ${name('web-02')} A`,
      `- dns-record ${ptrName(b.privateIp)} PTR`, `- dns-record ${name('api-01')} CNAME`, `- dns-record ${name('api')} A [${c.id}]`,
      '- alarm web-01-cpu-high', '- alarm web-02-memory', '- alarm api-01-status-check',
      ...[a, b, c].map(() => `- hook ${HOOK_CHEF}`), ...[a, b, c].map((h) => `- instance ${h.id}`),
    ].sort());
    expect(rows).toContain(`- instance ${a.id}  snapshot=table+describe  action=DECOMMISSION  result=DRY_RUN  (terminated: would be marked decommissioned)`);
    expect(rows).toContain(`- hook ${HOOK_CHEF}  instance=${b.id}  action=INVOKE  result=DRY_RUN  (would be invoked with the snapshot)`);
  });
});

describe('reconcile sweep', () => {
  /**
   * A table of 31 snapshots (13 decommissioned) read over 3 Scan pages, a forward zone listed over
   * several pages, a reverse zone, and alarms of gone, running and protected instances.
   */
  function sweepWorld() {
    world.pageSize.scan = 11;
    world.pageSize.route53 = 7;
    world.pageSize.alarms = 3;
    const dead = Array.from({ length: 12 }, (_, i) => host(100 + i, { name: `old-${i}`, service: i === 1 ? 'cache' : undefined }));
    const live = Array.from({ length: 18 }, (_, i) => host(130 + i, { name: `live-${i}`, service: i === 0 ? 'cache' : undefined }));
    const reuser = host(160, { name: 'reuser', secondaryIps: [dead[2].privateIp] });
    const watchedRunning = host(161, { name: 'watched' });
    const gone = host(162, { name: 'gone' });
    const guarded = host(163, { name: 'guarded', tags: { [PROTECT]: '' } });
    given({
      instances: [...live.map((h) => described(h)), described(reuser), described(watchedRunning), described(gone, 'terminated')],
      items: [
        ...dead.map((h) => storedItem(h, { status: 'DECOMMISSIONED' })), ...live.map((h) => storedItem(h)),
        storedItem(guarded, { status: 'DECOMMISSIONED' }),
      ],
      zones: {
        [FWD]: [
          soa(), ns(),
          rr(name('old-0'), 'A', [dead[0].privateIp]),
          rr(name('cache'), 'A', [dead[1].privateIp, live[0].privateIp]),
          rr(name('old-2'), 'A', [dead[2].privateIp]),
          rr(name('old-3'), 'A', ['10.0.8.8']),
          rr(name('lb'), 'A', ['10.0.9.9']),
          rr(name('old-4-alias'), 'CNAME', [name('lb')]),
          rr(name('svc'), 'A', [dead[5].privateIp], { SetIdentifier: dead[5].id, Weight: 50 }),
          rr(name('svc'), 'A', [live[5].privateIp], { SetIdentifier: live[5].id, Weight: 50 }),
          ...live.map((h) => rr(name(h.tags.Name), 'A', [h.privateIp])),
          rr(name('_acme-challenge'), 'TXT', ['"xyz"']),
          rr(name('mail'), 'MX', ['10 mx.example.com.']),
        ],
        [REV]: [
          rr(ptrName(dead[0].privateIp), 'PTR', [`${name('old-0')}.`]),
          rr(ptrName(live[3].privateIp), 'PTR', [`${name('live-3')}.`]),
          rr(ptrName('10.0.9.9'), 'PTR', [`${name('lb')}.`]),
        ],
      },
      alarms: [
        albAlarm('alb-5xx'),
        instanceAlarm('old-6-cpu', dead[6].id),
        instanceAlarm('gone-status', gone.id, 'status'),
        instanceAlarm('watched-cpu', watchedRunning.id),
        instanceAlarm('guarded-cpu', guarded.id),
        mathAlarm('pool-cpu', [dead[6].id, watchedRunning.id]),
        instanceAlarm('custom-app-depth', 'web-frontend-1', 'custom'),
        instanceAlarm('old-7-memory', dead[7].id, 'agent'),
      ],
    });
    return { dead, live, reuser, watchedRunning, gone, guarded };
  }

  test('removes only the values of decommissioned snapshots that no live instance holds; alarms of gone instances; one notification', async () => {
    const { dead, live, reuser, watchedRunning, gone, guarded } = sweepWorld();
    const result = await sweep(loadHandler());

    // the table: three Scan pages of live snapshots (are their instances still there?), then three of decommissioned ones
    const scans = scanCalls();
    expect(scans.map((s) => s.ExpressionAttributeValues![':status'].S)).toEqual(['LIVE', 'LIVE', 'LIVE', 'DECOMMISSIONED', 'DECOMMISSIONED', 'DECOMMISSIONED']);
    const pages = [undefined, expect.any(String), expect.any(String)];
    expect(scans.map((s) => s.ExclusiveStartKey?.InstanceId.S)).toEqual([...pages, ...pages]);
    expect(scans[3]).toMatchObject({ TableName: 'fleet-janitor-instance-snapshots', FilterExpression: '#status = :status' });
    // each whole zone, page by page
    const fwdListings = listCalls().filter((call) => call.HostedZoneId === FWD);
    expect(fwdListings.length).toBeGreaterThanOrEqual(3);
    expect(fwdListings[0].StartRecordName).toBeUndefined();
    expect(fwdListings.slice(1).every((call) => call.StartRecordName !== undefined)).toBe(true);
    expect(listCalls().filter((call) => call.HostedZoneId === REV)).toHaveLength(1);

    // DNS, in the zone's order: dead[1]'s value of cache, old-0 and its PTR, dead[5]'s weighted set; old-2 is held by reuser now
    expect(changeCalls().map((call) => call.HostedZoneId)).toEqual([FWD, REV]);
    expect(changeCalls().flatMap((call) => call.ChangeBatch!.Changes!.map(changeText))).toEqual([
      `DELETE ${name('cache')}. A ${dead[1].privateIp},${live[0].privateIp}`,
      `CREATE ${name('cache')}. A ${live[0].privateIp}`,
      `DELETE ${name('old-0')}. A ${dead[0].privateIp}`,
      `DELETE ${name('svc')}. A [${dead[5].id}] ${dead[5].privateIp}`,
      `DELETE ${ptrName(dead[0].privateIp)}. PTR ${name('old-0')}.`,
    ]);
    const fwd = zoneText(FWD);
    expect(fwd).toContain(`${name('old-2')}. A ${dead[2].privateIp}`);
    expect(fwd).toContain(`${name('old-3')}. A 10.0.8.8`);
    expect(fwd).toContain(`${name('lb')}. A 10.0.9.9`);
    expect(fwd).toContain(`${name('old-4-alias')}. CNAME ${name('lb')}`);
    for (const h of live) expect(fwd).toContain(`${name(h.tags.Name)}. A ${h.privateIp}`);
    expect(zoneText(REV)).toEqual([`${ptrName('10.0.9.9')}. PTR ${name('lb')}.`, `${ptrName(live[3].privateIp)}. PTR ${name('live-3')}.`].sort());

    // alarms: one scan, the watched instances described, only the gone and unprotected ones deleted
    expect(describeAlarmCalls().map((call) => call.NextToken)).toEqual([undefined, 'cw-3', 'cw-6']);
    const instanceDescribes = describeCalls().filter((call) => call.Filters![0].Name === 'instance-id');
    // first the instances of the live snapshots (all running: none is decommissioned by the sweep), then the watched ones
    expect(instanceDescribes[0].Filters![0].Values).toEqual(live.map((h) => h.id));
    const alarmDescribe = instanceDescribes[1];
    expect(alarmDescribe.Filters![0].Values).toEqual([dead[6].id, gone.id, watchedRunning.id, guarded.id, dead[7].id]);
    // an InstanceId dimension that names no instance (a custom namespace's "web-frontend-1") is not asked about, nor its alarm deleted
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['old-6-cpu', 'gone-status', 'old-7-memory'] }]);
    expect(world.alarms.map((al) => al.AlarmName).sort()).toEqual(['alb-5xx', 'custom-app-depth', 'guarded-cpu', 'pool-cpu', 'watched-cpu']);

    expect(result).toMatchObject({ construct: 'InstanceDecommissioner', status: 'SUCCEEDED', dryRun: false, entriesOmitted: 0 });
    const byId = (id: string) => result.entries.filter((entry) => entry.id === id);
    expect(byId(`${name('old-2')} A`)).toEqual([expect.objectContaining({ outcome: 'REPORTED', reason: `reused by ${reuser.id}` })]);
    expect(byId('guarded-cpu')).toEqual([expect.objectContaining({ outcome: 'SKIPPED_PROTECTED' })]);
    expect(result.counts).toMatchObject({ actionsTaken: 7, actionsFailed: 0, skippedProtected: 1, reported: 1 });
    const notification = published();
    expect(notification.Subject).toBe('[fleet-janitor] InstanceDecommissioner: 7 done, 1 reported, 1 skipped');
    expect(rowsOf(notification)).toHaveLength(result.entries.length);
  });

  test('MAX_ACTIONS_PER_RUN caps the changes: the rest are reported SKIPPED_CAP for the next run', async () => {
    sweepWorld();
    const result = await sweep(loadHandler({ MAX_ACTIONS_PER_RUN: '2' }));
    expect(changeCalls().flatMap((call) => call.ChangeBatch!.Changes!.map(changeText))).toEqual([
      `DELETE ${name('cache')}. A ${host(101).privateIp},${host(130).privateIp}`, `CREATE ${name('cache')}. A ${host(130).privateIp}`, `DELETE ${name('old-0')}. A ${host(100).privateIp}`,
    ]);
    expect(cwMock).not.toHaveReceivedCommand(DeleteAlarmsCommand);
    const capped = result.entries.filter((entry) => entry.outcome === 'SKIPPED_CAP');
    expect(capped.map((entry) => entry.id)).toEqual([`${name('svc')} A [${idOf(105)}]`, `${ptrName(host(100).privateIp)} PTR`, 'old-6-cpu', 'gone-status', 'old-7-memory']);
    expect(result.counts).toMatchObject({ actionsTaken: 2, skippedCap: 5 });
    expect(published().Subject).toBe('[fleet-janitor] InstanceDecommissioner: 2 done, 1 reported, 6 skipped');
  });

  test('a dry run (DRY_RUN, or {"dryRun": true} on a manual invoke) changes nothing and reports DRY_RUN rows', async () => {
    for (const [env, event] of [[{ DRY_RUN: 'true' }, SWEEP], [{}, { dryRun: true }]] as const) {
      for (const mock of [r53Mock, cwMock, snsMock, ddbMock, ec2Mock]) mock.resetHistory();
      world.zones.clear();
      world.alarms.length = 0;
      world.table.clear();
      world.instances.length = 0;
      sweepWorld();
      const result = await sweep(loadHandler(env), event);
      expectNoStateChanges(['PublishCommand']);
      expect(result.dryRun).toBe(true);
      expect(result.entries.filter((entry) => entry.outcome === 'DRY_RUN').map((entry) => entry.id)).toEqual([
        `${name('cache')} A`, `${name('old-0')} A`, `${name('svc')} A [${idOf(105)}]`, `${ptrName(host(100).privateIp)} PTR`, 'old-6-cpu', 'gone-status', 'old-7-memory',
      ]);
      expect(published().Subject).toBe('[fleet-janitor] InstanceDecommissioner (dry run): 7 would act, 1 reported, 1 skipped');
    }
  });

  test('more than 200 entries: the result carries the first 200 and says how many were left out; the notification lists all', async () => {
    const dead = Array.from({ length: 205 }, (_, i) => host(1000 + i, { name: `gone-${i}` }));
    given({
      items: dead.map((h) => storedItem(h, { status: 'DECOMMISSIONED' })),
      zones: { [FWD]: dead.map((h) => rr(name(h.tags.Name), 'A', [h.privateIp])), [REV]: [] },
    });
    const result = await sweep(loadHandler({ MAX_ACTIONS_PER_RUN: '1', DELETE_ALARMS: 'false' }));
    expect(result.entries).toHaveLength(200);
    expect(result.entriesOmitted).toBe(5);
    expect(result.counts).toMatchObject({ matched: 205, actionsTaken: 1, skippedCap: 204 });
    expect(rowsOf(published())).toHaveLength(205);
    // the addresses are checked 200 to a DescribeInstances filter
    expect(describeCalls().map((call) => call.Filters![0].Values!.length)).toEqual([200, 200, 5, 5]);
  });

  test('an instance gone without an event (its snapshot still LIVE) is decommissioned by the sweep; a protected one only gets its expiry', async () => {
    const orphan = host(170, { name: 'orphan' });
    const guardedOrphan = host(171, { name: 'kept', tags: { [PROTECT]: '' } });
    const running = host(172, { name: 'running' });
    given({
      // EC2 no longer knows the orphan; the protected one is terminated; the third runs.
      instances: [described(guardedOrphan, 'terminated'), described(running)],
      items: [storedItem(orphan), storedItem(guardedOrphan), storedItem(running)],
      zones: {
        [FWD]: [soa(), ns(), rr(name('orphan'), 'A', [orphan.privateIp]), rr(name('kept'), 'A', [guardedOrphan.privateIp]), rr(name('running'), 'A', [running.privateIp])],
        [REV]: [],
      },
    });
    const runningBefore = itemOf(running.id);
    // a live snapshot as the handler writes it now: no expiry
    delete world.table.get(guardedOrphan.id)!.ExpiresAt;
    const result = await sweep(loadHandler({ DELETE_ALARMS: 'false' }));

    expect(result.status).toBe('SUCCEEDED');
    expect(zoneText(FWD)).toEqual(expect.arrayContaining([`${name('kept')}. A ${guardedOrphan.privateIp}`, `${name('running')}. A ${running.privateIp}`]));
    expect(zoneText(FWD).join('\n')).not.toContain(name('orphan'));
    expect(itemOf(orphan.id)).toMatchObject({ Status: 'DECOMMISSIONED', DecommissionedAt: expect.any(String), ExpiresAt: expect.any(Number) });
    expect(itemOf(guardedOrphan.id)).toMatchObject({ Status: 'LIVE', ExpiresAt: expect.any(Number) });
    expect(itemOf(running.id)).toEqual(runningBefore);
    expect(putEventsCalls().flatMap((c) => c.Entries!.map((e) => JSON.parse(e.Detail!).instanceId))).toEqual([orphan.id]);
    const rows = rowsOf(published());
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^- instance ${orphan.id} .*action=DECOMMISSION  result=DONE`)));
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^- instance ${guardedOrphan.id} .*result=SKIPPED_PROTECTED  \\(gone without an event; carries the protection tag`)));
  });

  test('gone without an event, over the cap: reported SKIPPED_CAP and left LIVE for the next run', async () => {
    const orphans = [host(180, { name: 'o-0' }), host(181, { name: 'o-1' })];
    given({ instances: [], items: orphans.map((h) => storedItem(h)), zones: { [FWD]: orphans.map((h) => rr(name(h.tags.Name), 'A', [h.privateIp])), [REV]: [] } });
    await sweep(loadHandler({ DELETE_ALARMS: 'false', MAX_ACTIONS_PER_RUN: '1' }));
    expect(orphans.map((h) => itemOf(h.id)!.Status)).toEqual(['DECOMMISSIONED', 'LIVE']);
    expect(rowsOf(published())).toContainEqual(expect.stringMatching(new RegExp(`^- instance ${orphans[1].id} .*action=DECOMMISSION  result=SKIPPED_CAP`)));
  });

  test('no zones and no alarms configured: still one notification (the sweep ran)', async () => {
    const result = await sweep(loadHandler({ HOSTED_ZONES: '', RECORD_NAME_TEMPLATES: '', DELETE_ALARMS: 'false' }));
    expect(result).toMatchObject({ status: 'SUCCEEDED', entries: [], entriesOmitted: 0 });
    // the live snapshots are still read: an instance gone without an event is decommissioned by the sweep
    expect(sentCommands()).toEqual(['ScanCommand', 'PublishCommand']);
  });
});

describe('bad configuration', () => {
  test.each([
    ['HOSTED_ZONES', 'not json', 'expected JSON'],
    ['HOSTED_ZONES', '{"id":"Z0123","name":"example.com"}', 'expected a JSON array'],
    ['HOSTED_ZONES', '[{"id":"z-lower-case","name":"example.com"}]', 'expected a JSON array'],
    ['HOSTED_ZONES', '[{"id":"Z0123","name":"not a name"}]', 'is not a DNS name'],
    ['TOPIC_ARN', undefined, 'a non-empty value is required'],
    ['TABLE_NAME', '', 'a non-empty value is required'],
    ['RECORD_NAME_TEMPLATES', '["{tag:Name"]', '"{" without "}"'],
    ['DELETE_ALARMS', 'yes', 'expected "true" or "false"'],
    ['MAX_ACTIONS_PER_RUN', '-1', 'expected an integer from 0 to 100000'],
    ['SNAPSHOT_RETENTION_SECONDS', '60', 'expected an integer from 3600'],
    ['INSTANCE_SELECTOR', '["Team"]', 'expected a JSON object'],
  ])('%s=%p: every invocation rejects with ConfigError naming it, before any AWS call', async (variable, value, reason) => {
    const handler = loadHandler({ [variable]: value });
    const p = host(90, { name: 'p' });
    given({ instances: [described(p, 'terminated')], items: [storedItem(p)], zones: { [FWD]: [rr(name('p'), 'A', [p.privateIp])], [REV]: [] } });
    for (const event of [batch(message(p.id, 'terminated')), SWEEP]) {
      const invocation = handler(event);
      await expect(invocation).rejects.toMatchObject({ name: 'ConfigError', variable });
      await expect(invocation).rejects.toThrow(`environment variable ${variable}=`);
      await expect(invocation).rejects.toThrow(reason);
    }
    expectNoCallsAtAll();
  });
});

describe('throttling and pacing', () => {
  function one() {
    const p = host(95, { name: 'paced' });
    given({
      instances: [described(p, 'terminated')],
      items: [storedItem(p)],
      zones: { [FWD]: [rr(name('paced'), 'A', [p.privateIp])], [REV]: [rr(ptrName(p.privateIp), 'PTR', [`${name('paced')}.`])] },
    });
    return p;
  }

  test('Route 53 Throttling and PriorRequestNotComplete are retried, and the cleanup completes', async () => {
    const p = one();
    inject('ListResourceRecordSetsCommand', () => r53Error('Throttling', 'Rate exceeded'), { times: 2 });
    inject('ChangeResourceRecordSetsCommand', () => new PriorRequestNotComplete({ $metadata: { httpStatusCode: 400 }, message: 'The request was rejected because Route 53 was still processing a prior request.' }), { times: 1 });
    const response = await run(loadHandler(), message(p.id, 'terminated'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(listCalls().map((call) => call.StartRecordName)).toEqual([name('paced'), name('paced'), name('paced'), ptrName(p.privateIp)]);
    expect(changeCalls().map((call) => call.HostedZoneId)).toEqual([FWD, FWD, REV]);
    expect(zoneText(FWD)).toEqual([]);
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
  });

  test('throttled through every retry: the instance fails with the error code, its message is delivered again', async () => {
    const p = one();
    const starting = host(96);
    given({ instances: [described(starting)] });
    inject('ChangeResourceRecordSetsCommand', () => r53Error('Throttling', 'Rate exceeded'));
    const m = message(p.id, 'terminated');
    const response = await run(loadHandler(), m, message(starting.id, 'running'));
    expect(failedIds(response)).toEqual([m.messageId]);
    // four attempts for each zone's batch
    expect(changeCalls().map((call) => call.HostedZoneId)).toEqual([FWD, FWD, FWD, FWD, REV, REV, REV, REV]);
    expect(itemOf(p.id)!.Status).toBe('LIVE');
    expect(rowsOf(published())).toContain(
      `- dns-record ${name('paced')} A  instance=${p.id}  zone=${FWD}  values=${p.privateIp}  action=DELETE  result=FAILED  error=Throttling  (every value was the instance's)`);
  });

  test('every Route 53 call waits its turn: 200 ms apart', async () => {
    // the clock stands still (the pacer reads Date.now), so each wait is the whole interval
    fakeDate(new Date('2025-06-01T12:00:00.000Z'));
    const p = one();
    await run(loadHandler(), message(p.id, 'terminated'));
    expect(r53Mock.calls()).toHaveLength(4);
    expect(sleeps).toEqual([200, 200, 200]);
  });

  test('every Route 53 call waits its turn, in real time', async () => {
    const p = one();
    timing.real = true;
    await run(loadHandler({ DELETE_ALARMS: 'false', HOOK_FUNCTIONS: '' }), message(p.id, 'terminated'));
    expect(route53Times).toHaveLength(4);
    // measured where the fake receives the calls, a little after the pacer let them go: some slack
    for (let i = 1; i < route53Times.length; i++) expect(route53Times[i] - route53Times[i - 1]).toBeGreaterThanOrEqual(180);
    expect(route53Times[3] - route53Times[0]).toBeGreaterThanOrEqual(590);
  });

  test('a DynamoDB read throttled once is retried', async () => {
    const p = one();
    inject('BatchGetItemCommand', () => ddbError('ThrottlingException'), { times: 1 });
    expect(await run(loadHandler(), message(p.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 2);
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
  });
});

describe('logs and metrics', () => {
  test('one JSON log line per decision, failures as warnings, and one EMF record per notified batch', async () => {
    const p = host(97, { name: 'logged' });
    given({ instances: [described(p, 'terminated')], items: [storedItem(p)], zones: { [FWD]: [rr(name('logged'), 'A', [p.privateIp])], [REV]: [] }, alarms: [instanceAlarm('logged-cpu', p.id)] });
    const bad = sqsMessage({ ...stateChange(p.id, 'stopped') });
    const response = await run(loadHandler({ AWS_LAMBDA_FUNCTION_NAME: 'app-InstanceDecommissionerHandler' }), message(p.id, 'terminated'), bad);
    expect(failedIds(response)).toEqual([bad.messageId]);

    const decisions = logLines('info').filter((l) => l.message === 'decision');
    expect(decisions.map((l) => [l.resourceType, l.resourceId, l.action, l.outcome])).toEqual([
      ['dns-record', `${name('logged')} A`, 'DELETE', 'DONE'],
      ['alarm', 'logged-cpu', 'DELETE', 'DONE'],
      ['hook', HOOK_CHEF, 'INVOKE', 'DONE'],
      ['instance', p.id, 'DECOMMISSION', 'DONE'],
    ]);
    expect(decisions[0]).toMatchObject({ level: 'INFO', service: 'InstanceDecommissioner', instance: p.id, zone: FWD, values: p.privateIp });
    expect(logLines('warn').filter((l) => l.message === 'action failed')).toEqual([expect.objectContaining({
      resourceType: 'message',
      resourceId: bad.messageId,
      outcome: 'FAILED',
      errorCode: 'EventShapeError',
      reason: 'Rejected event: not an EC2 instance state-change event: "detail.state" must be one of running, shutting-down, terminated, got "stopped". No resource was changed.',
    })]);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'run finished', status: 'PARTIAL_FAILURE' }));

    const emf = emfRecords();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      ResourcesScanned: 1,
      ActionsTaken: 4,
      ActionsFailed: 1,
      SkippedProtected: 0,
      SkippedCap: 0,
      FunctionName: 'app-InstanceDecommissionerHandler',
      _aws: { CloudWatchMetrics: [{ Namespace: 'CdkFleetJanitorTest' }] },
    });
  });

  test('every client says who is calling in its user agent (CloudTrail\'s userAgent); logs carry the configured service name', async () => {
    const p = host(96, { name: 'agent' });
    given({ instances: [described(p, 'terminated')], items: [storedItem(p)], zones: { [FWD]: [rr(name('agent'), 'A', [p.privateIp])], [REV]: [] }, alarms: [instanceAlarm('agent-cpu', p.id)] });
    await run(loadHandler({ POWERTOOLS_SERVICE_NAME: 'fleet-decom' }), message(p.id, 'terminated'));
    const agentOf = (mock: typeof ec2Mock) => (mock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } }).config.customUserAgent;
    for (const mock of [ec2Mock, ddbMock, r53Mock, cwMock, lambdaMock, ebMock, snsMock]) {
      expect(agentOf(mock as unknown as typeof ec2Mock)).toEqual([['cdk-fleet-janitor/instance-decommissioner']]);
    }
    expect(logLines('info').filter((l) => l.message === 'decision')).not.toHaveLength(0);
    for (const line of logLines('info').filter((l) => l.message === 'decision')) expect(line.service).toBe('fleet-decom');
  });

  test('a batch with nothing to tell (snapshots only): log lines, no notification, no metrics', async () => {
    const [p, q] = [host(98), host(99)];
    given({ instances: [described(p), described(q)] });
    await run(loadHandler(), message(p.id, 'running'), message(q.id, 'running'));
    expect(logLines('info').filter((l) => l.message === 'decision').map((l) => l.resourceId)).toEqual([p.id, q.id]);
    expect(publishCalls()).toEqual([]);
    expect(emfRecords()).toEqual([]);
  });
});
