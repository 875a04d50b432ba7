/**
 * ImageRetention end to end against moto: the construct is synthesized, the handler's environment is
 * read out of the template, and the SHIPPED bundle (assets/image-retention/index.js) runs in a fresh
 * node process with the event the construct's schedule sends. The fleet (image-retention-harness.ts)
 * spans two accounts: ECR repositories with tagged, untagged, multi-tag, multi-arch, signed, pinned,
 * moved-tag and young images in ACCOUNT, and what runs them: ECS services (one mid-rollout, one at 0
 * tasks), a standalone task, a stopped task, an EventBridge rule and a Scheduler schedule that run
 * task definitions, a Lambda image function with a published version, and a consumer account's
 * service reached through its reader role. The end state is checked image by image against what each
 * fixture is for (the test never calls decide()), task definition by task definition, and in the SNS
 * notification read back from an SQS queue subscribed to the topic. Then: a second run, a run whose
 * consumer role is denied, a run capped at 5 actions, and the opt-in mode (repositories found by tag).
 *
 * moto's gaps are filled in moto_launcher.py only (patches 15-21, listed in the harness); the last block
 * of this file checks each of those patches against the real API's behaviour, without the handler.
 */
import { BatchDeleteImageCommand, CreateRepositoryCommand, PutImageCommand } from '@aws-sdk/client-ecr';
import {
  CreateClusterCommand, CreateServiceCommand, DeregisterTaskDefinitionCommand, DescribeServicesCommand, DescribeTaskDefinitionCommand,
  DescribeTasksCommand, RegisterContainerInstanceCommand, RegisterTaskDefinitionCommand, StartTaskCommand, UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { CreateFunctionCommand, GetFunctionCommand, PublishVersionCommand, UpdateFunctionCodeCommand } from '@aws-sdk/client-lambda';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { Duration, Stack } from 'aws-cdk-lib';
import { createInstances, createTopicWithQueue, readNotifications } from './fleet';
import {
  ACCOUNT, assumeAccount, buildFleet, CONSUMER_ACCOUNT, DAY, denyReaderRole, destroyClients, dockerManifest, ecrImageFixture, Fleet, fleetProps,
  iamQuery, ImageState, MEDIA, ociIndex, ociManifest, onlyRetentionNotification, OPT_IN, parseRows, READER_ROLE, registryImages, resetEmulator,
  RetentionClients, retentionClients, resultRows, Row, runRetentionOk, sha256, startRetentionMoto, synthesizeRetention, taskDefinitionStates,
} from './image-retention-harness';
import { MotoServer } from './moto';
import { RetentionAction } from '../../src';

jest.setTimeout(120_000);

let moto: MotoServer;
let aws: RetentionClients;

beforeAll(async () => {
  moto = await startRetentionMoto();
  aws = retentionClients(moto.endpoint);
}, 300_000);

afterAll(async () => {
  destroyClients(aws);
  await moto?.stop();
});

// ---- what each fixture must become -----------------------------------------------------------------

type Expected =
  | { readonly deleted: true }
  | { readonly kept: string; readonly usedBy?: RegExp }
  | { readonly protected: true }
  | { readonly capped: true }
  | { readonly untouched: true };

const DELETED: Expected = { deleted: true };
const kept = (reason: string, usedBy?: RegExp): Expected => ({ kept: reason, ...(usedBy ? { usedBy } : {}) });
const inUse = (usedBy: RegExp) => kept('in-use', usedBy);
const ecsTask = new RegExp(`^ecs-task ${ACCOUNT}/prod/[0-9a-f-]+$`);

/** Fixture (repository/name) → its end, with action DELETE and the consumer account readable. */
const EXPECTED: Record<string, Expected> = {
  'web/old-tagged': DELETED,
  'web/sig-of-old-tagged': DELETED,
  'web/old-untagged': DELETED,
  'web/cosign-of-old-untagged': DELETED,
  'web/stopped-task': DELETED,
  'web/index-old': DELETED,
  'web/index-old-amd64': DELETED,
  'web/index-old-arm64': DELETED,
  'web/multi-tag': kept('tag-pattern'),
  'web/sig-of-multi-tag': kept('referrer'),
  'web/index-live': inUse(new RegExp(`^ecs-service ${ACCOUNT}/prod/web \\(task definition web-svc:2\\)$`)),
  'web/index-live-amd64': kept('index-child'),
  'web/index-live-arm64': kept('index-child'),
  'web/cosign-of-index-live': kept('referrer'),
  'web/rollback': inUse(new RegExp(`^ecs-service ${ACCOUNT}/prod/web \\(task definition web-svc:1\\)$`)),
  'web/consumer': inUse(new RegExp(`^ecs-service ${CONSUMER_ACCOUNT}/storefront/api \\(task definition api:1\\)$`)),
  'web/moved-old': inUse(ecsTask),
  'web/moved-new': inUse(ecsTask),
  'web/young-1': kept('newest'),
  'web/young-2': kept('newest'),
  'web/young-3': kept('young'),
  'worker/pinned-digest': kept('pinned'),
  'worker/pinned-tag': kept('pinned'),
  'worker/old-tagged': DELETED,
  'worker/old-untagged': DELETED,
  'worker/report-2': DELETED,
  'worker/idle': inUse(new RegExp(`^ecs-service ${ACCOUNT}/prod/idle \\(task definition idle:1\\)$`)),
  'worker/nightly': inUse(new RegExp(`^events-rule ${ACCOUNT}/default/nightly-batch \\(task definition nightly:1\\)$`)),
  'worker/report-1': inUse(new RegExp(`^scheduler-schedule ${ACCOUNT}/default/weekly-report \\(task definition report:1\\)$`)),
  'worker/fn-1': inUse(new RegExp(`^lambda ${ACCOUNT}/reporter:1$`)),
  'worker/fn-2': inUse(new RegExp(`^lambda ${ACCOUNT}/reporter:1$`)),
  'worker/fn-3': inUse(new RegExp(`^lambda ${ACCOUNT}/reporter:\\$LATEST$`)),
  'worker/latest': kept('tag-pattern'),
  'worker/young-1': kept('newest'),
  'worker/young-2': kept('newest'),
  'vault/old-tagged': { protected: true },
  'vault/old-untagged': { protected: true },
  'vault/young-1': kept('newest'),
  'vault/young-2': kept('newest'),
  'scratch/old': { untouched: true },
};

/** `family:revision` → state after the first run, and its report row (`ACTION:RESULT[:kept]`). */
const TASK_DEFINITIONS: Record<string, { state: string; row: string }> = {
  'web-svc:1': { state: 'ACTIVE', row: 'NONE:KEPT:in-use' },
  'web-svc:2': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'idle:1': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'nightly:1': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'report:1': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'report:2': { state: 'DELETED', row: 'DELETE:DONE' },
  'batch:1': { state: 'INACTIVE', row: 'DEREGISTER:DONE' },
  'batch:2': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'oneoff:1': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'legacy-job:1': { state: 'ACTIVE', row: 'DEREGISTER:SKIPPED_PROTECTED' },
  'legacy-job:2': { state: 'ACTIVE', row: 'NONE:KEPT:newest' },
  'old-job:1': { state: 'DELETED', row: 'DELETE:DONE' },
};

const IN_SCOPE = ['web', 'worker', 'vault'];

function idOf(fleet: Fleet, name: string): string {
  const image = fleet.images.get(name);
  if (!image) throw new Error(`no fixture ${name}`);
  return `${image.repository}@${image.digest}`;
}

function tdRow(row: Row | undefined): string | undefined {
  return row && [row.action, row.result, ...(row.details.kept ? [row.details.kept] : [])].join(':');
}

/** The report row an image should have, from its expectation: `ACTION RESULT kept=… usedBy~…`. */
function describeRow(row: Row | undefined): Record<string, string | undefined> | undefined {
  return row && { action: row.action, result: row.result, kept: row.details.kept, usedBy: row.details.usedBy, error: row.error };
}

function expectedRow(expected: Expected, usedBy: string | undefined): Record<string, string | undefined> | undefined {
  if ('untouched' in expected) return undefined;
  if ('deleted' in expected) return { action: 'DELETE', result: 'DONE', kept: undefined, usedBy: undefined, error: undefined };
  if ('protected' in expected) return { action: 'DELETE', result: 'SKIPPED_PROTECTED', kept: 'protected', usedBy: undefined, error: undefined };
  if ('capped' in expected) return { action: 'DELETE', result: 'SKIPPED_CAP', kept: undefined, usedBy: undefined, error: undefined };
  return { action: 'NONE', result: 'KEPT', kept: expected.kept, usedBy: expected.usedBy ? usedBy : undefined, error: undefined };
}

/** Sizes as the handler formats them (1024 steps, one decimal). */
function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The overview line of one repository, from the expectations and the sizes ECR reported before the run. */
function overviewLine(fleet: Fleet, expected: Record<string, Expected>, repository: string, before: Map<string, ImageState>): string {
  const entries = Object.entries(expected).filter(([name]) => name.startsWith(`${repository}/`));
  let inUseCount = 0;
  let deleted = 0;
  let capped = 0;
  let freed = 0;
  const reasons = new Map<string, number>();
  for (const [name, e] of entries) {
    if ('deleted' in e) {
      deleted++;
      freed += before.get(idOf(fleet, name))!.sizeBytes ?? 0;
    } else if ('capped' in e) {
      capped++;
    } else if ('protected' in e) {
      reasons.set('protected', (reasons.get('protected') ?? 0) + 1);
    } else if ('kept' in e) {
      if (e.kept === 'in-use') inUseCount++;
      else reasons.set(e.kept, (reasons.get(e.kept) ?? 0) + 1);
    }
  }
  const keptTotal = [...reasons.values()].reduce((a, b) => a + b, 0);
  const byReason = [...reasons].sort(([a], [b]) => a.localeCompare(b)).map(([r, n]) => `${r} ${n}`).join(', ');
  return `${repository}: ${entries.length} scanned, ${inUseCount} in use, ${keptTotal} kept${byReason ? ` (${byReason})` : ''}, `
    + `${deleted} deleted, 0 failed, ${capped} more deletable, ${formatBytes(freed)} freed`;
}

/** Checks every fixture image against `expected`: still in ECR or not, and its row in the result and the notification. */
function checkImages(
  fleet: Fleet, expected: Record<string, Expected>, before: Map<string, ImageState>, after: Map<string, ImageState>, result: any, body: string,
): void {
  expect(Object.keys(expected).sort()).toEqual([...fleet.images.keys()].sort());
  const rows = resultRows(result);
  const noted = new Map(parseRows(body).map((r) => [r.id, r]));
  for (const [name, e] of Object.entries(expected)) {
    const id = idOf(fleet, name);
    expect([name, before.has(id)]).toEqual([name, true]);
    expect([name, after.has(id)]).toEqual([name, !('deleted' in e)]);
    const row = rows.get(id);
    const want = expectedRow(e, row?.details.usedBy);
    expect([name, describeRow(row)]).toEqual([name, want]);
    expect([name, describeRow(noted.get(id))]).toEqual([name, want]);
    if ('kept' in e && e.usedBy) expect([name, row?.details.usedBy]).toEqual([name, expect.stringMatching(e.usedBy)]);
    if (row) {
      // Every row carries the image's facts as ECR reported them before the run.
      const state = before.get(id)!;
      const tags = row.details.tags === '-' ? [] : row.details.tags.split(',').sort();
      expect([name, row.details.repository, tags, row.details.sizeBytes, row.details.pushedAt])
        .toEqual([name, fleet.images.get(name)!.repository, state.tags, String(state.sizeBytes ?? 0), state.pushedAt!.toISOString()]);
    }
  }
  // No image reported that is not a fixture, and nothing out of scope.
  const fixtureIds = new Set([...fleet.images.keys()].map((n) => idOf(fleet, n)));
  for (const row of rows.values()) if (row.resourceType === 'image') expect([row.id, fixtureIds.has(row.id) && !row.id.startsWith('scratch@')]).toEqual([row.id, true]);
}

async function setUp(): Promise<{ fleet: Fleet; topicArn: string; queueUrl: string }> {
  await resetEmulator(moto.endpoint);
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'image-retention');
  const fleet = await buildFleet(moto.endpoint, aws, Date.now());
  return { fleet, topicArn, queueUrl };
}

