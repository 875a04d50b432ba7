/**
 * InstanceDecommissioner: terminated instances, each with a template A record and a PTR record, among
 * as many live instances with theirs. Their snapshots are stored by the shipped handler from `running`
 * events; then their `terminated` events reach it in SQS batches of 10 (the event source's batch
 * size), one warm container running the batches one after the other. Route 53 is paced at 5 calls
 * per second inside the handler, so a batch takes about 22 × 200 ms: N = 1,000 runs every batch
 * (about 8 minutes), N = 5,000 an evenly spread sample of its batches (every batch of 10 makes the
 * same calls whatever N is; the report scales the sample up and says so).
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import { performance } from 'perf_hooks';
import { CreateTableCommand, DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import {
  CreateTagsCommand, DescribeImagesCommand, DescribeSubnetsCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  Change, ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, ListResourceRecordSetsCommand, ListResourceRecordSetsCommandInput, Route53Client,
} from '@aws-sdk/client-route-53';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import { InstanceDecommissioner } from '../../src';
import { ENV, SNAPSHOT_ATTRIBUTES, SNAPSHOT_STATUS, STATE_CHANGE_DETAIL_TYPE } from '../../src/instance-decommissioner/contract';
import type { FaultProxy } from '../../test/emulator/fault-proxy';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { withCountingEmulator } from '../emulator';
import { Invoker, startInvoker } from '../invoker';
import type { BenchScenario, EventBatchContext, EventBatchSize, PacedCalls } from '../scenario';
import { chunks, forEachConcurrently, summarize, timeMs } from '../util';

const BUNDLE = 'instance-decommissioner';
const FORWARD_ZONE = 'internal.example.com';
/** moto's default subnets are in 172.31.0.0/16: every private address of the fleet has its PTR in this zone. */
const REVERSE_ZONE = '31.172.in-addr.arpa';
const TEMPLATE = `{tag:Name}.${FORWARD_ZONE}`;
const TABLE_NAME = 'bench-instance-snapshots';
/** The event source mapping's batch size (InstanceDecommissioner's BATCH_SIZE). */
const BATCH_SIZE = 10;
/** Route 53: 5 requests per second per account; the handler paces its calls at one every 200 ms. */
const ROUTE53_PER_SECOND = 5;
/** PutEvents takes up to 10 entries. */
const PUT_EVENTS_ENTRIES = 10;
/** The sizes measured; `sampledBatches` run an evenly spread sample of the batches (undefined: all of them). */
const SIZES: readonly DecommissionSize[] = [{ n: 1_000 }, { n: 5_000, sampledBatches: 50 }];
/**
 * RunInstances of up to 1000, each into the next default subnet (a /20 holds about 4,000 addresses).
 * A subnet must be named: without one moto draws each private address at random from 10.0.0.0/8,
 * where 11,000 instances would share a few.
 */
const RUN_INSTANCES_MAX = 1000;
const FIXTURE_IN_FLIGHT = 8;
/** Fixture record changes per ChangeResourceRecordSets (Route 53 takes up to 1,000 records). */
const FIXTURE_CHANGES_PER_CALL = 500;
/**
 * `running` events per invocation while the snapshots are stored (setup, not measured): the handler
 * takes any SQS batch, and 100 per invocation stores 10,000 snapshots in a minute or two.
 */
const SNAPSHOT_EVENTS_PER_INVOCATION = 100;

export interface DecommissionSize {
  readonly n: number;
  /** Run only this many batches, spread evenly over the N instances' batches. @default every batch */
  readonly sampledBatches?: number;
}

