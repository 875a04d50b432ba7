import { DescribeInstancesCommand, DescribeInstancesCommandInput, EC2Client, Instance } from '@aws-sdk/client-ec2';
import {
  ChangeResourceRecordSetsCommand, ChangeResourceRecordSetsCommandInput, InvalidChangeBatch, ListResourceRecordSetsCommand,
  ListResourceRecordSetsCommandInput, PriorRequestNotComplete, ResourceRecordSet, Route53Client, Route53ServiceException,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  applyRecordPlan, applyZoneChanges, findLiveHolders, InstanceDnsResult, isRoute53Retryable, listRecordSetsAt, listZoneRecordSets, lookupRecordSets,
  planDnsCleanup, ROUTE53_INTERVAL_MS, Route53CallOptions,
} from '../../../lambda/instance-decommissioner/dns';
import { planRecordChanges, PlannedChange, RecordPlan, SeenRecordSet, Zone } from '../../../lambda/instance-decommissioner/dns-plan';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';
import { createPacer } from '../../../lambda/shared/pace';
import { ec2Error, instantRetry } from '../helpers';

const r53Mock = mockClient(Route53Client);
const ec2Mock = mockClient(EC2Client);
beforeEach(() => {
  r53Mock.reset();
  ec2Mock.reset();
});

const route53 = new Route53Client({ region: 'us-east-1' });
const ec2 = new EC2Client({ region: 'eu-west-1' });
const FWD = 'Z0FORWARD';
const PUB = 'Z0PUBLIC';
const REV = 'Z0REVERSE';
const ZONES: Zone[] = [{ id: FWD, name: 'internal.example.com' }, { id: PUB, name: 'example.com' }, { id: REV, name: '10.in-addr.arpa' }];

/** No pacing and no retry delays: for the tests that are not about time. */
const FAST: Route53CallOptions = { pacer: createPacer({ intervalMs: 0 }), retry: instantRetry().options };

const snap = (instanceId: string, props: Partial<InstanceSnapshot> = {}): InstanceSnapshot => ({
  instanceId,
  privateIp: '10.0.1.5',
  privateIps: ['10.0.1.5'],
  publicIps: [],
  ipv6s: [],
  privateDnsName: 'ip-10-0-1-5.eu-west-1.compute.internal',
  tags: {},
  recordNames: ['web-1.internal.example.com'],
  ...props,
});
const set = (name: string, type: string, values: string[], props: Partial<ResourceRecordSet> = {}): ResourceRecordSet => ({
  Name: name, Type: type as ResourceRecordSet['Type'], TTL: 300, ResourceRecords: values.map((Value) => ({ Value })), ...props,
});

const r53Error = (name: string, message = `${name} (test)`) => new Route53ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
const invalidBatch = (message: string) => new InvalidChangeBatch({ $metadata: { httpStatusCode: 400 }, message, messages: [message] });
const notFound = (name: string) => invalidBatch(`[Tried to delete resource record set [name='${name}', type='A'] but it was not found]`);
const mismatch = (name: string) => invalidBatch(`[Tried to delete resource record set [name='${name}', type='A'] but the values provided do not match the current values]`);

/** Route 53's listing order: by name with the labels reversed, then type, then set identifier. */
const orderKey = (rs: ResourceRecordSet) => [rs.Name!.toLowerCase().replace(/\.$/, '').split('.').reverse().join('.'), rs.Type ?? '', rs.SetIdentifier ?? ''];
const compare = (a: string[], b: string[]) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
};

/** Serves ListResourceRecordSets from per-zone record sets the way Route 53 pages them; returns the requests. */
function serveZones(zones: Record<string, ResourceRecordSet[]>): ListResourceRecordSetsCommandInput[] {
  const requests: ListResourceRecordSetsCommandInput[] = [];
  const sorted = Object.fromEntries(Object.entries(zones).map(([id, sets]) => [id, [...sets].sort((a, b) => compare(orderKey(a), orderKey(b)))]));
  r53Mock.on(ListResourceRecordSetsCommand).callsFake(async (input: ListResourceRecordSetsCommandInput) => {
    requests.push(input);
    const sets = sorted[input.HostedZoneId!] ?? [];
    const start = input.StartRecordName === undefined
      ? undefined
      : orderKey({ Name: input.StartRecordName, Type: input.StartRecordType, SetIdentifier: input.StartRecordIdentifier });
    const from = start === undefined ? (sets.length > 0 ? 0 : -1) : sets.findIndex((rs) => compare(orderKey(rs), start) >= 0);
    const max = input.MaxItems ?? 300;
    const page = from < 0 ? [] : sets.slice(from, from + max);
    const next = from < 0 ? undefined : sets[from + max];
    return {
      ResourceRecordSets: page,
      IsTruncated: next !== undefined,
      MaxItems: max,
      ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type } : {}),
      ...(next?.SetIdentifier ? { NextRecordIdentifier: next.SetIdentifier } : {}),
    };
  });
  return requests;
}

function changeCalls(): ChangeResourceRecordSetsCommandInput[] {
  return r53Mock.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input);
}

const byId = (results: InstanceDnsResult[]) => new Map(results.map((r) => [r.instanceId, r]));

