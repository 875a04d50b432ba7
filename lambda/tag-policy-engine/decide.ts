import type { TagPolicyEngineConfig } from './config';
import { VIOLATION_TAG_KEY } from '../../src/tag-policy-engine/contract';
import { compilePattern, ParsedRule, TAG_VALUE_MAX, tagValueProblem, valueProblem, ViolationActionName } from '../../src/tag-policy-engine/rule-format';
import { isProtected, splitAtCap } from '../shared/guards';

/*
 * The pure decision step: instances + rules + what is known of their creators + clock → plan. No I/O
 * here, so every rule and boundary is unit-tested directly.
 */
export interface ObservedInstance {
  readonly instanceId: string;
  readonly state: string;
  /** When the instance was first launched (its primary network interface's attach time; LaunchTime moves on every start). */
  readonly launchedAt?: Date;
  readonly tags: Readonly<Record<string, string>>;
  /** The EBS volumes and network interfaces that get the same tags with `propagateToVolumes`. */
  readonly attachedResourceIds: readonly string[];
}

/** What is known of an instance's creator. */
export type CreatorStatus =
  | { readonly kind: 'known'; readonly creator: string }
  | { readonly kind: 'unknown'; readonly why: string }
  /** Not looked up yet (this run's lookup budget ran out): decided again by a later run. */
  | { readonly kind: 'pending' };

export type Disposition = 'ACT' | 'REPORT' | 'PROTECTED' | 'CAP';
export type PlannedAction = 'TAG' | 'MARK' | 'UNMARK' | 'STOP' | 'TERMINATE' | 'NOTIFY';

export interface PlanItem {
  readonly instanceId: string;
  readonly action: PlannedAction;
  readonly disposition: Disposition;
  readonly reason: string;
  /** TAG and MARK: the tag written. */
  readonly tag?: { readonly key: string; readonly value: string };
  /** TAG: the instance's volumes and interfaces that get the tag too. */
  readonly alsoTag?: readonly string[];
  /** The tag keys of the rules the instance breaks, on every item about its violations. */
  readonly broken?: readonly string[];
  /** A marked instance's stop or termination to come: when it is due, if still in violation. */
  readonly due?: { readonly action: 'STOP' | 'TERMINATE'; readonly at: Date };
  readonly details: ReadonlyArray<readonly [string, string]>;
}

export interface Plan {
  readonly items: PlanItem[];
  /** Instances that break no rule and need no change. */
  readonly compliant: number;
}

export interface Violation {
  readonly rule: ParsedRule;
  readonly problem: string;
}

const SEVERITY: Record<ViolationActionName, number> = { NOTIFY: 0, MARK: 1, STOP: 2, TERMINATE: 3 };
/** States STOP applies to; a stopping or stopped instance is already where STOP would take it. */
const STOPPABLE = new Set(['pending', 'running']);
const CREATOR_PENDING = 'creator lookup pending: CloudTrail not searched yet for this launch (a later run continues)';

/** The mark's value: when the grace period started, and the rules broken then. */
export function markValue(markedAt: Date, violations: readonly Violation[]): string {
  const value = `${isoSeconds(markedAt)} ${[...new Set(violations.map((v) => v.rule.tagKey))].join(',')}`;
  // Cut by code points (EC2 counts characters), never inside a surrogate pair.
  const chars = [...value];
  return chars.length <= TAG_VALUE_MAX ? value : `${chars.slice(0, TAG_VALUE_MAX - 3).join('')}...`;
}

/** When the mark says the grace period started; undefined when the value is not a mark of ours. */
export function markedAtOf(value: string | undefined): Date | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)( |$)/.exec(value ?? '');
  if (!match) return undefined;
  const date = new Date(match[1]);
  // Date rolls impossible dates over (2025-02-30 reads as March 2nd): such a value was not written by us.
  return Number.isNaN(date.getTime()) || isoSeconds(date) !== match[1] ? undefined : date;
}

/** An ISO time to the second, as marks carry it: 2026-12-02T13:00:00Z. */
function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** The ISO date (YYYY-MM-DD, UTC) of a launch. */
export function launchDate(launchedAt: Date): string {
  return launchedAt.toISOString().slice(0, 10);
}

export function decide(
  instances: readonly ObservedInstance[],
  rules: readonly ParsedRule[],
  creators: ReadonlyMap<string, CreatorStatus>,
  config: TagPolicyEngineConfig,
  now: Date,
): Plan {
  const compiled = new Map(rules.filter((r) => r.pattern !== undefined).map((r) => [r, compilePattern(r.pattern!)]));
  const items: PlanItem[] = [];
  let compliant = 0;
  for (const instance of instances) {
    const planned = decideInstance(instance, rules, compiled, creators.get(instance.instanceId) ?? { kind: 'pending' }, config, now);
    if (planned.length === 0) compliant++;
    items.push(...planned);
  }
  // The cap is on what cannot be undone: stops and terminations. Tags are written for every instance.
  const { over } = splitAtCap(items, (i) => i.disposition === 'ACT' && (i.action === 'STOP' || i.action === 'TERMINATE'), config.maxActionsPerRun);
  return {
    items: items.map((i) => over.has(i) ? { ...i, disposition: 'CAP', reason: `${i.reason}; over maxActionsPerRun (${config.maxActionsPerRun}), left for a later run` } : i),
    compliant,
  };
}

