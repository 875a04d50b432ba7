import { DEFAULT_KEY_NAME_PATTERNS, DEFAULT_PROTECTION_TAG_KEY, PackerCleanerConfig } from '../../../lambda/packer-cleaner/config';
import {
  createdAtFromPackerName,
  decide,
  matchesSelector,
  Observation,
  ObservedInstance,
  ObservedKeyPair,
  ObservedSecurityGroup,
  Plan,
  PlanItem,
} from '../../../lambda/packer-cleaner/decide';

const NOW = new Date('2025-06-01T12:00:00Z');
const HOUR = 3_600;
const DAY = 86_400;
const MAX_AGE = 2 * HOUR;

const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

/** A Packer time-ordered UUID name: the first 8 hex digits are the Unix seconds it was made. */
function packerName(createdAt: Date, separator = '_'): string {
  const seconds = Math.floor(createdAt.getTime() / 1000).toString(16).padStart(8, '0');
  return `packer${separator}${seconds}-1a2b-3c4d-5e6f-0123456789ab`;
}

function config(overrides: Partial<PackerCleanerConfig> = {}): PackerCleanerConfig {
  return {
    topicArn: 'arn:aws:sns:eu-west-1:111122223333:janitor',
    action: 'TERMINATE',
    maxAgeSeconds: MAX_AGE,
    terminateStoppedAfterSeconds: undefined,
    keyNamePatterns: DEFAULT_KEY_NAME_PATTERNS,
    tagSelector: {},
    protectionTagKey: DEFAULT_PROTECTION_TAG_KEY,
    dryRun: false,
    maxActionsPerRun: 100,
    cleanupKeyPairs: false,
    cleanupSecurityGroups: false,
    ...overrides,
  };
}

let counter = 0;
function instance(props: Partial<ObservedInstance> & { age?: number } = {}): ObservedInstance {
  const { age, ...rest } = props;
  counter++;
  return {
    instanceId: `i-${counter.toString(16).padStart(17, '0')}`,
    keyName: packerName(ago(age ?? 3 * HOUR)),
    state: 'running',
    launchTime: ago(age ?? 3 * HOUR),
    tags: { Name: 'Packer Builder' },
    securityGroupIds: [],
    ...rest,
  };
}

function observation(parts: { instances?: ObservedInstance[]; keyPairs?: ObservedKeyPair[]; securityGroups?: ObservedSecurityGroup[] }): Observation {
  return { instances: parts.instances ?? [], keyPairs: parts.keyPairs ?? [], securityGroups: parts.securityGroups ?? [] };
}

function itemFor(plan: Plan, id: string): PlanItem {
  const found = plan.items.find((i) => i.id === id);
  if (!found) throw new Error(`no plan item for ${id}; items: ${plan.items.map((i) => i.id).join(', ')}`);
  return found;
}

const decideOne = (i: ObservedInstance, cfg = config()) => itemFor(decide(observation({ instances: [i] }), cfg, NOW), i.instanceId);

