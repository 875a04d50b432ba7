/**
 * InstanceDecommissioner end to end, on this machine: create a private zone and its reverse zone on
 * moto, synthesize a stack whose construct changes records in exactly those zones, build a small
 * fleet with Name tags, its A, multi-value A, CNAME and PTR records and its CloudWatch alarms, then
 * hand the shipped bundle what the event source mapping would: an SQS batch of `running` events
 * (snapshots stored), a batch of `shutting-down`/`terminated` events with a malformed message in it
 * (cleanup, a partial batch response), the same deaths delivered again with a late `running` event
 * (nothing happens twice), and the scheduled reconcile sweep after a script re-created a dead
 * instance's record and alarm. Prints the records, alarms and table before and after, the SNS
 * notifications and the "Instance Decommissioned" events on the bus.
 */
import { CloudWatchClient, DescribeAlarmsCommand, MetricAlarm, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTableCommand, DynamoDBClient, ScanCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, DescribeVpcsCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, ListResourceRecordSetsCommand, ResourceRecordSet, Route53Client,
} from '@aws-sdk/client-route-53';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { HostedZone } from 'aws-cdk-lib/aws-route53';
import { InstanceDecommissioner } from '../../src';
import { createInstances, createTopicWithQueue, emulatorClients, readNotifications } from '../../test/emulator/fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { BundleRun, runBundle } from '../../test/emulator/run-bundle';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { DemoContext, DemoSegment, describeResources, indent, requireBundle } from '../segment';

const STACK_NAME = 'InstanceDecommissionerDemo';
const TABLE_NAME = 'fleet-janitor-instance-snapshots';
const ZONE_NAME = 'internal.example.com';
/** moto gives instances addresses in 10.0.0.0/8: every instance's PTR is in this zone. */
const REVERSE_ZONE_NAME = '10.in-addr.arpa';
/** Each instance's own name, and its role's name that several instances share (a multi-value record). */
const TEMPLATES = [`{tag:Name}.${ZONE_NAME}`, `{tag:Role}.${ZONE_NAME}`];
/** An address no instance ever held (a load balancer's, say): never touched. */
const VIP = '10.0.255.10';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

interface Zones {
  readonly forward: string;
  readonly reverse: string;
}

function synthesize(outdir: string, zones: Zones) {
  const app = new App({ outdir });
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new InstanceDecommissioner(stack, 'Decommissioner', {
    hostedZones: [
      HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: zones.forward, zoneName: ZONE_NAME }),
      HostedZone.fromHostedZoneAttributes(stack, 'ReverseZone', { hostedZoneId: zones.reverse, zoneName: REVERSE_ZONE_NAME }),
    ],
    recordNameTemplates: TEMPLATES,
    deleteAlarms: true,
    instanceSelector: { team: 'platform' },
    snapshotRetention: Duration.days(30),
  });
  return app.synth().getStackByName(stack.stackName).template;
}

