/**
 * Property: whatever CloudFormation asks of an AmiManager, and however EC2 misbehaves meanwhile, a
 * resource leaves no image and no snapshot behind once it is deleted (RETAIN: exactly the images it
 * was told to keep, with their snapshots).
 *
 * 200 seeded sequences of create / replace / in-place update / delete / failed create / retried
 * create run the shipped bundle against moto through the fault proxy, which throttles 30% of the
 * calls and answers 5% with a plain HTTP 503; some sequences also have one call fail once (refused before it reaches moto) or lose one
 * response (the call is carried out, the handler gets a 500). Failed requests are handled the way
 * CloudFormation and the provider framework handle them: a failed onEvent Create is never followed
 * by a Delete the handler sees, a failed Update is rolled back, a failed Delete is retried.
 *
 * The runners shorten the handler's retry sleeps (DELAY_SCALE): the attempts are the same.
 * Each slot (a warm runner process with its own proxies) runs its sequences one after the other, so
 * the faults a sequence gets come from its own seed: AMI_LEAK_SEEDS=17,42 reruns just those.
 */
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import { EC2Client } from '@aws-sdk/client-ec2';
import {
  cfnEvent, Deployment, frameworkRequest, Invoker, launchInstance, longLivedInvoker, newStackId, ownedImages, ownedSnapshots,
  Properties, ResourceIdentity, synthesizedProperties, Duration, RemovalPolicy,
} from './ami-manager-harness';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { createTopicWithQueue, emulatorClients, EmulatorClients } from './fleet';
import { MotoServer, startMoto } from './moto';
import { mulberry32 } from './random';
import { OWNERSHIP_TAGS } from '../../src/ami-manager/contract';

jest.setTimeout(600_000);

const SEQUENCES = 200;
const SLOTS = 16;
const THROTTLE_RATE = 0.3;
/** Plain HTTP 503s without an error code, as a load balancer in front of an endpoint answers. */
const UNAVAILABLE_RATE = 0.05;
/** Operations a one-time fault may hit. */
const ONCE_OPERATIONS = [
  'CreateImage', 'DescribeImages', 'DescribeSnapshots', 'DeregisterImage', 'DeleteSnapshot', 'CreateTags', 'DeleteTags',
  'ModifyImageAttribute', 'ModifySnapshotAttribute', 'EnableImageDeprecation', 'DisableImageDeprecation', 'Publish',
] as const;
/**
 * The handler's retry backoffs (SDK and its own) run 50 times faster: the same attempts, without
 * minutes of sleeping under 30% throttling.
 */
const DELAY_SCALE = 0.02;
const DELETE_ATTEMPTS = 4;
const ROLLBACK_ATTEMPTS = 4;

let moto: MotoServer;
let clients: EmulatorClients;
let topicArn: string;
let goodInstance: string;
let failingInstance: string;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  moto = await startMoto();
  clients = emulatorClients(moto.endpoint);
  topicArn = (await createTopicWithQueue(clients, 'ami-leak-reports')).topicArn;
  goodInstance = await launchInstance(clients.ec2);
  failingInstance = await launchInstance(clients.ec2, 'Server.InternalError: fixture failure');
});

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await moto?.stop();
});

// ---- per-sequence faults ------------------------------------------------------------------------------

/** What one slot's proxies consult: the running sequence's PRNG and its armed one-time faults. */
interface FaultState {
  /** The running sequence's draws for random faults (throttle, unavailable). */
  random: () => number;
  refuseOnce?: string;
  loseOnce?: string;
}

/** The fault proxy, drawing throttles and 503s from the running sequence's PRNG and refusing one call once. */
async function slotFaultProxy(target: string, state: FaultState): Promise<FaultProxy> {
  const rules = ONCE_OPERATIONS.map((operation) => ({
    operation,
    code: 'IncorrectState',
    message: `${operation} refused once (injected)`,
    // The proxy reads resourceId only for a request of this operation, and fails it when the request
    // mentions the value: the Action parameter does, while the fault is armed.
    get resourceId(): string {
      if (state.refuseOnce !== operation) return '\u0000not-armed';
      state.refuseOnce = undefined;
      return operation;
    },
  }));
  return startFaultProxy({ target, throttleRate: THROTTLE_RATE, unavailableRate: UNAVAILABLE_RATE, random: () => state.random(), rules });
}

