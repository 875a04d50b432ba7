import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import {
  BatchWriteItemCommand, BatchWriteItemCommandInput, DeleteItemCommand, PutItemCommand, ResourceNotFoundException, ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateTagsCommand, CreateTagsCommandInput, DescribeInstancesCommand, Instance, StopInstancesCommand, TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { PublishCommand } from '@aws-sdk/client-sns';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import 'aws-sdk-client-mock-jest';
import {
  ago, asgRecord, COMPLIANT_TAGS, createTagsCalls, ctMock, DAY, ddbMock, ec2Instance, ec2Mock, expectNoCallsAtAll, expectNoStateChanges,
  iamUserRecord, idsOf, IN_SCOPE_STATES, installHandlerHarness, instances, item, launchEvent, loadHandler, logLines, markOf, OWNER, PROTECT,
  publishedReport, RuleItem, rulesEvent, rulesProperties, SEED_RULES, sentCommands, serveInstances, serveLookups, serveRules, serveTable, snsMock,
  SSO_ROLE, ssoRecord, stoppedIds, TABLE, TOPIC_ARN, untaggedIds, VIOLATION, writtenTags,
} from './harness';
import type { SweepResult } from '../../../lambda/tag-policy-engine/index';
import { CONSOLE_SCHEDULED_EVENT } from '../../helpers/scheduled-events';
import { ec2Error } from '../helpers';

installHandlerHarness();

beforeEach(() => {
  // retryTransient's jitter: retries in these tests do not wait.
  jest.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => jest.restoreAllMocks());

const SWEEP = { source: 'cdk-fleet-janitor.schedule' };
const without = (tags: Record<string, string>, ...keys: string[]) => Object.fromEntries(Object.entries(tags).filter(([k]) => !keys.includes(k)));
const dateOf = (i: Instance) => i.NetworkInterfaces![0].Attachment!.AttachTime!.toISOString().slice(0, 10);
const entryOf = (result: SweepResult, id: string, action?: string) =>
  result.entries.find((e) => e.id === id && (action === undefined || e.action === action));
const sweep = async (env: Record<string, string | undefined> = {}, event: unknown = SWEEP) => await loadHandler(env)(event) as SweepResult;
const creatorItem = (id: string, creator: string) => ({ RuleId: `creator#${id}`, Creator: creator, ExpiresAt: 1_900_000_000 });

describe('sweep with the seed\'s rule table', () => {
  function seedFleet() {
    const fleet = {
      compliant: ec2Instance({ tags: COMPLIANT_TAGS }),
      noCostCenter: ec2Instance({ tags: without(COMPLIANT_TAGS, 'CostCenter') }),
      emptyCostCenter: ec2Instance({ tags: { ...COMPLIANT_TAGS, CostCenter: ' ' } }),
      noLaunchDate: ec2Instance({ age: 40 * DAY, tags: without(COMPLIANT_TAGS, 'LaunchDate') }),
      noCreator: ec2Instance({ tags: without(COMPLIANT_TAGS, 'CreatedBy') }),
      noEnvironment: ec2Instance({ tags: without(COMPLIANT_TAGS, 'Environment') }),
      badEnvironment: ec2Instance({ tags: { ...COMPLIANT_TAGS, Environment: 'qa' } }),
      badCostCenter: ec2Instance({ tags: { ...COMPLIANT_TAGS, CostCenter: '9999' } }),
      overdue: ec2Instance({ tags: { ...without(COMPLIANT_TAGS, 'Environment'), [VIOLATION]: markOf(ago(4 * DAY)) } }),
      overdueStopped: ec2Instance({ state: 'stopped', tags: { ...without(COMPLIANT_TAGS, 'Environment'), [VIOLATION]: markOf(ago(4 * DAY)) } }),
      notDue: ec2Instance({ tags: { ...without(COMPLIANT_TAGS, 'Environment'), [VIOLATION]: markOf(ago(DAY)) } }),
      fixedSinceMarked: ec2Instance({ tags: { ...COMPLIANT_TAGS, [VIOLATION]: markOf(ago(5 * DAY)) } }),
      protected: ec2Instance({ tags: { [PROTECT]: 'true', [VIOLATION]: markOf(ago(9 * DAY)) } }),
    };
    serveInstances(Object.values(fleet), 4);
    serveTable([...SEED_RULES.map(item), item(creatorItem(fleet.noCreator.InstanceId!, 'dave'))], 2);
    ec2Mock.on(StopInstancesCommand).resolves({});
    return fleet;
  }

  test('writes the right tags, marks, stops after grace, unmarks fixed instances, skips protected ones, one report', async () => {
    const fleet = seedFleet();
    const before = Date.now();
    const result = await sweep({ UNTAGGED_ACTION: 'STOP' });
    const id = (name: keyof typeof fleet) => fleet[name].InstanceId!;

    // fixes: the defaults of the seed's rules (the creator from the cache, no CloudTrail lookup)
    const tags = writtenTags().filter((t) => !t.includes(VIOLATION));
    expect(tags).toEqual([
      `${id('noCostCenter')} CostCenter=unassigned`,
      `${id('emptyCostCenter')} CostCenter=unassigned`,
      `${id('noLaunchDate')} LaunchDate=${dateOf(fleet.noLaunchDate)}`,
      `${id('noCreator')} CreatedBy=dave`,
    ].sort());
    expect(ctMock).not.toHaveReceivedCommand(LookupEventsCommand);
    // grouped by identical key and value: both CostCenter fixes in one call
    expect(createTagsCalls().filter((c) => c.Tags![0].Key === 'CostCenter')).toEqual([
      { Resources: [id('noCostCenter'), id('emptyCostCenter')], Tags: [{ Key: 'CostCenter', Value: 'unassigned' }] },
    ]);

    // marks: a violation no default can fix, an invalid value (never overwritten)
    const marks = createTagsCalls().filter((c) => c.Tags![0].Key === VIOLATION);
    const marked = Object.fromEntries(marks.flatMap((c) => c.Resources!.map((r) => [r, c.Tags![0].Value!])));
    expect(Object.keys(marked).sort()).toEqual([id('noEnvironment'), id('badEnvironment'), id('badCostCenter')].sort());
    for (const [instance, value] of Object.entries(marked)) {
      const at = Date.parse(value.split(' ')[0]);
      expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(at).toBeLessThanOrEqual(Date.now());
      expect(value.split(' ')[1]).toBe(instance === id('badCostCenter') ? 'CostCenter' : 'Environment');
    }
    expect(writtenTags().some((t) => t.startsWith(`${id('badCostCenter')} CostCenter=`))).toBe(false);
    expect(writtenTags().some((t) => t.startsWith(`${id('badEnvironment')} Environment=`))).toBe(false);

    // stops after the grace period; a stopped instance is not stopped again; one not due waits
    expect(stoppedIds()).toEqual([id('overdue')]);
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(entryOf(result, id('notDue'))).toMatchObject({ action: 'NOTIFY', outcome: 'REPORTED', reason: expect.stringContaining('due for STOP on or after') });
    expect(entryOf(result, id('overdueStopped'))).toMatchObject({ outcome: 'REPORTED', reason: expect.stringContaining('already stopped') });
    expect(entryOf(result, id('noEnvironment'), 'MARK')!.reason).toMatch(/due for STOP on or after \d{4}-/);

    // unmarks the instance fixed meanwhile, and only it
    expect(untaggedIds()).toEqual([id('fixedSinceMarked')]);

    // the protected instance is reported, never changed
    const touched = [...createTagsCalls().flatMap((c) => c.Resources!), ...untaggedIds(), ...stoppedIds()];
    expect(touched).not.toContain(id('protected'));
    expect(touched).not.toContain(id('compliant'));
    expect(entryOf(result, id('protected'))).toMatchObject({ outcome: 'SKIPPED_PROTECTED', reason: expect.stringContaining(`carries protection tag ${PROTECT}`) });

    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts.scanned).toBe(13);
    expect(ddbMock).toHaveReceivedCommandTimes(ScanCommand, 3);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
    const report = publishedReport();
    expect(report.TopicArn).toBe(TOPIC_ARN);
    expect(report.Subject!.length).toBeLessThan(100);
    for (const name of ['noCostCenter', 'overdue', 'fixedSinceMarked', 'protected', 'notDue'] as const) expect(report.Message).toContain(id(name));
    // the overview above the entries: violations by rule, tags to fill in by key, what is due next
    const overview = report.Message!.slice(report.Message!.indexOf('Compliant: '), report.Message!.indexOf('Resources:'));
    expect(overview).toContain('Compliant: 1 instance(s) break no rule and need no tag.');
    expect(overview).toContain(`  CostCenter: 1 instance(s): ${id('badCostCenter')}\n`);
    // noEnvironment, badEnvironment, overdue, overdueStopped, notDue and the protected one (reported, never changed)
    expect(overview).toMatch(/ {2}Environment: 6 instance\(s\): .*, and 1 more\n/);
    expect(overview).toContain('Tags to fill in: CostCenter on 2, CreatedBy on 1, LaunchDate on 1.');
    expect(overview).toMatch(/Due next: STOP of 4 marked instance\(s\) still in violation, the first on or after \d{4}-/);
  });

  test('invalid table items are reported as rule entries; the other rules still apply', async () => {
    const one = ec2Instance({ tags: without(COMPLIANT_TAGS, 'CostCenter', 'LaunchDate') });
    serveInstances([one]);
    serveTable([
      item({ RuleId: 'bad-1', TagKey: 'Owner', Action: 'Update', Default: 'x', AllowedValues: ['y'] }),
      ...SEED_RULES.map(item),
      item({ RuleId: 'bad-2', TagKey: 'aws:reserved', Action: 'Update', Default: 'x' }),
      item({ RuleId: 'bad-3', TagKey: 'Tier', Action: 'Function', Default: 'tomorrow()' }),
    ]);
    const result = await sweep();
    const rules = result.entries.filter((e) => e.resourceType === 'rule');
    expect(rules.map((e) => e.id)).toEqual(['bad-1', 'bad-2', 'bad-3']);
    for (const e of rules) expect(e).toMatchObject({ action: 'NONE', outcome: 'REPORTED', reason: expect.stringContaining('invalid rule item, skipped (the other rules apply)') });
    expect(rules[1].reason).toContain('reserved for AWS');
    expect(writtenTags()).toEqual([`${one.InstanceId} CostCenter=unassigned`, `${one.InstanceId} LaunchDate=${dateOf(one)}`]);
    expect(result.status).toBe('SUCCEEDED');
    expect(publishedReport().Message).toContain('bad-2');
  });

  test.each([
    ['DRY_RUN=true', { DRY_RUN: 'true' }, SWEEP],
    ['event {dryRun: true}', {}, { dryRun: true }],
    ['DRY_RUN=true and event {dryRun: false}', { DRY_RUN: 'true' }, { dryRun: false }],
  ])('%s: the same decisions, no CreateTags/DeleteTags/Stop/Terminate/BatchWriteItem', async (_label, env, event) => {
    const fleet = seedFleet();
    const lookedUp = ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([...Object.values(fleet), lookedUp]);
    const launchTime = lookedUp.NetworkInterfaces![0].Attachment!.AttachTime!.getTime();
    serveLookups([iamUserRecord({ instanceIds: [lookedUp.InstanceId!], eventTime: ago(60, launchTime) })]);
    const live = await sweep({ UNTAGGED_ACTION: 'STOP' });
    expect(live.counts.actionsTaken).toBeGreaterThan(5);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 1);
    for (const mock of [ec2Mock, ddbMock, ctMock, snsMock]) mock.resetHistory();

    const dry = await sweep({ UNTAGGED_ACTION: 'STOP', ...env }, event);

    expectNoStateChanges();
    expect(dry.dryRun).toBe(true);
    const decisions = (r: SweepResult) => r.entries.map((e) => `${e.id} ${e.action} ${e.reason.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T')}`).sort();
    expect(decisions(dry)).toEqual(decisions(live));
    expect(dry.counts).toMatchObject({ wouldAct: live.counts.actionsTaken, actionsTaken: 0 });
    expect(entryOf(dry, lookedUp.InstanceId!)).toMatchObject({ action: 'TAG', outcome: 'DRY_RUN', reason: expect.stringContaining('CreatedBy') });
    expect(publishedReport().Message).toContain('DRY RUN: nothing was changed');
  });
});

