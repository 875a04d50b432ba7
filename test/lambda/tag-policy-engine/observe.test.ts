import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import 'aws-sdk-client-mock-jest';
import {
  ago, config, DAY, ddbMock, ec2Instance, ec2Mock, idsOf, IN_SCOPE_STATES, installHandlerHarness, instances, item, SEED_RULES, serveInstances,
  serveTable, TABLE,
} from './harness';
import { observeInstances, readRuleTable, toObservedInstance } from '../../../lambda/tag-policy-engine/observe';
import { ec2Error } from '../helpers';

installHandlerHarness();

const ec2 = new EC2Client({ region: 'eu-west-1' });
const dynamodb = new DynamoDBClient({ region: 'eu-west-1' });

beforeEach(() => {
  // retryTransient's jitter: no wait in these tests.
  jest.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => jest.restoreAllMocks());

describe('observeInstances', () => {
  test('walks every page of DescribeInstances (3+ pages) with the state filter, 1000 a page', async () => {
    const fleet = instances(7);
    const requests = serveInstances(fleet, 3);
    const seen = await observeInstances(ec2, config());
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-2']);
    for (const request of requests) {
      expect(request.Filters).toEqual([{ Name: 'instance-state-name', Values: IN_SCOPE_STATES }]);
      expect(request.MaxResults).toBe(1000);
      expect(request.InstanceIds).toBeUndefined();
    }
    expect(seen.map((i) => i.instanceId)).toEqual(idsOf(fleet));
  });

  test('the VPC ids and the tag selector are server-side filters', async () => {
    const requests = serveInstances([]);
    await observeInstances(ec2, config({ vpcIds: ['vpc-1', 'vpc-2'], instanceSelector: { managed: 'true', team: 'web' } }));
    expect(requests).toHaveLength(1);
    expect(requests[0].Filters).toEqual([
      { Name: 'instance-state-name', Values: IN_SCOPE_STATES },
      { Name: 'tag:managed', Values: ['true'] },
      { Name: 'tag:team', Values: ['web'] },
      { Name: 'vpc-id', Values: ['vpc-1', 'vpc-2'] },
    ]);
  });

  test('more VPCs than one filter takes (200) are listed in groups, each instance once', async () => {
    const vpcIds = Array.from({ length: 450 }, (_, i) => `vpc-${i}`);
    const fleet = instances(3);
    const requests = serveInstances(fleet);
    const seen = await observeInstances(ec2, config({ vpcIds }));
    expect(requests.map((r) => r.Filters!.find((f) => f.Name === 'vpc-id')!.Values!.length)).toEqual([200, 200, 50]);
    expect(requests.flatMap((r) => r.Filters!.find((f) => f.Name === 'vpc-id')!.Values!)).toEqual(vpcIds);
    // the mock answers every group with the whole fleet; a real EC2 answers each with its own VPCs' instances
    expect(seen).toHaveLength(9);
  });

  test('instance ids (a launch) are asked for by id, without MaxResults (EC2 refuses both)', async () => {
    const fleet = instances(3);
    const requests = serveInstances(fleet);
    const seen = await observeInstances(ec2, config(), [fleet[0].InstanceId!, fleet[2].InstanceId!]);
    expect(requests).toHaveLength(1);
    expect(requests[0].InstanceIds).toEqual([fleet[0].InstanceId, fleet[2].InstanceId]);
    expect(requests[0].MaxResults).toBeUndefined();
    expect(seen.map((i) => i.instanceId)).toEqual([fleet[0].InstanceId, fleet[2].InstanceId]);
  });

  test('a throttled page is asked for again and the walk resumes where it stopped', async () => {
    const fleet = instances(7);
    const requests = serveInstances(fleet, 3, { 2: ec2Error('RequestLimitExceeded', 503) });
    const seen = await observeInstances(ec2, config());
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-1', 'tok-2']);
    expect(seen.map((i) => i.instanceId)).toEqual(idsOf(fleet));
  });

  test('a throttled first page is retried (ThrottlingException)', async () => {
    const fleet = instances(2);
    const requests = serveInstances(fleet, 1000, { 1: ec2Error('ThrottlingException') });
    expect(await observeInstances(ec2, config())).toHaveLength(2);
    expect(requests).toHaveLength(2);
  });

  test('pages without Reservations, and reservations without Instances, add no instance', async () => {
    const [one] = instances(1);
    ec2Mock.on(DescribeInstancesCommand)
      .resolvesOnce({ NextToken: 'tok-1' })
      .resolvesOnce({ Reservations: [{ ReservationId: 'r-empty' }], NextToken: 'tok-2' })
      .resolves({ Reservations: [{ ReservationId: 'r-1', Instances: [one] }] });
    expect((await observeInstances(ec2, config())).map((i) => i.instanceId)).toEqual([one.InstanceId]);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 3);
  });

  test('a non-transient error is thrown, not retried', async () => {
    const requests = serveInstances(instances(2), 1000, { 1: ec2Error('UnauthorizedOperation', 403) });
    await expect(observeInstances(ec2, config())).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(requests).toHaveLength(1);
  });
});