/** Forwards everything; while armed, one successful response of the operation is replaced by a 500 (the call was carried out). */
async function lossyProxy(target: string, state: FaultState): Promise<{ endpoint: string; lost: string[]; stop: () => Promise<void> }> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const lost: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const operation = new URLSearchParams(body.toString('utf8')).get('Action') ?? '';
      const options = { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent };
      const forward = http.request(options, (up) => {
        const parts: Buffer[] = [];
        up.on('data', (c: Buffer) => parts.push(c));
        up.on('end', () => {
          if (state.loseOnce === operation && up.statusCode === 200) {
            state.loseOnce = undefined;
            lost.push(operation);
            const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InternalError</Code>'
              + '<Message>An internal error has occurred (response lost, injected)</Message></Error></Errors><RequestID>lossy</RequestID></Response>';
            res.writeHead(500, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(xml) }).end(xml);
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders).end(Buffer.concat(parts));
        });
      });
      forward.on('error', (e) => res.writeHead(502).end(String(e)));
      forward.end(body);
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lost,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
      agent.destroy();
    }),
  };
}

interface Slot {
  readonly invoker: Invoker;
  readonly state: FaultState;
  readonly faults: FaultProxy;
  readonly lost: string[];
}

async function startSlot(): Promise<Slot> {
  // No random faults until a sequence installs its PRNG (a draw of 1 is never under a rate).
  const state: FaultState = { random: () => 1 };
  const faults = await slotFaultProxy(moto.endpoint, state);
  closers.push(() => faults.stop());
  const lossy = await lossyProxy(faults.endpoint, state);
  closers.push(() => lossy.stop());
  const invoker = longLivedInvoker(lossy.endpoint, DELAY_SCALE);
  closers.push(() => invoker.stop());
  return { invoker, state, faults, lost: lossy.lost };
}

// ---- one sequence -------------------------------------------------------------------------------------

type Op = 'create' | 'retriedCreate' | 'failedCreate' | 'replace' | 'inPlace' | 'delete';

interface Current { readonly id: string; readonly props: Properties }

interface SequenceResult {
  readonly seed: number;
  readonly ops: string[];
  readonly problems: string[];
  readonly retained: Set<string>;
  readonly who: ResourceIdentity;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

async function runSequence(seed: number, slot: Slot, base: { destroy: Properties; retain: Properties }): Promise<SequenceResult> {
  const random = mulberry32(seed);
  const faultRandom = mulberry32(seed + 0x5bd1e995);
  const who = { stackId: newStackId(`Leak${seed}`), logicalId: 'LeakImage' };
  const retainPolicy = random() < 0.2;
  const problems: string[] = [];
  const ops: string[] = [];
  const retained = new Set<string>();
  let version = 0;
  const propsFor = (changes: Record<string, unknown> = {}): Properties => ({ ...(retainPolicy ? base.retain : base.destroy), ...changes });
  let cur: Current | undefined;
  let defining: Record<string, unknown> = {};
  let mutable: Record<string, unknown> = {};

  slot.state.random = faultRandom;
  slot.state.refuseOnce = undefined;
  slot.state.loseOnce = undefined;
  const oneFaultAtStep = random() < 0.6 ? Math.floor(random() * 4) : -1;
  const oneFaultKind: 'refuse' | 'lose' = random() < 0.5 ? 'refuse' : 'lose';
  const oneFaultOperation = pick(random, ONCE_OPERATIONS);

  const request = (event: Parameters<typeof cfnEvent>) => frameworkRequest(slot.invoker, cfnEvent(...event));
  const keepOrExpectGone = (id: string, props: Properties) => { if (props.RemovalPolicy === 'retain') retained.add(id); };

  async function deleteResource(id: string, props: Properties, why: string): Promise<void> {
    for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt++) {
      const d = await request([who, 'Delete', props, { physicalResourceId: id }]);
      if (d.ok) {
        keepOrExpectGone(id, props);
        return;
      }
    }
    problems.push(`Delete of ${id} (${why}) failed ${DELETE_ATTEMPTS} times`);
  }

  async function imagesOfRequest(requestId: string) {
    return (await ownedImages(clients.ec2, who)).filter((i) => i.Tags?.some((t) => t.Key === OWNERSHIP_TAGS.requestId && t.Value === requestId));
  }