function decideInstance(
  instance: ObservedInstance,
  rules: readonly ParsedRule[],
  compiled: ReadonlyMap<ParsedRule, RegExp>,
  creator: CreatorStatus,
  config: TagPolicyEngineConfig,
  now: Date,
): PlanItem[] {
  const details: Array<readonly [string, string]> = [['name', instance.tags.Name ?? '-'], ['state', instance.state]];
  const fixes: Array<{ key: string; value: string; rule: ParsedRule }> = [];
  const violations: Violation[] = [];
  const notes: string[] = [];
  // Values as they will be once this run's fixes are written: a FromTag default reads them.
  const values: Record<string, string> = { ...instance.tags };

  for (const rule of evaluationOrder(rules)) {
    const current = values[rule.tagKey];
    if (current !== undefined && current.trim() !== '') {
      const problem = valueProblem(rule, current, compiled.get(rule));
      // An invalid value is never overwritten: someone set it, someone has to decide.
      if (problem) violations.push({ rule, problem });
      continue;
    }
    const missing = current === undefined ? 'missing' : 'empty';
    const fill = defaultFor(rule, instance, values, creator);
    if (fill.value !== undefined) {
      const problem = tagValueProblem(fill.value) ?? valueProblem(rule, fill.value, compiled.get(rule));
      if (problem) {
        if (rule.required) violations.push({ rule, problem: `${missing}, and its default breaks the rule: ${problem}` });
        continue;
      }
      values[rule.tagKey] = fill.value;
      fixes.push({ key: rule.tagKey, value: fill.value, rule });
    } else if (fill.pending) {
      notes.push(`${rule.tagKey} ${missing}: ${CREATOR_PENDING}`);
    } else if (rule.required) {
      violations.push({ rule, problem: fill.why ? `${missing}, and ${fill.why}` : `${missing}, and the rule has no default` });
    }
  }

  const mark = instance.tags[VIOLATION_TAG_KEY];
  const severity = violations.reduce<ViolationActionName | undefined>((worst, v) => {
    const action = v.rule.onViolation ?? config.untaggedAction;
    return worst === undefined || SEVERITY[action] > SEVERITY[worst] ? action : worst;
  }, undefined);
  const broken = violations.map((v) => `${v.rule.tagKey} (rule ${v.rule.ruleId}): ${v.problem}`).join('; ');

  if (isProtected(instance.tags, config.protectionTagKey)) {
    if (fixes.length === 0 && violations.length === 0) return [];
    const would = [...fixes.map((f) => `tag ${f.key}=${f.value}`), ...(violations.length ? [`${severity}: ${broken}`] : [])].join('; ');
    return [{
      instanceId: instance.instanceId,
      action: violations.length ? severity! : 'TAG',
      disposition: 'PROTECTED',
      reason: `carries protection tag ${config.protectionTagKey}; would ${would}`,
      details,
      ...(violations.length ? { broken: [...new Set(violations.map((v) => v.rule.tagKey))] } : {}),
    }];
  }

  const items: PlanItem[] = fixes.map((f) => ({
    instanceId: instance.instanceId,
    action: 'TAG',
    disposition: 'ACT',
    reason: `${f.key} ${instance.tags[f.key] === undefined ? 'missing' : 'empty'}: default of rule ${f.rule.ruleId} (${describeDefault(f.rule)})`,
    tag: { key: f.key, value: f.value },
    alsoTag: config.propagateToVolumes ? instance.attachedResourceIds : undefined,
    details: [...details, ['tag', `${f.key}=${f.value}`]],
  }));
  for (const note of notes) items.push({ instanceId: instance.instanceId, action: 'NOTIFY', disposition: 'REPORT', reason: note, details });

  const markedAt = markedAtOf(mark);
  const base = {
    instanceId: instance.instanceId,
    details: mark === undefined ? details : [...details, ['marked', mark] as const],
    ...(violations.length > 0 ? { broken: [...new Set(violations.map((v) => v.rule.tagKey))] } : {}),
  };
  if (severity === undefined || severity === 'NOTIFY') {
    if (severity === 'NOTIFY') items.push({ ...base, action: 'NOTIFY', disposition: 'REPORT', reason: `violation: ${broken}` });
    if (mark !== undefined) {
      const why = severity === undefined ? 'no rule is broken any more' : 'the rules it breaks now only notify';
      items.push({ ...base, action: 'UNMARK', disposition: 'ACT', reason: `marked ${mark}, but ${why}` });
    }
    return items;
  }

  if (markedAt === undefined) {
    const value = markValue(now, violations);
    const due = severity === 'MARK' ? undefined : { action: severity, at: new Date(now.getTime() + config.gracePeriodSeconds * 1000) };
    const next = due ? `due for ${due.action} on or after ${due.at.toISOString()} if still in violation` : 'nothing further is done (MARK)';
    const unreadable = mark === undefined ? '' : ` (its mark ${JSON.stringify(mark)} is not one of ours: marked again)`;
    items.push({
      ...base, action: 'MARK', disposition: 'ACT', reason: `violation: ${broken}; ${next}${unreadable}`, tag: { key: VIOLATION_TAG_KEY, value }, ...(due ? { due } : {}),
    });
    return items;
  }
  if (severity === 'MARK') {
    items.push({ ...base, action: 'NOTIFY', disposition: 'REPORT', reason: `violation, marked since ${markedAt.toISOString()}: ${broken}` });
    return items;
  }
  const due = new Date(markedAt.getTime() + config.gracePeriodSeconds * 1000);
  if (now.getTime() < due.getTime()) {
    items.push({
      ...base,
      action: 'NOTIFY',
      disposition: 'REPORT',
      reason: `violation, marked since ${markedAt.toISOString()}; due for ${severity} on or after ${due.toISOString()}: ${broken}`,
      due: { action: severity, at: due },
    });
    return items;
  }
  if (severity === 'STOP' && !STOPPABLE.has(instance.state)) {
    items.push({ ...base, action: 'NOTIFY', disposition: 'REPORT', reason: `violation past its grace period, already ${instance.state}: ${broken}` });
    return items;
  }
  items.push({ ...base, action: severity, disposition: 'ACT', reason: `violation past its grace period (marked ${markedAt.toISOString()}, due ${due.toISOString()}): ${broken}` });
  return items;
}