export const instanceDecommissioner: DemoSegment = {
  name: 'InstanceDecommissioner',
  description: 'snapshot instances as they start; when they die, delete their DNS records and alarms and announce it; a sweep for what events missed',

  async run(ctx: DemoContext) {
    const bundle = requireBundle('instance-decommissioner');
    const aws = emulatorClients(ctx.endpoint);
    const config = { endpoint: ctx.endpoint, region: EMULATOR_REGION, credentials: CREDENTIALS };
    const route53 = new Route53Client(config);
    const cloudwatch = new CloudWatchClient(config);
    const eventbridge = new EventBridgeClient(config);
    const sqs = new SQSClient(config);
    const dynamodb = new DynamoDBClient(config);

    // 1. The zones exist before the stack (imported by id and name), as most teams' zones do.
    const vpcId = (await aws.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs?.[0]?.VpcId;
    if (!vpcId) throw new Error('moto has no default VPC');
    const createZone = async (name: string) => {
      const out = await route53.send(new CreateHostedZoneCommand({
        Name: name, CallerReference: `demo-${name}`, VPC: { VPCId: vpcId, VPCRegion: EMULATOR_REGION }, HostedZoneConfig: { PrivateZone: true, Comment: 'demo' },
      }));
      return out.HostedZone!.Id!.replace(/^\/hostedzone\//, '');
    };
    const zones: Zones = { forward: await createZone(ZONE_NAME), reverse: await createZone(REVERSE_ZONE_NAME) };
    const template = synthesize(ctx.outdir, zones);
    ctx.print(`Synthesized ${STACK_NAME}: ${describeResources(template)}`);
    ctx.print(`Private zones on the default VPC: ${ZONE_NAME} (${zones.forward}), ${REVERSE_ZONE_NAME} (${zones.reverse}); templates ${TEMPLATES.join(', ')}`);
    ctx.print('No hooks in this demo: moto cannot invoke Lambda functions (the handler would call each hook with the bus event\'s detail).');

    // The snapshot table as the template defines it, the topic, and a rule on the default bus that keeps the announcements.
    const table = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table').Properties;
    await dynamodb.send(new CreateTableCommand({
      TableName: TABLE_NAME, KeySchema: table.KeySchema, AttributeDefinitions: table.AttributeDefinitions, BillingMode: table.BillingMode,
    }));
    await dynamodb.send(new UpdateTimeToLiveCommand({ TableName: TABLE_NAME, TimeToLiveSpecification: table.TimeToLiveSpecification }));
    const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'instance-decommissioner-demo');
    const busInbox = await announcementsInbox(eventbridge, sqs);
    const env = functionEnvironmentFromTemplate(template, {
      logicalIdPrefix: 'DecommissionerHandlerFunction',
      resolveRefs: {
        'AWS::SNS::Topic': topicArn,
        'AWS::DynamoDB::Table': TABLE_NAME,
        'AWS::Partition': 'aws',
        'AWS::Region': EMULATOR_REGION,
        'AWS::AccountId': EMULATOR_ACCOUNT,
      },
    });
    const timeoutSeconds = Number(Object.values<any>(template.Resources)
      .find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'InstanceDecommissioner')?.Properties?.Timeout ?? 60);
    const invoke = async (what: string, event: unknown): Promise<BundleRun> => {
      const run = await runBundle({ bundlePath: bundle, env, event, endpoint: ctx.endpoint, timeoutSeconds, functionName: 'instance-decommissioner' });
      ctx.print(`${what}: ${run.durationMs} ms${run.error ? `, FAILED: ${run.error.message}` : ''}`);
      if (run.error) ctx.fail(`${what} failed: ${run.error.message}`);
      return run;
    };
    const notifications = async () => {
      const all = await readNotifications(aws.sqs, queueUrl);
      if (all.length === 0) ctx.print('  (no SNS notification: nothing was changed, failed or needs a human)');
      for (const n of all) ctx.print(`\nSNS notification\n  Subject: ${n.Subject}\n${indent(n.Message)}`);
    };

    // 2. The fleet: three web servers, a protected database, a batch box of another team (not selected).
    const created = await createInstances(aws.ec2, [
      { name: 'web-1', tags: { team: 'platform', Role: 'web' } },
      { name: 'web-2', tags: { team: 'platform', Role: 'web' } },
      { name: 'web-3', tags: { team: 'platform', Role: 'web' } },
      { name: 'db-1', tags: { 'team': 'platform', 'fleet-janitor:protect': 'dba' } },
      { name: 'batch-7', tags: { team: 'data' } },
    ]);
    const ids = Object.fromEntries(created.map((c) => [c.group.name!, c.instanceId]));
    const ips: Record<string, string> = {};
    for (const c of created) ips[c.group.name!] = await privateIp(aws.ec2, c.instanceId);
    const nameOf = new Map(Object.entries(ids).map(([name, id]) => [id, name]));
    ctx.print(`\nFleet: ${created.map((c) => `${c.group.name} ${c.instanceId} ${ips[c.group.name!]}`).join(', ')}`);

    // Their records: an A record each, a multi-value A for the web role, a CNAME to web-1, a PTR each;
    // and a VIP no instance holds.
    const forward: ResourceRecordSet[] = [
      ...created.map((c) => a(`${c.group.name}.${ZONE_NAME}`, [ips[c.group.name!]])),
      a(`web.${ZONE_NAME}`, [ips['web-1'], ips['web-2'], ips['web-3']]),
      { Name: `app.${ZONE_NAME}`, Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: `web-1.${ZONE_NAME}` }] },
      a(`vip.${ZONE_NAME}`, [VIP]),
    ];
    const reverse: ResourceRecordSet[] = created.map((c) => ({
      Name: reverseName(ips[c.group.name!]), Type: 'PTR', TTL: 300, ResourceRecords: [{ Value: `${c.group.name}.${ZONE_NAME}` }],
    }));
    await createRecords(route53, zones.forward, forward);
    await createRecords(route53, zones.reverse, reverse);
    // Alarms on their metrics: one per instance, and two metric-math alarms over two web servers each.
    for (const c of created) await putAlarm(cloudwatch, `${c.group.name}-cpu-high`, [c.instanceId]);
    await putAlarm(cloudwatch, 'web-1+2-cpu-sum', [ids['web-1'], ids['web-2']]);
    await putAlarm(cloudwatch, 'web-1+3-cpu-sum', [ids['web-1'], ids['web-3']]);
    const recordsBefore = await listRecords(route53, zones);
    const alarmsBefore = await listAlarms(cloudwatch);

    // 3. They started: the rule delivered their `running` events, and the event source mapping hands over one batch.
    const started = new Date(Date.now() - 60 * 60_000);
    await invoke(`\nBatch 1: ${created.length} "running" events`, sqsBatch(created.map((c, i) => stateChange(c.instanceId, 'running', started, i))));
    ctx.print('\nSnapshot table after batch 1');
    ctx.table(['InstanceId', 'Name', 'Status', 'record names', 'private IPs'], (await scanTable(dynamodb)).map((i) => [
      i.InstanceId, nameOf.get(i.InstanceId) ?? '-', i.Status, i.snapshot.recordNames.join(' ') || '-', i.snapshot.privateIps.join(' '),
    ]));
    await notifications();

    // 4. Four die. EC2 sends shutting-down, then terminated; a stray message is in the same batch.
    const dying = ['web-1', 'web-2', 'db-1', 'batch-7'];
    await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: dying.map((n) => ids[n]) }));
    const died = new Date();
    const deaths = [
      stateChange(ids['web-1'], 'shutting-down', died, 10),
      ...dying.map((n, i) => stateChange(ids[n], 'terminated', new Date(died.getTime() + 30_000), 11 + i)),
      { messageId: message(19), body: '{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-123"}}' },
    ];
    const batch2 = await invoke(`\nBatch 2: ${deaths.length} messages (shutting-down web-1; terminated ${dying.join(', ')}; one malformed)`, sqsBatch(deaths));
    ctx.print(`  partial batch response: ${JSON.stringify(batch2.result)}`);
    ctx.print(`  (the malformed message ${message(19)} goes back to the queue; after maxReceiveCount receives it waits in the dead-letter queue)`);

    const recordsAfter = await listRecords(route53, zones);
    const alarmsAfter = await listAlarms(cloudwatch);
    ctx.print('\nRecords (* = changed)');
    ctx.table(['name', 'type', 'before', 'after'], [...recordsBefore.keys()].map((key) => {
      const [name, type] = key.split(' ');
      const before = recordsBefore.get(key)!.join(' ');
      const after = recordsAfter.get(key)?.join(' ') ?? '(deleted)';
      return [name, type, before, `${after}${after !== before ? ' *' : ''}`];
    }));
    ctx.print('\nAlarms');
    ctx.table(['alarm', 'watches', 'after'], [...alarmsBefore].map(([name, watched]) => [
      name, watched.map((id) => nameOf.get(id) ?? id).join(' + '), alarmsAfter.has(name) ? 'kept' : 'deleted *',
    ]));
    ctx.print('\nSnapshot table after batch 2');
    ctx.table(['InstanceId', 'Name', 'Status', 'DecommissionedAt', 'cleaned'], (await scanTable(dynamodb)).map((i) => [
      i.InstanceId, nameOf.get(i.InstanceId) ?? '-', i.Status, i.DecommissionedAt ?? '-', i.cleaned ? cleanedLine(i.cleaned) : '-',
    ]));
    await notifications();
    const announced = await drain(sqs, busInbox);
    ctx.print(`\n"Instance Decommissioned" events on the default bus: ${announced.length}`);
    for (const event of announced) {
      const d = event.detail;
      ctx.print(`  ${d.instanceId} (${d.snapshot?.tags?.Name}): ${d.state}, snapshot from ${d.snapshotSource}, ${cleanedLine(d.cleaned)}`);
    }
    if (announced[0]) ctx.print(`\nThe first one, as a rule on the bus (or a hook) receives it:\n${indent(JSON.stringify(announcedShape(announced[0]), null, 2))}`);

    // 5. At-least-once delivery: web-1's terminated event again, and web-2's running event arriving late.
    const batch3 = await invoke('\nBatch 3: web-1 "terminated" delivered again, web-2 "running" arriving late', sqsBatch([
      stateChange(ids['web-1'], 'terminated', new Date(died.getTime() + 30_000), 11),
      stateChange(ids['web-2'], 'running', started, 21),
    ]));
    const unchanged = sameRecords(recordsAfter, await listRecords(route53, zones)) && (await listAlarms(cloudwatch)).size === alarmsAfter.size;
    ctx.print(`  partial batch response: ${JSON.stringify(batch3.result)}; records and alarms ${unchanged ? 'unchanged' : 'CHANGED'}`);
    if (!unchanged) ctx.fail('a redelivered event changed something');
    const web2 = (await scanTable(dynamodb)).find((i) => i.InstanceId === ids['web-2']);
    ctx.print(`  web-2's snapshot is still ${web2?.Status} (a late running event never overwrites a decommissioned one)`);
    await notifications();

    // 6. An old deploy script puts web-2's record and alarm back; the daily sweep removes them.
    await createRecords(route53, zones.forward, [a(`web-2.${ZONE_NAME}`, [ips['web-2']])]);
    await putAlarm(cloudwatch, 'web-2-cpu-high', [ids['web-2']]);
    ctx.print(`\nA script re-created web-2.${ZONE_NAME} A ${ips['web-2']} and the alarm web-2-cpu-high`);
    const recordsRecreated = await listRecords(route53, zones);
    const alarmsRecreated = await listAlarms(cloudwatch);
    const sweep = await invoke('Reconcile sweep (the schedule\'s event)', { source: 'cdk-fleet-janitor.schedule' });
    const recordsFinal = await listRecords(route53, zones);
    const alarmsFinal = await listAlarms(cloudwatch);
    const swept = [...recordsRecreated.keys()].filter((k) => !recordsFinal.has(k));
    const sweptAlarms = [...alarmsRecreated.keys()].filter((k) => !alarmsFinal.has(k));
    ctx.print(`  the sweep removed: ${[...swept, ...sweptAlarms.map((name) => `alarm ${name}`)].join('; ') || 'nothing'}`);
    ctx.print('  (it lists whole zones: it also finds a CNAME elsewhere that still points at a dead instance\'s name, which the events,');
    ctx.print('  looking only at the names the templates render, do not; and the protected db-1\'s alarm is reported, not deleted)');
    if (recordsFinal.has(`web-2.${ZONE_NAME} A`) || alarmsFinal.has('web-2-cpu-high')) ctx.fail('the sweep left the re-created record or alarm');
    await notifications();

    const changedRecords = [...recordsBefore.keys()].filter((k) => recordsAfter.get(k)?.join(' ') !== recordsBefore.get(k)!.join(' ')).length;
    const deletedAlarms = [...alarmsBefore.keys()].filter((k) => !alarmsAfter.has(k)).length;
    const failures = (batch2.result?.batchItemFailures ?? []).length;
    const c = sweep.result?.counts ?? {};
    return {
      templates: { [STACK_NAME]: template },
      summary: `${announced.length} decommissioned: ${changedRecords} record sets changed, ${deletedAlarms} alarms deleted; ${failures} message retried; `
        + `sweep ${sweep.result?.status ?? 'failed'}: ${c.actionsTaken ?? 0} removed`,
    };
  },
};