describe('instance age', () => {
  test('exactly maxAge is kept', () => {
    const item = decideOne(instance({ age: MAX_AGE }));
    expect(item).toMatchObject({ action: 'NONE', disposition: 'KEEP', ageSeconds: MAX_AGE });
    expect(item.reason).toContain('within maxAge');
  });

  test('maxAge + 1s is acted on', () => {
    const item = decideOne(instance({ age: MAX_AGE + 1 }));
    expect(item).toMatchObject({ action: 'TERMINATE', disposition: 'ACT', ageSeconds: MAX_AGE + 1 });
    expect(item.reason).toContain('over maxAge 2h 00m');
  });

  test('a stopped instance has the same boundary', () => {
    expect(decideOne(instance({ age: MAX_AGE, state: 'stopped' })).disposition).toBe('KEEP');
    expect(decideOne(instance({ age: MAX_AGE + 1, state: 'stopped' })).disposition).toBe('ACT');
  });

  test('a launch time in the future is kept', () => {
    expect(decideOne(instance({ age: -HOUR })).disposition).toBe('KEEP');
  });

  test('launch time unknown: kept, whatever else applies', () => {
    const cfg = config({ terminateStoppedAfterSeconds: 60 });
    for (const state of ['running', 'stopped']) {
      const item = decideOne(instance({ state, launchTime: undefined, stoppedAt: ago(DAY) }), cfg);
      expect(item).toMatchObject({ action: 'NONE', disposition: 'KEEP', reason: 'launch time unknown' });
      expect(item.ageSeconds).toBeNaN();
      expect(item.details).toContainEqual(['launched', 'unknown']);
    }
  });

  test('details show name, key, state, launch time and age', () => {
    const i = instance({ age: 3 * HOUR, tags: { Name: 'Packer Builder' } });
    expect(decideOne(i).details).toEqual([
      ['name', 'Packer Builder'],
      ['key', i.keyName],
      ['state', 'running'],
      ['launched', '2025-06-01T09:00:00.000Z'],
      ['age', '3h 00m'],
    ]);
  });

  test('an instance without a Name tag shows "-" as its name', () => {
    expect(decideOne(instance({ tags: {} })).details[0]).toEqual(['name', '-']);
  });
});

describe('key name', () => {
  test.each([
    ['packer_<uuid>', packerName(ago(DAY))],
    ['legacy "packer <uuid>"', packerName(ago(DAY), ' ')],
  ])('%s is a Packer instance', (_label, keyName) => {
    expect(decideOne(instance({ keyName })).disposition).toBe('ACT');
  });

  test.each(['prod-key', 'mypacker_x', 'packer-x', 'Packer_x', 'packer', 'packerx', ' packer_x', 'xpacker x'])('%j is ignored', (keyName) => {
    const i = instance({ keyName, age: 30 * DAY });
    const plan = decide(observation({ instances: [i] }), config(), NOW);
    expect(plan.items).toEqual([]);
    expect(plan.ignored).toBe(1);
  });

  test('an instance without a key pair is ignored', () => {
    const plan = decide(observation({ instances: [instance({ keyName: undefined, age: 30 * DAY })] }), config(), NOW);
    expect(plan.items).toEqual([]);
    expect(plan.ignored).toBe(1);
  });

  test('configured patterns replace the defaults', () => {
    const cfg = config({ keyNamePatterns: ['ci-build-*'] });
    const ci = instance({ keyName: 'ci-build-42' });
    const packer = instance({ keyName: packerName(ago(DAY)) });
    const plan = decide(observation({ instances: [ci, packer] }), cfg, NOW);
    expect(plan.items.map((i) => i.id)).toEqual([ci.instanceId]);
    expect(plan.ignored).toBe(1);
  });
});

describe('instance state', () => {
  test.each(['running', 'stopped'])('%s is acted on', (state) => {
    expect(decideOne(instance({ state })).disposition).toBe('ACT');
  });

  test.each(['pending', 'stopping', 'shutting-down', 'terminated', 'unknown'])('%s is ignored', (state) => {
    const plan = decide(observation({ instances: [instance({ state, age: 30 * DAY })] }), config(), NOW);
    expect(plan.items).toEqual([]);
    expect(plan.ignored).toBe(1);
  });
});

