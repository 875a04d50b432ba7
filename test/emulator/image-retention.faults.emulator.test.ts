/**
 * ImageRetention's shipped bundle under faults, configured from the synthesized template as in
 * image-retention.emulator.test.ts, with the same two-account fleet (image-retention-harness.ts).
 *
 * a. 30% throttling + 5% plain 503s (seeded) on every call the bundle makes, its own and the consumer
 *    account's (fault-proxy.ts), and the first attempt of two deletions, a deregistration and a
 *    DeleteTaskDefinitions refused (throttled, or a 500): the fleet ends exactly as after a fault-free
 *    run of the same fleet, no image id reaches BatchDeleteImage twice, every forwarded deletion
 *    succeeded, and the report (counts, rows, overview, notification) is the fault-free one, published
 *    once. The handler's reads run concurrently, so which call draws which fault varies between runs:
 *    the assertions hold for any pattern.
 * b. Only the consumer account's calls (those signed with its role's credentials) throttled 30%, its
 *    first ListServices always: the same end state and report.
 * The bundle calls a small front proxy (image-retention-harness.ts) that routes by account and turns
 * fault-proxy.ts's XML throttling answer for REST-JSON calls (Lambda, Scheduler) into the 429 + JSON
 * those services send: their SDK clients cannot parse the XML and would fail instead of retrying.
 * c. One image's deletion fails alone (moto_launcher.py patch 16 makes BatchDeleteImage answer it in
 *    `failures` with KmsError, as ECR does per image): every other image ends as fault-free, that one
 *    stays, FAILED with its code in the report, the run PARTIAL_FAILURE.
 */
import { CallRecord, FaultProxy, FaultProxyOptions, FaultRule, startFaultProxy } from './fault-proxy';
import { createTopicWithQueue, Notification, readNotifications } from './fleet';
import {
  buildFleet, CONSUMER_ACCOUNT, CONSUMER_CLUSTER, destroyClients, ecrImageFixture, Fleet, fleetProps, FrontProxy, ImageState,
  onlyRetentionNotification, parseRows, registryImages, resetEmulator, RetentionClients, retentionClients, runRetention, startFrontProxy,
  startRetentionMoto, synthesizeRetention, taskDefinitionStates,
} from './image-retention-harness';
import { MotoServer } from './moto';

jest.setTimeout(150_000);

const THROTTLE_RATE = 0.3;
const UNAVAILABLE_RATE = 0.05;
const FAULT_SEED = 20_261_203;
const ALL_REPOSITORIES = ['web', 'worker', 'vault', 'scratch'];
const TASK_DEFINITIONS = ['web-svc:1', 'web-svc:2', 'idle:1', 'nightly:1', 'report:1', 'report:2', 'batch:1', 'batch:2', 'oneoff:1',
  'legacy-job:1', 'legacy-job:2', 'old-job:1'];

let moto: MotoServer;
/** Fault rules a test's `prepare` adds once the fleet (and so the ids) exists. */
const scripted: FaultRule[] = [];
let aws: RetentionClients;
const stoppers: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  moto = await startRetentionMoto();
  aws = retentionClients(moto.endpoint);
}, 300_000);

