/*
 * observe() against EC2 answers that leave optional fields out. The SDK types every field of a
 * response as optional, and EC2 does omit them (an empty page, an interface without groups, a tag
 * without a value): the observation must then hold what is there and nothing invented.
 */
import {
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { readConfig } from '../../../lambda/packer-cleaner/config';
import { observe, parseTransitionTime, tagMap, toObservedInstance } from '../../../lambda/packer-cleaner/observe';
import { ec2Error } from '../helpers';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

// The reader's own defaults, with both cleanups on: what the construct sets when they are enabled.
const config = (env: Record<string, string> = {}) => readConfig({
  TOPIC_ARN: 'arn:aws:sns:eu-west-1:111122223333:t', KEY_NAME_PATTERNS: '["packer_*"]', CLEANUP_KEY_PAIRS: 'true', CLEANUP_SECURITY_GROUPS: 'true', ...env,
});

beforeEach(() => ec2Mock.reset());

describe('sparse EC2 answers', () => {
  test('pages without Reservations, reservations without Instances, and no key pairs or groups observe nothing', async () => {
    ec2Mock.on(DescribeInstancesCommand)
      .resolvesOnce({ NextToken: 't1' })
      .resolvesOnce({ Reservations: [{ ReservationId: 'r-1' }], NextToken: 't2' })
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-1', KeyName: 'packer_1', State: { Name: 'running' } }] }] });
    ec2Mock.on(DescribeKeyPairsCommand).resolves({});
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({});

    const observation = await observe(ec2, config());

    expect(observation.instances.map((i) => i.instanceId)).toEqual(['i-1']);
    expect(observation.keyPairs).toEqual([]);
    expect(observation.securityGroups).toEqual([]);
    expect(observation.scanned).toBe(1);
    // nothing to check for interfaces when there are no groups
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(0);
  });

  test('a key pair without a name is skipped; one without tags has none', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({});
    const created = new Date('2026-01-01T00:00:00Z');
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-0' }, { KeyName: 'packer_a', CreateTime: created }] });
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({});

    const observation = await observe(ec2, config());

    expect(observation.keyPairs).toEqual([{ keyName: 'packer_a', createTime: created, tags: {} }]);
    expect(observation.scanned).toBe(1);
  });

  test('groups held by interfaces are in use, whatever else the interface answer leaves out', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({});
    ec2Mock.on(DescribeKeyPairsCommand).resolves({});
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        { GroupId: 'sg-held', GroupName: 'packer_held' },
        { GroupId: 'sg-free', GroupName: 'packer_free', Tags: [{ Key: 'team', Value: 'ci' }] },
        { GroupName: 'packer_noid' },
        { GroupId: 'sg-noname' },
      ],
    });
    ec2Mock.on(DescribeNetworkInterfacesCommand)
      .resolvesOnce({ NextToken: 'n1' })
      .resolvesOnce({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-0' }, { Groups: [{ GroupName: 'no-id' }, { GroupId: 'sg-held' }] }] });

    const observation = await observe(ec2, config({ CLEANUP_KEY_PAIRS: 'false' }));

    expect(observation.scanned).toBe(2);
    expect(observation.securityGroups).toEqual([
      { groupId: 'sg-held', groupName: 'packer_held', tags: {}, inUse: true },
      { groupId: 'sg-free', groupName: 'packer_free', tags: { team: 'ci' }, inUse: false },
    ]);
    // the group without an id is not asked about
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)[0].args[0].input.Filters).toEqual([{ Name: 'group-id', Values: ['sg-held', 'sg-free', 'sg-noname'] }]);
    expect(ec2Mock.commandCalls(DescribeKeyPairsCommand)).toHaveLength(0);
  });
});

describe('toObservedInstance', () => {
  test('an instance EC2 describes with no id, state, launch time, tags or groups', () => {
    expect(toObservedInstance({})).toEqual({
      instanceId: 'unknown',
      keyName: undefined,
      state: 'unknown',
      launchTime: undefined,
      stoppedAt: undefined,
      tags: {},
      securityGroupIds: [],
    });
  });

  test('a stopped instance carries the stop time; a running one with the same reason text does not', () => {
    const reason = 'User initiated (2026-05-01 12:34:56 GMT)';
    const stopped = toObservedInstance({ InstanceId: 'i-1', State: { Name: 'stopped' }, StateTransitionReason: reason, SecurityGroups: [{ GroupName: 'x' }, { GroupId: 'sg-1' }] });
    expect(stopped.stoppedAt).toEqual(new Date('2026-05-01T12:34:56Z'));
    expect(stopped.securityGroupIds).toEqual(['sg-1']);
    expect(toObservedInstance({ InstanceId: 'i-2', State: { Name: 'running' }, StateTransitionReason: reason }).stoppedAt).toBeUndefined();
  });
});

describe('parseTransitionTime', () => {
  test.each([
    [undefined, undefined],
    ['', undefined],
    ['User initiated', undefined],
    ['User initiated (2026-05-01 12:34:56 UTC)', undefined],
    ['User initiated (2026-13-45 12:34:56 GMT)', undefined],
    ['Server.SpotInstanceTermination (2026-05-01 01:02:03 GMT)', '2026-05-01T01:02:03.000Z'],
  ])('%j gives %j', (reason, expected) => {
    expect(parseTransitionTime(reason)?.toISOString()).toBe(expected);
  });
});

describe('tagMap', () => {
  test('a tag without a value maps to the empty string; one without a key is dropped', () => {
    expect(tagMap([{ Key: 'Name' }, { Value: 'orphan' }, { Key: 'env', Value: 'ci' }])).toEqual({ Name: '', env: 'ci' });
    expect(tagMap(undefined)).toEqual({});
  });
});

describe('a listing throttled part-way resumes from the page it reached', () => {
  /** Answers page by page: an entry that is an Error is thrown. Records each request's token (the paginator reuses its input object). */
  function pages(answers: Array<Record<string, unknown> | Error>) {
    const tokens: Array<string | undefined> = [];
    const fake = async (input: { NextToken?: string }) => {
      tokens.push(input.NextToken);
      const answer = answers.shift()!;
      if (answer instanceof Error) throw answer;
      return answer;
    };
    return { tokens, fake };
  }

  test('security groups and their interfaces: no page fetched twice, no group counted twice', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({});
    const groups = pages([
      { SecurityGroups: [{ GroupId: 'sg-1', GroupName: 'packer_1' }], NextToken: 'sg-page-2' },
      ec2Error('RequestLimitExceeded', 503),
      { SecurityGroups: [{ GroupId: 'sg-2', GroupName: 'packer_2' }] },
    ]);
    const interfaces = pages([
      { NetworkInterfaces: [{ Groups: [{ GroupId: 'sg-1' }] }], NextToken: 'eni-page-2' },
      ec2Error('RequestLimitExceeded', 503),
      { NetworkInterfaces: [{ Groups: [{ GroupId: 'sg-2' }] }] },
    ]);
    ec2Mock.on(DescribeSecurityGroupsCommand).callsFake(groups.fake);
    ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake(interfaces.fake);

    const observation = await observe(ec2, config({ CLEANUP_KEY_PAIRS: 'false' }));

    expect(groups.tokens).toEqual([undefined, 'sg-page-2', 'sg-page-2']);
    expect(interfaces.tokens).toEqual([undefined, 'eni-page-2', 'eni-page-2']);
    expect(observation.securityGroups.map((g) => [g.groupId, g.inUse])).toEqual([['sg-1', true], ['sg-2', true]]);
  });
});
