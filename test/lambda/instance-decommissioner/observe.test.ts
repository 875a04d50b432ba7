import { DescribeInstancesCommand, DescribeInstancesCommandInput, EC2Client, Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { describeInstances, toSnapshot } from '../../../lambda/instance-decommissioner/observe';
import { ec2Error } from '../helpers';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'eu-west-1' });

beforeEach(() => {
  ec2Mock.reset();
  // retryTransient's jitter: no wait in these tests.
  jest.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => jest.restoreAllMocks());

const LAUNCH = new Date('2025-05-20T08:30:00Z');

/**
 * A running instance as DescribeInstances returns it: two ENIs (listed secondary first, as EC2 may),
 * each with a secondary private IP; public IPs on the primary ENI's primary address (also the
 * instance's PublicIpAddress), on its secondary address (an Elastic IP) and on the secondary ENI;
 * IPv6 on both ENIs; an Auto Scaling group's tags.
 */
function ec2Instance(overrides: Partial<Instance> = {}): Instance {
  return {
    InstanceId: 'i-0123456789abcdef0',
    ImageId: 'ami-0abcdef1234567890',
    InstanceType: 'm5.large',
    State: { Code: 16, Name: 'running' },
    LaunchTime: LAUNCH,
    Placement: { AvailabilityZone: 'eu-west-1a', GroupName: '', Tenancy: 'default' },
    PrivateDnsName: 'ip-10-0-1-15.eu-west-1.compute.internal',
    PrivateIpAddress: '10.0.1.15',
    PublicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com',
    PublicIpAddress: '54.154.10.20',
    Ipv6Address: '2A05:D018:0ABC:1200::15',
    SubnetId: 'subnet-0a1b2c3d4e5f60718',
    VpcId: 'vpc-0a1b2c3d4e5f60718',
    Tags: [
      { Key: 'Name', Value: 'Web-01' },
      { Key: 'aws:autoscaling:groupName', Value: 'web-asg' },
      { Key: 'Team', Value: 'payments' },
      { Key: 'Empty', Value: '' },
    ],
    NetworkInterfaces: [
      {
        NetworkInterfaceId: 'eni-0bbbbbbbbbbbbbbbb',
        Attachment: { AttachmentId: 'eni-attach-2', DeviceIndex: 1, Status: 'attached', AttachTime: LAUNCH },
        Association: { PublicIp: '34.240.1.2', PublicDnsName: 'ec2-34-240-1-2.eu-west-1.compute.amazonaws.com', IpOwnerId: 'amazon' },
        PrivateIpAddress: '10.0.2.30',
        PrivateIpAddresses: [
          { Primary: true, PrivateIpAddress: '10.0.2.30', Association: { PublicIp: '34.240.1.2', IpOwnerId: 'amazon' } },
          { Primary: false, PrivateIpAddress: '10.0.2.31' },
        ],
        Ipv6Addresses: [{ Ipv6Address: '2a05:d018:abc:1201::30' }],
        SubnetId: 'subnet-0b',
        VpcId: 'vpc-0a1b2c3d4e5f60718',
      },
      {
        NetworkInterfaceId: 'eni-0aaaaaaaaaaaaaaaa',
        Attachment: { AttachmentId: 'eni-attach-1', DeviceIndex: 0, Status: 'attached', AttachTime: LAUNCH },
        Association: { PublicIp: '54.154.10.20', PublicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com', IpOwnerId: 'amazon' },
        PrivateIpAddress: '10.0.1.15',
        PrivateIpAddresses: [
          { Primary: true, PrivateIpAddress: '10.0.1.15', Association: { PublicIp: '54.154.10.20', IpOwnerId: 'amazon' } },
          { Primary: false, PrivateIpAddress: '10.0.1.16', Association: { PublicIp: '52.16.0.7', IpOwnerId: '111122223333' } },
        ],
        Ipv6Addresses: [{ Ipv6Address: '2a05:d018:abc:1200::15' }, { Ipv6Address: '2A05:D018:ABC:1200::16' }],
        SubnetId: 'subnet-0a1b2c3d4e5f60718',
        VpcId: 'vpc-0a1b2c3d4e5f60718',
      },
    ],
    ...overrides,
  };
}

const TEMPLATES = [
  '{tag:Name}.internal.example.com',
  '{privateIpDashed}.internal.example.com',
  '{instanceId}.{az}.example.com',
  '{privateDnsName}',
  // the same name as the first: listed once
  '{tag:Name}.Internal.Example.com.',
  // the instance has no such tag: renders nothing
  '{tag:Role}.internal.example.com',
  // an empty tag value: renders nothing
  '{tag:Empty}.internal.example.com',
];

describe('toSnapshot', () => {
  test('a described instance, every address of every interface, with its record names', () => {
    expect(toSnapshot(ec2Instance(), TEMPLATES)).toEqual({
      instanceId: 'i-0123456789abcdef0',
      privateIp: '10.0.1.15',
      privateIps: ['10.0.1.15', '10.0.1.16', '10.0.2.30', '10.0.2.31'],
      publicIps: ['54.154.10.20', '52.16.0.7', '34.240.1.2'],
      ipv6s: ['2a05:d018:0abc:1200::15', '2a05:d018:abc:1200::15', '2a05:d018:abc:1200::16', '2a05:d018:abc:1201::30'],
      privateDnsName: 'ip-10-0-1-15.eu-west-1.compute.internal',
      publicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com',
      tags: { 'Name': 'Web-01', 'aws:autoscaling:groupName': 'web-asg', 'Team': 'payments', 'Empty': '' },
      autoScalingGroupName: 'web-asg',
      availabilityZone: 'eu-west-1a',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      launchTime: '2025-05-20T08:30:00.000Z',
      recordNames: [
        'web-01.internal.example.com',
        '10-0-1-15.internal.example.com',
        'i-0123456789abcdef0.eu-west-1a.example.com',
        'ip-10-0-1-15.eu-west-1.compute.internal',
      ],
    });
  });

  test('an IPv6 address listed in two cases is one address', () => {
    const snap = toSnapshot(ec2Instance({
      Ipv6Address: '2A05:D018:ABC:1200::15',
      NetworkInterfaces: [{ Attachment: { DeviceIndex: 0 }, Ipv6Addresses: [{ Ipv6Address: '2a05:d018:abc:1200::15' }, { Ipv6Address: '2A05:D018:ABC:1200::16' }] }],
    }), []);
    expect(snap.ipv6s).toEqual(['2a05:d018:abc:1200::15', '2a05:d018:abc:1200::16']);
  });

  test('the interfaces are read in device order, whatever order EC2 lists them in', () => {
    const snap = toSnapshot(ec2Instance({ PrivateIpAddress: undefined, PublicIpAddress: undefined, Ipv6Address: undefined }), []);
    expect(snap.privateIps).toEqual(['10.0.1.15', '10.0.1.16', '10.0.2.30', '10.0.2.31']);
    expect(snap.publicIps).toEqual(['54.154.10.20', '52.16.0.7', '34.240.1.2']);
    expect(snap.ipv6s).toEqual(['2a05:d018:abc:1200::15', '2a05:d018:abc:1200::16', '2a05:d018:abc:1201::30']);
  });

  test('three interfaces listed last device first are read in device order; one without an attachment counts as device 0', () => {
    const eni = (device: number | undefined, ip: string) => ({
      ...(device === undefined ? {} : { Attachment: { DeviceIndex: device } }), PrivateIpAddress: ip, PrivateIpAddresses: [{ PrivateIpAddress: ip }],
    });
    const listed = ec2Instance({
      PrivateIpAddress: undefined,
      PublicIpAddress: undefined,
      Ipv6Address: undefined,
      NetworkInterfaces: [eni(2, '10.0.3.1'), eni(1, '10.0.2.1'), eni(0, '10.0.1.1')],
    });
    expect(toSnapshot(listed, []).privateIps).toEqual(['10.0.1.1', '10.0.2.1', '10.0.3.1']);
    const detached = ec2Instance({ PrivateIpAddress: undefined, NetworkInterfaces: [eni(1, '10.0.2.1'), eni(undefined, '10.0.9.9')] });
    expect(toSnapshot(detached, []).privateIps).toEqual(['10.0.9.9', '10.0.2.1']);
    // in either position of the comparison
    const detachedFirst = ec2Instance({ PrivateIpAddress: undefined, NetworkInterfaces: [eni(undefined, '10.0.9.9'), eni(1, '10.0.2.1')] });
    expect(toSnapshot(detachedFirst, []).privateIps).toEqual(['10.0.9.9', '10.0.2.1']);
  });

  test('an instance without an id (never returned by EC2) is "unknown", not an empty id', () => {
    expect(toSnapshot({}, []).instanceId).toBe('unknown');
  });

  test('empty strings are no addresses', () => {
    const snap = toSnapshot(ec2Instance({ PublicIpAddress: '', PrivateIpAddress: '', NetworkInterfaces: [] }), []);
    expect(snap.publicIps).toEqual([]);
    expect(snap.privateIps).toEqual([]);
  });

  test('no templates: no record names', () => {
    expect(toSnapshot(ec2Instance(), []).recordNames).toEqual([]);
  });

  test('a template missing its tag renders nothing, the others still do', () => {
    expect(toSnapshot(ec2Instance({ Tags: [] }), ['{tag:Name}.example.com', '{instanceId}.example.com']).recordNames).toEqual(['i-0123456789abcdef0.example.com']);
  });

  test('a tag value that is no DNS label renders nothing', () => {
    expect(toSnapshot(ec2Instance({ Tags: [{ Key: 'Name', Value: 'web server 1' }] }), ['{tag:Name}.example.com']).recordNames).toEqual([]);
  });

  test('a terminated instance EC2 still lists: no addresses, no DNS names', () => {
    const snap = toSnapshot({
      InstanceId: 'i-0123456789abcdef0',
      State: { Code: 48, Name: 'terminated' },
      LaunchTime: LAUNCH,
      Placement: { AvailabilityZone: 'eu-west-1a' },
      PrivateDnsName: '',
      PublicDnsName: '',
      NetworkInterfaces: [],
      Tags: [{ Key: 'Name', Value: 'web-01' }],
    }, ['{tag:Name}.internal.example.com', '{privateIp}.example.com']);
    expect(snap).toEqual({
      instanceId: 'i-0123456789abcdef0',
      privateIps: [],
      publicIps: [],
      ipv6s: [],
      tags: { Name: 'web-01' },
      availabilityZone: 'eu-west-1a',
      launchTime: '2025-05-20T08:30:00.000Z',
      recordNames: ['web-01.internal.example.com'],
    });
    expect(snap.privateIp).toBeUndefined();
    expect(snap.privateDnsName).toBeUndefined();
    expect(snap.publicDnsName).toBeUndefined();
  });

  test('without PrivateIpAddress, the primary ENI\'s first address is the private IP', () => {
    const snap = toSnapshot(ec2Instance({ PrivateIpAddress: undefined }), ['{privateIp}.example.com']);
    expect(snap.privateIp).toBe('10.0.1.15');
    expect(snap.privateIps[0]).toBe('10.0.1.15');
    expect(snap.recordNames).toEqual(['10.0.1.15.example.com']);
  });

  test('a tag without a value is an empty string; a tag without a key is ignored', () => {
    expect(toSnapshot(ec2Instance({ Tags: [{ Key: 'Flag' }, { Value: 'orphan' }] }), []).tags).toEqual({ Flag: '' });
  });

  test('an instance outside an Auto Scaling group', () => {
    expect(toSnapshot(ec2Instance({ Tags: [{ Key: 'Name', Value: 'web-01' }] }), []).autoScalingGroupName).toBeUndefined();
  });
});

/** Serves DescribeInstances for the ids its instance-id filter names, `pageSize` instances a page. */
function serveInstances(fleet: Instance[], pageSize = 1000): DescribeInstancesCommandInput[] {
  const requests: DescribeInstancesCommandInput[] = [];
  ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
    requests.push(structuredClone(input));
    const wanted = input.Filters?.find((f) => f.Name === 'instance-id')?.Values ?? [];
    const source = fleet.filter((i) => wanted.includes(i.InstanceId!));
    const page = input.NextToken ? Number(/^tok-(\d+)$/.exec(input.NextToken)![1]) : 0;
    const slice = source.slice(page * pageSize, (page + 1) * pageSize);
    return {
      Reservations: slice.map((i, n) => ({ ReservationId: `r-${page}-${n}`, Instances: [i] })),
      NextToken: (page + 1) * pageSize < source.length ? `tok-${page + 1}` : undefined,
    };
  });
  return requests;
}

