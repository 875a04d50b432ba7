/*
 * The reconcile sweep (lambda/instance-decommissioner/reconcile.ts) in the cases the big sweep world
 * of handler.test.ts does not reach: what it counts as scanned, instances that are shutting down or
 * that EC2 and the table both forgot, the instanceSelector, alarms over several instances, the cap
 * on alarms, a Route 53 refusal, and what a dry run must not write.
 */
import 'aws-sdk-client-mock-jest';
import {
  changeCalls, deleteAlarmCalls, describeAlarmCalls, described, DOMAIN, FWD, given, Handler, host, installHandlerHarness, instanceAlarm, inject,
  itemOf, loadHandler, mathAlarm, PROTECT, ptrName, published, putEventsCalls, r53Error, REV, rowsOf, rr, storedItem, SWEEP, SweepResult,
  updateCalls, world, zoneText,
} from './harness';

installHandlerHarness();

const sweep = async (handler: Handler, event: unknown = SWEEP) => await handler(event) as SweepResult;
const name = (label: string) => `${label}.${DOMAIN}`;
/** A construct that only deletes alarms: no zones to list, no hooks to call. */
const ALARMS_ONLY = { HOSTED_ZONES: '', RECORD_NAME_TEMPLATES: '', HOOK_FUNCTIONS: '' };
/** A construct that only cleans DNS. */
const DNS_ONLY = { DELETE_ALARMS: 'false', HOOK_FUNCTIONS: '' };
const entriesOf = (result: SweepResult, id: string) => result.entries.filter((entry) => entry.id === id);
/** The report row of an alarm the sweep deletes (or would, but for the cap). */
const alarmRow = (id: string, outcome: string, reason: string, instances: string) =>
  ({ resourceType: 'alarm', id, action: 'DELETE', outcome, reason, errorCode: undefined, details: [['instance', instances]] });

describe('reconcile sweep: what it reports as scanned', () => {
  test('scanned counts the live snapshots, every record set of the zones and every alarm, nothing else', async () => {
    const running = host(200, { name: 'running' });
    const dead = host(201, { name: 'dead' });
    given({
      instances: [described(running)],
      // a decommissioned snapshot is read to find stale values, but is not a resource of this run
      items: [storedItem(running), storedItem(dead, { status: 'DECOMMISSIONED' })],
      zones: {
        [FWD]: [rr(name('running'), 'A', [running.privateIp]), rr(name('lb'), 'A', ['10.0.9.9']), rr(name('mail'), 'MX', ['10 mx.example.com.'])],
        [REV]: [rr(ptrName(running.privateIp), 'PTR', [`${name('running')}.`])],
      },
      alarms: [instanceAlarm('running-cpu', running.id), instanceAlarm('running-status', running.id, 'status')],
    });
    const result = await sweep(loadHandler({ HOOK_FUNCTIONS: '' }));

    // 1 live snapshot + 4 record sets (3 forward, 1 reverse) + 2 alarms
    expect(result.counts.scanned).toBe(7);
    expect(result.entries).toEqual([]);
  });
});