describe('pagination, batches and failures', () => {
  test('DescribeInstances over 3 pages and the Scan over 3 pages are walked to the end', async () => {
    const fleet = instances(7, { tags: without(COMPLIANT_TAGS, 'CostCenter') });
    const requests = serveInstances(fleet, 3);
    const scans = serveTable(SEED_RULES.map(item), 1);
    const result = await sweep();
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-2']);
    expect(requests[0].Filters).toEqual([{ Name: 'instance-state-name', Values: IN_SCOPE_STATES }]);
    expect(scans.map((s) => s.ExclusiveStartKey?.RuleId.S)).toEqual([undefined, '1', '2', '3']);
    expect(createTagsCalls()).toEqual([{ Resources: idsOf(fleet), Tags: [{ Key: 'CostCenter', Value: 'unassigned' }] }]);
    expect(result.counts).toMatchObject({ scanned: 7, actionsTaken: 7 });
  });

  test('VPC_IDS and INSTANCE_SELECTOR are server-side filters', async () => {
    const requests = serveInstances([]);
    serveRules();
    await sweep({ VPC_IDS: '["vpc-1","vpc-2"]', INSTANCE_SELECTOR: '{"managed":"true"}' });
    expect(requests[0].Filters).toEqual([
      { Name: 'instance-state-name', Values: IN_SCOPE_STATES }, { Name: 'tag:managed', Values: ['true'] }, { Name: 'vpc-id', Values: ['vpc-1', 'vpc-2'] },
    ]);
  });

  test('2,500 instances needing the same tag: 3 CreateTags calls; a throttled page and a throttled call are retried', async () => {
    const fleet = instances(2_500);
    const requests = serveInstances(fleet, 1000, { 2: ec2Error('RequestLimitExceeded', 503) });
    serveRules([SEED_RULES[0]]);
    ec2Mock.on(CreateTagsCommand).rejectsOnce(ec2Error('ThrottlingException')).resolves({});
    const result = await sweep();
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-1', 'tok-2']);
    const sizes = createTagsCalls().map((c) => c.Resources!.length);
    expect(sizes).toEqual([1000, 1000, 1000, 500]); // the first call throttled, then sent again
    expect(result.counts).toMatchObject({ scanned: 2_500, actionsTaken: 2_500, actionsFailed: 0 });
    expect(result.entries).toHaveLength(200);
    expect(result.entriesOmitted).toBe(2_300);
  });

  test('a throttled Scan page is asked for again from its key', async () => {
    serveInstances([ec2Instance({ tags: without(COMPLIANT_TAGS, 'CostCenter') })]);
    const scans = serveTable(SEED_RULES.map(item), 1, { 3: Object.assign(new Error('slow'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }) });
    const result = await sweep();
    expect(scans.map((s) => s.ExclusiveStartKey?.RuleId.S)).toEqual([undefined, '1', '2', '2', '3']);
    expect(result.counts.actionsTaken).toBe(1);
  });

  test('a CreateTags batch refused with InvalidInstanceID.NotFound is retried id by id; only the bad id FAILED', async () => {
    const fleet = instances(4, { tags: without(COMPLIANT_TAGS, 'CostCenter') });
    const bad = fleet[1].InstanceId!;
    serveInstances(fleet);
    serveRules();
    ec2Mock.on(CreateTagsCommand).callsFake(async (input: CreateTagsCommandInput) => {
      if (input.Resources!.includes(bad)) throw ec2Error('InvalidInstanceID.NotFound', 400, `The instance ID '${bad}' does not exist`);
      return {};
    });
    const result = await sweep();
    expect(createTagsCalls().map((c) => c.Resources)).toEqual([idsOf(fleet), ...idsOf(fleet).map((i) => [i])]);
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(result.entries.filter((e) => e.outcome === 'FAILED')).toEqual([expect.objectContaining({ id: bad, errorCode: 'InvalidInstanceID.NotFound' })]);
    expect(result.counts).toMatchObject({ actionsTaken: 3, actionsFailed: 1 });
    expect(publishedReport().Message).toMatch(new RegExp(`${bad} .*result=FAILED {2}error=InvalidInstanceID.NotFound`));
  });

  test('TERMINATE past grace, in calls of 1000, capped by MAX_ACTIONS_PER_RUN', async () => {
    const overdue = instances(3, { tags: { ...without(COMPLIANT_TAGS, 'Environment'), [VIOLATION]: markOf(ago(4 * DAY)) } });
    serveInstances(overdue);
    serveRules();
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    const result = await sweep({ UNTAGGED_ACTION: 'TERMINATE', MAX_ACTIONS_PER_RUN: '2' });
    expect(ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds)).toEqual([idsOf(overdue).slice(0, 2)]);
    expect(result.counts).toMatchObject({ actionsTaken: 2, skippedCap: 1 });
  });

  test('PROPAGATE_TO_VOLUMES: the volumes and interfaces get the same tags in the same call', async () => {
    const one = ec2Instance({ tags: without(COMPLIANT_TAGS, 'CostCenter'), volumes: 2 });
    serveInstances([one]);
    serveRules();
    await sweep({ PROPAGATE_TO_VOLUMES: 'true' });
    expect(createTagsCalls()).toEqual([{
      Resources: [one.InstanceId, ...one.BlockDeviceMappings!.map((b) => b.Ebs!.VolumeId), one.NetworkInterfaces![0].NetworkInterfaceId],
      Tags: [{ Key: 'CostCenter', Value: 'unassigned' }],
    }]);
  });

  test('the rule table unreadable: the run fails, is reported, and nothing is changed', async () => {
    serveInstances(instances(2));
    ddbMock.on(ScanCommand).rejects(new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: { httpStatusCode: 400 } }));
    await expect(sweep()).rejects.toThrow('Requested resource not found');
    expectNoStateChanges();
    expect(publishedReport().Message).toContain('FAILED');
  });
});