const idOf = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const fleetOf = (n: number, state = 'running') => Array.from({ length: n }, (_, i) => ec2Instance({
  InstanceId: idOf(i), State: { Name: state as 'running' }, Tags: [{ Key: 'Name', Value: `web-${i}` }],
}));

describe('describeInstances', () => {
  test('filters by instance-id (not InstanceIds), 1000 a page, and returns state and snapshot by id', async () => {
    const fleet = [...fleetOf(1), ec2Instance({ InstanceId: idOf(1), State: { Code: 32, Name: 'shutting-down' } })];
    const requests = serveInstances(fleet);
    const found = await describeInstances(ec2, [idOf(0), idOf(1)], ['{tag:Name}.internal.example.com']);
    expect(requests).toEqual([{ Filters: [{ Name: 'instance-id', Values: [idOf(0), idOf(1)] }], MaxResults: 1000 }]);
    expect(requests[0].InstanceIds).toBeUndefined();
    expect([...found.keys()]).toEqual([idOf(0), idOf(1)]);
    expect(found.get(idOf(0))).toEqual({ state: 'running', snapshot: toSnapshot(fleet[0], ['{tag:Name}.internal.example.com']) });
    expect(found.get(idOf(0))!.snapshot.recordNames).toEqual(['web-0.internal.example.com']);
    expect(found.get(idOf(1))!.state).toBe('shutting-down');
  });

  test('an id EC2 no longer knows is absent from the result, the others found', async () => {
    serveInstances(fleetOf(1));
    const found = await describeInstances(ec2, [idOf(0), 'i-0000000000000dead'], []);
    expect([...found.keys()]).toEqual([idOf(0)]);
  });

  test('ids in groups of 200: 450 ids, 3 calls', async () => {
    const ids = Array.from({ length: 450 }, (_, i) => idOf(i));
    const requests = serveInstances(fleetOf(450));
    const found = await describeInstances(ec2, ids, []);
    expect(requests.map((r) => r.Filters![0].Values!.length)).toEqual([200, 200, 50]);
    expect(requests.flatMap((r) => r.Filters![0].Values!)).toEqual(ids);
    expect(found.size).toBe(450);
  });

  test('walks every page (3 pages)', async () => {
    const requests = serveInstances(fleetOf(7), 3);
    const found = await describeInstances(ec2, fleetOf(7).map((i) => i.InstanceId!), []);
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-2']);
    for (const request of requests) expect(request.MaxResults).toBe(1000);
    expect([...found.keys()]).toEqual(fleetOf(7).map((i) => i.InstanceId));
  });

  test('duplicate ids are asked for once', async () => {
    const requests = serveInstances(fleetOf(2));
    await describeInstances(ec2, [idOf(0), idOf(1), idOf(0), idOf(1), idOf(0)], []);
    expect(requests).toHaveLength(1);
    expect(requests[0].Filters).toEqual([{ Name: 'instance-id', Values: [idOf(0), idOf(1)] }]);
  });

  test('201 ids of which one is repeated fit one call', async () => {
    const ids = [...Array.from({ length: 200 }, (_, i) => idOf(i)), idOf(0)];
    const requests = serveInstances([]);
    await describeInstances(ec2, ids, []);
    expect(requests).toHaveLength(1);
  });

  test('no ids: no call', async () => {
    const requests = serveInstances(fleetOf(1));
    expect((await describeInstances(ec2, [], [])).size).toBe(0);
    expect(requests).toHaveLength(0);
  });

  test('an instance without a state, and reservations without instances', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ ReservationId: 'r-empty' }, { ReservationId: 'r-1', Instances: [{ InstanceId: idOf(0) }, { PrivateIpAddress: '10.0.0.1' }] }],
    });
    const found = await describeInstances(ec2, [idOf(0)], []);
    expect([...found.keys()]).toEqual([idOf(0)]);
    expect(found.size).toBe(1);
    expect(found.get(idOf(0))!.state).toBe('unknown');
  });

  test('a throttled page is asked for again', async () => {
    const tokens: Array<string | undefined> = [];
    let call = 0;
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
      tokens.push(input.NextToken);
      call++;
      if (call === 1) return { Reservations: [{ Instances: [fleetOf(1)[0]] }], NextToken: 'tok-1' };
      if (call === 2) throw ec2Error('RequestLimitExceeded', 503);
      return { Reservations: [{ Instances: [fleetOf(2)[1]] }] };
    });
    const found = await describeInstances(ec2, [idOf(0), idOf(1)], []);
    expect([...found.keys()]).toEqual([idOf(0), idOf(1)]);
    expect(tokens).toEqual([undefined, 'tok-1', 'tok-1']);
  });

  test('a non-transient error is thrown', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    await expect(describeInstances(ec2, [idOf(0)], [])).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
  });
});