  async function create(instanceId: string, retried: boolean, expectFailure: boolean): Promise<void> {
    const props = propsFor({ InstanceId: instanceId, ...defining, ...mutable });
    const event = cfnEvent(who, 'Create', props);
    let duplicate: string | undefined;
    if (retried) {
      // The same request delivered twice: the first onEvent's answer is lost to the framework.
      const first = await slot.invoker.invoke(event);
      if (first.ok) duplicate = first.result.PhysicalResourceId;
    }
    const d: Deployment = await frameworkRequest(slot.invoker, event);
    if (duplicate && d.physicalResourceId && duplicate !== d.physicalResourceId) {
      problems.push(`retried Create ${event.RequestId} baked two images: ${duplicate} and ${d.physicalResourceId}`);
    }
    if (!d.ok && d.failedIn === 'onEvent') {
      // The framework reports a failed Create without a physical id and ignores the Delete that
      // follows: whatever onEvent started is never cleaned up.
      const left = await imagesOfRequest(event.RequestId);
      if (left.length > 0) {
        problems.push(`onEvent Create ${event.RequestId} threw (${d.message}) but left ${left.map((i) => i.ImageId).join(', ')}`);
      }
      cur = undefined;
      return;
    }
    if (!d.ok) {
      if (!expectFailure && !/injected|refused/.test(d.message ?? '')) problems.push(`Create failed unexpectedly in ${d.failedIn}: ${d.message}`);
      await deleteResource(d.physicalResourceId!, props, 'rollback of a failed Create');
      cur = undefined;
      return;
    }
    if (expectFailure) problems.push(`a Create of the failing instance succeeded: ${d.physicalResourceId}`);
    cur = { id: d.physicalResourceId!, props };
  }

  async function update(next: Properties): Promise<void> {
    const before = cur!;
    const d = await request([who, 'Update', next, { physicalResourceId: before.id, oldProperties: before.props }]);
    if (d.ok) {
      if (d.physicalResourceId !== before.id) await deleteResource(before.id, before.props, 'cleanup after a replacement');
      cur = { id: d.physicalResourceId!, props: next };
      return;
    }
    // UPDATE_FAILED: CloudFormation rolls back, sending the old properties to the resource's
    // current physical id (the new image, if onEvent had returned one); an operator continues a
    // failed rollback until it succeeds.
    const target = d.physicalResourceId ?? before.id;
    for (let attempt = 1; attempt <= ROLLBACK_ATTEMPTS; attempt++) {
      const rb = await request([who, 'Update', before.props, { physicalResourceId: target, oldProperties: next }]);
      if (!rb.ok) continue;
      // Cleanup: every physical id the resource had during the update that it no longer has.
      const earlier = new Map<string, Properties>([[target, next], [before.id, before.props]]);
      for (const [id, props] of earlier) {
        if (id !== rb.physicalResourceId) await deleteResource(id, props, 'cleanup after a rollback');
      }
      if (rb.physicalResourceId !== before.id) ops.push(`(rollback answered ${rb.physicalResourceId === target ? 'the failed image' : 'a new image'})`);
      cur = { id: rb.physicalResourceId!, props: before.props };
      return;
    }
    problems.push(`rollback of the update of ${before.id} failed ${ROLLBACK_ATTEMPTS} times`);
  }

  const steps = 2 + Math.floor(random() * 4);
  for (let step = 0; step < steps; step++) {
    if (step === oneFaultAtStep) {
      if (oneFaultKind === 'refuse') slot.state.refuseOnce = oneFaultOperation;
      else slot.state.loseOnce = oneFaultOperation;
      ops.push(`[${oneFaultKind} ${oneFaultOperation} once]`);
    }
    const choices: Op[] = cur ? ['replace', 'inPlace', 'inPlace', 'delete', 'replace'] : ['create', 'create', 'retriedCreate', 'failedCreate'];
    const op = pick(random, choices);
    ops.push(op);
    if (op === 'create' || op === 'retriedCreate') {await create(goodInstance, op === 'retriedCreate', false);} else if (op === 'failedCreate') {await create(failingInstance, false, true);} else if (op === 'replace') {
      defining = random() < 0.5 ? { ImageName: `leak-${seed}-v${++version}` } : { ImageName: cur!.props.ImageName, Description: `version ${++version}` };
      await update(propsFor({ InstanceId: goodInstance, ...defining, ...mutable }));
    } else if (op === 'inPlace') {
      mutable = {
        Tags: random() < 0.5 ? { team: 'a', v: String(++version) } : { other: 'b' },
        ShareWithAccounts: pick(random, [[], ['111122223333'], ['111122223333', '444455556666'], ['444455556666']]),
        ...(random() < 0.5 ? { DeprecateAfterSeconds: String(86_400 * (1 + Math.floor(random() * 30))) } : {}),
      };
      const next: Properties = { ...propsFor({ InstanceId: goodInstance, ...defining, ...mutable }) };
      if (!('DeprecateAfterSeconds' in mutable)) delete next.DeprecateAfterSeconds;
      await update(next);
    } else {
      await deleteResource(cur!.id, cur!.props, 'stack deletion');
      cur = undefined;
    }
  }
  slot.state.refuseOnce = undefined;
  slot.state.loseOnce = undefined;
  if (cur) {
    ops.push('delete');
    await deleteResource(cur.id, cur.props, 'stack deletion at the end');
  }
  return { seed, ops, problems, retained, who };
}

