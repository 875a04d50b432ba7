/**
 * ImageRetention end to end, on this machine: synthesize a stack with the construct (DELETE, a consumer
 * account's reader role, task definition cleanup on) and a dashboard, build the emulator tests' fleet
 * on moto (test/emulator/image-retention-harness.ts: ~40 images in four repositories, and what runs
 * them: ECS services mid-rollout and at 0 tasks, a standalone task, an EventBridge rule, a Scheduler
 * schedule, a Lambda image function, a consumer account's service), run the shipped handler bundle
 * with the environment the template gives its function, and show each image and task definition
 * before and after, why each kept image stayed, and the notification.
 *
 * The fleet's Lambda image function needs moto's ECR-backed image resolution (MOTO_LAMBDA_STUB_ECR=false,
 * set for the demo's moto in demo/run.ts); the segment checks it and stops with a clear error if it is off.
 */
import { GetFunctionCommand } from '@aws-sdk/client-lambda';
import { App, Stack } from 'aws-cdk-lib';
import { FleetJanitorDashboard, ImageRetention, ImageRetentionProps } from '../../src';
import { createTopicWithQueue, readNotifications } from '../../test/emulator/fleet';
import {
  ACCOUNT, buildFleet, destroyClients, Fleet, fleetProps, ImageState, motoApi, registryImages, retentionClients, runRetention,
  Synthesized, taskDefinitionStates,
} from '../../test/emulator/image-retention-harness';
import { EMULATOR_REGION } from '../../test/emulator/moto';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { age, DemoContext, DemoSegment, describeResources, indent, printDashboards, requireBundle } from '../segment';

const STACK_NAME = 'ImageRetentionDemo';
/** The configured repositories first, then `scratch` (not configured: never read). */
const REPOSITORY_ORDER = ['web', 'worker', 'vault', 'scratch'];

/** The construct with the emulator tests' props, and a dashboard; its handler's environment read out of the template. */
function synthesize(outdir: string, props: (stack: Stack) => ImageRetentionProps, topicArn: string): Synthesized {
  const app = new App({ outdir });
  const stack = new Stack(app, STACK_NAME, { env: { account: ACCOUNT, region: EMULATOR_REGION } });
  const retention = new ImageRetention(stack, 'Retention', props(stack));
  new FleetJanitorDashboard(stack, 'Dashboard', { dashboardName: 'fleet-janitor-image-retention-demo', janitors: [retention] });
  const template = app.synth().getStackByName(stack.stackName).template;
  const resources = Object.entries<any>(template.Resources);
  const handlers = resources.filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.ACTION);
  if (handlers.length !== 1) throw new Error(`expected one handler function in ${STACK_NAME}, found ${handlers.map(([id]) => id).join(', ') || 'none'}`);
  const [logicalId, fn] = handlers[0];
  const env = functionEnvironmentFromTemplate(template, {
    logicalIdPrefix: logicalId,
    resolveRefs: { 'AWS::SNS::Topic': topicArn, 'AWS::Partition': 'aws', 'AWS::Region': EMULATOR_REGION, 'AWS::AccountId': ACCOUNT },
  });
  const schedule = resources.find(([, r]) => r.Type === 'AWS::Scheduler::Schedule');
  if (!schedule) throw new Error(`no schedule in ${STACK_NAME}`);
  return { template, env, timeoutSeconds: Number(fn.Properties.Timeout ?? 300), event: JSON.parse(schedule[1].Properties.Target.Input) };
}

/** moto resolved the `reporter` function's version 1 to the image it was created from (worker/fn-1), not to a hash of its URI. */
async function checkLambdaResolution(aws: ReturnType<typeof retentionClients>, fleet: Fleet): Promise<void> {
  const fn1 = fleet.images.get('worker/fn-1')!.digest;
  const v1 = await aws.lambda.send(new GetFunctionCommand({ FunctionName: 'reporter', Qualifier: '1' }));
  const resolved = v1.Code?.ResolvedImageUri ?? '';
  if (!resolved.endsWith(`@${fn1}`)) {
    throw new Error('moto does not resolve Lambda image functions against its ECR: start it with MOTO_LAMBDA_STUB_ECR=false (demo/run.ts)\n'
      + `reporter:1 ResolvedImageUri is ${resolved || 'missing'}, not ...@${fn1} (worker/fn-1)`);
  }
}