describe('action', () => {
  const RUNNING = 'running for 3h 00m, over maxAge 2h 00m';
  const STOPPED = 'stopped, age 3h 00m over maxAge 2h 00m';
  test.each([
    ['NOTIFY', 'running', 'NOTIFY', 'REPORT', RUNNING],
    ['NOTIFY', 'stopped', 'NOTIFY', 'REPORT', `${STOPPED}; its volumes still bill`],
    ['STOP', 'running', 'STOP', 'ACT', RUNNING],
    ['STOP', 'stopped', 'NOTIFY', 'REPORT', `${STOPPED}; its volumes still bill`],
    ['TERMINATE', 'running', 'TERMINATE', 'ACT', RUNNING],
    ['TERMINATE', 'stopped', 'TERMINATE', 'ACT', STOPPED],
  ] as const)('%s on a %s instance over maxAge plans %s / %s', (action, state, planned, disposition, reason) => {
    const item = decideOne(instance({ state }), config({ action }));
    expect(item.action).toBe(planned);
    expect(item.disposition).toBe(disposition);
    expect(item.reason).toBe(reason);
  });

  test('a stopped instance reported under STOP says its volumes still bill', () => {
    expect(decideOne(instance({ state: 'stopped' }), config({ action: 'STOP' })).reason).toContain('volumes still bill');
  });

  test.each(['NOTIFY', 'STOP', 'TERMINATE'] as const)('%s keeps young instances', (action) => {
    expect(decideOne(instance({ age: HOUR }), config({ action }))).toMatchObject({ action: 'NONE', disposition: 'KEEP' });
  });
});

describe('terminateStoppedAfter', () => {
  const cfg = config({ action: 'NOTIFY', maxAgeSeconds: 7 * DAY, terminateStoppedAfterSeconds: DAY });

  test('uses the stop time when EC2 reported it', () => {
    const item = decideOne(instance({ state: 'stopped', age: 3 * DAY, stoppedAt: ago(DAY + 1) }), cfg);
    expect(item).toMatchObject({ action: 'TERMINATE', disposition: 'ACT' });
    expect(item.reason).toContain('stopped for 1d 0h, over terminateStoppedAfter 1d 0h');
  });

  test('exactly terminateStoppedAfter is not yet due', () => {
    expect(decideOne(instance({ state: 'stopped', age: 3 * DAY, stoppedAt: ago(DAY) }), cfg).disposition).toBe('KEEP');
  });

  test('a long-lived instance stopped recently is not terminated for it', () => {
    // launched 3 days ago (within maxAge 7d), stopped an hour ago
    expect(decideOne(instance({ state: 'stopped', age: 3 * DAY, stoppedAt: ago(HOUR) }), cfg).disposition).toBe('KEEP');
    // over maxAge: falls back to the configured action (NOTIFY)
    expect(decideOne(instance({ state: 'stopped', age: 8 * DAY, stoppedAt: ago(HOUR) }), cfg)).toMatchObject({ action: 'NOTIFY', disposition: 'REPORT' });
  });

  test('without a stop time, the launch time is used', () => {
    expect(decideOne(instance({ state: 'stopped', age: DAY + 1 }), cfg)).toMatchObject({ action: 'TERMINATE', disposition: 'ACT' });
    expect(decideOne(instance({ state: 'stopped', age: DAY }), cfg).disposition).toBe('KEEP');
  });

  test('applies even when shorter than maxAge', () => {
    const short = config({ action: 'NOTIFY', maxAgeSeconds: 7 * DAY, terminateStoppedAfterSeconds: HOUR });
    expect(decideOne(instance({ state: 'stopped', age: 3 * HOUR, stoppedAt: ago(2 * HOUR) }), short)).toMatchObject({ action: 'TERMINATE', disposition: 'ACT' });
  });

  test('does not touch running instances', () => {
    expect(decideOne(instance({ state: 'running', age: 3 * DAY }), cfg).disposition).toBe('KEEP');
  });

  test('unset: stopped instances only follow maxAge and action', () => {
    const noStopped = config({ action: 'NOTIFY', maxAgeSeconds: 7 * DAY });
    expect(decideOne(instance({ state: 'stopped', age: 3 * DAY, stoppedAt: ago(3 * DAY) }), noStopped).disposition).toBe('KEEP');
  });
});

