import { DEFAULT_GRACE_PERIOD_SECONDS, DEFAULT_PROTECTION_TAG_KEY, TagPolicyEngineConfig } from '../../../lambda/tag-policy-engine/config';
import {
  CreatorStatus,
  decide,
  launchDate,
  markedAtOf,
  markValue,
  needsCreator,
  ObservedInstance,
  Plan,
  PlanItem,
  Violation,
} from '../../../lambda/tag-policy-engine/decide';
import { VIOLATION_TAG_KEY } from '../../../src/tag-policy-engine/contract';
import { ParsedRule, parseRuleItem } from '../../../src/tag-policy-engine/rule-format';

const NOW = new Date('2025-06-01T12:00:00Z');
const DAY = 86_400;
const GRACE = DEFAULT_GRACE_PERIOD_SECONDS;
const LAUNCHED = new Date('2025-05-20T08:30:00Z');

const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);
/** The mark value the engine writes at `at` for these keys. */
const mark = (at: Date, keys = 'Environment') => `${at.toISOString().replace(/\.\d{3}Z$/, 'Z')} ${keys}`;

function config(overrides: Partial<TagPolicyEngineConfig> = {}): TagPolicyEngineConfig {
  return {
    topicArn: 'arn:aws:sns:us-east-1:123456789012:janitor',
    tableName: 'rules',
    untaggedAction: 'NOTIFY',
    gracePeriodSeconds: GRACE,
    vpcIds: [],
    instanceSelector: {},
    protectionTagKey: DEFAULT_PROTECTION_TAG_KEY,
    dryRun: false,
    maxActionsPerRun: 100,
    backfillCreators: true,
    backfillMaxLookups: 200,
    propagateToVolumes: false,
    ...overrides,
  };
}

/** A rule as the table holds it, read by the same parser the handler uses. */
function rule(item: Record<string, unknown>): ParsedRule {
  const result = parseRuleItem(item);
  if (!result.rule) throw new Error(result.error);
  return result.rule;
}