// ---- fixtures -------------------------------------------------------------------------------------

function a(name: string, values: string[]): ResourceRecordSet {
  return { Name: name, Type: 'A', TTL: 300, ResourceRecords: values.map((Value) => ({ Value })) };
}

function reverseName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

async function createRecords(route53: Route53Client, zoneId: string, sets: ResourceRecordSet[]): Promise<void> {
  await route53.send(new ChangeResourceRecordSetsCommand({
    HostedZoneId: zoneId,
    ChangeBatch: { Changes: sets.map((set) => ({ Action: 'CREATE' as const, ResourceRecordSet: set })) },
  }));
}

/** An alarm on the CPU of one instance, or the sum of several (a metric-math alarm). */
async function putAlarm(cloudwatch: CloudWatchClient, name: string, instanceIds: string[]): Promise<void> {
  const metric = (id: string) => ({ Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Dimensions: [{ Name: 'InstanceId', Value: id }] });
  const common = { AlarmName: name, EvaluationPeriods: 1, Threshold: 90, ComparisonOperator: 'GreaterThanThreshold' as const };
  if (instanceIds.length === 1) {
    await cloudwatch.send(new PutMetricAlarmCommand({ ...common, ...metric(instanceIds[0]), Statistic: 'Average', Period: 300 }));
    return;
  }
  await cloudwatch.send(new PutMetricAlarmCommand({
    ...common,
    Metrics: [
      ...instanceIds.map((id, i) => ({ Id: `m${i}`, MetricStat: { Metric: metric(id), Period: 300, Stat: 'Average' }, ReturnData: false })),
      { Id: 'total', Expression: instanceIds.map((_, i) => `m${i}`).join(' + '), ReturnData: true },
    ],
  }));
}

