/*
 * The event path of processBatch/decommission (lambda/instance-decommissioner/decommission.ts), through
 * the handler and the harness's stateful fakes: the reasons each failure gives in the report and in
 * the instance's row, which messages are delivered again, and what the table keeps for the retry.
 */
import type { PartialItemFailureResponse } from '@aws-lambda-powertools/batch/types';
import { CloudWatchServiceException } from '@aws-sdk/client-cloudwatch';
import {
  batch, ddbError, deleteAlarmCalls, describeAlarmCalls, describeCalls, described, DOMAIN, failedIds, FWD, given, Handler, HOOK_CHEF,
  HOOK_CONSUL, hookPayloads, host, HostSpec, inject, installHandlerHarness, instanceAlarm, itemOf, loadHandler, mathAlarm, message,
  ptrName, published, putEventsCalls, r53Error, r53Mock, REV, rowsOf, rr, sentCommands, snsMock, sqsMessage, storedItem, updateCalls,
  world, zoneText,
} from './harness';

installHandlerHarness();

type BatchResponse = PartialItemFailureResponse;
const run = async (handler: Handler, ...messages: ReturnType<typeof message>[]) => await handler(batch(...messages)) as BatchResponse;
const name = (label: string) => `${label}.${DOMAIN}`;

/** Terminated instances with stored snapshots, each with its own A record and PTR, and nothing shared. */
function dying(...specs: Array<[number, string]>): HostSpec[] {
  const hosts = specs.map(([n, label]) => host(n, { name: label }));
  given({
    instances: hosts.map((h) => described(h, 'terminated')),
    items: hosts.map((h) => storedItem(h)),
    zones: {
      [FWD]: hosts.map((h) => rr(name(h.tags.Name), 'A', [h.privateIp])),
      [REV]: hosts.map((h) => rr(ptrName(h.privateIp), 'PTR', [`${name(h.tags.Name)}.`])),
    },
  });
  return hosts;
}

const accessDenied = () => new CloudWatchServiceException({
  name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'User is not authorized to perform: cloudwatch:DeleteAlarms',
});