test('DELETE with a consumer account and task definitions: every image, every revision and the notification; a second run deletes nothing more', async () => {
  const started = Date.now();
  const { fleet, topicArn, queueUrl } = await setUp();
  const built = Date.now();
  const synth = synthesizeRetention(fleetProps(fleet), topicArn);
  expect(synth.env).toMatchObject({
    TOPIC_ARN: topicArn,
    REPOSITORIES: JSON.stringify(IN_SCOPE),
    KEEP_NEWEST: '2',
    MIN_AGE_SECONDS: String(7 * 86_400),
    KEEP_TAG_PATTERNS: JSON.stringify(['release-*', 'latest']),
    PINNED_IMAGES: JSON.stringify([`worker@${fleet.images.get('worker/pinned-digest')!.digest}`, 'worker:stable']),
    CONSUMER_ACCOUNT_ROLES: JSON.stringify([READER_ROLE]),
    ACTION: 'DELETE',
    TASK_DEFINITIONS: JSON.stringify({ keepNewestRevisions: 1, deregisterUnused: true, deleteInactive: true }),
    DRY_RUN: 'false',
  });
  const all = [...IN_SCOPE, 'scratch'];
  const before = await registryImages(aws.ecr, all);
  expect(before.size).toBe(fleet.images.size);

  const run = await runRetentionOk(synth, moto.endpoint);
  const result = run.result;
  const after = await registryImages(aws.ecr, all);
  const notification = onlyRetentionNotification(await readNotifications(aws.sqs, queueUrl));

  // ---- images ----
  checkImages(fleet, EXPECTED, before, after, result, notification.Message);
  // What stayed is exactly what was there (a moved tag is not put back, nothing retagged).
  for (const [id, state] of after) expect([id, state.tags]).toEqual([id, before.get(id)!.tags]);

  // ---- task definitions ----
  const states = await taskDefinitionStates(aws.ecs, Object.keys(TASK_DEFINITIONS));
  const rows = resultRows(result);
  for (const [id, want] of Object.entries(TASK_DEFINITIONS)) {
    expect([id, states.get(id), tdRow(rows.get(id))]).toEqual([id, want.state, want.row]);
  }

  // ---- counts, overview, notification ----
  const deletedImages = Object.values(EXPECTED).filter((e) => 'deleted' in e).length;
  const protectedImages = Object.values(EXPECTED).filter((e) => 'protected' in e).length;
  const keptImages = Object.values(EXPECTED).filter((e) => 'kept' in e).length;
  const tdDone = Object.values(TASK_DEFINITIONS).filter((t) => t.row.endsWith(':DONE')).length;
  const tdKept = Object.values(TASK_DEFINITIONS).filter((t) => t.row.includes(':KEPT')).length;
  expect(result.status).toBe('SUCCEEDED');
  expect(result.dryRun).toBe(false);
  expect(result.entriesOmitted).toBe(0);
  expect(result.counts).toEqual({
    // Every image of the configured repositories (not scratch's), every ACTIVE and INACTIVE revision.
    scanned: before.size - 1 + Object.keys(TASK_DEFINITIONS).length,
    matched: before.size - 1 + Object.keys(TASK_DEFINITIONS).length,
    actionsTaken: deletedImages + tdDone,
    actionsFailed: 0,
    wouldAct: 0,
    reported: 0,
    skippedProtected: protectedImages + 1,
    skippedCap: 0,
    kept: keptImages + tdKept,
  });
  for (const repository of IN_SCOPE) {
    const line = overviewLine(fleet, EXPECTED, repository, before);
    expect(result.overview).toContain(line);
    expect(notification.Message).toContain(`${line}\n`);
  }
  expect(result.overview).toContain(`task definitions: ${Object.values(TASK_DEFINITIONS).filter((t) => t.row !== 'DELETE:DONE').length} ACTIVE and 2 INACTIVE `
    + 'revisions scanned, 1 deregistered, 2 deleted, 0 failed');
  expect(notification.Subject).toBe(`[fleet-janitor] ImageRetention: ${deletedImages + tdDone} done, ${protectedImages + 1} skipped`);
  expect(notification.Message).toContain('ImageRetention run started ');
  expect(notification.Message).toContain(': SUCCEEDED');
  const noted = parseRows(notification.Message);
  expect(noted).toHaveLength(result.entries.length);
  expect(new Set(noted.map((r) => r.id))).toEqual(new Set(result.entries.map((e: any) => e.id)));
  const firstRun = Date.now();

  // ---- a second run: no image deleted; the revision the first run deregistered is now deleted (INACTIVE, unused) ----
  const second = (await runRetentionOk(synth, moto.endpoint)).result;
  const again = await registryImages(aws.ecr, all);
  expect(again).toEqual(after);
  const secondRows = resultRows(second);
  for (const [name, e] of Object.entries(EXPECTED)) {
    if ('deleted' in e || 'untouched' in e) {
      expect([name, secondRows.has(idOf(fleet, name))]).toEqual([name, false]);
    } else {
      const want = expectedRow(e, secondRows.get(idOf(fleet, name))?.details.usedBy);
      expect([name, describeRow(secondRows.get(idOf(fleet, name)))]).toEqual([name, want]);
    }
  }
  expect(tdRow(secondRows.get('batch:1'))).toBe('DELETE:DONE');
  expect(second.counts.actionsTaken).toBe(1);
  expect(second.counts.actionsFailed).toBe(0);
  const secondStates = await taskDefinitionStates(aws.ecs, Object.keys(TASK_DEFINITIONS));
  expect(Object.fromEntries(secondStates)).toEqual({
    ...Object.fromEntries(Object.entries(TASK_DEFINITIONS).map(([id, t]) => [id, t.state])),
    'batch:1': 'DELETED',
  });
  const secondNotification = onlyRetentionNotification(await readNotifications(aws.sqs, queueUrl));
  expect(secondNotification.Subject).toBe(`[fleet-janitor] ImageRetention: 1 done, ${protectedImages + 1} skipped`);
  process.stderr.write(`image-retention emulator: fleet ${fleet.images.size} images built in ${built - started} ms; `
    + `run 1 ${run.durationMs} ms, checks ${firstRun - built - run.durationMs} ms; test ${Date.now() - started} ms\n`);
});

