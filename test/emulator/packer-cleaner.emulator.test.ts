/**
 * PackerCleaner end to end against moto: the construct is synthesized, the function's environment is
 * read out of the template, and the SHIPPED bundle (assets/packer-cleaner/index.js) runs once in a
 * fresh node process against an emulated fleet of more than 1,200 instances. The emulator's end
 * state is then checked instance by instance against an expectation this file computes on its own
 * from each instance's fixture (it never calls decide()), and the SNS notification is read back from
 * an SQS queue subscribed to the topic.
 *
 * How moto's gaps are handled (production code is never patched; it reaches moto only through
 * AWS_ENDPOINT_URL):
 * - Wildcard `key-name` filter: moto compares DescribeInstances' `key-name` for equality and uses
 *   fnmatch for DescribeKeyPairs, so `packer_*` would match nothing. moto_launcher.py patches both
 *   filters to real EC2 semantics (`*`, `?`, backslash escapes, case-sensitive, nothing else special),
 *   so the handler's server-side filter is exercised as it is in AWS. The handler re-checks the
 *   pattern client-side anyway; instances named like Packer but with other keys (`packer-ci`,
 *   `mypacker_x`, `Packer_Prod`) are in the fleet to show neither side matches them.
 * - Back-dating: moto stamps every resource with "now". The harness passes launch time, stop time and
 *   key pair create time as `moto-fixture:*` tags that the launcher turns into the real attributes
 *   (LaunchTime, StateTransitionReason "User initiated (... GMT)", CreateTime) and removes before
 *   moto stores the tags, so the handler sees only what EC2 would show it.
 * - No `launch-time` filter in moto: not needed. The handler filters server-side only on key name and
 *   instance state and computes every age client-side from LaunchTime / StateTransitionReason /
 *   CreateTime, so nothing here depends on the missing filter.
 * - Instant state transitions: moto moves instances straight to `stopped` / `terminated` (no
 *   `stopping` / `shutting-down` phase), so the end state is read right after the run, without
 *   waiting; in real EC2 "terminated" below would be "shutting-down" for a minute or so.
 * - Pagination: moto pages DescribeInstances by reservation (EC2 counts instances), so every Packer
 *   instance is launched in its own reservation; more than 1,000 of them guarantee that the
 *   handler's 1,000-per-page query needs at least two pages, and the test checks that instances on
 *   the second page were acted on too.
 *
 * The three tests are independent: moto is reset (POST /moto-api/reset) before each.
 */
import { CreateSecurityGroupCommand, paginateDescribeInstances, paginateDescribeSecurityGroups } from '@aws-sdk/client-ec2';
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
  InstanceView,
  readNotifications,
} from './fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION, MotoServer, startMoto } from './moto';
import { onlyNotification, parseCounts, parseRows, parseTruncation } from './notification';
import { legacyPackerKeyName, mulberry32, packerKeyName, shuffle } from './random';
import { BundleRun, DAY, HOUR, MINUTE, runBundle, shippedBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';
import { PackerCleaner, PackerCleanerAction, PackerCleanerProps } from '../../src';

jest.setTimeout(240_000);

const BUNDLE = shippedBundle('packer-cleaner');
const PROTECT = 'fleet-janitor:protect';
/** The states the handler asks DescribeInstances for (everything but terminated). */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
/** Never let a hung bundle outlive the jest timeout; the handler does not read its remaining time. */
const BUNDLE_TIMEOUT_CAP_SECONDS = 90;

let moto: MotoServer;
let aws: EmulatorClients;

beforeAll(async () => {
  moto = await startMoto();
  aws = emulatorClients(moto.endpoint);
}, 300_000); // a fresh machine installs moto into .venv-moto first

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  const response = await fetch(`${moto.endpoint}/moto-api/reset`, { method: 'POST' });
  expect(response.ok).toBe(true);
});

// ---- the construct, synthesized ------------------------------------------------------------------

interface Synthesized {
  readonly template: any;
  /** The function's environment, the topic Ref resolved to `topicArn`. */
  readonly env: Record<string, string>;
  readonly timeoutSeconds: number;
}

function synthesize(props: PackerCleanerProps, topicArn: string): Synthesized {
  const app = new App();
  const stack = new Stack(app, 'PackerCleanerEmulator', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new PackerCleaner(stack, 'Cleaner', props);
  const template = Template.fromStack(stack).toJSON();
  const env = functionEnvironmentFromTemplate(template, { resolveRefs: { 'AWS::SNS::Topic': topicArn } });
  const fn = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment);
  return { template, env, timeoutSeconds: Number(fn.Properties.Timeout ?? 60) };
}

const TERMINATE_PROPS: PackerCleanerProps = {
  action: PackerCleanerAction.TERMINATE,
  maxAge: Duration.hours(2),
  terminateStoppedAfter: Duration.days(1),
  maxActionsPerRun: 5000,
  cleanupKeyPairs: true,
};

async function run(synth: Synthesized, event: unknown): Promise<BundleRun> {
  const result = await runBundle({
    bundlePath: BUNDLE,
    env: synth.env,
    event,
    endpoint: moto.endpoint,
    timeoutSeconds: Math.min(synth.timeoutSeconds, BUNDLE_TIMEOUT_CAP_SECONDS),
  });
  if (result.error) throw new Error(`the handler failed: ${result.error.message}\n${result.error.stack ?? ''}\nstderr:\n${result.stderr}`);
  return result;
}