describe('listRecordSetsAt', () => {
  test('one call from the name on; the listing stops at the first set of another name', async () => {
    const requests = serveZones({
      [FWD]: [
        set('a.internal.example.com.', 'A', ['10.0.0.1']),
        set('web-1.internal.example.com.', 'A', ['10.0.1.5']),
        set('web-1.internal.example.com.', 'TXT', ['"x"']),
        set('web-2.internal.example.com.', 'A', ['10.0.1.6']),
      ],
    });
    const sets = await listRecordSetsAt(route53, FWD, 'web-1.internal.example.com', FAST);
    expect(sets.map((s) => [s.Name, s.Type])).toEqual([['web-1.internal.example.com.', 'A'], ['web-1.internal.example.com.', 'TXT']]);
    expect(requests).toEqual([{ HostedZoneId: FWD, StartRecordName: 'web-1.internal.example.com', MaxItems: 300 }]);
  });

  test('a name with 700 weighted sets is read over 3 pages, resuming at the type and identifier Route 53 names', async () => {
    const weighted = Array.from({ length: 700 }, (_, i) => set('api.example.com.', 'A', [`10.1.${Math.floor(i / 250)}.${i % 250}`], {
      SetIdentifier: `w-${String(i).padStart(4, '0')}`, Weight: 1,
    }));
    const requests = serveZones({ [PUB]: [...weighted, set('www.example.com.', 'A', ['10.9.9.9'])] });
    const sets = await listRecordSetsAt(route53, PUB, 'api.example.com.', FAST);
    expect(sets).toHaveLength(700);
    expect(new Set(sets.map((s) => s.SetIdentifier)).size).toBe(700);
    expect(requests).toEqual([
      { HostedZoneId: PUB, StartRecordName: 'api.example.com', MaxItems: 300 },
      { HostedZoneId: PUB, StartRecordName: 'api.example.com.', StartRecordType: 'A', StartRecordIdentifier: 'w-0300', MaxItems: 300 },
      { HostedZoneId: PUB, StartRecordName: 'api.example.com.', StartRecordType: 'A', StartRecordIdentifier: 'w-0600', MaxItems: 300 },
    ]);
  });

  test('a full page whose next set has another name ends the listing without another call', async () => {
    const weighted = Array.from({ length: 300 }, (_, i) => set('api.example.com.', 'A', ['10.0.0.1'], { SetIdentifier: `w-${String(i).padStart(4, '0')}`, Weight: 1 }));
    const requests = serveZones({ [PUB]: [...weighted, set('www.example.com.', 'A', ['10.9.9.9'])] });
    expect(await listRecordSetsAt(route53, PUB, 'api.example.com', FAST)).toHaveLength(300);
    expect(requests).toHaveLength(1);
  });

  test('a name with no sets: one call, nothing found (also at the end of the zone)', async () => {
    const requests = serveZones({ [FWD]: [set('zzz.internal.example.com.', 'A', ['10.0.0.1'])] });
    expect(await listRecordSetsAt(route53, FWD, 'web-1.internal.example.com', FAST)).toEqual([]);
    expect(await listRecordSetsAt(route53, FWD, 'zzzz.internal.example.com', FAST)).toEqual([]);
    expect(requests).toHaveLength(2);
  });

  test('names come back escaped and in any case: \\052 is the wildcard asked for', async () => {
    serveZones({ [FWD]: [set('\\052.web-1.internal.example.com.', 'A', ['10.0.1.5']), set('WEB-1.internal.example.com.', 'A', ['10.0.1.5'])] });
    expect(await listRecordSetsAt(route53, FWD, '*.web-1.internal.example.com', FAST)).toHaveLength(1);
    expect(await listRecordSetsAt(route53, FWD, 'web-1.internal.example.com', FAST)).toHaveLength(1);
  });

  test('a name given the way Route 53 lists it (\\052 escape, trailing dot) is asked for and matched unescaped', async () => {
    const requests = serveZones({ [FWD]: [set('\\052.web-1.internal.example.com.', 'A', ['10.0.1.5']), set('web-1.internal.example.com.', 'A', ['10.0.1.5'])] });
    const sets = await listRecordSetsAt(route53, FWD, '\\052.web-1.internal.example.com.', FAST);
    expect(sets.map((s) => s.Name)).toEqual(['\\052.web-1.internal.example.com.']);
    expect(requests).toEqual([{ HostedZoneId: FWD, StartRecordName: '*.web-1.internal.example.com', MaxItems: 300 }]);
  });

  test('a name outside the template syntax is still asked for in lower case, without its trailing dot', async () => {
    // `!` is no template character, so the name is not one comparableName accepts; Route 53 is asked
    // about it as given, only in its listing form.
    const requests = serveZones({ [FWD]: [set('web-1.internal.example.com.', 'A', ['10.0.1.5'])] });
    expect(await listRecordSetsAt(route53, FWD, 'Odd!Host.internal.example.com.', FAST)).toEqual([]);
    expect(requests).toEqual([{ HostedZoneId: FWD, StartRecordName: 'odd!host.internal.example.com', MaxItems: 300 }]);
  });

  test('an answer marked truncated that names no next record ends the listing with what was read', async () => {
    // Route 53 always names the next record of a truncated answer; without one there is nowhere to
    // resume, and the listing must neither fail nor start over.
    r53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [set('web-1.internal.example.com.', 'A', ['10.0.1.5'])], IsTruncated: true, MaxItems: 300,
    });
    const sets = await listRecordSetsAt(route53, FWD, 'web-1.internal.example.com', FAST);
    expect(sets.map((s) => [s.Name, s.Type])).toEqual([['web-1.internal.example.com.', 'A']]);
    expect(r53Mock).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 1);
  });

  test('a throttled page is asked again', async () => {
    r53Mock.on(ListResourceRecordSetsCommand)
      .rejectsOnce(r53Error('Throttling', 'Rate exceeded'))
      .resolves({ ResourceRecordSets: [set('web-1.internal.example.com.', 'A', ['10.0.1.5'])], IsTruncated: false, MaxItems: 300 });
    expect(await listRecordSetsAt(route53, FWD, 'web-1.internal.example.com', FAST)).toHaveLength(1);
    expect(r53Mock).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 2);
  });
});