describe('toObservedInstance', () => {
  test('the first launch is the primary interface attach time, not LaunchTime (which moves on every start)', () => {
    const raw = ec2Instance({ age: 10 * DAY, tags: { Name: 'web', Empty: '' }, volumes: 2 });
    const seen = toObservedInstance(raw);
    expect(seen.launchedAt?.toISOString()).toBe(raw.NetworkInterfaces![0].Attachment!.AttachTime!.toISOString());
    expect(seen.tags).toEqual({ Name: 'web', Empty: '' });
    expect(seen.state).toBe('running');
    expect(seen.attachedResourceIds).toEqual([...raw.BlockDeviceMappings!.map((b) => b.Ebs!.VolumeId), raw.NetworkInterfaces![0].NetworkInterfaceId]);
  });

  test('a secondary interface does not give the launch time; LaunchTime is the fallback', () => {
    const launch = ago(DAY);
    const seen = toObservedInstance({
      InstanceId: 'i-0123456789abcdef0',
      LaunchTime: launch,
      NetworkInterfaces: [{ NetworkInterfaceId: 'eni-2', Attachment: { DeviceIndex: 1, AttachTime: ago(HOUR_SECONDS) } }],
    });
    expect(seen.launchedAt).toEqual(launch);
  });

  test('an interface without an attachment (being detached) gives no launch time; LaunchTime is the fallback', () => {
    const launch = ago(DAY);
    const seen = toObservedInstance({ InstanceId: 'i-0123456789abcdef0', LaunchTime: launch, NetworkInterfaces: [{ NetworkInterfaceId: 'eni-3' }] });
    expect(seen).toMatchObject({ launchedAt: launch, attachedResourceIds: ['eni-3'] });
  });

  test('missing fields: unknown id/state, no launch time, a tag without value is empty, volumes without ids skipped', () => {
    const seen = toObservedInstance({ Tags: [{ Key: 'a' }, { Value: 'orphan' }], BlockDeviceMappings: [{ DeviceName: '/dev/sda1' }, { Ebs: { VolumeId: '' } }] });
    expect(seen).toEqual({ instanceId: 'unknown', state: 'unknown', launchedAt: undefined, tags: { a: '' }, attachedResourceIds: [] });
  });
});

const HOUR_SECONDS = 3_600;