// ---- the fleet and what should happen to it -------------------------------------------------------

/** One instance as the test described it; the expectation is computed from this, not from the emulator. */
interface Spec {
  readonly category: string;
  readonly keyName?: string;
  readonly state: FixtureInstanceState;
  readonly launchedAgo: number;
  readonly stoppedAgo?: number;
  readonly protectValue?: string;
  readonly name?: string;
  readonly keyPairDeleted?: boolean;
}

interface Rules {
  readonly action: 'NOTIFY' | 'STOP' | 'TERMINATE';
  readonly maxAgeMs: number;
  readonly terminateStoppedAfterMs?: number;
}

type Expected = 'TERMINATE' | 'REPORT' | 'PROTECTED' | 'KEEP' | 'NOT_A_CANDIDATE';

/** Packer's key names: `packer_<uuid>` and the pre-2016 `packer <uuid>`; case matters, as in EC2 filters. */
function isPackerKey(keyName: string | undefined): boolean {
  return keyName !== undefined && (keyName.startsWith('packer_') || keyName.startsWith('packer '));
}

/**
 * The documented rules, restated: only running or stopped instances with a Packer key are
 * candidates. A candidate is due when its launch age exceeds maxAge, or, if stopped, when it has
 * been stopped longer than terminateStoppedAfter (that one always terminates). A due candidate that
 * carries the protection tag (any value) is skipped; otherwise it gets the configured action
 * (NOTIFY = report only). A candidate that is not due is kept.
 */
function expectedFor(spec: Spec, rules: Rules): Expected {
  if (!isPackerKey(spec.keyName) || (spec.state !== 'running' && spec.state !== 'stopped')) return 'NOT_A_CANDIDATE';
  const overAge = spec.launchedAgo > rules.maxAgeMs;
  const stoppedTooLong = spec.state === 'stopped' && rules.terminateStoppedAfterMs !== undefined
    && spec.stoppedAgo! > rules.terminateStoppedAfterMs;
  if (!overAge && !stoppedTooLong) return 'KEEP';
  if (spec.protectValue !== undefined) return 'PROTECTED';
  if (stoppedTooLong || rules.action === 'TERMINATE') return 'TERMINATE';
  if (rules.action === 'NOTIFY') return 'REPORT';
  throw new Error('STOP is not used in this file');
}


interface PackerCategory {
  readonly category: string;
  readonly count: number;
  readonly state: FixtureInstanceState;
  readonly launchedAgo: number;
  readonly stoppedAgo?: number;
  readonly protectValue?: string;
  /** How many distinct key pairs the category's builds share, half in each key format. */
  readonly keys: number;
  readonly keyPairDeleted?: boolean;
  readonly withoutName?: boolean;
}

/** Packer instances: several builds of one pipeline share a key name, so the report's key-pair rows stay few. */
function packerSpecs(categories: readonly PackerCategory[], now: number, random: () => number): Spec[] {
  const specs: Spec[] = [];
  for (const c of categories) {
    const pool = Array.from({ length: c.keys }, (_, i) => (i % 2 === 0 ? packerKeyName(random, now - c.launchedAgo) : legacyPackerKeyName(random)));
    for (let i = 0; i < c.count; i++) {
      specs.push({
        category: c.category,
        keyName: pool[i % pool.length],
        state: c.state,
        launchedAgo: c.launchedAgo,
        stoppedAgo: c.stoppedAgo,
        protectValue: c.protectValue,
        name: c.withoutName ? undefined : 'Packer Builder',
        keyPairDeleted: c.keyPairDeleted,
      });
    }
  }
  return specs;
}

function groupOf(spec: Spec, now: number): InstanceGroup {
  return {
    count: 1,
    keyName: spec.keyName,
    name: spec.name,
    state: spec.state,
    launchTime: new Date(now - spec.launchedAgo),
    stoppedAt: spec.stoppedAgo !== undefined ? new Date(now - spec.stoppedAgo) : undefined,
    tags: spec.protectValue !== undefined ? { [PROTECT]: spec.protectValue, team: 'images' } : { team: 'images' },
    keyPairDeleted: spec.keyPairDeleted,
  };
}

/** Key pairs no instance uses: name → how long ago it was created, and its protection tag value if any. */
type OrphanKeys = Map<string, { createdAgo: number; protectValue?: string }>;

interface Fleet {
  /** instance id → spec */
  readonly specs: Map<string, Spec>;
  readonly before: Map<string, InstanceView>;
  readonly keysBefore: Map<string, { createTime?: Date; tags: Record<string, string> }>;
  /** Key pairs that are in no instance's hands: name → spec of the orphan. */
  readonly orphanKeys: OrphanKeys;
  readonly now: number;
}

/**
 * Launch Packer specs one reservation each (in shuffled order, so every category has instances on
 * both pages of the handler's query), and the rest in reservations of 25.
 */
