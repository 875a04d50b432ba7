/**
 * InstanceDecommissioner end to end against moto. The construct is synthesized against moto's
 * resources (two imported hosted zones, two record name templates, deleteAlarms, two hooks by ARN,
 * the user's bus); the handler's environment comes out of the template, and so do the state-change
 * rule's event pattern, the event queue's visibility timeout and redrive policy, the snapshot table's
 * key schema and the reconcile schedule's input, which the test builds in moto. EC2 state-change
 * events go through moto's EventBridge (PutEvents, the template's rule) into the SQS queue; the test
 * plays Lambda's event source mapping: it receives up to 10 messages, runs the SHIPPED bundle
 * (assets/instance-decommissioner/index.js) with Lambda's SQS event in a fresh node process, deletes
 * the messages not listed in batchItemFailures, and lets a failed one come back (its visibility
 * timeout made to run out now). The end state is checked record set by record set in both zones,
 * alarm by alarm, item by item in the table, event by event on the user's bus (a rule there sends
 * them to a queue), hook invocation by invocation, and row by row in the SNS notifications (read
 * from an SQS queue subscribed to the topic).
 *
 * The fleet: instances with fixed private addresses in one subnet; a private zone
 * internal.example.com and its reverse zone 1.0.10.in-addr.arpa; A records at both template names,
 * a CNAME to an instance's EC2 DNS name and one to another template name, a multi-value record
 * holding two instances' addresses and a load balancer's, a weighted name keyed by instance id, PTRs
 * for primary and secondary addresses, an address reused by a new instance, records of a protected
 * instance, records outside the configured zones; alarms on several instances, a metric-math alarm
 * on two, and one on a queue. Two instances were launched before the construct existed (no
 * snapshot): one is only ever seen terminated, the other is still described running when its
 * shutting-down event is handled (EC2's API is eventually consistent).
 *
 * moto's gaps, filled in moto_launcher.py only: terminated instances described as EC2 describes them
 * and their addresses released for reuse (patch 9), Route 53 change batches validated against the
 * current record sets, all or nothing (10), hook functions answered and recorded without Docker
 * (11), and the `account` field in events delivered to targets (12). Route 53 calls of the bundle go
 * through a recording pass-through proxy, so that the duplicate deliveries can be shown to change
 * nothing and to make no change call at all.
 */
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { Message } from '@aws-sdk/client-sqs';
import { createTopicWithQueue, Notification, readNotifications } from './fleet';
import {
  alarmNames, CallRecorder, createBus, createEventQueues, createHookFunction, createNetwork, createQueue, createRecords, createRole,
  createSnapshotTable, createZone, DecommissionerClients, decommissionerClients, Delivery, drainEventQueue, drainJson, HOOK_FIXTURE_TAGS,
  hookInvocations, HookInvocation, InstanceSpec, launch, makeVisibleAgain, parseRows, putEvents, putInstanceAlarm, putQueueAlarm, recordKey,
  recordSet, resetMoto, Row, ruleToQueue, runDecommissioner, runDecommissionerOk, startCallRecorder, stateChange, synthesizeDecommissioner,
  tableItems, zoneRecords,
} from './instance-decommissioner-harness';
import { EMULATOR_ACCOUNT, EMULATOR_REGION, MotoServer, startMoto } from './moto';

jest.setTimeout(180_000);

let moto: MotoServer;
let recorder: CallRecorder;
let aws: DecommissionerClients;

beforeAll(async () => {
  moto = await startMoto();
  recorder = await startCallRecorder(moto.endpoint);
  aws = decommissionerClients(moto.endpoint);
}, 300_000);

afterAll(async () => {
  await recorder?.stop();
  await moto?.stop();
});

beforeEach(async () => {
  await resetMoto(moto.endpoint);
  recorder.reset();
});

const PROTECT = 'fleet-janitor:protect';
/** A load balancer's address: no instance ever held it. */
const FOREIGN = '10.0.1.250';
const RETENTION_SECONDS = 90 * 86_400;

/** The fleet, by role. `app-a` and `app-b` share a Name, as `api-1` and `api-2` do. */
const FLEET = {
  'web-1': { name: 'web-1', ip: '10.0.1.11', secondary: ['10.0.1.111'] },
  'app-a': { name: 'app', ip: '10.0.1.21' },
  'app-b': { name: 'app', ip: '10.0.1.22' },
  'api-1': { name: 'api', ip: '10.0.1.31' },
  'api-2': { name: 'api', ip: '10.0.1.32' },
  'cache-old': { name: 'cache', ip: '10.0.1.41' },
  'batch-1': { name: 'batch-1', ip: '10.0.1.61', tags: { [PROTECT]: 'true' } },
  // Launched before the construct existed: no running event was ever handled for them.
  'legacy-1': { name: 'legacy-1', ip: '10.0.1.51' },
  'legacy-2': { name: 'legacy-2', ip: '10.0.1.52' },
} satisfies Record<string, InstanceSpec>;
type Role = keyof typeof FLEET | 'cache-new';
/** Takes over cache-old's address once cache-old is terminated. */
const CACHE_NEW: InstanceSpec = { name: 'cache', ip: '10.0.1.41' };
/** The instances whose running events the construct saw (the legacy ones predate it). */
const SEEN_RUNNING: Role[] = ['web-1', 'app-a', 'app-b', 'api-1', 'api-2', 'cache-old', 'batch-1'];
/** Terminated in moto before their shutting-down events are handled; legacy-2 only afterwards. */
const TERMINATED_FIRST: Role[] = ['web-1', 'app-a', 'app-b', 'api-1', 'cache-old', 'batch-1', 'legacy-1'];
const SHUTTING_DOWN: Role[] = ['web-1', 'app-a', 'app-b', 'api-1', 'cache-old', 'batch-1', 'legacy-2'];
const TERMINATED: Role[] = ['web-1', 'app-a', 'app-b', 'api-1', 'cache-old', 'batch-1', 'legacy-1', 'legacy-2'];
const DECOMMISSIONED: Role[] = ['web-1', 'app-a', 'app-b', 'api-1', 'cache-old', 'legacy-1', 'legacy-2'];