describe('listZoneRecordSets', () => {
  test('a whole zone over 3+ pages, each resuming where Route 53 says', async () => {
    const sets = Array.from({ length: 650 }, (_, i) => set(`h${String(i).padStart(4, '0')}.example.com.`, 'A', ['10.0.0.1']));
    const weighted = Array.from({ length: 3 }, (_, i) => set('api.example.com.', 'A', ['10.0.0.2'], { SetIdentifier: `w${i}`, Weight: 1 }));
    const requests = serveZones({ [PUB]: [...sets, ...weighted] });
    const listed = await listZoneRecordSets(route53, PUB, FAST);
    expect(listed).toHaveLength(653);
    expect(new Set(listed.map((s) => `${s.Name} ${s.SetIdentifier ?? ''}`)).size).toBe(653);
    expect(requests.map((r) => [r.StartRecordName, r.StartRecordType, r.StartRecordIdentifier])).toEqual([
      [undefined, undefined, undefined], ['h0297.example.com.', 'A', undefined], ['h0597.example.com.', 'A', undefined],
    ]);
    expect(requests.every((r) => r.HostedZoneId === PUB && r.MaxItems === 300)).toBe(true);
  });

  test('an answer marked truncated that names no next record ends the sweep: no restart from the top of the zone', async () => {
    // Without a next record name there is no StartRecordName to send; a request without one would
    // list the zone from its first record again, and again.
    r53Mock.on(ListResourceRecordSetsCommand)
      .resolvesOnce({ ResourceRecordSets: [set('a.example.com.', 'A', ['10.0.0.1']), set('b.example.com.', 'A', ['10.0.0.2'])], IsTruncated: true, MaxItems: 2 })
      .rejects(r53Error('AccessDenied', 'a second request was sent'));
    const listed = await listZoneRecordSets(route53, PUB, FAST);
    expect(listed.map((s) => s.Name)).toEqual(['a.example.com.', 'b.example.com.']);
    expect(r53Mock).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 1);
  });

  test('an answer without a ResourceRecordSets list adds no record set', async () => {
    // The SDK's output type leaves the list optional: its absence is an empty page, not an entry.
    r53Mock.on(ListResourceRecordSetsCommand).resolves({ IsTruncated: false, MaxItems: 300 });
    expect(await listZoneRecordSets(route53, PUB, FAST)).toEqual([]);
  });

  test('an empty zone: one call', async () => {
    const requests = serveZones({ [PUB]: [] });
    expect(await listZoneRecordSets(route53, PUB, FAST)).toEqual([]);
    expect(requests).toHaveLength(1);
  });
});

describe('lookupRecordSets', () => {
  test('each (zone, name) listed once for the batch: template names in forward zones, reverse names in reverse zones', async () => {
    const requests = serveZones({
      [FWD]: [set('web.internal.example.com.', 'A', ['10.0.1.5', '10.0.1.6'])],
      [PUB]: [],
      [REV]: [set('5.1.0.10.in-addr.arpa.', 'PTR', ['web.internal.example.com.'])],
    });
    const a = snap('i-a', { recordNames: ['web.internal.example.com'] });
    const b = snap('i-b', { privateIps: ['10.0.1.6'], recordNames: ['web.internal.example.com'] });
    const { recordSets, failures } = await lookupRecordSets(route53, [a, b], ZONES, FAST);
    expect(requests.map((r) => [r.HostedZoneId, r.StartRecordName])).toEqual([
      [FWD, 'web.internal.example.com'], [PUB, 'web.internal.example.com'], [REV, '5.1.0.10.in-addr.arpa'], [REV, '6.1.0.10.in-addr.arpa'],
    ]);
    expect(recordSets.map((s) => [s.zoneId, s.recordSet.Name])).toEqual([[FWD, 'web.internal.example.com.'], [REV, '5.1.0.10.in-addr.arpa.']]);
    expect(failures).toEqual([]);
  });

  test('a name that cannot be listed fails its instances; the other names are still listed', async () => {
    r53Mock.on(ListResourceRecordSetsCommand).callsFake(async (input: ListResourceRecordSetsCommandInput) => {
      if (input.HostedZoneId === REV) throw r53Error('AccessDenied', 'not authorized on the reverse zone');
      return { ResourceRecordSets: [], IsTruncated: false, MaxItems: 300 };
    });
    const { failures } = await lookupRecordSets(route53, [snap('i-a'), snap('i-b', { privateIps: ['10.0.2.2'], recordNames: [] })], ZONES, FAST);
    expect(failures).toEqual([
      { zoneId: REV, name: '5.1.0.10.in-addr.arpa', instanceIds: ['i-a'], errorCode: 'AccessDenied', errorMessage: 'not authorized on the reverse zone' },
      { zoneId: REV, name: '2.2.0.10.in-addr.arpa', instanceIds: ['i-b'], errorCode: 'AccessDenied', errorMessage: 'not authorized on the reverse zone' },
    ]);
    expect(r53Mock).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 4);
  });
});