export const instanceDecommissioner: BenchScenario = {
  name: 'InstanceDecommissioner',
  bundle: BUNDLE,

  exampleStack(stack: Stack, topic: sns.ITopic): void {
    new InstanceDecommissioner(stack, 'InstanceDecommissioner', {
      topic,
      hostedZones: [route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: FORWARD_ZONE })],
      recordNameTemplates: [TEMPLATE],
    });
  },

  eventBatches: {
    fleetDescription: `N instances with a \`Name\` tag (\`host-00001\`, ...), each with an A record at \`${TEMPLATE}\` in the zone `
      + `\`${FORWARD_ZONE}\` and a PTR record for its private address in \`${REVERSE_ZONE}\` pointing at that name, among as many live `
      + 'instances with their records; every snapshot stored by the shipped handler from `running` events, then the N instances '
      + `terminated and their \`terminated\` events fed to the handler in SQS batches of ${BATCH_SIZE}, with the construct configured `
      + `for both zones and the template \`${TEMPLATE}\`.`,
    minimumRationale: `per batch of ${BATCH_SIZE} instances, a lookup of each name the batch renders, one ListResourceRecordSets each: `
      + '1 forward name (the template) + 1 reverse name (the PTR of its private address) per instance; one ChangeResourceRecordSets '
      + `per zone per batch (2 zones); one PutEvents per batch (up to ${PUT_EVENTS_ENTRIES} entries); one SNS Publish per batch that `
      + 'changed something (the issue\'s definition).',
    extraRationale: 'the issue\'s minimum leaves out the reads and writes that make the cleanup safe: one BatchGetItem per batch (the '
      + 'snapshots, by consistent read), one DescribeInstances for the batch\'s instances (tags added after the snapshot), two '
      + 'DescribeInstances asking whether a live instance took over an address (by private and by public address: EC2 ANDs filters, '
      + 'and a record\'s value may be either), and one UpdateItem per instance marking its snapshot decommissioned with what was '
      + 'cleaned (BatchWriteItem only puts or deletes whole items).',
    method: 'the shipped bundle, configured with the environment its function gets in the synthesized template, runs in one node '
      + 'process (one warm container, `test/emulator/invoke-many.cjs --serve`) that takes the batches one after the other, against moto '
      + 'through the counting proxy; a second loopback proxy in front of it names the Route 53 requests (REST: operation from method and '
      + 'path) and times them. The handler\'s Route 53 pacing (one call every 200 ms, in the bundle) is left as it ships: no setting '
      + `of the handler is changed for the bench. ${SIZES.map(describeSampling).join('; ')}. A batch's calls do not depend on N: each `
      + 'batch lists only its own names and asks EC2 only about its own instances and addresses. Before each size, its fleet is built '
      + 'through the EC2 and Route 53 APIs, on top of the previous size\'s live instances, and its snapshots are stored by the bundle from '
      + `\`running\` events (${SNAPSHOT_EVENTS_PER_INVOCATION} per invocation, not counted).`,
    paced: { service: 'route53', label: 'Route 53', limitPerSecond: ROUTE53_PER_SECOND },
    measure: (ctx) => measureDecommissions(ctx, SIZES),
  },
};

// ---- the measurement ------------------------------------------------------------------------------

function describeSampling(size: DecommissionSize): string {
  const batches = Math.ceil(size.n / BATCH_SIZE);
  const fleet = `N = ${size.n.toLocaleString('en-US')} (${size.n.toLocaleString('en-US')} terminated among as many live, zones of `
    + `${(2 * size.n).toLocaleString('en-US')} records each)`;
  if (size.sampledBatches === undefined || size.sampledBatches >= batches) return `${fleet} runs all its ${batches} batches`;
  // Each batch lists 2 names per instance and changes 2 zones.
  const minutes = Math.round((batches * (2 * BATCH_SIZE + 2)) / ROUTE53_PER_SECOND / 60);
  return `${fleet} runs ${size.sampledBatches} of its ${batches} batches, every ${Math.round(batches / size.sampledBatches)}th: all of `
    + `them would take about ${minutes} minutes of Route 53 pacing alone, to show the same calls per batch`;
}

interface Host {
  readonly instanceId: string;
  readonly name: string;
  readonly privateIp: string;
}