/**
 * FromTag defaults last, so that they can copy a value another rule fills in this run; among them, a
 * rule whose source another FromTag rule fills comes after that rule (B from C before A from B), so a
 * chain fills in one run instead of reporting a violation first. Rules in a cycle keep their order.
 */
function evaluationOrder(rules: readonly ParsedRule[]): ParsedRule[] {
  const sourceOf = (r: ParsedRule) => (r.defaultValue?.kind === 'fromTag' ? r.defaultValue.tagKey : undefined);
  const ordered = rules.filter((r) => sourceOf(r) === undefined);
  let waiting = rules.filter((r) => sourceOf(r) !== undefined);
  for (;;) {
    const filledLater = new Set(waiting.map((r) => r.tagKey));
    const ready = waiting.filter((r) => !filledLater.has(sourceOf(r)!));
    // Nothing left, or a cycle: the rest keep their order.
    if (ready.length === 0) return [...ordered, ...waiting];
    ordered.push(...ready);
    waiting = waiting.filter((r) => !ready.includes(r));
  }
}


interface Fill {
  readonly value?: string;
  readonly pending?: boolean;
  /** Why no value could be found, for a default that has none for this instance. */
  readonly why?: string;
}

function defaultFor(rule: ParsedRule, instance: ObservedInstance, values: Readonly<Record<string, string>>, creator: CreatorStatus): Fill {
  const spec = rule.defaultValue;
  switch (spec?.kind) {
    case undefined:
      return {};
    case 'fixed':
      return { value: spec.value };
    case 'launchDate':
      return instance.launchedAt ? { value: launchDate(instance.launchedAt) } : { why: 'its launch time is unknown' };
    case 'fromTag': {
      const source = values[spec.tagKey];
      return source !== undefined && source.trim() !== '' ? { value: source } : { why: `tag ${spec.tagKey}, its default's source, is missing too` };
    }
    case 'creator':
      if (creator.kind === 'known') return { value: creator.creator };
      if (creator.kind === 'pending') return { pending: true };
      return { why: `its creator is unknown (${creator.why})` };
  }
}

function describeDefault(rule: ParsedRule): string {
  const spec = rule.defaultValue!;
  switch (spec.kind) {
    case 'fixed': return 'fixed value';
    case 'creator': return 'creator';
    case 'launchDate': return 'launch date';
    case 'fromTag': return `copied from ${spec.tagKey}`;
  }
}

/** Instances whose creator a rule could fill in: missing or empty, unprotected, and a rule defaults to the creator. */
export function needsCreator(instance: ObservedInstance, rules: readonly ParsedRule[], protectionTagKey: string): boolean {
  if (isProtected(instance.tags, protectionTagKey)) return false;
  return rules.some((r) => r.defaultValue?.kind === 'creator' && !(instance.tags[r.tagKey]?.trim()));
}