describe('findLiveHolders', () => {
  const instance = (InstanceId: string, props: Partial<Instance> = {}): Instance => ({ InstanceId, State: { Name: 'running' }, ...props });
  const describeInputs = () => ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);

  test('no addresses, no call', async () => {
    expect(await findLiveHolders(ec2, [])).toEqual(new Map());
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 0);
  });

  test('IPv4 by every private address of every interface and by public address, IPv6 by interface address; live states only', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await findLiveHolders(ec2, ['10.0.1.5', '2001:db8::1', '54.1.2.3', '10.0.1.5']);
    const live = { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] };
    expect(describeInputs()).toEqual([
      { Filters: [{ Name: 'network-interface.addresses.private-ip-address', Values: ['10.0.1.5', '54.1.2.3'] }, live], MaxResults: 1000 },
      { Filters: [{ Name: 'ip-address', Values: ['10.0.1.5', '54.1.2.3'] }, live], MaxResults: 1000 },
      { Filters: [{ Name: 'network-interface.ipv6-addresses.ipv6-address', Values: ['2001:db8::1'] }, live], MaxResults: 1000 },
    ]);
  });

  test('values in chunks of 200 per filter', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const addresses = Array.from({ length: 450 }, (_, i) => `10.0.${Math.floor(i / 200)}.${i % 200}`);
    await findLiveHolders(ec2, addresses);
    expect(describeInputs().map((i) => [i.Filters![0].Name, i.Filters![0].Values!.length])).toEqual([
      ['network-interface.addresses.private-ip-address', 200], ['ip-address', 200],
      ['network-interface.addresses.private-ip-address', 200], ['ip-address', 200],
      ['network-interface.addresses.private-ip-address', 50], ['ip-address', 50],
    ]);
  });

  test('the holder of each address is read from the instances, over every page', async () => {
    const tokens: Array<string | undefined> = [];
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
      const filter = input.Filters![0].Name;
      if (filter === 'network-interface.addresses.private-ip-address') tokens.push(input.NextToken);
      if (filter === 'network-interface.addresses.private-ip-address') {
        if (!input.NextToken) return { Reservations: [{ Instances: [instance('i-primary', { PrivateIpAddress: '10.0.1.5' })] }], NextToken: 'p2' };
        if (input.NextToken === 'p2') {
          return {
            Reservations: [{
              Instances: [instance('i-secondary', {
                PrivateIpAddress: '10.0.7.7',
                NetworkInterfaces: [{ PrivateIpAddress: '10.0.7.7', PrivateIpAddresses: [{ PrivateIpAddress: '10.0.7.7' }, { PrivateIpAddress: '10.0.1.9' }] }],
              })],
            }],
            NextToken: 'p3',
          };
        }
        return { Reservations: [{ Instances: [instance('i-unrelated', { PrivateIpAddress: '10.0.8.8' })] }] };
      }
      if (filter === 'ip-address') {
        return { Reservations: [{ Instances: [instance('i-eip', { NetworkInterfaces: [{ PrivateIpAddresses: [{ PrivateIpAddress: '10.0.5.5', Association: { PublicIp: '54.1.2.3' } }] }] })] }] };
      }
      return { Reservations: [{ Instances: [instance('i-v6', { NetworkInterfaces: [{ Ipv6Addresses: [{ Ipv6Address: '2001:db8:0:0::1' }] }] })] }] };
    });
    const holders = await findLiveHolders(ec2, ['10.0.1.5', '10.0.1.9', '54.1.2.3', '10.0.4.4', '2001:db8::1']);
    expect(holders).toEqual(new Map([['10.0.1.5', 'i-primary'], ['10.0.1.9', 'i-secondary'], ['54.1.2.3', 'i-eip'], ['2001:db8::1', 'i-v6']]));
    expect(tokens).toEqual([undefined, 'p2', 'p3']);
  });

  test('values that are not IP addresses are not asked about', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // A record value that is a name (a CNAME's target) or empty is no address an instance can hold.
    expect(await findLiveHolders(ec2, ['web.internal.example.com', ''])).toEqual(new Map());
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 0);
    await findLiveHolders(ec2, ['web.internal.example.com', '10.0.1.5']);
    expect(describeInputs().map((i) => [i.Filters![0].Name, i.Filters![0].Values])).toEqual([
      ['network-interface.addresses.private-ip-address', ['10.0.1.5']], ['ip-address', ['10.0.1.5']],
    ]);
  });

  test('a page throttled mid-listing is asked again from its own token, not from the first page', async () => {
    const tokens: Array<string | undefined> = [];
    let throttled = false;
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
      if (input.Filters![0].Name !== 'network-interface.addresses.private-ip-address') return { Reservations: [] };
      tokens.push(input.NextToken);
      if (!input.NextToken) return { Reservations: [{ Instances: [instance('i-one', { PrivateIpAddress: '10.0.1.5' })] }], NextToken: 'p2' };
      if (!throttled) {
        throttled = true;
        throw ec2Error('RequestLimitExceeded', 503);
      }
      return { Reservations: [{ Instances: [instance('i-two', { PrivateIpAddress: '10.0.1.6' })] }] };
    });
    const holders = await findLiveHolders(ec2, ['10.0.1.5', '10.0.1.6'], instantRetry().options);
    expect(holders).toEqual(new Map([['10.0.1.5', 'i-one'], ['10.0.1.6', 'i-two']]));
    expect(tokens).toEqual([undefined, 'p2', 'p2']);
  });

  test('a describe refused for good is thrown: no one can say who holds the addresses', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    await expect(findLiveHolders(ec2, ['10.0.1.5'], instantRetry().options)).rejects.toThrow('UnauthorizedOperation');
  });
});

