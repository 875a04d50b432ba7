/**
 * PackerCleaner end to end, on this machine: synthesize a stack with the construct, build a small
 * fleet on moto (Packer leftovers among production instances), run the shipped handler bundle with
 * the environment the template gives its function, and show what changed and what was reported.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { FleetJanitorDashboard, PackerCleaner, PackerCleanerAction } from '../../src';
import {
  createInstances,
  createKeyPair,
  createTopicWithQueue,
  describeAllInstances,
  describeAllKeyPairs,
  emulatorClients,
  InstanceGroup,
  InstanceView,
  readNotifications,
} from '../../test/emulator/fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { DAY, HOUR, MINUTE, runBundle } from '../../test/emulator/run-bundle';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { age, DemoContext, DemoSegment, describeResources, indent, printDashboards, requireBundle } from '../segment';

const STACK_NAME = 'PackerCleanerDemo';

/** Fixed ids so every run prints the same key names. */
const uuid = [
  '848bfa59-481c-4233-b312-3ed2bc738fb9',
  'e8a8b5bf-149b-4e25-92e9-e313b8cbb1fc',
  'c889582b-f300-454f-8191-cf9052855158',
  'e4f46408-0dc8-40f9-827e-23cdc059eed6',
  'e8654d03-2937-4e73-8063-63ca507b2255',
  '704844e4-4f13-4551-84ff-bc8989d1bc33',
  '82b4153a-7f14-4e3c-9f88-2f04d2aa5041',
  '81073b0b-fa95-48d2-bbd2-39202abdaa11',
];

function synthesize(outdir: string) {
  const app = new App({ outdir });
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  const cleaner = new PackerCleaner(stack, 'PackerCleaner', {
    action: PackerCleanerAction.TERMINATE,
    maxAge: Duration.hours(2),
    terminateStoppedAfter: Duration.days(1),
    cleanupKeyPairs: true,
  });
  new FleetJanitorDashboard(stack, 'Dashboard', { dashboardName: 'fleet-janitor-demo', janitors: [cleaner] });
  return app.synth().getStackByName(stack.stackName).template;
}

/** About twenty instances: Packer leftovers of every kind, and production that must not be touched. */
function fleet(now: number): InstanceGroup[] {
  const ago = (ms: number) => new Date(now - ms);
  return [
    // Packer builds that outlived maxAge (2 h): a crashed build, and one from a Packer that no longer sets Name.
    { keyName: `packer_${uuid[0]}`, name: 'Packer Builder', launchTime: ago(5 * HOUR) },
    { keyName: `packer_${uuid[1]}`, launchTime: ago(3 * HOUR), keyPairDeleted: true },
    // Builds still in progress.
    { keyName: `packer_${uuid[2]}`, name: 'Packer Builder', launchTime: ago(40 * MINUTE) },
    { keyName: `packer_${uuid[3]}`, launchTime: ago(10 * MINUTE) },
    // A Packer from before 2016 named its key "packer <uuid>".
    { keyName: `packer ${uuid[4]}`, name: 'Packer Builder', launchTime: ago(30 * DAY) },
    // Stopped for two days: still billing for its volumes.
    { keyName: `packer_${uuid[5]}`, name: 'Packer Builder', launchTime: ago(3 * DAY), state: 'stopped', stoppedAt: ago(2 * DAY) },
    // Someone is debugging this build and protected it.
    { keyName: `packer_${uuid[6]}`, name: 'Packer Builder (debug)', launchTime: ago(6 * HOUR), tags: { 'fleet-janitor:protect': 'true' } },
    // Production and tooling: old, but not Packer's.
    { count: 6, keyName: 'prod-web', name: 'web', launchTime: ago(90 * DAY), tags: { env: 'prod' } },
    { count: 3, keyName: 'prod-api', name: 'api', launchTime: ago(45 * DAY), tags: { env: 'prod' } },
    { keyName: 'ops-admin', name: 'bastion', launchTime: ago(200 * DAY) },
    { keyName: 'batch', name: 'nightly-batch', launchTime: ago(20 * DAY), state: 'stopped', stoppedAt: ago(12 * HOUR) },
    { keyName: 'packer-ci', name: 'packer-ci-runner', launchTime: ago(60 * DAY) },
    { name: 'dev-sandbox', launchTime: ago(8 * DAY) },
  ];
}

