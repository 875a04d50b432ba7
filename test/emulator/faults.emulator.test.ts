/**
 * PackerCleaner's shipped bundle under faults: the handler reaches moto through the fault proxy
 * (fault-proxy.ts), configured from the synthesized template like packer-cleaner.emulator.test.ts.
 *
 * a. Throttling and 503s (seeded) change nothing about the outcome: the fleet ends exactly as in a
 *    fault-free run (compared by each instance's index tag, since instance ids differ between the
 *    two builds), no action reaches moto twice, and the report (returned summary and the SNS
 *    notification read back through SQS) counts exactly what changed. Publish goes through the
 *    proxy too; the notification still arrives exactly once.
 * b. One instance cannot be terminated (as with termination protection, the whole TerminateInstances
 *    call naming it fails): every other one is terminated and the failure is reported, with its
 *    code, as a PARTIAL_FAILURE.
 * c. 500+ malformed events, fed to ONE warm handler (invoke-many.cjs): each is rejected with an
 *    EventShapeError before any AWS request, and the proxy sees none. Near misses of an EventBridge
 *    "Scheduled Event" are among them. Every accepted shape (the Lambda console's Scheduled Event
 *    test event, a schedule rule's event, the construct's own Scheduler input, `{}`, `{"dryRun":true}`)
 *    through the same driver does make requests, so that zero means something.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CallRecord, FaultProxy, FaultProxyOptions, startFaultProxy } from './fault-proxy';
import {
  createInstances,
  createKeyPair,
  createTopicWithQueue,
  describeAllInstances,
  describeAllKeyPairs,
  EmulatorClients,
  emulatorClients,
  FixtureInstanceState,
  InstanceGroup,
  Notification,
  readNotifications,
} from './fleet';
import { awsEnv, EMULATOR_ACCOUNT, EMULATOR_REGION, MotoServer, startMoto } from './moto';
import { onlyNotification, parseCounts, parseRows } from './notification';
import { mulberry32, packerKeyName } from './random';
import { BundleRun, DAY, HOUR, MINUTE, runBundle, shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { PackerCleaner, PackerCleanerAction, PackerCleanerProps } from '../../src';
import { CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT } from '../helpers/scheduled-events';

jest.setTimeout(150_000);

const BUNDLE = shippedBundle('packer-cleaner');
const INVOKE_MANY = path.join(__dirname, 'invoke-many.cjs');
const PROTECT = 'fleet-janitor:protect';
const INDEX_TAG = 'fleet-index';
const BUNDLE_TIMEOUT_SECONDS = 90;
/**
 * The fault pattern is fixed by the seed, because the handler's requests come one at a time in a
 * fixed order. This seed was picked so that every operation of the run (DescribeInstances,
 * DescribeKeyPairs, TerminateInstances, DeleteKeyPair, Publish) is faulted at least once, and one
 * call is refused 5 times in a row: more than the SDK's 5 attempts, so the kit's own retryTransient
 * layer has to carry it. If the handler's request sequence changes, the test says so; pick another
 * seed with the same properties (simulate: one draw per request, a faulted request is retried).
 */
const FAULT_SEED = 20241041;
const THROTTLE_RATE = 0.3;
const UNAVAILABLE_RATE = 0.05;

let moto: MotoServer;
let aws: EmulatorClients;
const proxies: FaultProxy[] = [];

beforeAll(async () => {
  moto = await startMoto();
  aws = emulatorClients(moto.endpoint);
}, 300_000);

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
  await moto?.stop();
});