describe('creator backfill', () => {
  const launchedAt = (i: Instance) => i.NetworkInterfaces![0].Attachment!.AttachTime!;
  const recordFor = (i: Instance, user = 'alice') => iamUserRecord({ instanceIds: [i.InstanceId!], eventTime: ago(90, launchedAt(i).getTime()) }, user);

  test('LookupEvents for RunInstances around the launch; the creator is tagged and cached (unprocessed items retried)', async () => {
    const one = ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([one]);
    serveRules();
    const lookups = serveLookups([recordFor(one, 'erin')]);
    let writes = 0;
    ddbMock.on(BatchWriteItemCommand)
      .callsFake(async (input: BatchWriteItemCommandInput) => (++writes === 1 ? { UnprocessedItems: input.RequestItems } : {}));

    const result = await sweep();

    expect(lookups).toEqual([{
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'RunInstances' }],
      StartTime: new Date(launchedAt(one).getTime() - 15 * 60_000),
      EndTime: new Date(launchedAt(one).getTime() + 5 * 60_000),
      MaxResults: 50,
    }]);
    expect(writtenTags()).toEqual([`${one.InstanceId} CreatedBy=erin`]);
    const batches = ddbMock.commandCalls(BatchWriteItemCommand).map((c) => c.args[0].input.RequestItems![TABLE]);
    expect(batches).toHaveLength(2);
    expect(batches[1]).toEqual(batches[0]);
    expect(unmarshall(batches[0][0].PutRequest!.Item!)).toEqual({
      RuleId: `creator#${one.InstanceId}`, Creator: 'erin', LaunchedAt: launchedAt(one).toISOString(), ExpiresAt: expect.any(Number),
    });
    expect(result.status).toBe('SUCCEEDED');
  });

  test('instances launched far apart: one lookup per window, paced at no more than 2 a second', async () => {
    const fleet = [ec2Instance({ age: 3 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') }), ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') }),
      ec2Instance({ age: DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') })];
    serveInstances(fleet);
    serveRules();
    const records = fleet.map((i) => recordFor(i));
    const times: number[] = [];
    ctMock.on(LookupEventsCommand).callsFake(async (input) => {
      times.push(Date.now());
      const at = (r: { eventTime: string }) => Date.parse(r.eventTime);
      const inWindow = records.filter((r) => at(r) >= input.StartTime.getTime() && at(r) <= input.EndTime.getTime());
      return { Events: inWindow.map((r) => ({ EventId: r.eventID, CloudTrailEvent: JSON.stringify(r) })) };
    });
    await sweep();
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(490);
    expect(writtenTags()).toEqual(idsOf(fleet).map((id) => `${id} CreatedBy=alice`).sort());
  });

  test('a cached creator skips the lookup; an instance with the tag or protected needs none', async () => {
    const cached = ec2Instance({ tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    const tagged = ec2Instance({ tags: COMPLIANT_TAGS });
    const guarded = ec2Instance({ tags: { ...without(COMPLIANT_TAGS, 'CreatedBy'), [PROTECT]: '' } });
    serveInstances([cached, tagged, guarded]);
    serveTable([...SEED_RULES.map(item), item(creatorItem(cached.InstanceId!, 'frank'))]);
    await sweep();
    expect(ctMock).not.toHaveReceivedCommand(LookupEventsCommand);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
    expect(writtenTags()).toEqual([`${cached.InstanceId} CreatedBy=frank`]);
  });

  test('BACKFILL_MAX_LOOKUPS spent: the instances not searched are reported pending, and nothing is written for them', async () => {
    const fleet = [ec2Instance({ age: 3 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') }), ec2Instance({ age: DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') })];
    serveInstances(fleet);
    serveRules();
    serveLookups(fleet.map((i) => recordFor(i)));
    const result = await sweep({ BACKFILL_MAX_LOOKUPS: '1' });
    expect(ctMock).toHaveReceivedCommandTimes(LookupEventsCommand, 1);
    expect(writtenTags()).toEqual([`${fleet[0].InstanceId} CreatedBy=alice`]);
    expect(entryOf(result, fleet[1].InstanceId!)).toMatchObject({ action: 'NOTIFY', outcome: 'REPORTED', reason: expect.stringContaining('creator lookup pending') });
    expect(result.status).toBe('SUCCEEDED');
  });

  test('BACKFILL_CREATORS=false: no lookup; the creator is unknown, a violation', async () => {
    const one = ec2Instance({ tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([one]);
    serveRules();
    const result = await sweep({ BACKFILL_CREATORS: 'false' });
    expect(ctMock.calls()).toHaveLength(0);
    expect(entryOf(result, one.InstanceId!)).toMatchObject({ action: 'NOTIFY', reason: expect.stringContaining('backfillCreators is off') });
  });

  test('LookupEvents denied: the other fixes are still made, the failure is reported', async () => {
    const one = ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy', 'CostCenter') });
    // beyond CloudTrail's 90 days: unknown without a lookup, so not among those left pending
    const two = ec2Instance({ age: 3 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    const old = ec2Instance({ age: 120 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([one, two, old]);
    serveRules();
    ctMock.on(LookupEventsCommand).rejects(Object.assign(new Error('User is not authorized to perform: cloudtrail:LookupEvents'), {
      name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 },
    }));
    const result = await sweep();
    expect(ctMock).toHaveReceivedCommandTimes(LookupEventsCommand, 1);
    expect(writtenTags()).toEqual([`${one.InstanceId} CostCenter=unassigned`]);
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(result.entries).toContainEqual(expect.objectContaining({ resourceType: 'cloudtrail', outcome: 'FAILED', errorCode: 'AccessDeniedException' }));
    expect(entryOf(result, one.InstanceId!, 'NOTIFY')!.reason).toContain('creator lookup pending');
    expect(entryOf(result, 'LookupEvents')).toMatchObject({ action: 'LOOKUP', reason: expect.stringContaining('; 2 instance(s) left for a later run') });
    expect(logLines('warn')).toContainEqual(expect.objectContaining({ message: 'creator backfill stopped', error: 'AccessDeniedException', pending: 2 }));
    expect(publishedReport().Message).toContain('cloudtrail:LookupEvents');
  });

  test('the backfill logs what it searched and found', async () => {
    const [found, missing] = [ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') }), ec2Instance({ age: 5 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') })];
    serveInstances([found, missing]);
    serveRules();
    serveLookups([recordFor(found)]);
    await sweep();
    expect(logLines('info').filter((l) => l.message === 'creator backfill')).toEqual([
      expect.objectContaining({ instances: 2, lookups: 2, windowsSearched: 2, found: 1 }),
    ]);
  });

  test('a backfill that finds no creator writes nothing to the cache', async () => {
    const one = ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([one]);
    serveRules();
    serveLookups([]);
    const result = await sweep();
    expect(ctMock).toHaveReceivedCommandTimes(LookupEventsCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
    expect(entryOf(result, one.InstanceId!, 'NOTIFY')!.reason).toContain('no RunInstances event for it in CloudTrail');
  });

  test('creators all tagged or cached: no lookup, and no backfill logged', async () => {
    const cached = ec2Instance({ tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([ec2Instance({ tags: COMPLIANT_TAGS }), cached]);
    serveTable([...SEED_RULES, creatorItem(cached.InstanceId!, 'carol')].map(item));
    await sweep();
    expect(writtenTags()).toEqual([`${cached.InstanceId} CreatedBy=carol`]);
    expect(ctMock.calls()).toHaveLength(0);
    expect(logLines('info').filter((l) => l.message === 'creator backfill')).toEqual([]);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteItemCommand);
  });

  test('the cache cannot be written: the creator is still tagged, a warning logged', async () => {
    const one = ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([one]);
    serveRules();
    serveLookups([recordFor(one)]);
    ddbMock.on(BatchWriteItemCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    const result = await sweep();
    expect(writtenTags()).toEqual([`${one.InstanceId} CreatedBy=alice`]);
    expect(result.status).toBe('SUCCEEDED');
    expect(logLines('warn')).toContainEqual(expect.objectContaining({ message: 'creators found, but not cached', error: 'AccessDeniedException' }));
  });
});

describe('launch events (creator capture)', () => {
  function launched(n = 1, tags: Record<string, string> = {}) {
    const fleet = instances(n, { age: 10, tags });
    serveInstances(fleet);
    serveRules();
    return fleet;
  }

  test.each([
    ['an IAM user', (ids: string[]) => iamUserRecord({ instanceIds: ids }, 'alice'), 'alice'],
    ['an SSO session: role name and session name', (ids: string[]) => ssoRecord({ instanceIds: ids }), `${SSO_ROLE}/bob@example.com`],
    ['an Auto Scaling group', (ids: string[]) => asgRecord({ instanceIds: ids }, 'web-asg'), 'autoscaling:web-asg'],
  ])('%s: DescribeInstances of the ids, then CreateTags of the creator, no report', async (_label, record, creator) => {
    const fleet = launched(2);
    const result = await loadHandler()(launchEvent(record(idsOf(fleet)))) as SweepResult;
    const describes = ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    expect(describes).toHaveLength(1);
    expect(describes[0].InstanceIds).toEqual(idsOf(fleet));
    expect(createTagsCalls()).toEqual([{ Resources: idsOf(fleet), Tags: [{ Key: 'CreatedBy', Value: creator }] }]);
    expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
    expect(ctMock.calls()).toHaveLength(0);
    expect(result).toMatchObject({ status: 'SUCCEEDED', counts: { scanned: 2, actionsTaken: 2 } });
    const reason = `launched by ${creator}: creator default of rule 2`;
    expect(result.entries).toEqual(idsOf(fleet).map((id) => expect.objectContaining({
      id, action: 'TAG', outcome: 'DONE', reason, details: [['tag', `CreatedBy=${creator}`]],
    })));
    // no notification: the log is where a launch is told
    expect(logLines('info').find((l) => l.message === 'launch')).toMatchObject({ creator, instances: 2, tagged: 2 });
    expect(logLines('info').filter((l) => l.message === 'decision')).toEqual(idsOf(fleet).map((resourceId) =>
      expect.objectContaining({ resourceId, action: 'TAG', outcome: 'DONE', reason })));
  });

  test('a CreatedBy tag that is only blanks is filled in', async () => {
    const fleet = launched(1, { CreatedBy: '  ' });
    await loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) })));
    expect(writtenTags()).toEqual([`${fleet[0].InstanceId} CreatedBy=alice`]);
  });

  test('only InvalidInstanceID.NotFound is retried: another DescribeInstances error fails the invocation at once', async () => {
    const fleet = instances(1, { age: 5 });
    const requests = serveInstances(fleet, 1000, { 1: ec2Error('UnauthorizedOperation', 403) });
    serveRules();
    await expect(loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) })))).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(requests).toHaveLength(1);
    expect(createTagsCalls()).toEqual([]);
  });

  test('InvalidInstanceID.NotFound (eventual consistency) is retried until the instance is seen', async () => {
    const fleet = instances(1, { age: 5 });
    const requests = serveInstances(fleet, 1000, { 1: ec2Error('InvalidInstanceID.NotFound'), 2: ec2Error('InvalidInstanceID.NotFound') });
    serveRules();
    await loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) })));
    expect(requests).toHaveLength(3);
    expect(writtenTags()).toEqual([`${fleet[0].InstanceId} CreatedBy=alice`]);
  });

  test('a protected instance is not tagged; one that has the tag keeps it', async () => {
    const [guarded] = instances(1, { tags: { [PROTECT]: 'true' } });
    const [own] = instances(1, { tags: { CreatedBy: 'team-a' } });
    const [plain] = instances(1);
    serveInstances([guarded, own, plain]);
    serveRules();
    await loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf([guarded, own, plain]) })));
    expect(writtenTags()).toEqual([`${plain.InstanceId} CreatedBy=alice`]);
  });

  test('a failed tag is reported: one SNS publish, PARTIAL_FAILURE', async () => {
    const fleet = launched(1);
    ec2Mock.on(CreateTagsCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    const result = await loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) }))) as SweepResult;
    expect(result).toMatchObject({ status: 'PARTIAL_FAILURE', counts: { scanned: 1, actionsFailed: 1 } });
    expect(publishedReport().Message).toContain(fleet[0].InstanceId);
    expect(logLines('info').find((l) => l.message === 'launch')).toMatchObject({ creator: 'alice', instances: 1, tagged: 0 });
  });

  test('no rule defaults to the creator: nothing is described or tagged', async () => {
    const fleet = instances(1);
    serveInstances(fleet);
    serveRules([SEED_RULES[0]]);
    await loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) })));
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  test('a creator the rule would refuse is left to the sweep', async () => {
    const fleet = instances(1);
    serveInstances(fleet);
    serveRules([{ RuleId: 'c', TagKey: 'CreatedBy', Action: 'UserLookup', Pattern: '[a-z]+' }]);
    await loadHandler()(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) }, 'Alice.Smith')));
    expect(createTagsCalls()).toEqual([]);
  });

  test('a RunInstances call that failed (errorCode) launched nothing: no call at all', async () => {
    launched(1);
    const result = await loadHandler()(launchEvent(iamUserRecord({ instanceIds: ['i-0123456789abcdef0'], errorCode: 'Client.UnauthorizedOperation' })));
    expect(sentCommands()).toEqual([]);
    expect(result).toMatchObject({ status: 'SUCCEEDED', counts: { scanned: 0 } });
  });

  test('DRY_RUN: nothing is tagged', async () => {
    const fleet = launched(1);
    const result = await loadHandler({ DRY_RUN: 'true' })(launchEvent(iamUserRecord({ instanceIds: idsOf(fleet) }))) as SweepResult;
    expectNoStateChanges();
    expect(result.entries).toEqual([expect.objectContaining({ id: fleet[0].InstanceId, outcome: 'DRY_RUN' })]);
  });

  test.each([
    ['another event name', { eventName: 'StartInstances' }],
    ['another event source', { eventSource: 'autoscaling.amazonaws.com' }],
    ['no user identity', { userIdentity: null }],
  ])('%s is rejected, nothing called', async (_label, change) => {
    launched(1);
    const event = launchEvent({ ...iamUserRecord({ instanceIds: ['i-0123456789abcdef0'] }), ...change });
    await expect(loadHandler()(event)).rejects.toMatchObject({ name: 'EventShapeError', message: expect.stringContaining('not a CloudTrail RunInstances event') });
    expectNoCallsAtAll();
  });
});