async function buildFleet(packer: Spec[], others: Spec[], orphanKeys: OrphanKeys, now: number): Promise<Fleet> {
  // Key pairs the fixtures create themselves first: orphans, and old keys that a young instance reuses.
  const preCreated = [...orphanKeys].map(([name, o]) =>
    createKeyPair(aws.ec2, name, new Date(now - o.createdAgo), o.protectValue !== undefined ? { [PROTECT]: o.protectValue } : {}));
  await Promise.all(preCreated);

  const specs = new Map<string, Spec>();
  const launch = async (list: Spec[], instancesPerCall: number) => {
    const groups = list.map((s) => groupOf(s, now));
    const bySpec = new Map(groups.map((g, i) => [g, list[i]]));
    for (const created of await createInstances(aws.ec2, groups, { instancesPerCall })) {
      specs.set(created.instanceId, bySpec.get(created.group)!);
    }
  };
  await launch(packer, 1);
  // Non-Packer specs come grouped (identical specs next to each other); merge runs of equal specs into one group.
  const merged: Array<{ spec: Spec; count: number }> = [];
  for (const s of others) {
    const last = merged[merged.length - 1];
    if (last && last.spec === s) last.count++;
    else merged.push({ spec: s, count: 1 });
  }
  const groups: InstanceGroup[] = merged.map(({ spec, count }) => ({ ...groupOf(spec, now), count }));
  const bySpec = new Map(groups.map((g, i) => [g, merged[i].spec]));
  for (const created of await createInstances(aws.ec2, groups, { instancesPerCall: 25 })) {
    specs.set(created.instanceId, bySpec.get(created.group)!);
  }

  const before = await describeAllInstances(aws.ec2);
  const keysBefore = await describeAllKeyPairs(aws.ec2);
  return { specs, before, keysBefore, orphanKeys, now };
}

function repeat(spec: Spec, count: number): Spec[] {
  return Array.from({ length: count }, () => spec);
}

/** Instances that do not belong to Packer: old, sometimes stopped for days, and some named like Packer's. */
function otherSpecs(scale: number): Spec[] {
  const n = (count: number) => Math.max(1, Math.round(count * scale));
  return [
    ...repeat({ category: 'prod-web', keyName: 'prod-web', name: 'web', state: 'running', launchedAgo: 90 * DAY }, n(120)),
    ...repeat({ category: 'prod-api', keyName: 'prod-api', name: 'api', state: 'running', launchedAgo: 45 * DAY }, n(40)),
    // No underscore after "packer": not one of Packer's key names.
    ...repeat({ category: 'packer-ci', keyName: 'packer-ci', name: 'packer-ci-runner', state: 'running', launchedAgo: 60 * DAY }, n(20)),
    // "packer_" not at the start: the patterns are anchored.
    ...repeat({ category: 'mypacker_x', keyName: 'mypacker_x', name: 'tools', state: 'running', launchedAgo: 10 * DAY }, n(10)),
    // EC2 filter values are case-sensitive.
    ...repeat({ category: 'Packer_Prod', keyName: 'Packer_Prod', name: 'legacy', state: 'running', launchedAgo: 20 * DAY }, n(10)),
    // Named like Packer's builder, but the key says otherwise: the key decides.
    ...repeat({ category: 'named-like-packer', keyName: 'ci-runner', name: 'Packer Builder', state: 'running', launchedAgo: 7 * DAY }, n(5)),
    ...repeat({ category: 'no-key', name: 'dev-sandbox', state: 'running', launchedAgo: 8 * DAY }, n(10)),
    // Stopped for two days, but not Packer's: terminateStoppedAfter applies to Packer instances only.
    ...repeat({ category: 'batch-stopped', keyName: 'batch', name: 'nightly-batch', state: 'stopped', launchedAgo: 20 * DAY, stoppedAgo: 2 * DAY }, n(10)),
  ];
}

/** Every kind of Packer instance; counts scale with `scale` (at least one of each). */
function packerCategories(scale: number): PackerCategory[] {
  const n = (count: number) => Math.max(1, Math.round(count * scale));
  const k = (keys: number) => Math.max(1, Math.min(keys, n(keys * 10)));
  return [
    { category: 'running-3h', count: n(300), state: 'running', launchedAgo: 3 * HOUR, keys: k(6) },
    { category: 'running-5d', count: n(150), state: 'running', launchedAgo: 5 * DAY, keys: k(4), withoutName: true },
    { category: 'running-30m', count: n(230), state: 'running', launchedAgo: 30 * MINUTE, keys: k(6), withoutName: true },
    { category: 'running-90m', count: n(40), state: 'running', launchedAgo: 90 * MINUTE, keys: k(2) },
    { category: 'stopped-2d', count: n(100), state: 'stopped', launchedAgo: 5 * DAY, stoppedAgo: 2 * DAY, keys: k(4), withoutName: true },
    { category: 'stopped-1h-launched-3h', count: n(60), state: 'stopped', launchedAgo: 3 * HOUR, stoppedAgo: HOUR, keys: k(2) },
    { category: 'stopped-10m-launched-40m', count: n(60), state: 'stopped', launchedAgo: 40 * MINUTE, stoppedAgo: 10 * MINUTE, keys: k(2) },
    { category: 'protected-running-5d', count: n(50), state: 'running', launchedAgo: 5 * DAY, protectValue: 'true', keys: k(2) },
    // The protection tag protects whatever its value, an empty one included.
    { category: 'protected-empty-running-25h', count: n(5), state: 'running', launchedAgo: 25 * HOUR, protectValue: '', keys: 1 },
    { category: 'protected-stopped-2d', count: n(20), state: 'stopped', launchedAgo: 3 * DAY, stoppedAgo: 2 * DAY, protectValue: 'debugging', keys: k(2) },
    // Packer deleted its key, the instance outlived it: still found by KeyName.
    { category: 'key-deleted-running-3h', count: 3, state: 'running', launchedAgo: 3 * HOUR, keys: 3, keyPairDeleted: true },
    // Already terminated before the run: out of scope; their key pairs are orphans.
    { category: 'terminated-2d', count: 8, state: 'terminated', launchedAgo: 2 * DAY, keys: 8 },
  ];
}

