/**
 * TagPolicyEngine end to end against moto: the construct is synthesized, the handler's environment
 * is read out of the template, and the SHIPPED bundle (assets/tag-policy-engine/index.js) runs in a
 * fresh node process per invocation: the custom resource that writes the props rules (a
 * CloudFormation Create event with the synthesized resource's properties), EventBridge "AWS API Call
 * via CloudTrail" RunInstances events (creator capture), and the scheduled sweep. The end state is
 * checked instance by instance against expectations written from each instance's fixture (the test
 * never calls decide()), the rule table item by item, and the SNS notification read back from an SQS
 * queue subscribed to the topic.
 *
 * moto's gaps, filled in moto_launcher.py only (production code reaches moto through AWS_ENDPOINT_URL):
 * - launch times: `moto-fixture:launch-time` sets LaunchTime and, since this file, the attach time
 *   of the interfaces attached at launch (moto stamps "now"; the handler reads the launch date from
 *   the primary interface's Attachment.AttachTime, which survives stop/start in EC2);
 * - CloudTrail LookupEvents (NotImplemented in moto): a stub answers from events the test registers
 *   (launcher-only action MotoFixturePutLookupEvents), with StartTime/EndTime, one lookup attribute,
 *   MaxResults <= 50 and NextToken as the real API, newest first, and records every call.
 * The handler's clock is never faked: marks are dated relative to the real now.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { createTopicWithQueue, readNotifications } from './fleet';
import { MotoServer, startMoto } from './moto';
import { MINUTE } from './run-bundle';
import {
  autoScaling, createRuleTable, createVpcs, DAY, EngineClients, engineClients, eniTags, eventBridgeEvent, iamUser, Identity, InstanceSpec,
  instancesByName, isoDate, launchFleet, lookupCalls, lookupEvent, MARK, markAt, onlyEngineNotification, parseAllRows, PROTECT,
  putItems, putLookupEvents, resetMoto, Row, rowsById, rulesEvent, runEngineOk, runInstancesRecord, ssoSession, SWEEP_EVENT, synthesizeEngine,
  tableItems, Vpcs, volumeTags,
} from './tag-policy-engine-harness';
import { TagPolicyEngineProps, TagValue, ViolationAction } from '../../src';

jest.setTimeout(180_000);

let moto: MotoServer;
let aws: EngineClients;

beforeAll(async () => {
  moto = await startMoto();
  aws = engineClients(moto.endpoint);
}, 300_000);

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await resetMoto(moto.endpoint);
});

/** The issue's rules, as written there. */
function issueRules(): TagPolicyEngineProps['rules'] {
  return [
    { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', '1002', 'unassigned'] },
    { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator() },
    { tagKey: 'LaunchDate', required: true, defaultValue: TagValue.launchDate() },
    { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$', onViolation: ViolationAction.NOTIFY },
  ];
}

/** The seed's table (AWS Compute blog format: RuleId, TagKey, Action, Required, Default), typed in by hand. */
const SEED_ITEMS = [
  { RuleId: '1', TagKey: 'Owner', Action: 'UserLookup', Required: 'true' },
  { RuleId: '2', TagKey: 'LaunchDate', Action: 'Function', Default: 'today()', Required: 'true' },
  { RuleId: '3', TagKey: 'CostCenter', Action: 'Update', Default: '1001', Required: 'true', AllowedValues: ['1001', '1002'] },
  { RuleId: '4', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$' },
  // An extended item: optional, but a value that is there must fit; a bad one is only reported.
  { RuleId: '9', TagKey: 'Application', Required: 'false', Pattern: '^[a-z][a-z0-9-]*$', OnViolation: 'NOTIFY' },
];
/** Items that are not valid rules: each reported with its RuleId, the others still applied. */
const INVALID_ITEMS = [
  { RuleId: '5', TagKey: 'Team', Action: 'Function', Default: 'yesterday()', Required: 'true' },
  { RuleId: '6', TagKey: 'Project', Pattern: '^(unclosed', Required: 'true' },
  { RuleId: '7', TagKey: 'Tier', Action: 'Update', Default: 'gold', Required: 'yes' },
];
const SEED = {
  costCenterDefault: SEED_ITEMS[2].Default!,
};

/** Tags of an instance that breaks no rule. */
function compliant(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const tags: Record<string, string | undefined> = {
    Owner: 'alice', CreatedBy: 'alice', LaunchDate: '2026-01-15', CostCenter: '1002', Environment: 'prod', Application: 'web', ...overrides,
  };
  return Object.fromEntries(Object.entries(tags).filter((e): e is [string, string] => e[1] !== undefined));
}

/** What one instance should go through, stated from its fixture. */
interface Expect {
  /** Tags the launch events write (Owner and CreatedBy = this creator). */
  readonly captured?: string;
  /** Tags the sweep writes. */
  readonly added?: Record<string, string>;
  /** A new mark naming these keys, or the old mark removed. */
  readonly mark?: { keys: string } | 'removed';
  readonly stopped?: boolean;
  /** `ACTION:RESULT` of every row of the instance in the sweep's notification. */
  readonly rows: string[];
}

interface Case {
  readonly spec: InstanceSpec;
  readonly expect: Expect;
}

const NONE: Expect = { rows: [] };

function fleetCases(now: number): Case[] {
  const marked = (ago: number, keys = 'Environment') => markAt(now - ago, keys);
  const c = (name: string, launchedAgo: number, tags: Record<string, string>, expect: Expect, extra: Partial<InstanceSpec> = {}): Case =>
    ({ spec: { name, vpc: 'a', launchedAgo, tags, ...extra }, expect });
  const tagRows = (n: number) => Array.from({ length: n }, () => 'TAG:DONE');
  return [
    c('compliant-1', 30 * DAY, compliant(), NONE),
    c('compliant-stopped', 50 * DAY, compliant(), NONE, { state: 'stopped' }),
    c('missing-fixable-1', 6 * DAY, compliant({ CostCenter: undefined, LaunchDate: undefined }),
      { added: { CostCenter: SEED.costCenterDefault, LaunchDate: isoDate(now, 6 * DAY) }, rows: tagRows(2) }),
    c('missing-fixable-2', 45 * DAY, compliant({ CostCenter: undefined, LaunchDate: undefined }),
      { added: { CostCenter: SEED.costCenterDefault, LaunchDate: isoDate(now, 45 * DAY) }, rows: tagRows(2) }),
    c('empty-fixable', 40 * DAY, compliant({ CostCenter: '', LaunchDate: '  ' }),
      { added: { CostCenter: SEED.costCenterDefault, LaunchDate: isoDate(now, 40 * DAY) }, rows: tagRows(2) }),
    c('invalid-cost', 12 * DAY, compliant({ CostCenter: '9999', LaunchDate: undefined }),
      { added: { LaunchDate: isoDate(now, 12 * DAY) }, mark: { keys: 'CostCenter' }, rows: ['TAG:DONE', 'MARK:DONE'] }),
    c('invalid-cost-and-env', 8 * DAY, compliant({ CostCenter: '42', Environment: 'Prod' }),
      { mark: { keys: 'CostCenter,Environment' }, rows: ['MARK:DONE'] }),
    c('invalid-env', 9 * DAY, compliant({ Environment: 'production' }), { mark: { keys: 'Environment' }, rows: ['MARK:DONE'] }),
    c('missing-env', 9 * DAY, compliant({ Environment: undefined }), { mark: { keys: 'Environment' }, rows: ['MARK:DONE'] }),
    c('unreadable-mark', 9 * DAY, { ...compliant({ Environment: 'qa' }), [MARK]: 'please fix' }, { mark: { keys: 'Environment' }, rows: ['MARK:DONE'] }),
    c('protected-violating', 20 * DAY, { ...compliant({ CostCenter: 'bad', LaunchDate: undefined }), [PROTECT]: 'true', [MARK]: marked(10 * DAY, 'CostCenter') },
      { rows: ['STOP:SKIPPED_PROTECTED'] }),
    c('protected-fixable', 20 * DAY, { ...compliant({ CostCenter: undefined }), [PROTECT]: '' }, { rows: ['TAG:SKIPPED_PROTECTED'] }),
    c('marked-in-grace', 9 * DAY, { ...compliant({ Environment: 'qa' }), [MARK]: marked(1 * DAY) }, { rows: ['NOTIFY:REPORTED'] }),
    c('marked-in-future', 9 * DAY, { ...compliant({ Environment: 'qa' }), [MARK]: markAt(now + 2 * DAY, 'Environment') }, { rows: ['NOTIFY:REPORTED'] }),
    c('marked-past-grace', 9 * DAY, { ...compliant({ Environment: 'qa' }), [MARK]: marked(5 * DAY) }, { stopped: true, rows: ['STOP:DONE'] }),
    c('marked-past-grace-stopped', 9 * DAY, { ...compliant({ Environment: 'qa' }), [MARK]: marked(5 * DAY) }, { rows: ['NOTIFY:REPORTED'] }, { state: 'stopped' }),
    c('marked-now-compliant', 9 * DAY, { ...compliant(), [MARK]: marked(5 * DAY) }, { mark: 'removed', rows: ['UNMARK:DONE'] }),
    c('marked-now-fixable', 9 * DAY, { ...compliant({ CostCenter: undefined }), [MARK]: marked(2 * DAY, 'CostCenter') },
      { added: { CostCenter: SEED.costCenterDefault }, mark: 'removed', rows: ['TAG:DONE', 'UNMARK:DONE'] }),
    c('notify-only', 9 * DAY, compliant({ Application: 'Bad_Name' }), { rows: ['NOTIFY:REPORTED'] }),
    c('stopped-missing', 15 * DAY, compliant({ CostCenter: undefined }), { added: { CostCenter: SEED.costCenterDefault }, rows: tagRows(1) }, { state: 'stopped' }),
    // Creators captured at launch (the EventBridge events below), before the sweep.
    c('launch-iam', 2 * MINUTE, compliant({ Owner: undefined, CreatedBy: undefined }), { captured: 'Mateo', rows: [] }),
    c('launch-sso', 3 * MINUTE, compliant({ Owner: undefined, CreatedBy: undefined }),
      { captured: 'AWSReservedSSO_Admin_0123456789abcdef/jane@example.com', rows: [] }),
    c('launch-sso-protected', 3 * MINUTE, { ...compliant({ Owner: undefined, CreatedBy: undefined, CostCenter: 'bad' }), [PROTECT]: 'true' },
      { rows: ['STOP:SKIPPED_PROTECTED'] }),
    c('launch-asg-1', 4 * MINUTE, compliant({ Owner: undefined, CreatedBy: undefined }), { captured: 'autoscaling:web-asg', rows: [] }),
    c('launch-asg-2', 4 * MINUTE, compliant({ Owner: undefined, CreatedBy: undefined }), { captured: 'autoscaling:web-asg', rows: [] }),
    // Creators found by the sweep's backfill (CloudTrail), or in the table's cache.
    c('backfill-iam', 2 * DAY, compliant({ Owner: undefined, CreatedBy: undefined }), { added: { Owner: 'bob', CreatedBy: 'bob' }, rows: tagRows(2) }),
    c('backfill-sso', 10 * DAY, compliant({ Owner: undefined, CreatedBy: '' }),
      { added: { Owner: 'AWSReservedSSO_Developer_fedcba9876543210/dave@example.com', CreatedBy: 'AWSReservedSSO_Developer_fedcba9876543210/dave@example.com' }, rows: tagRows(2) }),
    c('backfill-cached', 30 * DAY, compliant({ Owner: undefined, CreatedBy: undefined }), { added: { Owner: 'carol', CreatedBy: 'carol' }, rows: tagRows(2) }),
    c('backfill-not-found', 3 * DAY, compliant({ Owner: undefined, CreatedBy: undefined }), { mark: { keys: 'Owner,CreatedBy' }, rows: ['MARK:DONE'] }),
    c('too-old-for-cloudtrail', 120 * DAY, compliant({ Owner: undefined }), { mark: { keys: 'Owner' }, rows: ['MARK:DONE'] }),
    // The other VPC: out of scope, whatever its tags.
    ...[
      c('b-missing', 6 * DAY, compliant({ CostCenter: undefined, LaunchDate: undefined }), NONE),
      c('b-invalid-env', 9 * DAY, compliant({ Environment: 'production' }), NONE),
      c('b-marked-past-grace', 9 * DAY, { ...compliant({ Environment: 'qa' }), [MARK]: marked(5 * DAY) }, NONE),
      c('b-launch-iam', 2 * MINUTE, compliant({ Owner: undefined, CreatedBy: undefined }), NONE),
    ].map((x) => ({ ...x, spec: { ...x.spec, vpc: 'b' as const } })),
  ];
}

const TABLE = 'seed-tag-rules';

function seedProps(vpcId: string) {
  return (stack: Stack): TagPolicyEngineProps => ({
    rules: issueRules(),
    table: dynamodb.Table.fromTableName(stack, 'SeedTable', TABLE),
    vpcs: [ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId, availabilityZones: ['us-east-1a'] })],
    untaggedAction: ViolationAction.STOP,
    gracePeriod: Duration.days(3),
    maxActionsPerRun: 500,
  });
}

function rowSummary(rows: readonly Row[] | undefined): string[] {
  return (rows ?? []).map((r) => `${r.action}:${r.result}`).sort();
}

test('seed table + props rules, STOP after grace: launch events, backfill from CloudTrail, the sweep; end state, table and notification', async () => {
  const started = Date.now();
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'tag-policy-engine');
  const vpcs: Vpcs = await createVpcs(aws.ec2);
  const synth = synthesizeEngine(seedProps(vpcs.a.vpcId), { topicArn, tableName: TABLE });
  expect(synth.env).toMatchObject({
    TOPIC_ARN: topicArn,
    TABLE_NAME: TABLE,
    UNTAGGED_ACTION: 'STOP',
    GRACE_PERIOD_SECONDS: String(3 * 86_400),
    VPC_IDS: JSON.stringify([vpcs.a.vpcId]),
    BACKFILL_CREATORS: 'true',
    PROPAGATE_TO_VOLUMES: 'false',
    DRY_RUN: 'false',
  });

  // ---- the table: the seed's items by hand, invalid ones among them; then the deploy writes the props rules ----
  await createRuleTable(aws.ddb, TABLE);
  await putItems(aws.ddb, TABLE, [...SEED_ITEMS, ...INVALID_ITEMS]);
  const now = Date.now();
  const cases = fleetCases(now);
  const ids = await launchFleet(aws.ec2, vpcs, cases.map((x) => x.spec), now);
  const idOf = (name: string) => ids.get(name)!;
  // A creator an earlier run found, cached in the table (as the engine writes it).
  await putItems(aws.ddb, TABLE, [{ RuleId: `creator#${idOf('backfill-cached')}`, Creator: 'carol', ExpiresAt: Math.floor(now / 1000) + 60 * 86_400 }]);

  const create = await runEngineOk(synth, moto.endpoint, rulesEvent(synth, 'Create'));
  const owner = `${'TagPolicyEngineEmulator'}/TagPolicyEngineEmulator/Tags`;
  expect(create.result).toEqual({ PhysicalResourceId: `${TABLE}/${owner}`, Data: { Written: '4', Deleted: '0' } });
  const afterDeploy = await tableItems(aws.ddb, TABLE);
  expect(afterDeploy.get('CostCenter')).toEqual({
    RuleId: 'CostCenter', TagKey: 'CostCenter', Required: 'true', Action: 'Update', Default: 'unassigned', AllowedValues: ['1001', '1002', 'unassigned'], ManagedBy: owner,
  });
  expect(afterDeploy.get('CreatedBy')).toEqual({ RuleId: 'CreatedBy', TagKey: 'CreatedBy', Required: 'true', Action: 'UserLookup', ManagedBy: owner });
  expect(afterDeploy.get('LaunchDate')).toEqual({ RuleId: 'LaunchDate', TagKey: 'LaunchDate', Required: 'true', Action: 'Function', Default: 'today()', ManagedBy: owner });
  expect(afterDeploy.get('Environment')).toEqual({
    RuleId: 'Environment', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$', OnViolation: 'NOTIFY', ManagedBy: owner,
  });
  // The hand-written items are untouched by the deploy.
  for (const item of [...SEED_ITEMS, ...INVALID_ITEMS]) expect(afterDeploy.get(item.RuleId)).toEqual(item);

  // ---- the fleet as moto shows it: launch times (and the primary interface's attach time) from the fixtures ----
  const before = await instancesByName(aws.ec2);
  for (const { spec } of cases) {
    const view = before.get(spec.name)!;
    expect([spec.name, view.vpcId]).toEqual([spec.name, vpcs[spec.vpc].vpcId]);
    expect([spec.name, Math.abs(view.primaryAttachTime!.getTime() - (now - spec.launchedAgo)) < 1_000]).toEqual([spec.name, true]);
  }

  // ---- CloudTrail: the recent launches, the older ones the backfill must find, and noise ----
  const jane = ssoSession('Admin', '0123456789abcdef', 'jane@example.com');
  const dave = ssoSession('Developer', 'fedcba9876543210', 'dave@example.com');
  const mateo = iamUser('Mateo');
  const launchAt = (name: string) => new Date(now - cases.find((x) => x.spec.name === name)!.spec.launchedAgo - 20_000);
  const launches: Array<{ identity: Identity; names: string[]; tags?: Record<string, string> }> = [
    { identity: mateo, names: ['launch-iam'] },
    { identity: jane, names: ['launch-sso', 'launch-sso-protected'] },
    { identity: autoScaling(), names: ['launch-asg-1', 'launch-asg-2'], tags: { 'aws:autoscaling:groupName': 'web-asg' } },
    { identity: mateo, names: ['b-launch-iam'] },
  ];
  const launchRecords = launches.map((l) => ({
    identity: l.identity,
    record: runInstancesRecord({ identity: l.identity, instanceIds: l.names.map(idOf), eventTime: launchAt(l.names[0]), tags: l.tags }),
  }));
  const bob = iamUser('bob');
  const ciBot = iamUser('ci-bot');
  const history = [
    ...launchRecords,
    { identity: bob, record: runInstancesRecord({ identity: bob, instanceIds: [idOf('backfill-iam')], eventTime: launchAt('backfill-iam') }) },
    { identity: dave, record: runInstancesRecord({ identity: dave, instanceIds: [idOf('backfill-sso')], eventTime: launchAt('backfill-sso') }) },
    // 60 other launches around backfill-iam's: its window needs two pages of 50.
    ...Array.from({ length: 60 }, (_, i) => ({
      identity: ciBot,
      record: runInstancesRecord({
        identity: ciBot, instanceIds: [`i-0fff${String(i).padStart(13, '0')}`], eventTime: new Date(launchAt('backfill-iam').getTime() - 10 * MINUTE + i * 10_000),
      }),
    })),
    // Not a launch: the EventName filter leaves it out (and its "creator" must never be written).
    {
      identity: iamUser('mallory'),
      record: runInstancesRecord({ identity: iamUser('mallory'), instanceIds: [idOf('backfill-not-found')], eventTime: launchAt('backfill-not-found'), eventName: 'StopInstances' }),
    },
  ];
  await putLookupEvents(moto.endpoint, history.map((h) => lookupEvent(h.record, h.identity)));

  // ---- creator capture: the EventBridge events, each through its own invocation ----
  const captureCounts = [];
  for (const { record } of launchRecords) {
    const out = await runEngineOk(synth, moto.endpoint, eventBridgeEvent(record));
    expect(out.result).toMatchObject({ construct: 'TagPolicyEngine', status: 'SUCCEEDED', dryRun: false });
    captureCounts.push(out.result.counts.actionsTaken);
  }
  // Owner (seed rule 1) and CreatedBy (props) both default to the creator: two tags per instance, none
  // for the protected instance or the one in the other VPC.
  expect(captureCounts).toEqual([2, 2, 4, 0]);
  // A launch notifies nobody unless something failed.
  expect(await readNotifications(aws.sqs, queueUrl)).toEqual([]);
  const afterCapture = await instancesByName(aws.ec2);
  for (const { spec, expect: e } of cases) {
    const was = before.get(spec.name)!.tags;
    const want = e.captured !== undefined ? { ...was, Owner: e.captured, CreatedBy: e.captured } : was;
    expect([spec.name, afterCapture.get(spec.name)!.tags]).toEqual([spec.name, want]);
  }
  expect(await lookupCalls(moto.endpoint)).toEqual([]);

  // ---- the sweep ----
  const sweepStarted = Date.now();
  const sweep = await runEngineOk(synth, moto.endpoint, SWEEP_EVENT);
  const sweepEnded = Date.now();
  const after = await instancesByName(aws.ec2);
  const runAt = Date.parse(sweep.result.startedAt);
  expect(runAt).toBeGreaterThanOrEqual(sweepStarted - 1_000);
  expect(runAt).toBeLessThanOrEqual(sweepEnded);
  const newMark = (keys: string) => markAt(Math.floor(runAt / 1000) * 1000, keys);

  // Every instance's tags and state.
  for (const { spec, expect: e } of cases) {
    const was = afterCapture.get(spec.name)!;
    const want: Record<string, string> = { ...was.tags, ...e.added };
    if (e.mark === 'removed') delete want[MARK];
    else if (e.mark) want[MARK] = newMark(e.mark.keys);
    const now2 = after.get(spec.name)!;
    expect([spec.name, now2.tags]).toEqual([spec.name, want]);
    expect([spec.name, now2.state]).toEqual([spec.name, e.stopped ? 'stopped' : (spec.state ?? 'running')]);
  }

  // The table: the rules as they were, and the creators found in CloudTrail cached for later runs.
  const items = await tableItems(aws.ddb, TABLE);
  const found = { 'backfill-iam': 'bob', 'backfill-sso': 'AWSReservedSSO_Developer_fedcba9876543210/dave@example.com' };
  const expectedItems = new Map<string, unknown>([...afterDeploy]);
  for (const [name, creator] of Object.entries(found)) {
    const spec = cases.find((x) => x.spec.name === name)!.spec;
    expectedItems.set(`creator#${idOf(name)}`, {
      RuleId: `creator#${idOf(name)}`,
      Creator: creator,
      LaunchedAt: new Date(Math.floor((now - spec.launchedAgo) / 1000) * 1000).toISOString(),
      ExpiresAt: expect.any(Number),
    });
  }
  expect(new Map([...items].map(([k, v]) => [k, v]))).toEqual(expectedItems);
  for (const name of Object.keys(found)) {
    const expiresAt = items.get(`creator#${idOf(name)}`)!.ExpiresAt;
    expect(Math.abs(expiresAt - (runAt / 1000 + 90 * 86_400))).toBeLessThan(5);
  }

  // CloudTrail: one listing per launch window (never one per instance), 50 a page, at most 2 per second.
  const calls = await lookupCalls(moto.endpoint);
  expect(calls.every((call) => call.Error === null)).toBe(true);
  for (const call of calls) {
    expect(call.LookupAttributes).toEqual([{ AttributeKey: 'EventName', AttributeValue: 'RunInstances' }]);
    expect(call.MaxResults).toBe(50);
  }
  const windowOf = (name: string) => calls.filter((call) => {
    const t = (now - cases.find((x) => x.spec.name === name)!.spec.launchedAgo) / 1000;
    return call.StartTime! <= t && t <= call.EndTime!;
  });
  expect(windowOf('backfill-iam').map((call) => [call.Returned, call.NextToken !== null])).toEqual([[50, false], [11, true]]);
  expect(windowOf('backfill-sso')).toHaveLength(1);
  expect(windowOf('backfill-not-found')).toHaveLength(1);
  expect(windowOf('too-old-for-cloudtrail')).toHaveLength(0);
  expect(windowOf('backfill-cached')).toHaveLength(0);
  expect(calls).toHaveLength(4);
  for (let i = 1; i < calls.length; i++) expect(calls[i].At - calls[i - 1].At).toBeGreaterThanOrEqual(0.45);

  // ---- the report: returned summary and notification ----
  const inScope = cases.filter((x) => x.spec.vpc === 'a');
  const ruleRows = new Map<string, RegExp>([
    ['5', /Action Function needs Default "today\(\)"/],
    ['6', /Pattern "\^\(unclosed" is not a valid regular expression/],
    ['7', /Required must be "true" or "false", got "yes"/],
    ['CostCenter', /rule 3 already covers tag CostCenter/],
    ['Environment', /rule 4 already covers tag Environment/],
    ['LaunchDate', /rule 2 already covers tag LaunchDate/],
  ]);
  const n = onlyEngineNotification(await readNotifications(aws.sqs, queueUrl));
  const rows = parseAllRows(n.Message);
  const grouped = rowsById(rows);
  for (const [ruleId, why] of ruleRows) {
    const r = grouped.get(ruleId);
    expect([ruleId, rowSummary(r), r?.[0].resourceType]).toEqual([ruleId, ['NONE:REPORTED'], 'rule']);
    expect(r![0].reason).toMatch(why);
  }
  for (const x of cases) {
    const id = idOf(x.spec.name);
    expect([x.spec.name, rowSummary(grouped.get(id))]).toEqual([x.spec.name, [...x.expect.rows].sort()]);
    for (const r of grouped.get(id) ?? []) {
      expect(r.resourceType).toBe('instance');
      expect(r.details.name).toBe(x.spec.name);
    }
    // Each TAG row names the tag it wrote.
    const written = (grouped.get(id) ?? []).filter((r) => r.action === 'TAG' && r.result === 'DONE').map((r) => r.details.tag).sort();
    expect([x.spec.name, written]).toEqual([x.spec.name, Object.entries(x.expect.added ?? {}).map(([k, v]) => `${k}=${v}`).sort()]);
  }
  expect(new Set(grouped.keys())).toEqual(new Set([...ruleRows.keys(), ...cases.filter((x) => x.expect.rows.length).map((x) => idOf(x.spec.name))]));
  // What is due next: a new mark says when it will be stopped; a report in grace says when.
  const due = (from: number) => new Date(Math.floor(from / 1000) * 1000 + 3 * DAY).toISOString();
  expect(grouped.get(idOf('invalid-env'))![0].reason).toContain(`due for STOP on or after ${new Date(runAt + 3 * DAY).toISOString()}`);
  expect(grouped.get(idOf('marked-in-grace'))![0].reason).toContain(`due for STOP on or after ${due(now - DAY)}`);
  expect(grouped.get(idOf('unreadable-mark'))![0].reason).toContain('is not one of ours');
  expect(grouped.get(idOf('too-old-for-cloudtrail'))![0].reason).toMatch(/Owner \(rule 1\): missing, and its creator is unknown \(launched more than 90 days ago/);
  expect(grouped.get(idOf('backfill-not-found'))![0].reason).toMatch(/no RunInstances event for it in CloudTrail around its launch/);

  const all = rows.map((r) => r.result);
  const count = (result: string) => all.filter((r) => r === result).length;
  const expectedCounts = {
    scanned: inScope.length,
    matched: rows.length,
    actionsTaken: count('DONE'),
    actionsFailed: 0,
    wouldAct: 0,
    reported: count('REPORTED'),
    skippedProtected: count('SKIPPED_PROTECTED'),
    skippedCap: 0,
    kept: 0,
  };
  expect(rows.length).toBe(ruleRows.size + cases.reduce((s, x) => s + x.expect.rows.length, 0));
  expect(expectedCounts.reported).toBe(ruleRows.size + cases.flatMap((x) => x.expect.rows).filter((r) => r.endsWith(':REPORTED')).length);
  expect(sweep.result).toMatchObject({ construct: 'TagPolicyEngine', status: 'SUCCEEDED', dryRun: false, counts: expectedCounts, entriesOmitted: 0 });
  expect(n.Subject).toBe(`[fleet-janitor] TagPolicyEngine: ${expectedCounts.actionsTaken} done, ${expectedCounts.reported} reported, `
    + `${expectedCounts.skippedProtected} skipped`);
  expect(n.Message).toContain('Live run: actions below were carried out.');
  expect(n.Message).toContain(`Scanned ${inScope.length} resource(s); ${rows.length} matched.`);

  // ---- a second sweep: nothing left to do; the marks made now wait out their grace period ----
  const second = await runEngineOk(synth, moto.endpoint, SWEEP_EVENT);
  const afterSecond = await instancesByName(aws.ec2);
  for (const { spec } of cases) expect([spec.name, afterSecond.get(spec.name)]).toEqual([spec.name, after.get(spec.name)]);
  expect(second.result.counts).toMatchObject({ actionsTaken: 0, actionsFailed: 0 });
  const secondRows = rowsById(parseAllRows(onlyEngineNotification(await readNotifications(aws.sqs, queueUrl)).Message));
  for (const x of inScope) {
    const markedNow = MARK in after.get(x.spec.name)!.tags;
    const want = PROTECT in x.spec.tags ? x.expect.rows : markedNow || x.spec.name === 'notify-only' ? ['NOTIFY:REPORTED'] : [];
    expect([x.spec.name, rowSummary(secondRows.get(idOf(x.spec.name)))]).toEqual([x.spec.name, [...want].sort()]);
  }
  // The cached creators spare the lookups; only the launch CloudTrail had nothing for is searched again.
  const secondCalls = (await lookupCalls(moto.endpoint)).slice(calls.length);
  expect(secondCalls).toHaveLength(1);

  process.stderr.write(`tag-policy-engine emulator: ${cases.length} instances (${inScope.length} in scope), ${rows.length} report rows, `
    + `${expectedCounts.actionsTaken} done; ${calls.length} LookupEvents calls; sweep ${sweep.durationMs} ms; test ${Date.now() - started} ms\n`);
});

// ---- props rules only, the construct's own table: TERMINATE, tags copied to volumes and interfaces ----

test('props rules in the construct\'s table, TERMINATE, propagateToVolumes: fixes reach volumes and ENIs, NOTIFY rule never marks, deploy updates', async () => {
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'tag-policy-engine-terminate');
  const vpcs = await createVpcs(aws.ec2);
  const tableName = 'TagPolicyEngineEmulator-TagsTable-EMULATOR';
  const props = (rules = issueRules()) => (stack: Stack): TagPolicyEngineProps => ({
    rules,
    vpcs: [ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: vpcs.a.vpcId, availabilityZones: ['us-east-1a'] })],
    untaggedAction: ViolationAction.TERMINATE,
    gracePeriod: Duration.days(2),
    propagateToVolumes: true,
    backfillCreators: false,
  });
  const synth = synthesizeEngine(props(), { topicArn, tableName });
  expect(synth.env).toMatchObject({ TABLE_NAME: tableName, UNTAGGED_ACTION: 'TERMINATE', PROPAGATE_TO_VOLUMES: 'true', BACKFILL_CREATORS: 'false' });
  await createRuleTable(aws.ddb, tableName);
  const create = await runEngineOk(synth, moto.endpoint, rulesEvent(synth, 'Create'));
  expect(create.result.Data).toEqual({ Written: '4', Deleted: '0' });
  // A rule added by hand later: read by the sweep, left alone by deploys.
  await putItems(aws.ddb, tableName, [{ RuleId: 'hand-1', TagKey: 'Owner', Action: 'UserLookup', Required: 'false' }]);

  const now = Date.now();
  const base = { CostCenter: '1001', CreatedBy: 'alice', LaunchDate: '2026-02-01', Environment: 'dev' };
  const without = (...keys: string[]) => Object.fromEntries(Object.entries(base).filter(([k]) => !keys.includes(k)));
  const specs: InstanceSpec[] = [
    { name: 'fixable', vpc: 'a', launchedAgo: 4 * DAY, tags: without('CostCenter', 'LaunchDate') },
    { name: 'no-creator', vpc: 'a', launchedAgo: 1 * DAY, tags: without('CreatedBy', 'CostCenter') },
    { name: 'env-notify', vpc: 'a', launchedAgo: 5 * DAY, tags: { ...without('CostCenter'), Environment: 'qa' } },
    { name: 'past-grace', vpc: 'a', launchedAgo: 6 * DAY, tags: { ...without('CreatedBy', 'CostCenter'), [MARK]: markAt(now - 3 * DAY, 'CreatedBy') } },
    { name: 'in-grace', vpc: 'a', launchedAgo: 6 * DAY, tags: { ...without('CreatedBy'), [MARK]: markAt(now - 1 * DAY, 'CreatedBy') } },
    { name: 'unassigned-ok', vpc: 'a', launchedAgo: 6 * DAY, tags: { ...base, CostCenter: 'unassigned' } },
    { name: 'launch-event', vpc: 'a', launchedAgo: 1 * MINUTE, tags: without('CreatedBy') },
    { name: 'protected', vpc: 'a', launchedAgo: 6 * DAY, tags: { [PROTECT]: 'yes' } },
    { name: 'b-fixable', vpc: 'b', launchedAgo: 4 * DAY, tags: without('CostCenter', 'LaunchDate') },
  ];
  const ids = await launchFleet(aws.ec2, vpcs, specs, now);
  const before = await instancesByName(aws.ec2);

  const capture = await runEngineOk(synth, moto.endpoint, eventBridgeEvent(runInstancesRecord({
    identity: iamUser('Mateo'), instanceIds: [ids.get('launch-event')!], eventTime: new Date(now - MINUTE - 20_000),
  })));
  // CreatedBy (props) and Owner (the hand-written rule) default to the creator.
  expect(capture.result.counts).toMatchObject({ actionsTaken: 2, actionsFailed: 0 });

  const sweep = await runEngineOk(synth, moto.endpoint, SWEEP_EVENT);
  const runAt = Math.floor(Date.parse(sweep.result.startedAt) / 1000) * 1000;
  const after = await instancesByName(aws.ec2);
  const launchDate = (name: string) => isoDate(now, specs.find((s) => s.name === name)!.launchedAgo);
  // What the sweep (and, for launch-event, the capture) wrote: copied to volumes and interfaces too, except the mark.
  const written: Record<string, Record<string, string>> = {
    'fixable': { CostCenter: 'unassigned', LaunchDate: launchDate('fixable') },
    'no-creator': { CostCenter: 'unassigned' },
    'env-notify': { CostCenter: 'unassigned' },
    'past-grace': { CostCenter: 'unassigned' },
    'in-grace': {},
    'unassigned-ok': {},
    'launch-event': { CreatedBy: 'Mateo', Owner: 'Mateo' },
    'protected': {},
    'b-fixable': {},
  };
  const marks: Record<string, string | undefined> = { 'no-creator': markAt(runAt, 'CreatedBy') };
  for (const spec of specs) {
    const want = { ...before.get(spec.name)!.tags, ...written[spec.name], ...(marks[spec.name] ? { [MARK]: marks[spec.name]! } : {}) };
    const view = after.get(spec.name)!;
    expect([spec.name, view.tags]).toEqual([spec.name, want]);
    expect([spec.name, view.state]).toEqual([spec.name, spec.name === 'past-grace' ? 'terminated' : 'running']);
    if (view.state === 'terminated') continue; // its volume went with it (DeleteOnTermination)
    const vols = await volumeTags(aws.ec2, view.volumeIds);
    const enis = await eniTags(aws.ec2, view.eniIds);
    expect([spec.name, vols.size, enis.size]).toEqual([spec.name, 1, 1]);
    for (const tags of [...vols.values(), ...enis.values()]) expect([spec.name, tags]).toEqual([spec.name, written[spec.name]]);
  }

  const n = onlyEngineNotification(await readNotifications(aws.sqs, queueUrl));
  const grouped = rowsById(parseAllRows(n.Message));
  const id = (name: string) => ids.get(name)!;
  const expectedRows: Record<string, string[]> = {
    'fixable': ['TAG:DONE', 'TAG:DONE'],
    'no-creator': ['TAG:DONE', 'MARK:DONE'],
    'env-notify': ['TAG:DONE', 'NOTIFY:REPORTED'],
    'past-grace': ['TAG:DONE', 'TERMINATE:DONE'],
    'in-grace': ['NOTIFY:REPORTED'],
    'unassigned-ok': [],
    'launch-event': [],
    // Environment is missing too, and its rule only notifies: the protected row names that.
    'protected': ['NOTIFY:SKIPPED_PROTECTED'],
    'b-fixable': [],
  };
  for (const spec of specs) expect([spec.name, rowSummary(grouped.get(id(spec.name)))]).toEqual([spec.name, [...expectedRows[spec.name]].sort()]);
  expect(grouped.get(id('env-notify'))!.find((r) => r.action === 'NOTIFY')!.reason).toMatch(/Environment \(rule Environment\): value "qa" does not match/);
  expect(sweep.result.counts).toMatchObject({ scanned: specs.length - 1, actionsFailed: 0 });

  // ---- a deploy that drops a rule: its item goes, the hand-written one stays; then the stack's deletion ----
  const fewer = synthesizeEngine(props(issueRules()!.filter((r) => r.tagKey !== 'Environment')), { topicArn, tableName });
  const physicalResourceId = create.result.PhysicalResourceId;
  const update = await runEngineOk(fewer, moto.endpoint, rulesEvent(fewer, 'Update', { oldProperties: synth.rules!.properties, physicalResourceId }));
  expect(update.result).toEqual({ PhysicalResourceId: physicalResourceId, Data: { Written: '3', Deleted: '1' } });
  expect([...(await tableItems(aws.ddb, tableName)).keys()].sort()).toEqual(['CostCenter', 'CreatedBy', 'LaunchDate', 'hand-1']);
  const del = await runEngineOk(fewer, moto.endpoint, rulesEvent(fewer, 'Delete', { physicalResourceId }));
  expect(del.result.Data).toEqual({ Written: '0', Deleted: '3' });
  expect([...(await tableItems(aws.ddb, tableName)).keys()]).toEqual(['hand-1']);
});
