/**
 * Two runs at once are harmless. Reserved concurrency 1 is opt-in, so a manual invoke can overlap a
 * scheduled run. Here two runs of the SHIPPED bundle (configured from the synthesized template:
 * TERMINATE, key pair and security group cleanup on) start at the same moment against the same moto
 * fleet, and the outcome is compared with a single run over an identical fleet:
 * - the end state equals the single run's, resource by resource (instances by an index tag, since ids
 *   differ between the two builds; key pairs and security groups by name);
 * - neither run failed: no thrown error, status SUCCEEDED, no FAILED entry;
 * - every action the single run took was taken by exactly one of the two runs and found already done
 *   by the other, so the two runs' actions add up to the single run's plus the already-done outcomes;
 * - both notifications arrive, their counts match the runs' summaries, and the already-done rows say so.
 *
 * The worst case is forced rather than hoped for: each run talks to moto through its own proxy, and
 * the proxies hold every state-changing call (TerminateInstances, StopInstances, DeleteKeyPair,
 * DeleteSecurityGroup) until BOTH runs have reached their act step, then forward those calls one at
 * a time. Both runs therefore plan from the same observation and send every change twice. (Without
 * the hold, a run that observes after the other acted would see the key pairs and groups of the
 * instances just terminated as unused, and delete them: what the next scheduled run does anyway,
 * but not the single run's end state.) One at a time, because moto does not lock its state between
 * concurrent requests the way EC2 serializes changes to one resource.
 */
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand, paginateDescribeSecurityGroups } from '@aws-sdk/client-ec2';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
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
  readNotifications,
} from './fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION, MotoServer, startMoto } from './moto';
import { parseCounts, parseRows } from './notification';
import { mulberry32, packerKeyName } from './random';
import { BundleRun, DAY, HOUR, MINUTE, runBundle, shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { PackerCleaner, PackerCleanerAction, PackerCleanerProps } from '../../src';

jest.setTimeout(240_000);

const BUNDLE = shippedBundle('packer-cleaner');
const PROTECT = 'fleet-janitor:protect';
const INDEX_TAG = 'fleet-index';
const BUNDLE_TIMEOUT_SECONDS = 90;
/** How long a run's first change waits for the other run to reach its act step. */
const HOLD_TIMEOUT_MS = 60_000;
const CHANGING = new Set(['TerminateInstances', 'StopInstances', 'DeleteKeyPair', 'DeleteSecurityGroup']);

let moto: MotoServer;
let aws: EmulatorClients;

beforeAll(async () => {
  moto = await startMoto();
  aws = emulatorClients(moto.endpoint);
}, 300_000);

afterAll(async () => {
  await moto?.stop();
});

async function resetMoto(): Promise<void> {
  const response = await fetch(`${moto.endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
  expect(response.ok).toBe(true);
}

// ---- the construct -----------------------------------------------------------------------------------

const PROPS: PackerCleanerProps = {
  action: PackerCleanerAction.TERMINATE,
  maxAge: Duration.hours(2),
  terminateStoppedAfter: Duration.days(1),
  maxActionsPerRun: 5000,
  cleanupKeyPairs: true,
  cleanupSecurityGroups: true,
};

function functionEnv(topicArn: string): Record<string, string> {
  const app = new App();
  const stack = new Stack(app, 'PackerCleanerOverlap', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new PackerCleaner(stack, 'Cleaner', PROPS);
  const env = functionEnvironmentFromTemplate(Template.fromStack(stack).toJSON(), { resolveRefs: { 'AWS::SNS::Topic': topicArn } });
  expect(env).toMatchObject({ ACTION: 'TERMINATE', CLEANUP_KEY_PAIRS: 'true', CLEANUP_SECURITY_GROUPS: 'true', DRY_RUN: 'false' });
  return env;
}

async function run(env: Record<string, string>, endpoint: string, event: unknown): Promise<BundleRun> {
  return runBundle({ bundlePath: BUNDLE, env, event, endpoint, timeoutSeconds: BUNDLE_TIMEOUT_SECONDS });
}

// ---- the fleet ---------------------------------------------------------------------------------------

interface Category {
  readonly name: string;
  readonly count: number;
  readonly state: FixtureInstanceState;
  readonly launchedAgo: number;
  readonly stoppedAgo?: number;
  /** How many builds (each: one key pair and one security group) the category's instances share; 0: no Packer key. */
  readonly builds: number;
  readonly keyName?: string;
  readonly protect?: boolean;
}

const CATEGORIES: Category[] = [
  { name: 'running-3h', count: 20, state: 'running', launchedAgo: 3 * HOUR, builds: 4 },
  { name: 'running-5d', count: 10, state: 'running', launchedAgo: 5 * DAY, builds: 2 },
  { name: 'running-30m', count: 10, state: 'running', launchedAgo: 30 * MINUTE, builds: 2 },
  { name: 'stopped-2d', count: 6, state: 'stopped', launchedAgo: 5 * DAY, stoppedAgo: 2 * DAY, builds: 2 },
  { name: 'protected-running-5d', count: 4, state: 'running', launchedAgo: 5 * DAY, builds: 1, protect: true },
  { name: 'prod-web', count: 10, state: 'running', launchedAgo: 90 * DAY, builds: 0, keyName: 'prod-web' },
  // Terminated before the run: their key pairs and groups are old leftovers.
  { name: 'terminated-2d', count: 4, state: 'terminated', launchedAgo: 2 * DAY, builds: 4 },
];

interface Orphan {
  readonly name: string;
  readonly createdAgo: number;
  readonly protect?: boolean;
}

interface FleetSpec {
  /** category name → the build names (key pair name = security group name, as Packer's packer_<uuid>) */
  readonly builds: Map<string, string[]>;
  readonly orphanKeys: Orphan[];
  readonly orphanGroups: Orphan[];
}

/** Names are drawn once, so both builds of the fleet have the same ones. */
function fleetSpec(seed: number, namingNow: number): FleetSpec {
  const random = mulberry32(seed);
  const buildNames = (c: Category) => Array.from({ length: c.builds }, () => packerKeyName(random, namingNow - c.launchedAgo - 5_000));
  const builds = new Map(CATEGORIES.map((c) => [c.name, buildNames(c)]));
  const orphan = (createdAgo: number, protect = false): Orphan => ({ name: packerKeyName(random, namingNow - createdAgo), createdAgo, protect });
  return {
    builds,
    orphanKeys: [orphan(3 * HOUR), orphan(6 * HOUR), orphan(2 * DAY), orphan(2 * DAY), orphan(9 * DAY), orphan(30 * DAY),
      orphan(20 * MINUTE), orphan(4 * DAY, true), { name: 'prod-deploy', createdAgo: 400 * DAY }],
    orphanGroups: [orphan(3 * HOUR), orphan(2 * DAY), orphan(5 * DAY), orphan(8 * DAY), orphan(40 * DAY),
      orphan(15 * MINUTE), orphan(3 * DAY, true), { name: 'web-servers', createdAgo: 300 * DAY }],
  };
}

async function buildFleet(spec: FleetSpec): Promise<void> {
  const now = Date.now();
  for (const o of spec.orphanKeys) await createKeyPair(aws.ec2, o.name, new Date(now - o.createdAgo), o.protect ? { [PROTECT]: 'true' } : {});
  for (const o of spec.orphanGroups) {
    await aws.ec2.send(new CreateSecurityGroupCommand({
      GroupName: o.name,
      Description: `leftover ${o.name}`,
      TagSpecifications: o.protect ? [{ ResourceType: 'security-group', Tags: [{ Key: PROTECT, Value: 'true' }] }] : undefined,
    }));
  }
  const groups: InstanceGroup[] = [];
  let index = 0;
  for (const c of CATEGORIES) {
    const names = spec.builds.get(c.name)!;
    for (let i = 0; i < c.count; i++, index++) {
      const build = names.length ? names[i % names.length] : undefined;
      groups.push({
        keyName: build ?? c.keyName,
        securityGroupName: build,
        name: build ? 'Packer Builder' : c.name,
        state: c.state,
        launchTime: new Date(now - c.launchedAgo),
        stoppedAt: c.stoppedAgo !== undefined ? new Date(now - c.stoppedAgo) : undefined,
        tags: { [INDEX_TAG]: String(index), ...(c.protect ? { [PROTECT]: 'true' } : {}) },
      });
    }
  }
  await createInstances(aws.ec2, groups);
}

interface FleetState {
  /** index tag → instance state */
  readonly instances: Map<number, string>;
  readonly keyPairs: Set<string>;
  readonly securityGroups: Set<string>;
}

async function fleetState(): Promise<FleetState> {
  const instances = new Map<number, string>();
  for (const view of (await describeAllInstances(aws.ec2)).values()) instances.set(Number(view.tags[INDEX_TAG]), view.state);
  const securityGroups = new Set<string>();
  for await (const page of paginateDescribeSecurityGroups({ client: aws.ec2 }, {})) {
    for (const g of page.SecurityGroups ?? []) securityGroups.add(g.GroupName!);
  }
  return { instances, keyPairs: new Set((await describeAllKeyPairs(aws.ec2)).keys()), securityGroups };
}

/** Security group name → id (the report names groups by id, which differ between builds). */
async function groupNames(): Promise<Map<string, string>> {
  const out = await aws.ec2.send(new DescribeSecurityGroupsCommand({}));
  return new Map((out.SecurityGroups ?? []).map((g) => [g.GroupId!, g.GroupName!]));
}

// ---- the hold-and-serialize proxies -----------------------------------------------------------------

interface ProxiedCall {
  readonly operation: string;
  readonly params: URLSearchParams;
  status: number;
}

interface OverlapProxies {
  readonly endpoints: string[];
  /** Calls per run, in arrival order. */
  readonly calls: ProxiedCall[][];
  /** Whether every run reached its act step before the first change went through (not the hold timeout). */
  released(): 'all-arrived' | 'timed-out' | 'pending';
  stop(): Promise<void>;
}

/** One loopback proxy per run in front of moto: changes are held until every run has sent one, then forwarded one at a time. */
async function startOverlapProxies(target: string, runs: number): Promise<OverlapProxies> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const calls: ProxiedCall[][] = Array.from({ length: runs }, () => []);
  const arrived = new Set<number>();
  let state: 'all-arrived' | 'timed-out' | 'pending' = 'pending';
  let open!: () => void;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  const timer = setTimeout(() => {
    if (state === 'pending') state = 'timed-out';
    open();
  }, HOLD_TIMEOUT_MS);
  const arrive = (runIndex: number) => {
    arrived.add(runIndex);
    if (arrived.size === runs && state === 'pending') {
      state = 'all-arrived';
      clearTimeout(timer);
      open();
    }
  };
  let serial: Promise<unknown> = Promise.resolve();

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, record: ProxiedCall) => new Promise<void>((done) => {
    const options = { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent };
    const out = http.request(options, (up) => {
      record.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
      up.pipe(res);
      up.on('end', () => done());
      up.on('error', () => { res.destroy(); done(); });
    });
    out.on('error', (error) => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`overlap proxy: ${error.message}`);
      else res.destroy();
      done();
    });
    out.end(body);
  });

  const servers: http.Server[] = [];
  const sockets = new Set<Socket>();
  for (let runIndex = 0; runIndex < runs; runIndex++) {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const params = new URLSearchParams(body.toString('utf8'));
        const record: ProxiedCall = { operation: params.get('Action') ?? 'unknown', params, status: 0 };
        calls[runIndex].push(record);
        if (CHANGING.has(record.operation)) {
          arrive(runIndex);
          serial = serial.then(() => gate).then(() => forward(req, body, res, record));
          return;
        }
        // A run with nothing to change reaches its report instead.
        if (record.operation === 'Publish') arrive(runIndex);
        void forward(req, body, res, record);
      });
    });
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  return {
    endpoints: servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`),
    calls,
    released: () => state,
    async stop() {
      clearTimeout(timer);
      open();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      for (const s of sockets) s.destroy();
      agent.destroy();
    },
  };
}