describe('rules custom resource', () => {
  const RULES: RuleItem[] = [
    { RuleId: 'CostCenter', TagKey: 'CostCenter', Action: 'Update', Default: 'unassigned', Required: 'true' },
    { RuleId: 'CreatedBy', TagKey: 'CreatedBy', Action: 'UserLookup', Required: 'true' },
  ];

  test('Create puts each rule with ManagedBy and a condition; no EC2, SNS or CloudTrail call', async () => {
    const result = await loadHandler()(rulesEvent('Create', rulesProperties(RULES)));
    expect(result).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: '2', Deleted: '0' } });
    const puts = ddbMock.commandCalls(PutItemCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => unmarshall(p.Item!))).toEqual(RULES.map((r) => ({ ...r, ManagedBy: OWNER })));
    expect(puts.every((p) => p.ConditionExpression === 'attribute_not_exists(#id) OR #owner = :owner')).toBe(true);
    expect(ec2Mock.calls().length + snsMock.calls().length + ctMock.calls().length).toBe(0);
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'rules', requestType: 'Create', tableName: TABLE, rules: 2 }));
  });

  test('Update deletes the dropped rules; Delete deletes its own; a missing table on Delete is fine', async () => {
    const handler = loadHandler();
    await handler(rulesEvent('Update', rulesProperties(RULES.slice(0, 1)), { OldResourceProperties: rulesProperties(RULES) }));
    expect(ddbMock.commandCalls(DeleteItemCommand).map((c) => unmarshall(c.args[0].input.Key!).RuleId)).toEqual(['CreatedBy']);
    ddbMock.on(DeleteItemCommand).rejects(new ResourceNotFoundException({ message: 'gone', $metadata: { httpStatusCode: 400 } }));
    expect(await handler(rulesEvent('Delete', rulesProperties(RULES)))).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: '0', Deleted: '0' } });
  });

  test('a bad RequestType is rejected before any call', async () => {
    await expect(loadHandler()(rulesEvent('Replace' as 'Create', rulesProperties(RULES)))).rejects.toMatchObject({ name: 'EventShapeError' });
    expectNoCallsAtAll();
  });
});

