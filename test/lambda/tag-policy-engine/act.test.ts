import {
  CreateTagsCommand, CreateTagsCommandInput, DeleteTagsCommand, EC2Client, StopInstancesCommand, TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import 'aws-sdk-client-mock-jest';
import { createTagsCalls, ec2Mock, installHandlerHarness, nextId, noWait, VIOLATION } from './harness';
import type { ReportEntry } from '../../../lambda/shared/report';
import { act } from '../../../lambda/tag-policy-engine/act';
import type { Plan, PlanItem } from '../../../lambda/tag-policy-engine/decide';
import { ec2Error } from '../helpers';

installHandlerHarness();

const ec2 = new EC2Client({ region: 'eu-west-1' });

const tag = (key: string, value: string, props: Partial<PlanItem> = {}): PlanItem => ({
  instanceId: nextId(), action: 'TAG', disposition: 'ACT', reason: `${key} missing`, tag: { key, value }, details: [['tag', `${key}=${value}`]], ...props,
});
const item = (action: PlanItem['action'], props: Partial<PlanItem> = {}): PlanItem => ({
  instanceId: nextId(), action, disposition: 'ACT', reason: `${action} it`, details: [], ...props,
});
const many = (n: number, make: () => PlanItem) => Array.from({ length: n }, make);

async function run(items: PlanItem[], dryRun = false): Promise<ReportEntry[]> {
  const entries: ReportEntry[] = [];
  const plan: Plan = { items, compliant: 0 };
  await act(ec2, plan, dryRun, (e) => entries.push(...e), noWait);
  return entries;
}
const byId = (entries: ReportEntry[]) => new Map(entries.map((e) => [e.id, e]));

describe('tags', () => {
  test('2,500 instances needing the same tag: 3 CreateTags calls of 1000, 1000 and 500, one tag each', async () => {
    const items = many(2_500, () => tag('CostCenter', 'unassigned'));
    const entries = await run(items);
    const calls = createTagsCalls();
    expect(calls.map((c) => c.Resources!.length)).toEqual([1000, 1000, 500]);
    for (const call of calls) expect(call.Tags).toEqual([{ Key: 'CostCenter', Value: 'unassigned' }]);
    expect(calls.flatMap((c) => c.Resources)).toEqual(items.map((i) => i.instanceId));
    expect(entries).toHaveLength(2_500);
    expect(entries.every((e) => e.outcome === 'DONE' && e.action === 'TAG' && e.resourceType === 'instance')).toBe(true);
  });

  test('fixes are grouped by identical key and value: one call per distinct (key, value)', async () => {
    const a = many(3, () => tag('CostCenter', 'unassigned'));
    const b = many(2, () => tag('CreatedBy', 'alice'));
    const c = many(2, () => tag('CreatedBy', 'bob'));
    const same = a.map((i) => ({ ...i, tag: { key: 'CreatedBy', value: 'alice' } }));
    await run([a[0], b[0], c[0], a[1], b[1], c[1], a[2], ...same]);
    const calls = createTagsCalls().map((x) => [x.Tags![0].Key, x.Tags![0].Value, x.Resources]);
    expect(calls).toEqual([
      ['CostCenter', 'unassigned', a.map((i) => i.instanceId)],
      ['CreatedBy', 'alice', [...b.map((i) => i.instanceId), ...a.map((i) => i.instanceId)]],
      ['CreatedBy', 'bob', c.map((i) => i.instanceId)],
    ]);
  });

  test('a key and value that would collide if joined naively stay apart', async () => {
    await run([tag('a b', 'c'), tag('a', 'b c')]);
    expect(createTagsCalls()).toHaveLength(2);
  });

  test('with propagation, the volumes and interfaces go in the same calls, each id once', async () => {
    const shared = 'vol-0shared';
    const one = tag('Team', 'web', { alsoTag: ['vol-01', 'eni-01', shared] });
    const two = tag('Team', 'web', { alsoTag: ['vol-02', shared] });
    const entries = await run([one, two]);
    expect(createTagsCalls()).toEqual([{ Resources: [one.instanceId, 'vol-01', 'eni-01', shared, two.instanceId, 'vol-02'], Tags: [{ Key: 'Team', Value: 'web' }] }]);
    expect(entries.map((e) => e.outcome)).toEqual(['DONE', 'DONE']);
  });

  test('a batch refused with InvalidInstanceID.NotFound is retried id by id: only the bad id FAILED', async () => {
    const items = many(5, () => tag('CostCenter', 'unassigned'));
    const bad = items[2].instanceId;
    ec2Mock.on(CreateTagsCommand).callsFake(async (input: CreateTagsCommandInput) => {
      if (input.Resources!.includes(bad)) throw ec2Error('InvalidInstanceID.NotFound', 400, `The instance ID '${bad}' does not exist`);
      return {};
    });
    const entries = await run(items);
    const calls = createTagsCalls().map((c) => c.Resources);
    expect(calls[0]).toHaveLength(5);
    expect(calls.slice(1)).toEqual(items.map((i) => [i.instanceId]));
    const outcome = byId(entries);
    expect(outcome.get(bad)).toMatchObject({ outcome: 'FAILED', errorCode: 'InvalidInstanceID.NotFound' });
    expect(entries.filter((e) => e.outcome === 'DONE').map((e) => e.id)).toEqual(items.map((i) => i.instanceId).filter((id) => id !== bad));
  });

  test('volumes and interfaces that cannot be tagged fail their instance\'s entry, each named with its code', async () => {
    const good = tag('Team', 'web', { alsoTag: ['vol-0good'] });
    const withBad = tag('Team', 'web', { alsoTag: ['vol-0gone', 'vol-0good2', 'eni-0gone'] });
    ec2Mock.on(CreateTagsCommand).callsFake(async (input: CreateTagsCommandInput) => {
      if (input.Resources!.includes('vol-0gone')) throw ec2Error('InvalidVolume.NotFound');
      if (input.Resources!.includes('eni-0gone')) throw ec2Error('InvalidNetworkInterfaceID.NotFound');
      return {};
    });
    const entries = byId(await run([good, withBad]));
    expect(entries.get(good.instanceId)).toMatchObject({ outcome: 'DONE' });
    expect(entries.get(withBad.instanceId)).toMatchObject({ outcome: 'FAILED', errorCode: 'InvalidVolume.NotFound' });
    expect(entries.get(withBad.instanceId)!.details).toContainEqual(['notTagged', 'vol-0gone:InvalidVolume.NotFound,eni-0gone:InvalidNetworkInterfaceID.NotFound']);
  });

  test('ThrottlingException on CreateTags is retried with the same batch', async () => {
    const items = many(3, () => tag('CostCenter', 'unassigned'));
    ec2Mock.on(CreateTagsCommand).rejectsOnce(ec2Error('ThrottlingException')).resolves({});
    const entries = await run(items);
    const calls = createTagsCalls().map((c) => c.Resources);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
    expect(entries.every((e) => e.outcome === 'DONE')).toBe(true);
  });

  test('one instance the grant refuses (protected after it was described) fails alone: the batch is retried id by id', async () => {
    const items = many(5, () => tag('CostCenter', 'unassigned'));
    const refused = items[2].instanceId;
    ec2Mock.on(CreateTagsCommand).callsFake(async (input: { Resources: string[] }) => {
      if (input.Resources.includes(refused)) throw ec2Error('UnauthorizedOperation', 403);
      return {};
    });
    const entries = byId(await run(items));
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 1 + 5);
    expect(entries.get(refused)).toMatchObject({ outcome: 'FAILED', errorCode: 'UnauthorizedOperation' });
    expect(items.filter((i) => i.instanceId !== refused).map((i) => entries.get(i.instanceId)!.outcome)).toEqual(['DONE', 'DONE', 'DONE', 'DONE']);
  });

  test('a grant that is missing altogether: three ids refused in a row, then the rest FAILED without a call each', async () => {
    const items = many(6, () => tag('CostCenter', 'unassigned'));
    ec2Mock.on(CreateTagsCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    const entries = await run(items);
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 1 + 3);
    expect(entries.every((e) => e.outcome === 'FAILED' && e.errorCode === 'UnauthorizedOperation')).toBe(true);
  });

  test('stops and unmarks are retried per instance on a refusal too (their grants also have per-instance conditions)', async () => {
    const stops = many(3, () => item('STOP'));
    const unmarks = many(3, () => item('UNMARK'));
    ec2Mock.on(StopInstancesCommand).callsFake(async (input: { InstanceIds: string[] }) => {
      if (input.InstanceIds.includes(stops[0].instanceId)) throw ec2Error('UnauthorizedOperation', 403);
      return { StoppingInstances: input.InstanceIds.map((InstanceId) => ({ InstanceId, PreviousState: { Name: 'running' } })) };
    });
    ec2Mock.on(DeleteTagsCommand).callsFake(async (input: { Resources: string[] }) => {
      if (input.Resources.includes(unmarks[1].instanceId)) throw ec2Error('UnauthorizedOperation', 403);
      return {};
    });
    const entries = byId(await run([...stops, ...unmarks]));
    expect([...stops, ...unmarks].map((i) => entries.get(i.instanceId)!.outcome)).toEqual(['FAILED', 'DONE', 'DONE', 'DONE', 'FAILED', 'DONE']);
  });
});

