/*
 * The ImageRetention handler through its entry point, against the in-memory world of ./harness:
 * pagination of every listing, batch sizes at the API limits, per-item failures, deletion order,
 * throttling, report-only and dry runs, the per-run cap, protection, opt-in, consumer accounts,
 * every kind of reference that keeps an image, task definition revisions, and the report.
 */
import { BatchDeleteImageCommand } from '@aws-sdk/client-ecr';
import { DeleteTaskDefinitionsCommand, DescribeServicesCommand, DescribeTasksCommand, ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import {
  ACCOUNT, child, CONSUMER, CONSUMER_ROLE, DAY, digestsOf, ecrError, ecsError, emfRecords, expectNoStateChanges, FakeImage, image, imageIndex,
  installHandlerHarness, loadHandler, loggedRows, logLines, MEDIA, olds, OTHER_CONSUMER, OTHER_CONSUMER_ROLE, OPT_IN, pacerClock, PROTECTION_TAG,
  ecrMock, ecsMock, eventsMock, lambdaMock, schedulerMock, snsMock, stsMock,
  publishedReport, pullPolicy, referrer, REGION, ROLE_SESSION_NAME, rowsById, RunResult, serve, stsError, taskDefinitionArn, throttled, TOPIC_ARN,
  UNIVERSAL_RUN_TASK, uri, verdict, World,
} from './harness';
import { RULE_SCHEDULED_EVENT } from '../../helpers/scheduled-events';

installHandlerHarness();

async function run(world: World, env: Record<string, string | undefined> = {}, event: unknown = {}): Promise<RunResult> {
  serve(world);
  return loadHandler(env)(event);
}

const roles = (...arns: string[]) => ({ CONSUMER_ACCOUNT_ROLES: JSON.stringify(arns) });
const TASK_DEFINITIONS = (settings: { keepNewestRevisions?: number; deregisterUnused?: boolean; deleteInactive?: boolean } = {}) => ({
  TASK_DEFINITIONS: JSON.stringify({ keepNewestRevisions: 1, deregisterUnused: true, deleteInactive: true, ...settings }),
});
const byDigest = (img: FakeImage) => uri('app', `@${img.digest}`);

describe('pagination', () => {
  test('DescribeImages: every page is read (4 pages of 2), the page size asked for is ECR\'s 1000', async () => {
    const world = new World();
    world.pageSize = 2;
    const images = olds(7);
    world.repository('app', images);
    const result = await run(world);
    const requests = world.callsOf('DescribeImages');
    expect(requests.map((r) => r.input.nextToken)).toEqual([undefined, 'page-2', 'page-4', 'page-6']);
    for (const r of requests) expect(r.input).toMatchObject({ repositoryName: 'app', maxResults: 1000 });
    expect(world.deleted()).toEqual(digestsOf(images));
    expect(result.counts).toMatchObject({ scanned: 7, actionsTaken: 7, actionsFailed: 0 });
  });

  /*
   * Each listing is served 2 items a page, and the one reference that keeps `used` sits on its last
   * page: stopping early would delete it.
   */
  const LISTINGS: Array<[string, string, (world: World, used: FakeImage) => void]> = [
    ['ListClusters', 'ListClusters', (world, used) => {
      for (let i = 1; i <= 4; i++) world.cluster(`empty-${i}`);
      world.service('last', 'web', [byDigest(used)]);
    }],
    ['ListServices', 'ListServices', (world, used) => {
      for (let i = 1; i <= 4; i++) world.service('prod', `svc-${i}`, [uri('base', ':1')]);
      world.service('prod', 'svc-5', [byDigest(used)]);
    }],
    ['ListTasks', 'ListTasks', (world, used) => {
      const td = world.taskDefinition('other', [uri('base', ':1')]);
      for (let i = 1; i <= 4; i++) world.task('prod', { taskDefinitionArn: td });
      world.task('prod', { taskDefinitionArn: td, containers: [{ image: byDigest(used) }] });
    }],
    ['ListRules', 'ListRules', (world, used) => {
      for (let i = 1; i <= 4; i++) world.rule(`rule-${i}`, { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:f${i}` });
      world.rule('rule-5', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`, EcsParameters: { TaskDefinitionArn: world.taskDefinition('nightly', [byDigest(used)]) } });
    }],
    ['ListSchedules', 'ListSchedules', (world, used) => {
      for (let i = 1; i <= 4; i++) world.schedule(`s-${i}`, { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:f${i}` });
      world.schedule('s-5', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`, EcsParameters: { TaskDefinitionArn: world.taskDefinition('report', [byDigest(used)]) } });
    }],
    ['ListFunctions', 'ListFunctions', (world, used) => {
      for (let i = 1; i <= 4; i++) world.lambdaFunction(`zip-${i}`, [{ version: '$LATEST', packageType: 'Zip' }]);
      world.lambdaFunction('img', [{ version: '$LATEST', imageUri: byDigest(used), resolvedImageUri: byDigest(used) }]);
    }],
    ['ListEventBuses', 'ListEventBuses', (world, used) => {
      for (let i = 1; i <= 4; i++) world.rule('r', { Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:q` }, { bus: `bus-${i}` });
      world.rule('r', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`, EcsParameters: { TaskDefinitionArn: world.taskDefinition('bus-job', [byDigest(used)]) } }, { bus: 'bus-5' });
    }],
    ['ListTargetsByRule', 'ListTargetsByRule', (world, used) => {
      for (let i = 1; i <= 4; i++) world.rule('fanout', { Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:q${i}` });
      world.rule('fanout', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`, EcsParameters: { TaskDefinitionArn: world.taskDefinition('fan-job', [byDigest(used)]) } });
    }],
  ];

  test.each(LISTINGS)('%s: a reference on the third page keeps its image', async (_label, op, build) => {
    const world = new World();
    world.pageSize = 2;
    const used = image();
    const unused = image();
    world.repository('app', [used, unused]);
    build(world, used);
    const result = await run(world);
    expect(world.callsOf(op).length).toBeGreaterThanOrEqual(3);
    expect(verdict('app', used)).toBe('KEPT:in-use');
    expect(verdict('app', unused)).toBe('DONE');
    expect(result.status).toBe('SUCCEEDED');
  });

  test('opt-in: DescribeRepositories is read to its last page', async () => {
    const world = new World();
    world.pageSize = 2;
    for (let i = 1; i <= 4; i++) world.repository(`plain-${i}`, olds(1));
    const tagged = olds(2);
    world.repository('tagged', tagged, { tags: { [OPT_IN.key]: OPT_IN.value } });
    await run(world, { REPOSITORIES: undefined });
    expect(world.callsOf('DescribeRepositories').length).toBeGreaterThanOrEqual(3);
    expect(world.deleted()).toEqual(digestsOf(tagged));
  });

  test('ListTaskDefinitions (ACTIVE and INACTIVE) is read to its last page', async () => {
    const world = new World();
    world.pageSize = 2;
    for (let i = 0; i < 5; i++) world.taskDefinition('web', [uri('base', ':1')]);
    for (let i = 0; i < 5; i++) world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    world.repository('app', []);
    await run(world, TASK_DEFINITIONS({ keepNewestRevisions: 1 }));
    const listings = world.callsOf('ListTaskDefinitions');
    expect(listings.filter((c) => c.input.status === 'ACTIVE').length).toBe(3);
    expect(listings.filter((c) => c.input.status === 'INACTIVE').length).toBe(3);
    expect(world.callsOf('DeregisterTaskDefinition').map((c) => c.input.taskDefinition).sort()).toEqual([1, 2, 3, 4].map((r) => taskDefinitionArn('web', r)));
    expect(world.callsOf('DeleteTaskDefinitions').flatMap((c) => c.input.taskDefinitions)).toEqual([1, 2, 3, 4, 5].map((r) => taskDefinitionArn('old', r)));
  });
});

describe('batching', () => {
  test('DescribeServices takes 10 services a call, DescribeTasks 100 tasks a call', async () => {
    const world = new World();
    const images = olds(25);
    world.repository('app', images);
    for (let i = 0; i < 25; i++) world.service('prod', `svc-${i}`, [byDigest(images[i])]);
    const td = world.taskDefinition('worker', [uri('base', ':1')]);
    for (let i = 0; i < 230; i++) world.task('prod', { taskDefinitionArn: td });
    await run(world);
    expect(world.callsOf('DescribeServices').map((c) => c.input.services.length)).toEqual([10, 10, 5]);
    expect(world.callsOf('DescribeTasks').map((c) => c.input.tasks.length)).toEqual([100, 100, 30]);
    expect(world.callsOf('BatchDeleteImage')).toHaveLength(0);
    for (const img of images) expect(verdict('app', img)).toBe('KEPT:in-use');
  });

  test('one DescribeTaskDefinition per distinct revision, however many services and tasks run it', async () => {
    const world = new World();
    world.repository('app', olds(1));
    const web = world.service('prod', 'web', [uri('base', ':1')]);
    const worker = world.taskDefinition('worker', [uri('base', ':2')]);
    for (let i = 0; i < 150; i++) world.task('prod', { taskDefinitionArn: i % 2 ? web : worker });
    world.rule('nightly', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`, EcsParameters: { TaskDefinitionArn: worker } });
    world.schedule('hourly', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`, EcsParameters: { TaskDefinitionArn: web } });
    await run(world);
    expect(world.callsOf('DescribeTaskDefinition').map((c) => c.input.taskDefinition).sort()).toEqual([web, worker].sort());
  });

  test('BatchDeleteImage takes 100 digests a call; per-item failures are FAILED with their code, the rest DONE', async () => {
    const world = new World();
    const images = olds(250);
    world.repository('app', images);
    world.deleteFailures.set(images[7].digest, 'KmsError');
    world.deleteFailures.set(images[240].digest, 'UpstreamAccessDenied');
    const result = await run(world);

    expect(world.deleteCalls().map((ids) => ids.length)).toEqual([100, 100, 50]);
    expect(world.deleted()).toEqual(digestsOf(images));
    expect(verdict('app', images[7])).toBe('FAILED:KmsError');
    expect(verdict('app', images[240])).toBe('FAILED:UpstreamAccessDenied');
    const done = loggedRows().filter((r) => r.outcome === 'DONE');
    expect(done).toHaveLength(248);
    expect(world.digests('app')).toEqual([images[7].digest, images[240].digest].sort());
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(result.counts).toMatchObject({ scanned: 250, actionsTaken: 248, actionsFailed: 2 });
    // the invocation result is bounded, the logs hold every row
    expect(result.entries).toHaveLength(200);
    expect(result.entriesOmitted).toBe(50);
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] ImageRetention: 248 done, 2 failed');
    expect(report.Message).toMatch(new RegExp(`app@${images[7].digest} .*action=DELETE {2}result=FAILED {2}error=KmsError`));
  });

  test('an image already gone (ImageNotFound) is DONE, not failed', async () => {
    const world = new World();
    const images = olds(3);
    world.repository('app', images);
    world.deleteFailures.set(images[1].digest, 'ImageNotFound');
    const result = await run(world);
    expect(images.map((i) => verdict('app', i))).toEqual(['DONE', 'DONE', 'DONE']);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ actionsTaken: 3, actionsFailed: 0 });
  });

  test('an image BatchDeleteImage neither deleted nor refused is FAILED NotReported; a refusal without a code is UnknownError', async () => {
    const world = new World();
    const [unreported, uncoded, deleted] = olds(3);
    world.repository('app', [unreported, uncoded, deleted]);
    serve(world);
    ecrMock.on(BatchDeleteImageCommand).resolves({
      imageIds: [{ imageDigest: deleted.digest }],
      // A refusal that names no image says nothing of the others.
      failures: [{ imageId: { imageDigest: uncoded.digest } }, { failureCode: 'InvalidImageDigest' }],
    });
    const result = await loadHandler()({});
    expect([unreported, uncoded, deleted].map((i) => verdict('app', i))).toEqual(['FAILED:NotReported', 'FAILED:UnknownError', 'DONE']);
    expect(result.counts).toMatchObject({ actionsTaken: 1, actionsFailed: 2 });
  });

  test('a whole BatchDeleteImage call refused: every digest in it FAILED with the call\'s code', async () => {
    const world = new World();
    const images = olds(3);
    world.repository('app', images);
    world.fault('BatchDeleteImage', ecrError('AccessDeniedException', 400), { times: 10 });
    const result = await run(world);
    expect(images.map((i) => verdict('app', i))).toEqual(['FAILED:AccessDeniedException', 'FAILED:AccessDeniedException', 'FAILED:AccessDeniedException']);
    expect(world.callsOf('BatchDeleteImage')).toHaveLength(1);
    expect(result.status).toBe('PARTIAL_FAILURE');
  });
});