/** Orphan Packer key pairs (no instance uses them) of every age, and non-Packer ones. */
function orphanKeySpecs(random: () => number, now: number): OrphanKeys {
  return new Map([
    [packerKeyName(random, now - 2 * DAY), { createdAgo: 2 * DAY }],
    [packerKeyName(random, now - 3 * HOUR), { createdAgo: 3 * HOUR }],
    [legacyPackerKeyName(random), { createdAgo: 30 * DAY }],
    [packerKeyName(random, now - 30 * MINUTE), { createdAgo: 30 * MINUTE }],
    [legacyPackerKeyName(random), { createdAgo: 20 * MINUTE }],
    [packerKeyName(random, now - 4 * DAY), { createdAgo: 4 * DAY, protectValue: 'keep' }],
    ['prod-deploy', { createdAgo: 400 * DAY }],
    ['packer-ci-deploy', { createdAgo: 100 * DAY }],
  ]);
}

/** Which key pairs the rules delete: Packer-named, in no live instance's hands, older than maxAge, unprotected. */
function expectedKeyDeletions(fleet: Fleet, maxAgeMs: number): Set<string> {
  const inUse = new Set<string>();
  for (const spec of fleet.specs.values()) {
    if (spec.keyName && spec.state !== 'terminated') inUse.add(spec.keyName);
  }
  const deleted = new Set<string>();
  for (const [name, keyPair] of fleet.keysBefore) {
    const age = fleet.now - keyPair.createTime!.getTime();
    if (isPackerKey(name) && !inUse.has(name) && age > maxAgeMs && !(PROTECT in keyPair.tags)) deleted.add(name);
  }
  return deleted;
}

// ---- the notification ------------------------------------------------------------------------------


/** Outcome the report gives a candidate the expectation classified. */
function resultFor(expected: Expected, dryRun: boolean): string | undefined {
  switch (expected) {
    case 'TERMINATE': return dryRun ? 'DRY_RUN' : 'DONE';
    case 'REPORT': return 'REPORTED';
    case 'PROTECTED': return 'SKIPPED_PROTECTED';
    case 'KEEP': return 'KEPT';
    default: return undefined;
  }
}