describe('planDnsCleanup', () => {
  test('lists, asks EC2 only about the addresses that decide, and plans', async () => {
    serveZones({
      [FWD]: [set('web.internal.example.com.', 'A', ['10.0.1.5', '10.0.1.6', '10.0.2.2'])],
      [PUB]: [],
      [REV]: [set('5.1.0.10.in-addr.arpa.', 'PTR', ['web.internal.example.com.']), set('6.1.0.10.in-addr.arpa.', 'PTR', ['db.internal.example.com.'])],
    });
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => (input.Filters![0].Name === 'ip-address'
      ? { Reservations: [] }
      : { Reservations: [{ Instances: [{ InstanceId: 'i-new', PrivateIpAddress: '10.0.1.6' }] }] }));
    const a = snap('i-a', { recordNames: ['web.internal.example.com'] });
    const b = snap('i-b', { privateIps: ['10.0.1.6'], recordNames: ['web.internal.example.com'] });
    const { plan, failures } = await planDnsCleanup(route53, ec2, [a, b], ZONES, { route53: FAST, ec2Retry: instantRetry().options });
    expect(failures).toEqual([]);
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0].args[0].input.Filters![0].Values).toEqual(['10.0.1.5', '10.0.1.6']);
    expect(plan.changes.map((c) => [c.zoneId, c.name, c.kind, c.instanceIds])).toEqual([
      [FWD, 'web.internal.example.com', 'SHRINK', ['i-a']],
      [REV, '5.1.0.10.in-addr.arpa', 'DELETE', ['i-a']],
    ]);
    expect(plan.kept.map((k) => [k.instanceId, k.value, k.reason])).toEqual([
      ['i-b', '10.0.1.6', 'reused by i-new'],
      ['i-b', 'db.internal.example.com.', 'points at db.internal.example.com, not at this instance'],
    ]);
  });

  test('an instance whose names could not all be listed is left out of the plan and reported', async () => {
    r53Mock.on(ListResourceRecordSetsCommand).callsFake(async (input: ListResourceRecordSetsCommandInput) => {
      if (input.StartRecordName === 'b.internal.example.com' && input.HostedZoneId === FWD) throw r53Error('NoSuchHostedZone');
      const name = `${input.StartRecordName}.`;
      return { ResourceRecordSets: [set(name, 'A', ['10.0.1.5', '10.0.1.6'])], IsTruncated: false, MaxItems: 300 };
    });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const a = snap('i-a', { recordNames: ['a.internal.example.com'] });
    const b = snap('i-b', { privateIps: ['10.0.1.6'], recordNames: ['b.internal.example.com'] });
    const { plan, failures } = await planDnsCleanup(route53, ec2, [a, b], [ZONES[0]], { route53: FAST });
    expect(failures).toMatchObject([{ instanceIds: ['i-b'], errorCode: 'NoSuchHostedZone' }]);
    expect(plan.changes.map((c) => [c.name, c.instanceIds])).toEqual([['a.internal.example.com', ['i-a']]]);
  });

  test('EC2 cannot say who holds the addresses: nothing is planned and every instance is reported', async () => {
    serveZones({ [FWD]: [set('web-1.internal.example.com.', 'A', ['10.0.1.5'])] });
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    const { plan, failures } = await planDnsCleanup(route53, ec2, [snap('i-a'), snap('i-b', { recordNames: [] })], [ZONES[0]], { route53: FAST });
    expect(plan).toEqual({ changes: [], kept: [] });
    expect(failures).toMatchObject([{ instanceIds: ['i-a', 'i-b'], errorCode: 'UnauthorizedOperation' }]);
    expect(failures[0].zoneId).toBeUndefined();
  });

  test('no address to ask about: no EC2 call', async () => {
    serveZones({ [FWD]: [set('web-1.internal.example.com.', 'A', ['10.0.1.5'], { SetIdentifier: 'i-a', Weight: 1 })] });
    const { plan } = await planDnsCleanup(route53, ec2, [snap('i-a')], [ZONES[0]], { route53: FAST });
    expect(plan.changes).toHaveLength(1);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 0);
  });
});

