/*
 * The instance as it looked while it ran: what cleanup works from once EC2 no longer tells the IPs.
 */

/** One instance, as stored in the snapshot table (the `Snapshot` attribute, as JSON). */
export interface InstanceSnapshot {
  readonly instanceId: string;
  /** The primary private IPv4 address ({privateIp} in templates). */
  readonly privateIp?: string;
  /** Every private IPv4 address of every network interface, the primary first. */
  readonly privateIps: readonly string[];
  readonly publicIps: readonly string[];
  readonly ipv6s: readonly string[];
  readonly privateDnsName?: string;
  readonly publicDnsName?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly autoScalingGroupName?: string;
  readonly availabilityZone?: string;
  readonly vpcId?: string;
  readonly launchTime?: string;
  /** The names the record name templates rendered to: lower case, no trailing dot. */
  readonly recordNames: readonly string[];
}

/** Every address the instance held (A, AAAA and PTR records are matched against these). */
export function addressesOf(snapshot: InstanceSnapshot): string[] {
  return [...new Set([...snapshot.privateIps, ...snapshot.publicIps, ...snapshot.ipv6s])];
}

/** Every DNS name EC2 gave the instance, lower case and without the trailing dot (CNAME values are matched against these). */
export function dnsNamesOf(snapshot: InstanceSnapshot): string[] {
  return [snapshot.privateDnsName, snapshot.publicDnsName]
    .filter((n): n is string => typeof n === 'string' && n.length > 0)
    .map((n) => n.toLowerCase().replace(/\.$/, ''));
}