function tally(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

// ---- tests ---------------------------------------------------------------------------------------------

test('TERMINATE with key pair cleanup over 1,200+ instances: end state instance by instance, and the report', async () => {
  const started = Date.now();
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-emulator');
  const synth = synthesize(TERMINATE_PROPS, topicArn);

  // The wiring under test: these come from the template, not from this file.
  expect(synth.env).toMatchObject({
    TOPIC_ARN: topicArn,
    ACTION: 'TERMINATE',
    MAX_AGE_SECONDS: '7200',
    TERMINATE_STOPPED_AFTER_SECONDS: '86400',
    MAX_ACTIONS_PER_RUN: '5000',
    CLEANUP_KEY_PAIRS: 'true',
    CLEANUP_SECURITY_GROUPS: 'false',
    DRY_RUN: 'false',
    PROTECTION_TAG_KEY: PROTECT,
  });
  const patterns: string[] = JSON.parse(synth.env.KEY_NAME_PATTERNS);
  expect(patterns).toEqual(['packer_*', 'packer *']);
  const rules: Rules = {
    action: synth.env.ACTION as Rules['action'],
    maxAgeMs: Number(synth.env.MAX_AGE_SECONDS) * 1000,
    terminateStoppedAfterMs: Number(synth.env.TERMINATE_STOPPED_AFTER_SECONDS) * 1000,
  };

  const now = Date.now();
  const random = mulberry32(20240501);
  const packer = shuffle(packerSpecs(packerCategories(1), now, random), random);
  // One young build reuses an old key pair that Packer created days ago: in use, so kept.
  const reusedOldKey = packerKeyName(random, now - 2 * DAY);
  packer.push({ category: 'running-30m-old-key', keyName: reusedOldKey, name: 'Packer Builder', state: 'running', launchedAgo: 30 * MINUTE });
  const orphans = orphanKeySpecs(random, now);
  await createKeyPair(aws.ec2, reusedOldKey, new Date(now - 2 * DAY));
  const fleet = await buildFleet(packer, otherSpecs(1), orphans, now);
  const fleetBuiltMs = Date.now() - started;

  // Fleet composition.
  const live = [...fleet.specs.values()].filter((s) => s.state !== 'terminated');
  const livePacker = live.filter((s) => isPackerKey(s.keyName));
  expect(fleet.specs.size).toBeGreaterThanOrEqual(1200);
  expect(fleet.before.size).toBe(fleet.specs.size);
  expect(new Set(livePacker.map((s) => s.keyName!.slice(0, 7)))).toEqual(new Set(['packer_', 'packer ']));

  // The handler's query (same filters, 1,000 per page) really spans several pages, and instances
  // that must be terminated sit on the later pages too.
  const pages: string[][] = [];
  for await (const page of paginateDescribeInstances({ client: aws.ec2, pageSize: 1000 }, {
    Filters: [{ Name: 'key-name', Values: patterns }, { Name: 'instance-state-name', Values: LIVE_STATES }],
  })) {
    pages.push((page.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId!)));
  }
  expect(pages.length).toBeGreaterThanOrEqual(2);
  expect(pages.flat().length).toBe(livePacker.length);
  const laterPages = pages.slice(1).flat();
  expect(laterPages.filter((id) => expectedFor(fleet.specs.get(id)!, rules) === 'TERMINATE').length).toBeGreaterThan(0);
  expect(laterPages.filter((id) => expectedFor(fleet.specs.get(id)!, rules) === 'KEEP').length).toBeGreaterThan(0);

  // ---- one real run ----
  const result = await run(synth, { source: 'cdk-fleet-janitor.schedule' });
  const runMs = result.durationMs;

  // ---- end state, instance by instance ----
  const after = await describeAllInstances(aws.ec2);
  const expected = new Map<string, Expected>();
  const mismatches: string[] = [];
  for (const [id, spec] of fleet.specs) {
    const e = expectedFor(spec, rules);
    expected.set(id, e);
    const was = fleet.before.get(id)!.state;
    const want = e === 'TERMINATE' ? 'terminated' : was;
    const got = after.get(id)?.state;
    if (got !== want) mismatches.push(`${id} (${spec.category}, key ${spec.keyName ?? '-'}): expected ${want}, got ${got}`);
  }
  expect(mismatches).toEqual([]);
  expect(after.size).toBe(fleet.before.size);

  const changed = [...fleet.specs.keys()].filter((id) => fleet.before.get(id)!.state !== after.get(id)!.state);
  const toTerminate = [...expected].filter(([, e]) => e === 'TERMINATE').map(([id]) => id);
  expect(new Set(changed)).toEqual(new Set(toTerminate));
  const byCategory = tally(toTerminate.map((id) => fleet.specs.get(id)!.category));
  expect(byCategory).toEqual({
    'running-3h': 300,
    'running-5d': 150,
    'stopped-2d': 100,
    'stopped-1h-launched-3h': 60,
    'key-deleted-running-3h': 3,
  });

  // ---- key pairs ----
  const keysAfter = await describeAllKeyPairs(aws.ec2);
  const deletions = expectedKeyDeletions(fleet, rules.maxAgeMs);
  for (const name of fleet.keysBefore.keys()) {
    expect([name, keysAfter.has(name)]).toEqual([name, !deletions.has(name)]);
  }
  // Spelled out: the old orphans (both formats, and the keys of instances terminated earlier) go;
  // young, protected, in-use and non-Packer key pairs stay.
  const orphanNames = [...orphans.keys()];
  expect(orphanNames.filter((name) => !keysAfter.has(name))).toEqual(orphanNames.slice(0, 3));
  expect(keysAfter.has(reusedOldKey)).toBe(true);
  const terminatedEarlierKeys = [...fleet.specs.values()].filter((s) => s.category === 'terminated-2d').map((s) => s.keyName!);
  for (const name of terminatedEarlierKeys) expect(keysAfter.has(name)).toBe(false);
  expect(deletions.size).toBe(3 + terminatedEarlierKeys.length);

  // ---- the handler's summary ----
  const packerKeysBefore = [...fleet.keysBefore.keys()].filter(isPackerKey);
  const candidates = [...expected.values()].filter((e) => e !== 'NOT_A_CANDIDATE');
  const protectedCount = candidates.filter((e) => e === 'PROTECTED').length;
  const keptInstances = candidates.filter((e) => e === 'KEEP').length;
  const keptKeys = packerKeysBefore.length - deletions.size - packerKeysBefore.filter((n) => PROTECT in fleet.keysBefore.get(n)!.tags).length;
  const expectedCounts = {
    scanned: livePacker.length + packerKeysBefore.length,
    matched: candidates.length + packerKeysBefore.length,
    actionsTaken: toTerminate.length + deletions.size,
    actionsFailed: 0,
    wouldAct: 0,
    reported: 0,
    skippedProtected: protectedCount + 1, // the protected orphan key pair
    skippedCap: 0,
    kept: keptInstances + keptKeys,
  };
  expect(result.result).toMatchObject({ construct: 'PackerCleaner', status: 'SUCCEEDED', dryRun: false, counts: expectedCounts });
  expect(result.result.error).toBeUndefined();
  expect(result.result.entries.length + result.result.entriesOmitted).toBe(expectedCounts.matched);

  // ---- the notification ----
  const n = onlyNotification(await readNotifications(aws.sqs, queueUrl));
  expect(n.Subject).toBe(`[fleet-janitor] PackerCleaner: ${expectedCounts.actionsTaken} done, ${expectedCounts.skippedProtected} skipped`);
  expect(n.Message).toContain('Live run: actions below were carried out.');
  expect(n.Message).not.toMatch(/DRY RUN/);
  expect(n.Message).toContain(': SUCCEEDED');
  expect(parseCounts(n.Message)).toEqual(expectedCounts);
  // Every resource's expected line result: the candidates, and every Packer key pair.
  const expectedResults = new Map<string, string>();
  for (const [id, e] of expected) if (e !== 'NOT_A_CANDIDATE') expectedResults.set(id, resultFor(e, false)!);
  for (const name of packerKeysBefore) {
    expectedResults.set(name, deletions.has(name) ? 'DONE' : PROTECT in fleet.keysBefore.get(name)!.tags ? 'SKIPPED_PROTECTED' : 'KEPT');
  }
  expect(expectedResults.size).toBe(expectedCounts.matched);
  const rows = parseRows(n.Message);
  for (const row of rows.values()) {
    expect([row.id, row.result]).toEqual([row.id, expectedResults.get(row.id)]);
    if (row.result === 'DONE') expect([row.id, row.action]).toEqual([row.id, row.resourceType === 'instance' ? 'TERMINATE' : 'DELETE']);
  }
  // Every resource's decision is in the function's JSON logs, whatever the notification shows.
  const logged = new Map<string, string>(result.logs
    .filter((l: any) => l.message === 'decision' || l.message === 'action failed').map((l: any) => [l.resourceId, l.outcome]));
  expect(logged.size).toBe(expectedCounts.matched);
  for (const [id, want] of expectedResults) expect([id, logged.get(id)]).toEqual([id, want]);
  // The fleet is sized so that the report fits SNS's limit whole: every resource is listed there too.
  const truncation = parseTruncation(n.Message);
  expect(truncation).toBeUndefined();
  expect(rows.size).toBe(expectedCounts.matched);
  for (const id of toTerminate) expect([id, rows.get(id)?.result]).toEqual([id, 'DONE']);
  // "Done" in the body is exactly the instances whose state changed plus the deleted key pairs.
  const done = [...rows.values()].filter((r) => r.result === 'DONE');
  expect(done.filter((r) => r.resourceType === 'instance').length).toBe(changed.length);
  expect(new Set(done.filter((r) => r.resourceType === 'key-pair').map((r) => r.id))).toEqual(deletions);
  for (const name of ['prod-deploy', 'packer-ci-deploy', 'prod-web', 'packer-ci', 'mypacker_x', 'Packer_Prod']) expect(rows.has(name)).toBe(false);

  process.stderr.write(`packer-cleaner emulator: ${fleet.specs.size} instances (${livePacker.length} live Packer, `
    + `${fleet.specs.size - livePacker.length - terminatedEarlierKeys.length} non-Packer, ${terminatedEarlierKeys.length} terminated earlier), `
    + `${fleet.keysBefore.size} key pairs; handler query pages: ${pages.map((p) => p.length).join(' + ')}; `
    + `terminated ${changed.length}, deleted ${deletions.size} key pairs; body ${Buffer.byteLength(n.Message)} bytes (every resource listed); `
    + `fleet built in ${fleetBuiltMs} ms, handler ran ${runMs} ms, test ${Date.now() - started} ms\n`);
});

