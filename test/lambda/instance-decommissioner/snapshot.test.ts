import { addressesOf, dnsNamesOf, InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';

function snapshot(overrides: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return {
    instanceId: 'i-0123456789abcdef0',
    privateIp: '10.0.1.15',
    privateIps: ['10.0.1.15', '10.0.1.16'],
    publicIps: ['54.154.10.20'],
    ipv6s: ['2a05:d018:abc:1200::15'],
    privateDnsName: 'ip-10-0-1-15.eu-west-1.compute.internal',
    publicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com',
    tags: {},
    recordNames: [],
    ...overrides,
  };
}

describe('addressesOf', () => {
  test('private, public and IPv6 addresses, in that order', () => {
    expect(addressesOf(snapshot())).toEqual(['10.0.1.15', '10.0.1.16', '54.154.10.20', '2a05:d018:abc:1200::15']);
  });

  test('an address listed twice, also across kinds, is listed once', () => {
    expect(addressesOf(snapshot({
      privateIps: ['10.0.1.15', '10.0.1.15', '100.64.0.1'],
      publicIps: ['100.64.0.1', '54.154.10.20', '54.154.10.20'],
      ipv6s: ['2a05::1', '2a05::1'],
    }))).toEqual(['10.0.1.15', '100.64.0.1', '54.154.10.20', '2a05::1']);
  });

  test('no addresses', () => {
    expect(addressesOf(snapshot({ privateIps: [], publicIps: [], ipv6s: [] }))).toEqual([]);
  });
});

describe('dnsNamesOf', () => {
  test('the private and public DNS names', () => {
    expect(dnsNamesOf(snapshot())).toEqual(['ip-10-0-1-15.eu-west-1.compute.internal', 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com']);
  });

  test('lower case, without the trailing dot', () => {
    expect(dnsNamesOf(snapshot({ privateDnsName: 'IP-10-0-1-15.EC2.Internal.', publicDnsName: 'EC2-54-154-10-20.compute-1.amazonaws.com.' })))
      .toEqual(['ip-10-0-1-15.ec2.internal', 'ec2-54-154-10-20.compute-1.amazonaws.com']);
  });

  test('a missing or empty name is left out', () => {
    expect(dnsNamesOf(snapshot({ publicDnsName: undefined }))).toEqual(['ip-10-0-1-15.eu-west-1.compute.internal']);
    expect(dnsNamesOf(snapshot({ privateDnsName: '', publicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com' })))
      .toEqual(['ec2-54-154-10-20.eu-west-1.compute.amazonaws.com']);
    expect(dnsNamesOf(snapshot({ privateDnsName: undefined, publicDnsName: undefined }))).toEqual([]);
  });
});