describe('the consumer role is denied (AccessDenied)', () => {
  let fleet: Fleet;
  let before: Map<string, ImageState>;
  let after: Map<string, ImageState>;
  let result: any;
  let body: string;

  beforeAll(async () => {
    const setup = await setUp();
    fleet = setup.fleet;
    await denyReaderRole(moto.endpoint, fleet.consumer, true);
    const synth = synthesizeRetention(fleetProps(fleet), setup.topicArn);
    const all = [...IN_SCOPE, 'scratch'];
    before = await registryImages(aws.ecr, all);
    result = (await runRetentionOk(synth, moto.endpoint)).result;
    after = await registryImages(aws.ecr, all);
    body = onlyRetentionNotification(await readNotifications(aws.sqs, setup.queueUrl)).Message;
  }, 120_000);

  /**
   * `web` lets the consumer pull: its candidates are kept as unknown-consumer, and so is the image only
   * the consumer ran (its use is unknown now); what goes with a kept candidate keeps its own derived
   * reason (an index's children, the referrers of an image).
   */
  function expectedWhenDenied(): Record<string, Expected> {
    const expected: Record<string, Expected> = { ...EXPECTED };
    for (const [name, e] of Object.entries(EXPECTED)) {
      if (name.startsWith('web/') && 'deleted' in e) expected[name] = kept('unknown-consumer');
    }
    expected['web/consumer'] = kept('unknown-consumer');
    expected['web/index-old-amd64'] = kept('index-child');
    expected['web/index-old-arm64'] = kept('index-child');
    expected['web/sig-of-old-tagged'] = kept('referrer');
    expected['web/cosign-of-old-untagged'] = kept('referrer');
    return expected;
  }

  test('nothing deleted in the repository it may pull, the report names the account; the repositories it cannot pull are cleaned', () => {
    checkImages(fleet, expectedWhenDenied(), before, after, result, body);
    for (const name of Object.keys(EXPECTED).filter((n) => n.startsWith('web/'))) expect([name, after.has(idOf(fleet, name))]).toEqual([name, true]);
    for (const name of ['worker/old-tagged', 'worker/old-untagged', 'worker/report-2']) expect([name, after.has(idOf(fleet, name))]).toEqual([name, false]);
    // The report names the account, its role and the error, and the repository it holds back.
    const line = result.overview.find((l: string) => l.includes(CONSUMER_ACCOUNT));
    expect(line).toBe(`consumer account ${CONSUMER_ACCOUNT} (${READER_ROLE}) could not be read (AccessDenied): `
      + 'every deletable image kept in the 1 repositories it may pull: web');
    expect(body).toContain(`${line}\n`);
    expect(result.status).toBe('SUCCEEDED');
  });
});