async function resetMoto(): Promise<void> {
  const response = await fetch(`${moto.endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
  expect(response.ok).toBe(true);
}

async function proxy(opts: Omit<FaultProxyOptions, 'target'> = {}): Promise<FaultProxy> {
  const p = await startFaultProxy({ target: moto.endpoint, ...opts });
  proxies.push(p);
  return p;
}

// ---- the construct -----------------------------------------------------------------------------------

const TERMINATE_PROPS: PackerCleanerProps = {
  action: PackerCleanerAction.TERMINATE,
  maxAge: Duration.hours(2),
  terminateStoppedAfter: Duration.days(1),
  maxActionsPerRun: 5000,
  cleanupKeyPairs: true,
};

function functionEnv(props: PackerCleanerProps, topicArn: string): Record<string, string> {
  const app = new App();
  const stack = new Stack(app, 'PackerCleanerFaults', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new PackerCleaner(stack, 'Cleaner', props);
  const env = functionEnvironmentFromTemplate(Template.fromStack(stack).toJSON(), { resolveRefs: { 'AWS::SNS::Topic': topicArn } });
  expect(env).toMatchObject({ TOPIC_ARN: topicArn, ACTION: 'TERMINATE', TERMINATE_STOPPED_AFTER_SECONDS: '86400', CLEANUP_KEY_PAIRS: 'true', MAX_ACTIONS_PER_RUN: '5000' });
  return env;
}

async function run(env: Record<string, string>, endpoint: string, event: unknown = { source: 'cdk-fleet-janitor.schedule' }): Promise<BundleRun> {
  const result = await runBundle({ bundlePath: BUNDLE, env, event, endpoint, timeoutSeconds: BUNDLE_TIMEOUT_SECONDS });
  if (result.error) throw new Error(`the handler failed: ${result.error.message}\n${result.error.stack ?? ''}\nstderr:\n${result.stderr.slice(-4000)}`);
  return result;
}

// ---- fleets ------------------------------------------------------------------------------------------

type Expected = 'TERMINATE' | 'KEEP' | 'PROTECTED' | 'OTHER';

interface Category {
  readonly name: string;
  readonly count: number;
  readonly state: FixtureInstanceState;
  readonly launchedAgo: number;
  readonly stoppedAgo?: number;
  /** Key pairs the category's instances share; undefined: no key. */
  readonly keys?: readonly string[];
  readonly protect?: string;
  /** What TERMINATE_PROPS do to it (stated here, not derived from the handler's rules). */
  readonly expected: Expected;
}

interface FleetSpec {
  readonly categories: readonly Category[];
  /** Key pairs no instance uses: name → age, protection tag value. */
  readonly orphans: ReadonlyArray<{ name: string; createdAgo: number; protect?: string; deleted: boolean }>;
}


/**
 * About 300 instances of every kind. Key names are fixed once (from `namingNow`) so both builds of
 * the fleet have the same ones; ages are relative to each build's own "now".
 */
function realisticFleet(seed: number, namingNow: number): FleetSpec {
  const random = mulberry32(seed);
  const keys = (n: number, ago: number) => Array.from({ length: n }, () => packerKeyName(random, namingNow - ago));
  const categories: Category[] = [
    { name: 'running-3h', count: 60, state: 'running', launchedAgo: 3 * HOUR, keys: keys(4, 3 * HOUR), expected: 'TERMINATE' },
    { name: 'running-5d', count: 30, state: 'running', launchedAgo: 5 * DAY, keys: keys(2, 5 * DAY), expected: 'TERMINATE' },
    { name: 'running-30m', count: 50, state: 'running', launchedAgo: 30 * MINUTE, keys: keys(4, 30 * MINUTE), expected: 'KEEP' },
    { name: 'stopped-2d', count: 25, state: 'stopped', launchedAgo: 5 * DAY, stoppedAgo: 2 * DAY, keys: keys(2, 5 * DAY), expected: 'TERMINATE' },
    { name: 'stopped-1h-launched-3h', count: 15, state: 'stopped', launchedAgo: 3 * HOUR, stoppedAgo: HOUR, keys: keys(1, 3 * HOUR), expected: 'TERMINATE' },
    { name: 'stopped-10m-launched-40m', count: 15, state: 'stopped', launchedAgo: 40 * MINUTE, stoppedAgo: 10 * MINUTE, keys: keys(1, 40 * MINUTE), expected: 'KEEP' },
    { name: 'protected-running-5d', count: 15, state: 'running', launchedAgo: 5 * DAY, keys: keys(1, 5 * DAY), protect: 'true', expected: 'PROTECTED' },
    { name: 'protected-stopped-2d', count: 5, state: 'stopped', launchedAgo: 3 * DAY, stoppedAgo: 2 * DAY, keys: keys(1, 3 * DAY), protect: '', expected: 'PROTECTED' },
    { name: 'prod-web', count: 50, state: 'running', launchedAgo: 90 * DAY, keys: ['prod-web'], expected: 'OTHER' },
    { name: 'packer-ci', count: 10, state: 'running', launchedAgo: 60 * DAY, keys: ['packer-ci'], expected: 'OTHER' },
    { name: 'no-key', count: 5, state: 'running', launchedAgo: 8 * DAY, expected: 'OTHER' },
    { name: 'batch-stopped', count: 10, state: 'stopped', launchedAgo: 20 * DAY, stoppedAgo: 2 * DAY, keys: ['batch'], expected: 'OTHER' },
    // Terminated before the run: out of scope, and their key pairs are old orphans.
    { name: 'terminated-2d', count: 5, state: 'terminated', launchedAgo: 2 * DAY, keys: keys(5, 2 * DAY), expected: 'OTHER' },
  ];
  const orphans = [
    { name: packerKeyName(random, namingNow - 2 * DAY), createdAgo: 2 * DAY, deleted: true },
    { name: packerKeyName(random, namingNow - 3 * HOUR), createdAgo: 3 * HOUR, deleted: true },
    { name: packerKeyName(random, namingNow - 30 * DAY), createdAgo: 30 * DAY, deleted: true },
    { name: packerKeyName(random, namingNow - 30 * MINUTE), createdAgo: 30 * MINUTE, deleted: false },
    { name: packerKeyName(random, namingNow - 4 * DAY), createdAgo: 4 * DAY, protect: 'keep', deleted: false },
    { name: 'prod-deploy', createdAgo: 400 * DAY, deleted: false },
    // Builds that failed before launching leave a key pair behind each: one DeleteKeyPair call apiece.
    ...Array.from({ length: 40 }, (_, i) => ({ name: packerKeyName(random, namingNow - (3 + i) * HOUR), createdAgo: (3 + i) * HOUR, deleted: true })),
  ];
  return { categories, orphans };
}

interface BuiltFleet {
  /** index → instance id */
  readonly ids: Map<number, string>;
  /** index → category */
  readonly categories: Map<number, Category>;
}

/** Build a fleet into (freshly reset) moto; every instance carries its index as a tag. */
async function buildFleet(spec: FleetSpec): Promise<BuiltFleet> {
  const now = Date.now();
  for (const o of spec.orphans) {
    await createKeyPair(aws.ec2, o.name, new Date(now - o.createdAgo), o.protect !== undefined ? { [PROTECT]: o.protect } : {});
  }
  const groups: InstanceGroup[] = [];
  const categoryOf = new Map<InstanceGroup, [number, Category]>();
  let index = 0;
  for (const c of spec.categories) {
    for (let i = 0; i < c.count; i++, index++) {
      const tags: Record<string, string> = { [INDEX_TAG]: String(index), team: 'images' };
      if (c.protect !== undefined) tags[PROTECT] = c.protect;
      const group: InstanceGroup = {
        keyName: c.keys?.[i % c.keys.length],
        name: c.name,
        state: c.state,
        launchTime: new Date(now - c.launchedAgo),
        stoppedAt: c.stoppedAgo !== undefined ? new Date(now - c.stoppedAgo) : undefined,
        tags,
      };
      groups.push(group);
      categoryOf.set(group, [index, c]);
    }
  }
  const ids = new Map<number, string>();
  const categories = new Map<number, Category>();
  for (const created of await createInstances(aws.ec2, groups)) {
    const [i, c] = categoryOf.get(created.group)!;
    ids.set(i, created.instanceId);
    categories.set(i, c);
  }
  return { ids, categories };
}

/** index → state, read from the emulator by the index tag. */
async function statesByIndex(): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const view of (await describeAllInstances(aws.ec2)).values()) {
    const index = Number(view.tags[INDEX_TAG]);
    expect(out.has(index)).toBe(false);
    out.set(index, view.state);
  }
  return out;
}

// ---- reading calls and notifications -------------------------------------------------------------------

/** Ids of a forwarded EC2 call that moto answered 2xx, e.g. InstanceId.1, InstanceId.2, ... */
function idsIn(record: CallRecord, prefix: string): string[] {
  return Object.entries(record.params).filter(([k]) => k === prefix || k.startsWith(`${prefix}.`)).map(([, v]) => v);
}

/** How many times each resource was sent to moto in a successful call of `operation`. */
function appliedTimes(p: FaultProxy, operation: string, param: string): Map<string, number> {
  const times = new Map<string, number>();
  for (const record of p.forwarded(operation)) {
    if (record.status < 200 || record.status > 299) continue;
    for (const id of idsIn(record, param)) times.set(id, (times.get(id) ?? 0) + 1);
  }
  return times;
}

function injectedByOperation(p: FaultProxy): Record<string, string> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of p.calls) {
    if (!r.injected) continue;
    out[r.operation] ??= {};
    out[r.operation][r.injected] = (out[r.operation][r.injected] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).map(([op, kinds]) => [op, Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(' + ')]));
}

/** The most times one request (same operation and parameters) was refused in a row before it got through. */
function longestRefusal(p: FaultProxy): number {
  let longest = 0;
  let streak = 0;
  let previous = '';
  for (const r of p.calls) {
    const key = JSON.stringify([r.operation, r.params]);
    if (key !== previous) streak = 0;
    previous = key;
    if (r.injected) longest = Math.max(longest, ++streak);
    else streak = 0;
  }
  return longest;
}


// ---- a. throttling and 503s ------------------------------------------------------------------------------

interface RunOutcome {
  /** index → state before and after the run */
  readonly statesBefore: Map<number, string>;
  readonly states: Map<number, string>;
  readonly keyPairsBefore: Set<string>;
  readonly keyPairs: Set<string>;
  readonly result: any;
  readonly notification: Notification;
  readonly proxy: FaultProxy;
  readonly fleet: BuiltFleet;
  readonly durationMs: number;
}

async function buildAndRun(spec: FleetSpec, faults: Omit<FaultProxyOptions, 'target'>): Promise<RunOutcome> {
  await resetMoto();
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-faults');
  const env = functionEnv(TERMINATE_PROPS, topicArn);
  const fleet = await buildFleet(spec);
  const statesBefore = await statesByIndex();
  const keyPairsBefore = new Set((await describeAllKeyPairs(aws.ec2)).keys());
  const p = await proxy(faults);
  const result = await run(env, p.endpoint);
  return {
    statesBefore,
    keyPairsBefore,
    states: await statesByIndex(),
    keyPairs: new Set((await describeAllKeyPairs(aws.ec2)).keys()),
    result: result.result,
    notification: onlyNotification(await readNotifications(aws.sqs, queueUrl)),
    proxy: p,
    fleet,
    durationMs: result.durationMs,
  };
}

/** No action reached moto twice, and the report says exactly what changed. */
function expectConsistent(outcome: RunOutcome): void {
  const before = outcome.statesBefore;
  const keysBefore = outcome.keyPairsBefore;
  const p = outcome.proxy;
  const terminations = appliedTimes(p, 'TerminateInstances', 'InstanceId');
  const deletions = appliedTimes(p, 'DeleteKeyPair', 'KeyName');
  expect([...terminations].filter(([, n]) => n > 1)).toEqual([]);
  expect([...deletions].filter(([, n]) => n > 1)).toEqual([]);
  // Injected failures never reach moto; forwarded ones all succeeded.
  expect(p.forwarded().filter((r) => r.status < 200 || r.status > 299)).toEqual([]);
  const publishes = p.forwarded('Publish');
  expect(publishes).toHaveLength(1);

  const changedIndexes = [...before].filter(([i, state]) => outcome.states.get(i) !== state).map(([i]) => i);
  const changedIds = new Set(changedIndexes.map((i) => outcome.fleet.ids.get(i)!));
  const deletedKeys = new Set([...keysBefore].filter((k) => !outcome.keyPairs.has(k)));
  for (const i of changedIndexes) expect([i, outcome.states.get(i)]).toEqual([i, 'terminated']);
  expect(new Set(terminations.keys())).toEqual(changedIds);
  expect(new Set(deletions.keys())).toEqual(deletedKeys);

  const counts = outcome.result.counts;
  expect(outcome.result.status).toBe('SUCCEEDED');
  expect(counts).toMatchObject({ actionsTaken: changedIds.size + deletedKeys.size, actionsFailed: 0, wouldAct: 0, skippedCap: 0 });
  expect(parseCounts(outcome.notification.Message)).toEqual(counts);
  const rows = parseRows(outcome.notification.Message);
  expect(rows.size).toBe(counts.matched);
  const done = [...rows.values()].filter((r) => r.result === 'DONE');
  expect(new Set(done.filter((r) => r.resourceType === 'instance').map((r) => r.id))).toEqual(changedIds);
  expect(new Set(done.filter((r) => r.resourceType === 'key-pair').map((r) => r.id))).toEqual(deletedKeys);
  expect([...rows.values()].filter((r) => r.result === 'FAILED')).toEqual([]);
  expect(outcome.notification.Subject).toContain(`${counts.actionsTaken} done`);
}

test('a. 30% throttling + 5% 503s (seeded): same end state as a fault-free run, no action applied twice, report exact and sent once', async () => {
  const started = Date.now();
  const spec = realisticFleet(424242, Date.now());
  const indexes = spec.categories.reduce((n, c) => n + c.count, 0);
  expect(indexes).toBeGreaterThanOrEqual(290);

  const clean = await buildAndRun(spec, {});
  const cleanMs = Date.now() - started;
  const faulted = await buildAndRun(spec, { seed: FAULT_SEED, throttleRate: THROTTLE_RATE, unavailableRate: UNAVAILABLE_RATE });

  const injected = faulted.proxy.calls.filter((r) => r.injected);
  const attempts = Object.values(faulted.proxy.counts()).reduce((a, b) => a + b, 0);
  process.stderr.write(`faults a: ${indexes} instances; fault-free run ${clean.durationMs} ms with ${clean.proxy.calls.length} requests `
    + `${JSON.stringify(clean.proxy.counts())}; faulted run (seed ${FAULT_SEED}, ${THROTTLE_RATE * 100}% throttle + ${UNAVAILABLE_RATE * 100}% 503) `
    + `${faulted.durationMs} ms with ${attempts} requests, ${injected.length} injected (${injected.filter((r) => r.injected === 'throttle').length} throttle, `
    + `${injected.filter((r) => r.injected === 'unavailable').length} unavailable) ${JSON.stringify(injectedByOperation(faulted.proxy))}, longest refusal of one request ${longestRefusal(faulted.proxy)} in a row; `
    + `counts ${JSON.stringify(faulted.result.counts)}; `
    + `first build+run ${cleanMs} ms, both ${Date.now() - started} ms\n`);

  // The fault-free run did what the configuration says, category by category.
  for (const [i, c] of clean.fleet.categories) {
    const want = c.expected === 'TERMINATE' ? 'terminated' : c.state;
    expect([i, c.name, clean.states.get(i)]).toEqual([i, c.name, want]);
  }
  const expectedDeleted = new Set([...spec.orphans.filter((o) => o.deleted).map((o) => o.name),
    ...spec.categories.filter((c) => c.name === 'terminated-2d').flatMap((c) => c.keys!)]);
  expect(faulted.keyPairsBefore).toEqual(clean.keyPairsBefore);
  expect(faulted.statesBefore).toEqual(clean.statesBefore);
  expect(new Set([...clean.keyPairsBefore].filter((k) => !clean.keyPairs.has(k)))).toEqual(expectedDeleted);
  expect(clean.proxy.calls.filter((r) => r.injected)).toEqual([]);

  // The faulted run: faults were really injected, on the way in and on the report's way out alike.
  expect(injected.length).toBeGreaterThan(0);
  expect(new Set(injected.map((r) => r.injected))).toEqual(new Set(['throttle', 'unavailable']));
  expect(Object.keys(injectedByOperation(faulted.proxy)).sort()).toEqual(['DeleteKeyPair', 'DescribeInstances', 'DescribeKeyPairs', 'Publish', 'TerminateInstances']);
  expect(longestRefusal(faulted.proxy)).toBeGreaterThanOrEqual(5);

  // Same end state, index by index, and the same key pairs.
  expect(faulted.states).toEqual(clean.states);
  expect(faulted.keyPairs).toEqual(clean.keyPairs);

  for (const outcome of [clean, faulted]) expectConsistent(outcome);
  // The same report, faults or not (only instance ids differ between the two builds).
  expect(faulted.result.counts).toEqual(clean.result.counts);
  expect(faulted.result.counts.actionsTaken).toBe(
    [...clean.fleet.categories.values()].filter((c) => c.expected === 'TERMINATE').length + expectedDeleted.size);

});

// ---- b. one instance cannot be terminated ------------------------------------------------------------------

test('b. an instance that refuses termination (OperationNotPermitted) is reported as failed; all others are terminated', async () => {
  await resetMoto();
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-refusal');
  const env = functionEnv(TERMINATE_PROPS, topicArn);
  const spec = realisticFleet(77, Date.now());
  const small: FleetSpec = {
    categories: spec.categories.map((c) => ({ ...c, count: Math.max(1, Math.round(c.count / 10)) })),
    orphans: spec.orphans,
  };
  const fleet = await buildFleet(small);
  const before = await statesByIndex();
  const keysBefore = new Set((await describeAllKeyPairs(aws.ec2)).keys());
  const due = [...fleet.categories].filter(([, c]) => c.expected === 'TERMINATE').map(([i]) => i);
  expect(due.length).toBeGreaterThanOrEqual(5);
  const refusingIndex = due[Math.floor(due.length / 2)];
  const refusing = fleet.ids.get(refusingIndex)!;

  const p = await proxy({
    rules: [{
      operation: 'TerminateInstances',
      resourceId: refusing,
      code: 'OperationNotPermitted',
      message: `The instance '${refusing}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`,
    }],
  });
  const result = (await run(env, p.endpoint)).result;

  // End state: every due instance but the refusing one is terminated; nothing else changed.
  const after = await statesByIndex();
  const keysAfter = new Set((await describeAllKeyPairs(aws.ec2)).keys());
  for (const [i, c] of fleet.categories) {
    const want = c.expected === 'TERMINATE' && i !== refusingIndex ? 'terminated' : before.get(i);
    expect([i, c.name, after.get(i)]).toEqual([i, c.name, want]);
  }
  // The batch naming it failed whole (never reached moto); the per-instance fallback tried it once more.
  const refused = p.calls.filter((r) => r.injected === 'rule');
  expect(refused).toHaveLength(2);
  expect(idsIn(refused[0], 'InstanceId').length).toBe(due.length);
  expect(idsIn(refused[1], 'InstanceId')).toEqual([refusing]);
  const terminations = appliedTimes(p, 'TerminateInstances', 'InstanceId');
  expect([...terminations].filter(([, n]) => n > 1)).toEqual([]);
  expect(new Set(terminations.keys())).toEqual(new Set(due.filter((i) => i !== refusingIndex).map((i) => fleet.ids.get(i)!)));

  // The summary.
  expect(result.status).toBe('PARTIAL_FAILURE');
  expect(result.error).toBeUndefined();
  expect(result.counts.actionsFailed).toBe(1);
  const deletedKeys = [...keysBefore].filter((k) => !keysAfter.has(k));
  expect(deletedKeys.length).toBeGreaterThanOrEqual(small.orphans.filter((o) => o.deleted).length);
  expect(result.counts.actionsTaken).toBe(due.length - 1 + deletedKeys.length);
  const failed = result.entries.filter((e: any) => e.outcome === 'FAILED');
  expect(failed).toEqual([expect.objectContaining({ resourceType: 'instance', id: refusing, action: 'TERMINATE', errorCode: 'OperationNotPermitted' })]);

  // The notification.
  const n = onlyNotification(await readNotifications(aws.sqs, queueUrl));
  expect(n.Subject).toContain('1 failed');
  expect(n.Message).toContain(': PARTIAL_FAILURE');
  expect(parseCounts(n.Message)).toEqual(result.counts);
  const rows = parseRows(n.Message);
  expect(rows.get(refusing)).toEqual({ resourceType: 'instance', id: refusing, action: 'TERMINATE', result: 'FAILED', error: 'OperationNotPermitted' });
  // Failures are listed first.
  expect(n.Message.split('\n').find((l) => l.startsWith('- '))).toContain(refusing);
  expect([...rows.values()].filter((r) => r.result === 'FAILED')).toHaveLength(1);
});