/** A small fleet with one (or a few) of everything, for the dry-run and NOTIFY runs. */
async function smallFleet(seed: number): Promise<Fleet> {
  const now = Date.now();
  const random = mulberry32(seed);
  const packer = packerSpecs(packerCategories(0.02), now, random);
  return buildFleet(packer, otherSpecs(0.02), orphanKeySpecs(random, now), now);
}

function expectUnchanged(fleet: Fleet, after: Map<string, InstanceView>): void {
  expect(after.size).toBe(fleet.before.size);
  for (const [id, view] of fleet.before) expect([id, after.get(id)]).toEqual([id, view]);
}

test('a dry run (asked for by the event, or configured on the construct) changes nothing and reports the same would-be actions', async () => {
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-dry-run');
  const synth = synthesize(TERMINATE_PROPS, topicArn);
  const rules: Rules = { action: 'TERMINATE', maxAgeMs: 2 * HOUR, terminateStoppedAfterMs: DAY };
  const fleet = await smallFleet(7);
  const expected = new Map([...fleet.specs].map(([id, spec]) => [id, expectedFor(spec, rules)]));
  const wouldTerminate = [...expected].filter(([, e]) => e === 'TERMINATE').map(([id]) => id);
  const wouldDelete = expectedKeyDeletions(fleet, rules.maxAgeMs);
  expect(wouldTerminate.length).toBeGreaterThanOrEqual(5);
  expect(wouldDelete.size).toBeGreaterThanOrEqual(3);

  const dryRunStack = synthesize({ ...TERMINATE_PROPS, dryRun: true }, topicArn);
  expect(dryRunStack.env.DRY_RUN).toBe('true');
  const runs: Array<[string, Synthesized, unknown]> = [
    ['event {dryRun: true}', synth, { dryRun: true }],
    ['construct dryRun: true', dryRunStack, { source: 'cdk-fleet-janitor.schedule' }],
  ];
  for (const [how, stack, event] of runs) {
    const result = await run(stack, event);

    expectUnchanged(fleet, await describeAllInstances(aws.ec2));
    expect(await describeAllKeyPairs(aws.ec2)).toEqual(fleet.keysBefore);

    expect([how, result.result.dryRun, result.result.status]).toEqual([how, true, 'SUCCEEDED']);
    expect(result.result.counts).toMatchObject({ actionsTaken: 0, actionsFailed: 0, wouldAct: wouldTerminate.length + wouldDelete.size });

    const n = onlyNotification(await readNotifications(aws.sqs, queueUrl));
    expect(n.Subject).toContain('(dry run)');
    expect(n.Subject).toContain(`${wouldTerminate.length + wouldDelete.size} would act`);
    expect(n.Message).toContain('DRY RUN: nothing was changed');
    expect(n.Message).not.toContain('Live run');
    const rows = parseRows(n.Message);
    const dryRunRows = [...rows.values()].filter((r) => r.result === 'DRY_RUN');
    expect(new Set(dryRunRows.filter((r) => r.resourceType === 'instance').map((r) => r.id))).toEqual(new Set(wouldTerminate));
    expect(new Set(dryRunRows.filter((r) => r.resourceType === 'key-pair').map((r) => r.id))).toEqual(wouldDelete);
    for (const r of dryRunRows) expect(r.action).toBe(r.resourceType === 'instance' ? 'TERMINATE' : 'DELETE');
    for (const [id, e] of expected) expect([id, rows.get(id)?.result]).toEqual([id, resultFor(e, true)]);
    expect(parseCounts(n.Message)).toEqual(result.result.counts);
  }
});