/** Build each size's fleet, run its batches through the counting proxies, check the end state. */
export async function measureDecommissions(ctx: EventBatchContext, sizes: readonly DecommissionSize[]): Promise<EventBatchSize[]> {
  return withCountingEmulator(`bench-${BUNDLE}`, async ({ proxy, aws, topicArn }) => {
    const motoEndpoint = await endpointOf(aws.ec2);
    const r53 = new Route53Client(directConfig(motoEndpoint));
    const tap = await startRoute53Tap(proxy.endpoint);
    const zones = await createZones(r53);
    await createTable(aws.dynamodb);
    const env = synthesizedEnvironment(topicArn, zones);
    const imageId = await ubuntuImage(aws.ec2);
    const fleet = new Fleet(aws.ec2, r53, imageId, await defaultSubnets(aws.ec2), zones);
    const snapshotter = startInvoker(BUNDLE, env, motoEndpoint);
    const results: EventBatchSize[] = [];
    let live = 0;
    try {
      for (const size of sizes) {
        const setup = await timeMs(async () => {
          const doomed = await fleet.add(size.n);
          if (size.n > live) await fleet.add(size.n - live);
          live = Math.max(live, size.n);
          await storeSnapshots(snapshotter, fleet.pendingSnapshots.splice(0));
          await fleet.terminate(doomed);
          return doomed;
        });
        ctx.log(`  InstanceDecommissioner: ${size.n} to decommission among ${live} live, records and snapshots ready in ${(setup.ms / 1000).toFixed(1)} s`);
        results.push(await runBatches(ctx, size, setup.value, setup.ms, env, { proxy, tap, aws, r53, zones, fleet }));
      }
    } finally {
      await snapshotter.stop();
      await tap.stop();
    }
    return results;
  });
}

interface RunContext {
  readonly proxy: FaultProxy;
  readonly tap: Route53Tap;
  readonly aws: { readonly dynamodb: DynamoDBClient };
  readonly r53: Route53Client;
  readonly zones: Zones;
  readonly fleet: Fleet;
}