describe('tag selector', () => {
  const cfg = config({ tagSelector: { team: 'images', env: 'ci' } });

  test('only instances carrying every selector tag are in scope', () => {
    const match = instance({ tags: { team: 'images', env: 'ci', Name: 'x' } });
    const wrongValue = instance({ tags: { team: 'images', env: 'prod' } });
    const missing = instance({ tags: { team: 'images' } });
    const plan = decide(observation({ instances: [match, wrongValue, missing] }), cfg, NOW);
    expect(plan.items.map((i) => i.id)).toEqual([match.instanceId]);
    expect(plan.ignored).toBe(2);
  });

  test('matchesSelector', () => {
    expect(matchesSelector({ a: '1' }, {})).toBe(true);
    expect(matchesSelector({ a: '1', b: '2' }, { a: '1' })).toBe(true);
    expect(matchesSelector({ a: '1' }, { a: '2' })).toBe(false);
    expect(matchesSelector({ a: '' }, { a: '' })).toBe(true);
    expect(matchesSelector({}, { a: '' })).toBe(false);
  });
});

describe('protection tag', () => {
  test.each(['NOTIFY', 'STOP', 'TERMINATE'] as const)('an overdue protected instance is PROTECTED under %s, never ACT', (action) => {
    for (const state of ['running', 'stopped']) {
      const item = decideOne(instance({ state, age: 30 * DAY, tags: { 'fleet-janitor:protect': '' } }), config({ action, terminateStoppedAfterSeconds: 60 }));
      expect(item.disposition).toBe('PROTECTED');
      expect(item.reason).toContain('fleet-janitor:protect');
    }
  });

  test('a configured protection key replaces the default', () => {
    const cfg = config({ protectionTagKey: 'keep-me' });
    expect(decideOne(instance({ tags: { 'keep-me': 'yes' } }), cfg)).toMatchObject({ action: 'TERMINATE', disposition: 'PROTECTED' });
    expect(decideOne(instance({ tags: { 'fleet-janitor:protect': 'true' } }), cfg).disposition).toBe('ACT');
  });

  test('protected instances do not use up the cap', () => {
    const protectedOld = instance({ age: 30 * DAY, tags: { 'fleet-janitor:protect': 'true' } });
    const other = instance({ age: 3 * HOUR });
    const plan = decide(observation({ instances: [protectedOld, other] }), config({ maxActionsPerRun: 1 }), NOW);
    expect(itemFor(plan, protectedOld.instanceId).disposition).toBe('PROTECTED');
    expect(itemFor(plan, other.instanceId).disposition).toBe('ACT');
  });
});

describe('per-run cap', () => {
  test('the oldest are acted on first; the excess is CAP', () => {
    const ages = [5 * HOUR, 50 * HOUR, 3 * HOUR, 20 * HOUR];
    const instances = ages.map((age) => instance({ age }));
    const plan = decide(observation({ instances }), config({ maxActionsPerRun: 2 }), NOW);
    expect(plan.items.map((i) => i.ageSeconds)).toEqual([50 * HOUR, 20 * HOUR, 5 * HOUR, 3 * HOUR]);
    expect(plan.items.map((i) => i.disposition)).toEqual(['ACT', 'ACT', 'CAP', 'CAP']);
    for (const capped of plan.items.filter((i) => i.disposition === 'CAP')) {
      expect(capped.action).toBe('TERMINATE');
      expect(capped.reason).toContain('over the per-run cap of 2');
    }
  });

  test('equal ages: the cap keeps the lower id, whatever the order observed', () => {
    const ids = ['i-0000000000000000c', 'i-0000000000000000a', 'i-0000000000000000b'];
    for (const order of [ids, [...ids].reverse()]) {
      const instances = order.map((instanceId) => instance({ instanceId, age: 5 * HOUR }));
      const plan = decide(observation({ instances }), config({ maxActionsPerRun: 2 }), NOW);
      expect(plan.items.map((i) => [i.id, i.disposition])).toEqual([
        ['i-0000000000000000a', 'ACT'], ['i-0000000000000000b', 'ACT'], ['i-0000000000000000c', 'CAP'],
      ]);
    }
  });

  test('a cap of 0 acts on nothing', () => {
    const plan = decide(observation({ instances: [instance(), instance()] }), config({ maxActionsPerRun: 0 }), NOW);
    expect(plan.items.map((i) => i.disposition)).toEqual(['CAP', 'CAP']);
  });

  test('report-only and kept items are not capped', () => {
    const plan = decide(observation({ instances: [instance(), instance(), instance({ age: HOUR })] }), config({ action: 'NOTIFY', maxActionsPerRun: 0 }), NOW);
    expect(plan.items.map((i) => i.disposition).sort()).toEqual(['KEEP', 'REPORT', 'REPORT']);
  });

  test('instances come before security groups and key pairs under the cap', () => {
    const old = ago(40 * DAY);
    const cfg = config({ maxActionsPerRun: 2, cleanupKeyPairs: true, cleanupSecurityGroups: true });
    const plan = decide(observation({
      instances: [instance({ age: 3 * HOUR, keyName: packerName(ago(3 * HOUR)) })],
      keyPairs: [{ keyName: packerName(old), createTime: old, tags: {} }],
      securityGroups: [{ groupId: 'sg-0aaa', groupName: packerName(old), tags: {}, inUse: false }],
    }), cfg, NOW);
    expect(plan.items.map((i) => [i.resourceType, i.disposition])).toEqual([
      ['instance', 'ACT'],
      ['security-group', 'ACT'],
      ['key-pair', 'CAP'],
    ]);
  });
});