describe('deletion order: referrers, then indexes, then the manifests they list', () => {
  function multiArch(props: { tags?: string[]; ageDays?: number } = {}) {
    const amd = child({ ageDays: props.ageDays });
    const arm = child({ ageDays: props.ageDays });
    const index = imageIndex([amd, arm], props);
    return { amd, arm, index, all: [index, amd, arm] };
  }

  test('a signature before its index, the index before its children, in separate calls', async () => {
    const world = new World();
    const m = multiArch();
    const sig = referrer(m.index);
    world.repository('app', [m.amd, sig, m.index, m.arm]);
    const result = await run(world);
    // The fake refuses a child its index still lists: all DONE means the order held.
    expect(world.deleteCalls()).toEqual([[sig.digest], [m.index.digest], [m.amd.digest, m.arm.digest].sort()]);
    expect([sig, ...m.all].map((i) => verdict('app', i))).toEqual(['DONE', 'DONE', 'DONE', 'DONE']);
    expect(world.digests('app')).toEqual([]);
    expect(result.status).toBe('SUCCEEDED');
  });

  test('a docker manifest list is an index too', async () => {
    const world = new World();
    const amd = child();
    const list = imageIndex([amd], { mediaType: MEDIA.dockerList });
    world.repository('app', [amd, list]);
    await run(world);
    expect(world.deleteCalls()).toEqual([[list.digest], [amd.digest]]);
  });

  test('an index that fails to delete: its children are not attempted (FAILED NotAttempted)', async () => {
    const world = new World();
    const m = multiArch();
    const plain = image();
    world.repository('app', [...m.all, plain]);
    world.deleteFailures.set(m.index.digest, 'KmsError');
    const result = await run(world);
    expect(verdict('app', m.index)).toBe('FAILED:KmsError');
    expect(verdict('app', m.amd)).toBe('FAILED:NotAttempted');
    expect(verdict('app', m.arm)).toBe('FAILED:NotAttempted');
    expect(rowsById().get(`app@${m.amd.digest}`)!.reason).toBe('not in use, not pinned, no tag matching keepTagPatterns, older than minAge and outside '
      + 'the newest keepNewest (with its index children and referrers); not attempted: an image that references it in this repository could not be deleted');
    expect(verdict('app', plain)).toBe('DONE');
    expect(world.deleted()).not.toContain(m.amd.digest);
    expect(world.deleted()).not.toContain(m.arm.digest);
    expect(world.digests('app')).toEqual(digestsOf(m.all));
    expect(result.counts).toMatchObject({ actionsTaken: 1, actionsFailed: 3 });
  });

  test('an index in use by its tag keeps its children (index-child), which are never deleted on their own', async () => {
    const world = new World();
    const m = multiArch({ tags: ['v1'] });
    world.repository('app', m.all);
    world.service('prod', 'web', [uri('app', ':v1')]);
    await run(world);
    expect(m.all.map((i) => verdict('app', i))).toEqual(['KEPT:in-use', 'KEPT:index-child', 'KEPT:index-child']);
    expect(world.callsOf('BatchDeleteImage')).toHaveLength(0);
  });

  test('a cosign-tagged signature of a kept image is kept, of a deleted one deleted first', async () => {
    const world = new World();
    const kept = image({ tags: ['latest'] });
    const gone = image();
    const keptSig = image({ tags: [`sha256-${kept.digest.slice(7)}.sig`] });
    const goneSig = image({ tags: [`sha256-${gone.digest.slice(7)}.att`] });
    world.repository('app', [kept, gone, keptSig, goneSig]);
    await run(world);
    expect([kept, gone, keptSig, goneSig].map((i) => verdict('app', i))).toEqual(['KEPT:tag-pattern', 'DONE', 'KEPT:referrer', 'DONE']);
    expect(world.deleteCalls()).toEqual([[goneSig.digest], [gone.digest]]);
  });
});