async function runBatches(
  ctx: EventBatchContext, size: DecommissionSize, doomed: readonly Host[], setupMs: number, env: Record<string, string>, run: RunContext,
): Promise<EventBatchSize> {
  const batches = chunks(doomed, BATCH_SIZE);
  const sampled = size.sampledBatches !== undefined && size.sampledBatches < batches.length;
  const picked = sampled
    ? Array.from({ length: size.sampledBatches! }, (_, i) => batches[Math.floor((i * batches.length) / size.sampledBatches!)])
    : batches;
  const invoker = startInvoker(BUNDLE, env, run.tap.endpoint);
  const calls: Record<string, number> = {};
  const minimum: Record<string, number> = {};
  const perBatch: string[] = [];
  const handlerMs: number[] = [];
  const route53Times: number[][] = [];
  let failedCalls = 0;
  const started = performance.now();
  try {
    for (const [i, batch] of picked.entries()) {
      run.proxy.reset();
      run.tap.reset();
      const outcome = await invoker.invoke(sqsBatch(batch.map((h) => h.instanceId), 'terminated'));
      if (!outcome.ok) throw new Error(`InstanceDecommissioner, N=${size.n}, batch ${i + 1}: the handler failed: ${outcome.message}\n${invoker.stderr()}`);
      const failures = outcome.result?.batchItemFailures;
      if (!Array.isArray(failures) || failures.length > 0) {
        throw new Error(`InstanceDecommissioner, N=${size.n}, batch ${i + 1}: messages to deliver again: ${JSON.stringify(outcome.result)}`);
      }
      handlerMs.push(outcome.durationMs);
      const counts = withRoute53Operations(run.proxy.counts(), run.tap);
      failedCalls += run.proxy.calls.filter((c) => c.status < 200 || c.status >= 300).length;
      add(calls, counts);
      add(minimum, batchMinimum(batch.length));
      perBatch.push(JSON.stringify(Object.entries(counts).sort()));
      route53Times.push(run.tap.times());
      if ((i + 1) % 10 === 0 || i === picked.length - 1) {
        ctx.log(`  InstanceDecommissioner: N=${size.n}: ${i + 1}/${picked.length} batches, ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
    }
  } finally {
    await invoker.stop();
  }
  const totalMs = performance.now() - started;
  const problem = await checkEndState(run, picked.flat(), doomed);
  if (problem) throw new Error(`InstanceDecommissioner, N=${size.n}: ${problem}`);
  if ((calls['sns:Publish'] ?? 0) !== picked.length) throw new Error(`InstanceDecommissioner, N=${size.n}: ${calls['sns:Publish'] ?? 0} reports for ${picked.length} batches`);
  return {
    n: size.n,
    batchSize: BATCH_SIZE,
    batches: batches.length,
    measuredBatches: picked.length,
    calls,
    minimum,
    consistent: perBatch.every((c) => c === perBatch[0]),
    failedCalls,
    batchMs: summarize(handlerMs),
    totalMs,
    setupMs,
    paced: pace(route53Times, totalMs),
  };
}

/** The issue's minimum for one batch: 2 lookups per instance, 1 change per zone, 1 PutEvents per 10, 1 Publish. */
function batchMinimum(instances: number): Record<string, number> {
  return {
    'route53:ListResourceRecordSets': 2 * instances,
    'route53:ChangeResourceRecordSets': 2,
    'events:PutEvents': Math.ceil(instances / PUT_EVENTS_ENTRIES),
    'sns:Publish': 1,
  };
}

function add(into: Record<string, number>, counts: Record<string, number>): void {
  for (const [key, value] of Object.entries(counts)) into[key] = (into[key] ?? 0) + value;
}

/** Route 53 calls' starts, per batch: rates, the most in any second, the least gap. */
function pace(perBatch: readonly number[][], totalMs: number): PacedCalls {
  const all = perBatch.flat().sort((a, b) => a - b);
  let maxInAnySecond = 0;
  let callsOverLimit = 0;
  for (let i = 0, j = 0; i < all.length; i++) {
    while (all[i] - all[j] >= 1000) j++;
    maxInAnySecond = Math.max(maxInAnySecond, i - j + 1);
    if (i - j + 1 > ROUTE53_PER_SECOND) callsOverLimit++;
  }
  let minGapMs = Infinity;
  let gapsUnderInterval = 0;
  for (let i = 1; i < all.length; i++) {
    const gap = all[i] - all[i - 1];
    minGapMs = Math.min(minGapMs, gap);
    if (gap < 1000 / ROUTE53_PER_SECOND) gapsUnderInterval++;
  }
  let gaps = 0;
  let spanMs = 0;
  for (const times of perBatch) {
    if (times.length < 2) continue;
    gaps += times.length - 1;
    spanMs += times[times.length - 1] - times[0];
  }
  return {
    calls: all.length,
    perSecond: all.length / (totalMs / 1000),
    perSecondWhilePaced: spanMs > 0 ? gaps / (spanMs / 1000) : 0,
    maxInAnySecond,
    callsOverLimit,
    minGapMs: Number.isFinite(minGapMs) ? minGapMs : 0,
    gapsUnderInterval,
  };
}

/** Every decommissioned instance's records gone and its snapshot marked; every other record still there. */
async function checkEndState(run: RunContext, decommissioned: readonly Host[], doomed: readonly Host[]): Promise<string | undefined> {
  const forward = await recordNames(run.r53, run.zones.forward);
  const reverse = await recordNames(run.r53, run.zones.reverse);
  const gone = new Set(decommissioned.map((h) => h.instanceId));
  const wrong: string[] = [];
  for (const host of [...run.fleet.hosts, ...doomed]) {
    const expected = !gone.has(host.instanceId);
    if (forward.has(aName(host)) !== expected) wrong.push(`${aName(host)} A ${expected ? 'missing' : 'left'}`);
    if (reverse.has(ptrName(host.privateIp)) !== expected) wrong.push(`${ptrName(host.privateIp)} PTR ${expected ? 'missing' : 'left'}`);
  }
  if (wrong.length > 0) return `${wrong.length} record(s) wrong, e.g. ${wrong.slice(0, 5).join('; ')}`;
  const marked = new Set<string>();
  for await (const page of paginateScan({ client: run.aws.dynamodb }, {
    TableName: TABLE_NAME,
    FilterExpression: '#status = :decommissioned',
    ExpressionAttributeNames: { '#status': SNAPSHOT_ATTRIBUTES.status },
    ExpressionAttributeValues: { ':decommissioned': { S: SNAPSHOT_STATUS.decommissioned } },
    ProjectionExpression: SNAPSHOT_ATTRIBUTES.instanceId,
  })) {
    for (const item of page.Items ?? []) marked.add(item[SNAPSHOT_ATTRIBUTES.instanceId].S!);
  }
  const unmarked = decommissioned.filter((h) => !marked.has(h.instanceId));
  if (unmarked.length > 0) return `${unmarked.length} snapshot(s) not marked decommissioned, e.g. ${unmarked[0].instanceId}`;
  return undefined;
}

/** Every record name of a zone (lower case, without the trailing dot), straight from moto. */
async function recordNames(r53: Route53Client, zoneId: string): Promise<Set<string>> {
  const names = new Set<string>();
  let input: ListResourceRecordSetsCommandInput = { HostedZoneId: zoneId, MaxItems: 300 };
  for (;;) {
    const page = await r53.send(new ListResourceRecordSetsCommand(input));
    for (const set of page.ResourceRecordSets ?? []) names.add(set.Name!.toLowerCase().replace(/\.$/, ''));
    if (!page.IsTruncated || !page.NextRecordName) return names;
    input = { HostedZoneId: zoneId, MaxItems: 300, StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType };
  }
}

// ---- the fleet ------------------------------------------------------------------------------------

interface Zones {
  readonly forward: string;
  readonly reverse: string;
}

class Fleet {
  /** Every instance launched and never terminated. */
  readonly hosts: Host[] = [];
  /** Instances whose snapshot is still to be stored. */
  readonly pendingSnapshots: string[] = [];
  private launched = 0;
  private reservations = 0;

  constructor(
    private readonly ec2: EC2Client, private readonly r53: Route53Client, private readonly imageId: string,
    private readonly subnets: readonly string[], private readonly zones: Zones,
  ) {}

  /** `count` more running instances, each with its Name tag, A record and PTR record. */
  async add(count: number): Promise<Host[]> {
    const added: Host[] = [];
    for (let left = count; left > 0; left -= RUN_INSTANCES_MAX) {
      const out = await this.ec2.send(new RunInstancesCommand({
        ImageId: this.imageId,
        InstanceType: 't3.micro',
        MinCount: Math.min(left, RUN_INSTANCES_MAX),
        MaxCount: Math.min(left, RUN_INSTANCES_MAX),
        SubnetId: this.subnets[this.reservations++ % this.subnets.length],
      }));
      for (const instance of out.Instances ?? []) {
        added.push({ instanceId: instance.InstanceId!, name: `host-${String(++this.launched).padStart(5, '0')}`, privateIp: instance.PrivateIpAddress! });
      }
    }
    await forEachConcurrently(added, FIXTURE_IN_FLIGHT, async (host) => {
      await this.ec2.send(new CreateTagsCommand({ Resources: [host.instanceId], Tags: [{ Key: 'Name', Value: host.name }] }));
    });
    const create = (name: string, type: 'A' | 'PTR', value: string): Change => ({
      Action: 'CREATE', ResourceRecordSet: { Name: name, Type: type, TTL: 300, ResourceRecords: [{ Value: value }] },
    });
    for (const part of chunks(added, FIXTURE_CHANGES_PER_CALL)) {
      await this.r53.send(new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.zones.forward, ChangeBatch: { Changes: part.map((h) => create(aName(h), 'A', h.privateIp)) },
      }));
      await this.r53.send(new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.zones.reverse, ChangeBatch: { Changes: part.map((h) => create(ptrName(h.privateIp), 'PTR', `${aName(h)}.`)) },
      }));
    }
    this.hosts.push(...added);
    this.pendingSnapshots.push(...added.map((h) => h.instanceId));
    return added;
  }

  async terminate(hosts: readonly Host[]): Promise<void> {
    for (const part of chunks(hosts, RUN_INSTANCES_MAX)) {
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: part.map((h) => h.instanceId) }));
    }
    const gone = new Set(hosts.map((h) => h.instanceId));
    const remaining = this.hosts.filter((h) => !gone.has(h.instanceId));
    this.hosts.splice(0, this.hosts.length, ...remaining);
  }
}

function aName(host: Host): string {
  return `${host.name}.${FORWARD_ZONE}`;
}

function ptrName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

async function createZones(r53: Route53Client): Promise<Zones> {
  const create = async (name: string) => {
    const out = await r53.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `bench-${randomUUID()}` }));
    return out.HostedZone!.Id!.replace(/^\/hostedzone\//, '');
  };
  return { forward: await create(FORWARD_ZONE), reverse: await create(REVERSE_ZONE) };
}

async function createTable(dynamodb: DynamoDBClient): Promise<void> {
  await dynamodb.send(new CreateTableCommand({
    TableName: TABLE_NAME,
    KeySchema: [{ AttributeName: SNAPSHOT_ATTRIBUTES.instanceId, KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: SNAPSHOT_ATTRIBUTES.instanceId, AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
}

async function ubuntuImage(ec2: EC2Client): Promise<string> {
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] }));
  const imageId = images.Images?.[0]?.ImageId;
  if (!imageId) throw new Error('moto has no Ubuntu AMI (owner 099720109477) to launch the fleet from');
  return imageId;
}

/** The default VPC's subnets (172.31.0.0/16), one per availability zone. */
async function defaultSubnets(ec2: EC2Client): Promise<string[]> {
  const out = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }));
  const subnets = (out.Subnets ?? []).filter((s) => s.CidrBlock?.startsWith('172.31.')).map((s) => s.SubnetId!).sort();
  if (subnets.length === 0) throw new Error('moto has no default subnet in 172.31.0.0/16 to launch the fleet into');
  return subnets;
}

/** The function's environment exactly as the construct deploys it, the topic, table and zones pointing into moto. */
function synthesizedEnvironment(topicArn: string, zones: Zones): Record<string, string> {
  const app = new App();
  const stack = new Stack(app, 'BenchEventBatches', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new InstanceDecommissioner(stack, 'InstanceDecommissioner', {
    topic: new sns.Topic(stack, 'Topic'),
    hostedZones: [
      route53.HostedZone.fromHostedZoneAttributes(stack, 'Forward', { hostedZoneId: zones.forward, zoneName: FORWARD_ZONE }),
      route53.HostedZone.fromHostedZoneAttributes(stack, 'Reverse', { hostedZoneId: zones.reverse, zoneName: REVERSE_ZONE }),
    ],
    recordNameTemplates: [TEMPLATE],
  });
  const env = functionEnvironmentFromTemplate(Template.fromStack(stack).toJSON(), {
    resolveRefs: {
      'AWS::SNS::Topic': topicArn,
      'AWS::DynamoDB::Table': TABLE_NAME,
      'AWS::Partition': 'aws',
      'AWS::Region': EMULATOR_REGION,
      'AWS::AccountId': EMULATOR_ACCOUNT,
    },
  });
  for (const name of [ENV.hostedZones, ENV.recordNameTemplates, ENV.tableName]) {
    if (!env[name]) throw new Error(`the synthesized function has no ${name}`);
  }
  return env;
}

// ---- events -----------------------------------------------------------------------------------------

/** An SQS batch as the event source mapping delivers it: one EC2 state-change event (via EventBridge) per message. */
function sqsBatch(instanceIds: readonly string[], state: 'running' | 'terminated'): { Records: unknown[] } {
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    Records: instanceIds.map((instanceId) => ({
      messageId: randomUUID(),
      receiptHandle: `bench-${randomUUID()}`,
      body: JSON.stringify({
        'version': '0',
        'id': randomUUID(),
        'detail-type': STATE_CHANGE_DETAIL_TYPE,
        'source': 'aws.ec2',
        'account': EMULATOR_ACCOUNT,
        time,
        'region': EMULATOR_REGION,
        'resources': [`arn:aws:ec2:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:instance/${instanceId}`],
        'detail': { 'instance-id': instanceId, state },
      }),
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'AIDAEVENTBRIDGE', ApproximateFirstReceiveTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:bench-instance-events`,
      awsRegion: EMULATOR_REGION,
    })),
  };
}