afterEach(async () => {
  await Promise.all(stoppers.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await Promise.all(stoppers.splice(0).map((s) => s.stop()));
  destroyClients(aws);
  await moto?.stop();
});

interface Outcome {
  readonly fleet: Fleet;
  /** `fixture name` → still in ECR, with its tags. */
  readonly images: Map<string, string[] | 'deleted'>;
  readonly taskDefinitions: Map<string, string>;
  /** Report rows by fixture name (images) or `family:revision`, as `ACTION:RESULT[:error][ kept=…][ usedBy=…]`. */
  readonly rows: Map<string, string>;
  readonly result: any;
  readonly notification: Notification;
  readonly proxy?: FaultProxy;
  readonly front?: FrontProxy;
  readonly durationMs: number;
}

type Route = { readonly kind: 'direct' } | { readonly kind: 'all'; readonly faults: Omit<FaultProxyOptions, 'target'> } | { readonly kind: 'consumer'; readonly faults: Omit<FaultProxyOptions, 'target'> };

/** Builds the fleet into a fresh moto and runs the bundle once, its calls routed as `route` says; `prepare` may script failures first. */
async function buildAndRun(route: Route, prepare: (fleet: Fleet) => Promise<void> = async () => {}): Promise<Outcome> {
  scripted.length = 0;
  await resetEmulator(moto.endpoint);
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'image-retention-faults');
  const fleet = await buildFleet(moto.endpoint, aws, Date.now());
  await prepare(fleet);
  const synth = synthesizeRetention(fleetProps(fleet), topicArn);
  let endpoint = moto.endpoint;
  let proxy: FaultProxy | undefined;
  let front: FrontProxy | undefined;
  if (route.kind !== 'direct') {
    proxy = await startFaultProxy({ target: moto.endpoint, ...route.faults, rules: [...route.faults.rules ?? [], ...scripted] });
    stoppers.push(proxy);
    // All calls to the fault proxy, or only the consumer account's (the janitor's own go straight to moto).
    front = await startFrontProxy(route.kind === 'all' ? { target: proxy.endpoint } : { target: moto.endpoint, consumerTarget: proxy.endpoint });
    stoppers.push(front);
    endpoint = front.endpoint;
  }
  const run = await runRetention(synth, endpoint);
  if (run.error) throw new Error(`the handler failed: ${run.error.message}\n${run.stderr.slice(-4000)}`);
  const names = new Map([...fleet.images].map(([name, image]) => [`${image.repository}@${image.digest}`, name]));
  const after = await registryImages(aws.ecr, ALL_REPOSITORIES);
  const images = new Map<string, string[] | 'deleted'>();
  for (const [id, name] of names) images.set(name, after.has(id) ? [...(after.get(id) as ImageState).tags] : 'deleted');
  const notification = onlyRetentionNotification(await readNotifications(aws.sqs, queueUrl));
  const rows = new Map<string, string>();
  for (const row of parseRows(notification.Message)) {
    const usedBy = row.details.usedBy?.replace(/^(ecs-task \d{12}\/\w+\/)[0-9a-f-]+$/, '$1<task>');
    rows.set(names.get(row.id) ?? row.id, [
      `${row.action}:${row.result}${row.error ? `:${row.error}` : ''}`,
      ...(row.details.kept ? [`kept=${row.details.kept}`] : []),
      ...(usedBy ? [`usedBy=${usedBy}`] : []),
    ].join(' '));
  }
  return {
    fleet,
    images,
    taskDefinitions: await taskDefinitionStates(aws.ecs, TASK_DEFINITIONS),
    rows,
    result: run.result,
    notification,
    proxy,
    front,
    durationMs: run.durationMs,
  };
}

/** Image ids in the BatchDeleteImage requests that reached moto, `repository@digest`, with how often each came. */
function deletionsReachingMoto(p: FaultProxy): Map<string, number> {
  const times = new Map<string, number>();
  for (const call of p.forwarded('BatchDeleteImage')) {
    for (const id of JSON.parse(call.params.imageIds) as Array<{ imageDigest: string }>) {
      const key = `${call.params.repositoryName}@${id.imageDigest}`;
      times.set(key, (times.get(key) ?? 0) + 1);
    }
  }
  return times;
}

function injectedByOperation(calls: readonly CallRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) if (c.injected) out[`${c.service}:${c.operation}`] = (out[`${c.service}:${c.operation}`] ?? 0) + 1;
  return out;
}

/** The overview without its first line's timing-free parts: every line, as is. */
function overview(o: Outcome): string[] {
  return [...o.result.overview].sort();
}

let clean: Outcome;