describe('throttling', () => {
  test('ThrottlingException on a DescribeImages page, a listing, DescribeTaskDefinition, GetFunction and BatchDeleteImage: retried, same end result', async () => {
    const images = olds(6);
    const usedByTask = image();
    const usedByFunction = image();
    const build = () => {
      const world = new World();
      world.pageSize = 2;
      world.repository('app', [...images, usedByTask, usedByFunction]);
      world.service('prod', 'web', [byDigest(usedByTask)]);
      world.lambdaFunction('fn', [{ version: '$LATEST', imageUri: byDigest(usedByFunction), resolvedImageUri: byDigest(usedByFunction) }]);
      return world;
    };
    const calm = build();
    const calmResult = await run(calm);

    const world = build();
    world.fault('DescribeImages', throttled(), { call: 2 });
    world.fault('ListServices', ecsError('ThrottlingException'));
    world.fault('DescribeTaskDefinition', ecsError('ThrottlingException'));
    world.fault('GetFunction', Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    world.fault('BatchDeleteImage', throttled());
    world.fault('BatchGetImage', throttled());
    const result = await run(world);

    // the page that failed was asked for again, and the walk did not start over
    expect(world.callsOf('DescribeImages').map((c) => c.input.nextToken)).toEqual([undefined, 'page-2', 'page-2', 'page-4', 'page-6']);
    // the throttled BatchDeleteImage was sent again, as it was
    expect(world.deleteCalls()).toHaveLength(2);
    expect(world.deleteCalls()[1]).toEqual(world.deleteCalls()[0]);
    expect(world.deleteCalls()[1].sort()).toEqual(calm.deleted());
    expect(world.digests('app')).toEqual(calm.digests('app'));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toEqual(calmResult.counts);
    expect(result.entries.map((e) => `${e.id} ${e.outcome}`).sort()).toEqual(calmResult.entries.map((e) => `${e.id} ${e.outcome}`).sort());
  });
});

describe('report-only, dry run, cap, protection', () => {
  test('ACTION=REPORT: no BatchDeleteImage, candidates REPORTED', async () => {
    const world = new World();
    const images = olds(3);
    const latest = image({ tags: ['latest'] });
    world.repository('app', [...images, latest]);
    const result = await run(world, { ACTION: 'REPORT' });
    expectNoStateChanges(world);
    expect(images.map((i) => verdict('app', i))).toEqual(['REPORTED', 'REPORTED', 'REPORTED']);
    expect(verdict('app', latest)).toBe('KEPT:tag-pattern');
    expect(result.counts).toMatchObject({ reported: 3, kept: 1, actionsTaken: 0 });
    expect(publishedReport().Subject).toBe('[fleet-janitor] ImageRetention: 0 done, 3 reported');
  });

  /** Images to delete, one kept, revisions to deregister and to delete. */
  const MIXED_IMAGES = [...olds(3), image({ tags: ['latest'] })];
  function mixedWorld(): World {
    const world = new World();
    world.repository('app', MIXED_IMAGES);
    for (let i = 0; i < 3; i++) world.taskDefinition('web', [uri('base', ':1')]);
    world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    return world;
  }
  const decisions = (rows: Array<Record<string, any>>) => rows.map((r) => `${r.resourceId} ${r.action} ${r.reason}`).sort();

  test.each([
    ['DRY_RUN=true', { DRY_RUN: 'true' }, {}],
    ['event {dryRun: true}', {}, { dryRun: true }],
    ['DRY_RUN=true, event {dryRun: false} cannot override it', { DRY_RUN: 'true' }, { dryRun: false }],
  ])('%s: the same decisions as a live run, DRY_RUN rows, no change call', async (_label, env, event) => {
    const live = mixedWorld();
    await run(live, TASK_DEFINITIONS());
    const liveRows = loggedRows();
    expect(liveRows.filter((r) => r.outcome === 'DONE')).toHaveLength(6);
    (console.info as jest.Mock).mockClear();
    (console.warn as jest.Mock).mockClear();
    snsMock.resetHistory();

    const world = mixedWorld();
    const result = await run(world, { ...TASK_DEFINITIONS(), ...env }, event);

    expectNoStateChanges(world);
    expect(result.dryRun).toBe(true);
    expect(decisions(loggedRows())).toEqual(decisions(liveRows));
    expect(loggedRows().filter((r) => r.outcome === 'DRY_RUN').map((r) => r.resourceId).sort())
      .toEqual(liveRows.filter((r) => r.outcome === 'DONE').map((r) => r.resourceId).sort());
    expect(result.counts).toMatchObject({ wouldAct: 6, actionsTaken: 0, kept: 2 });
    const report = publishedReport();
    expect(report.Subject).toBe('[fleet-janitor] ImageRetention (dry run): 6 would act');
    expect(report.Message).toContain('DRY RUN: nothing was changed');
  });

  test('maxActionsPerRun takes whole units (an index with its children), oldest first; the rest SKIPPED_CAP', async () => {
    const build = () => {
      const oldest = image({ ageDays: 300 });
      const amd = child({ ageDays: 200 });
      const arm = child({ ageDays: 200 });
      const index = imageIndex([amd, arm], { ageDays: 200 });
      const newest = image({ ageDays: 100 });
      const world = new World();
      world.repository('app', [newest, amd, index, oldest, arm]);
      return { world, oldest, unit: [index, amd, arm], newest };
    };

    // 4: the oldest image, then the 3-image unit; the newest image does not fit.
    let w = build();
    let result = await run(w.world, { MAX_ACTIONS_PER_RUN: '4' });
    expect(verdict('app', w.oldest)).toBe('DONE');
    expect(w.unit.map((i) => verdict('app', i))).toEqual(['DONE', 'DONE', 'DONE']);
    expect(verdict('app', w.newest)).toBe('SKIPPED_CAP');
    expect(result.counts).toMatchObject({ actionsTaken: 4, skippedCap: 1 });

    // 3: the unit does not fit after the oldest image; it is not split, and nothing younger jumps ahead of it.
    w = build();
    result = await run(w.world, { MAX_ACTIONS_PER_RUN: '3' });
    expect(verdict('app', w.oldest)).toBe('DONE');
    expect(w.unit.map((i) => verdict('app', i))).toEqual(['SKIPPED_CAP', 'SKIPPED_CAP', 'SKIPPED_CAP']);
    expect(verdict('app', w.newest)).toBe('SKIPPED_CAP');
    expect(w.world.deleted()).toEqual([w.oldest.digest]);

    // 0: nothing is deleted.
    w = build();
    result = await run(w.world, { MAX_ACTIONS_PER_RUN: '0' });
    expectNoStateChanges(w.world);
    expect(result.counts).toMatchObject({ actionsTaken: 0, skippedCap: 5 });
  });

  test('a repository carrying the protection tag (any value) is scanned and reported; nothing in it is deleted', async () => {
    const world = new World();
    const guarded = olds(2);
    const guardedLatest = image({ tags: ['latest'] });
    const plain = olds(2);
    world.repository('vault', [...guarded, guardedLatest], { tags: { [PROTECTION_TAG]: '' } });
    world.repository('app', plain);
    const result = await run(world, { REPOSITORIES: '["vault","app"]' });
    expect(world.deleteCalls('vault')).toEqual([]);
    expect(guarded.map((i) => verdict('vault', i))).toEqual(['SKIPPED_PROTECTED', 'SKIPPED_PROTECTED']);
    expect(verdict('vault', guardedLatest)).toBe('KEPT:tag-pattern');
    expect(world.deleted()).toEqual(digestsOf(plain));
    expect(result.counts).toMatchObject({ skippedProtected: 2, actionsTaken: 2 });
  });

  test('a custom PROTECTION_TAG_KEY protects, and the default key then does not', async () => {
    const world = new World();
    const custom = olds(1);
    const defaultTagged = olds(1);
    world.repository('custom', custom, { tags: { 'keep-me': 'yes' } });
    world.repository('default', defaultTagged, { tags: { [PROTECTION_TAG]: 'true' } });
    await run(world, { REPOSITORIES: '["custom","default"]', PROTECTION_TAG_KEY: 'keep-me' });
    expect(verdict('custom', custom[0])).toBe('SKIPPED_PROTECTED');
    expect(world.deleted()).toEqual(digestsOf(defaultTagged));
  });
});

describe('which repositories', () => {
  test('opt-in (no REPOSITORIES): only repositories tagged fleet-janitor:image-retention=enabled', async () => {
    const world = new World();
    const enabled = olds(2);
    world.repository('enabled', enabled, { tags: { [OPT_IN.key]: OPT_IN.value } });
    world.repository('disabled', olds(2), { tags: { [OPT_IN.key]: 'disabled' } });
    world.repository('other-key', olds(2), { tags: { 'fleet-janitor:image-retention-x': 'enabled' } });
    world.repository('untagged', olds(2));
    await run(world, { REPOSITORIES: undefined });
    expect(world.callsOf('DescribeImages').map((c) => c.input.repositoryName)).toEqual(['enabled']);
    expect(world.deleted()).toEqual(digestsOf(enabled));
  });

  test('a configured repository that does not exist: an overview line, the others are processed', async () => {
    const world = new World();
    const app = olds(2);
    const other = olds(1);
    world.repository('app', app);
    world.repository('other', other);
    const result = await run(world, { REPOSITORIES: '["app","gone","other"]' });
    expect(world.deleted()).toEqual(digestsOf([...app, ...other]));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.overview).toContain('gone: no such repository in this account and region');
    expect(publishedReport().Message).toContain('gone: no such repository in this account and region');
  });

  test('a repository whose manifests cannot be read is not touched; the others are', async () => {
    const world = new World();
    const broken = [image(), image()];
    const fine = olds(2);
    world.repository('broken', broken);
    world.repository('app', fine);
    world.manifestFailures.set(broken[0].digest, 'KmsError');
    const result = await run(world, { REPOSITORIES: '["broken","app"]' });
    expect(world.deleteCalls('broken')).toEqual([]);
    expect(world.deleted()).toEqual(digestsOf(fine));
    expect(result.overview?.find((l) => l.startsWith('broken:'))).toMatch(/^broken: could not be read \(UnknownError: BatchGetImage could not read 1 manifest\(s\) of broken: sha256:\S+ KmsError\); nothing in it was touched$/);
  });
});