test('maxActionsPerRun 5: whole units, oldest first; what does not fit is SKIPPED_CAP, task definition changes included', async () => {
  const { fleet, topicArn, queueUrl } = await setUp();
  const synth = synthesizeRetention(fleetProps(fleet, { maxActionsPerRun: 5 }), topicArn);
  const all = [...IN_SCOPE, 'scratch'];
  const before = await registryImages(aws.ecr, all);
  const result = (await runRetentionOk(synth, moto.endpoint)).result;
  const after = await registryImages(aws.ecr, all);
  const notification = onlyRetentionNotification(await readNotifications(aws.sqs, queueUrl));

  // The candidates' units by their oldest image: worker/old-tagged 120 d, worker/old-untagged 110 d, web/stopped-task 100 d,
  // web/old-tagged with its signature 90 d (5 images so far), worker/report-2 87 d: the sixth image does not fit, nor anything after it.
  const fits = ['worker/old-tagged', 'worker/old-untagged', 'web/stopped-task', 'web/old-tagged', 'web/sig-of-old-tagged'];
  const expected: Record<string, Expected> = { ...EXPECTED };
  for (const [name, e] of Object.entries(EXPECTED)) if ('deleted' in e && !fits.includes(name)) expected[name] = { capped: true };
  expect(Object.keys(expected).filter((n) => 'capped' in expected[n]).sort())
    .toEqual(['web/cosign-of-old-untagged', 'web/index-old', 'web/index-old-amd64', 'web/index-old-arm64', 'web/old-untagged', 'worker/report-2']);
  checkImages(fleet, expected, before, after, result, notification.Message);
  for (const repository of IN_SCOPE) expect(result.overview).toContain(overviewLine(fleet, expected, repository, before));

  // No budget left for task definitions: every planned change is SKIPPED_CAP, the protected one's included; nothing changed.
  const rows = resultRows(result);
  for (const id of ['batch:1', 'report:2', 'old-job:1', 'legacy-job:1']) {
    expect([id, tdRow(rows.get(id))]).toEqual([id, `${TASK_DEFINITIONS[id].row.split(':')[0]}:SKIPPED_CAP`]);
  }
  const states = await taskDefinitionStates(aws.ecs, Object.keys(TASK_DEFINITIONS));
  expect(Object.fromEntries(states)).toEqual({
    ...Object.fromEntries(Object.entries(TASK_DEFINITIONS).map(([id, t]) => [id, t.state])),
    'batch:1': 'ACTIVE',
    'report:2': 'INACTIVE',
    'old-job:1': 'INACTIVE',
  });
  const cappedImages = Object.values(expected).filter((e) => 'capped' in e).length;
  expect(result.counts).toMatchObject({ actionsTaken: fits.length, actionsFailed: 0, skippedCap: cappedImages + 4, skippedProtected: 2 });
  expect(notification.Subject).toBe(`[fleet-janitor] ImageRetention: ${fits.length} done, ${cappedImages + 4 + 2} skipped`);
});

