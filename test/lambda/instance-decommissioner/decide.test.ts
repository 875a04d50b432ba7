import { DecideConfig, decide, InstancePlan, mergeSnapshots } from '../../../lambda/instance-decommissioner/decide';
import type { StateChange } from '../../../lambda/instance-decommissioner/events';
import type { DescribedInstance } from '../../../lambda/instance-decommissioner/observe';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';
import type { StoredSnapshot } from '../../../lambda/instance-decommissioner/table';

const ID = 'i-0123456789abcdef0';
const OTHER = 'i-0fedcba9876543210';
const PROTECT = 'fleet-janitor:protect';
const CONFIG: DecideConfig = { instanceSelector: {}, protectionTagKey: PROTECT };

/** The instance as it was snapshotted while it ran. */
function snapshot(overrides: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return {
    instanceId: ID,
    privateIp: '10.0.1.15',
    privateIps: ['10.0.1.15', '10.0.1.16'],
    publicIps: ['54.154.10.20'],
    ipv6s: ['2a05:d018:abc:1200::15'],
    privateDnsName: 'ip-10-0-1-15.eu-west-1.compute.internal',
    publicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com',
    tags: { Name: 'web-01' },
    availabilityZone: 'eu-west-1a',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    launchTime: '2025-05-20T08:30:00.000Z',
    recordNames: ['web-01.internal.example.com'],
    ...overrides,
  };
}

const change = (state: StateChange['state'], instanceId = ID, time = '2025-06-01T12:00:00Z'): StateChange => ({ instanceId, state, time });
const NOTHING_YET = { records: [], alarms: [] };
const stored = (snap: InstanceSnapshot, extra: Partial<StoredSnapshot> = {}): StoredSnapshot => ({ snapshot: snap, status: 'LIVE', hooksDone: new Set(), ...extra });
const described = (state: string, snap: InstanceSnapshot): DescribedInstance => ({ state, snapshot: snap });

function plan(
  changes: StateChange[],
  table: StoredSnapshot[] = [],
  ec2: DescribedInstance[] = [],
  config: DecideConfig = CONFIG,
): InstancePlan[] {
  return decide(
    changes,
    new Map(table.map((s) => [s.snapshot.instanceId, s])),
    new Map(ec2.map((d) => [d.snapshot.instanceId, d])),
    config,
  );
}

function only(plans: InstancePlan[]): InstancePlan {
  expect(plans).toHaveLength(1);
  return plans[0];
}

describe('decide: running', () => {
  test('a running instance EC2 describes: SNAPSHOT with the described snapshot', () => {
    const now = snapshot({ tags: { Name: 'web-01', Team: 'web' } });
    expect(plan([change('running')], [], [described('running', now)])).toEqual([{ kind: 'SNAPSHOT', instanceId: ID, snapshot: now }]);
  });

  test('a stored LIVE snapshot is refreshed with what EC2 says now', () => {
    const before = snapshot({ tags: {} });
    const now = snapshot({ tags: { Name: 'web-02' } });
    expect(only(plan([change('running')], [stored(before)], [described('running', now)]))).toEqual({ kind: 'SNAPSHOT', instanceId: ID, snapshot: now });
  });

  test.each(['pending', 'stopping', 'stopped'])('EC2 says %s: the snapshot is taken (the instance keeps its addresses)', (state) => {
    expect(only(plan([change('running')], [], [described(state, snapshot())])).kind).toBe('SNAPSHOT');
  });

  test.each(['shutting-down', 'terminated'])('EC2 already says %s: SKIP not-live', (state) => {
    const p = only(plan([change('running')], [], [described(state, snapshot())]));
    expect(p).toEqual({ kind: 'SKIP', instanceId: ID, why: 'not-live', reason: `running event, but EC2 reports ${state}: its shutdown event does the cleanup` });
  });

  test('EC2 no longer describes it: SKIP not-live', () => {
    expect(only(plan([change('running')], [stored(snapshot())]))).toEqual({
      kind: 'SKIP', instanceId: ID, why: 'not-live', reason: 'running event, but EC2 reports no such instance: its shutdown event does the cleanup',
    });
  });

  test('protection and the selector do not stop the snapshot (they are checked at decommission)', () => {
    const now = snapshot({ tags: { [PROTECT]: '' } });
    expect(only(plan([change('running')], [], [described('running', now)], { instanceSelector: { managed: 'true' }, protectionTagKey: PROTECT })).kind)
      .toBe('SNAPSHOT');
  });
});