test('a. 30% throttling + 5% 503s on every call: the fault-free end state and report, no image deleted twice', async () => {
  const started = Date.now();
  clean = await buildAndRun({ kind: 'direct' });
  const faulted = await buildAndRun({ kind: 'all', faults: { seed: FAULT_SEED, throttleRate: THROTTLE_RATE, unavailableRate: UNAVAILABLE_RATE } }, async (fleet) => {
    // Besides the random faults (whose pattern depends on the order of the handler's concurrent reads), these
    // changes are faulted on their first attempt whatever the draws: a throttled deletion and a 500 on one,
    // a throttled deregistration and a throttled DeleteTaskDefinitions.
    scripted.push(
      { operation: 'BatchDeleteImage', resourceId: fleet.images.get('web/sig-of-old-tagged')!.digest, code: 'ThrottlingException', message: 'Rate exceeded', times: 1 },
      { operation: 'BatchDeleteImage', resourceId: fleet.images.get('worker/old-tagged')!.digest, code: 'ServerException', message: 'Internal error', httpStatus: 500, times: 1 },
      { operation: 'DeregisterTaskDefinition', resourceId: fleet.taskDefinitions.get('batch:1')!, code: 'ThrottlingException', message: 'Rate exceeded', times: 1 },
      { operation: 'DeleteTaskDefinitions', resourceId: fleet.taskDefinitions.get('old-job:1')!, code: 'ThrottlingException', message: 'Rate exceeded', times: 1 },
    );
  });
  const p = faulted.proxy!;

  // The fault-free run deleted, kept and skipped, so that "the same" means something.
  const outcomes = new Set([...clean.rows.values()].map((r) => r.split(' ')[0]));
  for (const kind of ['DELETE:DONE', 'NONE:KEPT', 'DELETE:SKIPPED_PROTECTED', 'DEREGISTER:DONE']) expect([kind, outcomes.has(kind)]).toEqual([kind, true]);

  const injected = injectedByOperation(p.calls);
  const random = p.calls.filter((c) => c.injected === 'throttle' || c.injected === 'unavailable').length;
  process.stderr.write(`image-retention faults a: fault-free run ${clean.durationMs} ms; faulted ${p.calls.length} requests `
    + `(${random} random faults, ${p.calls.filter((c) => ['lambda', 'scheduler'].includes(c.service) && c.injected === 'throttle').length} of them REST-JSON throttles; by operation: ${Object.entries(injected).map(([k, v]) => `${k} ${v}`).join(', ')}) `
    + `in ${faulted.durationMs} ms\n`);
  // Faults everywhere: about the configured share of all calls, over most operations, the scripted ones included.
  expect(random / p.calls.length).toBeGreaterThan(0.2);
  expect(Object.keys(injected).length).toBeGreaterThanOrEqual(8);
  expect(p.calls.filter((c) => c.injected === 'rule').map((c) => c.operation).sort())
    .toEqual(['BatchDeleteImage', 'BatchDeleteImage', 'DeleteTaskDefinitions', 'DeregisterTaskDefinition']);

  expect(faulted.images).toEqual(clean.images);
  expect(faulted.taskDefinitions).toEqual(clean.taskDefinitions);
  expect(faulted.rows).toEqual(clean.rows);
  expect(faulted.result.status).toBe('SUCCEEDED');
  expect(faulted.result.counts).toEqual(clean.result.counts);
  expect(overview(faulted)).toEqual(overview(clean));
  expect(faulted.notification.Subject).toBe(clean.notification.Subject);

  // Each deleted image reached BatchDeleteImage once, and every forwarded deletion succeeded.
  const deleted = [...clean.images].filter(([, v]) => v === 'deleted').map(([name]) => {
    const image = faulted.fleet.images.get(name)!;
    return `${image.repository}@${image.digest}`;
  });
  const reaching = deletionsReachingMoto(p);
  expect([...reaching.keys()].sort()).toEqual(deleted.sort());
  expect([...reaching].filter(([, n]) => n > 1)).toEqual([]);
  expect(p.forwarded('BatchDeleteImage').filter((c) => c.status !== 200)).toEqual([]);
  expect(p.forwarded('Publish')).toHaveLength(1);
  // The consumer's role was assumed with the documented session name.
  const assumed = p.forwarded('AssumeRole');
  expect(assumed.length).toBeGreaterThan(0);
  for (const call of assumed) expect(call.params.RoleSessionName).toBe('cdk-fleet-janitor-image-retention');
  process.stderr.write(`image-retention faults a: test ${Date.now() - started} ms\n`);
});