test('opt-in mode: only repositories tagged fleet-janitor:image-retention=enabled are scanned', async () => {
  await resetEmulator(moto.endpoint);
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'image-retention-opt-in');
  const now = Date.now();
  const pushed = new Map<string, string>();
  for (const [repository, tags] of [['opted-in', [{ Key: OPT_IN.key, Value: OPT_IN.value }]], ['opted-out', [{ Key: OPT_IN.key, Value: 'disabled' }]], ['untagged', []]] as const) {
    await aws.ecr.send(new CreateRepositoryCommand({ repositoryName: repository, tags: [...tags] }));
    for (const [name, age] of [['old', 60], ['young', 1]] as const) {
      const manifest = dockerManifest(`${repository}/${name}`);
      await aws.ecr.send(new PutImageCommand({
        repositoryName: repository,
        imageManifest: manifest,
        imageManifestMediaType: MEDIA.dockerManifest,
        imageDigest: sha256(manifest),
        imageTag: name,
      }));
      await ecrImageFixture(moto.endpoint, { repositoryName: repository, digest: sha256(manifest), pushedAt: new Date(now - age * DAY) });
      pushed.set(`${repository}/${name}`, `${repository}@${sha256(manifest)}`);
    }
  }
  const synth = synthesizeRetention((_stack: Stack) => ({ keepNewest: 1, minAge: Duration.days(7), action: RetentionAction.DELETE }), topicArn);
  expect(synth.env.REPOSITORIES).toBeUndefined();
  const run = await runRetentionOk(synth, moto.endpoint);
  const after = await registryImages(aws.ecr, ['opted-in', 'opted-out', 'untagged']);
  expect(Object.fromEntries([...pushed].map(([name, id]) => [name, after.has(id)]))).toEqual({
    'opted-in/old': false,
    'opted-in/young': true,
    'opted-out/old': true,
    'opted-out/young': true,
    'untagged/old': true,
    'untagged/young': true,
  });
  expect([...resultRows(run.result).keys()].sort()).toEqual([pushed.get('opted-in/old'), pushed.get('opted-in/young')].sort());
  const notification = onlyRetentionNotification(await readNotifications(aws.sqs, queueUrl));
  expect(notification.Subject).toBe('[fleet-janitor] ImageRetention: 1 done');
});

