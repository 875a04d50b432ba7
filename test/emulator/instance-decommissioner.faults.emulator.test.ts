/**
 * InstanceDecommissioner's shipped bundle under faults, the fleet and the event path built as in
 * instance-decommissioner.emulator.test.ts (template-configured construct, EventBridge rule → SQS
 * queue with the template's redrive policy → the test playing the event source mapping).
 *
 * The fleet: 8 instances, each with its own records (an A record at its Name, a CNAME at its id, a
 * PTR in the reverse zone), its own CPU alarm, and two hooks (cmdb, chef); 6 are terminated, 2 keep
 * running. Nothing is shared between instances, so that the report rows per resource do not depend
 * on which instances one batch happens to hold.
 *
 * a. The bundle's AWS traffic goes through the fault proxy (30% throttling + 5% plain 503s, seeded,
 *    every operation; Route 53's REST calls are faulted too, their operation just unnamed by the
 *    proxy). Lambda (the hook invocations) alone bypasses it: the proxy's throttling answer for a
 *    REST service is query-style XML, which Lambda's REST-JSON client reads as a SyntaxError, not as
 *    a retryable TooManyRequestsException. 30% of invocations "crash" (a seeded draw before the bundle runs: no message of the
 *    batch is deleted, all come back once their visibility timeout is cut to 0), and every event is
 *    sent twice, shuffled (terminated before shutting-down for some). The queue is played until it
 *    is empty. Against a fault-free run of the same fleet (events in order, once, no crash): the same
 *    record sets in both zones, the same alarms, the same table Status per instance, exactly one bus
 *    event per decommissioned instance; no record set change and no alarm deletion applied twice
 *    (counted from the successful requests seen by a recording proxy in front of the fault proxy),
 *    each hook invoked successfully at most once per instance (the launcher's invocation log), the
 *    dead-letter queue empty, and the DONE rows per resource summed over all notifications equal to
 *    the fault-free run's.
 * b. One hook always fails for one instance: every other instance is decommissioned as in a
 *    fault-free run; that instance's records and alarm are removed (cleanup comes before the hooks),
 *    its snapshot stays LIVE, no bus event is put for it, the other hook is not called again on the
 *    redeliveries, its messages are moved to the dead-letter queue by the redrive policy after
 *    maxReceiveCount receives, and every notification about it names the failing hook.
 */
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { ChangeMessageVisibilityCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { createTopicWithQueue, readNotifications } from './fleet';
import {
  alarmNames, CallRecorder, createBus, createEventQueues, createHookFunction, createNetwork, createQueue, createRecords, createRole,
  createSnapshotTable, createZone, DecommissionerClients, decommissionerClients, drainJson, HOOK_FIXTURE_TAGS, hookInvocations, launch,
  parseRows, putEvents, putInstanceAlarm, QueueRef, recordSet, resetMoto, Row, ruleToQueue, runDecommissioner, sqsEvent, startCallRecorder,
  stateChange, Synthesized, synthesizeDecommissioner, tableItems, zoneRecords,
} from './instance-decommissioner-harness';
import { MotoServer, startMoto } from './moto';
import { mulberry32, shuffle } from './random';

jest.setTimeout(240_000);

const FAULT_SEED = 20_261_202;
const CRASH_SEED = 4242;
const SHUFFLE_SEED = 7;
const THROTTLE_RATE = 0.3;
const UNAVAILABLE_RATE = 0.05;
const CRASH_RATE = 0.3;
/** Receive/run rounds before the test gives up on the queue emptying. */
const MAX_ROUNDS = 80;

let moto: MotoServer;
let aws: DecommissionerClients;
const servers: Array<FaultProxy | CallRecorder> = [];

beforeAll(async () => {
  moto = await startMoto();
  aws = decommissionerClients(moto.endpoint);
}, 300_000);

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await moto?.stop();
});

const ROLES = Array.from({ length: 8 }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);
const DECOMMISSIONED = ROLES.slice(0, 6);
const STAYING = ROLES.slice(6);
const ipOf = (role: string) => `10.0.1.${10 + ROLES.indexOf(role)}`;
const ptr = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
const fqdn = (label: string) => `${label}.internal.example.com`;
const alarmOf = (role: string) => `${role}-cpu`;

