/**
 * TagPolicyEngine end to end, on this machine: synthesize a stack with the construct, create its rule
 * table on moto and write the props rules into it the way the deploy does (the shipped bundle, given
 * the custom resource's Create event), add a rule and a broken item by hand in the seed's format,
 * launch a small fleet, tag one new instance's creator from a CloudTrail RunInstances event, then run
 * the sweep and show every instance's tags before and after, the table and the notification.
 */
import { CreateTableCommand, DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { TagPolicyEngine, TagValue, ViolationAction } from '../../src';
import { createInstances, createTopicWithQueue, describeAllInstances, emulatorClients, InstanceGroup, readNotifications } from '../../test/emulator/fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { BundleRun, DAY, runBundle } from '../../test/emulator/run-bundle';
import { functionEnvironmentFromTemplate } from '../../test/emulator/stack-env';
import { DemoContext, DemoSegment, describeResources, indent, requireBundle } from '../segment';

const STACK_NAME = 'TagPolicyEngineDemo';
const TABLE_NAME = 'fleet-janitor-tag-rules';
const KEYS = ['CostCenter', 'CreatedBy', 'LaunchDate', 'Environment', 'Team', 'fleet-janitor:violation'];
const SSO_ROLE = 'AWSReservedSSO_Admin_0123456789abcdef';

function synthesize(outdir: string) {
  const app = new App({ outdir });
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new TagPolicyEngine(stack, 'Tags', {
    rules: [
      { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', '1002', 'unassigned'] },
      { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator() },
      { tagKey: 'LaunchDate', required: true, defaultValue: TagValue.launchDate() },
      { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$', onViolation: ViolationAction.NOTIFY },
    ],
    untaggedAction: ViolationAction.STOP,
    gracePeriod: Duration.days(3),
    // moto has no CloudTrail event history to look creators up in: the creator comes from the launch event only.
    backfillCreators: false,
  });
  return app.synth().getStackByName(stack.stackName).template;
}

function fleet(now: number): InstanceGroup[] {
  const ago = (ms: number) => new Date(now - ms);
  const complete = { CostCenter: '1001', CreatedBy: 'alice', LaunchDate: '2026-01-15', Environment: 'prod' };
  const markedDaysAgo = (days: number) => `${new Date(now - days * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z')} CostCenter`;
  return [
    { count: 2, name: 'web', tags: complete, launchTime: ago(300 * DAY) },
    // Missing defaults: CostCenter gets "unassigned", LaunchDate its launch date; no creator known yet.
    { name: 'batch', tags: { CreatedBy: 'bob', Environment: 'dev' }, launchTime: ago(40 * DAY) },
    // An empty value counts as missing.
    { name: 'etl', tags: { ...complete, CostCenter: '' }, launchTime: ago(12 * DAY) },
    // Invalid values are never overwritten: CostCenter 9999 breaks allowed values (STOP after the grace
    // period), Environment qa breaks the pattern (that rule only notifies).
    { name: 'legacy', tags: { ...complete, CostCenter: '9999' }, launchTime: ago(500 * DAY) },
    { name: 'qa-box', tags: { ...complete, Environment: 'qa' }, launchTime: ago(20 * DAY) },
    // Marked 5 days ago and still in violation: stopped now. Marked 1 day ago: still in its grace period.
    { name: 'orphan', tags: { ...complete, 'CostCenter': '42', 'fleet-janitor:violation': markedDaysAgo(5) }, launchTime: ago(90 * DAY) },
    { name: 'newcomer', tags: { ...complete, 'CostCenter': '42', 'fleet-janitor:violation': markedDaysAgo(1) }, launchTime: ago(9 * DAY) },
    // Marked, then fixed by its owner: unmarked.
    { name: 'fixed', tags: { ...complete, 'fleet-janitor:violation': markedDaysAgo(2) }, launchTime: ago(30 * DAY) },
    // Protected: reported, never changed.
    { name: 'db-primary', tags: { 'fleet-janitor:protect': 'dba', 'Environment': 'prod' }, launchTime: ago(700 * DAY) },
    // Launched a minute ago by a person through IAM Identity Center: its launch event tags the creator.
    { name: 'jane-test', tags: { CostCenter: '1002', Environment: 'dev' } },
  ];
}

export const tagPolicyEngine: DemoSegment = {
  name: 'TagPolicyEngine',
  description: 'fill in missing EC2 tags from rules in DynamoDB, tag creators at launch, mark violators and stop them after a grace period',

  async run(ctx: DemoContext) {
    const bundle = requireBundle('tag-policy-engine');
    const template = synthesize(ctx.outdir);
    ctx.print(`Synthesized ${STACK_NAME}: ${describeResources(template)}`);

    const aws = emulatorClients(ctx.endpoint);
    const dynamodb = new DynamoDBClient({ endpoint: ctx.endpoint, region: EMULATOR_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await dynamodb.send(new CreateTableCommand({
      TableName: TABLE_NAME,
      KeySchema: [{ AttributeName: 'RuleId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'RuleId', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
    const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'tag-policy-engine-demo');
    const env = functionEnvironmentFromTemplate(template, {
      logicalIdPrefix: 'TagsHandlerFunction', resolveRefs: { 'AWS::SNS::Topic': topicArn, 'AWS::DynamoDB::Table': TABLE_NAME },
    });
    const timeoutSeconds = Number(Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.TABLE_NAME)?.Properties?.Timeout ?? 60);
    const invoke = async (what: string, event: unknown): Promise<BundleRun> => {
      const run = await runBundle({ bundlePath: bundle, env, event, endpoint: ctx.endpoint, timeoutSeconds });
      ctx.print(`${what}: ${run.durationMs} ms${run.error ? `, FAILED: ${run.error.message}` : ''}`);
      if (run.error) ctx.fail(`${what} failed: ${run.error.message}`);
      return run;
    };

    // 1. The deploy: the custom resource's Create event, as the provider framework passes it on.
    const rulesResource = Object.values<any>(template.Resources).find((r) => r.Type === 'Custom::FleetJanitorTagRules');
    await invoke('Deploy writes the props rules (custom resource Create)', {
      RequestType: 'Create',
      ServiceToken: 'demo',
      ResponseURL: 'https://example.invalid/demo',
      StackId: `arn:aws:cloudformation:${EMULATOR_REGION}:${EMULATOR_ACCOUNT}:stack/${STACK_NAME}/demo`,
      RequestId: 'demo-request',
      LogicalResourceId: 'TagsRules',
      ResourceType: 'Custom::FleetJanitorTagRules',
      ResourceProperties: { ServiceToken: 'demo', TableName: TABLE_NAME, Rules: rulesResource.Properties.Rules, Owner: `${STACK_NAME}/Tags` },
    });
    // 2. A platform engineer adds a rule by hand, in the seed's format, and someone writes a broken one.
    await dynamodb.send(new PutItemCommand({ TableName: TABLE_NAME, Item: marshall({ RuleId: 'team', TagKey: 'Team', Action: 'Update', Default: 'platform', Required: 'false' }) }));
    await dynamodb.send(new PutItemCommand({ TableName: TABLE_NAME, Item: marshall({ RuleId: 'typo', TagKey: 'Owner', Action: 'Lookup', Required: 'yes' }) }));
    ctx.print('\nRule table');
    ctx.table(['RuleId', 'TagKey', 'Action', 'Default', 'Required', 'other', 'ManagedBy'], (await scanTable(dynamodb)).map((i) => [
      i.RuleId, i.TagKey, i.Action ?? '-', i.Default ?? '-', i.Required ?? '-',
      [i.AllowedValues ? `AllowedValues=${[...i.AllowedValues].join('|')}` : '', i.Pattern ? `Pattern=${i.Pattern}` : '', i.OnViolation ? `OnViolation=${i.OnViolation}` : ''].filter(Boolean).join(' ') || '-',
      i.ManagedBy ?? '(by hand)',
    ]));

    // 3. The fleet, and one launch's CloudTrail event.
    const now = Date.now();
    const created = await createInstances(aws.ec2, fleet(now));
    const before = await describeAllInstances(aws.ec2);
    const jane = created.find((c) => c.group.name === 'jane-test')!.instanceId;
    ctx.print(`\nFleet: ${created.length} instances; topic ${topicArn}\n`);
    await invoke(`Launch event: RunInstances of ${jane} by ${SSO_ROLE}/jane@example.com`, runInstancesEvent(jane, new Date(now)));

    // 4. The scheduled sweep.
    const sweep = await invoke('Sweep', { source: 'cdk-fleet-janitor.schedule' });
    const after = await describeAllInstances(aws.ec2);
    ctx.print('\nInstances (tags the rules care about; * = changed)');
    ctx.table(['id', 'Name', 'before', 'after', 'state'], created.map(({ instanceId }) => {
      const b = before.get(instanceId)!;
      const a = after.get(instanceId)!;
      return [instanceId, b.tags.Name ?? '-', tagLine(b.tags), `${tagLine(a.tags)}${tagLine(a.tags) !== tagLine(b.tags) ? ' *' : ''}`,
        `${a.state}${a.state !== b.state ? ' *' : ''}`];
    }));
    for (const n of await readNotifications(aws.sqs, queueUrl)) ctx.print(`\nSNS notification\n  Subject: ${n.Subject}\n${indent(n.Message)}`);

    let summary = 'sweep failed';
    if (sweep.result) {
      const c = sweep.result.counts ?? {};
      summary = `${sweep.result.status}: ${c.actionsTaken} done, ${c.actionsFailed} failed, ${c.reported} reported, ${c.skippedProtected} protected, ${c.scanned} instances`;
    }
    return { templates: { [STACK_NAME]: template }, summary };
  },
};

async function scanTable(dynamodb: DynamoDBClient): Promise<Array<Record<string, any>>> {
  const out = await dynamodb.send(new ScanCommand({ TableName: TABLE_NAME }));
  return (out.Items ?? []).map((i) => unmarshall(i)).sort((a, b) => String(a.RuleId).localeCompare(String(b.RuleId)));
}

function tagLine(tags: Record<string, string>): string {
  return KEYS.filter((k) => k in tags).map((k) => `${k === 'fleet-janitor:violation' ? 'MARK' : k}=${k === 'fleet-janitor:violation' ? tags[k].slice(0, 10) : tags[k]}`).join(' ') || '-';
}

/** An EventBridge "AWS API Call via CloudTrail" RunInstances event, in the shape CloudTrail records for an IAM Identity Center session. */
function runInstancesEvent(instanceId: string, at: Date) {
  return {
    'version': '0',
    'id': '6f4c7d1e-0000-4000-8000-000000000001',
    'detail-type': 'AWS API Call via CloudTrail',
    'source': 'aws.ec2',
    'account': EMULATOR_ACCOUNT,
    'time': at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'region': EMULATOR_REGION,
    'resources': [],
    'detail': {
      eventVersion: '1.09',
      userIdentity: {
        type: 'AssumedRole',
        principalId: 'AROAEXAMPLEID:jane@example.com',
        arn: `arn:aws:sts::${EMULATOR_ACCOUNT}:assumed-role/${SSO_ROLE}/jane@example.com`,
        accountId: EMULATOR_ACCOUNT,
        sessionContext: { sessionIssuer: { type: 'Role', userName: SSO_ROLE, arn: `arn:aws:iam::${EMULATOR_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/${SSO_ROLE}` } },
      },
      eventTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: 'ec2.amazonaws.com',
      eventName: 'RunInstances',
      awsRegion: EMULATOR_REGION,
      requestParameters: { instancesSet: { items: [{ imageId: 'ami-0123456789abcdef0', minCount: 1, maxCount: 1 }] } },
      responseElements: { instancesSet: { items: [{ instanceId, currentState: { code: 0, name: 'pending' } }] } },
      eventType: 'AwsApiCall',
    },
  };
}