describe('invalid configuration', () => {
  test.each([
    ['TOPIC_ARN', undefined],
    ['TOPIC_ARN', ' '],
    ['TABLE_NAME', undefined],
    ['TABLE_NAME', ''],
    ['UNTAGGED_ACTION', 'DELETE'],
    ['UNTAGGED_ACTION', 'stop'],
    ['GRACE_PERIOD_SECONDS', '3d'],
    ['GRACE_PERIOD_SECONDS', '-1'],
    ['GRACE_PERIOD_SECONDS', String(400 * DAY)],
    ['VPC_IDS', 'vpc-1'],
    ['VPC_IDS', '[1]'],
    ['VPC_IDS', '[""]'],
    ['INSTANCE_SELECTOR', '["managed"]'],
    ['INSTANCE_SELECTOR', '{"managed":true}'],
    ['DRY_RUN', 'yes'],
    ['MAX_ACTIONS_PER_RUN', '-1'],
    ['MAX_ACTIONS_PER_RUN', '1.5'],
    ['BACKFILL_CREATORS', '1'],
    ['BACKFILL_MAX_LOOKUPS', '0'],
    ['BACKFILL_MAX_LOOKUPS', 'many'],
    ['PROPAGATE_TO_VOLUMES', 'TRUE'],
  ])('%s=%j is rejected naming the variable, before any call, for a sweep and a launch; the rules resource does not read it', async (variable, value) => {
    serveInstances(instances(2));
    serveRules();
    const handler = loadHandler({ [variable]: value });
    for (const event of [SWEEP, launchEvent(iamUserRecord({ instanceIds: ['i-0123456789abcdef0'] }))]) {
      const rejection = handler(event);
      await expect(rejection).rejects.toMatchObject({ name: 'ConfigError', variable });
      await expect(rejection).rejects.toThrow(`environment variable ${variable}=`);
    }
    expectNoCallsAtAll();
    // Everything the rules resource needs is in its properties: a broken environment cannot leave a
    // stack unable to delete (or roll back) its rules.
    await expect(handler(rulesEvent('Delete', rulesProperties(SEED_RULES)))).resolves.toMatchObject({ Data: { Written: '0' } });
  });

  test('defaults: no VPC filter, no selector, NOTIFY, the default protection tag', async () => {
    const guarded = ec2Instance({ tags: { [PROTECT]: 'x' } });
    const requests = serveInstances([guarded]);
    serveRules();
    const result = await sweep({
      UNTAGGED_ACTION: undefined,
      GRACE_PERIOD_SECONDS: undefined,
      VPC_IDS: undefined,
      INSTANCE_SELECTOR: undefined,
      PROTECTION_TAG_KEY: '',
      DRY_RUN: undefined,
      MAX_ACTIONS_PER_RUN: undefined,
      BACKFILL_CREATORS: undefined,
      BACKFILL_MAX_LOOKUPS: undefined,
      PROPAGATE_TO_VOLUMES: undefined,
    });
    expect(requests[0].Filters).toEqual([{ Name: 'instance-state-name', Values: IN_SCOPE_STATES }]);
    expect(entryOf(result, guarded.InstanceId!)!.outcome).toBe('SKIPPED_PROTECTED');
  });

  test('a custom PROTECTION_TAG_KEY protects; the default key no longer does', async () => {
    const custom = ec2Instance({ tags: { 'keep-me': '1' } });
    const defaultKey = ec2Instance({ tags: { [PROTECT]: 'true' } });
    serveInstances([custom, defaultKey]);
    serveRules([SEED_RULES[0]]);
    await sweep({ PROTECTION_TAG_KEY: 'keep-me' });
    expect(writtenTags()).toEqual([`${defaultKey.InstanceId} CostCenter=unassigned`]);
  });
});