describe('applyZoneChanges and applyRecordPlan', () => {
  /** One single-value A record per instance, planned as the planner does. */
  const planFor = (ids: string[], zoneId = FWD): PlannedChange[] => {
    const snapshots = ids.map((id, i) => snap(id, { privateIps: [`10.2.${Math.floor(i / 250)}.${i % 250}`], recordNames: [`${id}.internal.example.com`] }));
    const sets: SeenRecordSet[] = snapshots.map((s) => ({ zoneId, recordSet: set(`${s.instanceId}.internal.example.com.`, 'A', [s.privateIps[0]]) }));
    return planRecordChanges(sets, snapshots, new Map()).changes;
  };
  const namesIn = (input: ChangeResourceRecordSetsCommandInput) => input.ChangeBatch!.Changes!.map((c) => c.ResourceRecordSet!.Name);

  test('several instances in two zones: one call per zone, every change in it, each instance DONE', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: 'C1', Status: 'PENDING', SubmittedAt: new Date() } });
    const plan: RecordPlan = { changes: [...planFor(['i-a', 'i-b', 'i-c']), ...planFor(['i-d', 'i-e'], PUB)], kept: [] };
    const results = await applyRecordPlan(route53, plan, FAST);
    const calls = changeCalls();
    expect(calls.map((c) => [c.HostedZoneId, namesIn(c)])).toEqual([
      [FWD, ['i-a.internal.example.com.', 'i-b.internal.example.com.', 'i-c.internal.example.com.']],
      [PUB, ['i-d.internal.example.com.', 'i-e.internal.example.com.']],
    ]);
    expect(calls[0].ChangeBatch!.Comment).toBe('cdk-fleet-janitor instance-decommissioner: i-a i-b i-c');
    expect(calls[0].ChangeBatch!.Changes!.every((c) => c.Action === 'DELETE')).toBe(true);
    expect(results.map((r) => [r.instanceId, r.ok, r.changes.length])).toEqual([['i-a', true, 1], ['i-b', true, 1], ['i-c', true, 1], ['i-d', true, 1], ['i-e', true, 1]]);
  });

  test('an instance with records in two zones is DONE only when both are', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (input.HostedZoneId === PUB) throw r53Error('AccessDenied');
      return {};
    });
    const results = byId(await applyRecordPlan(route53, { changes: [...planFor(['i-a', 'i-b']), ...planFor(['i-a'], PUB)], kept: [] }, FAST));
    expect(results.get('i-a')).toMatchObject({ ok: false, errorCode: 'AccessDenied' });
    expect(results.get('i-a')!.changes.map((c) => c.ok)).toEqual([true, false]);
    expect(results.get('i-b')).toMatchObject({ ok: true });
  });

  test('1,500 records: two calls of 1,000 and 500', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({});
    const ids = Array.from({ length: 1_500 }, (_, i) => `i-${String(i).padStart(5, '0')}`);
    const results = await applyZoneChanges(route53, FWD, planFor(ids), FAST);
    expect(changeCalls().map((c) => c.ChangeBatch!.Changes!.length)).toEqual([1_000, 500]);
    expect(changeCalls()[0].ChangeBatch!.Comment!.length).toBeLessThanOrEqual(256);
    expect(results.filter((r) => r.ok)).toHaveLength(1_500);
  });

  test('a DELETE+CREATE pair is never split across calls', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({});
    const ids = Array.from({ length: 999 }, (_, i) => `i-${String(i).padStart(5, '0')}`);
    const pair = planRecordChanges(
      [{ zoneId: FWD, recordSet: set('web.internal.example.com.', 'A', ['10.3.0.1', '10.3.0.2']) }],
      [snap('i-pair', { privateIps: ['10.3.0.1'], recordNames: ['web.internal.example.com'] })], new Map(),
    ).changes;
    await applyZoneChanges(route53, FWD, [...planFor(ids), ...pair], FAST);
    const calls = changeCalls();
    expect(calls.map((c) => c.ChangeBatch!.Changes!.length)).toEqual([999, 2]);
    expect(calls[1].ChangeBatch!.Changes!.map((c) => c.Action)).toEqual(['DELETE', 'CREATE']);
  });

  test('a batch refused because of one instance\'s record: resent instance by instance, that one fails alone', async () => {
    const bad = 'i-b.internal.example.com.';
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (namesIn(input).includes(bad)) throw mismatch(bad);
      return {};
    });
    const results = byId(await applyZoneChanges(route53, FWD, planFor(['i-a', 'i-b', 'i-c']), FAST));
    expect(changeCalls().map(namesIn)).toEqual([
      ['i-a.internal.example.com.', bad, 'i-c.internal.example.com.'], ['i-a.internal.example.com.'], [bad], ['i-c.internal.example.com.'],
    ]);
    expect(results.get('i-b')).toMatchObject({ ok: false, errorCode: 'InvalidChangeBatch', errorMessage: expect.stringContaining('do not match') });
    expect(results.get('i-a')).toMatchObject({ ok: true });
    expect(results.get('i-c')).toMatchObject({ ok: true });
  });

  test('a record already gone (deleted by someone else) counts as done', async () => {
    const gone = 'i-b.internal.example.com.';
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (namesIn(input).includes(gone)) throw notFound(gone);
      return {};
    });
    const results = byId(await applyZoneChanges(route53, FWD, planFor(['i-a', 'i-b']), FAST));
    expect(results.get('i-b')).toMatchObject({ ok: true, changes: [{ ok: true, alreadyGone: true }] });
    expect(results.get('i-a')).toMatchObject({ ok: true, changes: [{ ok: true }] });
    expect(results.get('i-a')!.changes[0].alreadyGone).toBeUndefined();
    expect(changeCalls()).toHaveLength(3);
  });

  test('"not found" for a batch of one instance alone is already gone too, with no second call', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(notFound('i-a.internal.example.com.'));
    const results = await applyZoneChanges(route53, FWD, planFor(['i-a']), FAST);
    expect(results).toMatchObject([{ instanceId: 'i-a', ok: true, changes: [{ alreadyGone: true }] }]);
    expect(changeCalls()).toHaveLength(1);
  });

  test('an instance with two records, one of them gone: resent record by record, the other one done', async () => {
    const snapshot = snap('i-a', { privateIps: ['10.0.1.5'], ipv6s: ['2001:db8::1'] });
    const changes = planRecordChanges([
      { zoneId: FWD, recordSet: set('web-1.internal.example.com.', 'A', ['10.0.1.5']) },
      { zoneId: FWD, recordSet: set('web-1.internal.example.com.', 'AAAA', ['2001:db8::1']) },
    ], [snapshot], new Map()).changes;
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (input.ChangeBatch!.Changes!.some((c) => c.ResourceRecordSet!.Type === 'A')) throw notFound('web-1.internal.example.com.');
      return {};
    });
    const [result] = await applyZoneChanges(route53, FWD, changes, FAST);
    expect(result.ok).toBe(true);
    expect(result.changes.map((c) => [c.change.type, c.ok, c.alreadyGone === true])).toEqual([['A', true, true], ['AAAA', true, false]]);
    expect(changeCalls().map((c) => c.ChangeBatch!.Changes!.length)).toEqual([2, 1, 1]);
  });

  test('instances sharing a refused record fail together; the others are done', async () => {
    const a = snap('i-a', { recordNames: ['web.internal.example.com'] });
    const b = snap('i-b', { privateIps: ['10.0.1.6'], recordNames: ['web.internal.example.com'] });
    const c = snap('i-c', { privateIps: ['10.0.1.7'], recordNames: ['c.internal.example.com'] });
    const changes = planRecordChanges([
      { zoneId: FWD, recordSet: set('web.internal.example.com.', 'A', ['10.0.1.5', '10.0.1.6', '10.0.9.9']) },
      { zoneId: FWD, recordSet: set('c.internal.example.com.', 'A', ['10.0.1.7']) },
    ], [a, b, c], new Map()).changes;
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (namesIn(input).includes('web.internal.example.com.')) throw mismatch('web.internal.example.com.');
      return {};
    });
    const results = byId(await applyZoneChanges(route53, FWD, changes, FAST));
    expect([...results].map(([id, r]) => [id, r.ok])).toEqual([['i-a', false], ['i-b', false], ['i-c', true]]);
    // the batch, then the shared group (its DELETE+CREATE together), then i-c's
    expect(changeCalls().map((x) => x.ChangeBatch!.Changes!.map((ch) => ch.Action))).toEqual([['DELETE', 'CREATE', 'DELETE'], ['DELETE', 'CREATE'], ['DELETE']]);
  });

  test('InvalidInput because of one instance\'s record is about that record too: resent instance by instance, that one fails alone', async () => {
    const bad = 'i-b.internal.example.com.';
    // Its "not found" is about the health check the record names, not the record set: only an
    // InvalidChangeBatch "not found" says the record set is already gone.
    const refusal = r53Error('InvalidInput', `Invalid request: health check 3f1e of ${bad} not found`);
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (namesIn(input).includes(bad)) throw refusal;
      return {};
    });
    const results = byId(await applyZoneChanges(route53, FWD, planFor(['i-a', 'i-b', 'i-c']), FAST));
    expect(changeCalls().map(namesIn)).toEqual([
      ['i-a.internal.example.com.', bad, 'i-c.internal.example.com.'], ['i-a.internal.example.com.'], [bad], ['i-c.internal.example.com.'],
    ]);
    expect(results.get('i-b')).toMatchObject({ ok: false, errorCode: 'InvalidInput', errorMessage: refusal.message });
    expect(results.get('i-b')!.changes[0].alreadyGone).toBeUndefined();
    expect(results.get('i-a')).toMatchObject({ ok: true });
    expect(results.get('i-c')).toMatchObject({ ok: true });
  });

  test('an error not about a record while resending record by record is a failure, not a record already gone', async () => {
    const snapshot = snap('i-a', { ipv6s: ['2001:db8::1'] });
    const changes = planRecordChanges([
      { zoneId: FWD, recordSet: set('web-1.internal.example.com.', 'A', ['10.0.1.5']) },
      { zoneId: FWD, recordSet: set('web-1.internal.example.com.', 'AAAA', ['2001:db8::1']) },
    ], [snapshot], new Map()).changes;
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (input.ChangeBatch!.Changes!.length > 1) throw mismatch('web-1.internal.example.com.');
      throw r53Error('NoSuchHostedZone', `No hosted zone found with ID: ${FWD}`);
    });
    const [result] = await applyZoneChanges(route53, FWD, changes, FAST);
    // the batch, then the first record alone; the zone's error stops the resends
    expect(changeCalls().map((c) => c.ChangeBatch!.Changes!.length)).toEqual([2, 1]);
    expect(result).toMatchObject({ ok: false, errorCode: 'NoSuchHostedZone' });
    expect(result.changes.map((c) => [c.change.type, c.ok, c.errorCode, c.alreadyGone])).toEqual([
      ['A', false, 'NoSuchHostedZone', undefined], ['AAAA', false, 'NoSuchHostedZone', undefined],
    ]);
  });

  test('an error not about a record (access denied) fails everything without a call per instance, nor for later chunks', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(r53Error('AccessDenied', 'not authorized'));
    const ids = Array.from({ length: 1_200 }, (_, i) => `i-${String(i).padStart(5, '0')}`);
    const results = await applyZoneChanges(route53, FWD, planFor(ids), FAST);
    expect(changeCalls()).toHaveLength(1);
    expect(results.every((r) => !r.ok && r.errorCode === 'AccessDenied')).toBe(true);
  });

  test('an error not about a record while resending one by one stops the resends: the rest fail with it', async () => {
    let calls = 0;
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async () => {
      calls++;
      if (calls === 1) throw mismatch('i-a.internal.example.com.');
      throw r53Error('AccessDenied', 'not authorized');
    });
    const results = await applyZoneChanges(route53, FWD, planFor(['i-a', 'i-b', 'i-c']), FAST);
    expect(changeCalls()).toHaveLength(2);
    expect(results.map((r) => [r.instanceId, r.ok, r.errorCode])).toEqual([['i-a', false, 'AccessDenied'], ['i-b', false, 'AccessDenied'], ['i-c', false, 'AccessDenied']]);
  });

  test('a group refused record by record after a batch refusal: only its refused record fails', async () => {
    const snapshot = snap('i-a', { ipv6s: ['2001:db8::1'] });
    const changes = [
      ...planRecordChanges([
        { zoneId: FWD, recordSet: set('web-1.internal.example.com.', 'A', ['10.0.1.5']) },
        { zoneId: FWD, recordSet: set('web-1.internal.example.com.', 'AAAA', ['2001:db8::1']) },
      ], [snapshot], new Map()).changes,
      ...planFor(['i-b']),
    ];
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      if (input.ChangeBatch!.Changes!.some((c) => c.ResourceRecordSet!.Type === 'AAAA')) throw mismatch('web-1.internal.example.com.');
      return {};
    });
    const results = byId(await applyZoneChanges(route53, FWD, changes, FAST));
    // the batch; i-a's group, then its two records alone; i-b's group
    expect(changeCalls().map((c) => c.ChangeBatch!.Changes!.length)).toEqual([3, 2, 1, 1, 1]);
    expect(results.get('i-a')!.changes.map((c) => [c.change.type, c.ok])).toEqual([['A', true], ['AAAA', false]]);
    expect(results.get('i-a')).toMatchObject({ ok: false, errorCode: 'InvalidChangeBatch' });
    expect(results.get('i-b')).toMatchObject({ ok: true });
  });

  test('throttling and PriorRequestNotComplete are retried with the same batch', async () => {
    const retry = instantRetry();
    r53Mock.on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(r53Error('Throttling', 'Rate exceeded'))
      .rejectsOnce(new PriorRequestNotComplete({ $metadata: { httpStatusCode: 400 }, message: 'still processing a prior request' }))
      .resolves({});
    const results = await applyZoneChanges(route53, FWD, planFor(['i-a', 'i-b']), { ...FAST, retry: retry.options });
    const calls = changeCalls();
    expect(calls).toHaveLength(3);
    expect(calls[1]).toEqual(calls[0]);
    expect(calls[2]).toEqual(calls[0]);
    expect(retry.delays).toHaveLength(2);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  test('throttled through every retry: the instances fail with Throttling, and no one-by-one calls follow', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(r53Error('Throttling', 'Rate exceeded'));
    const results = await applyZoneChanges(route53, FWD, planFor(['i-a', 'i-b']), { ...FAST, retry: instantRetry(3).options });
    expect(changeCalls()).toHaveLength(3);
    expect(results.map((r) => r.errorCode)).toEqual(['Throttling', 'Throttling']);
  });

  test('isRoute53Retryable', () => {
    expect(isRoute53Retryable(r53Error('Throttling'))).toBe(true);
    expect(isRoute53Retryable(r53Error('PriorRequestNotComplete'))).toBe(true);
    expect(isRoute53Retryable(invalidBatch('x'))).toBe(false);
    expect(isRoute53Retryable(r53Error('AccessDenied'))).toBe(false);
  });

  test('no changes, no call', async () => {
    expect(await applyZoneChanges(route53, FWD, [], FAST)).toEqual([]);
    expect(await applyRecordPlan(route53, { changes: [], kept: [] }, FAST)).toEqual([]);
    expect(changeCalls()).toHaveLength(0);
  });
});