async function leftovers(ec2: EC2Client, result: SequenceResult): Promise<string[]> {
  const found: string[] = [];
  const images = await ownedImages(ec2, result.who);
  const imageIds = images.map((i) => i.ImageId!).sort();
  const expected = [...result.retained].sort();
  if (JSON.stringify(imageIds) !== JSON.stringify(expected)) found.push(`images ${JSON.stringify(imageIds)}, expected ${JSON.stringify(expected)}`);
  const snapshots = await ownedSnapshots(ec2, result.who);
  const stray = snapshots.filter((s) => !expected.some((id) => s.Description?.endsWith(` for ${id}`)));
  if (stray.length) found.push(`snapshots left: ${stray.map((s) => `${s.SnapshotId} (${s.Description})`).join(', ')}`);
  if (snapshots.length !== stray.length + 3 * expected.length) found.push(`${snapshots.length - stray.length} snapshots of retained images, expected ${3 * expected.length}`);
  return found;
}

test(`${SEQUENCES} random sequences under throttling and one-time faults leave nothing behind (RETAIN: exactly what was kept)`, async () => {
  const started = Date.now();
  const destroy = synthesizedProperties({ instanceId: goodInstance, imageName: 'leak', tags: { team: 'a' }, timeout: Duration.minutes(30) }, topicArn);
  const retain = synthesizedProperties({ instanceId: goodInstance, imageName: 'leak', tags: { team: 'a' }, timeout: Duration.minutes(30), removalPolicy: RemovalPolicy.RETAIN }, topicArn);
  expect(destroy.RemovalPolicy).toBe('destroy');
  expect(retain.RemovalPolicy).toBe('retain');

  const only = process.env.AMI_LEAK_SEEDS?.split(',').map(Number);
  const seeds = only ?? Array.from({ length: SEQUENCES }, (_, i) => 1000 + i);
  const slots = await Promise.all(Array.from({ length: Math.min(SLOTS, seeds.length) }, () => startSlot()));
  const queue = [...seeds];
  const results: SequenceResult[] = [];
  await Promise.all(slots.map(async (slot) => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
      results.push(await runSequence(seed, slot, { destroy, retain }));
    }
  }));

  const injected = slots.flatMap((slot) => slot.faults.calls.filter((c) => c.injected));
  const stats = {
    throttled: injected.filter((c) => c.injected === 'throttle').length,
    unavailable: injected.filter((c) => c.injected === 'unavailable').length,
    refused: injected.filter((c) => c.injected === 'rule').length,
    lost: slots.reduce((n, slot) => n + slot.lost.length, 0),
    forwarded: slots.reduce((n, slot) => n + slot.faults.forwarded().length, 0),
  };
  const opCount = (name: string) => results.reduce((n, r) => n + r.ops.filter((o) => o === name).length, 0);
  const failures: string[] = [];
  let retainedTotal = 0;
  for (const r of results.sort((a, b) => a.seed - b.seed)) {
    const found = [...r.problems, ...await leftovers(clients.ec2, r)];
    retainedTotal += r.retained.size;
    if (found.length) failures.push(`seed ${r.seed} [${r.ops.join(' ')}]:\n  ${found.join('\n  ')}`);
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  process.stderr.write(`ami-manager leak test: ${results.length} sequences, ${retainedTotal} retained images, ${seconds} s, `
    + `${JSON.stringify(stats)}, ops ${JSON.stringify(Object.fromEntries(['create', 'retriedCreate', 'failedCreate', 'replace', 'inPlace', 'delete'].map((o) => [o, opCount(o)])))}\n`);
  expect(results).toHaveLength(seeds.length);
  expect(failures).toEqual([]);
  // The property is not vacuous: sequences did keep images, and the faults did hit.
  if (!only) {
    expect(retainedTotal).toBeGreaterThan(0);
    const requests = stats.throttled + stats.unavailable + stats.forwarded;
    expect(stats.throttled / requests).toBeGreaterThan(0.2);
    expect(stats.unavailable / requests).toBeGreaterThan(0.02);
    expect(stats.refused).toBeGreaterThan(10);
    expect(stats.lost).toBeGreaterThan(10);
    for (const op of ['create', 'retriedCreate', 'failedCreate', 'replace', 'inPlace', 'delete']) expect(opCount(op)).toBeGreaterThan(10);
  }
});