describe('reconcile sweep: instances gone without an event', () => {
  test('an instance EC2 reports shutting-down is gone too: decommissioned as terminated, its record removed', async () => {
    const stopping = host(210, { name: 'stopping' });
    given({ instances: [described(stopping, 'shutting-down')], items: [storedItem(stopping)], zones: { [FWD]: [rr(name('stopping'), 'A', [stopping.privateIp])], [REV]: [] } });
    const result = await sweep(loadHandler(DNS_ONLY));

    expect(zoneText(FWD)).toEqual([]);
    expect(itemOf(stopping.id)).toMatchObject({ Status: 'DECOMMISSIONED' });
    // the sweep has no event: it tells the bus and the report that the instance terminated
    expect(putEventsCalls().flatMap((c) => c.Entries!.map((e) => JSON.parse(e.Detail!)))).toEqual([
      expect.objectContaining({ instanceId: stopping.id, state: 'terminated' }),
    ]);
    expect(entriesOf(result, stopping.id)).toEqual([expect.objectContaining({
      action: 'DECOMMISSION', outcome: 'DONE', reason: 'terminated: cleaned up and marked decommissioned',
    })]);
  });

  test('not selected or protected: reported KEPT / SKIPPED_PROTECTED with action NONE, only the expiry is written, the alarms are scanned once', async () => {
    const otherTeam = host(220, { name: 'other-team', tags: { Team: 'search' } });
    const guarded = host(221, { name: 'guarded', tags: { Team: 'payments', [PROTECT]: 'true' } });
    given({ instances: [described(otherTeam, 'terminated'), described(guarded, 'terminated')], items: [storedItem(otherTeam), storedItem(guarded)] });
    // live snapshots as the handler writes them now: no expiry
    for (const h of [otherTeam, guarded]) delete world.table.get(h.id)!.ExpiresAt;
    const result = await sweep(loadHandler({ ...ALARMS_ONLY, INSTANCE_SELECTOR: JSON.stringify({ Team: 'payments' }) }));

    expect(entriesOf(result, otherTeam.id)).toEqual([expect.objectContaining({
      action: 'NONE', outcome: 'KEPT', reason: 'gone without an event; does not carry the instanceSelector tags',
    })]);
    expect(entriesOf(result, guarded.id)).toEqual([expect.objectContaining({
      action: 'NONE', outcome: 'SKIPPED_PROTECTED', reason: `gone without an event; carries the protection tag "${PROTECT}"`,
    })]);
    for (const h of [otherTeam, guarded]) expect(itemOf(h.id)).toMatchObject({ Status: 'LIVE', ExpiresAt: expect.any(Number) });
    expect(putEventsCalls()).toEqual([]);
    // nothing to decommission: the only alarm scan is the sweep's own
    expect(describeAlarmCalls()).toHaveLength(1);
  });

  test('a dry run writes nothing for a protected orphan, not even its expiry', async () => {
    const guarded = host(230, { name: 'guarded', tags: { [PROTECT]: '' } });
    given({ instances: [described(guarded, 'terminated')], items: [storedItem(guarded)] });
    delete world.table.get(guarded.id)!.ExpiresAt;
    const before = itemOf(guarded.id);
    const result = await sweep(loadHandler({ ...ALARMS_ONLY, DRY_RUN: 'true' }));

    expect(entriesOf(result, guarded.id)).toEqual([expect.objectContaining({ outcome: 'SKIPPED_PROTECTED' })]);
    expect(updateCalls()).toEqual([]);
    expect(itemOf(guarded.id)).toEqual(before);
  });

  test('over the cap: the row says the next run cleans up after it', async () => {
    const orphan = host(240, { name: 'orphan' });
    given({ items: [storedItem(orphan)] });
    const result = await sweep(loadHandler({ ...ALARMS_ONLY, MAX_ACTIONS_PER_RUN: '0' }));

    expect(entriesOf(result, orphan.id)).toEqual([expect.objectContaining({
      action: 'DECOMMISSION', outcome: 'SKIPPED_CAP', reason: 'gone without an event; over maxActionsPerRun: the next run cleans up after it',
    })]);
    expect(itemOf(orphan.id)!.Status).toBe('LIVE');
  });
});

describe('reconcile sweep: records', () => {
  test('a change Route 53 refuses is reported FAILED with its error code, and the record stays', async () => {
    const dead = host(250, { name: 'dead' });
    given({ items: [storedItem(dead, { status: 'DECOMMISSIONED' })], zones: { [FWD]: [rr(name('dead'), 'A', [dead.privateIp])], [REV]: [] } });
    inject('ChangeResourceRecordSetsCommand', () => r53Error('AccessDenied', 'User is not authorized to perform: route53:ChangeResourceRecordSets'));
    const result = await sweep(loadHandler(DNS_ONLY));

    expect(changeCalls()).toHaveLength(1);
    expect(zoneText(FWD)).toEqual([`${name('dead')}. A ${dead.privateIp}`]);
    expect(entriesOf(result, `${name('dead')} A`)).toEqual([expect.objectContaining({ action: 'DELETE', outcome: 'FAILED', errorCode: 'AccessDenied' })]);
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(rowsOf(published())).toContainEqual(expect.stringContaining('result=FAILED  error=AccessDenied'));
  });
});