describe('pacing: Route 53 allows 5 requests per second per account', () => {
  test('every call, retries and fallbacks included, starts at least 200 ms after the one before by the clock', async () => {
    let t = 1_000_000;
    const sleeps: number[] = [];
    const times: number[] = [];
    const pacer = createPacer({ intervalMs: ROUTE53_INTERVAL_MS, clock: () => t, sleep: async (ms) => { sleeps.push(ms); t += ms; } });
    const options: Route53CallOptions = { pacer, retry: instantRetry().options };
    let listed = 0;
    r53Mock.on(ListResourceRecordSetsCommand).callsFake(async (input: ListResourceRecordSetsCommandInput) => {
      times.push(t);
      t += 30; // a call takes 30 ms
      if (++listed === 2) throw r53Error('Throttling');
      const address = input.StartRecordName!.startsWith('a.') ? '10.0.1.5' : '10.0.1.6';
      return { ResourceRecordSets: [set(`${input.StartRecordName}.`, 'A', [address])], IsTruncated: false, MaxItems: 300 };
    });
    r53Mock.on(ChangeResourceRecordSetsCommand).callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
      times.push(t);
      t += 250; // slower than the interval: the next call needs no wait
      if (input.ChangeBatch!.Changes!.length > 1) throw mismatch('x');
      return {};
    });
    const snapshots = [snap('i-a', { recordNames: ['a.internal.example.com'] }), snap('i-b', { privateIps: ['10.0.1.6'], recordNames: ['b.internal.example.com'] })];
    const { recordSets } = await lookupRecordSets(route53, snapshots, [ZONES[0]], options);
    const plan = planRecordChanges(recordSets, snapshots, new Map());
    await applyZoneChanges(route53, FWD, plan.changes, options);

    // 2 lookups + 1 throttled retry, then the batch and its 2 one-by-one resends
    expect(times).toHaveLength(6);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(ROUTE53_INTERVAL_MS);
    expect(sleeps).toEqual([170, 170, 170]);
  });

  test('by default every call of the container goes through the shared pacer (real clock)', async () => {
    const times: number[] = [];
    r53Mock.on(ListResourceRecordSetsCommand).callsFake(async () => {
      times.push(Date.now());
      return { ResourceRecordSets: [], IsTruncated: false, MaxItems: 300 };
    });
    // The time is taken after the SDK's middleware, whose first pass in a client (credentials,
    // endpoint) is slower than later ones: a first call would shrink the gap to the second.
    await listRecordSetsAt(route53, FWD, 'warm.internal.example.com');
    times.length = 0;
    await Promise.all([
      listRecordSetsAt(route53, FWD, 'a.internal.example.com'),
      listRecordSetsAt(route53, FWD, 'b.internal.example.com'),
      listRecordSetsAt(route53, FWD, 'c.internal.example.com'),
    ]);
    expect(times).toHaveLength(3);
    // setTimeout may fire a millisecond early by Date.now's rounding
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(ROUTE53_INTERVAL_MS - 2);
  });
});