describe('decide: one plan per instance', () => {
  test('shutting-down and terminated of one instance in one batch: one DECOMMISSION', () => {
    const plans = plan([change('shutting-down'), change('terminated')], [stored(snapshot())]);
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({ kind: 'DECOMMISSION', instanceId: ID, state: 'shutting-down' });
  });

  test('terminated before running in the batch: DECOMMISSION (running never wins)', () => {
    const plans = plan([change('terminated'), change('running')], [stored(snapshot())], [described('running', snapshot())]);
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({ kind: 'DECOMMISSION', state: 'terminated' });
  });

  test('running then shutting-down: DECOMMISSION', () => {
    expect(only(plan([change('running'), change('shutting-down')], [stored(snapshot())]))).toMatchObject({ kind: 'DECOMMISSION', state: 'shutting-down' });
  });

  test('running twice: one SNAPSHOT', () => {
    expect(only(plan([change('running'), change('running')], [], [described('running', snapshot())])).kind).toBe('SNAPSHOT');
  });

  test('several instances: one plan each, in the order they first appear', () => {
    const other = snapshot({ instanceId: OTHER });
    const plans = plan(
      [change('terminated', OTHER), change('running'), change('shutting-down', OTHER)],
      [stored(other)],
      [described('running', snapshot())],
    );
    expect(plans.map((p) => [p.instanceId, p.kind])).toEqual([[OTHER, 'DECOMMISSION'], [ID, 'SNAPSHOT']]);
    expect(plans[0]).toMatchObject({ state: 'terminated' });
  });

  test('no changes, no plans', () => {
    expect(plan([], [stored(snapshot())], [described('running', snapshot())])).toEqual([]);
  });
});

describe('decide: decommission', () => {
  test('from the table alone (EC2 no longer describes it)', () => {
    const snap = snapshot();
    expect(only(plan([change('terminated')], [stored(snap)]))).toEqual({
      kind: 'DECOMMISSION', instanceId: ID, state: 'terminated', snapshot: snap, source: 'table', hooksDone: new Set(), cleanedBefore: NOTHING_YET,
    });
  });

  test('from EC2 alone (no snapshot was stored)', () => {
    const snap = snapshot();
    expect(only(plan([change('shutting-down')], [], [described('shutting-down', snap)]))).toEqual({
      kind: 'DECOMMISSION', instanceId: ID, state: 'shutting-down', snapshot: snap, source: 'describe', hooksDone: new Set(), cleanedBefore: NOTHING_YET,
    });
  });

  test('from both: merged', () => {
    const before = snapshot({ tags: { Name: 'web-01' } });
    const now = snapshot({ tags: { Name: 'web-01', Role: 'api' }, recordNames: ['api.internal.example.com'] });
    const p = only(plan([change('terminated')], [stored(before)], [described('shutting-down', now)]));
    expect(p).toEqual({
      kind: 'DECOMMISSION',
      instanceId: ID,
      state: 'terminated',
      source: 'table+describe',
      hooksDone: new Set(),
      cleanedBefore: NOTHING_YET,
      snapshot: mergeSnapshots(before, now),
    });
    expect(p.kind === 'DECOMMISSION' && p.snapshot.recordNames).toEqual(['web-01.internal.example.com', 'api.internal.example.com']);
  });

  test('what an earlier delivery removed is passed on to the retry', () => {
    const before = { records: [{ zoneId: 'Z1', name: 'web-01.internal.example.com', type: 'A', values: ['10.0.1.15'] }], alarms: ['web-01-cpu'] };
    const p = only(plan([change('terminated')], [stored(snapshot(), { cleanedBefore: before })]));
    expect(p).toMatchObject({ kind: 'DECOMMISSION', cleanedBefore: before });
  });

  test('the hooks already done are passed through', () => {
    const hooks = new Set(['arn:aws:lambda:eu-west-1:111122223333:function:chef-deregister']);
    const p = only(plan([change('terminated')], [stored(snapshot(), { hooksDone: hooks })]));
    expect(p).toMatchObject({ kind: 'DECOMMISSION' });
    expect(p.kind === 'DECOMMISSION' && [...p.hooksDone]).toEqual([...hooks]);
  });

  test.each<StateChange['state']>(['running', 'shutting-down', 'terminated'])('stored DECOMMISSIONED, %s event: SKIP already-decommissioned', (state) => {
    const p = only(plan(
      [change(state)],
      [stored(snapshot(), { status: 'DECOMMISSIONED', decommissionedAt: '2025-06-01T11:58:00.000Z' })],
      [described('running', snapshot())],
    ));
    expect(p).toEqual({ kind: 'SKIP', instanceId: ID, why: 'already-decommissioned', reason: 'already decommissioned at 2025-06-01T11:58:00.000Z' });
  });

  test('stored DECOMMISSIONED without a time', () => {
    expect(only(plan([change('terminated')], [stored(snapshot(), { status: 'DECOMMISSIONED' })]))).toMatchObject({
      why: 'already-decommissioned', reason: 'already decommissioned at an earlier run',
    });
  });

  test('neither stored nor described: SKIP unknown', () => {
    expect(only(plan([change('terminated')]))).toEqual({
      kind: 'SKIP',
      instanceId: ID,
      why: 'unknown',
      reason: 'no snapshot in the table and EC2 no longer describes the instance: nothing is known to clean up',
    });
  });

  test('the stored snapshot of another instance does not count', () => {
    expect(only(plan([change('terminated')], [stored(snapshot({ instanceId: OTHER }))]))).toMatchObject({ why: 'unknown' });
  });
});