describe('marks, unmarks, stops and terminations', () => {
  test('MARK writes the violation tag with the value of the plan; marks with the same value share a call', async () => {
    const value = '2024-05-01T10:00:00Z Environment';
    const marks = many(3, () => item('MARK', { tag: { key: VIOLATION, value } }));
    const other = item('MARK', { tag: { key: VIOLATION, value: '2024-05-01T10:00:00Z CostCenter' } });
    await run([...marks, other]);
    expect(createTagsCalls()).toEqual([
      { Resources: marks.map((m) => m.instanceId), Tags: [{ Key: VIOLATION, Value: value }] },
      { Resources: [other.instanceId], Tags: [{ Key: VIOLATION, Value: '2024-05-01T10:00:00Z CostCenter' }] },
    ]);
  });

  test('UNMARK deletes the violation tag whatever its value, in calls of up to 1000', async () => {
    const unmarks = many(1_200, () => item('UNMARK'));
    const entries = await run(unmarks);
    const calls = ec2Mock.commandCalls(DeleteTagsCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Resources!.length)).toEqual([1000, 200]);
    for (const call of calls) expect(call.Tags).toEqual([{ Key: VIOLATION }]);
    expect(entries.every((e) => e.outcome === 'DONE' && e.action === 'UNMARK')).toBe(true);
  });

  test('STOP and TERMINATE go in calls of up to 1000', async () => {
    const stops = many(2_300, () => item('STOP'));
    const terminations = many(1_001, () => item('TERMINATE'));
    ec2Mock.on(StopInstancesCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    const entries = await run([...stops, ...terminations]);
    expect(ec2Mock.commandCalls(StopInstancesCommand).map((c) => c.args[0].input.InstanceIds!.length)).toEqual([1000, 1000, 300]);
    expect(ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds!.length)).toEqual([1000, 1]);
    expect(entries.filter((e) => e.outcome === 'DONE')).toHaveLength(3_301);
  });

  test('a StopInstances batch refused for one instance: one by one, only that one FAILED', async () => {
    const stops = many(4, () => item('STOP'));
    const bad = stops[1].instanceId;
    ec2Mock.on(StopInstancesCommand).callsFake(async (input: { InstanceIds: string[] }) => {
      if (input.InstanceIds.includes(bad)) throw ec2Error('UnsupportedOperation', 400, `The instance '${bad}' does not have an 'ebs' root device type`);
      return {};
    });
    const entries = byId(await run(stops));
    expect(ec2Mock).toHaveReceivedCommandTimes(StopInstancesCommand, 5);
    expect(entries.get(bad)).toMatchObject({ outcome: 'FAILED', errorCode: 'UnsupportedOperation' });
    expect([...entries.values()].filter((e) => e.outcome === 'DONE')).toHaveLength(3);
  });

  test('an instance terminated meanwhile is reported done, with the evidence', async () => {
    const [gone] = many(1, () => item('TERMINATE'));
    ec2Mock.on(TerminateInstancesCommand).resolves({
      TerminatingInstances: [{ InstanceId: gone.instanceId, PreviousState: { Name: 'terminated' }, CurrentState: { Name: 'terminated' } }],
    });
    const [entry] = await run([gone]);
    expect(entry).toMatchObject({ outcome: 'DONE', reason: expect.stringContaining('already done before this run\'s call (was-terminated)') });
    expect(entry.details).toEqual([['alreadyDone', 'was-terminated']]);
  });

  test.each(['STOP', 'TERMINATE'] as const)('%s of an instance EC2 no longer knows (InvalidInstanceID.NotFound): done, with that evidence', async (action) => {
    const gone = item(action, { details: [['tag', 'x']] });
    ec2Mock.on(action === 'STOP' ? StopInstancesCommand : TerminateInstancesCommand).rejects(ec2Error('InvalidInstanceID.NotFound', 400, `The instance ID '${gone.instanceId}' does not exist`));
    const [entry] = await run([gone]);
    expect(entry).toMatchObject({ outcome: 'DONE', reason: expect.stringContaining('(InvalidInstanceID.NotFound)') });
    expect(entry.details).toEqual([['tag', 'x'], ['alreadyDone', 'InvalidInstanceID.NotFound']]);
  });

  test('order: tags and marks, then unmarks, then stops, then terminations', async () => {
    ec2Mock.on(StopInstancesCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await run([item('TERMINATE'), item('STOP'), item('UNMARK'), item('MARK', { tag: { key: VIOLATION, value: 'v' } }), tag('a', 'b')]);
    expect(ec2Mock.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name)).toEqual([
      'CreateTagsCommand', 'CreateTagsCommand', 'DeleteTagsCommand', 'StopInstancesCommand', 'TerminateInstancesCommand',
    ]);
  });
});