describe('readRuleTable', () => {
  test('walks every Scan page (3+) by LastEvaluatedKey, consistent reads, and parses the seed\'s items', async () => {
    const requests = serveTable(SEED_RULES.map(item), 1);
    const table = await readRuleTable(dynamodb, TABLE);
    expect(requests).toHaveLength(4);
    expect(requests.map((r) => r.ExclusiveStartKey)).toEqual([undefined, { RuleId: { S: '1' } }, { RuleId: { S: '2' } }, { RuleId: { S: '3' } }]);
    for (const request of requests) expect(request).toMatchObject({ TableName: TABLE, ConsistentRead: true });
    expect(table.pages).toBe(4);
    expect(table.invalid).toEqual([]);
    expect(table.rules.map((r) => [r.ruleId, r.tagKey, r.required, r.defaultValue?.kind])).toEqual([
      ['1', 'CostCenter', true, 'fixed'], ['2', 'CreatedBy', true, 'creator'], ['3', 'LaunchDate', true, 'launchDate'], ['4', 'Environment', true, undefined],
    ]);
    expect(table.rules[0]).toMatchObject({ defaultValue: { kind: 'fixed', value: 'unassigned' }, allowedValues: ['1001', '1002', 'unassigned'] });
  });

  test('a throttled Scan page is asked for again from its key', async () => {
    const requests = serveTable(SEED_RULES.map(item), 2, { 2: Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } }) });
    // ProvisionedThroughputExceeded is not one of the transient codes: the SDK retries it itself
    await expect(readRuleTable(dynamodb, TABLE)).rejects.toThrow('throttled');
    ddbMock.reset();
    const again = serveTable(SEED_RULES.map(item), 2, { 2: Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }) });
    const table = await readRuleTable(dynamodb, TABLE);
    expect(again.map((r) => r.ExclusiveStartKey)).toEqual([undefined, { RuleId: { S: '2' } }, { RuleId: { S: '2' } }]);
    expect(table.rules).toHaveLength(4);
    expect(requests).toHaveLength(2);
  });

  test('string sets, DynamoDB booleans and lists are read; extended attributes too', async () => {
    serveTable([
      { RuleId: { S: 'a' }, TagKey: { S: 'Team' }, Required: { BOOL: true }, AllowedValues: { SS: ['web', 'data'] }, OnViolation: { S: 'STOP' } },
      { RuleId: { S: 'b' }, TagKey: { S: 'Owner' }, Required: { S: 'false' }, Action: { S: 'FromTag' }, Default: { S: 'Team' } },
      { RuleId: { N: '7' }, TagKey: { S: 'App' }, AllowedValues: { L: [{ S: 'x' }] } },
    ]);
    const table = await readRuleTable(dynamodb, TABLE);
    expect(table.invalid).toEqual([]);
    expect(table.rules).toEqual([
      expect.objectContaining({ ruleId: '7', tagKey: 'App', required: false, allowedValues: ['x'] }),
      expect.objectContaining({ ruleId: 'a', tagKey: 'Team', required: true, allowedValues: ['web', 'data'], onViolation: 'STOP' }),
      expect.objectContaining({ ruleId: 'b', tagKey: 'Owner', defaultValue: { kind: 'fromTag', tagKey: 'Team' } }),
    ]);
  });

  test('invalid items are reported by RuleId (or position) with the reason; the others are read', async () => {
    serveTable([
      item(SEED_RULES[0]),
      item({ RuleId: 'bad-action', TagKey: 'X', Action: 'Delete' }),
      item({ TagKey: 'NoId' }),
      item({ RuleId: 'bad-pattern', TagKey: 'Y', Pattern: '([' }),
      { RuleId: { S: 'odd-type' }, TagKey: { S: 'Z' }, Required: { Q: 'x' } as never },
      { RuleId: { S: 'huge-number' }, TagKey: { S: 'Z' }, Required: { N: '99999999999999999999' } },
      { RuleId: { M: null } as never, TagKey: { S: 'Z' } },
      item(SEED_RULES[3]),
      { TagKey: { S: 'Z' }, Required: { Q: 'x' } as never },
      { RuleId: { N: '42' }, TagKey: { S: 'Z' }, Required: { Q: 'x' } as never },
      { RuleId: { N: '43' }, TagKey: { S: 'aws:z' } },
    ]);
    const table = await readRuleTable(dynamodb, TABLE);
    expect(table.rules.map((r) => r.ruleId)).toEqual(['1', '4']);
    expect(table.invalid).toEqual([
      { ruleId: 'bad-action', error: expect.stringContaining('Action must be one of') },
      { ruleId: '(item 3)', error: expect.stringContaining('RuleId must be a string or a number') },
      { ruleId: 'bad-pattern', error: expect.stringContaining('not a valid regular expression') },
      // an attribute of a type no rule uses: reported by its RuleId all the same
      { ruleId: 'odd-type', error: expect.stringContaining('unreadable item: Unsupported type passed: Q') },
      { ruleId: 'huge-number', error: expect.stringContaining('Required must be "true" or "false"') },
      { ruleId: '(item 7)', error: expect.stringContaining('unreadable item') },
      // unreadable and without a RuleId: by position; a numeric RuleId is read as such
      { ruleId: '(item 9)', error: expect.stringContaining('unreadable item') },
      { ruleId: '42', error: expect.stringContaining('unreadable item') },
      // a readable item with a numeric RuleId that is not a valid rule: named by its RuleId too
      { ruleId: '43', error: expect.stringContaining('reserved for AWS') },
    ]);
  });

  test('two rules for one tag key: the lowest RuleId wins, the other is reported', async () => {
    serveTable([
      item({ RuleId: 'z-second', TagKey: 'CostCenter', Action: 'Update', Default: 'b' }),
      item({ RuleId: 'a-first', TagKey: 'CostCenter', Action: 'Update', Default: 'a' }),
    ]);
    const table = await readRuleTable(dynamodb, TABLE);
    expect(table.rules).toEqual([expect.objectContaining({ ruleId: 'a-first', defaultValue: { kind: 'fixed', value: 'a' } })]);
    expect(table.invalid).toEqual([{ ruleId: 'z-second', error: 'rule a-first already covers tag CostCenter; this one is skipped' }]);
  });

  test.each([
    ['c', 'a', 'e', 'b', 'd'],
    ['e', 'd', 'c', 'b', 'a'],
    ['b', 'e', 'a', 'd', 'c'],
  ])('rules for one key in Scan order %s %s %s %s %s: the lowest RuleId wins, the others reported in RuleId order', async (...ids) => {
    serveTable(ids.map((id) => item({ RuleId: `rule-${id}`, TagKey: 'Team', Action: 'Update', Default: id })));
    const table = await readRuleTable(dynamodb, TABLE);
    expect(table.rules.map((r) => r.ruleId)).toEqual(['rule-a']);
    expect(table.invalid.map((i) => i.ruleId)).toEqual(['rule-b', 'rule-c', 'rule-d', 'rule-e']);
  });

  test('creator# items are the cache, not rules; an empty creator, or one that is not a string, is ignored', async () => {
    serveTable([
      item({ RuleId: 'creator#i-0123456789abcdef0', Creator: 'alice', LaunchedAt: '2024-05-01T10:00:00.000Z', ExpiresAt: 1_800_000_000 }),
      item({ RuleId: 'creator#i-0fedcba9876543210', Creator: '' }),
      { RuleId: { S: 'creator#i-0aaaaaaaaaaaaaaaa' }, Creator: { L: [{ S: 'mallory' }] } },
      item(SEED_RULES[1]),
    ]);
    const table = await readRuleTable(dynamodb, TABLE);
    expect([...table.cachedCreators]).toEqual([['i-0123456789abcdef0', 'alice']]);
    expect(table.rules.map((r) => r.ruleId)).toEqual(['2']);
    expect(table.invalid).toEqual([]);
  });

  test('a Scan page without Items (DynamoDB omits it when a page matched none) adds nothing', async () => {
    ddbMock.on(ScanCommand)
      .resolvesOnce({ Count: 0, LastEvaluatedKey: { RuleId: { S: 'r-0' } } })
      .resolves({ Items: [item(SEED_RULES[0])], Count: 1 });
    const table = await readRuleTable(dynamodb, TABLE);
    expect(table).toMatchObject({ invalid: [], pages: 2 });
    expect(table.rules.map((r) => r.tagKey)).toEqual([SEED_RULES[0].TagKey]);
  });

  test('an empty table has no rules, in one call', async () => {
    serveTable([]);
    expect(await readRuleTable(dynamodb, TABLE)).toEqual({ rules: [], invalid: [], cachedCreators: new Map(), pages: 1 });
    expect(ddbMock).toHaveReceivedCommandTimes(ScanCommand, 1);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});
