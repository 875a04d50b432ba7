/**
 * TagPolicyEngine: instances missing three tags (two fixed defaults and the creator, found in
 * CloudTrail's event history) among compliant ones, tagged by the shipped handler from seed-format
 * rules in a moto DynamoDB table; LookupEvents answered by the launcher's stub.
 */
import { BatchWriteItemCommand, CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteTagsCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { marshall } from '@aws-sdk/util-dynamodb';
import { Stack } from 'aws-cdk-lib';
import * as cdkDynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { readConfig } from '../../lambda/tag-policy-engine/config';
import { CreatorStatus, decide, ObservedInstance } from '../../lambda/tag-policy-engine/decide';
import { TagPolicyEngine, TagValue, ViolationAction } from '../../src';
import { parseRuleItem, ParsedRule } from '../../src/tag-policy-engine/rule-format';
import { mulberry32 } from '../../test/emulator/random';
import { iamUser, lookupEvent, putLookupEvents, runInstancesRecord } from '../../test/emulator/tag-policy-engine-harness';
import type { BenchScenario, EconomyFixture } from '../scenario';
import { chunks } from '../util';

const TABLE_NAME = 'bench-tag-rules';
/** The seed's item format: two fixed defaults and the creator (UserLookup), which the matching instances lack. */
const RULE_ITEMS = [
  { RuleId: '1', TagKey: 'CostCenter', Action: 'Update', Default: 'unassigned', Required: 'true', AllowedValues: ['1001', '1002', 'unassigned'] },
  { RuleId: '2', TagKey: 'Team', Action: 'Update', Default: 'platform', Required: 'true' },
  { RuleId: '3', TagKey: 'CreatedBy', Action: 'UserLookup', Required: 'true' },
];
const MISSING_KEYS = ['CostCenter', 'Team', 'CreatedBy'];
const CREATOR = 'build-robot';
/** RunInstances of up to 1000, DeleteTags and DescribeInstances pages: up to 1000 instances per call. */
const EC2_IDS_PER_CALL = 1000;
/** LookupEvents returns up to 50 events a page; BatchWriteItem takes 25 items. */
const EVENTS_PER_PAGE = 50;
const ITEMS_PER_WRITE = 25;
const HOUR_MS = 3_600_000;
const NON_MATCHING = 5_000;

export const tagPolicyEngine: BenchScenario = {
  name: 'TagPolicyEngine',
  bundle: 'tag-policy-engine',

  exampleStack(stack: Stack, topic: sns.ITopic): void {
    new TagPolicyEngine(stack, 'TagPolicyEngine', {
      topic,
      rules: [
        { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned') },
        { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator() },
      ],
    });
  },

  economy: {
    matching: [1_000, 5_000],
    nonMatching: NON_MATCHING,
    fleetDescription: 'matching: a running instance launched 6 h ago without `CostCenter`, `Team` and `CreatedBy`, whose RunInstances '
      + `(by IAM user \`${CREATOR}\`, one event per instance) is in CloudTrail's event history (the launcher's LookupEvents stub); `
      + 'non-matching: an instance carrying all three; 1,000 instances per reservation; three seed-format rules in the table '
      + '(two `Update` with a fixed `Default`, one `UserLookup`)',
    minimumRationale: 'no EC2 filter selects a missing tag, so every instance in scope is paged: ceil(reservations/1000) '
      + 'DescribeInstances pages (moto pages by reservation, EC2 by instance: on EC2 both the handler and the minimum are '
      + 'ceil((N + 5,000)/1000)); one Scan page (the rules are far under 1 MB); the N launches fall in one merged window, '
      + `whose RunInstances events LookupEvents returns ${EVENTS_PER_PAGE} a page: ceil(N/${EVENTS_PER_PAGE}) pages, paced at 2 per `
      + `second; the creators found are cached with BatchWriteItem, ${ITEMS_PER_WRITE} a call: ceil(N/${ITEMS_PER_WRITE}); `
      + 'CreateTags takes up to 1,000 resource ids for one key and value, and the N instances need 3 distinct (key, value) pairs: '
      + '3 x ceil(N/1000) calls; one Publish. The original looked up each instance on its own: N LookupEvents calls, at 2 per '
      + 'second 8.3 minutes for N = 1,000 and 42 minutes for N = 5,000, beyond Lambda\'s 15-minute limit.',
    construct(stack: Stack, topic: sns.ITopic): void {
      new TagPolicyEngine(stack, 'TagPolicyEngine', {
        topic,
        // The table is made by the fixture, with the rules in it (a deploy's custom resource would write them).
        table: cdkDynamodb.Table.fromTableName(stack, 'Rules', TABLE_NAME),
        untaggedAction: ViolationAction.NOTIFY,
        captureCreators: false,
        backfillCreators: true,
        maxActionsPerRun: 100_000,
      });
    },
    event: { source: 'cdk-fleet-janitor.schedule' },
    prepare: async ({ ec2, dynamodb }) => prepareFleet(ec2, dynamodb),
  },

  decision: {
    resources: 100_000,
    description: 'instances with 4 rules (fixed default with allowed values, creator, launch date, a pattern that notifies): '
      + '60% compliant, 30% missing one to three tags, 8% with an invalid value (half of them marked, a quarter past the grace '
      + 'period), 2% protected; untaggedAction STOP',
    prepare(resources: number) {
      const now = new Date();
      const rules = [
        { RuleId: 'CostCenter', TagKey: 'CostCenter', Action: 'Update', Default: 'unassigned', Required: 'true', AllowedValues: ['1001', '1002', 'unassigned'] },
        { RuleId: 'CreatedBy', TagKey: 'CreatedBy', Action: 'UserLookup', Required: 'true' },
        { RuleId: 'LaunchDate', TagKey: 'LaunchDate', Action: 'Function', Default: 'today()', Required: 'true' },
        { RuleId: 'Environment', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$', OnViolation: 'NOTIFY' },
      ].map((item) => parseRuleItem(item).rule!) as ParsedRule[];
      const { instances, creators } = syntheticInstances(resources, now.getTime());
      const config = readConfig({
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:bench', TABLE_NAME: 'bench', UNTAGGED_ACTION: 'STOP', MAX_ACTIONS_PER_RUN: '100000',
      });
      return () => decide(instances, rules, creators, config, now);
    },
  },
};

async function prepareFleet(ec2: EC2Client, dynamodb: DynamoDBClient): Promise<EconomyFixture> {
  const resolved = await ec2.config.endpoint!();
  const endpoint = `${resolved.protocol}//${resolved.hostname}${resolved.port ? `:${resolved.port}` : ''}`;
  await dynamodb.send(new CreateTableCommand({
    TableName: TABLE_NAME,
    KeySchema: [{ AttributeName: 'RuleId', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'RuleId', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  for (const item of RULE_ITEMS) await dynamodb.send(new PutItemCommand({ TableName: TABLE_NAME, Item: marshall(item) }));

  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] }));
  const imageId = images.Images?.[0]?.ImageId;
  if (!imageId) throw new Error('moto has no Ubuntu AMI (owner 099720109477) to launch the fleet from');
  const launchedAt = new Date(Date.now() - 6 * HOUR_MS);
  const launch = async (count: number, tags: Record<string, string>): Promise<string[]> => {
    const out = await ec2.send(new RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 't3.micro',
      MinCount: count,
      MaxCount: count,
      TagSpecifications: [{
        ResourceType: 'instance',
        // The harness tag moto_launcher.py turns into LaunchTime and the interfaces' attach time (and removes).
        Tags: [...Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), { Key: 'moto-fixture:launch-time', Value: launchedAt.toISOString() }],
      }],
    }));
    return (out.Instances ?? []).map((i) => i.InstanceId!);
  };
  const matchingIds: string[] = [];

  return {
    async add(matching: number, nonMatching: number): Promise<void> {
      const added: string[] = [];
      for (let left = matching; left > 0; left -= EC2_IDS_PER_CALL) added.push(...await launch(Math.min(left, EC2_IDS_PER_CALL), { Name: 'untagged' }));
      for (let left = nonMatching; left > 0; left -= EC2_IDS_PER_CALL) {
        await launch(Math.min(left, EC2_IDS_PER_CALL), { Name: 'web', CostCenter: '1001', Team: 'web', CreatedBy: 'alice' });
      }
      // One RunInstances event per matching instance, a second apart, all within the launch's window.
      const identity = iamUser(CREATOR);
      const events = added.map((instanceId, i) => lookupEvent(runInstancesRecord({
        identity, instanceIds: [instanceId], eventTime: new Date(launchedAt.getTime() - 10 * 60_000 + (i % 600) * 1000),
      }), identity));
      for (const batch of chunks(events, 500)) await putLookupEvents(endpoint, batch);
      matchingIds.push(...added);
    },

    async restore(): Promise<void> {
      for (const ids of chunks(matchingIds, EC2_IDS_PER_CALL)) {
        await ec2.send(new DeleteTagsCommand({ Resources: ids, Tags: MISSING_KEYS.map((Key) => ({ Key })) }));
      }
      // Forget the cached creators, so every run looks them up again.
      for (const ids of chunks(matchingIds, ITEMS_PER_WRITE)) {
        await dynamodb.send(new BatchWriteItemCommand({
          RequestItems: { [TABLE_NAME]: ids.map((id) => ({ DeleteRequest: { Key: marshall({ RuleId: `creator#${id}` }) } })) },
        }));
      }
    },

    minimumCalls(n: number): Record<string, number> {
      const reservations = Math.ceil(n / EC2_IDS_PER_CALL) + Math.ceil(NON_MATCHING / EC2_IDS_PER_CALL);
      return {
        'ec2:DescribeInstances': Math.ceil(reservations / EC2_IDS_PER_CALL),
        'dynamodb:Scan': 1,
        'cloudtrail:LookupEvents': Math.ceil(n / EVENTS_PER_PAGE),
        'dynamodb:BatchWriteItem': Math.ceil(n / ITEMS_PER_WRITE),
        'ec2:CreateTags': MISSING_KEYS.length * Math.ceil(n / EC2_IDS_PER_CALL),
        'sns:Publish': 1,
      };
    },

    check(run, n) {
      if (run.error) return `the handler failed: ${run.error.message}`;
      const counts = run.result?.counts;
      if (counts?.actionsTaken !== MISSING_KEYS.length * n || counts?.actionsFailed !== 0 || counts?.scanned !== n + NON_MATCHING) {
        return `expected ${MISSING_KEYS.length * n} tags written to ${n} of ${n + NON_MATCHING} instances and none failed, got ${JSON.stringify(counts)}`;
      }
      return undefined;
    },
  };
}

/** A deterministic fleet for the decision bench: compliant, missing, invalid, marked, protected. */
function syntheticInstances(count: number, now: number): { instances: ObservedInstance[]; creators: Map<string, CreatorStatus> } {
  const random = mulberry32(20_261_202);
  const instances: ObservedInstance[] = [];
  const creators = new Map<string, CreatorStatus>();
  const complete = { CostCenter: '1001', CreatedBy: 'alice', LaunchDate: '2026-01-15', Environment: 'prod' };
  for (let i = 0; i < count; i++) {
    const id = `i-${i.toString(16).padStart(17, '0')}`;
    const r = random();
    const tags: Record<string, string> = { Name: 'web', ...complete };
    if (r < 0.3) {
      for (const key of ['CostCenter', 'CreatedBy', 'LaunchDate']) if (random() < 0.5) delete tags[key];
      creators.set(id, random() < 0.8 ? { kind: 'known', creator: 'bob' } : { kind: 'unknown', why: 'bench' });
    } else if (r < 0.38) {
      tags.CostCenter = '9999';
      const mark = random();
      if (mark < 0.5) tags['fleet-janitor:violation'] = `${new Date(now - (mark < 0.25 ? 5 : 1) * 86_400_000).toISOString().slice(0, 19)}Z CostCenter`;
    } else if (r < 0.4) {
      tags['fleet-janitor:protect'] = 'true';
      delete tags.CostCenter;
    }
    instances.push({ instanceId: id, state: 'running', launchedAt: new Date(now - random() * 400 * 86_400_000), tags, attachedResourceIds: [] });
  }
  return { instances, creators };
}