// ---- c. malformed events --------------------------------------------------------------------------------

type Problem = 'not-an-object' | 'unknown-key' | 'bad-source' | 'bad-dryRun' | 'bad-scheduled-event';

const ENVELOPE_KEYS = ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'];

/**
 * The accepted Scheduled Event, restated: known keys only; "detail-type" exactly "Scheduled Event"
 * from "source" "aws.events"; id, account, time, region and resources present; "version" optional
 * digits; a 12-digit account; a UTC timestamp that is a real date; a region name; 1 to 10 rule
 * ARNs; "detail" absent or {}.
 */
function isValidScheduledEvent(record: Record<string, unknown>): boolean {
  const str = (v: unknown, max: number, re: RegExp) => typeof v === 'string' && v.length <= max && re.test(v);
  const arn = /^arn:aws(-[a-z]+)*:events:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:rule\/[0-9A-Za-z._\-/]+$/;
  const d = record.detail;
  return Object.keys(record).every((k) => ENVELOPE_KEYS.includes(k))
    && record['detail-type'] === 'Scheduled Event' && record.source === 'aws.events'
    && (record.version === undefined || str(record.version, 8, /^\d+$/))
    && str(record.id, 128, /^[0-9A-Za-z-]+$/)
    && str(record.account, 12, /^\d{12}$/)
    && str(record.time, 40, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/) && !Number.isNaN(Date.parse(record.time as string))
    && str(record.region, 32, /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/)
    && Array.isArray(record.resources) && record.resources.length >= 1 && record.resources.length <= 10
    && record.resources.every((r) => str(r, 1_600, arn))
    && (d === undefined || (d !== null && typeof d === 'object' && !Array.isArray(d) && Object.keys(d).length === 0));
}