describe('key pair cleanup', () => {
  const cfg = config({ cleanupKeyPairs: true });
  const decideKeys = (keyPairs: ObservedKeyPair[], instances: ObservedInstance[] = [], c = cfg) =>
    decide(observation({ keyPairs, instances }), c, NOW);

  test('disabled: key pairs are not considered', () => {
    const plan = decideKeys([{ keyName: packerName(ago(DAY)), createTime: ago(DAY), tags: {} }], [], config());
    expect(plan.items).toEqual([]);
  });

  test('an unused Packer key pair over maxAge is deleted, by name', () => {
    const keyName = packerName(ago(DAY));
    const item = itemFor(decideKeys([{ keyName, createTime: ago(DAY), tags: {} }]), keyName);
    expect(item).toMatchObject({ resourceType: 'key-pair', action: 'DELETE', disposition: 'ACT' });
    expect(item.details).toContainEqual(['name', keyName]);
  });

  test('age from CreateTime: exactly maxAge kept, one second more deleted', () => {
    const a = 'packer_a';
    const b = 'packer_b';
    const plan = decideKeys([{ keyName: a, createTime: ago(MAX_AGE), tags: {} }, { keyName: b, createTime: ago(MAX_AGE + 1), tags: {} }]);
    expect(itemFor(plan, a).disposition).toBe('KEEP');
    expect(itemFor(plan, b).disposition).toBe('ACT');
  });

  test('CreateTime wins over the time in the name', () => {
    const keyName = packerName(ago(30 * DAY));
    expect(itemFor(decideKeys([{ keyName, createTime: ago(HOUR), tags: {} }]), keyName).disposition).toBe('KEEP');
  });

  test.each([
    ['packer_', '_'],
    ['legacy "packer "', ' '],
  ])('without CreateTime, the age comes from the %s time-ordered UUID', (_label, sep) => {
    const oldName = packerName(ago(MAX_AGE + 10), sep);
    const youngName = packerName(ago(MAX_AGE - 10), sep);
    const plan = decideKeys([{ keyName: oldName, tags: {} }, { keyName: youngName, tags: {} }]);
    expect(itemFor(plan, oldName)).toMatchObject({ disposition: 'ACT', action: 'DELETE' });
    expect(itemFor(plan, oldName).ageSeconds).toBe(MAX_AGE + 10);
    expect(itemFor(plan, youngName).disposition).toBe('KEEP');
  });

  test.each(['packer_build', 'packer_00000001-1a2b-3c4d-5e6f-0123456789ab', 'packer_6650f3a2-1a2b'])('unknown age (%j) is kept', (keyName) => {
    expect(itemFor(decideKeys([{ keyName, tags: {} }]), keyName)).toMatchObject({ action: 'NONE', disposition: 'KEEP', reason: 'creation time unknown' });
  });

  test('created this very second: a known age of 0s, within maxAge', () => {
    const keyName = packerName(NOW);
    expect(itemFor(decideKeys([{ keyName, createTime: NOW, tags: {} }]), keyName))
      .toMatchObject({ action: 'NONE', disposition: 'KEEP', reason: 'age 0s is within maxAge 2h 00m', ageSeconds: 0 });
  });

  test('a name whose UUID would put its creation in the future (a random UUID, not Packer\'s) is kept as unknown age', () => {
    const keyName = packerName(new Date(NOW.getTime() + 400 * DAY));
    expect(itemFor(decideKeys([{ keyName, tags: {} }]), keyName)).toMatchObject({ action: 'NONE', disposition: 'KEEP', reason: 'creation time unknown' });
  });

  test.each(['running', 'stopped', 'pending', 'stopping', 'shutting-down'])('in use by a %s instance: kept', (state) => {
    const keyName = packerName(ago(DAY));
    const user = instance({ keyName, state, age: HOUR });
    const item = itemFor(decideKeys([{ keyName, createTime: ago(DAY), tags: {} }], [user]), keyName);
    expect(item).toMatchObject({ action: 'NONE', disposition: 'KEEP', reason: `in use by ${user.instanceId}` });
  });

  test('a terminated instance does not hold its key pair', () => {
    const keyName = packerName(ago(DAY));
    const gone = instance({ keyName, state: 'terminated' });
    expect(itemFor(decideKeys([{ keyName, createTime: ago(DAY), tags: {} }], [gone]), keyName).disposition).toBe('ACT');
  });

  test('protected key pairs are PROTECTED', () => {
    const keyName = packerName(ago(DAY));
    const item = itemFor(decideKeys([{ keyName, createTime: ago(DAY), tags: { 'fleet-janitor:protect': '1' } }]), keyName);
    expect(item).toMatchObject({ action: 'DELETE', disposition: 'PROTECTED', reason: 'carries protection tag fleet-janitor:protect' });
  });

  test('an unused old key pair is deleted, and the reason says why', () => {
    const keyName = packerName(ago(DAY));
    expect(itemFor(decideKeys([{ keyName, createTime: ago(DAY), tags: {} }]), keyName))
      .toMatchObject({ action: 'DELETE', disposition: 'ACT', reason: 'unused, age 1d 0h over maxAge 2h 00m' });
  });

  test('non-Packer key pairs are ignored', () => {
    const plan = decideKeys(['prod-key', 'mypacker_x', 'packer-x'].map((keyName) => ({ keyName, createTime: ago(30 * DAY), tags: {} })));
    expect(plan.items).toEqual([]);
    expect(plan.ignored).toBe(3);
  });
});