// ---- reading the reports -----------------------------------------------------------------------------

type Entry = { resourceType: string; id: string; action: string; outcome: string; details: Array<[string, string]> };

const alreadyDone = (e: Entry) => e.details.find(([k]) => k === 'alreadyDone')?.[1];

/** A resource as both builds name it: instances by index, security groups by name, key pairs by name. */
function resourceKey(e: Entry, indexById: Map<string, number>, groupNameById: Map<string, string>): string {
  if (e.resourceType === 'instance') return `instance #${indexById.get(e.id)}`;
  if (e.resourceType === 'security-group') return `security-group ${groupNameById.get(e.id) ?? e.id}`;
  return `${e.resourceType} ${e.id}`;
}

// ---- the test ----------------------------------------------------------------------------------------

test('two runs started together end where one run ends, neither fails, and each action counts once as done', async () => {
  const started = Date.now();
  const spec = fleetSpec(20260301, Date.now());

  // ---- one run, the reference ----
  await resetMoto();
  const single = await createTopicWithQueue(aws, 'packer-cleaner-single');
  const singleEnv = functionEnv(single.topicArn);
  await buildFleet(spec);
  const before = await fleetState();
  const singleIndex = new Map([...(await describeAllInstances(aws.ec2))].map(([id, v]) => [id, Number(v.tags[INDEX_TAG])]));
  const singleGroups = await groupNames();
  const reference = await run(singleEnv, moto.endpoint, { source: 'cdk-fleet-janitor.schedule' });
  expect(reference.error).toBeUndefined();
  const afterSingle = await fleetState();
  const one = reference.result;
  expect(one).toMatchObject({ status: 'SUCCEEDED', counts: { actionsFailed: 0 } });
  expect(one.entriesOmitted).toBe(0);
  const singleDone = new Set<string>((one.entries as Entry[]).filter((e) => e.outcome === 'DONE').map((e) => resourceKey(e, singleIndex, singleGroups)));
  expect(singleDone.size).toBe(one.counts.actionsTaken);
  // Not a vacuous fleet: instances (running and stopped), key pairs and groups all go, and some of each stay.
  const changedInstances = [...before.instances].filter(([i, s]) => afterSingle.instances.get(i) !== s);
  expect(changedInstances.length).toBe(20 + 10 + 6);
  const deletedKeys = [...before.keyPairs].filter((k) => !afterSingle.keyPairs.has(k));
  const deletedGroups = [...before.securityGroups].filter((g) => !afterSingle.securityGroups.has(g));
  expect(deletedKeys.length).toBeGreaterThanOrEqual(6);
  expect(deletedGroups.length).toBeGreaterThanOrEqual(5);
  expect(one.counts.actionsTaken).toBe(changedInstances.length + deletedKeys.length + deletedGroups.length);
  expect(one.counts.skippedProtected).toBeGreaterThanOrEqual(4 + 1 + 1);
  expect(one.counts.kept).toBeGreaterThan(0);
  expect(await readNotifications(aws.sqs, single.queueUrl)).toHaveLength(1);

  // ---- the same fleet again, two runs at once ----
  await resetMoto();
  const shared = await createTopicWithQueue(aws, 'packer-cleaner-overlap');
  const env = functionEnv(shared.topicArn);
  await buildFleet(spec);
  expect(await fleetState()).toEqual(before);
  const indexById = new Map([...(await describeAllInstances(aws.ec2))].map(([id, v]) => [id, Number(v.tags[INDEX_TAG])]));
  const groupNameById = await groupNames();
  const proxies = await startOverlapProxies(moto.endpoint, 2);
  let runs: BundleRun[];
  try {
    // The construct's schedule and a manual invoke, started together.
    runs = await Promise.all([
      run(env, proxies.endpoints[0], { source: 'cdk-fleet-janitor.schedule' }),
      run(env, proxies.endpoints[1], {}),
    ]);
  } finally {
    await proxies.stop();
  }
  expect(proxies.released()).toBe('all-arrived');

  // ---- neither run failed ----
  for (const [i, r] of runs.entries()) {
    expect([i, r.error, r.timedOut]).toEqual([i, undefined, false]);
    expect([i, r.result.status, r.result.counts.actionsFailed, r.result.entriesOmitted]).toEqual([i, 'SUCCEEDED', 0, 0]);
    expect((r.result.entries as Entry[]).filter((e) => e.outcome === 'FAILED')).toEqual([]);
    expect(r.logs.filter((l) => l.message === 'action failed' || l.level === 'ERROR')).toEqual([]);
    // Each run did send its changes: the overlap really happened.
    expect([i, proxies.calls[i].filter((c) => c.operation === 'TerminateInstances').flatMap((c) => [...c.params.keys()].filter((k) => k.startsWith('InstanceId.'))).length])
      .toEqual([i, changedInstances.length]);
    expect(proxies.calls[i].filter((c) => c.status < 200 || c.status > 299)
      .filter((c) => !(c.operation === 'DeleteSecurityGroup' && c.status === 400))).toEqual([]);
  }

  // ---- the end state is the single run's ----
  const after = await fleetState();
  expect(after.instances).toEqual(afterSingle.instances);
  expect(after.keyPairs).toEqual(afterSingle.keyPairs);
  expect(after.securityGroups).toEqual(afterSingle.securityGroups);

  // ---- every action once as done, once as already done ----
  const [a, b] = runs.map((r) => r.result.entries as Entry[]);
  const plainDone = (entries: Entry[]) => entries.filter((e) => e.outcome === 'DONE' && alreadyDone(e) === undefined).map((e) => resourceKey(e, indexById, groupNameById));
  const foundDone = (entries: Entry[]) => entries.filter((e) => e.outcome === 'DONE' && alreadyDone(e) !== undefined).map((e) => resourceKey(e, indexById, groupNameById));
  const doneA = plainDone(a);
  const doneB = plainDone(b);
  const alreadyA = foundDone(a);
  const alreadyB = foundDone(b);
  expect(new Set([...doneA, ...doneB])).toEqual(singleDone);
  expect(doneA.length + doneB.length).toBe(singleDone.size); // nothing done twice
  expect(new Set([...alreadyA, ...alreadyB])).toEqual(singleDone);
  expect(alreadyA.length + alreadyB.length).toBe(singleDone.size);
  for (const key of singleDone) {
    // done by exactly one run, and found already done by the other
    expect([key, doneA.includes(key) !== doneB.includes(key), doneA.includes(key) === alreadyB.includes(key)]).toEqual([key, true, true]);
  }
  const [countsA, countsB] = runs.map((r) => r.result.counts);
  expect(countsA.actionsTaken + countsB.actionsTaken).toBeLessThanOrEqual(one.counts.actionsTaken + alreadyA.length + alreadyB.length);
  expect(countsA.actionsTaken + countsB.actionsTaken).toBe(one.counts.actionsTaken + alreadyA.length + alreadyB.length);
  // Both planned exactly what the single run planned.
  for (const counts of [countsA, countsB]) expect({ ...counts, scanned: 0 }).toEqual({ ...one.counts, scanned: 0 });
  // The evidence for each kind of resource.
  const evidence = new Set([...a, ...b].map(alreadyDone).filter((x) => x !== undefined));
  expect(evidence).toEqual(new Set(['was-terminated', 'no-key-pair-deleted', 'InvalidGroup.NotFound']));

  // ---- both notifications ----
  const notifications = await readNotifications(aws.sqs, shared.queueUrl);
  expect(notifications).toHaveLength(2);
  const byCounts = (c: Record<string, number>) => JSON.stringify(c);
  expect(notifications.map((n) => byCounts(parseCounts(n.Message))).sort()).toEqual([byCounts(countsA), byCounts(countsB)].sort());
  for (const n of notifications) {
    expect(n.Subject).toMatch(/^\[fleet-janitor\] PackerCleaner: \d+ done, \d+ skipped$/);
    const rows = [...parseRows(n.Message).values()];
    expect(rows.filter((r) => r.result === 'FAILED')).toEqual([]);
    const found = (n.Message.match(/ alreadyDone=\S+ {2}action=\S+ {2}result=DONE {2}\(already done before this run's call/g) ?? []).length;
    expect([alreadyA.length, alreadyB.length]).toContain(found);
  }

  process.stderr.write(`overlap: ${before.instances.size} instances, ${before.keyPairs.size} key pairs, ${before.securityGroups.size} groups; `
    + `single run: ${one.counts.actionsTaken} actions (${changedInstances.length} instances, ${deletedKeys.length} key pairs, ${deletedGroups.length} groups); `
    + `two runs: done ${doneA.length} + ${doneB.length}, already done ${alreadyA.length} + ${alreadyB.length}, failed 0; `
    + `change calls ${proxies.calls.map((c) => c.filter((x) => CHANGING.has(x.operation)).length).join(' + ')}; test ${Date.now() - started} ms\n`);
});