/** The accepted shapes, restated independently of lambda/shared/event.ts: which problems an event has. */
function problemsOf(event: unknown): Problem[] {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return ['not-an-object'];
  const problems: Problem[] = [];
  const record = event as Record<string, unknown>;
  // Any envelope field other than "source" makes it a Scheduled Event, judged as a whole.
  if (Object.keys(record).some((k) => k !== 'source' && ENVELOPE_KEYS.includes(k))) return isValidScheduledEvent(record) ? [] : ['bad-scheduled-event'];
  if (Object.keys(record).some((k) => k !== 'source' && k !== 'dryRun')) problems.push('unknown-key');
  if (Object.prototype.hasOwnProperty.call(record, 'source')
    && !(typeof record.source === 'string' && record.source.length <= 256)) problems.push('bad-source');
  if (Object.prototype.hasOwnProperty.call(record, 'dryRun') && typeof record.dryRun !== 'boolean') problems.push('bad-dryRun');
  return problems;
}

/** What a rejection message must mention for each problem. */
const MENTIONS: Record<Problem, RegExp> = {
  'not-an-object': /expected a JSON object/,
  'unknown-key': /unexpected field/,
  'bad-source': /"source" must be a string/,
  'bad-dryRun': /"dryRun" must be true or false/,
  'bad-scheduled-event': /^Rejected event: not a valid EventBridge Scheduled Event: /,
};