// The issue's example rules.
const COST_CENTER = rule({ RuleId: 'cc', TagKey: 'CostCenter', Required: 'true', Action: 'Update', Default: 'unassigned', AllowedValues: ['1001', '1002', 'unassigned'] });
const CREATED_BY = rule({ RuleId: 'cb', TagKey: 'CreatedBy', Required: 'true', Action: 'UserLookup' });
const LAUNCH_DATE = rule({ RuleId: 'ld', TagKey: 'LaunchDate', Required: 'true', Action: 'Function', Default: 'today()' });
const ENVIRONMENT = rule({ RuleId: 'env', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|staging|prod)$' });

let counter = 0;
function instance(props: Partial<ObservedInstance> = {}): ObservedInstance {
  counter++;
  return {
    instanceId: `i-${counter.toString(16).padStart(17, '0')}`,
    state: 'running',
    launchedAt: LAUNCHED,
    tags: { Name: 'web' },
    attachedResourceIds: [`vol-${counter.toString(16).padStart(17, '0')}`, `eni-${counter.toString(16).padStart(17, '0')}`],
    ...props,
  };
}

const known = (creator: string): CreatorStatus => ({ kind: 'known', creator });

function plan(instances: ObservedInstance[], rules: ParsedRule[], cfg = config(), creators = new Map<string, CreatorStatus>(), now = NOW): Plan {
  return decide(instances, rules, creators, cfg, now);
}

/** The items for one instance, in plan order. */
function itemsOf(p: Plan, i: ObservedInstance): PlanItem[] {
  return p.items.filter((item) => item.instanceId === i.instanceId);
}

function decideOne(i: ObservedInstance, rules: ParsedRule[], cfg = config(), creator?: CreatorStatus, now = NOW): PlanItem[] {
  const creators = new Map<string, CreatorStatus>(creator ? [[i.instanceId, creator]] : []);
  return itemsOf(plan([i], rules, cfg, creators, now), i);
}

const summary = (items: PlanItem[]) => items.map((i) => `${i.action}/${i.disposition}${i.tag ? ` ${i.tag.key}=${i.tag.value}` : ''}`);

describe('compliant instances', () => {
  test('no items, counted as compliant', () => {
    const i = instance({ tags: { CostCenter: '1001', CreatedBy: 'jane', LaunchDate: '2025-05-20', Environment: 'prod' } });
    const p = plan([i], [COST_CENTER, CREATED_BY, LAUNCH_DATE, ENVIRONMENT]);
    expect(p).toEqual({ items: [], compliant: 1 });
  });

  test('no rules: every instance is compliant', () => {
    expect(plan([instance({ tags: {} }), instance({ tags: {} })], [])).toEqual({ items: [], compliant: 2 });
  });

  test('an optional rule without a default is fine when its tag is missing', () => {
    const optional = rule({ RuleId: 'o', TagKey: 'Team', Required: 'false' });
    expect(plan([instance()], [optional]).compliant).toBe(1);
  });

  test('a value is only checked against its own rule', () => {
    const i = instance({ tags: { Environment: 'prod', Other: 'anything' } });
    expect(decideOne(i, [ENVIRONMENT])).toEqual([]);
  });
});

describe('fixes', () => {
  test('a missing tag with a fixed default is tagged, with the rule and the kind of default in the reason', () => {
    const i = instance({ tags: { Name: 'web' } });
    const [item] = decideOne(i, [COST_CENTER]);
    expect(item).toEqual({
      instanceId: i.instanceId,
      action: 'TAG',
      disposition: 'ACT',
      reason: 'CostCenter missing: default of rule cc (fixed value)',
      tag: { key: 'CostCenter', value: 'unassigned' },
      alsoTag: undefined,
      details: [['name', 'web'], ['state', 'running'], ['tag', 'CostCenter=unassigned']],
    });
  });

  test.each([[''], ['   '], ['\t']])('an empty value (%j) counts as missing', (value) => {
    const items = decideOne(instance({ tags: { CostCenter: value } }), [COST_CENTER]);
    expect(summary(items)).toEqual(['TAG/ACT CostCenter=unassigned']);
    expect(items[0].reason).toBe('CostCenter empty: default of rule cc (fixed value)');
  });

  test('an optional rule with a default fills its tag too', () => {
    const optional = rule({ RuleId: '3', TagKey: 'CostCenter', Action: 'Update', Default: '1001', Required: 'false' });
    expect(summary(decideOne(instance(), [optional]))).toEqual(['TAG/ACT CostCenter=1001']);
  });

  test('the launch date default is the launch date in UTC, ISO YYYY-MM-DD', () => {
    const i = instance({ launchedAt: new Date('2025-05-20T23:59:59.999Z') });
    const [item] = decideOne(i, [LAUNCH_DATE]);
    expect(item.tag).toEqual({ key: 'LaunchDate', value: '2025-05-20' });
    expect(item.reason).toBe('LaunchDate missing: default of rule ld (launch date)');
    expect(decideOne(instance({ launchedAt: new Date('2025-05-21T00:00:00Z') }), [LAUNCH_DATE])[0].tag!.value).toBe('2025-05-21');
  });

  test('a known creator fills the creator default', () => {
    const i = instance();
    const [item] = decideOne(i, [CREATED_BY], config(), known('AWSReservedSSO_Admin_abc123/jane@example.com'));
    expect(item.tag).toEqual({ key: 'CreatedBy', value: 'AWSReservedSSO_Admin_abc123/jane@example.com' });
    expect(item.reason).toBe('CreatedBy missing: default of rule cb (creator)');
  });

  test('each missing tag is its own TAG item, in rule order', () => {
    const i = instance();
    const items = decideOne(i, [COST_CENTER, CREATED_BY, LAUNCH_DATE], config(), known('jane'));
    expect(summary(items)).toEqual(['TAG/ACT CostCenter=unassigned', 'TAG/ACT CreatedBy=jane', 'TAG/ACT LaunchDate=2025-05-20']);
  });

  test('propagateToVolumes: the volumes and interfaces get the tag too', () => {
    const i = instance({ attachedResourceIds: ['vol-0123456789abcdef0', 'eni-0123456789abcdef0'] });
    expect(decideOne(i, [COST_CENTER], config({ propagateToVolumes: true }))[0].alsoTag).toEqual(['vol-0123456789abcdef0', 'eni-0123456789abcdef0']);
    expect(decideOne(i, [COST_CENTER], config({ propagateToVolumes: false }))[0].alsoTag).toBeUndefined();
  });

  test('propagateToVolumes does not touch the mark: MARK has no alsoTag', () => {
    const items = decideOne(instance(), [ENVIRONMENT], config({ untaggedAction: 'MARK', propagateToVolumes: true }));
    expect(items[0].action).toBe('MARK');
    expect(items[0].alsoTag).toBeUndefined();
  });

  test('tags are never capped, whatever maxActionsPerRun', () => {
    const instances = Array.from({ length: 5 }, () => instance());
    const p = plan(instances, [COST_CENTER, LAUNCH_DATE], config({ maxActionsPerRun: 0 }));
    expect(p.items).toHaveLength(10);
    expect(p.items.every((i) => i.action === 'TAG' && i.disposition === 'ACT')).toBe(true);
  });
});

describe('FromTag', () => {
  const PROJECT = rule({ RuleId: 'p', TagKey: 'Project', Required: 'true' });
  const BILLING = rule({ RuleId: 'b', TagKey: 'Billing', Required: 'true', Action: 'FromTag', Default: 'CostCenter' });

  test('copies the other tag\'s value', () => {
    const items = decideOne(instance({ tags: { CostCenter: '1002' } }), [BILLING]);
    expect(summary(items)).toEqual(['TAG/ACT Billing=1002']);
    expect(items[0].reason).toBe('Billing missing: default of rule b (copied from CostCenter)');
  });

  test('copies a value another rule fills in the same run, whatever the rule order', () => {
    const items = decideOne(instance({ tags: {} }), [BILLING, COST_CENTER]);
    expect(summary(items)).toEqual(['TAG/ACT CostCenter=unassigned', 'TAG/ACT Billing=unassigned']);
  });

  test('a chain of FromTag rules fills in one run, whatever their order', () => {
    const a = rule({ RuleId: 'a', TagKey: 'A', Required: 'true', Action: 'FromTag', Default: 'B' });
    const b = rule({ RuleId: 'b', TagKey: 'B', Required: 'true', Action: 'FromTag', Default: 'C' });
    const items = decideOne(instance({ tags: { C: 'x' } }), [a, b], config({ untaggedAction: 'MARK' }));
    expect(summary(items)).toEqual(['TAG/ACT B=x', 'TAG/ACT A=x']);
  });

  test('a cycle of FromTag rules is a violation for each required one, not a loop', () => {
    const a = rule({ RuleId: 'a', TagKey: 'A', Required: 'true', Action: 'FromTag', Default: 'B' });
    const b = rule({ RuleId: 'b', TagKey: 'B', Required: 'true', Action: 'FromTag', Default: 'A' });
    const [item] = decideOne(instance({ tags: {} }), [a, b]);
    expect(item.action).toBe('NOTIFY');
    expect(item.reason).toBe('violation: A (rule a): missing, and tag B, its default\'s source, is missing too; '
      + 'B (rule b): missing, and tag A, its default\'s source, is missing too');
  });

  test('a source that is missing or empty: a violation when required, nothing when not', () => {
    for (const tags of [{}, { CostCenter: ' ' }] as Array<Record<string, string>>) {
      const items = decideOne(instance({ tags }), [PROJECT, BILLING]);
      expect(items).toHaveLength(1);
      expect(items[0].reason).toContain('Billing (rule b): ');
      expect(items[0].reason).toContain('tag CostCenter, its default\'s source, is missing too');
    }
    const optional = rule({ RuleId: 'b', TagKey: 'Billing', Action: 'FromTag', Default: 'CostCenter' });
    expect(decideOne(instance({ tags: {} }), [optional])).toEqual([]);
  });

  test('a copied value that breaks the rule is a violation, not a tag', () => {
    const strict = rule({ RuleId: 'b', TagKey: 'Billing', Required: 'true', Action: 'FromTag', Default: 'CostCenter', Pattern: '\\d+' });
    const items = decideOne(instance({ tags: { CostCenter: 'none' } }), [strict]);
    expect(summary(items)).toEqual(['NOTIFY/REPORT']);
    expect(items[0].reason).toContain('missing, and its default breaks the rule: value "none" does not match the pattern "\\\\d+"');
  });
});

describe('violations', () => {
  test('a present value not allowed is a violation and is never overwritten, even with a default', () => {
    const items = decideOne(instance({ tags: { CostCenter: '9999' } }), [COST_CENTER]);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ action: 'NOTIFY', disposition: 'REPORT' });
    expect(items[0].tag).toBeUndefined();
    expect(items[0].reason).toBe('violation: CostCenter (rule cc): value "9999" is not one of the allowed values "1001", "1002", "unassigned"');
  });

  test('a present value breaking the pattern is a violation, required or not', () => {
    const optional = rule({ RuleId: 'env', TagKey: 'Environment', Pattern: 'dev|prod' });
    const items = decideOne(instance({ tags: { Environment: 'production' } }), [optional]);
    expect(items[0].reason).toBe('violation: Environment (rule env): value "production" does not match the pattern "dev|prod"');
  });

  test('a value with spaces around it is checked as it is', () => {
    expect(decideOne(instance({ tags: { Environment: ' prod' } }), [ENVIRONMENT])).toHaveLength(1);
  });

  test('missing without a default: a violation that says so', () => {
    const items = decideOne(instance(), [ENVIRONMENT]);
    expect(items[0].reason).toBe('violation: Environment (rule env): missing, and the rule has no default');
    expect(decideOne(instance({ tags: { Environment: '' } }), [ENVIRONMENT])[0].reason).toBe('violation: Environment (rule env): empty, and the rule has no default');
  });

  test('an unknown launch time with the launch date rule is a violation', () => {
    const items = decideOne(instance({ launchedAt: undefined }), [LAUNCH_DATE]);
    expect(items[0].reason).toBe('violation: LaunchDate (rule ld): missing, and its launch time is unknown');
  });

  test('a creator default that breaks the pattern is a violation, not a tag', () => {
    const strict = rule({ RuleId: 'cb', TagKey: 'CreatedBy', Required: 'true', Action: 'UserLookup', Pattern: '[a-z]+' });
    const items = decideOne(instance(), [strict], config(), known('AWSReservedSSO_Admin_abc123/jane@example.com'));
    expect(summary(items)).toEqual(['NOTIFY/REPORT']);
    expect(items[0].reason).toMatch(/^violation: CreatedBy \(rule cb\): missing, and its default breaks the rule: value ".*" does not match the pattern "\[a-z\]\+"$/);
  });

  test('an optional rule whose default breaks it writes nothing and reports nothing', () => {
    const optional = rule({ RuleId: 'cb', TagKey: 'CreatedBy', Action: 'UserLookup', AllowedValues: ['jane'] });
    expect(decideOne(instance(), [optional], config(), known('bob'))).toEqual([]);
  });

  test('a default longer than a tag value may be is a violation, not a tag', () => {
    const items = decideOne(instance(), [CREATED_BY], config(), known('x'.repeat(257)));
    expect(items[0].reason).toContain('its default breaks the rule: a tag value must have at most 256 characters');
    expect(summary(decideOne(instance(), [CREATED_BY], config(), known('x'.repeat(256))))).toEqual([`TAG/ACT CreatedBy=${'x'.repeat(256)}`]);
  });

  test('an unknown creator with a required rule is a violation that says why', () => {
    const items = decideOne(instance(), [CREATED_BY], config(), { kind: 'unknown', why: 'launched more than 90 days ago' });
    expect(items[0].reason).toBe('violation: CreatedBy (rule cb): missing, and its creator is unknown (launched more than 90 days ago)');
  });

  test('an unknown creator with an optional rule is nothing', () => {
    const optional = rule({ RuleId: 'cb', TagKey: 'CreatedBy', Action: 'UserLookup' });
    expect(decideOne(instance(), [optional], config(), { kind: 'unknown', why: 'x' })).toEqual([]);
  });

  test('a pending creator is a REPORT note, not a violation: never marked', () => {
    const i = instance();
    const items = decideOne(i, [CREATED_BY], config({ untaggedAction: 'TERMINATE' }), { kind: 'pending' });
    expect(items).toEqual([{
      instanceId: i.instanceId,
      action: 'NOTIFY',
      disposition: 'REPORT',
      reason: 'CreatedBy missing: creator lookup pending: CloudTrail not searched yet for this launch (a later run continues)',
      details: [['name', 'web'], ['state', 'running']],
    }]);
  });

  test('an instance the creators map does not hold counts as pending', () => {
    const p = plan([instance()], [CREATED_BY], config({ untaggedAction: 'MARK' }));
    expect(summary(p.items)).toEqual(['NOTIFY/REPORT']);
    expect(p.items[0].reason).toContain('creator lookup pending');
    expect(p.compliant).toBe(0);
  });

  test('all violations of an instance are in one item, with their rule ids', () => {
    const items = decideOne(instance({ tags: { CostCenter: 'x' } }), [COST_CENTER, ENVIRONMENT]);
    expect(items).toHaveLength(1);
    expect(items[0].reason).toBe('violation: CostCenter (rule cc): value "x" is not one of the allowed values "1001", "1002", "unassigned"; '
      + 'Environment (rule env): missing, and the rule has no default');
  });

  test('fixes are made on an instance that also breaks a rule', () => {
    const items = decideOne(instance(), [COST_CENTER, ENVIRONMENT], config({ untaggedAction: 'MARK' }));
    expect(summary(items)).toEqual(['TAG/ACT CostCenter=unassigned', `MARK/ACT ${VIOLATION_TAG_KEY}=${mark(NOW)}`]);
  });
});