describe('decide: selector and protection', () => {
  const selector: DecideConfig = { instanceSelector: { managed: 'true', team: 'web' }, protectionTagKey: PROTECT };

  test('every selector tag matches: DECOMMISSION', () => {
    expect(only(plan([change('terminated')], [stored(snapshot({ tags: { managed: 'true', team: 'web', Name: 'x' } }))], [], selector)).kind)
      .toBe('DECOMMISSION');
  });

  test.each<[string, Record<string, string>]>([
    ['a tag missing', { managed: 'true' }],
    ['a value differs', { managed: 'true', team: 'db' }],
    ['a value differs in case', { managed: 'True', team: 'web' }],
    ['no tags', {}],
  ])('%s: SKIP not-selected', (_label, tags) => {
    expect(only(plan([change('terminated')], [stored(snapshot({ tags }))], [], selector))).toEqual({
      kind: 'SKIP', instanceId: ID, why: 'not-selected', reason: 'does not carry the instanceSelector tags',
    });
  });

  test('a selector tag only EC2 knows now counts', () => {
    const p = only(plan([change('terminated')], [stored(snapshot({ tags: { managed: 'true' } }))], [described('terminated', snapshot({ tags: { team: 'web' } }))], selector));
    expect(p.kind).toBe('DECOMMISSION');
  });

  test('the protection tag, whatever its value: SKIP protected', () => {
    for (const value of ['', 'true', 'false']) {
      expect(only(plan([change('terminated')], [stored(snapshot({ tags: { [PROTECT]: value } }))]))).toEqual({
        kind: 'SKIP', instanceId: ID, why: 'protected', reason: 'carries the protection tag "fleet-janitor:protect"',
      });
    }
  });

  test('a custom protection tag key', () => {
    const cfg = { instanceSelector: {}, protectionTagKey: 'keep' };
    expect(only(plan([change('terminated')], [stored(snapshot({ tags: { keep: '1' } }))], [], cfg))).toMatchObject({ why: 'protected' });
    expect(only(plan([change('terminated')], [stored(snapshot({ tags: { [PROTECT]: '1' } }))], [], cfg)).kind).toBe('DECOMMISSION');
  });

  test('protection is checked on the merged tags: a tag only EC2 knows now counts', () => {
    const p = only(plan([change('shutting-down')], [stored(snapshot({ tags: { Name: 'web-01' } }))], [described('shutting-down', snapshot({ tags: { [PROTECT]: '' } }))]));
    expect(p).toMatchObject({ kind: 'SKIP', why: 'protected' });
  });

  test('protection stored while it ran still counts when EC2 no longer shows it', () => {
    const p = only(plan([change('terminated')], [stored(snapshot({ tags: { [PROTECT]: '' } }))], [described('terminated', snapshot({ tags: { Name: 'web-01' } }))]));
    expect(p).toMatchObject({ kind: 'SKIP', why: 'protected' });
  });

  test('the selector is checked before protection', () => {
    expect(only(plan([change('terminated')], [stored(snapshot({ tags: { [PROTECT]: '' } }))], [], selector))).toMatchObject({ why: 'not-selected' });
  });
});