describe('consumer accounts', () => {
  test('AssumeRole with the role and session name; the consumer\'s own clients find its uses, which keep images (usedBy names the account)', async () => {
    const world = new World();
    const byService = image();
    const byTask = image();
    const byFunction = image();
    const byRule = image();
    const unused = image();
    world.repository('app', [byService, byTask, byFunction, byRule, unused]);
    world.service('prod', 'web', [byDigest(byService)], CONSUMER);
    world.task('batch', { taskDefinitionArn: world.taskDefinition('job', [uri('base', ':1')], { account: CONSUMER }), containers: [{ image: byDigest(byTask) }] }, CONSUMER);
    world.lambdaFunction('fn', [{ version: '$LATEST', imageUri: byDigest(byFunction), resolvedImageUri: byDigest(byFunction) }], CONSUMER);
    world.rule('nightly', { Arn: `arn:aws:ecs:${REGION}:${CONSUMER}:cluster/batch`, EcsParameters: { TaskDefinitionArn: world.taskDefinition('nightly', [byDigest(byRule)], { account: CONSUMER }) } }, { account: CONSUMER });
    // The same uses in this account would say so: nothing here names these images.
    const result = await run(world, roles(CONSUMER_ROLE));

    expect(world.callsOf('AssumeRole').map((c) => c.input)).toEqual([{ RoleArn: CONSUMER_ROLE, RoleSessionName: ROLE_SESSION_NAME }]);
    for (const op of ['ListClusters', 'ListEventBuses', 'ListSchedules', 'ListFunctions']) {
      expect(world.callsOf(op, CONSUMER)).toHaveLength(1);
      expect(world.callsOf(op, ACCOUNT)).toHaveLength(1);
    }
    const rows = rowsById();
    expect(rows.get(`app@${byService.digest}`)).toMatchObject({ outcome: 'KEPT', kept: 'in-use', usedBy: `ecs-service ${CONSUMER}/prod/web (task definition web:1)` });
    expect(rows.get(`app@${byTask.digest}`)).toMatchObject({ kept: 'in-use', usedBy: expect.stringMatching(new RegExp(`^ecs-task ${CONSUMER}/batch/`)) });
    expect(rows.get(`app@${byFunction.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `lambda ${CONSUMER}/fn:$LATEST` });
    expect(rows.get(`app@${byRule.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `events-rule ${CONSUMER}/default/nightly (task definition nightly:1)` });
    expect(world.deleted()).toEqual([unused.digest]);
    expect(result.status).toBe('SUCCEEDED');
  });

  test('AssumeRole denied: images in repositories that account may pull are kept (unknown-consumer); a repository it may not pull is cleaned; the overview names the account', async () => {
    const world = new World();
    world.roles.set(CONSUMER_ROLE, stsError('AccessDenied'));
    const shared = olds(2);
    const sharedLatest = image({ tags: ['latest'] });
    const sharedInUse = image();
    const solo = olds(2);
    const others = olds(1);
    const unreadable = olds(1);
    const wildcard = olds(1);
    world.repository('shared', [...shared, sharedLatest, sharedInUse], { policy: pullPolicy(CONSUMER) });
    world.repository('solo', solo);
    world.repository('others', others, { policy: pullPolicy(OTHER_CONSUMER) });
    world.repository('unreadable', unreadable, { policy: ecrError('AccessDeniedException') });
    world.repository('wildcard', wildcard, { policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'ecr:*' }] }) });
    world.service('prod', 'web', [uri('shared', `@${sharedInUse.digest}`)]);
    const result = await run(world, { ...roles(CONSUMER_ROLE, OTHER_CONSUMER_ROLE), REPOSITORIES: '["shared","solo","others","unreadable","wildcard"]' });

    const rows = rowsById();
    for (const img of shared) expect(rows.get(`shared@${img.digest}`)).toMatchObject({ outcome: 'KEPT', kept: 'unknown-consumer', action: 'NONE' });
    expect(rows.get(`shared@${shared[0].digest}`)!.reason).toContain(CONSUMER);
    expect(verdict('shared', sharedLatest)).toBe('KEPT:tag-pattern');
    expect(verdict('shared', sharedInUse)).toBe('KEPT:in-use');
    expect(verdict('unreadable', unreadable[0])).toBe('KEPT:unknown-consumer');
    expect(verdict('wildcard', wildcard[0])).toBe('KEPT:unknown-consumer');
    expect(world.deleted()).toEqual(digestsOf([...solo, ...others]));
    // the other consumer was read normally
    expect(world.callsOf('ListClusters', OTHER_CONSUMER)).toHaveLength(1);
    const line = `consumer account ${CONSUMER} (${CONSUMER_ROLE}) could not be read (AccessDenied): every deletable image kept in the 3 repositories it may pull: shared, unreadable, wildcard`;
    expect(result.overview).toContain(line);
    expect(publishedReport().Message).toContain(line);
    expect(result.status).toBe('SUCCEEDED');
  });

  test('a consumer whose listing fails (role assumed) counts as unread too', async () => {
    const world = new World();
    const shared = olds(2);
    world.repository('app', shared, { policy: pullPolicy(CONSUMER) });
    world.fault('ListFunctions', Object.assign(new Error('denied'), { name: 'AccessDeniedException' }), { account: CONSUMER });
    const result = await run(world, roles(CONSUMER_ROLE));
    expectNoStateChanges(world);
    for (const img of shared) expect(verdict('app', img)).toBe('KEPT:unknown-consumer');
    expect(result.overview).toContain(`consumer account ${CONSUMER} (${CONSUMER_ROLE}) could not be read (AccessDeniedException): every deletable image kept in the 1 repositories it may pull: app`);
  });

  test.each([
    ['ListClusters', () => ecsError('AccessDeniedException')],
    ['ListTasks', () => ecsError('AccessDeniedException')],
    ['DescribeTaskDefinition', () => ecsError('AccessDeniedException')],
    ['ListRules', () => Object.assign(new Error('denied'), { name: 'AccessDeniedException' })],
    ['ListSchedules', () => Object.assign(new Error('denied'), { name: 'AccessDeniedException' })],
    ['GetFunction', () => Object.assign(new Error('denied'), { name: 'AccessDeniedException' })],
  ])('this account\'s %s failing: run FAILED, no BatchDeleteImage, the report says why', async (op, error) => {
    const world = new World();
    world.repository('app', olds(3));
    world.service('prod', 'web', [uri('base', ':1')]);
    world.task('prod', { taskDefinitionArn: world.taskDefinition('job', [uri('base', ':1')]) });
    world.rule('r', { Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:q` });
    world.schedule('s', { Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:q` });
    world.lambdaFunction('fn', [{ version: '$LATEST', imageUri: uri('base', ':1') }]);
    world.fault(op, error(), { account: ACCOUNT, times: 10 });
    serve(world);
    await expect(loadHandler()({})).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expectNoStateChanges(world);
    const report = publishedReport();
    expect(report.Subject).toMatch(/^\[fleet-janitor\] ImageRetention: RUN FAILED/);
    expect(report.Message).toContain(': FAILED');
    expect(report.Message).toContain('The run stopped early');
  });

  test('DescribeServices reporting a failure other than MISSING fails the run; MISSING (deleted since the listing) does not', async () => {
    const world = new World();
    world.repository('app', olds(1));
    world.service('prod', 'web', [uri('base', ':1')]);
    serve(world);
    ecsMock.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: 'svc', reason: 'MISSING' }] });
    expect((await loadHandler()({})).counts.actionsTaken).toBe(1);

    const failing = new World();
    failing.repository('app', olds(1));
    failing.service('prod', 'web', [uri('base', ':1')]);
    serve(failing);
    ecsMock.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: 'svc', reason: 'ACCESS_DENIED' }] });
    await expect(loadHandler()({})).rejects.toThrow(/DescribeServices failed for svc: ACCESS_DENIED/);
    expectNoStateChanges(failing);
  });

  test('DescribeTasks reporting a failure other than MISSING fails the run; MISSING (a task gone since the listing) does not', async () => {
    const world = new World();
    world.repository('app', olds(1));
    world.task('prod', { taskDefinitionArn: world.taskDefinition('job', [uri('base', ':1')]) });
    serve(world);
    ecsMockDescribeTasks({ tasks: [], failures: [{ arn: 'x', reason: 'MISSING' }] });
    const result = await loadHandler()({});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts.actionsTaken).toBe(1);

    const failing = new World();
    failing.repository('app', olds(1));
    failing.task('prod', { taskDefinitionArn: failing.taskDefinition('job', [uri('base', ':1')]) });
    serve(failing);
    ecsMockDescribeTasks({ failures: [{ arn: 'x', reason: 'ACCESS_DENIED' }] });
    await expect(loadHandler()({})).rejects.toThrow(/DescribeTasks failed for x: ACCESS_DENIED/);
    expectNoStateChanges(failing);
  });
});

/** Overrides DescribeTasks with a fixed answer (after serve). */
function ecsMockDescribeTasks(answer: object): void {
  ecsMock.on(DescribeTasksCommand).resolves(answer);
}