async function privateIp(ec2: EC2Client, instanceId: string): Promise<string> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations![0].Instances![0].PrivateIpAddress!;
}

/** A queue subscribed, through a rule on the default bus, to the construct's announcements. */
async function announcementsInbox(eventbridge: EventBridgeClient, sqs: SQSClient): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'decommission-announcements' }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await eventbridge.send(new PutRuleCommand({
    Name: 'instance-decommissioned', EventPattern: JSON.stringify({ 'source': ['cdk-fleet-janitor'], 'detail-type': ['Instance Decommissioned'] }),
  }));
  await eventbridge.send(new PutTargetsCommand({ Rule: 'instance-decommissioned', Targets: [{ Id: 'inbox', Arn: Attributes!.QueueArn! }] }));
  return QueueUrl!;
}

// ---- events ---------------------------------------------------------------------------------------

function message(n: number): string {
  return `5f0c1a2b-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

/** One SQS message holding an EventBridge "EC2 Instance State-change Notification", as the rule's target delivers it. */
function stateChange(instanceId: string, state: string, at: Date, n: number): { messageId: string; body: string } {
  return {
    messageId: message(n),
    body: JSON.stringify({
      'version': '0',
      'id': `7e3d9c1a-0000-4000-8000-${String(n).padStart(12, '0')}`,
      'detail-type': 'EC2 Instance State-change Notification',
      'source': 'aws.ec2',
      'account': EMULATOR_ACCOUNT,
      'time': at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'region': EMULATOR_REGION,
      'resources': [`arn:aws:ec2:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:instance/${instanceId}`],
      'detail': { 'instance-id': instanceId, state },
    }),
  };
}

/** The Lambda event of an SQS event source mapping. */
function sqsBatch(messages: Array<{ messageId: string; body: string }>) {
  const sent = String(Date.now());
  return {
    Records: messages.map(({ messageId, body }) => ({
      messageId,
      receiptHandle: `demo-${messageId}`,
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: sent, SenderId: 'AIDAEXAMPLEEVENTS', ApproximateFirstReceiveTimestamp: sent },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:${STACK_NAME}-DecommissionerQueue`,
      awsRegion: EMULATOR_REGION,
    })),
  };
}