// ---- known gaps, pinned -----------------------------------------------------------------------------

describe('single scenarios (one slot, no throttling)', () => {
  let slot: Slot;
  let props: Properties;
  beforeAll(async () => {
    slot = await startSlot();
    props = synthesizedProperties({ instanceId: goodInstance, imageName: 'pinned', timeout: Duration.minutes(30) }, topicArn);
  });
  beforeEach(() => {
    slot.state.random = () => 1;
    slot.state.refuseOnce = undefined;
    slot.state.loseOnce = undefined;
  });

  test('a lost CreateImage response is recovered: the retry finds the image by name, one image', async () => {
    const who = { stackId: newStackId('LostCreate'), logicalId: 'Img' };
    slot.state.loseOnce = 'CreateImage';
    const event = cfnEvent(who, 'Create', props);
    const d = await frameworkRequest(slot.invoker, event);
    expect(slot.state.loseOnce).toBeUndefined();
    expect(d.ok).toBe(true);
    const images = await ownedImages(clients.ec2, who);
    expect(images.map((i) => i.ImageId)).toEqual([d.physicalResourceId]);
    expect((await frameworkRequest(slot.invoker, cfnEvent(who, 'Delete', props, { physicalResourceId: d.physicalResourceId }))).ok).toBe(true);
    expect(await ownedImages(clients.ec2, who)).toEqual([]);
    expect(await ownedSnapshots(clients.ec2, who)).toEqual([]);
  });

  // Regression (found by this test): when CreateImage's response is lost and the DescribeImages that
  // looks for the image fails once too, onEvent Create must still find the image: the framework
  // ignores the Delete that follows a failed Create, so a thrown Create would leak it.
  test('onEvent Create that throws leaves no image, even when the look-up after a lost response fails', async () => {
    const who = { stackId: newStackId('LostCreateLookup'), logicalId: 'Img' };
    slot.state.loseOnce = 'CreateImage';
    slot.state.refuseOnce = 'DescribeImages';
    const event = cfnEvent(who, 'Create', props);
    const first = await slot.invoker.invoke(event);
    const left = await ownedImages(clients.ec2, who);
    // Clean up whatever the failure left, so the pinned bug does not leak into other tests.
    for (const image of left) {
      await frameworkRequest(slot.invoker, cfnEvent(who, 'Delete', props, { physicalResourceId: image.ImageId! }));
    }
    expect(first.ok ? [] : left.map((i) => i.ImageId)).toEqual([]);
    expect(first.ok).toBe(true);
  });

  // Regression (found by this test): when an Update that replaces the image fails in onEvent (no new
  // image), CloudFormation's rollback sends the old properties to the OLD physical id. The fingerprint
  // look-up finds that very image, which must be handed back, not re-baked (CloudFormation would then
  // delete the original).
  test('the rollback of a replacement that failed in onEvent hands back the original image', async () => {
    const who = { stackId: newStackId('RollbackRebake'), logicalId: 'Img' };
    const created = await frameworkRequest(slot.invoker, cfnEvent(who, 'Create', props));
    expect(created.ok).toBe(true);
    const original = created.physicalResourceId!;
    const next = { ...props, ImageName: 'pinned-v2' };
    slot.state.refuseOnce = 'CreateImage';
    const update = await frameworkRequest(slot.invoker, cfnEvent(who, 'Update', next, { physicalResourceId: original, oldProperties: props }));
    expect(update).toMatchObject({ ok: false, failedIn: 'onEvent' });
    const rollback = await frameworkRequest(slot.invoker, cfnEvent(who, 'Update', props, { physicalResourceId: original, oldProperties: next }));
    expect(rollback.ok).toBe(true);
    const images = (await ownedImages(clients.ec2, who)).map((i) => i.ImageId!);
    for (const id of images) await frameworkRequest(slot.invoker, cfnEvent(who, 'Delete', props, { physicalResourceId: id }));
    expect(await ownedImages(clients.ec2, who)).toEqual([]);
    expect(images).toEqual([original]);
    expect(rollback.physicalResourceId).toBe(original);
  });
});