export const packerCleaner: DemoSegment = {
  name: 'PackerCleaner',
  description: 'terminate Packer build instances that ran too long or stopped long ago, delete orphaned packer_* key pairs',

  async run(ctx: DemoContext) {
    const bundle = requireBundle('packer-cleaner');
    const template = synthesize(ctx.outdir);
    ctx.print(`Synthesized ${STACK_NAME}: ${describeResources(template)}`);

    const aws = emulatorClients(ctx.endpoint);
    const now = Date.now();
    const created = await createInstances(aws.ec2, fleet(now));
    // An orphan key pair: its build finished long ago, Packer failed to delete the key.
    await createKeyPair(aws.ec2, `packer_${uuid[7]}`, new Date(now - 2 * DAY));
    const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'packer-cleaner-demo');
    const before = await describeAllInstances(aws.ec2);
    const keysBefore = await describeAllKeyPairs(aws.ec2);
    ctx.print(`Fleet: ${created.length} instances, ${keysBefore.size} key pairs; topic ${topicArn}\n`);

    const env = functionEnvironmentFromTemplate(template, { resolveRefs: { 'AWS::SNS::Topic': topicArn } });
    ctx.print('Handler environment (from the template):');
    for (const [k, v] of Object.entries(env)) ctx.print(`  ${k}=${v}`);

    const timeoutSeconds = Number(Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment)?.Properties?.Timeout ?? 60);
    const run = await runBundle({ bundlePath: bundle, env, event: { source: 'cdk-fleet-janitor.schedule' }, endpoint: ctx.endpoint, timeoutSeconds });
    ctx.print(`\nHandler ran in ${run.durationMs} ms (${run.logs.length} JSON log lines).`);
    if (run.error) {
      ctx.print(`Handler FAILED: ${run.error.message}\n${run.stderr}`);
      ctx.fail(`handler failed: ${run.error.message}`);
    }

    const after = await describeAllInstances(aws.ec2);
    const keysAfter = await describeAllKeyPairs(aws.ec2);
    printInstances(ctx, created.map((c) => c.instanceId), before, after, now);
    printKeyPairs(ctx, keysBefore, keysAfter, now);

    for (const n of await readNotifications(aws.sqs, queueUrl)) {
      ctx.print(`\nSNS notification\n  Subject: ${n.Subject}\n${indent(n.Message)}`);
    }
    let summary = 'handler failed';
    if (run.result) {
      const { entries, ...result } = run.result;
      ctx.print(`\nHandler result\n${indent(JSON.stringify(result, undefined, 2))}`);
      ctx.table(['resource', 'id', 'action', 'outcome', 'reason'],
        (entries ?? []).map((e: any) => [e.resourceType, e.id, e.action, e.outcome, e.reason]));
      const c = result.counts ?? {};
      summary = `${result.status}: ${c.actionsTaken} done, ${c.actionsFailed} failed, ${c.skippedProtected} protected, ${c.kept} kept of ${c.matched} matched`;
    }
    return { templates: { [STACK_NAME]: template }, summary };
  },
  afterRun: (ctx, result) => printDashboards(ctx, result.templates, EMULATOR_REGION),
};

function printInstances(ctx: DemoContext, ids: string[], before: Map<string, InstanceView>, after: Map<string, InstanceView>, now: number): void {
  ctx.print('\nInstances');
  ctx.table(['id', 'Name', 'key', 'before', 'age', 'after'], ids.map((id) => {
    const b = before.get(id)!;
    const a = after.get(id);
    const changed = a?.state !== b.state;
    return [id, b.tags.Name ?? '-', b.keyName ?? '-', b.state, age(now - (b.launchTime?.getTime() ?? now)), `${a?.state ?? 'gone'}${changed ? ' *' : ''}`];
  }));
}

function printKeyPairs(ctx: DemoContext, before: Map<string, { createTime?: Date }>, after: Map<string, unknown>, now: number): void {
  ctx.print('\nKey pairs');
  ctx.table(['name', 'age', 'after'], [...before].sort(([x], [y]) => x.localeCompare(y)).map(([name, k]) =>
    [name, k.createTime ? age(now - k.createTime.getTime()) : '-', after.has(name) ? 'kept' : 'deleted *']));
}