describe('security group cleanup', () => {
  const cfg = config({ cleanupSecurityGroups: true });
  const group = (props: Partial<ObservedSecurityGroup> = {}): ObservedSecurityGroup =>
    ({ groupId: 'sg-0123456789abcdef0', groupName: packerName(ago(DAY)), tags: {}, inUse: false, ...props });
  const decideGroups = (groups: ObservedSecurityGroup[], instances: ObservedInstance[] = [], c = cfg) =>
    decide(observation({ securityGroups: groups, instances }), c, NOW);

  test('disabled: groups are not considered', () => {
    expect(decideGroups([group()], [], config()).items).toEqual([]);
  });

  test('an unused Packer group over maxAge is deleted, by id', () => {
    const g = group();
    const item = itemFor(decideGroups([g]), g.groupId);
    expect(item).toMatchObject({ resourceType: 'security-group', action: 'DELETE', disposition: 'ACT' });
    expect(item.details).toContainEqual(['name', g.groupName]);
  });

  test('age comes from the name: boundary at maxAge', () => {
    const at = group({ groupId: 'sg-at', groupName: packerName(ago(MAX_AGE)) });
    const over = group({ groupId: 'sg-over', groupName: packerName(ago(MAX_AGE + 1)) });
    const plan = decideGroups([at, over]);
    expect(itemFor(plan, 'sg-at').disposition).toBe('KEEP');
    expect(itemFor(plan, 'sg-over').disposition).toBe('ACT');
  });

  test('in use by a network interface: kept', () => {
    const g = group({ inUse: true });
    expect(itemFor(decideGroups([g]), g.groupId)).toMatchObject({ disposition: 'KEEP', reason: 'in use by a network interface' });
  });

  test('in use by an observed instance: kept', () => {
    const g = group();
    const user = instance({ securityGroupIds: ['sg-other', g.groupId], state: 'stopped', age: HOUR });
    expect(itemFor(decideGroups([g], [user]), g.groupId)).toMatchObject({ disposition: 'KEEP', reason: `in use by ${user.instanceId}` });
  });

  test('a terminated instance does not hold its group', () => {
    const g = group();
    const gone = instance({ securityGroupIds: [g.groupId], state: 'terminated' });
    expect(itemFor(decideGroups([g], [gone]), g.groupId)).toMatchObject({ disposition: 'ACT', action: 'DELETE' });
  });

  test('unknown age is kept', () => {
    const g = group({ groupName: 'packer_sg' });
    expect(itemFor(decideGroups([g]), g.groupId)).toMatchObject({ disposition: 'KEEP', reason: 'creation time unknown' });
  });

  test('protected groups are PROTECTED', () => {
    const g = group({ tags: { 'fleet-janitor:protect': 'x' } });
    expect(itemFor(decideGroups([g]), g.groupId)).toMatchObject({ action: 'DELETE', disposition: 'PROTECTED' });
  });

  test('non-Packer groups are ignored', () => {
    const plan = decideGroups([group({ groupName: 'default' }), group({ groupName: 'web-packer_x' })]);
    expect(plan.items).toEqual([]);
    expect(plan.ignored).toBe(2);
  });
});