/** Bytes the way the handler's overview writes them: 1024 steps, one decimal. */
function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  for (; value >= 1024 && unit < units.length - 1; unit++) value /= 1024;
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A cosign tag (`sha256-<64 hex>.sig`) shortened to fit the table. */
function shortTag(tag: string): string {
  return tag.replace(/^(sha256-[0-9a-f]{12})[0-9a-f]{52}(\.\w+)$/, '$1…$2');
}

export const imageRetention: DemoSegment = {
  name: 'ImageRetention',
  description: 'delete ECR images nothing runs, pins or keeps (two accounts, ECS, EventBridge, Scheduler, Lambda), and unused task definition revisions',

  async run(ctx: DemoContext) {
    requireBundle('image-retention');
    const aws = retentionClients(ctx.endpoint);
    // moto's ECS tasks move one state along at each DescribeTasks; the fleet's standalone task must keep running.
    // Server-wide: put back in `finally`.
    await motoApi(ctx.endpoint, '/moto-api/state-manager/set-transition', {
      model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000 },
    });
    try {
      const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'image-retention-demo');
      const now = Date.now();
      const fleet = await buildFleet(ctx.endpoint, aws, now);
      await checkLambdaResolution(aws, fleet);

      const synth = synthesize(ctx.outdir, fleetProps(fleet), topicArn);
      ctx.print(`Synthesized ${STACK_NAME}: ${describeResources(synth.template)}`);
      const before = await registryImages(aws.ecr, REPOSITORY_ORDER);
      const taskDefinitionIds = [...fleet.taskDefinitions.keys()];
      const tdBefore = await taskDefinitionStates(aws.ecs, taskDefinitionIds);
      ctx.print(`Fleet (account ${ACCOUNT}, ${EMULATOR_REGION}): ${before.size} images in ${REPOSITORY_ORDER.length} repositories `
        + `(${REPOSITORY_ORDER.join(', ')}; vault carries the protection tag, scratch is not configured), ${taskDefinitionIds.length} task definition revisions, `
        + 'services web (mid-rollout) and idle (0 tasks), a standalone task, rule nightly-batch, schedule weekly-report, Lambda function reporter; '
        + `consumer account's service storefront/api; topic ${topicArn}\n`);

      ctx.print('Handler environment (from the template):');
      for (const [k, v] of Object.entries(synth.env)) ctx.print(`  ${k}=${v}`);
      ctx.print(`Schedule event: ${JSON.stringify(synth.event)}`);

      const run = await runRetention(synth, ctx.endpoint);
      ctx.print(`\nHandler ran in ${run.durationMs} ms (${run.logs.length} JSON log lines).`);
      if (run.error) {
        ctx.print(`Handler FAILED: ${run.error.message}\n${run.stderr.slice(-4000)}`);
        ctx.fail(`handler failed: ${run.error.message}`);
      }

      const after = await registryImages(aws.ecr, REPOSITORY_ORDER);
      const tdAfter = await taskDefinitionStates(aws.ecs, taskDefinitionIds);
      const rows = new Map<string, any>((run.result?.entries ?? []).map((e: any) => [e.id, e]));
      printImages(ctx, fleet, before, after, rows, now);
      printTaskDefinitions(ctx, taskDefinitionIds, tdBefore, tdAfter, rows);

      const notifications = await readNotifications(aws.sqs, queueUrl);
      if (notifications.length !== 1) ctx.fail(`expected one notification, got ${notifications.length}`);
      for (const n of notifications) ctx.print(`\nSNS notification\n  Subject: ${n.Subject}\n${indent(n.Message)}`);

      // What the report says was done is what happened, and nothing else changed.
      for (const [id, state] of before) {
        const done = rows.get(id)?.outcome === 'DONE';
        if (done === after.has(id)) ctx.fail(`${id}: reported ${rows.get(id)?.outcome ?? 'nothing'} but ${after.has(id) ? 'still there' : 'gone'}`);
        if (!done && after.get(id)?.tags.join() !== state.tags.join()) ctx.fail(`${id}: tags changed from ${state.tags} to ${after.get(id)?.tags}`);
      }
      for (const id of taskDefinitionIds) {
        const done = rows.get(id)?.outcome === 'DONE';
        if (done === (tdBefore.get(id) === tdAfter.get(id))) ctx.fail(`${id}: reported ${rows.get(id)?.outcome ?? 'nothing'}, ${tdBefore.get(id)} → ${tdAfter.get(id)}`);
      }

      let summary = 'handler failed';
      if (run.result) {
        const deleted = [...before.keys()].filter((id) => !after.has(id));
        const freed = deleted.reduce((sum, id) => sum + (before.get(id)!.sizeBytes ?? 0), 0);
        const changed = taskDefinitionIds.filter((id) => tdBefore.get(id) !== tdAfter.get(id));
        const c = run.result.counts ?? {};
        summary = `${run.result.status}: ${deleted.length} of ${before.size} images deleted (${bytes(freed)}), `
          + `${changed.length} of ${taskDefinitionIds.length} task definition revisions deregistered or deleted; `
          + `${c.actionsFailed ?? 0} failed, ${c.skippedProtected ?? 0} skipped (protected), ${c.kept ?? 0} kept`;
        ctx.print(`\n${summary}`);
      }
      return { templates: { [STACK_NAME]: synth.template }, summary };
    } finally {
      destroyClients(aws);
      // Server-wide settings survive a reset: put them back for the next segment.
      await motoApi(ctx.endpoint, '/moto-api/state-manager/unset-transition', { model_name: 'ecs::task' });
    }
  },
  afterRun: (ctx, result) => printDashboards(ctx, result.templates, EMULATOR_REGION),
};

