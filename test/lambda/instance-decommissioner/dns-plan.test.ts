import type { ResourceRecordSet } from '@aws-sdk/client-route-53';
import {
  addressesToCheck, CHANGE_BATCH_LIMITS, chunkGroups, comparableName, groupChanges, groupCost, namesToLookUp, planRecordChanges, PlannedChange,
  SeenRecordSet, unescapeName, Zone, zoneFor,
} from '../../../lambda/instance-decommissioner/dns-plan';
import { addressInDnsName, canonicalAddress, expandIPv6, isReverseZoneName, reverseName } from '../../../lambda/instance-decommissioner/reverse';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';

const FWD = 'Z0FORWARD';
const REV = 'Z0REVERSE';
const REV6 = 'Z0REVERSE6';

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
const seen = (recordSet: ResourceRecordSet, zoneId = FWD): SeenRecordSet => ({ zoneId, recordSet });
const NO_LIVE = new Map<string, string>();
const plan = (sets: SeenRecordSet[], snapshots: InstanceSnapshot[], live: ReadonlyMap<string, string> = NO_LIVE) => {
  return planRecordChanges(sets, snapshots, live);
};

describe('planRecordChanges: the reconcile sweep claims an address at any name', () => {
  const other = set('legacy-alias.internal.example.com.', 'A', ['10.0.1.5', '10.0.9.9']);

  test('an event\'s plan (default scope) leaves an A value at a name the templates do not render', () => {
    expect(plan([seen(other)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
    expect(addressesToCheck([seen(other)], [snap('i-1')])).toEqual([]);
  });

  test('the sweep\'s scope removes the instance\'s value wherever it stands, and asks who holds it first', () => {
    const scope = { addressesAtAnyName: true };
    expect(addressesToCheck([seen(other)], [snap('i-1')], scope)).toEqual(['10.0.1.5']);
    const result = planRecordChanges([seen(other)], [snap('i-1')], NO_LIVE, scope);
    expect(result.changes).toMatchObject([{ kind: 'SHRINK', name: 'legacy-alias.internal.example.com', removed: [{ instanceId: 'i-1', value: '10.0.1.5' }] }]);
    expect(result.changes[0].changes[1].ResourceRecordSet!.ResourceRecords).toEqual([{ Value: '10.0.9.9' }]);
  });

  test('with the sweep\'s scope, an address a live instance holds now stays, reported', () => {
    const result = planRecordChanges([seen(other)], [snap('i-1')], new Map([['10.0.1.5', 'i-new']]), { addressesAtAnyName: true });
    expect(result.changes).toEqual([]);
    expect(result.kept).toMatchObject([{ name: 'legacy-alias.internal.example.com', instanceId: 'i-1', value: '10.0.1.5', heldBy: 'i-new' }]);
  });
});

describe('planRecordChanges: A and AAAA at the template names', () => {
  test('a single-value A record of the instance: one DELETE of the set exactly as listed', () => {
    const listed = set('web-1.internal.example.com.', 'A', ['10.0.1.5']);
    const result = plan([seen(listed)], [snap('i-1')]);
    expect(result.changes).toEqual([{
      zoneId: FWD,
      name: 'web-1.internal.example.com',
      type: 'A',
      kind: 'DELETE',
      instanceIds: ['i-1'],
      removed: [{ instanceId: 'i-1', value: '10.0.1.5' }],
      changes: [{ Action: 'DELETE', ResourceRecordSet: listed }],
    }]);
    expect(result.changes[0].changes[0].ResourceRecordSet).toBe(listed);
    expect(result.kept).toEqual([]);
  });

  test('a multi-value record loses only the instance\'s value: DELETE of the exact old set, CREATE of the rest, in that order', () => {
    const listed = set('web.internal.example.com.', 'A', ['10.0.1.4', '10.0.1.5', '10.0.1.6'], { TTL: 60 });
    const result = plan([seen(listed)], [snap('i-1', { recordNames: ['web.internal.example.com'] })]);
    expect(result.changes).toHaveLength(1);
    const change = result.changes[0];
    expect(change).toMatchObject({ kind: 'SHRINK', instanceIds: ['i-1'], removed: [{ instanceId: 'i-1', value: '10.0.1.5' }] });
    expect(change.changes).toEqual([
      { Action: 'DELETE', ResourceRecordSet: listed },
      { Action: 'CREATE', ResourceRecordSet: { ...listed, ResourceRecords: [{ Value: '10.0.1.4' }, { Value: '10.0.1.6' }] } },
    ]);
    // the listed set itself is not modified
    expect(listed.ResourceRecords).toHaveLength(3);
  });

  test('AAAA: the value matches however it is written (upper case, zeros spelled out)', () => {
    const listed = set('web-1.internal.example.com.', 'AAAA', ['2001:DB8:0:0:0:0:0:1A']);
    const result = plan([seen(listed)], [snap('i-1', { ipv6s: ['2001:db8::1a'] })]);
    expect(result.changes).toMatchObject([{ kind: 'DELETE', type: 'AAAA', removed: [{ instanceId: 'i-1', value: '2001:DB8:0:0:0:0:0:1A' }] }]);
  });

  test('a secondary private IP and a public IP are the instance\'s values too', () => {
    const listed = set('web-1.internal.example.com.', 'A', ['10.0.1.9', '54.1.2.3', '10.9.9.9']);
    const result = plan([seen(listed)], [snap('i-1', { privateIps: ['10.0.1.5', '10.0.1.9'], publicIps: ['54.1.2.3'] })]);
    expect(result.changes[0].removed).toEqual([{ instanceId: 'i-1', value: '10.0.1.9' }, { instanceId: 'i-1', value: '54.1.2.3' }]);
    expect(result.changes[0].changes[1].ResourceRecordSet!.ResourceRecords).toEqual([{ Value: '10.9.9.9' }]);
  });

  test('a record at the template name with an address the instance never had is untouched and not reported', () => {
    const result = plan([seen(set('web-1.internal.example.com.', 'A', ['10.0.7.7']))], [snap('i-1')]);
    expect(result).toEqual({ changes: [], kept: [] });
  });

  test('the instance\'s address at a name that is not one of its template names is untouched', () => {
    const result = plan([seen(set('api.internal.example.com.', 'A', ['10.0.1.5']))], [snap('i-1')]);
    expect(result).toEqual({ changes: [], kept: [] });
  });

  test('a TXT record at the template name is never touched, whatever it says', () => {
    const result = plan([seen(set('web-1.internal.example.com.', 'TXT', ['"10.0.1.5"']))], [snap('i-1')]);
    expect(result.changes).toEqual([]);
  });

  test('names are compared in one form: upper case, trailing dot and \\052 escapes', () => {
    const upper = set('WEB-1.Internal.Example.COM.', 'A', ['10.0.1.5']);
    const wildcard = set('\\052.web-1.internal.example.com.', 'A', ['10.0.1.5']);
    const result = plan([seen(upper), seen(wildcard)], [snap('i-1', { recordNames: ['web-1.internal.example.com', '*.web-1.internal.example.com'] })]);
    expect(result.changes.map((c) => [c.name, c.kind])).toEqual([['web-1.internal.example.com', 'DELETE'], ['*.web-1.internal.example.com', 'DELETE']]);
    // the DELETE carries the name as Route 53 listed it
    expect(result.changes[1].changes[0].ResourceRecordSet!.Name).toBe('\\052.web-1.internal.example.com.');
  });

  test('two instances sharing one multi-value record in one batch: one DELETE and one CREATE without both values', () => {
    const listed = set('web.internal.example.com.', 'A', ['10.0.1.5', '10.0.1.6', '10.0.1.7']);
    const a = snap('i-a', { recordNames: ['web.internal.example.com'] });
    const b = snap('i-b', { privateIp: '10.0.1.7', privateIps: ['10.0.1.7'], privateDnsName: undefined, recordNames: ['web.internal.example.com'] });
    const result = plan([seen(listed)], [a, b]);
    expect(result.changes).toHaveLength(1);
    expect(result.changes[0]).toMatchObject({
      kind: 'SHRINK',
      instanceIds: ['i-a', 'i-b'],
      removed: [{ instanceId: 'i-a', value: '10.0.1.5' }, { instanceId: 'i-b', value: '10.0.1.7' }],
    });
    expect(result.changes[0].changes.map((c) => c.Action)).toEqual(['DELETE', 'CREATE']);
    expect(result.changes[0].changes[1].ResourceRecordSet!.ResourceRecords).toEqual([{ Value: '10.0.1.6' }]);
  });

  test('two instances that together held every value: one DELETE naming both, in id order whatever the value order', () => {
    const listed = set('web.internal.example.com.', 'A', ['10.0.1.7', '10.0.1.5']);
    const a = snap('i-a', { recordNames: ['web.internal.example.com'] });
    const b = snap('i-b', { privateIps: ['10.0.1.7'], recordNames: ['web.internal.example.com'] });
    expect(plan([seen(listed)], [b, a]).changes).toMatchObject([{ kind: 'DELETE', instanceIds: ['i-a', 'i-b'] }]);
  });

  test('the same set listed twice (overlapping listings) is changed once', () => {
    const listed = set('web-1.internal.example.com.', 'A', ['10.0.1.5']);
    expect(plan([seen(listed), seen({ ...listed })], [snap('i-1')]).changes).toHaveLength(1);
    // the same name in another zone (split horizon) is another set
    expect(plan([seen(listed), seen(listed, 'Z0PUBLIC')], [snap('i-1')]).changes.map((c) => c.zoneId)).toEqual([FWD, 'Z0PUBLIC']);
  });
});

describe('planRecordChanges: CNAMEs', () => {
  test('a CNAME to the instance\'s private or public DNS name is deleted (trailing dot and case do not matter)', () => {
    const priv = set('web-1.internal.example.com.', 'CNAME', ['IP-10-0-1-5.eu-west-1.compute.internal.']);
    const pub = set('web-1.example.com.', 'CNAME', ['ec2-54-1-2-3.eu-west-1.compute.amazonaws.com']);
    const i = snap('i-1', { publicIps: ['54.1.2.3'], publicDnsName: 'ec2-54-1-2-3.eu-west-1.compute.amazonaws.com', recordNames: ['web-1.internal.example.com', 'web-1.example.com'] });
    const result = plan([seen(priv), seen(pub, 'Z0PUBLIC')], [i]);
    expect(result.changes.map((c) => [c.zoneId, c.name, c.kind, c.removed])).toEqual([
      [FWD, 'web-1.internal.example.com', 'DELETE', [{ instanceId: 'i-1', value: 'IP-10-0-1-5.eu-west-1.compute.internal.' }]],
      ['Z0PUBLIC', 'web-1.example.com', 'DELETE', [{ instanceId: 'i-1', value: 'ec2-54-1-2-3.eu-west-1.compute.amazonaws.com' }]],
    ]);
  });

  test('a CNAME to a resource-based DNS name of the instance is deleted', () => {
    const listed = set('web-1.internal.example.com.', 'CNAME', ['i-0abc.eu-west-1.compute.internal']);
    const result = plan([seen(listed)], [snap('i-0abc', { privateDnsName: 'i-0abc.eu-west-1.compute.internal' })], new Map([['10.0.1.5', 'i-other']]));
    expect(result.changes).toMatchObject([{ kind: 'DELETE' }]);
  });

  test('a CNAME to another name is untouched', () => {
    expect(plan([seen(set('web-1.internal.example.com.', 'CNAME', ['lb.example.com']))], [snap('i-1')])).toEqual({ changes: [], kept: [] });
  });

  test('a CNAME to an EC2 DNS name whose address another instance holds now is kept and reported', () => {
    const listed = set('web-1.internal.example.com.', 'CNAME', ['ip-10-0-1-5.eu-west-1.compute.internal']);
    expect(addressesToCheck([seen(listed)], [snap('i-1')])).toEqual(['10.0.1.5']);
    const result = plan([seen(listed)], [snap('i-1')], new Map([['10.0.1.5', 'i-new']]));
    expect(result.changes).toEqual([]);
    expect(result.kept).toEqual([{
      zoneId: FWD, name: 'web-1.internal.example.com', type: 'CNAME', instanceId: 'i-1', value: 'ip-10-0-1-5.eu-west-1.compute.internal', reason: 'reused by i-new', heldBy: 'i-new',
    }]);
  });

  test('a CNAME to a template name of the instance goes when nothing answers there any more', () => {
    const alias = set('www.example.com.', 'CNAME', ['web-1.internal.example.com']);
    const a = set('web-1.internal.example.com.', 'A', ['10.0.1.5']);
    const result = plan([seen(alias), seen(a)], [snap('i-1')]);
    expect(result.changes.map((c) => [c.name, c.kind])).toEqual([['www.example.com', 'DELETE'], ['web-1.internal.example.com', 'DELETE']]);
    // nothing seen at the target at all: the name is the dead instance's alone
    expect(plan([seen(alias)], [snap('i-1')]).changes).toHaveLength(1);
  });

  test('a CNAME to a template name that still answers (a value stays there) is kept and reported', () => {
    const alias = set('www.example.com.', 'CNAME', ['web-1.internal.example.com.']);
    // the replacement instance, with the same Name tag, already put its own address at the name
    const a = set('web-1.internal.example.com.', 'A', ['10.0.1.5', '10.0.2.8']);
    const result = plan([seen(alias), seen(a)], [snap('i-1')]);
    expect(result.changes.map((c) => [c.name, c.kind])).toEqual([['web-1.internal.example.com', 'SHRINK']]);
    expect(result.kept).toEqual([{
      zoneId: FWD, name: 'www.example.com', type: 'CNAME', instanceId: 'i-1', value: 'web-1.internal.example.com.', reason: 'its target web-1.internal.example.com still has records',
    }]);
  });

  test('a target kept alive by a reused address keeps the CNAME; a TXT record alone at the target does not', () => {
    const alias = set('www.example.com.', 'CNAME', ['web-1.internal.example.com']);
    const a = set('web-1.internal.example.com.', 'A', ['10.0.1.5']);
    const txt = set('web-1.internal.example.com.', 'TXT', ['"owner=web"']);
    expect(plan([seen(alias), seen(a)], [snap('i-1')], new Map([['10.0.1.5', 'i-new']])).changes).toEqual([]);
    expect(plan([seen(alias), seen(a), seen(txt)], [snap('i-1')]).changes).toHaveLength(2);
  });

  test('a kept CNAME keeps a CNAME that points at it (chains are followed to the end)', () => {
    const first = set('www.example.com.', 'CNAME', ['app.internal.example.com']);
    const second = set('app.internal.example.com.', 'CNAME', ['web-1.internal.example.com']);
    const a = set('web-1.internal.example.com.', 'A', ['10.0.9.9']);
    const i = snap('i-1', { recordNames: ['web-1.internal.example.com', 'app.internal.example.com'] });
    expect(plan([seen(first), seen(second), seen(a)], [i]).changes).toEqual([]);
    // with the target gone, the whole chain goes
    expect(plan([seen(first), seen(second)], [i]).changes.map((c) => c.name)).toEqual(['www.example.com', 'app.internal.example.com']);
  });
});

describe('planRecordChanges: PTR records', () => {
  test('IPv4: the PTR of the instance\'s address naming the instance is deleted', () => {
    const listed = set('5.1.0.10.in-addr.arpa.', 'PTR', ['ip-10-0-1-5.eu-west-1.compute.internal.']);
    const byTemplate = set('5.1.0.10.in-addr.arpa.', 'PTR', ['web-1.internal.example.com.']);
    expect(plan([seen(listed, REV)], [snap('i-1')]).changes).toMatchObject([{ zoneId: REV, kind: 'DELETE', type: 'PTR', instanceIds: ['i-1'] }]);
    expect(plan([seen(byTemplate, REV)], [snap('i-1')]).changes).toMatchObject([{ kind: 'DELETE' }]);
  });

  test('IPv6: the nibble-format PTR naming the instance is deleted', () => {
    const name = `${'1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0'}.8.b.d.0.1.0.0.2.ip6.arpa.`;
    const listed = set(name, 'PTR', ['web-1.internal.example.com']);
    const result = plan([seen(listed, REV6)], [snap('i-1', { ipv6s: ['2001:db8::1'] })]);
    expect(result.changes).toMatchObject([{ zoneId: REV6, kind: 'DELETE', removed: [{ instanceId: 'i-1', value: 'web-1.internal.example.com' }] }]);
  });

  test('a PTR of the instance\'s address naming another host is kept and reported', () => {
    const listed = set('5.1.0.10.in-addr.arpa.', 'PTR', ['db-3.internal.example.com.']);
    const result = plan([seen(listed, REV)], [snap('i-1')]);
    expect(result.changes).toEqual([]);
    expect(result.kept).toEqual([{
      zoneId: REV, name: '5.1.0.10.in-addr.arpa', type: 'PTR', instanceId: 'i-1', value: 'db-3.internal.example.com.', reason: 'points at db-3.internal.example.com, not at this instance',
    }]);
  });

  test('a PTR naming the instance for an address a live instance holds now is kept and reported', () => {
    const listed = set('5.1.0.10.in-addr.arpa.', 'PTR', ['web-1.internal.example.com.']);
    expect(addressesToCheck([seen(listed, REV)], [snap('i-1')])).toEqual(['10.0.1.5']);
    const result = plan([seen(listed, REV)], [snap('i-1')], new Map([['10.0.1.5', 'i-new']]));
    expect(result.changes).toEqual([]);
    expect(result.kept).toMatchObject([{ type: 'PTR', instanceId: 'i-1', reason: 'reused by i-new', heldBy: 'i-new' }]);
  });

  test('a PTR of an address no instance of the batch held is untouched and not reported', () => {
    expect(plan([seen(set('6.1.0.10.in-addr.arpa.', 'PTR', ['web-1.internal.example.com']), REV)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
  });

  test('a PTR with two names loses only the instance\'s', () => {
    const listed = set('5.1.0.10.in-addr.arpa.', 'PTR', ['web-1.internal.example.com.', 'legacy.example.com.']);
    const result = plan([seen(listed, REV)], [snap('i-1')]);
    expect(result.changes[0].kind).toBe('SHRINK');
    expect(result.changes[0].changes[1].ResourceRecordSet!.ResourceRecords).toEqual([{ Value: 'legacy.example.com.' }]);
  });
});

describe('planRecordChanges: set identifiers, aliases and reuse', () => {
  test('a weighted set whose SetIdentifier is the instance id goes whole, whatever its values', () => {
    const listed = set('api.example.com.', 'A', ['203.0.113.9'], { SetIdentifier: 'i-1', Weight: 10 });
    const other = set('api.example.com.', 'A', ['203.0.113.10'], { SetIdentifier: 'i-2', Weight: 10 });
    const result = plan([seen(listed), seen(other)], [snap('i-1')]);
    expect(result.changes).toEqual([{
      zoneId: FWD,
      name: 'api.example.com',
      type: 'A',
      setIdentifier: 'i-1',
      kind: 'DELETE',
      instanceIds: ['i-1'],
      removed: [{ instanceId: 'i-1', value: '203.0.113.9' }],
      changes: [{ Action: 'DELETE', ResourceRecordSet: listed }],
    }]);
  });

  test('the set identified by the instance id goes even when its address is reused: the set names the instance', () => {
    const listed = set('api.example.com.', 'A', ['10.0.1.5'], { SetIdentifier: 'i-1', Weight: 10 });
    expect(addressesToCheck([seen(listed)], [snap('i-1')])).toEqual([]);
    expect(plan([seen(listed)], [snap('i-1')], new Map([['10.0.1.5', 'i-new']])).changes).toHaveLength(1);
  });

  test('alias records are untouched, unless their SetIdentifier is the instance id', () => {
    const aliasTarget = { HostedZoneId: 'Z32O12XQLNTSW2', DNSName: 'web-1.internal.example.com.', EvaluateTargetHealth: false };
    const alias = set('web-1.internal.example.com.', 'A', [], { ResourceRecords: undefined, TTL: undefined, AliasTarget: aliasTarget });
    expect(plan([seen(alias)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
    const identified = { ...alias, Name: 'app.example.com.', SetIdentifier: 'i-1', Weight: 1 };
    expect(plan([seen(identified)], [snap('i-1')]).changes).toEqual([{
      zoneId: FWD,
      name: 'app.example.com',
      type: 'A',
      setIdentifier: 'i-1',
      kind: 'DELETE',
      instanceIds: ['i-1'],
      removed: [{ instanceId: 'i-1', value: 'ALIAS web-1.internal.example.com.' }],
      changes: [{ Action: 'DELETE', ResourceRecordSet: identified }],
    }]);
  });

  test('an address another instance holds now is kept and reported; the other values still go', () => {
    const listed = set('web-1.internal.example.com.', 'A', ['10.0.1.5', '10.0.1.9', '10.0.3.3']);
    const i = snap('i-1', { privateIps: ['10.0.1.5', '10.0.1.9'] });
    expect(addressesToCheck([seen(listed)], [i])).toEqual(['10.0.1.5', '10.0.1.9']);
    const result = plan([seen(listed)], [i], new Map([['10.0.1.9', 'i-new']]));
    expect(result.changes).toMatchObject([{ kind: 'SHRINK', removed: [{ instanceId: 'i-1', value: '10.0.1.5' }] }]);
    expect(result.changes[0].changes[1].ResourceRecordSet!.ResourceRecords).toEqual([{ Value: '10.0.1.9' }, { Value: '10.0.3.3' }]);
    expect(result.kept).toEqual([{
      zoneId: FWD, name: 'web-1.internal.example.com', type: 'A', instanceId: 'i-1', value: '10.0.1.9', reason: 'reused by i-new', heldBy: 'i-new',
    }]);
  });

  test('a reused IPv6 address is recognised whatever form the live holder map uses', () => {
    const listed = set('web-1.internal.example.com.', 'AAAA', ['2001:db8::1']);
    const result = plan([seen(listed)], [snap('i-1', { ipv6s: ['2001:db8::1'] })], new Map([['2001:0db8:0000:0000:0000:0000:0000:0001', 'i-new']]));
    expect(result.changes).toEqual([]);
    expect(result.kept).toMatchObject([{ reason: 'reused by i-new' }]);
  });

  test('addressesToCheck: each address once, in the snapshot\'s own form, only for values the plan would remove', () => {
    const sets = [
      seen(set('web-1.internal.example.com.', 'A', ['10.0.1.5'])),
      seen(set('web-1.internal.example.com.', 'AAAA', ['2001:DB8:0:0:0:0:0:1'])),
      seen(set('5.1.0.10.in-addr.arpa.', 'PTR', ['web-1.internal.example.com']), REV),
      seen(set('web-1.internal.example.com.', 'TXT', ['"10.0.1.6"'])),
    ];
    expect(addressesToCheck(sets, [snap('i-1', { ipv6s: ['2001:db8::1'] })])).toEqual(['10.0.1.5', '2001:db8::1']);
    expect(addressesToCheck(sets, [])).toEqual([]);
  });
});

describe('planRecordChanges: what cannot be read is left alone', () => {
  test('a set whose name is not a valid DNS name, or with no type, is skipped', () => {
    const bad = set('we b.internal.example.com.', 'A', ['10.0.1.5']);
    const noType = set('web-1.internal.example.com.', 'A', ['10.0.1.5'], { Type: undefined });
    expect(plan([seen(bad), seen(noType)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
  });

  test('values that are no address or no name are never the instance\'s', () => {
    const a = set('web-1.internal.example.com.', 'A', ['not-an-ip', '10.0.1.5']);
    const cname = set('web-1.internal.example.com.', 'CNAME', ['bad name!']);
    const result = plan([seen(a), seen(cname)], [snap('i-1')]);
    expect(result.changes).toMatchObject([{ type: 'A', kind: 'SHRINK', removed: [{ value: '10.0.1.5' }] }]);
    expect(result.changes[0].changes[1].ResourceRecordSet!.ResourceRecords).toEqual([{ Value: 'not-an-ip' }]);
  });

  test('a PTR of the instance\'s address with an unreadable value is kept and reported as it is', () => {
    const result = plan([seen(set('5.1.0.10.in-addr.arpa.', 'PTR', ['bad name!']), REV)], [snap('i-1')]);
    expect(result.kept).toMatchObject([{ value: 'bad name!', reason: 'points at bad name!, not at this instance' }]);
  });

  test('the same instance twice in a batch: its value removed once, its kept value reported once', () => {
    const listed = set('web-1.internal.example.com.', 'A', ['10.0.1.5', '10.0.1.9'], { SetIdentifier: 'blue', Weight: 1 });
    const i = snap('i-1', { privateIps: ['10.0.1.5', '10.0.1.9'] });
    const result = plan([seen(listed)], [i, i], new Map([['10.0.1.9', 'i-new']]));
    expect(result.changes).toMatchObject([{ setIdentifier: 'blue', removed: [{ instanceId: 'i-1', value: '10.0.1.5' }] }]);
    expect(result.kept).toEqual([{
      zoneId: FWD, name: 'web-1.internal.example.com', type: 'A', setIdentifier: 'blue', instanceId: 'i-1', value: '10.0.1.9', reason: 'reused by i-new', heldBy: 'i-new',
    }]);
  });

  test('an alias set identified by the instance id whose target has no name is still deleted whole', () => {
    const alias = set('app.example.com.', 'A', [], { ResourceRecords: undefined, SetIdentifier: 'i-1', AliasTarget: { HostedZoneId: 'Z', DNSName: undefined, EvaluateTargetHealth: false } });
    expect(plan([seen(alias)], [snap('i-1')]).changes).toMatchObject([{ kind: 'DELETE', removed: [{ instanceId: 'i-1', value: 'ALIAS ' }] }]);
  });

  test('live holders given in any form, including keys that are no address, do not upset the plan', () => {
    const listed = set('web-1.internal.example.com.', 'A', ['10.0.1.5']);
    expect(plan([seen(listed)], [snap('i-1')], new Map([['garbage', 'i-x']])).changes).toHaveLength(1);
  });
});

describe('zones and names to look up', () => {
  const zones: Zone[] = [
    { id: 'Z0PRIVATE', name: 'internal.example.com' },
    { id: 'Z0PUBLIC', name: 'example.com' },
    { id: 'Z0SPLIT', name: 'internal.example.com' },
    { id: 'Z0OTHER', name: 'badexample.com' },
    { id: REV, name: '10.in-addr.arpa' },
    { id: REV6, name: '8.b.d.0.1.0.0.2.ip6.arpa' },
  ];

  test('zoneFor: every zone of the name or a suffix at a label boundary, split-horizon twins included', () => {
    expect(zoneFor('web-1.internal.example.com', zones).map((z) => z.id)).toEqual(['Z0PRIVATE', 'Z0PUBLIC', 'Z0SPLIT']);
    expect(zoneFor('WEB.Example.com.', zones).map((z) => z.id)).toEqual(['Z0PUBLIC']);
    expect(zoneFor('example.com', zones).map((z) => z.id)).toEqual(['Z0PUBLIC']);
    expect(zoneFor('www.badexample.com', zones).map((z) => z.id)).toEqual(['Z0OTHER']);
    expect(zoneFor('notexample.com', zones)).toEqual([]);
    expect(zoneFor('web.example.com', [{ id: 'Z', name: 'Example.COM.' }])).toHaveLength(1);
  });

  test('namesToLookUp: template names in forward zones, reverse names in reverse zones, each (zone, name) once', () => {
    const a = snap('i-a', { recordNames: ['web.internal.example.com', 'a.example.com'], ipv6s: ['2001:db8::a'] });
    const b = snap('i-b', { privateIps: ['10.0.1.6'], recordNames: ['web.internal.example.com', 'b.elsewhere.org'] });
    const lookups = namesToLookUp([a, b], zones).map((l) => [l.zone.id, l.name, l.instanceIds]);
    expect(lookups).toEqual([
      ['Z0PRIVATE', 'web.internal.example.com', ['i-a', 'i-b']],
      ['Z0PUBLIC', 'web.internal.example.com', ['i-a', 'i-b']],
      ['Z0SPLIT', 'web.internal.example.com', ['i-a', 'i-b']],
      ['Z0PUBLIC', 'a.example.com', ['i-a']],
      [REV, '5.1.0.10.in-addr.arpa', ['i-a']],
      [REV6, `a${'.0'.repeat(23)}.8.b.d.0.1.0.0.2.ip6.arpa`, ['i-a']],
      [REV, '6.1.0.10.in-addr.arpa', ['i-b']],
    ]);
  });

  test('namesToLookUp: a template name inside a reverse zone, or an address outside every reverse zone, is not looked up', () => {
    const odd = snap('i-1', { privateIps: ['192.168.0.1'], recordNames: ['1.0.10.in-addr.arpa'] });
    expect(namesToLookUp([odd], zones)).toEqual([]);
  });

  test('the same instance twice in a batch is looked up once', () => {
    const lookups = namesToLookUp([snap('i-1'), snap('i-1')], [{ id: FWD, name: 'example.com' }]);
    expect(lookups).toEqual([{ zone: { id: FWD, name: 'example.com' }, name: 'web-1.internal.example.com', instanceIds: ['i-1'] }]);
  });

  test('unescapeName and comparableName', () => {
    expect(unescapeName('\\052.example.com.')).toBe('*.example.com.');
    expect(unescapeName('a\\100b.example.com')).toBe('a@b.example.com');
    expect(comparableName('\\052.Example.COM.')).toBe('*.example.com');
    expect(comparableName(' Web.example.com. ')).toBe('web.example.com');
    expect(comparableName('a\\100b.example.com')).toBeUndefined();
    expect(comparableName(undefined)).toBeUndefined();
  });
});

describe('reverse names and addresses', () => {
  test('reverseName: IPv4', () => {
    expect(reverseName('10.0.1.5')).toBe('5.1.0.10.in-addr.arpa');
    expect(reverseName('192.168.100.254')).toBe('254.100.168.192.in-addr.arpa');
  });

  test('reverseName: IPv6 in its compressed forms is expanded to 32 nibbles', () => {
    expect(reverseName('2001:db8::567:89ab')).toBe('b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
    expect(reverseName('2001:DB8:0:0:0:0:567:89AB')).toBe(reverseName('2001:db8::567:89ab'));
    expect(reverseName('::1')).toBe(`1${'.0'.repeat(31)}.ip6.arpa`);
    expect(reverseName('::')).toBe(`0${'.0'.repeat(31)}.ip6.arpa`);
    expect(reverseName('fe80::')).toBe(`${'0.'.repeat(28)}0.8.e.f.ip6.arpa`);
    expect(reverseName('::ffff:10.0.1.5')).toBe(`5.0.1.0.0.0.a.0.f.f.f.f${'.0'.repeat(20)}.ip6.arpa`);
  });

  test('reverseName: not an address', () => {
    for (const bad of ['', '10.0.1', '10.0.1.256', '2001:db8:::1', 'web-1.example.com', '1::2::3']) expect(reverseName(bad)).toBeUndefined();
  });

  test('expandIPv6, canonicalAddress, isReverseZoneName', () => {
    expect(expandIPv6('2001:db8::1')).toEqual(['2001', '0db8', '0000', '0000', '0000', '0000', '0000', '0001']);
    expect(expandIPv6('1:2:3:4:5:6:7:8')).toEqual(['0001', '0002', '0003', '0004', '0005', '0006', '0007', '0008']);
    expect(expandIPv6('1:2:3:4:5:6:7::')).toEqual(['0001', '0002', '0003', '0004', '0005', '0006', '0007', '0000']);
    expect(expandIPv6('10.0.0.1')).toBeUndefined();
    expect(canonicalAddress(' 10.0.1.5 ')).toBe('10.0.1.5');
    expect(canonicalAddress('2001:DB8::1')).toBe('2001:0db8:0000:0000:0000:0000:0000:0001');
    expect(canonicalAddress('web')).toBeUndefined();
    expect(isReverseZoneName('10.in-addr.arpa')).toBe(true);
    expect(isReverseZoneName('in-addr.arpa.')).toBe(true);
    expect(isReverseZoneName('8.b.d.0.1.0.0.2.IP6.ARPA')).toBe(true);
    expect(isReverseZoneName('example.com')).toBe(false);
    expect(isReverseZoneName('notin-addr.arpa')).toBe(false);
  });

  test('addressInDnsName: IP-based EC2 names only', () => {
    expect(addressInDnsName('ip-10-0-1-5.eu-west-1.compute.internal')).toBe('10.0.1.5');
    expect(addressInDnsName('ec2-54-1-2-3.compute-1.amazonaws.com')).toBe('54.1.2.3');
    expect(addressInDnsName('IP-10-0-1-5.ec2.internal')).toBe('10.0.1.5');
    expect(addressInDnsName('i-0abc.eu-west-1.compute.internal')).toBeUndefined();
    expect(addressInDnsName('ip-10-0-1-500.ec2.internal')).toBeUndefined();
    expect(addressInDnsName('xip-10-0-1-5.ec2.internal')).toBeUndefined();
    // every group may have up to three digits
    expect(addressInDnsName('ip-10-200-30-140.ec2.internal')).toBe('10.200.30.140');
  });

  test('an embedded IPv4 tail with several digits in every group; a reverse name of a padded address; a zone that only contains "in-addr.arpa"', () => {
    // 10.200 = 0x0ac8, 30.140 = 0x1e8c
    expect(expandIPv6('::ffff:10.200.30.140')).toEqual(['0000', '0000', '0000', '0000', '0000', 'ffff', '0ac8', '1e8c']);
    expect(reverseName(' 10.0.1.5 ')).toBe('5.1.0.10.in-addr.arpa');
    expect(isReverseZoneName('in-addr.arpa.example.com')).toBe(false);
  });
});

describe('groups and chunks', () => {
  const change = (instanceIds: string[], values = 1, valueLength = 8, kind: PlannedChange['kind'] = 'DELETE'): PlannedChange => {
    const rs = set('n.example.com.', 'A', Array.from({ length: values }, (_, i) => String(i).padStart(valueLength, '1')));
    return {
      zoneId: FWD,
      name: 'n.example.com',
      type: 'A',
      kind,
      instanceIds,
      removed: instanceIds.map((instanceId) => ({ instanceId, value: 'x' })),
      changes: kind === 'DELETE' ? [{ Action: 'DELETE', ResourceRecordSet: rs }] : [{ Action: 'DELETE', ResourceRecordSet: rs }, { Action: 'CREATE', ResourceRecordSet: rs }],
    };
  };

  test('groupChanges: instances sharing a record set, transitively, form one group', () => {
    const c1 = change(['i-a']);
    const c2 = change(['i-b', 'i-c']);
    const c3 = change(['i-d']);
    const c4 = change(['i-c', 'i-a']);
    const c5 = change(['i-a']);
    const groups = groupChanges([c1, c2, c3, c4, c5]);
    expect(groups.map((g) => [...g.instanceIds].sort())).toEqual([['i-a', 'i-b', 'i-c'], ['i-d']]);
    expect(groups[0].changes).toEqual([c1, c2, c4, c5]);
    expect(groups[1].changes).toEqual([c3]);
    expect(groupChanges([])).toEqual([]);
  });

  test('chunkGroups: 1,000 ResourceRecords a request, a DELETE+CREATE pair never split', () => {
    const groups = groupChanges([
      ...Array.from({ length: 999 }, (_, i) => change([`i-${i}`])),
      change(['i-pair'], 1, 8, 'SHRINK'),
      change(['i-last']),
    ]);
    const chunks = chunkGroups(groups);
    expect(chunks.map((c) => c.length)).toEqual([999, 2]);
    expect(chunks[1][0].instanceIds).toEqual(['i-pair']);
    for (const c of chunks) expect(c.reduce((n, g) => n + groupCost(g).records, 0)).toBeLessThanOrEqual(CHANGE_BATCH_LIMITS.records);
  });

  test('chunkGroups: exactly 1,000 records fit in one request', () => {
    const groups = groupChanges(Array.from({ length: 1_001 }, (_, i) => change([`i-${i}`])));
    expect(chunkGroups(groups).map((c) => c.length)).toEqual([1_000, 1]);
  });

  test('chunkGroups: 32,000 value characters a request', () => {
    // 40 values of 100 characters = 4,000 characters a change: 8 changes a request
    const groups = groupChanges(Array.from({ length: 10 }, (_, i) => change([`i-${i}`], 40, 100)));
    expect(groupCost(groups[0])).toEqual({ records: 40, valueChars: 4_000 });
    expect(chunkGroups(groups).map((c) => c.length)).toEqual([8, 2]);
  });

  test('chunkGroups: a group over the limits on its own goes alone', () => {
    const big = change(['i-big'], 600, 8, 'SHRINK');
    const groups = groupChanges([change(['i-a']), big, change(['i-b'])]);
    expect(chunkGroups(groups).map((c) => c.map((g) => g.instanceIds[0]))).toEqual([['i-a'], ['i-big'], ['i-b']]);
    expect(chunkGroups([])).toEqual([]);
  });

  test('an alias change counts as one record and no value characters', () => {
    const alias = set('a.example.com.', 'A', [], { ResourceRecords: undefined, AliasTarget: { HostedZoneId: 'Z', DNSName: 'x.', EvaluateTargetHealth: false } });
    const c: PlannedChange = { ...change(['i-a']), changes: [{ Action: 'DELETE', ResourceRecordSet: alias }] };
    expect(groupCost(groupChanges([c])[0])).toEqual({ records: 1, valueChars: 0 });
    const noValue: PlannedChange = { ...change(['i-a']), changes: [{ Action: 'DELETE', ResourceRecordSet: set('a.example.com.', 'TXT', []) }] };
    noValue.changes[0].ResourceRecordSet!.ResourceRecords = [{ Value: undefined as unknown as string }];
    expect(groupCost(groupChanges([noValue])[0])).toEqual({ records: 1, valueChars: 0 });
  });
});

describe('edge cases pinned down', () => {
  const web = 'web-1.internal.example.com.';

  test('namesToLookUp: a forward zone named "arpa" never gets the reverse names; unusable names and addresses are skipped', () => {
    expect(namesToLookUp([snap('i-1')], [{ id: 'ZA', name: 'arpa' }])).toEqual([]);
    const zones = [{ id: FWD, name: 'internal.example.com' }, { id: REV, name: '10.in-addr.arpa' }];
    expect(namesToLookUp([snap('i-1', { recordNames: ['not a name!'], privateIps: ['garbage'] })], zones)).toEqual([]);
  });

  test('addressesToCheck: a CNAME to a template name has no address to check', () => {
    const cname = set('alias.internal.example.com.', 'CNAME', [web]);
    expect(addressesToCheck([seen(cname)], [snap('i-1')])).toStrictEqual([]);
  });

  test('a live holder that is itself being decommissioned does not count', () => {
    const result = plan([seen(set(web, 'A', ['10.0.1.5']))], [snap('i-1')], new Map([['10.0.1.5', 'i-1']]));
    expect(result.changes).toHaveLength(1);
    expect(result.kept).toEqual([]);
  });

  test('a live holder given in a non-canonical IPv6 form still keeps the value', () => {
    const s = snap('i-1', { ipv6s: ['2001:db8::5'] });
    const result = plan([seen(set(web, 'AAAA', ['2001:db8::5']))], [s], new Map([['2001:db8::5', 'i-new']]));
    expect(result.changes).toEqual([]);
    expect(result.kept).toMatchObject([{ heldBy: 'i-new' }]);
  });

  test('groupChanges skips a change without instances; chunkGroups puts no empty request first', () => {
    const rs = set('n.example.com.', 'A', ['1']);
    const empty: PlannedChange = { zoneId: FWD, name: 'n.example.com', type: 'A', kind: 'DELETE', instanceIds: [], removed: [], changes: [{ Action: 'DELETE', ResourceRecordSet: rs }] };
    expect(groupChanges([empty])).toEqual([]);
    const big: PlannedChange = { ...empty, instanceIds: ['i-big'], changes: [{ Action: 'DELETE', ResourceRecordSet: set('n.example.com.', 'A', ['1', '2', '3']) }] };
    const groups = groupChanges([big]);
    expect(chunkGroups(groups, { records: 2, valueChars: 100 })).toEqual([groups]);
    const bare: PlannedChange = { ...big, changes: [{ Action: 'DELETE' } as unknown as PlannedChange['changes'][number]] };
    expect(groupCost(groupChanges([bare])[0])).toEqual({ records: 1, valueChars: 0 });
  });

  test('an unusable address of the instance never claims an equally unusable value', () => {
    const result = plan([seen(set(web, 'A', ['garbage']))], [snap('i-1', { privateIps: ['garbage'] })]);
    expect(result).toEqual({ changes: [], kept: [] });
  });

  test('a set without a type or with an unusable name', () => {
    const typeless = set(web, 'A', ['10.0.1.5'], { Type: undefined, SetIdentifier: 'i-1' });
    expect(plan([seen(typeless)], [snap('i-1')]).changes).toMatchObject([{ type: '', kind: 'DELETE' }]);
    const badName = set('bad name!.example.com.', 'A', ['10.0.1.5'], { SetIdentifier: 'i-1' });
    expect(plan([seen(badName)], [snap('i-1')]).changes).toEqual([]);
  });

  test('sets told apart by set identifier, and by where zone id ends and name begins', () => {
    const a = set(web, 'A', ['10.0.1.5'], { SetIdentifier: 'i-1' });
    const b = set(web, 'A', ['10.0.1.6'], { SetIdentifier: 'i-2' });
    expect(plan([seen(a), seen(b)], [snap('i-1'), snap('i-2')]).changes).toHaveLength(2);
    const s = snap('i-1', { recordNames: ['ab.example.com', 'b.example.com'] });
    const result = plan([seen(set('ab.example.com.', 'A', ['10.0.1.5']), 'Z1'), seen(set('b.example.com.', 'A', ['10.0.1.5']), 'Z1a')], [s]);
    expect(result.changes.map((c) => c.zoneId)).toEqual(['Z1', 'Z1a']);
  });

  test('a CNAME to a template name stays while an alias, another CNAME or an AAAA set answers there', () => {
    const cname = set('alias.internal.example.com.', 'CNAME', [web]);
    const alias = set(web, 'A', [], { ResourceRecords: undefined, AliasTarget: { HostedZoneId: 'Z', DNSName: 'lb.example.com.', EvaluateTargetHealth: false } });
    expect(plan([seen(cname), seen(alias)], [snap('i-1')]).changes).toEqual([]);
    // an alias of any type answers (Route 53 allows aliases of TXT, MX, ...)
    expect(plan([seen(cname), seen({ ...alias, Type: 'TXT' })], [snap('i-1')]).changes).toEqual([]);
    const other = set(web, 'CNAME', ['elsewhere.example.com.']);
    expect(plan([seen(cname), seen(other)], [snap('i-1')]).changes).toEqual([]);
    // an IPv6 address of another host answers too
    expect(plan([seen(cname), seen(set(web, 'AAAA', ['2001:db8::9']))], [snap('i-1')]).changes).toEqual([]);
  });

  test('a listed answering set at the target that claims nothing is not counted as emptied, even with no values', () => {
    const cname = set('alias.internal.example.com.', 'CNAME', [web]);
    const empty = set(web, 'A', []);
    expect(plan([seen(cname), seen(empty)], [snap('i-1')]).changes).toEqual([]);
  });

  test('an alias set not named by set identifier is never matched by its values', () => {
    const alias = set(web, 'A', ['10.0.1.5'], { AliasTarget: { HostedZoneId: 'Z', DNSName: 'lb.example.com.', EvaluateTargetHealth: false } });
    expect(plan([seen(alias)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
  });

  test('a TXT record at a reverse name is not a PTR', () => {
    const txt = set('5.1.0.10.in-addr.arpa.', 'TXT', [web]);
    expect(plan([seen(txt, REV)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
  });

  test('one value claimed by two instances is removed for both; two values of one instance list it once', () => {
    const shared = plan([seen(set(web, 'A', ['10.0.1.5']))], [snap('i-1'), snap('i-2')]);
    expect(shared.changes).toMatchObject([{ instanceIds: ['i-1', 'i-2'], removed: [{ instanceId: 'i-1' }, { instanceId: 'i-2' }] }]);
    const two = snap('i-1', { privateIps: ['10.0.1.5', '10.0.1.6'] });
    expect(plan([seen(set(web, 'A', ['10.0.1.5', '10.0.1.6']))], [two]).changes).toMatchObject([{ instanceIds: ['i-1'], kind: 'DELETE' }]);
  });

  test('without a set identifier, changes and kept records carry no setIdentifier key; distinct kept values are all reported', () => {
    const two = snap('i-1', { privateIps: ['10.0.1.5', '10.0.1.6'] });
    const listed = set(web, 'A', ['10.0.1.5', '10.0.1.6']);
    const removed = plan([seen(listed)], [two]);
    expect('setIdentifier' in removed.changes[0]).toBe(false);
    const held = plan([seen(listed)], [two], new Map([['10.0.1.5', 'i-x'], ['10.0.1.6', 'i-y']]));
    expect(held.kept.map((k) => k.value)).toEqual(['10.0.1.5', '10.0.1.6']);
    expect('setIdentifier' in held.kept[0]).toBe(false);
  });

  test('a set named by set identifier leaves nothing kept; the sweep ignores addresses no instance has', () => {
    expect(plan([seen(set(web, 'A', ['10.0.1.5'], { SetIdentifier: 'i-1' }))], [snap('i-1')]).kept).toStrictEqual([]);
    const result = planRecordChanges([seen(set('x.internal.example.com.', 'A', ['10.9.9.9']))], [snap('i-1')], NO_LIVE, { addressesAtAnyName: true });
    expect(result).toEqual({ changes: [], kept: [] });
  });

  test('a PTR set at the instance\'s reverse name without values, or with a value missing', () => {
    const ptrName = '5.1.0.10.in-addr.arpa.';
    expect(plan([seen(set(ptrName, 'PTR', [], { ResourceRecords: undefined }), REV)], [snap('i-1')])).toEqual({ changes: [], kept: [] });
    const missing = set(ptrName, 'PTR', [], { ResourceRecords: [{ Value: undefined as unknown as string }] });
    expect(plan([seen(missing, REV)], [snap('i-1')]).kept).toMatchObject([{ instanceId: 'i-1', value: '' }]);
  });
});