test('b. the consumer account\'s calls throttled 30%: the fault-free end state and report', async () => {
  clean ??= await buildAndRun({ kind: 'direct' });
  const outcome = await buildAndRun({ kind: 'consumer', faults: { seed: FAULT_SEED + 1, throttleRate: THROTTLE_RATE } }, async () => {
    // Whatever the draws, the consumer's first ListServices is throttled.
    scripted.push({ operation: 'ListServices', resourceId: `arn:aws:ecs:us-east-1:${CONSUMER_ACCOUNT}:cluster/${CONSUMER_CLUSTER}`, code: 'ThrottlingException', message: 'Rate exceeded', times: 1 });
  });
  const p = outcome.proxy!;
  const injected = injectedByOperation(p.calls);
  process.stderr.write(`image-retention faults b: consumer account ${p.calls.length} requests, `
    + `${Object.values(injected).reduce((a, b) => a + b, 0)} throttled (${Object.entries(injected).map(([k, v]) => `${k} ${v}`).join(', ')}) in ${outcome.durationMs} ms\n`);
  // Only the consumer's reads went through the fault proxy, and they were throttled.
  expect(new Set(p.calls.map((c) => c.service))).toEqual(new Set(['ecs', 'events', 'scheduler', 'lambda']));
  expect(p.calls.filter((c) => c.injected === 'rule').map((c) => c.operation)).toEqual(['ListServices']);
  expect(outcome.front!.consumerRequests()).toBe(p.calls.length);
  expect(outcome.images).toEqual(clean.images);
  expect(outcome.taskDefinitions).toEqual(clean.taskDefinitions);
  expect(outcome.rows).toEqual(clean.rows);
  expect(outcome.result.status).toBe('SUCCEEDED');
  expect(outcome.result.counts).toEqual(clean.result.counts);
  expect(overview(outcome)).toEqual(overview(clean));
});

test('c. one image\'s deletion fails alone (KmsError): the rest deleted, that one FAILED with its code', async () => {
  clean ??= await buildAndRun({ kind: 'direct' });
  const failing = 'worker/old-tagged';
  const outcome = await buildAndRun({ kind: 'all', faults: {} }, async (fleet) => {
    const image = fleet.images.get(failing)!;
    await ecrImageFixture(moto.endpoint, {
      repositoryName: image.repository,
      digest: image.digest,
      deleteFailure: { code: 'KmsError', reason: 'The KMS key of the repository is disabled (kms:Decrypt AccessDenied)' },
    });
  });
  expect(clean.images.get(failing)).toBe('deleted');
  expect(outcome.images).toEqual(new Map([...clean.images, [failing, ['build-1']]]));
  expect(outcome.taskDefinitions).toEqual(clean.taskDefinitions);
  expect(outcome.rows.get(failing)).toBe('DELETE:FAILED:KmsError');
  expect(new Map([...outcome.rows].filter(([name]) => name !== failing))).toEqual(new Map([...clean.rows].filter(([name]) => name !== failing)));
  expect(outcome.result.status).toBe('PARTIAL_FAILURE');
  expect(outcome.result.counts).toEqual({ ...clean.result.counts, actionsTaken: clean.result.counts.actionsTaken - 1, actionsFailed: 1 });
  expect(outcome.notification.Subject).toContain('1 failed');
  expect(outcome.notification.Message).toContain(': PARTIAL_FAILURE');
  const workerLine = (o: Outcome) => o.result.overview.find((l: string) => l.startsWith('worker: '));
  expect(workerLine(outcome)).toContain(', 1 failed, ');
  expect(workerLine(clean)).toContain(', 0 failed, ');
  // Nothing was sent to BatchDeleteImage twice, the failing image included.
  expect([...deletionsReachingMoto(outcome.proxy!)].filter(([, n]) => n > 1)).toEqual([]);
});