/** Every image of the fleet, by repository and oldest first: what it is, before → after, and why it stayed. */
function printImages(
  ctx: DemoContext, fleet: Fleet, before: Map<string, ImageState>, after: Map<string, ImageState>, rows: Map<string, any>, now: number,
): void {
  const images = [...fleet.images.values()]
    .map((image, order) => ({ image, order, id: `${image.repository}@${image.digest}` }))
    .sort((a, b) => REPOSITORY_ORDER.indexOf(a.image.repository) - REPOSITORY_ORDER.indexOf(b.image.repository)
      || b.image.ageDays - a.image.ageDays || a.order - b.order);
  ctx.print('\nImages (* = deleted by this run)');
  ctx.table(['repository', 'image', 'digest', 'tags', 'pushed', 'size', 'before → after', 'kept'], images.map(({ image, id }) => {
    const b = before.get(id);
    const row = rows.get(id);
    const details = Object.fromEntries<string>(row?.details ?? []);
    const kept = !row ? '(not configured: not read)'
      : row.outcome === 'SKIPPED_PROTECTED' ? 'protected (repository carries the protection tag)'
        : details.kept ? `${details.kept}${details.usedBy ? `: ${details.usedBy}` : ''}` : '-';
    return [
      image.repository, image.name, image.digest.slice(7, 19), b?.tags.length ? b.tags.map(shortTag).join(',') : '-',
      b?.pushedAt ? `${age(now - b.pushedAt.getTime())} ago` : '-', bytes(b?.sizeBytes),
      `${b ? 'present' : 'missing'} → ${after.has(id) ? 'present' : 'deleted *'}`, kept,
    ];
  }));
}

/** Every task definition revision of the fleet: its status before and after, and the run's row for it. */
function printTaskDefinitions(
  ctx: DemoContext, ids: string[], before: Map<string, string>, after: Map<string, string>, rows: Map<string, any>,
): void {
  ctx.print('\nTask definition revisions (* = changed by this run)');
  ctx.table(['revision', 'before → after', 'action', 'outcome', 'kept'], ids.map((id) => {
    const row = rows.get(id);
    const details = Object.fromEntries<string>(row?.details ?? []);
    const changed = before.get(id) !== after.get(id);
    return [id, `${before.get(id)} → ${after.get(id)}${changed ? ' *' : ''}`, row?.action ?? '-', row?.outcome ?? '-', details.kept ?? '-'];
  }));
}