const HUGE = 1024 * 1024;

/** A JSON object with an own property named `key` (also "__proto__"), the way JSON.parse makes one. */
function withKey(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

function nested(depth: number, leaf: unknown, key = 'a'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { [key]: value };
  return value;
}

/** Events of 1 MB and more: a few of each kind (every one is a megabyte in the events file). */
function hugeEvents(): unknown[] {
  return [
    'x'.repeat(HUGE),
    withKey({ source: 'x' }, 'k'.repeat(HUGE), true),
    { dryRun: true, extra: 'y'.repeat(HUGE) },
    { source: 's'.repeat(HUGE), dryRun: true },
    { source: 's'.repeat(HUGE) },
    { dryRun: 'd'.repeat(HUGE) },
    [{ source: 'a'.repeat(HUGE) }],
    { source: 'cdk-fleet-janitor.schedule', payload: Array.from({ length: 1024 }, (_, i) => ({ i, pad: 'p'.repeat(1024) })) },
  ];
}

/** 500+ events, each invalid by construction (checked with problemsOf), from a seeded generator. */
function malformedEvents(seed: number, count: number): unknown[] {
  const random = mulberry32(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const string = (max: number) => Array.from({ length: int(max + 1) }, () => String.fromCharCode(32 + int(95))).join('');
  const randomJson = (depth: number): unknown => {
    switch (int(depth > 3 ? 5 : 7)) {
      case 0: return null;
      case 1: return random() < 0.5;
      case 2: return pick([0, -1, 1, 3.14, -1e308, 1e308, 2 ** 53, int(1e9)]);
      case 3: return string(40);
      case 4: return pick(['', 'true', '{}', '[]', 'null', '{"source":"x"}']);
      case 5: return Array.from({ length: int(4) }, () => randomJson(depth + 1));
      default: return Object.fromEntries(Array.from({ length: int(4) }, () => [string(10), randomJson(depth + 1)]));
    }
  };
  const notString = (): unknown => pick([null, 0, 1, true, false, [], ['x'], {}, { source: 'x' }, 3.5, nested(50, 'x')]);
  const notBoolean = (): unknown => pick([null, 0, 1, 'true', 'false', 'yes', '', [], [true], {}, { dryRun: true }, 'TRUE']);
  const pollutionKeys = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString', 'valueOf'];
  const nearKeys = ['Source', 'SOURCE', 'dryrun', 'DryRun', 'dry_run', 'source ', ' dryRun', '', 'detail', 'detail-type', 'time', 'resources', 'action', 'maxActionsPerRun'];
  const validBase = (): Record<string, unknown> => pick([{}, { source: 'cdk-fleet-janitor.schedule' }, { dryRun: true }, { source: 'x', dryRun: false }]);
  const scheduledBase = (): Record<string, unknown> =>
    structuredClone(pick([CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT]) as Record<string, unknown>);
  const ruleArn = (name: string) => `arn:aws:events:us-east-1:123456789012:rule/${name}`;
  /** For each envelope field, values that are almost right (every one invalid). */
  const NEAR_MISS_VALUES: Record<string, unknown[]> = {
    'detail-type': ['scheduled event', 'Scheduled Event ', 'Scheduled  Event', 'ScheduledEvent', 'Scheduled Events', '', null, ['Scheduled Event'], 'S'.repeat(5_000)],
    'source': ['aws.event', 'aws.scheduler', 'AWS.events', ' aws.events', 'cdk-fleet-janitor.schedule', '', null, 0],
    'version': [0, '', 'v0', '0'.repeat(9), null, {}],
    'id': ['', 'not an id', 'x'.repeat(129), 42, null, ['53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa']],
    'account': ['12345678901', '1234567890123', 'abcdefghijkl', 123456789012, '', null],
    'time': ['1970-01-01 00:00:00', '2015-10-08T16:53:06+02:00', '2015-10-08T16:53:06', 'yesterday', '2015-13-45T25:61:61Z', '', 0, null],
    'region': ['US-EAST-1', 'us_east_1', 'useast1', 'us-east-1 ', '', 'us-east-1'.repeat(5), null],
    'resources': [[], ruleArn('x'), [1], [null], ['arn:aws:sns:us-east-1:123456789012:topic'], ['arn:aws:events:us-east-1:1234:rule/x'],
      Array.from({ length: 11 }, (_, i) => ruleArn(`r${i}`)), [ruleArn('x'.repeat(2_000))], {}, null],
    'detail': [{ a: 1 }, { dryRun: false }, null, [], '{}', 0, { detail: {} }],
  };
  const nearMiss = (): Record<string, unknown> => {
    const key = pick(Object.keys(NEAR_MISS_VALUES));
    return { ...scheduledBase(), [key]: pick(NEAR_MISS_VALUES[key]) };
  };

  const generators: Array<() => unknown> = [
    // not objects
    () => pick([null, 0, -0, 1, 42, -7.5, 1e308, true, false]),
    () => string(100),
    () => pick(['', '{}', '{"dryRun":true}', 'null', 'undefined']),
    () => Array.from({ length: int(5) }, () => randomJson(1)),
    () => pick([[], [{}], [{ source: 'x' }], [{ dryRun: true }], [[[]]]]),
    () => [nested(1 + int(1000), {})],
    () => nested(1 + int(1000), [], '0'),
    // unknown keys (with otherwise valid fields)
    () => withKey(validBase(), pick(pollutionKeys), pick([{ dryRun: false }, { polluted: true }, null, 'x', {}])),
    () => withKey(validBase(), pick(nearKeys), randomJson(1)),
    () => withKey(validBase(), string(20) || 'k', randomJson(1)),
    () => withKey({}, 'nested', nested(1 + int(2000), pick([1, 'x', null, {}]))),
    () => ({ ...validBase(), extra: 'y'.repeat(int(10_000)) }),
    () => JSON.parse('{"__proto__": {"dryRun": false, "isAdmin": true}}'),
    () => JSON.parse('{"source": "x", "constructor": {"prototype": {"dryRun": false}}}'),
    () => Object.fromEntries(Array.from({ length: 3 + int(300) }, (_, i) => [`key${i}`, i])),
    () => { const o = randomJson(0); return o && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length ? o : { junk: o }; },
    // wrong source
    () => ({ source: notString() }),
    () => ({ source: 'a'.repeat(257 + int(1000)) }),
    () => ({ source: 's'.repeat(257 + int(100_000)), dryRun: true }),
    () => ({ source: nested(1 + int(2000), 'deep') }),
    () => ({ source: notString(), dryRun: random() < 0.5 }),
    // wrong dryRun
    () => ({ dryRun: notBoolean() }),
    () => ({ source: 'cdk-fleet-janitor.schedule', dryRun: notBoolean() }),
    () => ({ dryRun: nested(1 + int(1000), true) }),
    () => ({ dryRun: 'd'.repeat(int(10_000)) }),
    // several problems at once
    () => ({ source: notString(), dryRun: notBoolean(), [pick(nearKeys) || 'x']: randomJson(2) }),
    // near misses of an EventBridge Scheduled Event: one field off, one missing, one too many
    nearMiss,
    nearMiss,
    nearMiss,
    () => { const e: Record<string, unknown> = scheduledBase(); delete e[pick(['id', 'detail-type', 'source', 'account', 'time', 'region', 'resources'])]; return e; },
    () => withKey(scheduledBase(), pick(['dryRun', 'detail_type', 'Detail-Type', 'Source', 'DetailType', 'replay-name', 'action', '__proto__', 'constructor']), pick([true, false, 'Scheduled Event', {}, null])),
    () => ({ ...scheduledBase(), 'detail-type': pick(['EC2 Instance State-change Notification', 'AWS API Call via CloudTrail', 'Object Created']), 'source': pick(['aws.ec2', 'aws.s3', 'aws.events']), 'detail': { 'instance-id': 'i-0123456789abcdef0', 'state': 'running' } }),
    () => pick([
      { 'detail-type': 'Scheduled Event', 'source': 'aws.events' },
      { 'detail-type': 'Scheduled Event', 'source': 'aws.events', 'dryRun': true },
      { source: 'cdk-fleet-janitor.schedule', time: '2026-01-01T00:00:00Z' },
      { dryRun: false, detail: {} },
      { ...scheduledBase(), detail: { ...scheduledBase() } },
      { ...scheduledBase(), resources: [...scheduledBase().resources as string[], 'arn:aws:sns:us-east-1:123456789012:topic'] },
    ]),
  ];

  const events: unknown[] = hugeEvents();
  while (events.length < count) {
    // A JSON round trip is what the event goes through to reach the handler (the test checks
    // that every event still has a problem afterwards: nothing valid slips in).
    events.push(JSON.parse(JSON.stringify(generators[int(generators.length)]()) ?? 'null'));
  }
  return events;
}

interface ManyOutcome {
  readonly ok: boolean;
  readonly name?: string;
  readonly message?: string;
  readonly messageLength?: number;
  readonly status?: string;
  readonly counts?: Record<string, number>;
}

/** Run invoke-many.cjs: one node process, the bundle loaded once, each event in turn. */
async function invokeMany(
  env: Record<string, string>,
  endpoint: string,
  events: unknown[],
): Promise<{ outcomes: ManyOutcome[]; durationMs: number; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invoke-many-'));
  try {
    const eventsPath = path.join(dir, 'events.json');
    const outcomesPath = path.join(dir, 'outcomes.json');
    fs.writeFileSync(eventsPath, JSON.stringify(events));
    const child = spawn(process.execPath, [INVOKE_MANY, BUNDLE, eventsPath, outcomesPath], {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_LAMBDA_FUNCTION_NAME: 'packer-cleaner',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        TZ: 'UTC',
        ...env,
        ...awsEnv(endpoint),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-16_000); });
    const timer = setTimeout(() => child.kill('SIGKILL'), BUNDLE_TIMEOUT_SECONDS * 1000);
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    clearTimeout(timer);
    if (!fs.existsSync(outcomesPath)) throw new Error(`invoke-many exited (${exitCode}) without outcomes. stderr:\n${stderr}`);
    const out = JSON.parse(fs.readFileSync(outcomesPath, 'utf8'));
    if (!out.ok) throw new Error(`invoke-many failed: ${out.error.message}\n${out.error.stack}\nstderr:\n${stderr}`);
    return { outcomes: out.outcomes, durationMs: out.durationMs, stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('c. 500+ malformed events are each rejected with EventShapeError before any AWS request; every accepted shape does make requests', async () => {
  const started = Date.now();
  await resetMoto();
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-fuzz');
  const env = functionEnv(TERMINATE_PROPS, topicArn);
  const spec = realisticFleet(5, Date.now());
  // A live TERMINATE configuration and instances that are due: only the rejection stands between them.
  const fleet = await buildFleet({ categories: spec.categories.map((c) => ({ ...c, count: Math.min(c.count, 2) })), orphans: spec.orphans });
  const before = await statesByIndex();

  const events = malformedEvents(31337, 540);
  const kinds = new Map<Problem, number>();
  for (const e of events) for (const problem of problemsOf(e)) kinds.set(problem, (kinds.get(problem) ?? 0) + 1);
  for (const problem of Object.keys(MENTIONS) as Problem[]) expect([problem, (kinds.get(problem) ?? 0) > 30]).toEqual([problem, true]);
  // The restatement accepts what it should, so "has a problem" below means something.
  for (const ok of [CONSOLE_SCHEDULED_EVENT, RULE_SCHEDULED_EVENT, {}, { dryRun: true }, { source: 'cdk-fleet-janitor.schedule' }]) expect(problemsOf(ok)).toEqual([]);
  expect(events.filter((e) => JSON.stringify(e).length >= HUGE).length).toBeGreaterThanOrEqual(8);
  expect(events.every((e) => problemsOf(e).length > 0)).toBe(true);
  expect(events.some((e) => e !== null && typeof e === 'object' && Object.prototype.hasOwnProperty.call(e, '__proto__'))).toBe(true);

  const p = await proxy();
  const fuzz = await invokeMany(env, p.endpoint, events);

  expect(fuzz.outcomes).toHaveLength(events.length);
  const wrong: string[] = [];
  fuzz.outcomes.forEach((o, i) => {
    const problems = problemsOf(events[i]);
    const fine = !o.ok && o.name === 'EventShapeError' && typeof o.message === 'string'
      && o.message.startsWith('Rejected event:') && o.message.endsWith('No resource was changed.')
      && o.messageLength! < 1_000 && problems.some((problem) => MENTIONS[problem].test(o.message!));
    if (!fine) wrong.push(`#${i} (${problems.join(', ')}; ${JSON.stringify(events[i])?.slice(0, 120)}): ${JSON.stringify(o).slice(0, 300)}`);
  });
  expect(wrong).toEqual([]);
  // Not one request of any kind, so certainly nothing that changes anything.
  expect(p.calls).toEqual([]);
  expect(await statesByIndex()).toEqual(before);
  expect(await readNotifications(aws.sqs, queueUrl)).toEqual([]);

  // The same driver, the same configuration, a valid event: it does reach AWS. The first one (the
  // Lambda console's Scheduled Event test event) finds the due instances and terminates them.
  const first = await invokeMany(env, p.endpoint, [CONSOLE_SCHEDULED_EVENT]);
  expect(first.outcomes).toEqual([expect.objectContaining({ ok: true, status: 'SUCCEEDED' })]);
  expect(p.counts()).toMatchObject({ 'ec2:DescribeInstances': 1, 'ec2:TerminateInstances': 1, 'sns:Publish': 1 });
  const after = await statesByIndex();
  const terminated = [...fleet.categories].filter(([i]) => after.get(i) === 'terminated' && before.get(i) !== 'terminated');
  expect(terminated.length).toBeGreaterThan(0);
  expect(terminated.every(([, c]) => c.expected === 'TERMINATE')).toBe(true);
  expect(await readNotifications(aws.sqs, queueUrl)).toHaveLength(1);
  // Every other accepted shape runs a sweep too (nothing is due any more; each still reads the fleet
  // and reports); the manual dry run changes nothing.
  const accepted: Array<[string, unknown]> = [
    ['a schedule rule\'s Scheduled Event', RULE_SCHEDULED_EVENT],
    ['the Scheduler\'s input', { source: 'cdk-fleet-janitor.schedule' }],
    ['{}', {}],
    ['{"dryRun": true}', { dryRun: true }],
  ];
  for (const [label, event] of accepted) {
    p.reset();
    const { outcomes } = await invokeMany(env, p.endpoint, [event]);
    expect([label, outcomes]).toEqual([label, [expect.objectContaining({ ok: true, status: 'SUCCEEDED' })]]);
    expect([label, p.counts()]).toEqual([label, expect.objectContaining({ 'ec2:DescribeInstances': 1, 'sns:Publish': 1 })]);
    if ('dryRun' in (event as object)) {
      expect(p.calls.filter((c) => /^(Terminate|Stop)Instances$|^Delete/.test(c.operation))).toEqual([]);
      expect(outcomes[0].counts).toMatchObject({ actionsTaken: 0 });
    }
    expect([label, await readNotifications(aws.sqs, queueUrl)]).toEqual([label, [expect.objectContaining({ Message: expect.any(String) })]]);
  }
  expect(await statesByIndex()).toEqual(after);

  process.stderr.write(`faults c: ${events.length} malformed events (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}; `
    + `${events.filter((e) => JSON.stringify(e).length >= HUGE).length} of 1 MB or more) rejected in one process in ${fuzz.durationMs} ms, `
    + `0 requests; ${1 + accepted.length} accepted shapes each made requests; test ${Date.now() - started} ms\n`);
});