describe('what is not acted on', () => {
  test('dry run: no call at all, every ACT item DRY_RUN', async () => {
    const items = [tag('a', 'b'), item('MARK', { tag: { key: VIOLATION, value: 'v' } }), item('UNMARK'), item('STOP'), item('TERMINATE')];
    const entries = await run(items, true);
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(entries.map((e) => [e.action, e.outcome])).toEqual([['TAG', 'DRY_RUN'], ['MARK', 'DRY_RUN'], ['UNMARK', 'DRY_RUN'], ['STOP', 'DRY_RUN'], ['TERMINATE', 'DRY_RUN']]);
  });

  test('protected, capped and report-only items are reported, never sent', async () => {
    const items = [
      item('STOP', { disposition: 'PROTECTED' }),
      item('TERMINATE', { disposition: 'CAP' }),
      item('NOTIFY', { disposition: 'REPORT' }),
      tag('a', 'b', { disposition: 'PROTECTED' }),
    ];
    const entries = await run(items);
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(entries.map((e) => e.outcome)).toEqual(['SKIPPED_PROTECTED', 'SKIPPED_CAP', 'REPORTED', 'SKIPPED_PROTECTED']);
    expect(entries.map((e) => e.id)).toEqual(items.map((i) => i.instanceId));
  });

  test('an empty plan makes no call', async () => {
    expect(await run([])).toEqual([]);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});