interface Fleet {
  readonly synth: Synthesized;
  readonly ids: Map<string, string>;
  readonly role: (instanceId: string) => string;
  readonly zones: { internal: string; reverse: string };
  readonly queue: QueueRef;
  readonly deadLetter: QueueRef;
  readonly inbox: string;
  readonly busInbox: QueueRef;
  readonly hooks: { cmdb: string; chef: string };
  readonly tableName: string;
}

/** A fresh moto holding the fleet, the construct's side of the stack and the user's bus. */
async function buildFleet(chefFailsFor?: string): Promise<Fleet> {
  await resetMoto(moto.endpoint);
  const network = await createNetwork(aws.ec2);
  const internal = await createZone(aws.route53, 'internal.example.com', network.vpcId);
  const reverse = await createZone(aws.route53, '1.0.10.in-addr.arpa', network.vpcId);
  const ids = new Map<string, string>();
  for (const role of ROLES) ids.set(role, await launch(aws.ec2, network, { name: role, ip: ipOf(role) }));
  const roleOf = new Map([...ids].map(([r, i]) => [i, r]));
  const hookRole = await createRole(moto.endpoint, 'fleet-hooks');
  const cmdb = await createHookFunction(aws.lambda, 'cmdb-deregister', hookRole);
  const chef = await createHookFunction(aws.lambda, 'chef-node-delete', hookRole, chefFailsFor ? {
    [HOOK_FIXTURE_TAGS.failsWhen]: ids.get(chefFailsFor)!, [HOOK_FIXTURE_TAGS.errorType]: 'ChefNodeLocked',
  } : {});
  const busArn = await createBus(aws.eventbridge, 'fleet-events');
  const { topicArn, queueUrl: inbox } = await createTopicWithQueue(aws, 'instance-decommissioner-faults');
  const tableName = 'InstanceDecommissionerFaults-Snapshots';
  const synth = synthesizeDecommissioner({ topicArn, tableName, zones: [internal, reverse], hookArns: [cmdb, chef], busArn });
  await createSnapshotTable(aws.dynamodb, synth.template, tableName);
  const { queue, deadLetter } = await createEventQueues(aws.sqs, synth);
  await ruleToQueue(aws.eventbridge, 'decommissioner-state-changes', synth.eventPattern, queue, 'default', deadLetter);
  const busInbox = await createQueue(aws.sqs, 'decommissioned-inbox');
  await ruleToQueue(aws.eventbridge, 'read-decommissions', { 'source': ['cdk-fleet-janitor'], 'detail-type': ['Instance Decommissioned'] }, busInbox, 'fleet-events');
  await createRecords(aws.route53, internal.id, [
    ...ROLES.map((r) => recordSet(fqdn(r), 'A', [ipOf(r)])),
    ...ROLES.map((r) => recordSet(fqdn(ids.get(r)!), 'CNAME', [`ip-${ipOf(r).replace(/\./g, '-')}.ec2.internal`])),
    recordSet(fqdn('db'), 'A', ['10.0.1.250']),
  ]);
  await createRecords(aws.route53, reverse.id, ROLES.map((r) => recordSet(ptr(ipOf(r)), 'PTR', [fqdn(r)])));
  for (const r of ROLES) await putInstanceAlarm(aws.cloudwatch, alarmOf(r), 'CPUUtilization', [ids.get(r)!]);
  return {
    synth,
    ids,
    role: (i) => roleOf.get(i) ?? i,
    zones: { internal: internal.id, reverse: reverse.id },
    queue,
    deadLetter,
    inbox,
    busInbox,
    hooks: { cmdb, chef },
    tableName,
  };
}

interface Played {
  readonly invocations: number;
  readonly crashes: number;
  /** Messages whose last receive before the queue emptied had this ApproximateReceiveCount, by message id. */
  readonly receives: Map<string, number>;
  /** Each invocation's wall time, ms. */
  readonly durations: number[];
}

/**
 * The event source mapping, until nothing is left in the queue: receive up to 10, (maybe) crash or
 * run the bundle, delete what succeeded, cut the visibility timeout of the rest to 0. A crash is
 * decided before the bundle runs, so it changes nothing in AWS. A message on its last receive
 * (ApproximateReceiveCount = maxReceiveCount) is never crashed: with a 30% crash rate the dice alone
 * would otherwise send one message in a few hundred to the dead-letter queue, and that is not what
 * this test is about (moto's redrive policy moves a message received maxReceiveCount times).
 */