describe('severity: the most severe of (rule.onViolation ?? untaggedAction)', () => {
  const r = (id: string, onViolation?: string) => rule({ RuleId: id, TagKey: `K${id}`, Required: 'true', ...(onViolation ? { OnViolation: onViolation } : {}) });
  const marked = () => instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) } });

  test.each<[string, ParsedRule[], Partial<TagPolicyEngineConfig>, string]>([
    ['untaggedAction alone', [r('1')], { untaggedAction: 'STOP' }, 'STOP'],
    ['onViolation over a milder untaggedAction', [r('1', 'TERMINATE')], { untaggedAction: 'NOTIFY' }, 'TERMINATE'],
    ['onViolation over a harsher untaggedAction', [r('1', 'NOTIFY')], { untaggedAction: 'TERMINATE' }, 'NOTIFY'],
    ['the worst of several rules', [r('1', 'NOTIFY'), r('2', 'STOP'), r('3', 'MARK')], { untaggedAction: 'NOTIFY' }, 'STOP'],
    ['TERMINATE beats STOP', [r('1', 'STOP'), r('2', 'TERMINATE')], {}, 'TERMINATE'],
    ['a rule without onViolation brings untaggedAction in', [r('1', 'NOTIFY'), r('2')], { untaggedAction: 'TERMINATE' }, 'TERMINATE'],
  ])('%s', (_label, rules, cfg, expected) => {
    const items = decideOne(marked(), rules, config(cfg));
    const expectedAction = expected === 'NOTIFY' ? 'UNMARK' : expected;
    expect(items.map((i) => i.action)).toContain(expectedAction);
    if (expected === 'STOP' || expected === 'TERMINATE') expect(items.find((i) => i.action === expected)!.disposition).toBe('ACT');
  });

  test('only rules broken count: a TERMINATE rule that is satisfied does not raise the severity', () => {
    const terminate = rule({ RuleId: 't', TagKey: 'Owner', Required: 'true', OnViolation: 'TERMINATE' });
    const items = decideOne(instance({ tags: { Owner: 'jane' } }), [terminate, ENVIRONMENT]);
    expect(summary(items)).toEqual(['NOTIFY/REPORT']);
  });
});