/** Snapshots of the fleet, stored by the bundle itself from `running` events (not counted). */
async function storeSnapshots(invoker: Invoker, instanceIds: readonly string[]): Promise<void> {
  for (const part of chunks(instanceIds, SNAPSHOT_EVENTS_PER_INVOCATION)) {
    const outcome = await invoker.invoke(sqsBatch(part, 'running'));
    const failures = outcome.result?.batchItemFailures;
    if (!outcome.ok || !Array.isArray(failures) || failures.length > 0) {
      throw new Error(`storing snapshots failed: ${outcome.ok ? JSON.stringify(outcome.result) : outcome.message}\n${invoker.stderr()}`);
    }
  }
}

// ---- one warm container ---------------------------------------------------------------------------

// ---- Route 53 requests by operation, with their times ----------------------------------------------

interface Route53Tap {
  /** Give this to the handler: every request is passed on to the counting proxy. */
  readonly endpoint: string;
  /** Route 53 requests since the last reset, by operation. */
  counts(): Record<string, number>;
  /** When each Route 53 request since the last reset arrived (performance.now()). */
  times(): number[];
  reset(): void;
  stop(): Promise<void>;
}

const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/;

/**
 * Route 53 speaks REST: its requests carry no Action or X-Amz-Target, so the counting proxy files
 * them under `route53:unknown`. This proxy in front of it names them from method and path, and times them.
 */
