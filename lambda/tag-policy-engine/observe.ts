import { DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { EC2Client, Filter, Instance, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { TagPolicyEngineConfig } from './config';
import type { ObservedInstance } from './decide';
import { CREATOR_ATTRIBUTES, CREATOR_ITEM_PREFIX, RULE_ATTRIBUTES } from '../../src/tag-policy-engine/contract';
import { parseRuleItem, ParsedRule } from '../../src/tag-policy-engine/rule-format';
import { chunk } from '../shared/batch';
import { errorMessage } from '../shared/errors';
import { collectPages } from '../shared/paginate';

/** Instances that exist and can carry tags; shutting-down and terminated ones are gone. */
export const IN_SCOPE_STATES = ['pending', 'running', 'stopping', 'stopped'];
const PAGE_SIZE = 1000;
// EC2 accepts up to 200 values in one filter.
const FILTER_VALUES_MAX = 200;

export interface RuleTable {
  readonly rules: ParsedRule[];
  /** Items that are not valid rules, by RuleId (or their position when they have none), with the reason. */
  readonly invalid: Array<{ readonly ruleId: string; readonly error: string }>;
  /** Creators found by earlier runs, by instance id. */
  readonly cachedCreators: Map<string, string>;
  readonly pages: number;
}

/** Instances in scope: server-side filtered by state, VPC and selector tags (decide() trusts these filters). */
export async function observeInstances(ec2: EC2Client, config: TagPolicyEngineConfig, instanceIds?: string[]): Promise<ObservedInstance[]> {
  const filters: Filter[] = [
    { Name: 'instance-state-name', Values: IN_SCOPE_STATES },
    ...Object.entries(config.instanceSelector).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
  ];
  // More VPCs than one filter takes: one listing per 200 (an instance is in one VPC, so none is seen twice).
  const vpcGroups = config.vpcIds.length === 0 ? [undefined] : chunk(config.vpcIds, FILTER_VALUES_MAX);
  const idGroups = instanceIds === undefined ? [undefined] : chunk(instanceIds, PAGE_SIZE);
  const instances: ObservedInstance[] = [];
  for (const vpcs of vpcGroups) {
    for (const ids of idGroups) {
      const { items } = await collectPages(
        // DescribeInstances takes either InstanceIds or MaxResults, not both.
        (startingToken) => paginateDescribeInstances({ client: ec2, pageSize: ids ? undefined : PAGE_SIZE, startingToken }, {
          Filters: vpcs ? [...filters, { Name: 'vpc-id', Values: vpcs }] : filters,
          ...(ids ? { InstanceIds: ids } : {}),
        }),
        (page) => page.NextToken,
        (page) => (page.Reservations ?? []).flatMap((r) => r.Instances ?? []),
      );
      instances.push(...items.map(toObservedInstance));
    }
  }
  return instances;
}

export function toObservedInstance(i: Instance): ObservedInstance {
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  const primary = (i.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0);
  const launchedAt = primary?.Attachment?.AttachTime ?? i.LaunchTime;
  return {
    instanceId: i.InstanceId ?? 'unknown',
    state: i.State?.Name ?? 'unknown',
    launchedAt: launchedAt ? new Date(launchedAt) : undefined,
    tags,
    attachedResourceIds: [
      ...(i.BlockDeviceMappings ?? []).map((b) => b.Ebs?.VolumeId),
      ...(i.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId),
    ].filter((id): id is string => typeof id === 'string' && id.length > 0),
  };
}

/** The whole rule table, one paginated Scan: the rules (invalid items reported apart) and the cached creators. */
export async function readRuleTable(dynamodb: DynamoDBClient, tableName: string): Promise<RuleTable> {
  const { items, pages } = await collectPages(
    (startingToken) => paginateScan({ client: dynamodb, startingToken: startingToken === undefined ? undefined : JSON.parse(startingToken) }, {
      TableName: tableName,
      ConsistentRead: true,
    }),
    (page) => page.LastEvaluatedKey ? JSON.stringify(page.LastEvaluatedKey) : undefined,
    (page) => page.Items ?? [],
  );
  const rules: ParsedRule[] = [];
  const invalid: RuleTable['invalid'] = [];
  const cachedCreators = new Map<string, string>();
  const seenKeys = new Map<string, string>();
  const parsed: Array<{ ruleId: string; rule: ParsedRule }> = [];
  items.forEach((raw, index) => {
    let item: Record<string, unknown>;
    try {
      item = unmarshall(raw);
    } catch (error) {
      // An attribute of a type no rule uses: the item is still reported by its RuleId when that one is readable.
      const key = raw[RULE_ATTRIBUTES.ruleId];
      const readable = key?.S ?? key?.N;
      invalid.push({ ruleId: readable ? readable : `(item ${index + 1})`, error: `unreadable item: ${errorMessage(error)}` });
      return;
    }
    const id = item[RULE_ATTRIBUTES.ruleId];
    if (typeof id === 'string' && id.startsWith(CREATOR_ITEM_PREFIX)) {
      const creator = item[CREATOR_ATTRIBUTES.creator];
      if (typeof creator === 'string' && creator.length > 0) cachedCreators.set(id.slice(CREATOR_ITEM_PREFIX.length), creator);
      return;
    }
    const result = parseRuleItem(item);
    const ruleId = typeof id === 'string' || typeof id === 'number' ? String(id) : `(item ${index + 1})`;
    if (!result.rule) {
      invalid.push({ ruleId, error: result.error });
      return;
    }
    parsed.push({ ruleId, rule: result.rule });
  });
  // Two rules for one key would fight over its value: the lowest RuleId wins (Scan order is no
  // order), the other is reported.
  parsed.sort((a, b) => (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0));
  for (const { ruleId, rule } of parsed) {
    const earlier = seenKeys.get(rule.tagKey);
    if (earlier !== undefined) {
      invalid.push({ ruleId, error: `rule ${earlier} already covers tag ${rule.tagKey}; this one is skipped` });
      continue;
    }
    seenKeys.set(rule.tagKey, ruleId);
    rules.push(rule);
  }
  return { rules, invalid, cachedCreators, pages };
}