describe('mark and grace period', () => {
  const stop = config({ untaggedAction: 'STOP' });

  test('first violation: MARK with `<ISO seconds Z> <keys>`, and the report says when it is due', () => {
    const i = instance();
    const now = new Date('2025-06-01T12:00:00.789Z');
    const items = decideOne(i, [ENVIRONMENT, COST_CENTER], stop, undefined, now);
    const marking = items.find((x) => x.action === 'MARK')!;
    expect(marking).toMatchObject({ disposition: 'ACT', tag: { key: VIOLATION_TAG_KEY, value: '2025-06-01T12:00:00Z Environment' } });
    expect(marking.reason).toBe('violation: Environment (rule env): missing, and the rule has no default; due for STOP on or after 2025-06-04T12:00:00.789Z if still in violation');
  });

  test('MARK as the action: marked, and nothing further is done', () => {
    const items = decideOne(instance(), [ENVIRONMENT], config({ untaggedAction: 'MARK' }));
    expect(items[0].action).toBe('MARK');
    expect(items[0].reason).toMatch(/; nothing further is done \(MARK\)$/);
  });

  test('MARK, already marked: reported, the mark kept', () => {
    const i = instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(30 * DAY)) } });
    const items = decideOne(i, [ENVIRONMENT], config({ untaggedAction: 'MARK' }));
    expect(summary(items)).toEqual(['NOTIFY/REPORT']);
    expect(items[0].reason).toBe('violation, marked since 2025-05-02T12:00:00.000Z: Environment (rule env): missing, and the rule has no default');
    expect(items[0].details).toContainEqual(['marked', mark(ago(30 * DAY))]);
  });

  test('NOTIFY: never marked', () => {
    const items = decideOne(instance(), [ENVIRONMENT], config({ untaggedAction: 'NOTIFY' }));
    expect(summary(items)).toEqual(['NOTIFY/REPORT']);
  });

  test('grace period: due - 1 ms is REPORT, due acts', () => {
    const markedAt = new Date('2025-05-29T12:00:00Z');
    const i = instance({ tags: { Name: 'web', [VIOLATION_TAG_KEY]: mark(markedAt) } });
    const due = markedAt.getTime() + GRACE * 1000;
    const before = decideOne(i, [ENVIRONMENT], stop, undefined, new Date(due - 1));
    expect(summary(before)).toEqual(['NOTIFY/REPORT']);
    expect(before[0].reason).toBe('violation, marked since 2025-05-29T12:00:00.000Z; due for STOP on or after 2025-06-01T12:00:00.000Z: '
      + 'Environment (rule env): missing, and the rule has no default');
    const at = decideOne(i, [ENVIRONMENT], stop, undefined, new Date(due));
    expect(summary(at)).toEqual(['STOP/ACT']);
    expect(at[0].reason).toBe('violation past its grace period (marked 2025-05-29T12:00:00.000Z, due 2025-06-01T12:00:00.000Z): '
      + 'Environment (rule env): missing, and the rule has no default');
    expect(at[0].details).toEqual([['name', 'web'], ['state', 'running'], ['marked', mark(markedAt)]]);
  });

  test('a configured grace period is used, and 0 acts on the run after marking', () => {
    const i = instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(3_600)) } });
    expect(summary(decideOne(i, [ENVIRONMENT], config({ untaggedAction: 'TERMINATE', gracePeriodSeconds: 3_601 })))).toEqual(['NOTIFY/REPORT']);
    expect(summary(decideOne(i, [ENVIRONMENT], config({ untaggedAction: 'TERMINATE', gracePeriodSeconds: 3_600 })))).toEqual(['TERMINATE/ACT']);
    const fresh = decideOne(instance(), [ENVIRONMENT], config({ untaggedAction: 'TERMINATE', gracePeriodSeconds: 0 }));
    expect(summary(fresh)).toEqual([`MARK/ACT ${VIOLATION_TAG_KEY}=${mark(NOW)}`]);
  });

  test('a mark in the future keeps the instance in its grace period', () => {
    const i = instance({ tags: { [VIOLATION_TAG_KEY]: mark(new Date(NOW.getTime() + DAY * 1000)) } });
    expect(summary(decideOne(i, [ENVIRONMENT], stop))).toEqual(['NOTIFY/REPORT']);
  });

  test.each(['pending', 'running'])('STOP past the grace period on a %s instance stops it', (state) => {
    const i = instance({ state, tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) } });
    expect(summary(decideOne(i, [ENVIRONMENT], stop))).toEqual(['STOP/ACT']);
  });

  test.each(['stopping', 'stopped'])('STOP on an already %s instance is REPORT', (state) => {
    const i = instance({ state, tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) } });
    const items = decideOne(i, [ENVIRONMENT], stop);
    expect(summary(items)).toEqual(['NOTIFY/REPORT']);
    expect(items[0].reason).toBe(`violation past its grace period, already ${state}: Environment (rule env): missing, and the rule has no default`);
  });

  test('TERMINATE applies to a stopped instance', () => {
    const i = instance({ state: 'stopped', tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) } });
    expect(summary(decideOne(i, [ENVIRONMENT], config({ untaggedAction: 'TERMINATE' })))).toEqual(['TERMINATE/ACT']);
  });

  test.each([
    ['not a date', 'someone wrote this'],
    ['a date without seconds', '2025-05-01T12:00Z Environment'],
    ['milliseconds', '2025-05-01T12:00:00.000Z Environment'],
    ['an impossible date', '2025-02-30T12:00:00Z Environment'],
    ['no space after the time', '2025-05-01T12:00:00ZEnvironment'],
    ['empty', ''],
  ])('an unreadable mark (%s) is marked again, never acted on', (_label, value) => {
    const i = instance({ tags: { [VIOLATION_TAG_KEY]: value } });
    const items = decideOne(i, [ENVIRONMENT], config({ untaggedAction: 'TERMINATE' }));
    expect(summary(items)).toEqual([`MARK/ACT ${VIOLATION_TAG_KEY}=${mark(NOW)}`]);
    expect(items[0].reason).toContain(`(its mark ${JSON.stringify(value)} is not one of ours: marked again)`);
    expect(items[0].details).toContainEqual(['marked', value]);
  });

  test('marked and now compliant: UNMARK', () => {
    const value = mark(ago(DAY));
    const i = instance({ tags: { Name: 'web', Environment: 'prod', [VIOLATION_TAG_KEY]: value } });
    const items = decideOne(i, [ENVIRONMENT], stop);
    expect(items).toEqual([{
      instanceId: i.instanceId,
      action: 'UNMARK',
      disposition: 'ACT',
      reason: `marked ${value}, but no rule is broken any more`,
      details: [['name', 'web'], ['state', 'running'], ['marked', value]],
    }]);
  });

  test('marked, and this run\'s fixes make it compliant: TAG and UNMARK', () => {
    const i = instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE * 2)) } });
    expect(summary(decideOne(i, [COST_CENTER], stop))).toEqual(['TAG/ACT CostCenter=unassigned', 'UNMARK/ACT']);
  });

  test('marked, even with an unreadable mark, and compliant: UNMARK', () => {
    const i = instance({ tags: { Environment: 'dev', [VIOLATION_TAG_KEY]: 'garbage' } });
    expect(summary(decideOne(i, [ENVIRONMENT], stop))).toEqual(['UNMARK/ACT']);
  });

  test('marked, and only NOTIFY-level violations left: UNMARK plus NOTIFY', () => {
    const notifyOnly = rule({ RuleId: 'env', TagKey: 'Environment', Required: 'true', Pattern: 'dev|prod', OnViolation: 'NOTIFY' });
    const value = mark(ago(GRACE * 2));
    const items = decideOne(instance({ tags: { [VIOLATION_TAG_KEY]: value } }), [notifyOnly], config({ untaggedAction: 'TERMINATE' }));
    expect(summary(items)).toEqual(['NOTIFY/REPORT', 'UNMARK/ACT']);
    expect(items[0].reason).toBe('violation: Environment (rule env): missing, and the rule has no default');
    expect(items[1].reason).toBe(`marked ${value}, but the rules it breaks now only notify`);
  });

  test('marked, with only a pending creator: the note and UNMARK, never an action', () => {
    const i = instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE * 2)) } });
    expect(summary(decideOne(i, [CREATED_BY], config({ untaggedAction: 'TERMINATE' }), { kind: 'pending' }))).toEqual(['NOTIFY/REPORT', 'UNMARK/ACT']);
  });

  test('an instance never marked and with no violations gets no UNMARK', () => {
    expect(decideOne(instance({ tags: { Environment: 'dev' } }), [ENVIRONMENT], stop)).toEqual([]);
  });
});