describe('malformed events', () => {
  test.each([
    ['null', null],
    ['a string', 'run'],
    ['an array', [SWEEP]],
    ['an unknown key', { unexpected: 1 }],
    ['dryRun as a string', { dryRun: 'yes' }],
    ['a huge source', { source: 'x'.repeat(100_000) }],
    ['a Scheduled Event with a foreign detail-type', { ...CONSOLE_SCHEDULED_EVENT, 'detail-type': 'EC2 Instance State-change Notification' }],
    ['a CloudTrail envelope from another source', { ...launchEvent(iamUserRecord({ instanceIds: ['i-0123456789abcdef0'] })), source: 'aws.s3' }],
  ])('%s is rejected before any call', async (_label, event) => {
    serveInstances(instances(3));
    serveRules();
    await expect(loadHandler()(event)).rejects.toMatchObject({ name: 'EventShapeError', message: expect.stringContaining('No resource was changed') });
    expectNoCallsAtAll();
  });

  test('the Lambda console\'s Scheduled Event runs a sweep', async () => {
    serveInstances([ec2Instance({ tags: COMPLIANT_TAGS })]);
    serveRules();
    const result = await sweep({}, CONSOLE_SCHEDULED_EVENT);
    expect(result).toMatchObject({ status: 'SUCCEEDED', counts: { scanned: 1 } });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  test('all four clients say who is calling in the user agent (CloudTrail\'s userAgent)', async () => {
    // an instance without its creator: a CloudTrail lookup, a tag, and a notification
    const one = ec2Instance({ age: 2 * DAY, tags: without(COMPLIANT_TAGS, 'CreatedBy') });
    serveInstances([one]);
    serveRules();
    serveLookups([]);
    await sweep();
    const agentOf = (mock: typeof ec2Mock | typeof ddbMock | typeof snsMock | typeof ctMock) =>
      (mock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } }).config.customUserAgent;
    for (const mock of [ec2Mock, ddbMock, snsMock, ctMock]) expect(agentOf(mock)).toEqual([['cdk-fleet-janitor/tag-policy-engine']]);
  });

  test('logs and metrics carry the service name the construct sets, TagPolicyEngine without it', async () => {
    serveInstances([]);
    serveRules();
    await sweep({ POWERTOOLS_SERVICE_NAME: 'fleet-tags' });
    expect(logLines('info').find((l) => l.message === 'plan')).toMatchObject({
      service: 'fleet-tags', rules: SEED_RULES.length, invalidRules: 0, instances: 0, compliant: 0, items: 0, dryRun: false,
    });
    await sweep({ POWERTOOLS_SERVICE_NAME: undefined });
    expect(logLines('info').filter((l) => l.message === 'plan').at(-1)).toMatchObject({ service: 'TagPolicyEngine' });
  });
});

