import type { Plan, PlanItem } from '../../../lambda/tag-policy-engine/decide';
import { overviewLines } from '../../../lambda/tag-policy-engine/overview';

const item = (instanceId: string, props: Partial<PlanItem>): PlanItem => ({
  instanceId, action: 'NOTIFY', disposition: 'REPORT', reason: 'r', details: [], ...props,
});
const plan = (items: PlanItem[], compliant = 0): Plan => ({ items, compliant });

describe('overviewLines', () => {
  test('nothing to say: the compliant count and no violation', () => {
    expect(overviewLines(plan([], 7))).toEqual([
      'Compliant: 7 instance(s) break no rule and need no tag.',
      'Violations by rule: none.',
    ]);
  });

  test('items that break no rule (tags, notes, unmarks) count as no violation', () => {
    const items = [
      item('i-1', { action: 'TAG', disposition: 'ACT', tag: { key: 'Team', value: 'x' } }),
      item('i-2', { reason: 'creator lookup pending' }),
      item('i-3', { action: 'UNMARK', disposition: 'ACT' }),
    ];
    expect(overviewLines(plan(items, 2)).slice(0, 2)).toEqual(['Compliant: 2 instance(s) break no rule and need no tag.', 'Violations by rule: none.']);
  });

  test('violations by rule key, sorted, each instance once, the first five named', () => {
    const items = [
      ...['i-1', 'i-2', 'i-3', 'i-4', 'i-5', 'i-6', 'i-7'].map((id) => item(id, { broken: ['Environment'] })),
      item('i-1', { action: 'UNMARK', disposition: 'ACT', broken: ['Environment'] }),
      item('i-8', { action: 'MARK', disposition: 'ACT', broken: ['CostCenter', 'Environment'] }),
    ];
    expect(overviewLines(plan(items)).slice(1)).toEqual([
      'Violations by rule:',
      '  CostCenter: 1 instance(s): i-8',
      '  Environment: 8 instance(s): i-1, i-2, i-3, i-4, i-5, and 3 more',
    ]);
  });

  test('exactly five instances: all named, no "and more"', () => {
    const items = ['i-1', 'i-2', 'i-3', 'i-4', 'i-5'].map((id) => item(id, { broken: ['Team'] }));
    expect(overviewLines(plan(items))[2]).toBe('  Team: 5 instance(s): i-1, i-2, i-3, i-4, i-5');
  });

  test('tags to fill in by key, counting only tags this run writes (not protected instances\' would-be tags)', () => {
    const tag = (id: string, key: string, disposition: PlanItem['disposition'] = 'ACT') => item(id, { action: 'TAG', disposition, tag: { key, value: 'v' } });
    const lines = overviewLines(plan([tag('i-1', 'Team'), tag('i-2', 'Team'), tag('i-1', 'CostCenter'), tag('i-3', 'Team', 'PROTECTED')]));
    expect(lines).toContain('Tags to fill in: CostCenter on 1, Team on 2.');
  });

  test('due next: per action in name order (not the order met), how many and the earliest date', () => {
    const at = (iso: string) => new Date(iso);
    const lines = overviewLines(plan([
      item('i-3', { due: { action: 'TERMINATE', at: at('2026-12-09T00:00:00Z') } }),
      item('i-1', { due: { action: 'STOP', at: at('2026-12-05T10:00:00Z') } }),
      item('i-2', { action: 'MARK', disposition: 'ACT', due: { action: 'STOP', at: at('2026-12-04T09:00:00Z') } }),
      item('i-4', { due: { action: 'STOP', at: at('2026-12-06T09:00:00Z') } }),
    ]));
    expect(lines.filter((l) => l.startsWith('Due next'))).toEqual([
      'Due next: STOP of 3 marked instance(s) still in violation, the first on or after 2026-12-04T09:00:00.000Z.',
      'Due next: TERMINATE of 1 marked instance(s) still in violation, the first on or after 2026-12-09T00:00:00.000Z.',
    ]);
  });
});