describe('reconcile sweep: alarms', () => {
  test('an alarm over several gone instances is deleted once, using one action, and its row names them all', async () => {
    // Neither instance is known to EC2 any more; both were decommissioned.
    const [a, b] = [host(260, { name: 'pair-a' }), host(261, { name: 'pair-b' })];
    // b is met after a, and its second alarm comes after the shared one: with two actions, both alarms fit
    given({
      items: [storedItem(a, { status: 'DECOMMISSIONED' }), storedItem(b, { status: 'DECOMMISSIONED' })],
      alarms: [mathAlarm('pair-cpu', [a.id, b.id]), instanceAlarm('pair-b-status', b.id, 'status')],
    });
    const result = await sweep(loadHandler({ ...ALARMS_ONLY, MAX_ACTIONS_PER_RUN: '2' }));

    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['pair-cpu', 'pair-b-status'] }]);
    expect(world.alarms).toEqual([]);
    expect(result.entries).toEqual([
      alarmRow('pair-cpu', 'DONE', `watches ${a.id}, ${b.id}, which EC2 no longer runs`, `${a.id} ${b.id}`),
      alarmRow('pair-b-status', 'DONE', `watches ${b.id}, which EC2 no longer runs`, b.id),
    ]);
  });

  test('over the cap: an alarm over several gone instances is reported SKIPPED_CAP with all of them, and not deleted', async () => {
    const [a, b] = [host(270, { name: 'pair-a' }), host(271, { name: 'pair-b' })];
    given({ alarms: [mathAlarm('pair-cpu', [a.id, b.id])] });
    const result = await sweep(loadHandler({ ...ALARMS_ONLY, MAX_ACTIONS_PER_RUN: '0' }));

    expect(deleteAlarmCalls()).toEqual([]);
    expect(world.alarms.map((alarm) => alarm.AlarmName)).toEqual(['pair-cpu']);
    expect(result.entries).toEqual([alarmRow('pair-cpu', 'SKIPPED_CAP', 'over maxActionsPerRun: the next run deletes it', `${a.id} ${b.id}`)]);
  });

  test('the protection tag of a gone instance keeps its alarm, and the row says which tag', async () => {
    const guarded = host(280, { name: 'guarded', tags: { [PROTECT]: '' } });
    given({ items: [storedItem(guarded, { status: 'DECOMMISSIONED' })], alarms: [instanceAlarm('guarded-cpu', guarded.id)] });
    const result = await sweep(loadHandler(ALARMS_ONLY));

    expect(deleteAlarmCalls()).toEqual([]);
    expect(entriesOf(result, 'guarded-cpu')).toEqual([expect.objectContaining({
      action: 'DELETE', outcome: 'SKIPPED_PROTECTED', reason: `its instance carries the protection tag "${PROTECT}"`,
    })]);
  });

  test('a protection tag added after the snapshot counts: the instance and its alarm are both kept, in one sweep', async () => {
    // the snapshot was taken at launch; the tag came later and only EC2 knows it
    const atLaunch = host(281, { name: 'late' });
    const now = host(281, { name: 'late', tags: { [PROTECT]: '' } });
    given({ instances: [described(now, 'terminated')], items: [storedItem(atLaunch)], alarms: [instanceAlarm('late-cpu', now.id)] });
    delete world.table.get(now.id)!.ExpiresAt;
    const result = await sweep(loadHandler(ALARMS_ONLY));

    expect(entriesOf(result, now.id)).toEqual([expect.objectContaining({ outcome: 'SKIPPED_PROTECTED' })]);
    expect(deleteAlarmCalls()).toEqual([]);
    expect(entriesOf(result, 'late-cpu')).toEqual([expect.objectContaining({ outcome: 'SKIPPED_PROTECTED' })]);
  });

  test('with an instanceSelector, only alarms of gone instances that carry its tags go; an instance nobody knows any more counts as not selected', async () => {
    // EC2 still describes this one (terminated) but the table never saw it: its tags come from EC2
    const payments = host(290, { name: 'payments', tags: { Team: 'payments' } });
    // the table knows this one; EC2 forgot it
    const search = host(291, { name: 'search', tags: { Team: 'search' } });
    // neither EC2 nor the table knows this one: nothing says it is selected
    const stranger = host(292, { name: 'stranger', tags: { Team: 'payments' } });
    given({
      instances: [described(payments, 'terminated')],
      items: [storedItem(search, { status: 'DECOMMISSIONED' })],
      alarms: [instanceAlarm('payments-cpu', payments.id), instanceAlarm('search-cpu', search.id), instanceAlarm('stranger-cpu', stranger.id)],
    });
    const result = await sweep(loadHandler({ ...ALARMS_ONLY, INSTANCE_SELECTOR: JSON.stringify({ Team: 'payments' }) }));

    expect(result.status).toBe('SUCCEEDED');
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['payments-cpu'] }]);
    expect(world.alarms.map((alarm) => alarm.AlarmName)).toEqual(['search-cpu', 'stranger-cpu']);
    // alarms outside the selector are not the construct's business: no row
    expect(result.entries.map((entry) => [entry.id, entry.outcome])).toEqual([['payments-cpu', 'DONE']]);
  });
});
