import type { PackerCleanerConfig } from './config';
import { isProtected, splitAtCap } from '../shared/guards';
import { ageSeconds, formatAge } from '../shared/time';
import { matchesAny, wildcardToRegExp } from '../shared/wildcard';

/*
 * The pure decision step: observations + configuration + clock → plan. No I/O here, so every rule
 * and boundary is unit-tested directly.
 */
export interface ObservedInstance {
  readonly instanceId: string;
  readonly keyName?: string;
  readonly state: string;
  readonly launchTime?: Date;
  /** When the instance was stopped, if EC2 said so in StateTransitionReason. */
  readonly stoppedAt?: Date;
  readonly tags: Readonly<Record<string, string>>;
  readonly securityGroupIds: readonly string[];
}

export interface ObservedKeyPair {
  readonly keyName: string;
  readonly createTime?: Date;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ObservedSecurityGroup {
  readonly groupId: string;
  readonly groupName: string;
  readonly tags: Readonly<Record<string, string>>;
  /** True when any network interface (of any service) still uses the group. */
  readonly inUse: boolean;
}

export interface Observation {
  readonly instances: readonly ObservedInstance[];
  readonly keyPairs: readonly ObservedKeyPair[];
  readonly securityGroups: readonly ObservedSecurityGroup[];
}

export type Disposition = 'ACT' | 'REPORT' | 'KEEP' | 'PROTECTED' | 'CAP';
export type PlannedAction = 'STOP' | 'TERMINATE' | 'DELETE' | 'NOTIFY' | 'NONE';

export interface PlanItem {
  readonly resourceType: 'instance' | 'key-pair' | 'security-group';
  readonly id: string;
  readonly action: PlannedAction;
  readonly disposition: Disposition;
  readonly reason: string;
  readonly ageSeconds: number;
  readonly details: ReadonlyArray<readonly [string, string]>;
}

export interface Plan {
  readonly items: PlanItem[];
  /** Observed resources that are not Packer's or not in scope (other states, tag selector). */
  readonly ignored: number;
}

/** States in which a Packer instance is acted on; terminated/shutting-down ones are left alone. */
export const ACTIONABLE_STATES = new Set(['running', 'stopped']);

/** Packer names temporary resources `packer_<time-ordered uuid>`; the first 32 bits are Unix seconds. */
const PACKER_TIME_UUID = /([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createdAtFromPackerName(name: string): Date | undefined {
  const match = PACKER_TIME_UUID.exec(name);
  if (!match) return undefined;
  const seconds = parseInt(match[1], 16);
  // Before Packer existed it cannot be a Packer timestamp; future ones are rejected by decide().
  if (seconds < Date.UTC(2013, 0, 1) / 1000) return undefined;
  return new Date(seconds * 1000);
}

export function decide(observation: Observation, config: PackerCleanerConfig, now: Date): Plan {
  const patterns = config.keyNamePatterns.map(wildcardToRegExp);
  const items: PlanItem[] = [];
  let ignored = 0;

  for (const instance of observation.instances) {
    // Re-check client-side what the server-side filters asked for: never act on a loose match.
    if (!matchesAny(instance.keyName, patterns) || !ACTIONABLE_STATES.has(instance.state) || !matchesSelector(instance.tags, config.tagSelector)) {
      ignored++;
      continue;
    }
    items.push(decideInstance(instance, config, now));
  }

  const keyInUse = new Map<string, string>();
  const groupInUse = new Map<string, string>();
  for (const instance of observation.instances) {
    if (instance.state === 'terminated') continue;
    if (instance.keyName) keyInUse.set(instance.keyName, instance.instanceId);
    for (const group of instance.securityGroupIds) groupInUse.set(group, instance.instanceId);
  }

  if (config.cleanupKeyPairs) {
    for (const keyPair of observation.keyPairs) {
      if (!matchesAny(keyPair.keyName, patterns)) {
        ignored++;
        continue;
      }
      const createdAt = keyPair.createTime ?? createdAtFromPackerName(keyPair.keyName);
      items.push(decideLeftover('key-pair', keyPair.keyName, [['name', keyPair.keyName]], createdAt, keyPair.tags,
        keyInUse.has(keyPair.keyName) ? `in use by ${keyInUse.get(keyPair.keyName)}` : undefined, config, now));
    }
  }

  if (config.cleanupSecurityGroups) {
    for (const group of observation.securityGroups) {
      if (!matchesAny(group.groupName, patterns)) {
        ignored++;
        continue;
      }
      const usedBy = groupInUse.get(group.groupId) ?? (group.inUse ? 'a network interface' : undefined);
      items.push(decideLeftover('security-group', group.groupId, [['name', group.groupName]], createdAtFromPackerName(group.groupName), group.tags,
        usedBy ? `in use by ${usedBy}` : undefined, config, now));
    }
  }

  return { items: applyCap(items, config.maxActionsPerRun), ignored };
}

function decideInstance(instance: ObservedInstance, config: PackerCleanerConfig, now: Date): PlanItem {
  const age = ageSeconds(instance.launchTime, now);
  const details: Array<readonly [string, string]> = [
    ['name', instance.tags.Name ?? '-'],
    ['key', instance.keyName ?? '-'],
    ['state', instance.state],
    ['launched', instance.launchTime ? instance.launchTime.toISOString() : 'unknown'],
    ['age', formatAge(age)],
  ];
  const base = { resourceType: 'instance' as const, id: instance.instanceId, ageSeconds: age, details };
  if (Number.isNaN(age)) return { ...base, action: 'NONE', disposition: 'KEEP', reason: 'launch time unknown' };

  const due = dueInstanceAction(instance, age, config, now);
  if (!due) return { ...base, action: 'NONE', disposition: 'KEEP', reason: `age ${formatAge(age)} is within maxAge ${formatAge(config.maxAgeSeconds)}` };
  if (isProtected(instance.tags, config.protectionTagKey)) {
    return { ...base, action: due.action, disposition: 'PROTECTED', reason: `carries protection tag ${config.protectionTagKey}` };
  }
  return { ...base, action: due.action, disposition: due.action === 'NOTIFY' ? 'REPORT' : 'ACT', reason: due.reason };
}

interface DueAction {
  readonly action: PlannedAction;
  readonly reason: string;
}

function dueInstanceAction(instance: ObservedInstance, age: number, config: PackerCleanerConfig, now: Date): DueAction | undefined {
  const overAge = age > config.maxAgeSeconds;
  if (instance.state === 'stopped') {
    if (config.terminateStoppedAfterSeconds !== undefined) {
      // Stopped time when EC2 reported it; otherwise the launch time, which is never later than the stop.
      const since = instance.stoppedAt ?? instance.launchTime!;
      const stoppedFor = ageSeconds(since, now);
      if (stoppedFor > config.terminateStoppedAfterSeconds) {
        return { action: 'TERMINATE', reason: `stopped for ${formatAge(stoppedFor)}, over terminateStoppedAfter ${formatAge(config.terminateStoppedAfterSeconds)}` };
      }
    }
    if (!overAge) return undefined;
    if (config.action === 'TERMINATE') return { action: 'TERMINATE', reason: `stopped, age ${formatAge(age)} over maxAge ${formatAge(config.maxAgeSeconds)}` };
    return { action: 'NOTIFY', reason: `stopped, age ${formatAge(age)} over maxAge ${formatAge(config.maxAgeSeconds)}; its volumes still bill` };
  }
  if (!overAge) return undefined;
  const reason = `running for ${formatAge(age)}, over maxAge ${formatAge(config.maxAgeSeconds)}`;
  if (config.action === 'STOP') return { action: 'STOP', reason };
  if (config.action === 'TERMINATE') return { action: 'TERMINATE', reason };
  return { action: 'NOTIFY', reason };
}

function decideLeftover(
  resourceType: 'key-pair' | 'security-group',
  id: string,
  details: Array<readonly [string, string]>,
  createdAt: Date | undefined,
  tags: Readonly<Record<string, string>>,
  inUse: string | undefined,
  config: PackerCleanerConfig,
  now: Date,
): PlanItem {
  const age = ageSeconds(createdAt, now);
  const base = { resourceType, id, ageSeconds: age, details: [...details, ['age', formatAge(age)] as const] };
  // A creation time in the future is not a Packer timestamp (e.g. a random UUID): treat it as unknown.
  if (Number.isNaN(age) || age < 0) return { ...base, action: 'NONE', disposition: 'KEEP', reason: 'creation time unknown' };
  if (inUse) return { ...base, action: 'NONE', disposition: 'KEEP', reason: inUse };
  if (age <= config.maxAgeSeconds) {
    return { ...base, action: 'NONE', disposition: 'KEEP', reason: `age ${formatAge(age)} is within maxAge ${formatAge(config.maxAgeSeconds)}` };
  }
  if (isProtected(tags, config.protectionTagKey)) return { ...base, action: 'DELETE', disposition: 'PROTECTED', reason: `carries protection tag ${config.protectionTagKey}` };
  return { ...base, action: 'DELETE', disposition: 'ACT', reason: `unused, age ${formatAge(age)} over maxAge ${formatAge(config.maxAgeSeconds)}` };
}

export function matchesSelector(tags: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([key, value]) => tags[key] === value);
}

/** Oldest first, instances before leftovers, so the cap always removes the worst offenders first. */
function applyCap(items: PlanItem[], maxActions: number): PlanItem[] {
  const order = { 'instance': 0, 'security-group': 1, 'key-pair': 2 };
  const sorted = [...items].sort((a, b) => order[a.resourceType] - order[b.resourceType]
    || (b.ageSeconds || 0) - (a.ageSeconds || 0) || a.id.localeCompare(b.id));
  const { over } = splitAtCap(sorted, (item) => item.disposition === 'ACT', maxActions);
  return sorted.map((item) => over.has(item)
    ? { ...item, disposition: 'CAP' as const, reason: `${item.reason}; over the per-run cap of ${maxActions}` }
    : item);
}