describe('mergeSnapshots', () => {
  test('either side alone is returned as it is', () => {
    const s = snapshot();
    expect(mergeSnapshots(s, undefined)).toBe(s);
    expect(mergeSnapshots(undefined, s)).toBe(s);
    expect(mergeSnapshots(undefined, undefined)).toBeUndefined();
  });

  test('addresses and record names: the union, stored first, without duplicates', () => {
    const before = snapshot({
      privateIps: ['10.0.1.15', '10.0.1.16'], publicIps: ['54.154.10.20'], ipv6s: ['2a05:d018:abc:1200::15'], recordNames: ['web-01.internal.example.com'],
    });
    const now = snapshot({
      privateIps: ['10.0.1.15', '10.0.1.99'], publicIps: ['34.240.1.2'], ipv6s: [], recordNames: ['web-01.internal.example.com', 'api.internal.example.com'],
    });
    const merged = mergeSnapshots(before, now)!;
    expect(merged.privateIps).toEqual(['10.0.1.15', '10.0.1.16', '10.0.1.99']);
    expect(merged.publicIps).toEqual(['54.154.10.20', '34.240.1.2']);
    expect(merged.ipv6s).toEqual(['2a05:d018:abc:1200::15']);
    expect(merged.recordNames).toEqual(['web-01.internal.example.com', 'api.internal.example.com']);
  });

  test('tags: both, the current value winning', () => {
    const merged = mergeSnapshots(snapshot({ tags: { Name: 'web-01', Old: 'x' } }), snapshot({ tags: { Name: 'web-renamed', New: 'y' } }))!;
    expect(merged.tags).toEqual({ Name: 'web-renamed', Old: 'x', New: 'y' });
  });

  test('stored fields win over current ones', () => {
    const before = snapshot({ privateIp: '10.0.1.15', launchTime: '2025-05-20T08:30:00.000Z', publicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com' });
    const now = snapshot({ privateIp: '10.0.9.9', launchTime: '2025-06-01T11:00:00.000Z', publicDnsName: 'ec2-34-240-1-2.eu-west-1.compute.amazonaws.com' });
    const merged = mergeSnapshots(before, now)!;
    expect(merged.privateIp).toBe('10.0.1.15');
    expect(merged.launchTime).toBe('2025-05-20T08:30:00.000Z');
    expect(merged.publicDnsName).toBe('ec2-54-154-10-20.eu-west-1.compute.amazonaws.com');
  });

  test('fields the stored snapshot lacks are filled from the current one', () => {
    const before = snapshot({
      privateIp: undefined, publicDnsName: undefined, autoScalingGroupName: undefined, vpcId: undefined, launchTime: undefined,
    });
    const now = snapshot({ privateIp: '10.0.1.15', publicDnsName: 'ec2-34-240-1-2.eu-west-1.compute.amazonaws.com', autoScalingGroupName: 'web-asg', vpcId: 'vpc-1', launchTime: '2025-06-01T11:00:00.000Z' });
    expect(mergeSnapshots(before, now)).toEqual({
      ...before,
      privateIp: '10.0.1.15',
      publicDnsName: 'ec2-34-240-1-2.eu-west-1.compute.amazonaws.com',
      autoScalingGroupName: 'web-asg',
      vpcId: 'vpc-1',
      launchTime: '2025-06-01T11:00:00.000Z',
    });
  });

  test('a field neither side knows stays undefined', () => {
    const merged = mergeSnapshots(snapshot({ autoScalingGroupName: undefined }), snapshot({ autoScalingGroupName: undefined }))!;
    expect(merged.autoScalingGroupName).toBeUndefined();
  });

  test('the inputs are not changed', () => {
    const before = snapshot({ tags: { A: '1' } });
    const now = snapshot({ tags: { B: '2' }, privateIps: ['10.9.9.9'] });
    const copies = [structuredClone(before), structuredClone(now)];
    mergeSnapshots(before, now);
    expect([before, now]).toEqual(copies);
  });
});