// ---- the emulator itself: moto_launcher.py patches 15-21, each against what the real API does -------------

describe('moto_launcher.py patches 15-21', () => {
  const repo = 'patches';
  const push = async (manifest: string, mediaType: string, tag?: string) => {
    await aws.ecr.send(new PutImageCommand({
      repositoryName: repo, imageManifest: manifest, imageManifestMediaType: mediaType, imageDigest: sha256(manifest), imageTag: tag,
    }));
    return sha256(manifest);
  };
  const images = async () => new Map([...await registryImages(aws.ecr, [repo])].map(([id, state]) => [id.slice(repo.length + 1), state.tags]));

  beforeEach(async () => {
    await resetEmulator(moto.endpoint);
    await aws.ecr.send(new CreateRepositoryCommand({ repositoryName: repo }));
  });

  test('15. a moved tag leaves the old image untagged; deletions name untagged images; an index holds its children', async () => {
    const a = await push(dockerManifest('a'), MEDIA.dockerManifest, 'v1');
    const b = await push(dockerManifest('b'), MEDIA.dockerManifest, 'v1');
    expect(await images()).toEqual(new Map([[a, []], [b, ['v1']]]));

    const children = [ociManifest('multi', 'amd64'), ociManifest('multi', 'arm64')];
    const [amd64, arm64] = [await push(children[0], MEDIA.ociManifest), await push(children[1], MEDIA.ociManifest)];
    const index = await push(ociIndex(children.map((manifest, i) => ({ manifest, architecture: ['amd64', 'arm64'][i] }))), MEDIA.ociIndex, 'multi');
    const del = (imageIds: Array<{ imageDigest?: string; imageTag?: string }>) =>
      aws.ecr.send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds }));

    // The index is there when the request starts: its children are refused, even next to it in the same request.
    const first = await del([{ imageDigest: index }, { imageDigest: amd64 }, { imageDigest: a }]);
    expect(first.imageIds).toEqual([{ imageDigest: index, imageTag: 'multi' }, { imageDigest: a }]);
    expect(first.failures).toEqual([{
      imageId: { imageDigest: amd64 },
      failureCode: 'ImageReferencedByManifestList',
      failureReason: `Requested image referenced by manifest list: [${index}]`,
    }]);
    const second = await del([{ imageDigest: amd64 }, { imageDigest: arm64 }, { imageDigest: a }]);
    expect(second.imageIds).toEqual([{ imageDigest: amd64 }, { imageDigest: arm64 }]);
    expect(second.failures).toEqual([{ imageId: { imageDigest: a }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }]);
    expect(await images()).toEqual(new Map([[b, ['v1']]]));
  });

  test('16. push times in the past, and a deletion failure scripted for one image', async () => {
    const a = await push(dockerManifest('a'), MEDIA.dockerManifest, 'v1');
    const b = await push(dockerManifest('b'), MEDIA.dockerManifest);
    const pushedAt = new Date('2026-01-02T03:04:05Z');
    await ecrImageFixture(moto.endpoint, { repositoryName: repo, digest: a, pushedAt });
    expect((await registryImages(aws.ecr, [repo])).get(`${repo}@${a}`)!.pushedAt).toEqual(pushedAt);
    await ecrImageFixture(moto.endpoint, { repositoryName: repo, digest: a, deleteFailure: { code: 'KmsError', reason: 'key disabled' } });
    const out = await aws.ecr.send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageDigest: a }, { imageDigest: b }] }));
    expect(out.failures).toEqual([{ imageId: { imageDigest: a }, failureCode: 'KmsError', failureReason: 'key disabled' }]);
    expect(out.imageIds).toEqual([{ imageDigest: b }]);
    await ecrImageFixture(moto.endpoint, { repositoryName: repo, digest: a, deleteFailure: null });
    expect((await aws.ecr.send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageDigest: a }] }))).imageIds).toEqual([{ imageDigest: a, imageTag: 'v1' }]);
    await expect(ecrImageFixture(moto.endpoint, { repositoryName: repo, digest: a, pushedAt })).rejects.toThrow(/404/);
  });

  test('17-19. tasks report the digest they pulled per container; a new revision adds a deployment; a family means its latest ACTIVE revision', async () => {
    const v1 = await push(dockerManifest('v1'), MEDIA.dockerManifest, 'v1');
    const pinned = await push(dockerManifest('pinned'), MEDIA.dockerManifest);
    await aws.ecs.send(new CreateClusterCommand({ clusterName: 'c' }));
    const [node] = await createInstances(aws.ec2, [{ name: 'node' }]);
    const ci = (await aws.ecs.send(new RegisterContainerInstanceCommand({
      cluster: 'c',
      instanceIdentityDocument: JSON.stringify({ instanceId: node.instanceId, region: 'us-east-1', accountId: ACCOUNT, instanceType: 't3.micro' }),
      instanceIdentityDocumentSignature: 'signature',
    }))).containerInstance!.containerInstanceArn!;
    const image = (reference: string) => `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${repo}${reference}`;
    const register = async (uris: string[]) => (await aws.ecs.send(new RegisterTaskDefinitionCommand({
      family: 'app', containerDefinitions: uris.map((uri, i) => ({ name: `c${i}`, image: uri, memory: 64 })),
    }))).taskDefinition!.taskDefinitionArn!;
    const rev1 = await register([image(':v1'), image(`@${pinned}`), 'public.ecr.aws/docker/library/nginx:1.27']);
    const task = (await aws.ecs.send(new StartTaskCommand({ cluster: 'c', taskDefinition: 'app', containerInstances: [ci] }))).tasks![0];
    await push(dockerManifest('v1-rebuilt'), MEDIA.dockerManifest, 'v1');
    const described = (await aws.ecs.send(new DescribeTasksCommand({ cluster: 'c', tasks: [task.taskArn!] }))).tasks![0];
    expect(described.containers!.map((c) => [c.name, c.image, c.imageDigest])).toEqual([
      ['c0', image(':v1'), v1],
      ['c1', image(`@${pinned}`), pinned],
      ['c2', 'public.ecr.aws/docker/library/nginx:1.27', undefined],
    ]);

    const rev2 = await register([image(':v1')]);
    await aws.ecs.send(new CreateServiceCommand({ cluster: 'c', serviceName: 's', taskDefinition: rev1, desiredCount: 1 }));
    await aws.ecs.send(new UpdateServiceCommand({ cluster: 'c', service: 's', taskDefinition: 'app:2' }));
    const service = (await aws.ecs.send(new DescribeServicesCommand({ cluster: 'c', services: ['s'] }))).services![0];
    expect(service.taskDefinition).toBe(rev2);
    expect(service.deployments!.map((d) => [d.status, d.taskDefinition])).toEqual([['PRIMARY', rev2], ['ACTIVE', rev1]]);
    expect(service.deployments![0].rolloutState).toBe('IN_PROGRESS');

    await aws.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: rev2 }));
    expect((await aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'app' }))).taskDefinition!.taskDefinitionArn).toBe(rev1);
    await aws.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: rev1 }));
    await expect(aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'app' }))).rejects.toThrow('Unable to describe task definition.');
    expect((await aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'app:2' }))).taskDefinition!.status).toBe('INACTIVE');
  });

  test('20. a published Lambda version keeps its ImageUri when $LATEST is updated', async () => {
    const v1 = await push(dockerManifest('fn-v1'), MEDIA.dockerManifest, 'v1');
    const v2 = await push(dockerManifest('fn-v2'), MEDIA.dockerManifest, 'v2');
    const roleXml = await iamQuery(moto.endpoint, { accessKeyId: 'testing', secretAccessKey: 'testing' }, 'CreateRole', {
      RoleName: 'fn', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
    });
    const uri = (tag: string) => `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${repo}:${tag}`;
    await aws.lambda.send(new CreateFunctionCommand({ FunctionName: 'fn', PackageType: 'Image', Code: { ImageUri: uri('v1') }, Role: /<Arn>([^<]+)</.exec(roleXml)![1] }));
    await aws.lambda.send(new PublishVersionCommand({ FunctionName: 'fn' }));
    await aws.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'fn', ImageUri: uri('v2') }));
    const code = async (qualifier: string) => (await aws.lambda.send(new GetFunctionCommand({ FunctionName: 'fn', Qualifier: qualifier }))).Code;
    expect(await code('1')).toMatchObject({ ImageUri: uri('v1'), ResolvedImageUri: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${repo}@${v1}` });
    expect(await code('$LATEST')).toMatchObject({ ImageUri: uri('v2'), ResolvedImageUri: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${repo}@${v2}` });
  });

  test('21. AssumeRole of a role tagged moto-fixture:deny-assume-role is AccessDenied, and allowed again once untagged', async () => {
    const other = await assumeAccount(aws.sts, CONSUMER_ACCOUNT);
    await iamQuery(moto.endpoint, other, 'CreateRole', { RoleName: 'image-retention-reader', AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}' });
    const assume = () => aws.sts.send(new AssumeRoleCommand({ RoleArn: READER_ROLE, RoleSessionName: 'cdk-fleet-janitor-image-retention' }));
    await denyReaderRole(moto.endpoint, other, true);
    const denied = await assume().then(() => undefined, (e) => e);
    expect([denied?.name, denied?.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(denied.message).toContain(`is not authorized to perform: sts:AssumeRole on resource: ${READER_ROLE}`);
    await denyReaderRole(moto.endpoint, other, false);
    expect((await assume()).AssumedRoleUser!.Arn).toBe(`arn:aws:sts::${CONSUMER_ACCOUNT}:assumed-role/image-retention-reader/cdk-fleet-janitor-image-retention`);
  });
});
