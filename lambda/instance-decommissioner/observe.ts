import { EC2Client, Instance, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import type { InstanceSnapshot } from './snapshot';
import { renderTemplate } from '../../src/instance-decommissioner/record-template';
import { chunk } from '../shared/batch';
import { collectPages } from '../shared/paginate';

// EC2 accepts up to 200 values in one filter, and returns up to 1,000 instances a page.
const FILTER_VALUES_MAX = 200;
const PAGE_SIZE = 1000;

/** What EC2 says of an instance now: its state and the snapshot it would make. */
export interface DescribedInstance {
  readonly state: string;
  readonly snapshot: InstanceSnapshot;
}

/**
 * The instances EC2 knows among `instanceIds`, by id. Filtered by `instance-id` rather than asked
 * by InstanceIds: one id EC2 no longer knows would fail the whole call (InvalidInstanceID.NotFound).
 */
export async function describeInstances(
  ec2: EC2Client, instanceIds: readonly string[], templates: readonly string[],
): Promise<Map<string, DescribedInstance>> {
  const found = new Map<string, DescribedInstance>();
  for (const ids of chunk([...new Set(instanceIds)], FILTER_VALUES_MAX)) {
    const { items } = await collectPages(
      (startingToken) => paginateDescribeInstances({ client: ec2, pageSize: PAGE_SIZE, startingToken }, {
        Filters: [{ Name: 'instance-id', Values: ids }],
      }),
      (page) => page.NextToken,
      (page) => (page.Reservations ?? []).flatMap((r) => r.Instances ?? []),
    );
    for (const instance of items) {
      if (!instance.InstanceId) continue;
      found.set(instance.InstanceId, { state: instance.State?.Name ?? 'unknown', snapshot: toSnapshot(instance, templates) });
    }
  }
  return found;
}

/** The snapshot of a described instance, with the names its templates render to. */
export function toSnapshot(i: Instance, templates: readonly string[]): InstanceSnapshot {
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  const interfaces = [...(i.NetworkInterfaces ?? [])].sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0));
  const privateIps = unique([
    i.PrivateIpAddress,
    ...interfaces.flatMap((n) => (n.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress)),
  ]);
  const publicIps = unique([
    i.PublicIpAddress,
    ...interfaces.flatMap((n) => [n.Association?.PublicIp, ...(n.PrivateIpAddresses ?? []).map((a) => a.Association?.PublicIp)]),
  ]);
  // Lower case before deduplicating: the same address in two cases is one address.
  const ipv6s = unique([i.Ipv6Address, ...interfaces.flatMap((n) => (n.Ipv6Addresses ?? []).map((a) => a.Ipv6Address))].map((a) => a?.toLowerCase()));
  const base = {
    instanceId: i.InstanceId ?? 'unknown',
    privateIp: i.PrivateIpAddress || privateIps[0],
    privateIps,
    publicIps,
    ipv6s,
    privateDnsName: i.PrivateDnsName || undefined,
    publicDnsName: i.PublicDnsName || undefined,
    tags,
    autoScalingGroupName: tags['aws:autoscaling:groupName'],
    availabilityZone: i.Placement?.AvailabilityZone,
    vpcId: i.VpcId,
    launchTime: i.LaunchTime ? new Date(i.LaunchTime).toISOString() : undefined,
  };
  const recordNames = unique(templates.map((t) => renderTemplate(t, {
    instanceId: base.instanceId, privateIp: base.privateIp, privateDnsName: base.privateDnsName, az: base.availabilityZone, tags,
  })));
  return { ...base, recordNames };
}

function unique(values: ReadonlyArray<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length > 0))];
}