function route53Operation(method: string, url: string): string {
  const pathname = new URL(url, 'http://tap').pathname.replace(/\/+$/, '');
  if (/\/hostedzone\/[^/]+\/rrset$/.test(pathname)) return method === 'POST' ? 'ChangeResourceRecordSets' : 'ListResourceRecordSets';
  return `${method} ${pathname.replace(/^\/\d{4}-\d{2}-\d{2}/, '')}`;
}

async function startRoute53Tap(target: string): Promise<Route53Tap> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let seen: Array<{ operation: string; at: number }> = [];
  const server = http.createServer((req, res) => {
    const at = performance.now();
    const scope = CREDENTIAL_SCOPE.exec(String(req.headers.authorization ?? ''));
    if (scope?.[1] === 'route53') seen.push({ operation: route53Operation(req.method ?? 'GET', req.url ?? '/'), at });
    const options = { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent };
    const forward = http.request(options, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
    });
    forward.on('error', (error) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`route53 tap: ${error.message}`);
    });
    req.pipe(forward);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts() {
      const out: Record<string, number> = {};
      for (const { operation } of seen) out[`route53:${operation}`] = (out[`route53:${operation}`] ?? 0) + 1;
      return out;
    },
    times: () => seen.map((s) => s.at),
    reset() {
      seen = [];
    },
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    }),
  };
}

/** The counting proxy's counts with its Route 53 requests (all `route53:unknown`) named by the tap. */
function withRoute53Operations(counts: Record<string, number>, tap: Route53Tap): Record<string, number> {
  const out: Record<string, number> = {};
  let route53Requests = 0;
  for (const [key, value] of Object.entries(counts)) {
    if (key.startsWith('route53:')) route53Requests += value;
    else out[key] = value;
  }
  const named = tap.counts();
  const namedTotal = Object.values(named).reduce((a, b) => a + b, 0);
  if (namedTotal !== route53Requests) throw new Error(`the counting proxy saw ${route53Requests} Route 53 requests, the tap ${namedTotal}`);
  return { ...out, ...named };
}

// ---- clients ------------------------------------------------------------------------------------------

async function endpointOf(ec2: EC2Client): Promise<string> {
  const resolved = await ec2.config.endpoint!();
  return `${resolved.protocol}//${resolved.hostname}${resolved.port ? `:${resolved.port}` : ''}`;
}

function directConfig(endpoint: string) {
  return { endpoint, region: EMULATOR_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' } };
}