describe('protection tag', () => {
  const protectedTags = { [DEFAULT_PROTECTION_TAG_KEY]: '' };

  test('wins over a due TERMINATE: PROTECTED, with what would have been done', () => {
    const i = instance({ tags: { Name: 'web', ...protectedTags, [VIOLATION_TAG_KEY]: mark(ago(GRACE * 2)) } });
    const items = decideOne(i, [COST_CENTER, ENVIRONMENT], config({ untaggedAction: 'TERMINATE' }));
    expect(items).toEqual([{
      instanceId: i.instanceId,
      action: 'TERMINATE',
      disposition: 'PROTECTED',
      reason: 'carries protection tag fleet-janitor:protect; would tag CostCenter=unassigned; TERMINATE: Environment (rule env): missing, and the rule has no default',
      details: [['name', 'web'], ['state', 'running']],
      broken: ['Environment'],
    }]);
  });

  test('wins over fixes: no tag is written', () => {
    const items = decideOne(instance({ tags: protectedTags }), [COST_CENTER]);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ action: 'TAG', disposition: 'PROTECTED', reason: 'carries protection tag fleet-janitor:protect; would tag CostCenter=unassigned' });
    expect(items[0].tag).toBeUndefined();
  });

  test('wins over MARK and NOTIFY', () => {
    expect(decideOne(instance({ tags: protectedTags }), [ENVIRONMENT], config({ untaggedAction: 'MARK' }))[0])
      .toMatchObject({ action: 'MARK', disposition: 'PROTECTED' });
    expect(decideOne(instance({ tags: protectedTags }), [ENVIRONMENT])[0]).toMatchObject({ action: 'NOTIFY', disposition: 'PROTECTED' });
  });

  test('a protected, compliant instance is not reported, and its mark is left alone', () => {
    const p = plan([instance({ tags: { ...protectedTags, Environment: 'dev', [VIOLATION_TAG_KEY]: mark(ago(DAY)) } })], [ENVIRONMENT]);
    expect(p).toEqual({ items: [], compliant: 1 });
  });

  test('a configured protection key replaces the default, and any value counts', () => {
    const cfg = config({ protectionTagKey: 'keep', untaggedAction: 'STOP' });
    expect(decideOne(instance({ tags: { keep: 'false' } }), [ENVIRONMENT], cfg)[0].disposition).toBe('PROTECTED');
    expect(decideOne(instance({ tags: protectedTags }), [ENVIRONMENT], cfg)[0].action).toBe('MARK');
  });

  test('the protection key is matched exactly', () => {
    expect(decideOne(instance({ tags: { 'Fleet-Janitor:Protect': 'true' } }), [ENVIRONMENT], config({ untaggedAction: 'MARK' }))[0].disposition).toBe('ACT');
  });

  test('protected instances do not use up the cap', () => {
    const due = { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) };
    const shielded = instance({ tags: { ...due, ...protectedTags } });
    const exposed = instance({ tags: due });
    const p = plan([shielded, exposed], [ENVIRONMENT], config({ untaggedAction: 'STOP', maxActionsPerRun: 1 }));
    expect(summary(itemsOf(p, shielded))).toEqual(['STOP/PROTECTED']);
    expect(summary(itemsOf(p, exposed))).toEqual(['STOP/ACT']);
  });
});