describe('createdAtFromPackerName', () => {
  test('reads the Unix seconds in the first 8 hex digits', () => {
    expect(createdAtFromPackerName('packer_6650f3a2-1a2b-3c4d-5e6f-0123456789ab')).toEqual(new Date(0x6650f3a2 * 1000));
    expect(createdAtFromPackerName('packer 6650F3A2-1A2B-3C4D-5E6F-0123456789AB')).toEqual(new Date(0x6650f3a2 * 1000));
  });

  test('rejects names without a full UUID, and timestamps before 2013', () => {
    expect(createdAtFromPackerName('packer_6650f3a2')).toBeUndefined();
    expect(createdAtFromPackerName('packer_6650f3a2-1a2b-3c4d-5e6f-0123456789ab-extra')).toBeUndefined();
    expect(createdAtFromPackerName('packer_10000000-1a2b-3c4d-5e6f-0123456789ab')).toBeUndefined();
  });

  test('2013-01-01T00:00:00Z is the first second accepted', () => {
    const first = Date.UTC(2013, 0, 1) / 1000;
    const named = (seconds: number) => `packer_${seconds.toString(16)}-1a2b-3c4d-5e6f-0123456789ab`;
    expect(createdAtFromPackerName(named(first))).toEqual(new Date('2013-01-01T00:00:00Z'));
    expect(createdAtFromPackerName(named(first - 1))).toBeUndefined();
  });
});

describe('plan totals', () => {
  test('every observed instance is either planned or ignored', () => {
    const instances = [
      instance(), instance({ age: HOUR }), instance({ state: 'stopped' }),
      instance({ keyName: 'prod-key' }), instance({ state: 'terminated' }), instance({ keyName: undefined }),
    ];
    const plan = decide(observation({ instances }), config(), NOW);
    expect(plan.items).toHaveLength(3);
    expect(plan.ignored).toBe(3);
  });
});