describe('what keeps an image', () => {
  test('Lambda: every version\'s ResolvedImageUri digest is kept even after its tag moved; Zip functions are not read', async () => {
    const world = new World();
    const v1Old = image({ ageDays: 200 }); // what version 1 resolved to; its tag has since moved
    const v1Now = image({ ageDays: 100, tags: ['v1'] });
    const current = image({ ageDays: 90, tags: ['v2'] });
    const unused = image({ ageDays: 300 });
    world.repository('app', [v1Old, v1Now, current, unused]);
    world.lambdaFunction('fn', [
      { version: '$LATEST', imageUri: uri('app', ':v2'), resolvedImageUri: byDigest(current) },
      { version: '1', imageUri: uri('app', ':v1'), resolvedImageUri: byDigest(v1Old) },
    ]);
    world.lambdaFunction('zip', [{ version: '$LATEST', packageType: 'Zip' }]);
    await run(world);
    expect(world.callsOf('ListFunctions')[0].input).toMatchObject({ FunctionVersion: 'ALL' });
    expect(world.callsOf('GetFunction').map((c) => c.input)).toEqual([{ FunctionName: 'fn', Qualifier: '$LATEST' }, { FunctionName: 'fn', Qualifier: '1' }]);
    expect(rowsById().get(`app@${v1Old.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `lambda ${ACCOUNT}/fn:1` });
    expect(verdict('app', v1Now)).toBe('KEPT:in-use');
    expect(verdict('app', current)).toBe('KEPT:in-use');
    expect(world.deleted()).toEqual([unused.digest]);
  });

  test('Lambda: a version that reports only its ResolvedImageUri is kept by it', async () => {
    const world = new World();
    const resolved = image();
    const unused = image();
    world.repository('app', [resolved, unused]);
    world.lambdaFunction('fn', [{ version: '3', resolvedImageUri: byDigest(resolved) }]);
    await run(world);
    expect(rowsById().get(`app@${resolved.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `lambda ${ACCOUNT}/fn:3` });
    expect(world.deleted()).toEqual([unused.digest]);
  });

  test('a task whose tag moved is kept by the digest it reported (imageDigest), and the tag\'s new image too', async () => {
    const world = new World();
    const pulled = image({ ageDays: 200 });
    const retagged = image({ ageDays: 100, tags: ['prod'] });
    const unused = image();
    world.repository('app', [pulled, retagged, unused]);
    world.task('prod', { taskDefinitionArn: world.taskDefinition('job', [uri('app', ':prod')]), containers: [{ image: uri('app', ':prod'), imageDigest: pulled.digest }] });
    await run(world);
    expect(verdict('app', pulled)).toBe('KEPT:in-use');
    expect(verdict('app', retagged)).toBe('KEPT:in-use');
    expect(world.deleted()).toEqual([unused.digest]);
  });

  test('tasks: RUNNING and stopping ones count, STOPPED ones do not', async () => {
    const world = new World();
    const running = image();
    const stopping = image();
    const stopped = image();
    world.repository('app', [running, stopping, stopped]);
    const td = world.taskDefinition('job', [uri('base', ':1')]);
    world.task('prod', { taskDefinitionArn: td, containers: [{ image: byDigest(running) }] });
    world.task('prod', { taskDefinitionArn: td, desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING', containers: [{ image: byDigest(stopping) }] });
    world.task('prod', { taskDefinitionArn: td, desiredStatus: 'STOPPED', lastStatus: 'STOPPED', containers: [{ image: byDigest(stopped) }] });
    await run(world);
    expect(world.callsOf('ListTasks').map((c) => c.input.desiredStatus)).toEqual(['RUNNING', 'STOPPED']);
    expect([running, stopping, stopped].map((i) => verdict('app', i))).toEqual(['KEPT:in-use', 'KEPT:in-use', 'DONE']);
  });

  test('services: every deployment (old ones too) and task set counts, at 0 desired tasks too', async () => {
    const world = new World();
    const primary = image();
    const draining = image();
    const taskSet = image();
    const unused = image();
    world.repository('app', [primary, draining, taskSet, unused]);
    const oldRevision = world.taskDefinition('web', [byDigest(draining)]);
    const newRevision = world.taskDefinition('web', [byDigest(primary)]);
    const setRevision = world.taskDefinition('web-blue', [byDigest(taskSet)]);
    world.cluster('prod').services.push({ name: 'web', taskDefinition: newRevision, deployments: [newRevision, oldRevision], taskSets: [setRevision] });
    await run(world);
    expect([primary, draining, taskSet].map((i) => verdict('app', i))).toEqual(['KEPT:in-use', 'KEPT:in-use', 'KEPT:in-use']);
    expect(world.deleted()).toEqual([unused.digest]);
  });

  test('an EventBridge rule target (any bus), a Scheduler ECS target and a universal ecs:runTask target keep their revisions\' images', async () => {
    const world = new World();
    const byRule = image();
    const byBusRule = image();
    const bySchedule = image();
    const byUniversal = image();
    const unused = image();
    world.repository('app', [byRule, byBusRule, bySchedule, byUniversal, unused]);
    const cluster = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/batch`;
    world.rule('nightly', { Arn: cluster, EcsParameters: { TaskDefinitionArn: world.taskDefinition('nightly', [byDigest(byRule), uri('base', ':1')]) } });
    world.rule('orders', { Arn: cluster, EcsParameters: { TaskDefinitionArn: world.taskDefinition('orders', [byDigest(byBusRule)]) } }, { bus: 'orders-bus' });
    world.schedule('report', { Arn: cluster, EcsParameters: { TaskDefinitionArn: world.taskDefinition('report', [byDigest(bySchedule)]) } }, { group: 'finance' });
    world.schedule('sweep', { Arn: UNIVERSAL_RUN_TASK, Input: JSON.stringify({ Cluster: 'batch', TaskDefinition: world.taskDefinition('sweep', [byDigest(byUniversal)]) }) });
    world.schedule('other', { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:f` });
    await run(world);
    const rows = rowsById();
    expect(rows.get(`app@${byRule.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `events-rule ${ACCOUNT}/default/nightly (task definition nightly:1)` });
    expect(rows.get(`app@${byBusRule.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `events-rule ${ACCOUNT}/orders-bus/orders (task definition orders:1)` });
    expect(rows.get(`app@${bySchedule.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `scheduler-schedule ${ACCOUNT}/finance/report (task definition report:1)` });
    expect(rows.get(`app@${byUniversal.digest}`)).toMatchObject({ kept: 'in-use', usedBy: `scheduler-schedule ${ACCOUNT}/default/sweep (task definition sweep:1)` });
    expect(world.deleted()).toEqual([unused.digest]);
    // only the ECS schedules are read in full
    expect(world.callsOf('GetSchedule').map((c) => c.input.Name).sort()).toEqual(['report', 'sweep']);
  });

  test('a family named without a revision means its latest ACTIVE revision', async () => {
    const world = new World();
    const rev1 = image();
    const rev2 = image();
    const rev3Inactive = image();
    world.repository('app', [rev1, rev2, rev3Inactive]);
    world.taskDefinition('batch', [byDigest(rev1)]);
    world.taskDefinition('batch', [byDigest(rev2)]);
    world.taskDefinition('batch', [byDigest(rev3Inactive)], { status: 'INACTIVE' });
    world.rule('nightly', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/batch`, EcsParameters: { TaskDefinitionArn: taskDefinitionArn('batch') } });
    await run(world);
    expect([rev1, rev2, rev3Inactive].map((i) => verdict('app', i))).toEqual(['DONE', 'KEPT:in-use', 'DONE']);
  });

  test('a family-only reference with no ACTIVE revision runs nothing: ignored, the run goes on', async () => {
    const world = new World();
    const images = olds(2);
    world.repository('app', images);
    world.taskDefinition('retired', [byDigest(images[0])], { status: 'INACTIVE' });
    world.rule('legacy', { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/batch`, EcsParameters: { TaskDefinitionArn: taskDefinitionArn('retired') } });
    world.schedule('legacy', { Arn: UNIVERSAL_RUN_TASK, Input: JSON.stringify({ TaskDefinition: 'never-registered' }) });
    const result = await run(world);
    expect(world.callsOf('DescribeTaskDefinition').map((c) => c.input.taskDefinition).sort()).toEqual([taskDefinitionArn('retired'), 'never-registered'].sort());
    expect(result.status).toBe('SUCCEEDED');
    expect(world.deleted()).toEqual(digestsOf(images));
  });

  test('references to other registries, regions or accounts keep nothing here', async () => {
    const world = new World();
    const images = olds(3);
    world.repository('app', images);
    world.service('prod', 'web', [
      `222233334444.dkr.ecr.${REGION}.amazonaws.com/app@${images[0].digest}`,
      `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app@${images[1].digest}`,
      `public.ecr.aws/app@${images[2].digest}`,
    ]);
    await run(world);
    expect(world.deleted()).toEqual(digestsOf(images));
  });

  test('pinned images (by digest and by tag) are kept', async () => {
    const world = new World();
    const byDigestPin = image();
    const byTagPin = image({ tags: ['golden'] });
    const unused = image();
    world.repository('app', [byDigestPin, byTagPin, unused]);
    await run(world, { PINNED_IMAGES: JSON.stringify([`app@${byDigestPin.digest}`, 'app:golden']) });
    expect([byDigestPin, byTagPin].map((i) => verdict('app', i))).toEqual(['KEPT:pinned', 'KEPT:pinned']);
    expect(world.deleted()).toEqual([unused.digest]);
  });
});

describe('task definition revisions', () => {
  test('every revision row says why: newest, in use, to deregister, to delete, protected, beyond the cap', async () => {
    const world = new World();
    world.repository('app', []);
    world.service('prod', 'web', [uri('base', ':1')]);
    world.taskDefinition('web', [uri('base', ':2')]);
    world.taskDefinition('old', [uri('base', ':1')], { tags: { team: 'web' } });
    world.taskDefinition('old', [uri('base', ':1')], { tags: { [PROTECTION_TAG]: 'yes' } });
    world.taskDefinition('old', [uri('base', ':1')]);
    world.taskDefinition('gone', [uri('base', ':1')], { status: 'INACTIVE' });
    world.taskDefinition('gone', [uri('base', ':1')], { status: 'INACTIVE' });
    const result = await run(world, { ...TASK_DEFINITIONS(), MAX_ACTIONS_PER_RUN: '3' });

    const deregister = 'ACTIVE, older than the newest keepNewestRevisions of its family, and nothing runs it';
    const newest = 'among the newest keepNewestRevisions revisions of its family';
    const rows = new Map(loggedRows().filter((r) => r.resourceType === 'task-definition')
      .map((r) => [r.resourceId, `${r.action} ${r.outcome} ${r.kept ?? '-'}: ${r.reason}`]));
    expect(Object.fromEntries(rows)).toEqual({
      'web:2': `NONE KEPT newest: ${newest}`,
      'web:1': 'NONE KEPT in-use: a service, task, rule or schedule runs it',
      'old:3': `NONE KEPT newest: ${newest}`,
      'old:1': `DEREGISTER DONE -: ${deregister}`,
      'old:2': `DEREGISTER SKIPPED_PROTECTED -: ${deregister}; the revision carries the protection tag`,
      'gone:1': 'DELETE DONE -: INACTIVE, and nothing runs it',
      'gone:2': 'DELETE SKIPPED_CAP -: INACTIVE, and nothing runs it; beyond maxActionsPerRun: a later run handles it',
    });
    expect(result.overview).toContain('task definitions: 5 ACTIVE and 2 INACTIVE revisions scanned, 1 deregistered, 1 deleted, 0 failed');
  });

  test('deregistered one call at a time, spaced by the pacer (1 s); newest and in-use revisions kept', async () => {
    const world = new World();
    world.repository('app', []);
    const revisions = Array.from({ length: 6 }, () => world.taskDefinition('web', [uri('base', ':1')]));
    world.cluster('prod').services.push({ name: 'web', taskDefinition: revisions[0], deployments: [revisions[0]] });
    const result = await run(world, TASK_DEFINITIONS({ keepNewestRevisions: 2, deleteInactive: false }));

    const calls = world.calls.map((c, i) => ({ ...c, at: world.callTimes[i] })).filter((c) => c.op === 'DeregisterTaskDefinition');
    expect(calls.map((c) => c.input.taskDefinition).sort()).toEqual([revisions[1], revisions[2], revisions[3]]);
    expect(pacerClock.intervals).toEqual([1_000]);
    for (let i = 1; i < calls.length; i++) expect(calls[i].at - calls[i - 1].at).toBeGreaterThanOrEqual(1_000);
    expect(pacerClock.waits).toEqual([1_000, 1_000]);
    const rows = rowsById();
    expect(rows.get('web:1')).toMatchObject({ action: 'NONE', outcome: 'KEPT', kept: 'in-use' });
    expect(rows.get('web:6')).toMatchObject({ action: 'NONE', outcome: 'KEPT', kept: 'newest' });
    expect(rows.get('web:5')).toMatchObject({ outcome: 'KEPT', kept: 'newest' });
    for (const id of ['web:2', 'web:3', 'web:4']) expect(rows.get(id)).toMatchObject({ resourceType: 'task-definition', action: 'DEREGISTER', outcome: 'DONE' });
    expect(world.account(ACCOUNT).taskDefinitions.map((t) => t.status)).toEqual(['ACTIVE', 'INACTIVE', 'INACTIVE', 'INACTIVE', 'ACTIVE', 'ACTIVE']);
    expect(result.overview).toContain('task definitions: 6 ACTIVE and 0 INACTIVE revisions scanned, 3 deregistered, 0 deleted, 0 failed');
  });

  test('a throttled deregistration is retried, and the retry waits its turn too', async () => {
    const world = new World();
    world.repository('app', []);
    for (let i = 0; i < 3; i++) world.taskDefinition('web', [uri('base', ':1')]);
    world.fault('DeregisterTaskDefinition', ecsError('ThrottlingException'), { call: 1 });
    await run(world, TASK_DEFINITIONS({ keepNewestRevisions: 1 }));
    const times = world.calls.map((c, i) => [c.op, world.callTimes[i]] as const).filter(([op]) => op === 'DeregisterTaskDefinition').map(([, t]) => t);
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(1_000);
    expect(loggedRows().filter((r) => r.action === 'DEREGISTER').map((r) => r.outcome)).toEqual(['DONE', 'DONE']);
  });

  test('INACTIVE revisions nothing runs are deleted 10 a call (paced); one a running task still uses is kept', async () => {
    const world = new World();
    world.repository('app', []);
    const inactive = Array.from({ length: 24 }, () => world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' }));
    world.task('prod', { taskDefinitionArn: inactive[5] });
    const result = await run(world, TASK_DEFINITIONS({ deregisterUnused: false }));
    const calls = world.callsOf('DeleteTaskDefinitions');
    expect(calls.map((c) => c.input.taskDefinitions.length)).toEqual([10, 10, 3]);
    expect(calls.flatMap((c) => c.input.taskDefinitions)).not.toContain(inactive[5]);
    expect(pacerClock.waits).toEqual([1_000, 1_000]);
    expect(rowsById().get('old:6')).toMatchObject({ action: 'NONE', outcome: 'KEPT', kept: 'in-use' });
    expect(loggedRows().filter((r) => r.action === 'DELETE' && r.resourceType === 'task-definition' && r.outcome === 'DONE')).toHaveLength(23);
    expect(result.overview).toContain('task definitions: 0 ACTIVE and 24 INACTIVE revisions scanned, 0 deregistered, 23 deleted, 0 failed');
  });

  test('a DeleteTaskDefinitions per-item failure is reported with its reason, the rest DONE', async () => {
    const world = new World();
    world.repository('app', []);
    for (let i = 0; i < 3; i++) world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    serve(world);
    ecsMock.on(DeleteTaskDefinitionsCommand).resolves({
      taskDefinitions: [{ taskDefinitionArn: taskDefinitionArn('old', 1) }, { taskDefinitionArn: taskDefinitionArn('old', 3) }],
      failures: [{ arn: taskDefinitionArn('old', 2), reason: 'TASK_DEFINITION_IN_USE' }],
    });
    const result = await loadHandler(TASK_DEFINITIONS())({});
    const rows = rowsById();
    expect(rows.get('old:1')?.outcome).toBe('DONE');
    expect(rows.get('old:2')).toMatchObject({ outcome: 'FAILED', errorCode: 'TASK_DEFINITION_IN_USE' });
    expect(rows.get('old:3')?.outcome).toBe('DONE');
    expect(result.status).toBe('PARTIAL_FAILURE');
  });

  test('a DeleteTaskDefinitions per-item failure without a reason is UnknownError', async () => {
    const world = new World();
    world.repository('app', []);
    world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    serve(world);
    ecsMock.on(DeleteTaskDefinitionsCommand).resolves({ failures: [{ arn: taskDefinitionArn('old', 1) }] });
    await loadHandler(TASK_DEFINITIONS())({});
    expect(rowsById().get('old:1')).toMatchObject({ outcome: 'FAILED', errorCode: 'UnknownError' });
  });

  test('a revision whose tags cannot be read, or that ECS refuses to deregister, is FAILED with the code; the others go on', async () => {
    const world = new World();
    world.repository('app', []);
    for (let i = 0; i < 4; i++) world.taskDefinition('web', [uri('base', ':1')]);
    for (let i = 0; i < 2; i++) world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    serve(world);
    const refuse = (name: string) => Object.assign(new Error(`${name} (test)`), { name });
    world.fault('ecs:ListTagsForResource', refuse('AccessDeniedException'), { call: 1 });
    world.fault('DeregisterTaskDefinition', refuse('ClientException'), { call: 1 });
    world.fault('DeleteTaskDefinitions', refuse('ServerException'), { times: 10 });
    const result = await loadHandler(TASK_DEFINITIONS())({});
    const rows = loggedRows().filter((r) => r.resourceType === 'task-definition' && r.action !== 'NONE');
    expect(rows.map((r) => `${r.action} ${r.outcome}${r.errorCode ? ` ${r.errorCode}` : ''}`).sort()).toEqual([
      'DELETE FAILED ServerException',
      'DELETE FAILED ServerException',
      'DEREGISTER DONE',
      'DEREGISTER FAILED AccessDeniedException',
      'DEREGISTER FAILED ClientException',
    ]);
    // the revision whose tags were not read was never deregistered
    expect(world.callsOf('DeregisterTaskDefinition')).toHaveLength(2);
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(result.overview).toContain('task definitions: 4 ACTIVE and 2 INACTIVE revisions scanned, 1 deregistered, 0 deleted, 4 failed');
  });

  test('a revision carrying the protection tag is SKIPPED_PROTECTED, never deregistered', async () => {
    const world = new World();
    world.repository('app', []);
    world.taskDefinition('web', [uri('base', ':1')], { tags: { [PROTECTION_TAG]: 'audit' } });
    world.taskDefinition('web', [uri('base', ':1')]);
    world.taskDefinition('web', [uri('base', ':1')]);
    const result = await run(world, TASK_DEFINITIONS({ keepNewestRevisions: 1 }));
    expect(world.callsOf('DeregisterTaskDefinition').map((c) => c.input.taskDefinition)).toEqual([taskDefinitionArn('web', 2)]);
    expect(rowsById().get('web:1')).toMatchObject({ action: 'DEREGISTER', outcome: 'SKIPPED_PROTECTED' });
    expect(result.counts.skippedProtected).toBe(1);
  });

  test('the per-run cap is shared: images first, then revisions with what is left', async () => {
    const world = new World();
    const images = olds(2);
    world.repository('app', images);
    for (let i = 0; i < 4; i++) world.taskDefinition('web', [uri('base', ':1')]);
    const result = await run(world, { ...TASK_DEFINITIONS({ keepNewestRevisions: 1 }), MAX_ACTIONS_PER_RUN: '3' });
    expect(world.deleted()).toEqual(digestsOf(images));
    // Which of the three candidate revisions goes first is decideRevisions' order; one does, two wait.
    expect(world.callsOf('DeregisterTaskDefinition')).toHaveLength(1);
    const rows = rowsById();
    expect(['web:1', 'web:2', 'web:3'].map((id) => rows.get(id)?.outcome).sort()).toEqual(['DONE', 'SKIPPED_CAP', 'SKIPPED_CAP']);
    expect(rows.get('web:4')).toMatchObject({ outcome: 'KEPT', kept: 'newest' });
    expect(result.counts).toMatchObject({ actionsTaken: 3, skippedCap: 2 });
  });

  test('ACTION=REPORT: revisions are REPORTED, no call changes them', async () => {
    const world = new World();
    world.repository('app', []);
    for (let i = 0; i < 3; i++) world.taskDefinition('web', [uri('base', ':1')]);
    world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    await run(world, { ...TASK_DEFINITIONS(), ACTION: 'REPORT' });
    expectNoStateChanges(world);
    expect(loggedRows().filter((r) => r.resourceType === 'task-definition' && r.action !== 'NONE').map((r) => `${r.resourceId} ${r.action} ${r.outcome}`).sort())
      .toEqual(['old:1 DELETE REPORTED', 'web:1 DEREGISTER REPORTED', 'web:2 DEREGISTER REPORTED']);
  });

  test('without TASK_DEFINITIONS, revisions are not even listed', async () => {
    const world = new World();
    world.repository('app', []);
    world.taskDefinition('web', [uri('base', ':1')]);
    world.taskDefinition('web', [uri('base', ':1')]);
    await run(world);
    expect(world.callsOf('ListTaskDefinitions')).toHaveLength(0);
  });
});

describe('report', () => {
  function reportWorld() {
    const world = new World();
    const inUse = image({ sizeBytes: 4_096 });
    const latest = image({ tags: ['latest', 'v3'], sizeBytes: 1_024 });
    const young = image({ ageDays: 1 });
    const old = [image({ sizeBytes: 1_536 }), image({ sizeBytes: 512, tags: ['v1'] })];
    world.repository('app', [inUse, latest, young, ...old]);
    world.service('prod', 'web', [byDigest(inUse)]);
    return { world, inUse, latest, young, old };
  }

  test('one SNS message: short subject, the overview line per repository and a line per image', async () => {
    const { world, inUse, latest, old } = reportWorld();
    const result = await run(world, { AWS_LAMBDA_FUNCTION_NAME: 'app-ImageRetention' });
    expect(result.status).toBe('SUCCEEDED');
    const report = publishedReport();
    expect(report.TopicArn).toBe(TOPIC_ARN);
    expect(report.Subject).toBe('[fleet-janitor] ImageRetention: 2 done');
    expect(report.Subject!.length).toBeLessThan(100);
    const overview = 'app: 5 scanned, 1 in use, 2 kept (tag-pattern 1, young 1), 2 deleted, 0 failed, 0 more deletable, 2.0 KiB freed';
    expect(result.overview).toEqual([overview]);
    expect(report.Message).toContain(`\n${overview}\n`);
    expect(report.Message).toContain('Live run');
    expect(report.Message).toMatch(new RegExp(`- image app@${inUse.digest} {2}repository=app {2}tags=- {2}pushedAt=\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z {2}sizeBytes=4096 {2}kept=in-use {2}usedBy=ecs-service ${ACCOUNT}/prod/web \\(task definition web:1\\) {2}action=NONE {2}result=KEPT`));
    expect(report.Message).toMatch(new RegExp(`- image app@${latest.digest} {2}repository=app {2}tags=latest,v3 .*kept=tag-pattern {2}action=NONE {2}result=KEPT`));
    expect(report.Message).toMatch(new RegExp(`- image app@${old[1].digest} {2}repository=app {2}tags=v1 .*sizeBytes=512 {2}action=DELETE {2}result=DONE`));
  });

  test('every row says why: each keep reason, a deletion, the cap and protection; the overview counts each repository\'s own rows', async () => {
    const world = new World();
    const inUse = image();
    const pinned = image({ tags: ['v9'] });
    const kid = child();
    const index = imageIndex([kid], { tags: ['latest'] });
    const signature = referrer(index);
    const noPushTime = { ...image(), pushedAt: undefined as unknown as Date };
    const young = image({ ageDays: 1, tags: ['a', 'b'] });
    const oldest = image({ ageDays: 200, sizeBytes: 3 * 1024 * 1024 });
    const older = image({ ageDays: 150 });
    world.repository('app', [inUse, pinned, index, kid, signature, noPushTime, young, oldest, older]);
    const locked = image();
    world.repository('locked', [locked, image({ ageDays: 40 })], { tags: { [PROTECTION_TAG]: '' } });
    world.service('prod', 'web', [byDigest(inUse)]);
    const result = await run(world, { REPOSITORIES: '["app","locked"]', KEEP_NEWEST: '1', PINNED_IMAGES: '["app:v9"]', MAX_ACTIONS_PER_RUN: '1' });

    const candidate = 'not in use, not pinned, no tag matching keepTagPatterns, older than minAge and outside the newest keepNewest (with its index children and referrers)';
    const usedBy = `ecs-service ${ACCOUNT}/prod/web (task definition web:1)`;
    const rows = rowsById();
    const row = (img: FakeImage, repository = 'app') => {
      const r = rows.get(`${repository}@${img.digest}`)!;
      return { outcome: r.outcome, action: r.action, reason: r.reason, kept: r.kept, usedBy: r.usedBy, tags: r.tags };
    };
    expect(row(inUse)).toEqual({ outcome: 'KEPT', action: 'NONE', reason: `in use: ${usedBy}`, kept: 'in-use', usedBy, tags: '-' });
    expect(row(pinned)).toEqual({ outcome: 'KEPT', action: 'NONE', reason: 'pinned: pinnedImages app:v9', kept: 'pinned', usedBy: undefined, tags: 'v9' });
    expect(row(index)).toMatchObject({ outcome: 'KEPT', reason: 'a tag matches keepTagPatterns', kept: 'tag-pattern', tags: 'latest' });
    expect(row(kid)).toMatchObject({ outcome: 'KEPT', reason: 'listed by a kept image index', kept: 'index-child' });
    expect(row(signature)).toMatchObject({ outcome: 'KEPT', reason: 'a signature, SBOM or attestation of a kept image', kept: 'referrer' });
    expect(row(noPushTime)).toMatchObject({ outcome: 'KEPT', reason: 'among the newest keepNewest images of its repository', kept: 'newest' });
    expect(rows.get(`app@${noPushTime.digest}`)!.pushedAt).toBe('unknown');
    expect(row(young)).toMatchObject({ outcome: 'KEPT', reason: 'pushed less than minAge ago', kept: 'young', tags: 'a,b' });
    expect(row(oldest)).toEqual({ outcome: 'DONE', action: 'DELETE', reason: candidate, kept: undefined, usedBy: undefined, tags: '-' });
    expect(row(older)).toEqual({ outcome: 'SKIPPED_CAP', action: 'DELETE', reason: `${candidate}; beyond maxActionsPerRun: a later run deletes it`, kept: undefined, usedBy: undefined, tags: '-' });
    expect(row(locked, 'locked')).toEqual({
      outcome: 'SKIPPED_PROTECTED', action: 'DELETE', reason: `${candidate}; the repository carries the protection tag`, kept: 'protected', usedBy: undefined, tags: '-',
    });
    expect(result.overview).toEqual([
      'app: 9 scanned, 1 in use, 6 kept (index-child 1, newest 1, pinned 1, referrer 1, tag-pattern 1, young 1), 1 deleted, 0 failed, 1 more deletable, 3.0 MiB freed',
      'locked: 2 scanned, 0 in use, 2 kept (newest 1, protected 1), 0 deleted, 0 failed, 0 more deletable, 0 B freed',
    ]);
  });

  test.each([
    ['ACTION=REPORT', { ACTION: 'REPORT' }, '0 deleted, 0 failed, 2 more deletable, 0 B freed'],
    ['DRY_RUN=true', { DRY_RUN: 'true' }, '0 deleted, 0 failed, 2 more deletable, 0 B freed'],
    ['a live run with one image failing', {}, '1 deleted, 1 failed, 0 more deletable, 1000 B freed'],
  ])('the overview of a repository with nothing kept: %s', async (_label, env, counts) => {
    const world = new World();
    const [fails, goes] = olds(2);
    world.repository('app', [fails, goes]);
    world.deleteFailures.set(fails.digest, 'KmsError');
    const result = await run(world, env);
    expect(result.overview).toEqual([`app: 2 scanned, 0 in use, 0 kept, ${counts}`]);
  });

  test.each([
    [1_023, '1023 B'],
    [1_024, '1.0 KiB'],
    [5 * 2 ** 30, '5.0 GiB'],
    [3 * 2 ** 40, '3.0 TiB'],
    [2 ** 50, '1024.0 TiB'],
  ])('the overview gives the bytes freed in binary units: %i bytes are %s', async (sizeBytes, freed) => {
    const world = new World();
    world.repository('app', [image({ sizeBytes })]);
    const result = await run(world);
    expect(result.overview).toEqual([`app: 1 scanned, 0 in use, 0 kept, 1 deleted, 0 failed, 0 more deletable, ${freed} freed`]);
  });

  test('EMF metrics and one JSON log line per image', async () => {
    const { world } = reportWorld();
    await run(world, { AWS_LAMBDA_FUNCTION_NAME: 'app-ImageRetention' });
    const emf = emfRecords();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ ResourcesScanned: 5, ActionsTaken: 2, ActionsFailed: 0, SkippedProtected: 0, SkippedCap: 0, service: 'ImageRetention', FunctionName: 'app-ImageRetention' });
    expect(emf[0]._aws.CloudWatchMetrics[0].Namespace).toBe('CdkFleetJanitorTest');
    expect(loggedRows()).toHaveLength(5);
    expect(logLines('info').filter((l) => l.message === 'run finished')).toEqual([expect.objectContaining({ status: 'SUCCEEDED', notificationId: 'msg-1' })]);
  });

  test('nothing in scope (opt-in, no tagged repository): a report all the same, no image call', async () => {
    const world = new World();
    world.repository('untagged', olds(2));
    const result = await run(world, { REPOSITORIES: undefined });
    expect(world.callsOf('DescribeImages')).toHaveLength(0);
    expect(result.status).toBe('SUCCEEDED');
    expect(publishedReport().Message).toContain('No matching resources.');
  });

  test('every client says who is calling: cdk-fleet-janitor/image-retention in the user agent', async () => {
    const world = new World();
    world.repository('app', olds(1));
    await run(world);
    for (const mock of [ecrMock, ecsMock, eventsMock, schedulerMock, lambdaMock, snsMock]) {
      const client = mock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } };
      expect(client.config.customUserAgent).toEqual([['cdk-fleet-janitor/image-retention']]);
    }
  });
});

test('a run with a Scheduled Event is a normal run', async () => {
  const world = new World();
  const images = olds(2);
  world.repository('app', images);
  const result = await run(world, {}, RULE_SCHEDULED_EVENT);
  expect(result.status).toBe('SUCCEEDED');
  expect(world.deleted()).toEqual(digestsOf(images));
  expect(DAY).toBe(86_400);
});

describe('the entry point\'s own lines and counts', () => {
  test('nothing in scope and no task definitions: a log line says what was looked for, and no account\'s usage is read', async () => {
    const world = new World();
    world.repository('untagged', olds(2));
    await run(world, { REPOSITORIES: undefined, ...roles(CONSUMER_ROLE) });
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'no repository in scope', repositories: 'tagged' }));
    for (const op of ['ListClusters', 'ListEventBuses', 'ListSchedules', 'ListFunctions', 'AssumeRole']) expect(world.callsOf(op)).toEqual([]);

    await run(new World(), { REPOSITORIES: '["gone"]' });
    expect(logLines('info').filter((l) => l.message === 'no repository in scope').at(-1)).toMatchObject({ repositories: ['gone'] });
  });

  test('no repository in scope but task definitions on: the revisions are swept all the same', async () => {
    const world = new World();
    world.repository('untagged', olds(2));
    for (let i = 0; i < 3; i++) world.taskDefinition('web', [uri('base', ':1')]);
    const result = await run(world, { REPOSITORIES: undefined, ...TASK_DEFINITIONS({ keepNewestRevisions: 1 }) });
    expect(world.callsOf('DeregisterTaskDefinition').map((c) => c.input.taskDefinition)).toEqual([1, 2].map((r) => taskDefinitionArn('web', r)));
    expect(world.deleted()).toEqual([]);
    expect(result.overview).toContain('task definitions: 3 ACTIVE and 0 INACTIVE revisions scanned, 2 deregistered, 0 deleted, 0 failed');
  });

  test('scanned counts images and revisions; the task definition line counts its own rows, not the images\'', async () => {
    const world = new World();
    const images = olds(3);
    world.repository('app', images);
    world.deleteFailures.set(images[2].digest, 'KmsError');
    for (let i = 0; i < 2; i++) world.taskDefinition('web', [uri('base', ':1')]);
    world.taskDefinition('old', [uri('base', ':1')], { status: 'INACTIVE' });
    const result = await run(world, TASK_DEFINITIONS({ keepNewestRevisions: 1 }));
    expect(world.digests('app')).toEqual([images[2].digest]);
    expect(result.counts.scanned).toBe(3 + 2 + 1);
    expect(result.overview).toContain('task definitions: 2 ACTIVE and 1 INACTIVE revisions scanned, 1 deregistered, 1 deleted, 0 failed');
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'plan', images: 3, deletions: 2 + 1, dryRun: false, action: 'DELETE' }));
  });

  test('ListTaskDefinitions throttled on a middle page resumes from its token: each revision listed once', async () => {
    const world = new World();
    world.pageSize = 2;
    for (let i = 0; i < 5; i++) world.taskDefinition('web', [uri('base', ':1')]);
    world.repository('app', []);
    world.fault('ListTaskDefinitions', throttled(), { call: 2 });
    const result = await run(world, TASK_DEFINITIONS({ keepNewestRevisions: 1, deleteInactive: false }));
    expect(world.callsOf('ListTaskDefinitions').map((c) => c.input.nextToken)).toEqual([undefined, expect.any(String), expect.any(String), expect.any(String)]);
    expect(result.counts.scanned).toBe(5);
    expect(world.callsOf('DeregisterTaskDefinition')).toHaveLength(4);
  });

  test('a ListTaskDefinitions page without its list lists nothing', async () => {
    const world = new World();
    world.repository('app', []);
    serve(world);
    ecsMock.on(ListTaskDefinitionsCommand).resolves({});
    const result = await loadHandler(TASK_DEFINITIONS())({});
    expect(result.counts.scanned).toBe(0);
    expect(result.overview).toContain('task definitions: 0 ACTIVE and 0 INACTIVE revisions scanned, 0 deregistered, 0 deleted, 0 failed');
  });

  test('ACTION=REPORT: the cap does not thin the report of revisions', async () => {
    const world = new World();
    world.repository('app', []);
    for (let i = 0; i < 4; i++) world.taskDefinition('web', [uri('base', ':1')]);
    await run(world, { ...TASK_DEFINITIONS({ keepNewestRevisions: 1 }), ACTION: 'REPORT', MAX_ACTIONS_PER_RUN: '1' });
    expect(loggedRows().filter((r) => r.resourceType === 'task-definition' && r.action !== 'NONE').map((r) => r.outcome)).toEqual(['REPORTED', 'REPORTED', 'REPORTED']);
  });

  test('a repository that cannot be read and a consumer that cannot be read each leave a warning with the reason', async () => {
    const world = new World();
    const broken = [image()];
    world.repository('broken', broken);
    world.repository('app', olds(1), { policy: pullPolicy(CONSUMER) });
    world.manifestFailures.set(broken[0].digest, 'KmsError');
    world.roles.set(CONSUMER_ROLE, stsError('AccessDenied', 403, 'no entry'));
    await run(world, { REPOSITORIES: '["broken","app"]', ...roles(CONSUMER_ROLE) });
    expect(logLines('warn')).toContainEqual(expect.objectContaining({
      message: 'repository not read: nothing in it is touched this run', repository: 'broken', errorCode: 'UnknownError', error: expect.stringContaining('KmsError'),
    }));
    expect(logLines('warn')).toContainEqual(expect.objectContaining({
      message: 'consumer account not read', role: CONSUMER_ROLE, account: CONSUMER, errorCode: 'AccessDenied', error: 'no entry',
    }));
    // The kept rows name the unread account, and only it.
    expect(loggedRows().find((r) => r.resourceId?.startsWith('app@'))).toMatchObject({
      kept: 'unknown-consumer', reason: `consumer account(s) that may pull this repository could not be read (${CONSUMER}): nothing is deleted on partial knowledge`,
    });
  });

  test('a failed consumer that may pull none of the repositories: the line says 0, and the run cleans them', async () => {
    const world = new World();
    const images = olds(1);
    world.repository('app', images);
    world.roles.set(CONSUMER_ROLE, stsError('AccessDenied'));
    const result = await run(world, roles(CONSUMER_ROLE));
    expect(result.overview).toContain(`consumer account ${CONSUMER} (${CONSUMER_ROLE}) could not be read (AccessDenied): every deletable image kept in the 0 repositories it may pull`);
    expect(world.deleted()).toEqual(digestsOf(images));
  });

  test.each([
    ['no credentials at all', {}],
    ['a key without its secret', { Credentials: { AccessKeyId: 'AKIA', SecretAccessKey: undefined, SessionToken: 't', Expiration: new Date() } }],
    ['a secret without its key', { Credentials: { AccessKeyId: undefined, SecretAccessKey: 's', SessionToken: 't', Expiration: new Date() } }],
  ])('AssumeRole answering with %s: that consumer is unread (NoCredentials), its repositories kept', async (_label, answer) => {
    const world = new World();
    const images = olds(1);
    world.repository('app', images, { policy: pullPolicy(CONSUMER) });
    serve(world);
    stsMock.on(AssumeRoleCommand).resolves(answer as never);
    const result = await loadHandler(roles(CONSUMER_ROLE))({});
    expect(result.overview).toContain(`consumer account ${CONSUMER} (${CONSUMER_ROLE}) could not be read (NoCredentials): every deletable image kept in the 1 repositories it may pull: app`);
    expect(logLines('warn')).toContainEqual(expect.objectContaining({ message: 'consumer account not read', errorCode: 'NoCredentials', error: 'AssumeRole returned no credentials' }));
    expectNoStateChanges(world);
  });

  test('logs carry the service name the construct sets, ImageRetention without it', async () => {
    await run(new World(), { POWERTOOLS_SERVICE_NAME: 'retention-prod' });
    expect(logLines('info').find((l) => l.message === 'no repository in scope')).toMatchObject({ service: 'retention-prod' });
    await run(new World(), { POWERTOOLS_SERVICE_NAME: undefined });
    expect(logLines('info').filter((l) => l.message === 'no repository in scope').at(-1)).toMatchObject({ service: 'ImageRetention' });
  });
});