describe('per-run cap (maxActionsPerRun) on STOP and TERMINATE only', () => {
  const due = () => instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) } });

  test('the first within the cap act, the rest are CAP with the reason', () => {
    const instances = [due(), due(), due()];
    const p = plan(instances, [ENVIRONMENT], config({ untaggedAction: 'TERMINATE', maxActionsPerRun: 2 }));
    expect(p.items.map((i) => i.disposition)).toEqual(['ACT', 'ACT', 'CAP']);
    expect(p.items[2].reason).toMatch(/; over maxActionsPerRun \(2\), left for a later run$/);
    expect(p.items[2].action).toBe('TERMINATE');
  });

  test('exactly the cap: all act', () => {
    const p = plan([due(), due()], [ENVIRONMENT], config({ untaggedAction: 'STOP', maxActionsPerRun: 2 }));
    expect(p.items.map((i) => i.disposition)).toEqual(['ACT', 'ACT']);
  });

  test('a cap of 0 stops nothing, but tags, marks and unmarks everything', () => {
    const fresh = instance();
    const fixed = instance({ tags: { Environment: 'dev', [VIOLATION_TAG_KEY]: mark(ago(DAY)) } });
    const fixable = instance({ tags: { Environment: 'dev' } });
    const stale = due();
    const p = plan([fresh, fixed, fixable, stale], [ENVIRONMENT, COST_CENTER], config({ untaggedAction: 'STOP', maxActionsPerRun: 0 }));
    expect(summary(itemsOf(p, fresh))).toEqual(['TAG/ACT CostCenter=unassigned', `MARK/ACT ${VIOLATION_TAG_KEY}=${mark(NOW)}`]);
    expect(summary(itemsOf(p, fixed))).toEqual(['TAG/ACT CostCenter=unassigned', 'UNMARK/ACT']);
    expect(summary(itemsOf(p, fixable))).toEqual(['TAG/ACT CostCenter=unassigned']);
    expect(summary(itemsOf(p, stale))).toEqual(['TAG/ACT CostCenter=unassigned', 'STOP/CAP']);
  });

  test('REPORT items (already stopped, in grace) do not use up the cap', () => {
    const stopped = instance({ state: 'stopped', tags: { [VIOLATION_TAG_KEY]: mark(ago(GRACE)) } });
    const inGrace = instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(60)) } });
    const running = due();
    const p = plan([stopped, inGrace, running], [ENVIRONMENT], config({ untaggedAction: 'STOP', maxActionsPerRun: 1 }));
    expect(summary(p.items)).toEqual(['NOTIFY/REPORT', 'NOTIFY/REPORT', 'STOP/ACT']);
  });
});

