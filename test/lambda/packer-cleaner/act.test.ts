/*
 * act() on its own, for what the handler tests cannot reach: the batch layer answering for fewer
 * items than it was given. An item without a result must be reported as failed, never as done.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { act } from '../../../lambda/packer-cleaner/act';
import type { PlanItem } from '../../../lambda/packer-cleaner/decide';
import type { ReportEntry } from '../../../lambda/shared/report';

jest.mock('../../../lambda/shared/batch', () => ({
  ...jest.requireActual('../../../lambda/shared/batch'),
  // answers for the first id only
  actInBatches: jest.fn(async (ids: string[]) => [{ id: ids[0], ok: true }]),
}));

const item = (id: string): PlanItem => ({
  resourceType: 'instance', id, action: 'TERMINATE', disposition: 'ACT', reason: 'overdue', ageSeconds: 86_400, details: [],
});

test('an item the batch layer returned no result for is FAILED with NotAttempted', async () => {
  const entries: ReportEntry[] = [];
  await act(new EC2Client({ region: 'eu-west-1' }), { items: [item('i-1'), item('i-2')], ignored: 0 }, false, (e) => entries.push(...e));
  expect(entries.map((e) => [e.id, e.outcome, e.errorCode])).toEqual([['i-1', 'DONE', undefined], ['i-2', 'FAILED', 'NotAttempted']]);
});
