/*
 * The report rows of a decommission: what the notification and the log lines say about each
 * record. The handler tests read them through whole runs; these pin the cases a run rarely meets.
 */
import type { KeptRecord, PlannedChange } from '../../../lambda/instance-decommissioner/dns-plan';
import { keptRecordEntry, recordEntry } from '../../../lambda/instance-decommissioner/report-entries';

const change = (props: Partial<PlannedChange> = {}): PlannedChange => ({
  zoneId: 'Z0FORWARD',
  name: 'web.internal.example.com',
  type: 'A',
  kind: 'SHRINK',
  instanceIds: ['i-a', 'i-b'],
  removed: [{ instanceId: 'i-a', value: '10.0.1.5' }, { instanceId: 'i-b', value: '10.0.1.7' }],
  changes: [],
  ...props,
} as PlannedChange);

const kept = (props: Partial<KeptRecord> = {}): KeptRecord => ({
  zoneId: 'Z0FORWARD', name: 'web.internal.example.com', type: 'A', instanceId: 'i-a', value: '10.0.1.5', reason: 'held by i-new', ...props,
});

describe('recordEntry', () => {
  test('a shrink names every instance and value, and says the other values stay', () => {
    expect(recordEntry(change(), 'DONE')).toEqual({
      resourceType: 'dns-record',
      id: 'web.internal.example.com A',
      action: 'REMOVE_VALUES',
      outcome: 'DONE',
      errorCode: undefined,
      reason: 'the other values stay',
      details: [['instance', 'i-a i-b'], ['zone', 'Z0FORWARD'], ['values', '10.0.1.5,10.0.1.7']],
    });
  });

  test('a whole-set delete of a weighted set: the set identifier is part of the id', () => {
    expect(recordEntry(change({ kind: 'DELETE', setIdentifier: 'i-a' }), 'FAILED', 'InvalidChangeBatch')).toMatchObject({
      id: 'web.internal.example.com A [i-a]', action: 'DELETE', outcome: 'FAILED', errorCode: 'InvalidChangeBatch', reason: 'every value was the instance\'s',
    });
  });

  test('a record someone else removed first is DONE, and the reason says it was already gone', () => {
    expect(recordEntry(change({ kind: 'DELETE' }), 'DONE', undefined, true)).toMatchObject({ outcome: 'DONE', reason: 'already gone' });
  });
});

describe('keptRecordEntry', () => {
  test('a kept value is reported, not acted on, with its reason', () => {
    expect(keptRecordEntry(kept())).toEqual({
      resourceType: 'dns-record',
      id: 'web.internal.example.com A',
      action: 'NONE',
      outcome: 'REPORTED',
      reason: 'held by i-new',
      details: [['instance', 'i-a'], ['zone', 'Z0FORWARD'], ['values', '10.0.1.5']],
    });
  });

  test('a kept value of a set with an identifier names the set', () => {
    expect(keptRecordEntry(kept({ setIdentifier: 'blue' })).id).toBe('web.internal.example.com A [blue]');
  });
});