describe('compliant count', () => {
  test('counts instances with no item at all', () => {
    const p = plan([instance({ tags: { Environment: 'dev' } }), instance(), instance({ tags: { Environment: 'qa' } })], [ENVIRONMENT]);
    expect(p.compliant).toBe(1);
    expect(p.items).toHaveLength(2);
  });

  test('an instance that only needs a tag is not compliant', () => {
    expect(plan([instance()], [COST_CENTER]).compliant).toBe(0);
  });
});

describe('details', () => {
  test('name "-" without a Name tag; the state', () => {
    const items = decideOne(instance({ tags: {}, state: 'stopped' }), [ENVIRONMENT]);
    expect(items[0].details).toEqual([['name', '-'], ['state', 'stopped']]);
  });
});

describe('markValue', () => {
  const v = (tagKey: string): Violation => ({ rule: rule({ RuleId: tagKey, TagKey: tagKey }), problem: 'p' });

  test('`<ISO seconds Z> <keys>`, keys once each, in order', () => {
    expect(markValue(new Date('2025-06-01T12:34:56.789Z'), [v('Environment'), v('Owner'), v('Environment')])).toBe('2025-06-01T12:34:56Z Environment,Owner');
  });

  test('256 characters kept; longer cut to 256 ending in "..."', () => {
    const at = new Date('2025-06-01T12:00:00Z');
    // 20 characters of time, a space, then the keys.
    const exact = markValue(at, [v('k'.repeat(128)), v('j'.repeat(106))]);
    expect(exact).toHaveLength(256);
    expect(exact.endsWith('j')).toBe(true);
    const over = markValue(at, [v('k'.repeat(128)), v('j'.repeat(107))]);
    expect(over).toHaveLength(256);
    expect(over).toBe(`2025-06-01T12:00:00Z ${'k'.repeat(128)},${'j'.repeat(103)}...`);
  });

  test('the cut counts characters as EC2 does and never splits one', () => {
    const emoji = '\u{1F600}';
    const value = markValue(new Date('2025-06-01T12:00:00Z'), [v(emoji.repeat(128)), v(`a${emoji.repeat(127)}`)]);
    expect([...value]).toHaveLength(256);
    expect(value.endsWith(`${emoji}...`)).toBe(true);
    expect(value).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  test('reads back with markedAtOf', () => {
    const at = new Date('2025-06-01T12:34:56.789Z');
    expect(markedAtOf(markValue(at, [v('A')]))).toEqual(new Date('2025-06-01T12:34:56Z'));
  });
});

describe('markedAtOf', () => {
  test.each([
    ['2025-06-01T12:00:00Z Environment', '2025-06-01T12:00:00.000Z'],
    ['2025-06-01T12:00:00Z', '2025-06-01T12:00:00.000Z'],
    ['2024-02-29T23:59:59Z A,B', '2024-02-29T23:59:59.000Z'],
  ])('%j → %s', (value, expected) => {
    expect(markedAtOf(value)?.toISOString()).toBe(expected);
  });

  test.each([
    undefined, '', 'x', ' 2025-06-01T12:00:00Z A', '2025-06-01T12:00:00.000Z A', '2025-06-01 12:00:00Z A', '2025-06-01T12:00:00+00:00 A',
    '2025-06-01T12:00:00ZA', '2025-13-01T12:00:00Z A', '2025-02-29T12:00:00Z A', '2025-06-31T12:00:00Z A', '2025-06-01T24:00:00Z A',
  ])('%j is not a mark of ours', (value) => {
    expect(markedAtOf(value)).toBeUndefined();
  });
});

describe('launchDate', () => {
  test('the UTC date', () => {
    expect(launchDate(new Date('2025-01-02T23:30:00-05:00'))).toBe('2025-01-03');
    expect(launchDate(new Date('2025-01-02T00:00:00Z'))).toBe('2025-01-02');
  });
});

describe('needsCreator', () => {
  const key = DEFAULT_PROTECTION_TAG_KEY;

  test('true when a creator rule\'s tag is missing or empty', () => {
    expect(needsCreator(instance({ tags: {} }), [CREATED_BY], key)).toBe(true);
    expect(needsCreator(instance({ tags: { CreatedBy: ' ' } }), [CREATED_BY], key)).toBe(true);
  });

  test('false when the tag is set, even to a value the rule refuses', () => {
    expect(needsCreator(instance({ tags: { CreatedBy: 'jane' } }), [CREATED_BY], key)).toBe(false);
  });

  test('false without a creator rule', () => {
    expect(needsCreator(instance({ tags: {} }), [COST_CENTER, LAUNCH_DATE, ENVIRONMENT], key)).toBe(false);
  });

  test('false for a protected instance', () => {
    expect(needsCreator(instance({ tags: { [key]: 'yes' } }), [CREATED_BY], key)).toBe(false);
  });

  test('true when any of several creator rules needs it; an optional one counts', () => {
    const owner = rule({ RuleId: 'o', TagKey: 'Owner', Action: 'UserLookup' });
    expect(needsCreator(instance({ tags: { CreatedBy: 'jane' } }), [CREATED_BY, owner], key)).toBe(true);
  });
});

describe('broken and due: what the overview counts', () => {
  test('every item about a violation names the broken rules\' keys; tags, notes and unmarks of compliant instances name none', () => {
    const notifying = decideOne(instance({ tags: { CostCenter: '9999', Environment: 'qa' } }), [COST_CENTER, ENVIRONMENT]);
    expect(notifying.map((i) => [i.action, i.broken])).toEqual([['NOTIFY', ['CostCenter', 'Environment']]]);
    const fixedAndMarked = decideOne(instance({ tags: { [VIOLATION_TAG_KEY]: mark(ago(DAY)) } }), [COST_CENTER]);
    expect(fixedAndMarked.map((i) => [i.action, i.broken])).toEqual([['TAG', undefined], ['UNMARK', undefined]]);
    const pending = decideOne(instance({ tags: {} }), [CREATED_BY], config(), { kind: 'pending' });
    expect(pending.map((i) => [i.action, i.broken])).toEqual([['NOTIFY', undefined]]);
  });

  test('a first mark for STOP is due a grace period from now; a MARK-only one is due for nothing', () => {
    const [stop] = decideOne(instance({ tags: { Environment: 'qa' } }), [ENVIRONMENT], config({ untaggedAction: 'STOP' }));
    expect(stop).toMatchObject({ action: 'MARK', broken: ['Environment'], due: { action: 'STOP', at: new Date(NOW.getTime() + GRACE * 1000) } });
    const [markOnly] = decideOne(instance({ tags: { Environment: 'qa' } }), [ENVIRONMENT], config({ untaggedAction: 'MARK' }));
    expect(markOnly.action).toBe('MARK');
    expect(markOnly.due).toBeUndefined();
  });

  test('a marked instance in its grace period is due at mark + grace; past it, the action itself carries no due date', () => {
    const markedAt = ago(DAY);
    const [waiting] = decideOne(instance({ tags: { Environment: 'qa', [VIOLATION_TAG_KEY]: mark(markedAt) } }), [ENVIRONMENT], config({ untaggedAction: 'TERMINATE' }));
    expect(waiting).toMatchObject({ action: 'NOTIFY', due: { action: 'TERMINATE', at: new Date(markedAt.getTime() + GRACE * 1000) } });
    const [acting] = decideOne(instance({ tags: { Environment: 'qa', [VIOLATION_TAG_KEY]: mark(ago(GRACE + 1)) } }), [ENVIRONMENT], config({ untaggedAction: 'TERMINATE' }));
    expect(acting).toMatchObject({ action: 'TERMINATE', broken: ['Environment'] });
    expect(acting.due).toBeUndefined();
  });
});