// ---- reading back ---------------------------------------------------------------------------------

/** Every record set but the zones' own SOA and NS, as "name type" → values. */
async function listRecords(route53: Route53Client, zones: Zones): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const zoneId of [zones.forward, zones.reverse]) {
    const page = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, MaxItems: 300 }));
    for (const set of page.ResourceRecordSets ?? []) {
      if (set.Type === 'SOA' || set.Type === 'NS') continue;
      out.set(`${set.Name!.replace(/\.$/, '')} ${set.Type}`, (set.ResourceRecords ?? []).map((r) => r.Value!.replace(/\.$/, '')));
    }
  }
  return out;
}

function sameRecords(x: Map<string, string[]>, y: Map<string, string[]>): boolean {
  return x.size === y.size && [...x].every(([k, v]) => y.get(k)?.join(' ') === v.join(' '));
}

/** Alarm name → the instances it watches. */
async function listAlarms(cloudwatch: CloudWatchClient): Promise<Map<string, string[]>> {
  const out = await cloudwatch.send(new DescribeAlarmsCommand({}));
  const watched = (alarm: MetricAlarm) => [
    ...(alarm.Dimensions ?? []), ...(alarm.Metrics ?? []).flatMap((m) => m.MetricStat?.Metric?.Dimensions ?? []),
  ].filter((d) => d.Name === 'InstanceId').map((d) => d.Value!);
  return new Map((out.MetricAlarms ?? []).map((alarm) => [alarm.AlarmName!, watched(alarm)]));
}