test('NOTIFY (the default) changes nothing and reports the old Packer instances', async () => {
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-notify');
  const synth = synthesize({}, topicArn);
  expect(synth.env).toMatchObject({ ACTION: 'NOTIFY', MAX_AGE_SECONDS: '7200', CLEANUP_KEY_PAIRS: 'false', DRY_RUN: 'false' });
  expect(synth.env.TERMINATE_STOPPED_AFTER_SECONDS).toBeUndefined();
  const rules: Rules = { action: 'NOTIFY', maxAgeMs: Number(synth.env.MAX_AGE_SECONDS) * 1000 };
  const fleet = await smallFleet(11);
  const expected = new Map([...fleet.specs].map(([id, spec]) => [id, expectedFor(spec, rules)]));
  const toReport = [...expected].filter(([, e]) => e === 'REPORT').map(([id]) => id);
  // Old running and old stopped Packer instances, stopped-for-days ones included (no terminateStoppedAfter).
  expect(new Set(toReport.map((id) => fleet.specs.get(id)!.category))).toEqual(new Set([
    'running-3h', 'running-5d', 'stopped-2d', 'stopped-1h-launched-3h', 'key-deleted-running-3h',
  ]));

  const result = await run(synth, { source: 'cdk-fleet-janitor.schedule' });

  expectUnchanged(fleet, await describeAllInstances(aws.ec2));
  expect(await describeAllKeyPairs(aws.ec2)).toEqual(fleet.keysBefore);
  expect(result.result).toMatchObject({ status: 'SUCCEEDED', dryRun: false });
  expect(result.result.counts).toMatchObject({
    actionsTaken: 0,
    wouldAct: 0,
    reported: toReport.length,
    skippedProtected: [...expected.values()].filter((e) => e === 'PROTECTED').length,
    kept: [...expected.values()].filter((e) => e === 'KEEP').length,
  });

  const n = onlyNotification(await readNotifications(aws.sqs, queueUrl));
  expect(n.Subject).toContain(`${toReport.length} reported`);
  expect(n.Message).toContain('Live run');
  const rows = parseRows(n.Message);
  const reported = [...rows.values()].filter((r) => r.result === 'REPORTED');
  expect(new Set(reported.map((r) => r.id))).toEqual(new Set(toReport));
  for (const r of reported) expect(r.action).toBe('NOTIFY');
  for (const [id, e] of expected) expect([id, rows.get(id)?.result]).toEqual([id, resultFor(e, false)]);
  // Key pairs are not looked at without cleanupKeyPairs.
  expect([...rows.values()].filter((r) => r.resourceType === 'key-pair')).toEqual([]);
  expect(parseCounts(n.Message)).toEqual(result.result.counts);
});