type ZoneName = 'internal' | 'reverse' | 'other';
const ZONE_NAMES: Record<ZoneName, string> = { internal: 'internal.example.com', reverse: '1.0.10.in-addr.arpa', other: 'other.example.com' };
const ptr = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
const fqdn = (label: string) => `${label}.internal.example.com`;

function summary(row: Row): string {
  return [row.resourceType, row.id, `${row.action}:${row.result}`, row.details.instance ?? ''].join(' | ');
}

function zoneObject(records: Map<string, string[]>): Record<string, string[]> {
  return Object.fromEntries([...records].sort(([a], [b]) => a.localeCompare(b)));
}

test('state changes through EventBridge and SQS: snapshots, cleanup of records, alarms and hooks, the bus events, redelivery, duplicates, the sweep', async () => {
  const started = Date.now();

  // ---- the network, the zones and the fleet -----------------------------------------------------------
  const network = await createNetwork(aws.ec2);
  const zones = {
    internal: await createZone(aws.route53, ZONE_NAMES.internal, network.vpcId),
    reverse: await createZone(aws.route53, ZONE_NAMES.reverse, network.vpcId),
    // Not given to the construct: never read, never changed.
    other: await createZone(aws.route53, ZONE_NAMES.other),
  };
  const ids = new Map<Role, string>();
  for (const [role, spec] of Object.entries(FLEET) as Array<[Role, InstanceSpec]>) ids.set(role, await launch(aws.ec2, network, spec));
  const id = (role: Role) => {
    const found = ids.get(role);
    if (!found) throw new Error(`no instance ${role}`);
    return found;
  };
  const role = (instanceId: string) => [...ids].find(([, i]) => i === instanceId)?.[0] ?? instanceId;

  // ---- the hooks, the user's bus, the construct -----------------------------------------------------------------
  const hookRole = await createRole(moto.endpoint, 'fleet-hooks');
  const cmdb = await createHookFunction(aws.lambda, 'cmdb-deregister', hookRole);
  // Chef's node delete fails once for web-1 (the Chef server was down), then works.
  const chef = await createHookFunction(aws.lambda, 'chef-node-delete', hookRole, {
    [HOOK_FIXTURE_TAGS.failsWhen]: id('web-1'), [HOOK_FIXTURE_TAGS.failsTimes]: '1', [HOOK_FIXTURE_TAGS.errorType]: 'ChefServerUnavailable',
  });
  const busArn = await createBus(aws.eventbridge, 'fleet-events');
  const { topicArn, queueUrl: inbox } = await createTopicWithQueue(aws, 'instance-decommissioner');
  const tableName = 'InstanceDecommissionerEmulator-Snapshots';
  const synth = synthesizeDecommissioner({ topicArn, tableName, zones: [zones.internal, zones.reverse], hookArns: [cmdb, chef], busArn });
  expect(synth.env).toMatchObject({
    TOPIC_ARN: topicArn,
    TABLE_NAME: tableName,
    HOSTED_ZONES: JSON.stringify([{ id: zones.internal.id, name: ZONE_NAMES.internal }, { id: zones.reverse.id, name: ZONE_NAMES.reverse }]),
    RECORD_NAME_TEMPLATES: JSON.stringify(['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com']),
    DELETE_ALARMS: 'true',
    EVENT_BUS: busArn,
    HOOK_FUNCTIONS: JSON.stringify([cmdb, chef]),
    SNAPSHOT_RETENTION_SECONDS: String(RETENTION_SECONDS),
    PROTECTION_TAG_KEY: PROTECT,
    DRY_RUN: 'false',
  });
  expect(synth.eventPattern).toEqual({
    'source': ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'], 'detail': { state: ['running', 'shutting-down', 'terminated'] },
  });
  expect(synth.sweepEvent).toEqual({ source: 'cdk-fleet-janitor.schedule' });
  await createSnapshotTable(aws.dynamodb, synth.template, tableName);
  const { queue, deadLetter } = await createEventQueues(aws.sqs, synth);
  await ruleToQueue(aws.eventbridge, 'decommissioner-state-changes', synth.eventPattern, queue, 'default', deadLetter);
  // The user's own rule on their bus, to read the "Instance Decommissioned" events.
  const busInbox = await createQueue(aws.sqs, 'decommissioned-inbox');
  await ruleToQueue(aws.eventbridge, 'read-decommissions', { 'source': ['cdk-fleet-janitor'], 'detail-type': ['Instance Decommissioned'] }, busInbox, 'fleet-events');

  // ---- records and alarms -----------------------------------------------------------------------------------
  const recordsOf: Record<ZoneName, ReturnType<typeof recordSet>[]> = {
    internal: [
      recordSet(fqdn('web-1'), 'A', ['10.0.1.11']),
      recordSet(fqdn(id('web-1')), 'CNAME', ['ip-10-0-1-11.ec2.internal']),
      recordSet(fqdn('app'), 'A', ['10.0.1.21', '10.0.1.22', FOREIGN]),
      recordSet(fqdn(id('app-a')), 'A', ['10.0.1.21']),
      recordSet(fqdn('api'), 'A', ['10.0.1.31'], { setIdentifier: id('api-1'), weight: 50 }),
      recordSet(fqdn('api'), 'A', ['10.0.1.32'], { setIdentifier: id('api-2'), weight: 50 }),
      recordSet(fqdn('cache'), 'A', ['10.0.1.41']),
      recordSet(fqdn('legacy-1'), 'A', ['10.0.1.51'], { setIdentifier: id('legacy-1'), weight: 100 }),
      recordSet(fqdn('legacy-1'), 'A', [FOREIGN], { setIdentifier: 'standby', weight: 0 }),
      recordSet(fqdn(id('legacy-1')), 'A', ['10.0.1.51']),
      recordSet(fqdn('legacy-2'), 'A', ['10.0.1.52']),
      recordSet(fqdn(id('legacy-2')), 'CNAME', [fqdn('legacy-2')]),
      recordSet(fqdn('batch-1'), 'A', ['10.0.1.61']),
      recordSet(fqdn('db'), 'A', [FOREIGN]),
    ],
    reverse: [
      recordSet(ptr('10.0.1.11'), 'PTR', [fqdn('web-1')]),
      recordSet(ptr('10.0.1.111'), 'PTR', [fqdn(id('web-1'))]),
      recordSet(ptr('10.0.1.21'), 'PTR', [fqdn('app')]),
      recordSet(ptr('10.0.1.22'), 'PTR', [fqdn('app')]),
      recordSet(ptr('10.0.1.31'), 'PTR', [fqdn('api')]),
      recordSet(ptr('10.0.1.32'), 'PTR', [fqdn('api')]),
      recordSet(ptr('10.0.1.41'), 'PTR', [fqdn('cache')]),
      recordSet(ptr('10.0.1.51'), 'PTR', [fqdn('legacy-1')]),
      recordSet(ptr('10.0.1.52'), 'PTR', ['ip-10-0-1-52.ec2.internal']),
      recordSet(ptr('10.0.1.61'), 'PTR', [fqdn('batch-1')]),
      recordSet(ptr(FOREIGN), 'PTR', [fqdn('db')]),
    ],
    other: [recordSet('web-1.other.example.com', 'A', ['10.0.1.11'])],
  };
  for (const zone of Object.keys(recordsOf) as ZoneName[]) await createRecords(aws.route53, zones[zone].id, recordsOf[zone]);
  const alarms: Array<[string, 'CPUUtilization' | 'StatusCheckFailed', Role[]]> = [
    ['web-1-cpu', 'CPUUtilization', ['web-1']],
    ['web-1-status-check', 'StatusCheckFailed', ['web-1']],
    ['app-a-cpu', 'CPUUtilization', ['app-a']],
    ['app-b-status-check', 'StatusCheckFailed', ['app-b']],
    ['api-1-cpu', 'CPUUtilization', ['api-1']],
    ['api-2-cpu', 'CPUUtilization', ['api-2']],
    ['api-pair-cpu', 'CPUUtilization', ['api-1', 'api-2']],
    ['cache-old-cpu', 'CPUUtilization', ['cache-old']],
    ['legacy-1-cpu', 'CPUUtilization', ['legacy-1']],
    ['legacy-1-status-check', 'StatusCheckFailed', ['legacy-1']],
    ['legacy-2-cpu', 'CPUUtilization', ['legacy-2']],
    ['batch-1-cpu', 'CPUUtilization', ['batch-1']],
  ];
  for (const [name, metric, roles] of alarms) await putInstanceAlarm(aws.cloudwatch, name, metric, roles.map(id));
  await putQueueAlarm(aws.cloudwatch, 'orders-queue-age', 'orders');

  const initial = {} as Record<ZoneName, Map<string, string[]>>;
  for (const zone of Object.keys(zones) as ZoneName[]) initial[zone] = await zoneRecords(aws.route53, zones[zone].id);
  expect(initial.internal.size).toBe(recordsOf.internal.length);
  expect(initial.reverse.size).toBe(recordsOf.reverse.length);
  const alarmsAtStart = await alarmNames(aws.cloudwatch);
  expect(alarmsAtStart).toHaveLength(alarms.length + 1);

  // What the test reads back after each step.
  const deliveries: Delivery[] = [];
  const deliver = async (): Promise<Delivery[]> => {
    const batch = await drainEventQueue(aws.sqs, queue, (event) => runDecommissioner(synth, recorder.endpoint, event));
    for (const d of batch) {
      if (d.run.error && !/not processed completely/.test(d.run.error.message)) {
        throw new Error(`the handler failed: ${d.run.error.message}\nstderr:\n${d.run.stderr.slice(-4000)}`);
      }
    }
    deliveries.push(...batch);
    return batch;
  };
  const notifications = async (): Promise<Notification[]> => {
    const all = await readNotifications(aws.sqs, inbox);
    for (const n of all) {
      expect(n.Subject).toMatch(/^\[fleet-janitor\] InstanceDecommissioner: /);
      expect(n.Subject!.length).toBeLessThan(100);
    }
    return all;
  };
  const rowsOf = (all: Notification[]) => all.flatMap((n) => parseRows(n.Message)).map(summary).sort();
  const events = (roles: Role[], state: 'running' | 'shutting-down' | 'terminated'): PutEventsRequestEntry[] => roles.map((r) => stateChange(id(r), state));
  const messageRoles = (messages: readonly Message[]) => messages.map((m) => {
    const body = JSON.parse(m.Body!);
    return `${role(body.detail['instance-id'])}:${body.detail.state}`;
  }).sort();

  // ---- 1. running: a snapshot of each instance the construct sees start ---------------------------------------------
  const sent: PutEventsRequestEntry[] = [];
  const send = async (entries: PutEventsRequestEntry[]) => {
    sent.push(...entries);
    await putEvents(aws.eventbridge, entries);
  };
  await send(events(SEEN_RUNNING, 'running'));
  // States the rule does not forward never reach the queue.
  await putEvents(aws.eventbridge, (['stopping', 'stopped'] as const).map((state) => ({
    ...stateChange(id('api-2'), 'running'), Detail: JSON.stringify({ 'instance-id': id('api-2'), state }),
  })));
  const first = await deliver();
  expect(first).toHaveLength(1);
  expect(messageRoles(first[0].messages)).toEqual(SEEN_RUNNING.map((r) => `${r}:running`).sort());
  // The bodies are EventBridge's events exactly (account included: launcher patch 12).
  expect(Object.keys(JSON.parse(first[0].messages[0].Body!)).sort()).toEqual(['account', 'detail', 'detail-type', 'id', 'region', 'resources', 'source', 'time', 'version']);
  expect(first[0].failedMessageIds).toEqual([]);
  expect(first[0].run.result).toEqual({ batchItemFailures: [] });
  const afterRunning = await tableItems(aws.dynamodb, tableName);
  expect([...afterRunning.keys()].map(role).sort()).toEqual([...SEEN_RUNNING].sort());
  for (const r of SEEN_RUNNING) {
    const item = afterRunning.get(id(r))!;
    const spec: InstanceSpec = FLEET[r as keyof typeof FLEET];
    expect([r, item.Status]).toEqual([r, 'LIVE']);
    expect(item.Snapshot).toMatchObject({
      instanceId: id(r),
      privateIp: spec.ip,
      privateIps: [spec.ip, ...(spec.secondary ?? [])],
      privateDnsName: `ip-${spec.ip.replace(/\./g, '-')}.ec2.internal`,
      vpcId: network.vpcId,
      availabilityZone: `${EMULATOR_REGION}a`,
      recordNames: [fqdn(spec.name), fqdn(id(r))],
      tags: { Name: spec.name, ...spec.tags },
    });
    // a live snapshot never expires: the instance may outlive the retention
    expect(item.ExpiresAt).toBeUndefined();
  }
  // Snapshots are observations, not actions: no notification.
  expect(await notifications()).toEqual([]);
  expect(recorder.count('ChangeResourceRecordSets') + recorder.count('DeleteAlarms') + recorder.count('Invoke')).toBe(0);

  // ---- 2. the fleet shrinks: terminations, an address taken over, and the shutting-down events --------------------
  await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: TERMINATED_FIRST.map(id) }));
  ids.set('cache-new', await launch(aws.ec2, network, CACHE_NEW));
  await putInstanceAlarm(aws.cloudwatch, 'cache-new-cpu', 'CPUUtilization', [id('cache-new')]);
  // legacy-2 is still described running when its shutting-down event is handled (it is terminated in moto below).
  await send([...events(['cache-new'], 'running'), ...events(SHUTTING_DOWN, 'shutting-down')]);
  recorder.reset();
  const second = await deliver();
  expect(second).toHaveLength(1);
  expect(messageRoles(second[0].messages)).toEqual(['cache-new:running', ...SHUTTING_DOWN.map((r) => `${r}:shutting-down`)].sort());
  // Chef failed for web-1: its message alone is delivered again; the others are done and deleted.
  const web1Message = second[0].messages.find((m) => JSON.parse(m.Body!).detail['instance-id'] === id('web-1'))!;
  expect(second[0].failedMessageIds).toEqual([web1Message.MessageId]);
  expect(second[0].run.result).toEqual({ batchItemFailures: [{ itemIdentifier: web1Message.MessageId }] });

  const expectedAfterShutdown: Record<ZoneName, Map<string, string[]>> = {
    internal: new Map(initial.internal),
    reverse: new Map(initial.reverse),
    other: new Map(initial.other),
  };
  const gone = (zone: ZoneName, ...keys: string[]) => {
    for (const key of keys) {
      if (!expectedAfterShutdown[zone].delete(key)) throw new Error(`no record ${key} in ${zone}`);
    }
  };
  gone('internal', recordKey(fqdn('web-1'), 'A'), recordKey(fqdn(id('web-1')), 'CNAME'), recordKey(fqdn(id('app-a')), 'A'),
    recordKey(fqdn('api'), 'A', id('api-1')), recordKey(fqdn('legacy-2'), 'A'), recordKey(fqdn(id('legacy-2')), 'CNAME'));
  expectedAfterShutdown.internal.set(recordKey(fqdn('app'), 'A'), [FOREIGN]);
  gone('reverse', ...['10.0.1.11', '10.0.1.111', '10.0.1.21', '10.0.1.22', '10.0.1.31', '10.0.1.52'].map((ip) => recordKey(ptr(ip), 'PTR')));
  const afterShutdown = {} as Record<ZoneName, Map<string, string[]>>;
  for (const zone of Object.keys(zones) as ZoneName[]) {
    afterShutdown[zone] = await zoneRecords(aws.route53, zones[zone].id);
    expect([zone, zoneObject(afterShutdown[zone])]).toEqual([zone, zoneObject(expectedAfterShutdown[zone])]);
  }
  const deletedAlarms = ['web-1-cpu', 'web-1-status-check', 'app-a-cpu', 'app-b-status-check', 'api-1-cpu', 'cache-old-cpu', 'legacy-2-cpu'];
  expect(await alarmNames(aws.cloudwatch)).toEqual([...alarmsAtStart, 'cache-new-cpu'].filter((a) => !deletedAlarms.includes(a)).sort());
  // One change batch per zone for the whole batch of instances.
  expect(recorder.count('ChangeResourceRecordSets')).toBe(2);
  expect(recorder.count('DeleteAlarms')).toBe(1);

  const record = (zone: ZoneName, name: string, type: string, setIdentifier?: string) => ({
    zoneId: zones[zone].id, name, type, ...(setIdentifier ? { setIdentifier } : {}),
  });
  /** What each instance's decommission removed, as the bus event, the hook payload and the table's Cleaned list it. */
  const cleanedBy: Partial<Record<Role, { records: unknown[]; keptRecords: unknown[]; alarms: string[] }>> = {
    'app-a': {
      records: [
        { ...record('internal', fqdn('app'), 'A'), values: ['10.0.1.21'] },
        { ...record('internal', fqdn(id('app-a')), 'A'), values: ['10.0.1.21'] },
        { ...record('reverse', ptr('10.0.1.21'), 'PTR'), values: [fqdn('app')] },
      ],
      keptRecords: [],
      alarms: ['app-a-cpu'],
    },
    'app-b': {
      records: [
        { ...record('internal', fqdn('app'), 'A'), values: ['10.0.1.22'] },
        { ...record('reverse', ptr('10.0.1.22'), 'PTR'), values: [fqdn('app')] },
      ],
      keptRecords: [],
      alarms: ['app-b-status-check'],
    },
    'api-1': {
      records: [
        { ...record('internal', fqdn('api'), 'A', id('api-1')), values: ['10.0.1.31'] },
        { ...record('reverse', ptr('10.0.1.31'), 'PTR'), values: [fqdn('api')] },
      ],
      keptRecords: [],
      alarms: ['api-1-cpu'],
    },
    'cache-old': {
      records: [],
      keptRecords: [
        { ...record('internal', fqdn('cache'), 'A'), reason: `reused by ${id('cache-new')}` },
        { ...record('reverse', ptr('10.0.1.41'), 'PTR'), reason: `reused by ${id('cache-new')}` },
      ],
      alarms: ['cache-old-cpu'],
    },
    'legacy-2': {
      records: [
        { ...record('internal', fqdn('legacy-2'), 'A'), values: ['10.0.1.52'] },
        { ...record('internal', fqdn(id('legacy-2')), 'CNAME'), values: [fqdn('legacy-2')] },
        { ...record('reverse', ptr('10.0.1.52'), 'PTR'), values: ['ip-10-0-1-52.ec2.internal'] },
      ],
      keptRecords: [],
      alarms: ['legacy-2-cpu'],
    },
  };
  const web1FirstCleaned = {
    records: [
      { ...record('internal', fqdn('web-1'), 'A'), values: ['10.0.1.11'] },
      { ...record('internal', fqdn(id('web-1')), 'CNAME'), values: ['ip-10-0-1-11.ec2.internal'] },
      { ...record('reverse', ptr('10.0.1.11'), 'PTR'), values: [fqdn('web-1')] },
      { ...record('reverse', ptr('10.0.1.111'), 'PTR'), values: [fqdn(id('web-1'))] },
    ],
    keptRecords: [],
    alarms: ['web-1-cpu', 'web-1-status-check'],
  };
  const sortCleaned = (c: any) => ({
    ...c,
    records: [...c.records].sort((a: any, b: any) => `${a.name} ${a.type}`.localeCompare(`${b.name} ${b.type}`)),
    keptRecords: [...c.keptRecords].sort((a: any, b: any) => `${a.name} ${a.type}`.localeCompare(`${b.name} ${b.type}`)),
    alarms: [...c.alarms].sort(),
  });

  // The notification of the batch, row by row.
  const hookRows = (r: Role, results: { cmdb: string; chef: string }) => [
    `hook | ${cmdb} | INVOKE:${results.cmdb} | ${id(r)}`, `hook | ${chef} | INVOKE:${results.chef} | ${id(r)}`,
  ];
  const dnsRow = (name: string, type: string, action: string, result: string, roles: Role[], setIdentifier?: string) =>
    `dns-record | ${name} ${type}${setIdentifier ? ` [${setIdentifier}]` : ''} | ${action}:${result} | ${roles.map(id).sort().join(' ')}`;
  const alarmRow = (name: string, result: string, roles: Role[], action = 'DELETE') => `alarm | ${name} | ${action}:${result} | ${roles.map(id).join(' ')}`;
  const instanceRow = (r: Role, action: string, result: string) => `instance | ${id(r)} | ${action}:${result} | `;
  const secondRows = rowsOf(await notifications());
  expect(secondRows).toEqual([
    instanceRow('cache-new', 'SNAPSHOT', 'KEPT'),
    instanceRow('batch-1', 'NONE', 'SKIPPED_PROTECTED'),
    dnsRow(fqdn('web-1'), 'A', 'DELETE', 'DONE', ['web-1']),
    dnsRow(fqdn(id('web-1')), 'CNAME', 'DELETE', 'DONE', ['web-1']),
    dnsRow(ptr('10.0.1.11'), 'PTR', 'DELETE', 'DONE', ['web-1']),
    dnsRow(ptr('10.0.1.111'), 'PTR', 'DELETE', 'DONE', ['web-1']),
    dnsRow(fqdn('app'), 'A', 'REMOVE_VALUES', 'DONE', ['app-a', 'app-b']),
    dnsRow(fqdn(id('app-a')), 'A', 'DELETE', 'DONE', ['app-a']),
    dnsRow(ptr('10.0.1.21'), 'PTR', 'DELETE', 'DONE', ['app-a']),
    dnsRow(ptr('10.0.1.22'), 'PTR', 'DELETE', 'DONE', ['app-b']),
    dnsRow(fqdn('api'), 'A', 'DELETE', 'DONE', ['api-1'], id('api-1')),
    dnsRow(ptr('10.0.1.31'), 'PTR', 'DELETE', 'DONE', ['api-1']),
    dnsRow(fqdn('legacy-2'), 'A', 'DELETE', 'DONE', ['legacy-2']),
    dnsRow(fqdn(id('legacy-2')), 'CNAME', 'DELETE', 'DONE', ['legacy-2']),
    dnsRow(ptr('10.0.1.52'), 'PTR', 'DELETE', 'DONE', ['legacy-2']),
    dnsRow(fqdn('cache'), 'A', 'NONE', 'REPORTED', ['cache-old']),
    dnsRow(ptr('10.0.1.41'), 'PTR', 'NONE', 'REPORTED', ['cache-old']),
    ...deletedAlarms.map((a) => alarmRow(a, 'DONE', [alarms.find(([n]) => n === a)![2][0]])),
    alarmRow('api-pair-cpu', 'KEPT', ['api-1'], 'NONE'),
    ...hookRows('web-1', { cmdb: 'DONE', chef: 'FAILED' }),
    ...(['app-a', 'app-b', 'api-1', 'cache-old', 'legacy-2'] as Role[]).flatMap((r) => hookRows(r, { cmdb: 'DONE', chef: 'DONE' })),
    instanceRow('web-1', 'DECOMMISSION', 'FAILED'),
    ...(['app-a', 'app-b', 'api-1', 'cache-old', 'legacy-2'] as Role[]).map((r) => instanceRow(r, 'DECOMMISSION', 'DONE')),
  ].sort());

  const phase2Invocations = await hookInvocations(moto.endpoint);

  // ---- 3. legacy-2 is gone too; the terminated events, and web-1's message again -----------------------------------
  await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id('legacy-2')] }));
  await send(events(TERMINATED, 'terminated'));
  // Its visibility timeout (6 × the function timeout) runs out: SQS delivers web-1's shutting-down message again.
  await makeVisibleAgain(aws.sqs, queue, [web1Message]);
  recorder.reset();
  const third = await deliver();
  expect(third).toHaveLength(1);
  expect(messageRoles(third[0].messages)).toEqual(['web-1:shutting-down', ...TERMINATED.map((r) => `${r}:terminated`)].sort());
  const again = third[0].messages.find((m) => m.MessageId === web1Message.MessageId)!;
  expect(again.Attributes?.ApproximateReceiveCount).toBe('2');
  expect(third[0].failedMessageIds).toEqual([]);
  // legacy-1: its weighted set (keyed by its id) and its alarms go; EC2 no longer tells its address, so the
  // records that hold 10.0.1.51 stay (no snapshot ever saw it: nothing proves the address was its own).
  const expectedAfterTerminated = { ...expectedAfterShutdown, internal: new Map(expectedAfterShutdown.internal) };
  expectedAfterTerminated.internal.delete(recordKey(fqdn('legacy-1'), 'A', id('legacy-1')));
  for (const zone of Object.keys(zones) as ZoneName[]) {
    expect([zone, zoneObject(await zoneRecords(aws.route53, zones[zone].id))]).toEqual([zone, zoneObject(expectedAfterTerminated[zone])]);
  }
  deletedAlarms.push('legacy-1-cpu', 'legacy-1-status-check');
  expect(await alarmNames(aws.cloudwatch)).toEqual([...alarmsAtStart, 'cache-new-cpu'].filter((a) => !deletedAlarms.includes(a)).sort());
  cleanedBy['legacy-1'] = {
    records: [{ ...record('internal', fqdn('legacy-1'), 'A', id('legacy-1')), values: ['10.0.1.51'] }],
    keptRecords: [],
    alarms: ['legacy-1-cpu', 'legacy-1-status-check'],
  };
  // web-1's second delivery found its records and alarms already gone; what the first removed was kept
  // in its snapshot item with the hook that ran, so the bus event and the mark tell the whole cleanup.
  cleanedBy['web-1'] = web1FirstCleaned;
  expect(recorder.count('ChangeResourceRecordSets')).toBe(1);
  expect(recorder.count('DeleteAlarms')).toBe(1);
  expect(rowsOf(await notifications())).toEqual([
    // cmdb already ran for web-1 (HooksDone): only chef is invoked again, and succeeds.
    `hook | ${cmdb} | INVOKE:KEPT | ${id('web-1')}`,
    `hook | ${chef} | INVOKE:DONE | ${id('web-1')}`,
    instanceRow('web-1', 'DECOMMISSION', 'DONE'),
    ...(['app-a', 'app-b', 'api-1', 'cache-old', 'legacy-2'] as Role[]).map((r) => instanceRow(r, 'NONE', 'KEPT')),
    instanceRow('batch-1', 'NONE', 'SKIPPED_PROTECTED'),
    dnsRow(fqdn('legacy-1'), 'A', 'DELETE', 'DONE', ['legacy-1'], id('legacy-1')),
    alarmRow('legacy-1-cpu', 'DONE', ['legacy-1']),
    alarmRow('legacy-1-status-check', 'DONE', ['legacy-1']),
    ...hookRows('legacy-1', { cmdb: 'DONE', chef: 'DONE' }),
    instanceRow('legacy-1', 'DECOMMISSION', 'DONE'),
  ].sort());

  // ---- the end state: the table, the bus, the hooks ----------------------------------------------------------------
  const items = await tableItems(aws.dynamodb, tableName);
  expect([...items.keys()].map(role).sort()).toEqual([...SEEN_RUNNING, 'cache-new', 'legacy-1', 'legacy-2'].sort());
  const decommissionedAt = new Map<Role, string>();
  for (const r of DECOMMISSIONED) {
    const item = items.get(id(r))!;
    expect([r, item.Status]).toEqual([r, 'DECOMMISSIONED']);
    expect([r, sortCleaned(item.Cleaned)]).toEqual([r, sortCleaned(cleanedBy[r])]);
    expect(item.ExpiresAt).toBe(Math.floor(Date.parse(item.DecommissionedAt) / 1000) + RETENTION_SECONDS);
    expect([r, item.HooksDone]).toEqual([r, r === 'web-1' ? [cmdb] : undefined]);
    decommissionedAt.set(r, item.DecommissionedAt);
  }
  for (const r of ['api-2', 'cache-new', 'batch-1'] as Role[]) {
    expect([r, items.get(id(r))!.Status, items.get(id(r))!.DecommissionedAt]).toEqual([r, 'LIVE', undefined]);
  }
  // The snapshots of the instances the construct never saw running come from EC2's describe.
  expect(items.get(id('legacy-2'))!.Snapshot).toMatchObject({ privateIps: ['10.0.1.52'], recordNames: [fqdn('legacy-2'), fqdn(id('legacy-2'))] });
  expect(items.get(id('legacy-1'))!.Snapshot).toMatchObject({ privateIps: [], publicIps: [], recordNames: [fqdn('legacy-1'), fqdn(id('legacy-1'))] });
  expect(items.get(id('legacy-1'))!.Snapshot.privateDnsName).toBeUndefined();
  expect(items.get(id('cache-new'))!.Snapshot).toMatchObject({ privateIps: ['10.0.1.41'], recordNames: [fqdn('cache'), fqdn(id('cache-new'))] });

  const busEvents = await drainJson(aws.sqs, busInbox);
  expect(busEvents.map((e) => role(e.detail.instanceId)).sort()).toEqual([...DECOMMISSIONED].sort());
  const sources: Record<string, string> = {
    'web-1': 'table+describe',
    'app-a': 'table+describe',
    'app-b': 'table+describe',
    'api-1': 'table+describe',
    'cache-old': 'table+describe',
    'legacy-1': 'describe',
    'legacy-2': 'describe',
  };
  const web1StateAtRedelivery = JSON.parse(third[0].messages.find((m) => JSON.parse(m.Body!).detail['instance-id'] === id('web-1'))!.Body!).detail.state;
  for (const event of busEvents) {
    const r = role(event.detail.instanceId) as Role;
    expect(event).toMatchObject({ 'source': 'cdk-fleet-janitor', 'detail-type': 'Instance Decommissioned', 'account': EMULATOR_ACCOUNT, 'region': EMULATOR_REGION });
    const state = r === 'web-1' ? web1StateAtRedelivery : r === 'legacy-1' ? 'terminated' : 'shutting-down';
    expect([r, event.detail.state, event.detail.snapshotSource, event.detail.dryRun]).toEqual([r, state, sources[r], false]);
    expect([r, sortCleaned(event.detail.cleaned)]).toEqual([r, sortCleaned(cleanedBy[r])]);
    expect([r, event.detail.snapshot]).toEqual([r, items.get(id(r))!.Snapshot]);
  }

  // The hooks: each got the bus event's detail, framed like the event; chef once more for web-1.
  const invocations = await hookInvocations(moto.endpoint);
  expect(invocations.slice(0, phase2Invocations.length)).toEqual(phase2Invocations);
  const invokedFor = (list: HookInvocation[], arn: string) => list.filter((i) => i.FunctionArn === arn)
    .map((i) => `${role(i.Payload.detail.instanceId)}${i.FunctionError ? ' (failed)' : ''}`).sort();
  const phase3Invocations = invocations.slice(phase2Invocations.length);
  expect(invokedFor(phase2Invocations, cmdb)).toEqual(['web-1', 'app-a', 'app-b', 'api-1', 'cache-old', 'legacy-2'].sort());
  expect(invokedFor(phase2Invocations, chef)).toEqual(['web-1 (failed)', 'app-a', 'app-b', 'api-1', 'cache-old', 'legacy-2'].sort());
  expect(invokedFor(phase3Invocations, cmdb)).toEqual(['legacy-1']);
  expect(invokedFor(phase3Invocations, chef)).toEqual(['legacy-1', 'web-1']);
  const detailOf = (r: Role) => busEvents.find((e) => e.detail.instanceId === id(r))!.detail;
  const comparable = (detail: any) => ({ ...detail, cleaned: sortCleaned(detail.cleaned) });
  for (const invocation of invocations) {
    expect(invocation.InvocationType).toBe('RequestResponse');
    expect(invocation.Payload).toMatchObject({ source: 'cdk-fleet-janitor', detailType: 'Instance Decommissioned' });
    const r = role(invocation.Payload.detail.instanceId) as Role;
    // web-1's first delivery removed its records and alarms, then chef failed; its bus event comes from the redelivery.
    const expected = r === 'web-1' && invocations.indexOf(invocation) < phase2Invocations.length
      ? { ...detailOf(r), state: 'shutting-down', cleaned: web1FirstCleaned }
      : detailOf(r);
    expect([r, comparable(invocation.Payload.detail)]).toEqual([r, comparable(expected)]);
  }

  const allRecords = async () => {
    const out: Record<string, Record<string, string[]>> = {};
    for (const z of Object.keys(zones) as ZoneName[]) out[z] = zoneObject(await zoneRecords(aws.route53, zones[z].id));
    return out;
  };

  // ---- 4. every event again (EventBridge and SQS deliver at least once): nothing more changes ---------------------------
  const endState = {
    records: await allRecords(),
    alarms: await alarmNames(aws.cloudwatch),
    decommissioned: DECOMMISSIONED.map((r) => items.get(id(r))),
  };
  await putEvents(aws.eventbridge, sent);
  recorder.reset();
  const duplicates = await deliver();
  expect(duplicates.flatMap((d) => d.messages)).toHaveLength(sent.length);
  expect(duplicates.flatMap((d) => d.failedMessageIds)).toEqual([]);
  for (const operation of ['ChangeResourceRecordSets', 'ListResourceRecordSets', 'DeleteAlarms', 'Invoke', 'PutEvents', 'UpdateItem']) {
    expect([operation, recorder.count(operation)]).toEqual([operation, 0]);
  }
  const afterDuplicates = await tableItems(aws.dynamodb, tableName);
  expect({
    records: await allRecords(),
    alarms: await alarmNames(aws.cloudwatch),
    decommissioned: DECOMMISSIONED.map((r) => afterDuplicates.get(id(r))),
  }).toEqual(endState);
  expect(await drainJson(aws.sqs, busInbox)).toEqual([]);
  expect(await hookInvocations(moto.endpoint)).toHaveLength(invocations.length);
  // Only the protected instance's skips make the batches worth a notification.
  const duplicateRows = rowsOf(await notifications());
  expect(duplicateRows.every((row) => /\| (NONE|SNAPSHOT):(KEPT|SKIPPED_PROTECTED) \|/.test(row))).toBe(true);
  // One protected row per batch that held a shutting-down or terminated event of batch-1 (a batch folds an instance's events).
  const batchesWithProtected = duplicates.filter((d) => d.messages.some((m) => {
    const detail = JSON.parse(m.Body!).detail;
    return detail['instance-id'] === id('batch-1') && detail.state !== 'running';
  })).length;
  expect(duplicateRows.filter((row) => row.includes('SKIPPED_PROTECTED'))).toEqual(Array(batchesWithProtected).fill(instanceRow('batch-1', 'NONE', 'SKIPPED_PROTECTED')));

  // ---- 5. the reconcile sweep: what events could not see -----------------------------------------------------------------
  // A configuration run put web-1's record and app-b's PTR back after they were decommissioned, and an alarm was created on web-1 since.
  await createRecords(aws.route53, zones.internal.id, [recordSet(fqdn('web-1'), 'A', ['10.0.1.11'])]);
  await createRecords(aws.route53, zones.reverse.id, [recordSet(ptr('10.0.1.22'), 'PTR', [fqdn('app')])]);
  await putInstanceAlarm(aws.cloudwatch, 'web-1-disk', 'CPUUtilization', [id('web-1')]);
  recorder.reset();
  const sweep = await runDecommissionerOk(synth, recorder.endpoint, synth.sweepEvent);
  for (const zone of Object.keys(zones) as ZoneName[]) {
    expect([zone, zoneObject(await zoneRecords(aws.route53, zones[zone].id))]).toEqual([zone, endState.records[zone]]);
  }
  expect(await alarmNames(aws.cloudwatch)).toEqual(endState.alarms);
  const sweepRows = rowsOf(await notifications());
  expect(sweepRows).toEqual([
    dnsRow(fqdn('web-1'), 'A', 'DELETE', 'DONE', ['web-1']),
    dnsRow(ptr('10.0.1.22'), 'PTR', 'DELETE', 'DONE', ['app-b']),
    dnsRow(fqdn('cache'), 'A', 'NONE', 'REPORTED', ['cache-old']),
    dnsRow(ptr('10.0.1.41'), 'PTR', 'NONE', 'REPORTED', ['cache-old']),
    alarmRow('web-1-disk', 'DONE', ['web-1']),
    alarmRow('batch-1-cpu', 'SKIPPED_PROTECTED', ['batch-1']),
    // batch-1 died protected: its snapshot is still LIVE, so the sweep finds it gone without a
    // decommission, reports it protected and gives its snapshot an expiry
    instanceRow('batch-1', 'NONE', 'SKIPPED_PROTECTED'),
  ].sort());
  expect(sweep.result).toMatchObject({ construct: 'InstanceDecommissioner', status: 'SUCCEEDED', dryRun: false, entriesOmitted: 0 });
  expect(sweep.result.counts).toMatchObject({ actionsTaken: 3, actionsFailed: 0, reported: 2, skippedProtected: 2 });
  expect((await tableItems(aws.dynamodb, tableName)).get(id('batch-1'))).toMatchObject({ Status: 'LIVE', ExpiresAt: expect.any(Number) });
  expect(recorder.count('ChangeResourceRecordSets')).toBe(2);
  // The snapshots stay as the decommissions left them.
  const afterSweep = await tableItems(aws.dynamodb, tableName);
  for (const r of DECOMMISSIONED) expect([r, afterSweep.get(id(r))!.DecommissionedAt]).toEqual([r, decommissionedAt.get(r)]);

  // A second sweep has nothing left to change.
  recorder.reset();
  const secondSweep = await runDecommissionerOk(synth, recorder.endpoint, synth.sweepEvent);
  expect(secondSweep.result.counts).toMatchObject({ actionsTaken: 0, actionsFailed: 0 });
  expect(recorder.count('ChangeResourceRecordSets') + recorder.count('DeleteAlarms')).toBe(0);
  expect(rowsOf(await notifications()).filter((row) => !row.includes('REPORTED') && !row.includes('SKIPPED_PROTECTED'))).toEqual([]);

  // Nothing ended in the dead-letter queue.
  expect(await drainJson(aws.sqs, deadLetter)).toEqual([]);
  process.stderr.write(`instance-decommissioner emulator: ${ids.size} instances, ${deliveries.length} batches `
    + `(${deliveries.map((d) => `${d.messages.length} msgs ${d.run.durationMs} ms`).join(', ')}); sweep ${sweep.durationMs} ms; test ${Date.now() - started} ms\n`);
});