async function scanTable(dynamodb: DynamoDBClient): Promise<Array<Record<string, any>>> {
  const out = await dynamodb.send(new ScanCommand({ TableName: TABLE_NAME }));
  return (out.Items ?? []).map((item): Record<string, any> => {
    const i = unmarshall(item);
    return { ...i, snapshot: JSON.parse(i.Snapshot), cleaned: i.Cleaned ? JSON.parse(i.Cleaned) : undefined };
  }).sort((x, y) => String(x.InstanceId).localeCompare(String(y.InstanceId)));
}

function cleanedLine(cleaned: { records?: unknown[]; keptRecords?: unknown[]; alarms?: unknown[] }): string {
  return `${cleaned.records?.length ?? 0} record(s) cleaned, ${cleaned.keptRecords?.length ?? 0} kept, ${cleaned.alarms?.length ?? 0} alarm(s) deleted`;
}

async function drain(sqs: SQSClient, queueUrl: string): Promise<any[]> {
  const events: any[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      const name = (event: any) => String(event.detail?.snapshot?.tags?.Name);
      return events.sort((x, y) => name(x).localeCompare(name(y)));
    }
    events.push(...messages.map((m) => JSON.parse(m.Body!)));
    const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  }
}

/** An announcement as EventBridge delivers it, without what moto adds of its own ("ingestion-time"). */
function announcedShape(event: Record<string, unknown>): Record<string, unknown> {
  const { ['ingestion-time']: _ignored, ...rest } = event;
  return rest;
}