test('STOP with security-group cleanup: old running builds stopped, stopped ones reported, unused old Packer groups deleted', async () => {
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-stop');
  const synth = synthesize({ action: PackerCleanerAction.STOP, maxAge: Duration.hours(2), cleanupSecurityGroups: true }, topicArn);
  expect(synth.env).toMatchObject({ ACTION: 'STOP', CLEANUP_SECURITY_GROUPS: 'true', CLEANUP_KEY_PAIRS: 'false' });
  const random = mulberry32(73);
  const now = Date.now();
  const build = (launchedAgo: number) => packerKeyName(random, now - launchedAgo);
  // Each build's key pair and security group have the same name, as Packer makes them.
  const builds = {
    overAge: [build(5 * HOUR), build(9 * HOUR), build(3 * DAY)],
    stoppedOld: [build(2 * DAY), build(4 * DAY)],
    young: build(30 * MINUTE),
    protectedOld: build(6 * HOUR),
  };
  const created = await createInstances(aws.ec2, [
    ...builds.overAge.map((name, i) => ({ keyName: name, securityGroupName: name, launchTime: new Date(now - [5 * HOUR, 9 * HOUR, 3 * DAY][i]) })),
    ...builds.stoppedOld.map((name, i) => ({ keyName: name, securityGroupName: name, state: 'stopped' as const, launchTime: new Date(now - [2 * DAY, 4 * DAY][i]) })),
    { keyName: builds.young, securityGroupName: builds.young, launchTime: new Date(now - 30 * MINUTE) },
    { keyName: builds.protectedOld, securityGroupName: builds.protectedOld, launchTime: new Date(now - 6 * HOUR), tags: { [PROTECT]: 'yes' } },
    { keyName: 'prod-web', securityGroupName: 'web-servers', launchTime: new Date(now - 40 * DAY) },
  ]);
  const idOf = (keyName: string) => created.find((c) => c.group.keyName === keyName)!.instanceId;
  // Leftover groups of finished builds: two old (deleted), one young and one protected (kept).
  const leftovers = { old: [build(2 * DAY), build(10 * DAY)], young: build(20 * MINUTE), protectedOld: build(5 * DAY) };
  for (const name of [...leftovers.old, leftovers.young, leftovers.protectedOld]) {
    await aws.ec2.send(new CreateSecurityGroupCommand({
      GroupName: name,
      Description: `leftover ${name}`,
      TagSpecifications: name === leftovers.protectedOld ? [{ ResourceType: 'security-group', Tags: [{ Key: PROTECT, Value: 'true' }] }] : undefined,
    }));
  }
  const groupsBefore = await securityGroupsByName();
  const instancesBefore = await describeAllInstances(aws.ec2);

  const result = await run(synth, { source: 'cdk-fleet-janitor.schedule' });

  // Instances: the over-age running builds are stopped; nothing else changes.
  const after = await describeAllInstances(aws.ec2);
  const stopped = new Set(builds.overAge.map(idOf));
  for (const [id, view] of instancesBefore) {
    expect([id, after.get(id)!.state]).toEqual([id, stopped.has(id) ? 'stopped' : view.state]);
  }
  // Groups: the unused old Packer leftovers are deleted; a group an instance holds (stopped or not), a
  // young one, a protected one and a non-Packer one stay.
  const groupsAfter = await securityGroupsByName();
  expect([...groupsBefore.keys()].filter((name) => !groupsAfter.has(name)).sort()).toEqual([...leftovers.old].sort());

  const groupId = (name: string) => groupsBefore.get(name)!;
  const expectedResults = new Map<string, string>([
    ...builds.overAge.map((n) => [idOf(n), 'DONE'] as [string, string]),
    ...builds.stoppedOld.map((n) => [idOf(n), 'REPORTED'] as [string, string]),
    [idOf(builds.young), 'KEPT'],
    [idOf(builds.protectedOld), 'SKIPPED_PROTECTED'],
    ...leftovers.old.map((n) => [groupId(n), 'DONE'] as [string, string]),
    [groupId(leftovers.young), 'KEPT'],
    [groupId(leftovers.protectedOld), 'SKIPPED_PROTECTED'],
    // The builds' own groups are held by their instances.
    ...[...builds.overAge, ...builds.stoppedOld, builds.young, builds.protectedOld].map((n) => [groupId(n), 'KEPT'] as [string, string]),
  ]);
  const counts = { actionsTaken: 5, actionsFailed: 0, reported: 2, skippedProtected: 2, kept: 1 + 1 + 7, matched: expectedResults.size };
  expect(result.result).toMatchObject({ status: 'SUCCEEDED', dryRun: false, counts });

  const n = onlyNotification(await readNotifications(aws.sqs, queueUrl));
  expect(parseCounts(n.Message)).toEqual(result.result.counts);
  const rows = parseRows(n.Message);
  expect(parseTruncation(n.Message)).toBeUndefined();
  expect(rows.size).toBe(expectedResults.size);
  for (const [id, want] of expectedResults) expect([id, rows.get(id)?.result]).toEqual([id, want]);
  for (const id of stopped) expect([id, rows.get(id)?.action]).toEqual([id, 'STOP']);
  for (const name of leftovers.old) expect(rows.get(groupId(name))?.action).toBe('DELETE');
  expect(rows.has(groupId('web-servers'))).toBe(false);
  expect(rows.has(idOf('prod-web'))).toBe(false);
});

async function securityGroupsByName(): Promise<Map<string, string>> {
  const groups = new Map<string, string>();
  for await (const page of paginateDescribeSecurityGroups({ client: aws.ec2 }, {})) {
    for (const g of page.SecurityGroups ?? []) groups.set(g.GroupName!, g.GroupId!);
  }
  return groups;
}