describe('batches without an instance', () => {
  test('only malformed messages: every one fails, nothing is read, and the notification lists them', async () => {
    const bad = [sqsMessage('not json'), sqsMessage('null')];
    // every message failed: Powertools fails the whole invocation
    await expect(run(loadHandler(), ...bad)).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    // no table read, no DescribeInstances: there is no instance to ask about
    expect(sentCommands()).toEqual(['PublishCommand']);
    const rows = rowsOf(published());
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^- message ${bad[0].messageId} .*action=NONE  result=FAILED  error=EventShapeError`));
    expect(rows[1]).toMatch(new RegExp(`^- message ${bad[1].messageId} .*action=NONE  result=FAILED  error=EventShapeError`));
  });
});

describe('the reasons a failed instance gives', () => {
  test('a snapshot the table refuses: the row gives the error and says the message will be delivered again', async () => {
    const [web, api] = [host(1, { name: 'web-01' }), host(2, { name: 'api-01' })];
    given({ instances: [described(web), described(api)] });
    inject('PutItemCommand', () => ddbError('InternalServerError', 500), { when: (input) => input.Item.InstanceId.S === web.id });
    const m = message(web.id, 'running');
    const response = await run(loadHandler(), m, message(api.id, 'running'));
    expect(failedIds(response)).toEqual([m.messageId]);
    expect(itemOf(api.id)!.Status).toBe('LIVE');
    expect(rowsOf(published())).toContain(
      `- instance ${web.id}    action=SNAPSHOT  result=FAILED  error=InternalServerError  (snapshot not stored (InternalServerError (test)); its message will be delivered again)`);
  });

  test('a record Route 53 refuses, then an alarm CloudWatch refuses: the instance row gives the first failure, the record', async () => {
    const [p, q] = dying([60, 'node-a'], [59, 'node-z']);
    given({ alarms: [instanceAlarm('node-a-cpu', p.id)] });
    // someone edits the A record between the listing and the change: the DELETE no longer matches it
    world.afterList = (input) => {
      if (input.StartRecordName !== name('node-a')) return;
      const sets = world.zones.get(FWD)!;
      const at = sets.findIndex((rs) => rs.Name === `${name('node-a')}.`);
      sets[at] = { ...sets[at], TTL: 60 };
    };
    inject('DeleteAlarmsCommand', accessDenied);
    const m = message(p.id, 'terminated');
    const response = await run(loadHandler(), m, message(q.id, 'terminated'));

    expect(failedIds(response)).toEqual([m.messageId]);
    const rows = rowsOf(published());
    expect(rows).toContain(`- alarm node-a-cpu  instance=${p.id}  action=DELETE  result=FAILED  error=AccessDenied  (watched ${p.id})`);
    // the first failure is the one to look at (the alarm's may well follow from it)
    expect(rows).toContain(`- instance ${p.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (record ${name('node-a')} A: InvalidChangeBatch; its message will be delivered again)`);
  });

  test('an alarm CloudWatch refuses to delete fails its instance: no hook, no event, no mark; the alarm is named', async () => {
    const [p, q] = dying([61, 'node-b'], [62, 'node-c']);
    given({ alarms: [instanceAlarm('node-b-cpu', p.id), instanceAlarm('node-c-cpu', q.id)] });
    inject('DeleteAlarmsCommand', accessDenied);
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    // both alarms in one DeleteAlarms call: both instances fail
    await expect(run(loadHandler(), ...messages)).rejects.toMatchObject({ name: 'FullBatchFailureError' });

    expect(hookPayloads()).toEqual([]);
    expect(putEventsCalls()).toEqual([]);
    expect([p, q].map((h) => itemOf(h.id)!.Status)).toEqual(['LIVE', 'LIVE']);
    expect(world.alarms.map((a) => a.AlarmName)).toEqual(['node-b-cpu', 'node-c-cpu']);
    const rows = rowsOf(published());
    expect(rows).toContain(`- instance ${p.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (alarm node-b-cpu: AccessDenied; its message will be delivered again)`);
    expect(rows).toContain(`- instance ${q.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (alarm node-c-cpu: AccessDenied; its message will be delivered again)`);
  });

  test('two hooks fail for one instance: its row names both', async () => {
    const [p, q] = dying([63, 'node-d'], [58, 'node-y']);
    world.hookError = (hook, payload) => (payload.detail.instanceId === p.id ? `${hook.split(':').pop()} is down` : undefined);
    const m = message(p.id, 'terminated');
    const response = await run(loadHandler({ HOOK_FUNCTIONS: JSON.stringify([HOOK_CHEF, HOOK_CONSUL]) }), m, message(q.id, 'terminated'));
    expect(failedIds(response)).toEqual([m.messageId]);
    expect(rowsOf(published())).toContain(
      `- instance ${p.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (hook(s) failed: ${HOOK_CHEF}, ${HOOK_CONSUL}; its message will be delivered again)`);
  });

  test('an event the bus refuses without a message: the event row says "not accepted", the instance row gives the code', async () => {
    const [p, q] = dying([64, 'node-e'], [65, 'node-f']);
    world.refuseEvent = (detail) => (detail.instanceId === q.id ? { ErrorCode: 'AccessDeniedException', ErrorMessage: '' } : undefined);
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    const response = await run(loadHandler(), ...messages);
    expect(failedIds(response)).toEqual([messages[1].messageId]);
    const rows = rowsOf(published());
    expect(rows).toContain(`- event ${q.id}    action=PUT_EVENT  result=FAILED  error=AccessDeniedException  (not accepted)`);
    expect(rows).toContain(
      `- instance ${q.id}  snapshot=table+describe  action=DECOMMISSION  result=FAILED  (event not put on the bus: AccessDeniedException; its message will be delivered again)`);
  });
});

describe('alarms', () => {
  test('an alarm over two dying instances is deleted once; its row names both', async () => {
    const [p, q] = dying([66, 'node-g'], [67, 'node-h']);
    given({ alarms: [mathAlarm('pool-cpu', [p.id, q.id])] });
    expect(await run(loadHandler(), message(p.id, 'terminated'), message(q.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    expect(deleteAlarmCalls()).toEqual([{ AlarmNames: ['pool-cpu'] }]);
    expect(rowsOf(published())).toContain(`- alarm pool-cpu  instance=${p.id} ${q.id}  action=DELETE  result=DONE  (watched ${p.id}, ${q.id})`);
    // both count it as cleaned
    expect(putEventsCalls()[0].Entries!.map((e) => JSON.parse(e.Detail!).cleaned.alarms)).toEqual([['pool-cpu'], ['pool-cpu']]);
  });

  test('an alarm that also watches two live instances is kept; its row names them', async () => {
    const [p] = dying([68, 'node-i']);
    const [x, y] = [host(69, { name: 'node-j' }), host(70, { name: 'node-k' })];
    given({ instances: [described(x), described(y)], alarms: [mathAlarm('pool-cpu', [p.id, x.id, y.id])] });
    expect(await run(loadHandler(), message(p.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    expect(deleteAlarmCalls()).toEqual([]);
    expect(rowsOf(published())).toContain(
      `- alarm pool-cpu  instance=${p.id}  action=NONE  result=KEPT  (also watches ${x.id}, ${y.id}: the reconcile sweep deletes it once they are gone too)`);
  });

  test('an alarm deleted by hand after the index was read: reported "already deleted", the instance is done', async () => {
    const [p, q] = dying([71, 'node-l'], [72, 'node-m']);
    given({ alarms: [instanceAlarm('node-l-cpu', p.id), instanceAlarm('node-m-cpu', q.id)] });
    const handler = loadHandler();
    // the first batch reads the index (the module keeps it for 5 minutes)
    expect(await run(handler, message(p.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    world.alarms.splice(world.alarms.findIndex((a) => a.AlarmName === 'node-m-cpu'), 1);
    snsMock.resetHistory();
    const response = await run(handler, message(q.id, 'terminated'));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(describeAlarmCalls()).toHaveLength(1);
    const rows = rowsOf(published());
    expect(rows.filter((r) => r.startsWith('- alarm'))).toEqual([`- alarm node-m-cpu  instance=${q.id}  action=DELETE  result=DONE  (already deleted)`]);
    expect(itemOf(q.id)!.Status).toBe('DECOMMISSIONED');
  });

  test('DELETE_ALARMS=false: the alarms are neither read nor deleted', async () => {
    const [p] = dying([73, 'node-n']);
    given({ alarms: [instanceAlarm('node-n-cpu', p.id)] });
    expect(await run(loadHandler({ DELETE_ALARMS: 'false' }), message(p.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    expect(describeAlarmCalls()).toEqual([]);
    expect(deleteAlarmCalls()).toEqual([]);
    expect(world.alarms.map((a) => a.AlarmName)).toEqual(['node-n-cpu']);
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
  });
});

describe('what a retry inherits', () => {
  test('the delivery that retries an instance announces and marks what the earlier one removed as well', async () => {
    const [p, q] = dying([74, 'node-o'], [57, 'node-x']);
    given({ alarms: [instanceAlarm('node-o-cpu', p.id)] });
    world.refuseEvent = (detail) => (detail.instanceId === p.id ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal Service Failure' } : undefined);
    const handler = loadHandler();
    const m = message(p.id, 'terminated');
    expect(failedIds(await run(handler, m, message(q.id, 'terminated')))).toEqual([m.messageId]);
    // the first delivery removed the record, the PTR and the alarm, then the bus refused the event
    expect(zoneText(FWD)).toEqual([]);
    expect(world.alarms).toEqual([]);
    // q's event went through; keep only what the retry puts on the bus
    world.events.length = 0;

    world.refuseEvent = undefined;
    expect(await run(handler, m)).toEqual({ batchItemFailures: [] });
    const expected = {
      records: [
        { zoneId: FWD, name: name('node-o'), type: 'A', values: [p.privateIp] },
        { zoneId: REV, name: ptrName(p.privateIp), type: 'PTR', values: [`${name('node-o')}.`] },
      ],
      alarms: ['node-o-cpu'],
    };
    const accepted = world.events.map((e) => JSON.parse(e.Detail!));
    expect(accepted).toHaveLength(1);
    expect(accepted[0].cleaned).toMatchObject(expected);
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
    expect(JSON.parse(itemOf(p.id)!.Cleaned)).toMatchObject(expected);
  });

  test('an instance that fails before its hooks: its progress records the alarm it removed, and no hook', async () => {
    const [p, q] = dying([75, 'node-p'], [76, 'node-q']);
    // q's A record cannot be listed; its PTR can, and p is not concerned
    inject('ListResourceRecordSetsCommand', () => r53Error('AccessDenied', 'not authorized'), { when: (input) => input.StartRecordName === name('node-q') });
    given({ alarms: [instanceAlarm('node-q-cpu', q.id)] });
    const messages = [message(p.id, 'terminated'), message(q.id, 'terminated')];
    expect(failedIds(await run(loadHandler(), ...messages))).toEqual([messages[1].messageId]);
    expect(hookPayloads().map((h) => h.detail.instanceId)).toEqual([p.id]);
    // q's alarm went, and is remembered for the retry; no hook was called for q, so none is recorded
    const item = itemOf(q.id)!;
    expect(item.Status).toBe('LIVE');
    expect(JSON.parse(item.Cleaned).alarms).toEqual(['node-q-cpu']);
    expect(item.HooksDone).toBeUndefined();
  });

  test('a dry run with a failed lookup records no progress: the table is not written', async () => {
    const [p] = dying([77, 'node-r']);
    // a dry run counts the alarm it would delete as cleaned: that must not reach the table as progress
    given({ alarms: [instanceAlarm('node-r-cpu', p.id)] });
    inject('ListResourceRecordSetsCommand', () => r53Error('AccessDenied', 'not authorized'), { when: (input) => input.StartRecordName === name('node-r') });
    const before = itemOf(p.id);
    const m = message(p.id, 'terminated');
    await expect(run(loadHandler({ DRY_RUN: 'true' }), m)).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    expect(updateCalls()).toEqual([]);
    expect(itemOf(p.id)).toEqual(before);
    expect(rowsOf(published())).toContain(`- alarm node-r-cpu  instance=${p.id}  action=DELETE  result=DRY_RUN  (watched ${p.id})`);
  });
});

describe('configuration', () => {
  test('no hosted zones configured: Route 53 is never called, the rest of the cleanup is done', async () => {
    const [p] = dying([78, 'node-s']);
    expect(await run(loadHandler({ HOSTED_ZONES: '', RECORD_NAME_TEMPLATES: '' }), message(p.id, 'terminated'))).toEqual({ batchItemFailures: [] });
    // no listing, and EC2 is asked only about the instance itself, not about who holds its addresses
    expect(r53Mock.calls()).toEqual([]);
    expect(describeCalls()).toHaveLength(1);
    expect(zoneText(FWD)).toEqual([`${name('node-s')}. A ${p.privateIp}`]);
    expect(itemOf(p.id)!.Status).toBe('DECOMMISSIONED');
  });
});
