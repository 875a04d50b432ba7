import {
  DescribeKeyPairsCommand,
  EC2Client,
  Instance,
  paginateDescribeInstances,
  paginateDescribeNetworkInterfaces,
  paginateDescribeSecurityGroups,
  Tag,
} from '@aws-sdk/client-ec2';
import type { PackerCleanerConfig } from './config';
import type { ObservedInstance, ObservedKeyPair, ObservedSecurityGroup, Observation } from './decide';
import { chunk } from '../shared/batch';
import { collectPages } from '../shared/paginate';
import { retryTransient } from '../shared/retry';

/** Every state in which an instance still exists and may hold a key pair or security group. */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
const PAGE_SIZE = 1000;
// EC2 accepts up to 200 values in one filter.
const FILTER_VALUES_MAX = 200;

export async function observe(ec2: EC2Client, config: PackerCleanerConfig): Promise<Observation & { scanned: number }> {
  const { items: rawInstances } = await collectPages(
    (startingToken) => paginateDescribeInstances({ client: ec2, pageSize: PAGE_SIZE, startingToken }, {
      // Server-side filter on Packer's key names (EC2 supports * and ? here); decide() re-checks.
      Filters: [
        { Name: 'key-name', Values: config.keyNamePatterns },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ],
    }),
    (page) => page.NextToken,
    (page) => (page.Reservations ?? []).flatMap((r) => r.Instances ?? []),
  );
  const instances = rawInstances.map(toObservedInstance);

  const keyPairs: ObservedKeyPair[] = [];
  if (config.cleanupKeyPairs) {
    // DescribeKeyPairs has no pagination: it returns every matching key pair at once.
    const out = await retryTransient(() => ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: config.keyNamePatterns }] })));
    for (const kp of out.KeyPairs ?? []) {
      if (kp.KeyName) keyPairs.push({ keyName: kp.KeyName, createTime: kp.CreateTime, tags: tagMap(kp.Tags) });
    }
  }

  const securityGroups: ObservedSecurityGroup[] = [];
  if (config.cleanupSecurityGroups) {
    const { items: groups } = await collectPages(
      (startingToken) => paginateDescribeSecurityGroups({ client: ec2, pageSize: PAGE_SIZE, startingToken }, {
        Filters: [{ Name: 'group-name', Values: config.keyNamePatterns }],
      }),
      (page) => page.NextToken,
      (page) => page.SecurityGroups ?? [],
    );
    const inUse = await groupsWithInterfaces(ec2, groups.map((g) => g.GroupId!).filter(Boolean));
    for (const g of groups) {
      if (!g.GroupId || !g.GroupName) continue;
      securityGroups.push({ groupId: g.GroupId, groupName: g.GroupName, tags: tagMap(g.Tags), inUse: inUse.has(g.GroupId) });
    }
  }

  return { instances, keyPairs, securityGroups, scanned: instances.length + keyPairs.length + securityGroups.length };
}

/** Security groups still attached to any network interface: of instances, but also of Lambda, RDS, endpoints. */
async function groupsWithInterfaces(ec2: EC2Client, groupIds: string[]): Promise<Set<string>> {
  const used = new Set<string>();
  for (const ids of chunk(groupIds, FILTER_VALUES_MAX)) {
    const { items } = await collectPages(
      (startingToken) => paginateDescribeNetworkInterfaces({ client: ec2, pageSize: PAGE_SIZE, startingToken }, { Filters: [{ Name: 'group-id', Values: ids }] }),
      (page) => page.NextToken,
      (page) => page.NetworkInterfaces ?? [],
    );
    for (const eni of items) for (const g of eni.Groups ?? []) if (g.GroupId) used.add(g.GroupId);
  }
  return used;
}

export function toObservedInstance(i: Instance): ObservedInstance {
  return {
    instanceId: i.InstanceId ?? 'unknown',
    keyName: i.KeyName,
    state: i.State?.Name ?? 'unknown',
    launchTime: i.LaunchTime ? new Date(i.LaunchTime) : undefined,
    stoppedAt: i.State?.Name === 'stopped' ? parseTransitionTime(i.StateTransitionReason) : undefined,
    tags: tagMap(i.Tags),
    securityGroupIds: (i.SecurityGroups ?? []).map((g) => g.GroupId!).filter(Boolean),
  };
}

/** EC2 writes e.g. "User initiated (2024-05-01 12:34:56 GMT)" when an instance is stopped. */
export function parseTransitionTime(reason: string | undefined): Date | undefined {
  const match = reason ? /\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)/.exec(reason) : null;
  if (!match) return undefined;
  const date = new Date(`${match[1].replace(' ', 'T')}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}