async function play(fleet: Fleet, synth: Synthesized, endpoint: string, crash: () => boolean): Promise<Played> {
  let invocations = 0;
  let crashes = 0;
  const durations: number[] = [];
  const receives = new Map<string, number>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const out = await aws.sqs.send(new ReceiveMessageCommand({
      QueueUrl: fleet.queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'],
    }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) return { invocations, crashes, receives, durations };
    for (const m of messages) receives.set(m.MessageId!, Number(m.Attributes!.ApproximateReceiveCount));
    const lastChance = messages.some((m) => Number(m.Attributes!.ApproximateReceiveCount) >= fleet.synth.queue.maxReceiveCount);
    let failed: Message[];
    if (crash() && !lastChance) {
      crashes++;
      failed = messages;
    } else {
      invocations++;
      const run = await runDecommissioner(synth, endpoint, sqsEvent(messages, fleet.queue.arn));
      durations.push(run.durationMs);
      // Powertools fails the invocation when some messages failed ("not processed completely") or all did.
      if (run.error && !/not processed completely|All records failed processing/.test(run.error.message)) {
        throw new Error(`the handler failed: ${run.error.message}\nstderr:\n${run.stderr.slice(-4000)}`);
      }
      const ids = run.error ? messages.map((m) => m.MessageId!)
        : ((run.result?.batchItemFailures ?? []) as Array<{ itemIdentifier: string }>).map((f) => f.itemIdentifier);
      failed = messages.filter((m) => ids.includes(m.MessageId!));
    }
    const done = messages.filter((m) => !failed.includes(m));
    if (done.length > 0) {
      const deleted = await aws.sqs.send(new DeleteMessageBatchCommand({
        QueueUrl: fleet.queue.url, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }));
      if (deleted.Failed?.length) throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(deleted.Failed)}`);
    }
    for (const m of failed) {
      await aws.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: fleet.queue.url, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
    }
  }
  throw new Error(`the event queue was not empty after ${MAX_ROUNDS} rounds`);
}

interface EndState {
  readonly internal: Record<string, string[]>;
  readonly reverse: Record<string, string[]>;
  readonly alarms: string[];
  readonly status: Record<string, string>;
  /** Bus events by instance role: how many, and their states. */
  readonly busEvents: Record<string, number>;
  readonly deadLetter: number;
}

/** The end state with instance ids replaced by roles (ids differ between builds). */
async function endState(fleet: Fleet): Promise<EndState> {
  const byRole = (text: string) => text.replace(/i-[0-9a-f]+/g, (id) => fleet.role(id));
  const zone = async (id: string) => {
    const records = [...await zoneRecords(aws.route53, id)].map(([k, v]): [string, string[]] => [byRole(k), v]);
    return Object.fromEntries(records.sort(([a], [b]) => a.localeCompare(b)));
  };
  const items = await tableItems(aws.dynamodb, fleet.tableName);
  const busEvents: Record<string, number> = {};
  for (const e of await drainJson(aws.sqs, fleet.busInbox)) {
    const role = fleet.role(e.detail.instanceId);
    busEvents[role] = (busEvents[role] ?? 0) + 1;
  }
  const dlq = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: fleet.deadLetter.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return {
    internal: await zone(fleet.zones.internal),
    reverse: await zone(fleet.zones.reverse),
    alarms: await alarmNames(aws.cloudwatch),
    status: Object.fromEntries([...items].map(([id, item]) => [fleet.role(id), String(item.Status)]).sort(([a], [b]) => a.localeCompare(b))),
    busEvents,
    deadLetter: Number(dlq.Attributes!.ApproximateNumberOfMessages),
  };
}

/** `resourceType id action:result`, instance ids replaced by roles. */
function rowKey(fleet: Fleet, row: Row): string {
  return `${row.resourceType} ${row.id} ${row.details.instance ?? ''} ${row.action}:${row.result}`.replace(/i-[0-9a-f]+/g, (id) => fleet.role(id));
}

/** How many DONE rows each resource got, over every notification. */
function doneRows(fleet: Fleet, rows: readonly Row[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const row of rows.filter((r) => r.result === 'DONE')) out[rowKey(fleet, row)] = (out[rowKey(fleet, row)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Record set changes (action name type value) and alarm deletions that moto applied, with how many times. */
function applied(fleet: Fleet, recorder: CallRecorder): Map<string, number> {
  const times = new Map<string, number>();
  const bump = (key: string) => times.set(key, (times.get(key) ?? 0) + 1);
  for (const call of recorder.calls.filter((c) => c.status >= 200 && c.status < 300)) {
    if (call.operation === 'ChangeResourceRecordSets') {
      for (const change of call.body!.match(/<Change>[\s\S]*?<\/Change>/g) ?? []) {
        const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(change)?.[1];
        const values = [...change.matchAll(/<Value>([^<]*)<\/Value>/g)].map((m) => m[1]);
        for (const value of values) bump(`${tag('Action')} ${tag('Name')} ${tag('Type')} ${tag('SetIdentifier') ?? ''} ${value}`.replace(/i-[0-9a-f]+/g, (id) => fleet.role(id)));
      }
    } else if (call.operation === 'DeleteAlarms') {
      const body = decodeURIComponent(call.body!.replace(/\+/g, ' '));
      for (const r of ROLES) if (body.includes(alarmOf(r))) bump(`DeleteAlarms ${alarmOf(r)}`);
    }
  }
  return times;
}

/** Successful hook invocations per (hook, instance role). */
async function hooksDone(fleet: Fleet): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const i of await hookInvocations(moto.endpoint)) {
    if (i.FunctionError) continue;
    const key = `${i.FunctionName} ${fleet.role(i.Payload.detail.instanceId)}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

function events(fleet: Fleet, roles: readonly string[], state: 'running' | 'shutting-down' | 'terminated'): PutEventsRequestEntry[] {
  return roles.map((r) => stateChange(fleet.ids.get(r)!, state));
}

interface Run {
  readonly fleet: Fleet;
  readonly end: EndState;
  readonly rows: Row[];
  readonly recorder: CallRecorder;
  readonly proxy: FaultProxy;
  readonly hooks: Map<string, number>;
  readonly played: Played[];
}

/**
 * One fleet, its running events, the terminations, the shutting-down and terminated events. Fault-free:
 * in order, once each, no crash. Faulted: everything through the fault proxy, invocations crashing,
 * every event sent twice and shuffled.
 */
async function runFleet(faulted: boolean, chefFailsFor?: string): Promise<Run> {
  const fleet = await buildFleet(chefFailsFor);
  const proxy = await startFaultProxy({
    target: moto.endpoint, ...(faulted ? { seed: FAULT_SEED, throttleRate: THROTTLE_RATE, unavailableRate: UNAVAILABLE_RATE } : {}),
  });
  servers.push(proxy);
  // In front of the fault proxy: it names the REST operations (Route 53, Lambda) and keeps the bodies.
  const recorder = await startCallRecorder(proxy.endpoint);
  servers.push(recorder);
  // Lambda (the hooks) past the fault proxy: its throttling answer is query-style XML, which Lambda's
  // REST-JSON client cannot read (a SyntaxError, not a retryable TooManyRequestsException).
  const lambdaRecorder = await startCallRecorder(moto.endpoint);
  servers.push(lambdaRecorder);
  const synth = { ...fleet.synth, env: { ...fleet.synth.env, AWS_ENDPOINT_URL_LAMBDA: lambdaRecorder.endpoint } };
  const crashDraw = mulberry32(CRASH_SEED);
  const crash = faulted ? () => crashDraw() < CRASH_RATE : () => false;
  const order = mulberry32(SHUFFLE_SEED);
  const twice = (entries: PutEventsRequestEntry[]) => (faulted ? shuffle([...entries, ...entries], order) : entries);
  const played: Played[] = [];

  await putEvents(aws.eventbridge, twice(events(fleet, ROLES, 'running')));
  played.push(await play(fleet, synth, recorder.endpoint, crash));
  await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: DECOMMISSIONED.map((r) => fleet.ids.get(r)!) }));
  if (faulted) {
    await putEvents(aws.eventbridge, twice([...events(fleet, DECOMMISSIONED, 'shutting-down'), ...events(fleet, DECOMMISSIONED, 'terminated')]));
    played.push(await play(fleet, synth, recorder.endpoint, crash));
  } else {
    await putEvents(aws.eventbridge, events(fleet, DECOMMISSIONED, 'shutting-down'));
    played.push(await play(fleet, synth, recorder.endpoint, crash));
    await putEvents(aws.eventbridge, events(fleet, DECOMMISSIONED, 'terminated'));
    played.push(await play(fleet, synth, recorder.endpoint, crash));
  }
  const rows = (await readNotifications(aws.sqs, fleet.inbox)).flatMap((n) => parseRows(n.Message));
  return { fleet, end: await endState(fleet), rows, recorder, proxy, hooks: await hooksDone(fleet), played };
}

let cleanRun: Run | undefined;
/** The fault-free run, made once for both tests (its results are read back before the next reset). */
async function faultFree(): Promise<Run> {
  cleanRun ??= await runFleet(false);
  return cleanRun;
}

test('a. 30% throttling + 5% 503s, 30% crashed invocations, every event twice and shuffled: the fault-free end state, nothing applied twice, the same DONE rows', async () => {
  const started = Date.now();
  const clean = await faultFree();
  const faulted = await runFleet(true);

  // The fault-free run did the whole job, so that "the same" means something.
  expect(clean.end.status).toEqual(Object.fromEntries(ROLES.map((r) => [r, DECOMMISSIONED.includes(r) ? 'DECOMMISSIONED' : 'LIVE'])));
  expect(clean.end.alarms).toEqual(STAYING.map(alarmOf));
  expect(Object.keys(clean.end.internal)).toEqual([`${fqdn('db')} A`, ...STAYING.flatMap((r) => [`${fqdn(r)} A`, `${fqdn(r)} CNAME`])].sort());
  expect(Object.keys(clean.end.reverse)).toEqual(STAYING.map((r) => `${ptr(ipOf(r))} PTR`));
  expect(clean.end.busEvents).toEqual(Object.fromEntries(DECOMMISSIONED.map((r) => [r, 1])));
  expect(clean.end.deadLetter).toBe(0);

  // Faults were injected on the calls the bundle makes (Route 53's are "unknown" to the proxy; Lambda bypasses it).
  const injected: Record<string, number> = {};
  for (const c of faulted.proxy.calls) if (c.injected) injected[`${c.service}:${c.operation}`] = (injected[`${c.service}:${c.operation}`] ?? 0) + 1;
  const crashes = faulted.played.reduce((n, p) => n + p.crashes, 0);
  const maxReceives = Math.max(...faulted.played.flatMap((p) => [...p.receives.values()]));
  process.stderr.write(`instance-decommissioner faults a: fault-free ${clean.proxy.calls.length} requests, `
    + `${clean.played.reduce((n, p) => n + p.invocations, 0)} invocations; faulted ${faulted.proxy.calls.length} requests `
    + `(${Object.entries(injected).map(([k, v]) => `${k} ${v}`).join(', ')}), ${faulted.played.reduce((n, p) => n + p.invocations, 0)} invocations, `
    + `${crashes} crashes, most receives of one message ${maxReceives}; invocation ms: ${faulted.played.flatMap((p) => p.durations).join(' ')}\n`);
  // (the services called a few times only, CloudWatch, EventBridge, SNS, are hit or not as the draws fall)
  for (const service of ['ec2', 'dynamodb', 'route53']) {
    expect([service, Object.keys(injected).some((k) => k.startsWith(`${service}:`))]).toEqual([service, true]);
  }
  expect(Object.values(injected).reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
  expect(crashes).toBeGreaterThan(0);
  expect(maxReceives).toBeGreaterThan(1);

  // The same end state.
  expect(faulted.end).toEqual(clean.end);
  // Nothing applied twice, and what was applied is what the fault-free run applied.
  for (const run of [clean, faulted]) expect([...applied(run.fleet, run.recorder)].filter(([, n]) => n > 1)).toEqual([]);
  expect([...applied(faulted.fleet, faulted.recorder).keys()].sort()).toEqual([...applied(clean.fleet, clean.recorder).keys()].sort());
  expect(applied(clean.fleet, clean.recorder).size).toBe(DECOMMISSIONED.length * 4);
  // Each hook succeeded once per decommissioned instance.
  const wantHooks = [...DECOMMISSIONED.flatMap((r) => [`cmdb-deregister ${r}`, `chef-node-delete ${r}`])].sort();
  expect([...clean.hooks].sort()).toEqual(wantHooks.map((k) => [k, 1]));
  expect([...faulted.hooks].sort()).toEqual(wantHooks.map((k) => [k, 1]));
  // The report: the same DONE rows per resource, over every notification.
  expect(doneRows(faulted.fleet, faulted.rows)).toEqual(doneRows(clean.fleet, clean.rows));
  expect(Object.values(doneRows(clean.fleet, clean.rows)).every((n) => n === 1)).toBe(true);
  expect(Object.keys(doneRows(clean.fleet, clean.rows))).toHaveLength(DECOMMISSIONED.length * (4 + 2 + 1));
  // The queue is empty and nothing is in flight.
  const left = await aws.sqs.send(new GetQueueAttributesCommand({
    QueueUrl: faulted.fleet.queue.url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
  }));
  expect(left.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  process.stderr.write(`instance-decommissioner faults a: test ${Date.now() - started} ms\n`);
});

test('b. one hook always fails for one instance: the rest done, its messages in the dead-letter queue after maxReceiveCount receives, the failure reported', async () => {
  const clean = await faultFree();
  const failing = 'n04';
  const run = await runFleet(false, failing);
  const { fleet } = run;
  const maxReceiveCount = fleet.synth.queue.maxReceiveCount;
  expect(maxReceiveCount).toBe(5);

  // Its records and alarm went (cleanup comes before the hooks); its snapshot stays LIVE, without a bus event.
  expect(run.end.internal).toEqual(clean.end.internal);
  expect(run.end.reverse).toEqual(clean.end.reverse);
  expect(run.end.alarms).toEqual(clean.end.alarms);
  expect(run.end.status).toEqual({ ...clean.end.status, [failing]: 'LIVE' });
  const { [failing]: _none, ...otherEvents } = clean.end.busEvents;
  expect(run.end.busEvents).toEqual(otherEvents);

  // Its shutting-down and terminated messages: received maxReceiveCount times, then moved by the redrive policy.
  const dead = await drainJson(aws.sqs, fleet.deadLetter);
  expect(dead.map((e) => `${fleet.role(e.detail['instance-id'])}:${e.detail.state}`).sort()).toEqual([`${failing}:shutting-down`, `${failing}:terminated`]);
  const receivesOf = new Map<string, number>();
  for (const p of run.played) for (const [id, n] of p.receives) receivesOf.set(id, n);
  expect([...receivesOf.values()].filter((n) => n > 1)).toEqual([maxReceiveCount, maxReceiveCount]);

  // cmdb succeeded once (HooksDone keeps it from being called again); chef failed on every delivery.
  const invocations = await hookInvocations(moto.endpoint);
  const forFailing = invocations.filter((i) => fleet.role(i.Payload.detail.instanceId) === failing);
  expect(forFailing.filter((i) => i.FunctionName === 'cmdb-deregister').map((i) => i.FunctionError)).toEqual([null]);
  const chefCalls = forFailing.filter((i) => i.FunctionName === 'chef-node-delete');
  expect(chefCalls.length).toBeGreaterThanOrEqual(maxReceiveCount);
  expect(chefCalls.every((i) => i.FunctionError !== null)).toBe(true);
  expect([...run.hooks].filter(([k]) => !k.endsWith(` ${failing}`)).sort()).toEqual([...clean.hooks].filter(([k]) => !k.endsWith(` ${failing}`)).sort());

  // Every other resource has its DONE row, as in the fault-free run; the failing instance's records and alarm too.
  const cleanDone = doneRows(clean.fleet, clean.rows);
  // (the hook ARNs are the same in every build: the functions' names are)
  const want = Object.fromEntries(Object.entries(cleanDone)
    .filter(([k]) => k !== `instance ${failing}  DECOMMISSION:DONE` && k !== `hook ${fleet.hooks.chef} ${failing} INVOKE:DONE`));
  expect(Object.keys(want)).toHaveLength(Object.keys(cleanDone).length - 2);
  expect(doneRows(fleet, run.rows)).toEqual(want);
  // The failure, named in each notification about it: chef's row and the instance's.
  const failed = run.rows.filter((r) => r.result === 'FAILED').map((r) => rowKey(fleet, r));
  const deliveries = chefCalls.length;
  expect(failed.sort()).toEqual([
    ...Array(deliveries).fill(`hook ${fleet.hooks.chef} ${failing} INVOKE:FAILED`),
    ...Array(deliveries).fill(`instance ${failing}  DECOMMISSION:FAILED`),
  ].sort());
  for (const row of run.rows.filter((r) => r.resourceType === 'instance' && r.result === 'FAILED')) expect(row.reason).toContain(`hook(s) failed: ${fleet.hooks.chef}`);
  for (const row of run.rows.filter((r) => r.resourceType === 'hook' && r.result === 'FAILED')) expect(row.reason).toContain('ChefNodeLocked');
});
