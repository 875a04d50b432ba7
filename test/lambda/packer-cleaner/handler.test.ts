import * as ec2Sdk from '@aws-sdk/client-ec2';
import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeNetworkInterfacesCommandInput,
  DescribeSecurityGroupsCommand,
  DescribeSecurityGroupsCommandInput,
  KeyPairInfo,
  SecurityGroup,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { PublishCommand } from '@aws-sdk/client-sns';
import 'aws-sdk-client-mock-jest';
import { CONSOLE_SCHEDULED_EVENT } from '../../helpers/scheduled-events';
import { ec2Error } from '../helpers';

import {
  ago, DAY, ec2Instance, ec2Mock, emfRecords, expectNoCallsAtAll, expectNoChanges, Handler, HOUR, idsOf, installHandlerHarness,
  LIVE_STATES, loadHandler, logLines, oldInstances, packerName, publishedReport, serveInstances, snsMock,
  stoppedIds, terminatedIds, TOPIC_ARN,
} from './harness';

installHandlerHarness();

describe('observation', () => {
  test('walks every page of DescribeInstances with the server-side filters', async () => {
    const fleet = [...oldInstances(5), ec2Instance({ age: HOUR }), ...oldInstances(2, { state: 'stopped' })];
    const requests = serveInstances(fleet, 3);
    const handler = loadHandler();

    const result = await handler({ source: 'cdk-fleet-janitor.schedule' });

    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-2']);
    for (const request of requests) {
      expect(request.Filters).toEqual([
        { Name: 'key-name', Values: ['packer_*', 'packer *'] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ]);
      expect(request.MaxResults).toBe(1000);
    }
    expect(result.counts.scanned).toBe(8);
    expect(result.status).toBe('SUCCEEDED');
    // the old instances from every page, and nothing else
    expect(terminatedIds().sort()).toEqual(idsOf([...fleet.slice(0, 5), ...fleet.slice(6)]).sort());
    expect(result.counts).toMatchObject({ matched: 8, actionsTaken: 7, kept: 1, actionsFailed: 0 });
  });

  test('configured KEY_NAME_PATTERNS are what the server-side filter asks for', async () => {
    const requests = serveInstances([]);
    await loadHandler({ KEY_NAME_PATTERNS: '["ci-build-*"]' })({});
    expect(requests[0].Filters).toContainEqual({ Name: 'key-name', Values: ['ci-build-*'] });
  });

  test('loose server-side matches are re-checked: non-Packer keys and odd states are never acted on', async () => {
    const packer = oldInstances(1);
    const strangers = [
      ec2Instance({ age: 30 * DAY, keyName: 'prod-key' }),
      ec2Instance({ age: 30 * DAY, keyName: 'mypacker_x' }),
      ec2Instance({ age: 30 * DAY, keyName: 'packer-x' }),
      ec2Instance({ age: 30 * DAY, keyName: undefined }),
      ec2Instance({ age: 30 * DAY, state: 'pending' }),
      ec2Instance({ age: 30 * DAY, state: 'shutting-down' }),
    ];
    serveInstances([...packer, ...strangers]);
    const result = await loadHandler()({});
    expect(terminatedIds()).toEqual(idsOf(packer));
    expect(result.counts).toMatchObject({ scanned: 7, matched: 1 });
  });

  test('the legacy "packer <uuid>" key name is matched too', async () => {
    const legacy = ec2Instance({ age: DAY, keyName: packerName(ago(DAY), ' ') });
    serveInstances([legacy]);
    await loadHandler()({});
    expect(terminatedIds()).toEqual(idsOf([legacy]));
  });
});

describe('batching', () => {
  test('2,300 old instances are terminated in calls of 1000, 1000 and 300', async () => {
    const fleet = oldInstances(2_300);
    const requests = serveInstances(fleet, 1000);
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    const result = await loadHandler()({});

    expect(requests).toHaveLength(3);
    const calls = ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds!);
    expect(calls.map((ids) => ids.length)).toEqual([1000, 1000, 300]);
    expect(new Set(calls.flat())).toEqual(new Set(idsOf(fleet)));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ scanned: 2_300, actionsTaken: 2_300, actionsFailed: 0 });
    // the invocation result is bounded; the notification is truncated with counts
    expect(result.entries).toHaveLength(200);
    expect(result.entriesOmitted).toBe(2_100);
    const report = publishedReport();
    expect(Buffer.byteLength(report.Message!, 'utf8')).toBeLessThanOrEqual(250_000);
    expect(report.Message).toMatch(/\.\.\. and \d+ more resource\(s\) not listed .*\(\d+ DONE\)/);
  });

  test('STOP stops running instances in one call and only reports stopped ones', async () => {
    const running = oldInstances(3);
    const stopped = oldInstances(2, { state: 'stopped' });
    serveInstances([...running, ...stopped]);
    const result = await loadHandler({ ACTION: 'STOP' })({});
    expect(ec2Mock).toHaveReceivedCommandTimes(StopInstancesCommand, 1);
    expect(stoppedIds().sort()).toEqual(idsOf(running).sort());
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(result.counts).toMatchObject({ actionsTaken: 3, reported: 2 });
  });

  test('the per-run cap acts on the oldest first and reports the rest as skipped', async () => {
    const fleet = [ec2Instance({ age: 2 * DAY }), ec2Instance({ age: 9 * DAY }), ec2Instance({ age: 5 * DAY }), ec2Instance({ age: 3 * DAY })];
    serveInstances(fleet);
    const result = await loadHandler({ MAX_ACTIONS_PER_RUN: '2' })({});
    expect(terminatedIds().sort()).toEqual(idsOf([fleet[1], fleet[2]]).sort());
    expect(result.counts).toMatchObject({ actionsTaken: 2, skippedCap: 2 });
    expect(publishedReport().Subject).toContain('2 skipped');
  });
});

describe('partial failure', () => {
  test('a failed batch falls back to one by one; only the bad id fails, with its code', async () => {
    const fleet = oldInstances(6);
    const bad = fleet[3].InstanceId!;
    serveInstances(fleet);
    ec2Mock.on(TerminateInstancesCommand).callsFake(async (input: ec2Sdk.TerminateInstancesCommandInput) => {
      if (input.InstanceIds!.includes(bad)) {
        throw ec2Error('OperationNotPermitted', 400, `The instance '${bad}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`);
      }
      return {};
    });

    const result = await loadHandler()({});

    const calls = ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds!);
    expect(calls[0]).toHaveLength(6);
    expect(calls.slice(1)).toEqual(idsOf(fleet).map((id) => [id]));
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(result.counts).toMatchObject({ actionsTaken: 5, actionsFailed: 1 });
    const failed = result.entries.filter((e) => e.outcome === 'FAILED');
    expect(failed).toEqual([expect.objectContaining({ id: bad, errorCode: 'OperationNotPermitted', action: 'TERMINATE' })]);
    expect(result.entries.filter((e) => e.outcome === 'DONE').map((e) => e.id).sort()).toEqual(idsOf(fleet).filter((id) => id !== bad).sort());

    const report = publishedReport();
    expect(report.Subject).toContain('5 done, 1 failed');
    expect(report.Message).toContain(': PARTIAL_FAILURE');
    expect(report.Message).toMatch(new RegExp(`${bad} .*result=FAILED {2}error=OperationNotPermitted`));
    // one warning log line for the failed item, carrying its code
    expect(logLines('warn')).toContainEqual(expect.objectContaining({ message: 'action failed', resourceId: bad, errorCode: 'OperationNotPermitted', outcome: 'FAILED' }));
  });

  test('a caller-level error on the batch is not retried id by id', async () => {
    const fleet = oldInstances(4);
    serveInstances(fleet);
    ec2Mock.on(TerminateInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    const result = await loadHandler()({});
    expect(ec2Mock).toHaveReceivedCommandTimes(TerminateInstancesCommand, 1);
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(result.entries.every((e) => e.outcome === 'FAILED' && e.errorCode === 'UnauthorizedOperation')).toBe(true);
  });
});

describe('throttling', () => {
  test('RequestLimitExceeded on a DescribeInstances page and ThrottlingException on TerminateInstances are retried', async () => {
    const fleet = oldInstances(7);
    const requests = serveInstances(fleet, 3, { 2: ec2Error('RequestLimitExceeded', 503) });
    ec2Mock.on(TerminateInstancesCommand)
      .rejectsOnce(ec2Error('ThrottlingException', 400))
      .resolves({});

    const result = await loadHandler()({});

    // page 2 was asked for again, and the walk did not start over
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, 'tok-1', 'tok-1', 'tok-2']);
    const calls = ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds!);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
    expect(calls[1].slice().sort()).toEqual(idsOf(fleet).sort());
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ scanned: 7, actionsTaken: 7, actionsFailed: 0 });
  });

  test('ThrottlingException on the first DescribeInstances page is retried', async () => {
    const fleet = oldInstances(2);
    const requests = serveInstances(fleet, 1000, { 1: ec2Error('ThrottlingException') });
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    const result = await loadHandler()({});
    expect(requests).toHaveLength(2);
    expect(result.counts.actionsTaken).toBe(2);
  });
});

describe('invalid configuration', () => {
  test.each([
    ['ACTION', 'DELETE'],
    ['ACTION', 'terminate'],
    ['MAX_AGE_SECONDS', '2h'],
    ['MAX_AGE_SECONDS', '7200.5'],
    ['MAX_AGE_SECONDS', '10'],
    ['KEY_NAME_PATTERNS', '[packer_*'],
    ['KEY_NAME_PATTERNS', '"packer_*"'],
    ['KEY_NAME_PATTERNS', '["*"]'],
    ['KEY_NAME_PATTERNS', '[]'],
    ['DRY_RUN', 'yes'],
    ['MAX_ACTIONS_PER_RUN', '-1'],
    ['TAG_SELECTOR', '["team"]'],
    ['TERMINATE_STOPPED_AFTER_SECONDS', 'soon'],
    ['CLEANUP_KEY_PAIRS', '1'],
  ])('%s=%j is rejected naming the variable and value, before any call', async (variable, value) => {
    serveInstances(oldInstances(2));
    const handler = loadHandler({ [variable]: value });
    const rejection = handler({});
    await expect(rejection).rejects.toMatchObject({ name: 'ConfigError', variable, value });
    await expect(rejection).rejects.toThrow(`environment variable ${variable}=${JSON.stringify(value)}`);
    expectNoCallsAtAll();
  });

  test('KEY_NAME_PATTERNS that begin with wildcards but hold literal characters are accepted', async () => {
    const requests = serveInstances([]);
    await loadHandler({ KEY_NAME_PATTERNS: '["*?packer_*"]' })({});
    expect(requests[0].Filters).toContainEqual({ Name: 'key-name', Values: ['*?packer_*'] });
  });

  test('KEY_NAME_PATTERNS of wildcards only: the error says why', async () => {
    await expect(loadHandler({ KEY_NAME_PATTERNS: '["packer_*","*?"]' })({}))
      .rejects.toThrow(`Invalid configuration: environment variable KEY_NAME_PATTERNS=${JSON.stringify('["packer_*","*?"]')}: a pattern must contain literal characters, not only wildcards`);
  });

  test.each([undefined, '', '  '])('TOPIC_ARN %j is rejected before any call', async (value) => {
    serveInstances(oldInstances(2));
    const handler = loadHandler({ TOPIC_ARN: value });
    await expect(handler({})).rejects.toThrow(/environment variable TOPIC_ARN=/);
    expectNoCallsAtAll();
  });

  test('the configuration error repeats on every invocation (it is not cached as valid)', async () => {
    serveInstances(oldInstances(1));
    const handler = loadHandler({ ACTION: 'NUKE' });
    await expect(handler({})).rejects.toThrow('ACTION="NUKE"');
    await expect(handler({})).rejects.toThrow('ACTION="NUKE"');
    expectNoCallsAtAll();
  });

  test('configuration is read once per module load', async () => {
    serveInstances(oldInstances(1));
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    const handler = loadHandler({ ACTION: 'NOTIFY' });
    await handler({});
    process.env.ACTION = 'TERMINATE';
    await handler({});
    expectNoChanges();
  });
});

describe('malformed events', () => {
  test.each([
    ['null', null],
    ['a string', 'string'],
    ['an array', []],
    ['an unknown key', { unexpected: 1 }],
    ['dryRun as a string', { dryRun: 'yes' }],
    ['a huge source', { source: 'x'.repeat(100_000) }],
  ])('%s is rejected before any call', async (_label, event) => {
    serveInstances(oldInstances(3));
    const handler = loadHandler();
    await expect(handler(event)).rejects.toMatchObject({ name: 'EventShapeError', message: expect.stringContaining('No resource was changed') });
    expectNoCallsAtAll();
  });
});

describe('dry run', () => {
  /** A fleet touching every path: instances to terminate, protected, young; key pairs and a group to delete. */
  function mixedFleet(): () => void {
    const oldKey = packerName(ago(3 * DAY));
    const group: SecurityGroup = { GroupId: 'sg-0dry', GroupName: packerName(ago(3 * DAY)), Tags: [] };
    const instances = [...oldInstances(3), ec2Instance({ age: DAY, tags: { 'fleet-janitor:protect': 'true' } }), ec2Instance({ age: HOUR })];
    return () => {
      serveInstances(instances);
      ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: oldKey, KeyPairId: 'key-1', CreateTime: ago(3 * DAY) }] });
      ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [group] });
      ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
      ec2Mock.on(TerminateInstancesCommand).resolves({});
      ec2Mock.on(DeleteKeyPairCommand).resolves({});
      ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
    };
  }
  const cleanup = { CLEANUP_KEY_PAIRS: 'true', CLEANUP_SECURITY_GROUPS: 'true' };
  const decisions = (entries: Array<{ id: string; action: string; reason: string }>) =>
    entries.map((e) => `${e.id} ${e.action} ${e.reason}`).sort();

  test.each([
    ['DRY_RUN=true', { DRY_RUN: 'true' }, {}],
    ['event {dryRun: true}', {}, { dryRun: true }],
    ['DRY_RUN=true, event {dryRun: false} cannot override it', { DRY_RUN: 'true' }, { dryRun: false }],
  ])('%s: the same decisions are reported, nothing is changed', async (_label, env, event) => {
    const serveFleet = mixedFleet();
    serveFleet();
    const live = await loadHandler(cleanup)({});
    expect(live.counts.actionsTaken).toBe(5); // 3 instances, 1 key pair, 1 group
    ec2Mock.reset();
    snsMock.reset();
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-2' });
    serveFleet();

    const dry = await loadHandler({ ...cleanup, ...env })(event);

    expectNoChanges();
    expect(dry.dryRun).toBe(true);
    expect(dry.status).toBe('SUCCEEDED');
    expect(decisions(dry.entries)).toEqual(decisions(live.entries));
    expect(dry.entries.filter((e) => e.outcome === 'DRY_RUN').map((e) => e.id).sort())
      .toEqual(live.entries.filter((e) => e.outcome === 'DONE').map((e) => e.id).sort());
    expect(dry.counts).toMatchObject({ wouldAct: 5, actionsTaken: 0, skippedProtected: 1, kept: live.counts.kept });
    const report = publishedReport();
    expect(report.Subject).toContain('(dry run)');
    expect(report.Subject).toContain('5 would act');
    expect(report.Message).toContain('DRY RUN: nothing was changed');
  });
});

describe('guards', () => {
  test('protected instances are never in a TerminateInstances call', async () => {
    const plain = oldInstances(3);
    const guarded = [
      ec2Instance({ age: 30 * DAY, tags: { 'fleet-janitor:protect': 'true' } }),
      ec2Instance({ age: 30 * DAY, tags: { 'fleet-janitor:protect': '' } }),
      ec2Instance({ age: 30 * DAY, state: 'stopped', tags: { 'fleet-janitor:protect': 'no' } }),
    ];
    serveInstances([...guarded, ...plain]);
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    const result = await loadHandler({ TERMINATE_STOPPED_AFTER_SECONDS: '60' })({});
    expect(terminatedIds().sort()).toEqual(idsOf(plain).sort());
    for (const id of idsOf(guarded)) expect(terminatedIds()).not.toContain(id);
    expect(result.entries.filter((e) => e.outcome === 'SKIPPED_PROTECTED').map((e) => e.id).sort()).toEqual(idsOf(guarded).sort());
  });

  test('a custom PROTECTION_TAG_KEY protects and the default key no longer does', async () => {
    const custom = ec2Instance({ age: DAY, tags: { 'keep-me': '1' } });
    const defaultTagged = ec2Instance({ age: DAY, tags: { 'fleet-janitor:protect': 'true' } });
    serveInstances([custom, defaultTagged]);
    await loadHandler({ PROTECTION_TAG_KEY: 'keep-me' })({});
    expect(terminatedIds()).toEqual([defaultTagged.InstanceId]);
  });

  test('TAG_SELECTOR limits the run to instances carrying those tags', async () => {
    const selected = ec2Instance({ age: DAY, tags: { team: 'images' } });
    const other = ec2Instance({ age: DAY, tags: { team: 'data' } });
    serveInstances([selected, other]);
    await loadHandler({ TAG_SELECTOR: '{"team":"images"}' })({});
    expect(terminatedIds()).toEqual([selected.InstanceId]);
  });

  test('NOTIFY makes no change calls and reports the overdue instances', async () => {
    const overdue = [...oldInstances(2), ...oldInstances(1, { state: 'stopped' })];
    serveInstances([...overdue, ec2Instance({ age: HOUR })]);
    const result = await loadHandler({ ACTION: 'NOTIFY', CLEANUP_KEY_PAIRS: 'false' })({});
    expectNoChanges();
    expect(result.counts).toMatchObject({ reported: 3, kept: 1, actionsTaken: 0 });
    const report = publishedReport();
    expect(report.Subject).toContain('3 reported');
    for (const id of idsOf(overdue)) expect(report.Message).toContain(id);
  });

  test('TERMINATE_STOPPED_AFTER_SECONDS uses the stop time EC2 wrote in StateTransitionReason', async () => {
    const stamp = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19);
    const longStopped = ec2Instance({ age: 3 * DAY, state: 'stopped', reason: `User initiated (${stamp(ago(2 * DAY))} GMT)` });
    const justStopped = ec2Instance({ age: 3 * DAY, state: 'stopped', reason: `User initiated (${stamp(ago(HOUR))} GMT)` });
    serveInstances([longStopped, justStopped]);
    const result = await loadHandler({ ACTION: 'NOTIFY', MAX_AGE_SECONDS: String(7 * DAY), TERMINATE_STOPPED_AFTER_SECONDS: String(DAY) })({});
    expect(terminatedIds()).toEqual([longStopped.InstanceId]);
    expect(result.entries.find((e) => e.id === justStopped.InstanceId)?.outcome).toBe('KEPT');
  });
});

describe('notification', () => {
  test('publishes to TOPIC_ARN with a short subject and a body listing the instance ids', async () => {
    const fleet = oldInstances(4);
    const young = ec2Instance({ age: HOUR });
    serveInstances([...fleet, young]);
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await loadHandler()({ source: 'cdk-fleet-janitor.schedule' });

    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    const report = publishedReport();
    expect(report.TopicArn).toBe(TOPIC_ARN);
    expect(report.Subject!.length).toBeLessThan(100);
    expect(report.Subject).toBe('[fleet-janitor] PackerCleaner: 4 done');
    for (const id of idsOf([...fleet, young])) expect(report.Message).toContain(id);
    expect(report.Message).toContain('Live run');
  });

  test('both clients say who is calling: cdk-fleet-janitor/packer-cleaner in the user agent (CloudTrail\'s userAgent)', async () => {
    serveInstances([]);
    await loadHandler()({});
    const clientOf = (mock: typeof ec2Mock | typeof snsMock) => mock.send.getCall(0).thisValue as { config: { customUserAgent: unknown } };
    expect(clientOf(ec2Mock).config.customUserAgent).toEqual([['cdk-fleet-janitor/packer-cleaner']]);
    expect(clientOf(snsMock).config.customUserAgent).toEqual([['cdk-fleet-janitor/packer-cleaner']]);
  });

  test('no matching instances still sends a report', async () => {
    serveInstances([]);
    const result = await loadHandler()({});
    expect(result.counts.scanned).toBe(0);
    expect(publishedReport().Message).toContain('No matching resources.');
  });

  test('logs one JSON line per decision and emits EMF metrics', async () => {
    const fleet = oldInstances(2);
    serveInstances([...fleet, ec2Instance({ age: HOUR })]);
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await loadHandler()({});
    expect(logLines('info').filter((l) => l.message === 'plan')).toEqual([expect.objectContaining({ matched: 3, ignored: 0, dryRun: false })]);
    const decisionsLogged = logLines('info').filter((l) => l.message === 'decision');
    expect(decisionsLogged).toHaveLength(3);
    expect(decisionsLogged.filter((l) => l.outcome === 'DONE').map((l) => l.resourceId).sort()).toEqual(idsOf(fleet).sort());
    const emf = emfRecords();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ ActionsTaken: 2, ActionsFailed: 0, ResourcesScanned: 3 });
    expect(logLines('info').filter((l) => l.message === 'run finished')).toEqual([expect.objectContaining({
      status: 'SUCCEEDED',
      dryRun: false,
      notificationId: 'msg-1',
      counts: { scanned: 3, matched: 3, actionsTaken: 2, wouldAct: 0, reported: 0, actionsFailed: 0, skippedProtected: 0, skippedCap: 0, kept: 1 },
    })]);
  });

  test('without the Powertools variables the construct sets, logs and metrics still name PackerCleaner, in CdkFleetJanitor', async () => {
    serveInstances([ec2Instance({ age: HOUR })]);
    await loadHandler({ POWERTOOLS_SERVICE_NAME: undefined, POWERTOOLS_METRICS_NAMESPACE: undefined })({});
    expect(logLines('info').find((l) => l.message === 'run finished')).toMatchObject({ service: 'PackerCleaner' });
    const [emf] = emfRecords();
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('CdkFleetJanitor');
    expect(emf.service).toBe('PackerCleaner');
    // Outside Lambda (no AWS_LAMBDA_FUNCTION_NAME) there is no function name to add as a dimension.
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
    expect(logLines('warn')).toEqual([]);
  });
});

describe('key pair cleanup', () => {
  test('deletes only unused, old, unprotected Packer key pairs', async () => {
    const oldUnused = packerName(ago(3 * DAY));
    const oldByName = packerName(ago(3 * DAY), ' ');
    const youngKey = packerName(ago(HOUR));
    const protectedKey = packerName(ago(3 * DAY));
    const usedByYoung = packerName(ago(3 * DAY));
    const usedByDying = packerName(ago(3 * DAY));
    const dying = ec2Instance({ age: DAY, keyName: usedByDying });
    serveInstances([ec2Instance({ age: HOUR, keyName: usedByYoung }), dying]);
    const keyPairs: KeyPairInfo[] = [
      { KeyName: oldUnused, CreateTime: ago(3 * DAY) },
      { KeyName: oldByName }, // no CreateTime: age from the name
      { KeyName: youngKey, CreateTime: ago(HOUR) },
      { KeyName: protectedKey, CreateTime: ago(3 * DAY), Tags: [{ Key: 'fleet-janitor:protect', Value: 'true' }] },
      { KeyName: usedByYoung, CreateTime: ago(3 * DAY) },
      { KeyName: usedByDying, CreateTime: ago(3 * DAY) },
      { KeyName: 'prod-key', CreateTime: ago(300 * DAY) },
    ];
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: keyPairs });
    ec2Mock.on(DeleteKeyPairCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});

    const result = await loadHandler({ CLEANUP_KEY_PAIRS: 'true' })({});

    expect(ec2Mock).toHaveReceivedCommandWith(DescribeKeyPairsCommand, { Filters: [{ Name: 'key-name', Values: ['packer_*', 'packer *'] }] });
    const deleted = ec2Mock.commandCalls(DeleteKeyPairCommand).map((c) => c.args[0].input.KeyName);
    expect(deleted.sort()).toEqual([oldUnused, oldByName].sort());
    // the key of an instance terminated in this run waits for a later run
    expect(terminatedIds()).toEqual([dying.InstanceId]);
    const byId = new Map(result.entries.map((e) => [e.id, e]));
    expect(byId.get(usedByDying)).toMatchObject({ outcome: 'KEPT', reason: `in use by ${dying.InstanceId}` });
    expect(byId.get(protectedKey)?.outcome).toBe('SKIPPED_PROTECTED');
    expect(byId.get(youngKey)?.outcome).toBe('KEPT');
    expect(byId.has('prod-key')).toBe(false);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeSecurityGroupsCommand);
  });

  test('a key pair that cannot be deleted is reported with its code, the others still go', async () => {
    const a = packerName(ago(3 * DAY));
    const b = packerName(ago(3 * DAY));
    serveInstances([]);
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: a, CreateTime: ago(3 * DAY) }, { KeyName: b, CreateTime: ago(3 * DAY) }] });
    // e.g. an IAM condition that denies this one key pair (InvalidKeyPair.NotFound would mean "already deleted": see "overlapping runs")
    ec2Mock.on(DeleteKeyPairCommand).resolves({}).on(DeleteKeyPairCommand, { KeyName: a }).rejects(ec2Error('UnauthorizedOperation', 403));
    const result = await loadHandler({ CLEANUP_KEY_PAIRS: 'true' })({});
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteKeyPairCommand, 2);
    expect(result.entries.find((e) => e.id === a)).toMatchObject({ outcome: 'FAILED', errorCode: 'UnauthorizedOperation' });
    expect(result.entries.find((e) => e.id === b)?.outcome).toBe('DONE');
    expect(result.status).toBe('PARTIAL_FAILURE');
  });

  test('disabled: DescribeKeyPairs is not called', async () => {
    serveInstances([]);
    await loadHandler()({});
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeKeyPairsCommand);
  });
});

describe('security group cleanup', () => {
  test('deletes only unused, old, unprotected Packer groups', async () => {
    const old = (id: string, tags: Record<string, string> = {}): SecurityGroup =>
      ({ GroupId: id, GroupName: packerName(ago(3 * DAY)), Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) });
    const groups = [
      old('sg-free1'), old('sg-eni'), old('sg-inst'), old('sg-prot', { 'fleet-janitor:protect': '' }),
      { GroupId: 'sg-young', GroupName: packerName(ago(HOUR)) },
      { GroupId: 'sg-noage', GroupName: 'packer_sg' },
      old('sg-free2'),
      { GroupId: 'sg-default', GroupName: 'default' },
    ];
    serveInstances([ec2Instance({ age: HOUR, groups: ['sg-inst'] })]);
    const sgRequests: DescribeSecurityGroupsCommandInput[] = [];
    ec2Mock.on(DescribeSecurityGroupsCommand).callsFake(async (input: DescribeSecurityGroupsCommandInput) => {
      sgRequests.push(structuredClone(input));
      return input.NextToken === 'sg-tok' ? { SecurityGroups: groups.slice(4) } : { SecurityGroups: groups.slice(0, 4), NextToken: 'sg-tok' };
    });
    const eniRequests: DescribeNetworkInterfacesCommandInput[] = [];
    ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake(async (input: DescribeNetworkInterfacesCommandInput) => {
      eniRequests.push(structuredClone(input));
      // an interface of another service (e.g. a Lambda ENI) still holding sg-eni
      return { NetworkInterfaces: [{ NetworkInterfaceId: 'eni-1', Groups: [{ GroupId: 'sg-eni' }, { GroupId: 'sg-unrelated' }] }] };
    });
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({});

    const result = await loadHandler({ CLEANUP_SECURITY_GROUPS: 'true' })({});

    expect(sgRequests.map((r) => r.NextToken)).toEqual([undefined, 'sg-tok']);
    expect(sgRequests[0].Filters).toEqual([{ Name: 'group-name', Values: ['packer_*', 'packer *'] }]);
    expect(eniRequests).toHaveLength(1);
    expect(eniRequests[0].Filters).toEqual([{ Name: 'group-id', Values: groups.map((g) => g.GroupId) }]);
    const deleted = ec2Mock.commandCalls(DeleteSecurityGroupCommand).map((c) => c.args[0].input.GroupId);
    expect(deleted.sort()).toEqual(['sg-free1', 'sg-free2']);
    const outcome = (id: string) => result.entries.find((e) => e.id === id)?.outcome;
    expect(outcome('sg-eni')).toBe('KEPT');
    expect(outcome('sg-inst')).toBe('KEPT');
    expect(outcome('sg-prot')).toBe('SKIPPED_PROTECTED');
    expect(outcome('sg-young')).toBe('KEPT');
    expect(outcome('sg-noage')).toBe('KEPT');
    expect(outcome('sg-default')).toBeUndefined();
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeKeyPairsCommand);
  });

  test('more than 200 groups are checked for interfaces in filter chunks of 200', async () => {
    const groups: SecurityGroup[] = Array.from({ length: 450 }, (_, i) => ({ GroupId: `sg-${i}`, GroupName: packerName(ago(3 * DAY)) }));
    serveInstances([]);
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: groups });
    const eniRequests: DescribeNetworkInterfacesCommandInput[] = [];
    ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake(async (input: DescribeNetworkInterfacesCommandInput) => {
      eniRequests.push(structuredClone(input));
      return { NetworkInterfaces: [] };
    });
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
    const result = await loadHandler({ CLEANUP_SECURITY_GROUPS: 'true', MAX_ACTIONS_PER_RUN: '1000' })({});
    expect(eniRequests.map((r) => r.Filters![0].Values!.length)).toEqual([200, 200, 50]);
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 450);
    expect(result.counts.actionsTaken).toBe(450);
  });

  test('DependencyViolation is reported per group', async () => {
    serveInstances([]);
    const groups: SecurityGroup[] = [
      { GroupId: 'sg-a', GroupName: packerName(ago(3 * DAY)) },
      { GroupId: 'sg-b', GroupName: packerName(ago(3 * DAY)) },
    ];
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: groups });
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({}).on(DeleteSecurityGroupCommand, { GroupId: 'sg-a' }).rejects(ec2Error('DependencyViolation'));
    const result = await loadHandler({ CLEANUP_SECURITY_GROUPS: 'true' })({});
    expect(result.entries.find((e) => e.id === 'sg-a')).toMatchObject({ outcome: 'FAILED', errorCode: 'DependencyViolation' });
    expect(result.entries.find((e) => e.id === 'sg-b')?.outcome).toBe('DONE');
  });
});

describe('a run that dies mid-way', () => {
  test.each(['UnauthorizedOperation', 'AccessDenied'])('%s on DescribeInstances page 2: a FAILED report is published and the handler rejects', async (code) => {
    const requests = serveInstances(oldInstances(5), 2, { 2: ec2Error(code, 403, 'You are not authorized to perform this operation.') });
    const handler = loadHandler();

    await expect(handler({})).rejects.toMatchObject({ name: code });

    expect(requests).toHaveLength(2); // not retried
    expectNoChanges();
    const report = publishedReport();
    expect(report.TopicArn).toBe(TOPIC_ARN);
    expect(report.Subject).toContain('RUN FAILED');
    expect(report.Subject!.length).toBeLessThan(100);
    expect(report.Message).toContain(': FAILED');
    expect(report.Message).toContain('The run stopped early: You are not authorized to perform this operation.');
    expect(logLines('error')).toContainEqual(expect.objectContaining({ message: 'run failed before it finished', error: 'You are not authorized to perform this operation.' }));
  });

  test('a failure listing security groups still reports, and changes nothing', async () => {
    serveInstances(oldInstances(2));
    ec2Mock.on(DescribeSecurityGroupsCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    await expect(loadHandler({ CLEANUP_SECURITY_GROUPS: 'true' })({})).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expectNoChanges();
    expect(publishedReport().Subject).toContain('RUN FAILED');
  });
});

describe('EventBridge scheduled events', () => {
  /** What a user's own events.Rule with a schedule delivers. */
  const RULE_EVENT = {
    ...CONSOLE_SCHEDULED_EVENT,
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    time: '2026-03-01T04:00:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:111122223333:rule/nightly-packer-sweep'],
    account: '111122223333',
  };

  test.each([
    ['the console test event', CONSOLE_SCHEDULED_EVENT],
    ['a schedule rule\'s event', RULE_EVENT],
  ])('%s runs a normal (live) sweep', async (_label, event) => {
    const old = oldInstances(3);
    const young = ec2Instance({ age: HOUR });
    serveInstances([...old, young]);
    ec2Mock.on(TerminateInstancesCommand).resolves({});

    const result = await loadHandler()(event);

    expect(result).toMatchObject({ status: 'SUCCEEDED', dryRun: false });
    expect(terminatedIds().sort()).toEqual(idsOf(old).sort());
    expect(result.counts).toMatchObject({ scanned: 4, actionsTaken: 3, kept: 1, actionsFailed: 0 });
    expect(publishedReport().Subject).toBe('[fleet-janitor] PackerCleaner: 3 done');
  });

  test('a configured dry run stays a dry run when a scheduled event triggers it', async () => {
    serveInstances(oldInstances(2));
    const result = await loadHandler({ DRY_RUN: 'true' })(RULE_EVENT);
    expectNoChanges();
    expect(result).toMatchObject({ dryRun: true, status: 'SUCCEEDED' });
    expect(result.counts.wouldAct).toBe(2);
  });

  test.each([
    ['another event type', { ...RULE_EVENT, 'detail-type': 'EC2 Instance State-change Notification', 'source': 'aws.ec2' }],
    ['a detail that asks for something', { ...RULE_EVENT, detail: { dryRun: false } }],
    ['dryRun smuggled into the envelope', { ...RULE_EVENT, dryRun: false }],
    ['no resources', { ...RULE_EVENT, resources: [] }],
  ])('a near miss (%s) is rejected before any call', async (_label, event) => {
    serveInstances(oldInstances(3));
    await expect(loadHandler()(event)).rejects.toMatchObject({
      name: 'EventShapeError',
      message: expect.stringMatching(/^Rejected event: not a valid EventBridge Scheduled Event: .*No resource was changed\.$/),
    });
    expectNoCallsAtAll();
  });
});

describe('overlapping runs: an action another run already carried out is done, not failed', () => {
  type Entry = Awaited<ReturnType<Handler>>['entries'][number];
  const alreadyDone = (e: Entry | undefined) => e?.details.find(([k]) => k === 'alreadyDone')?.[1];
  const entryOf = (result: Awaited<ReturnType<Handler>>, id: string) => result.entries.find((e) => e.id === id);
  const change = (id: string, previous: string, current: string) => ({
    InstanceId: id,
    PreviousState: { Name: previous as ec2Sdk.InstanceStateName },
    CurrentState: { Name: current as ec2Sdk.InstanceStateName },
  });

  test('TerminateInstances answering previous state terminated/shutting-down: DONE, marked already done, the run SUCCEEDED', async () => {
    const fleet = oldInstances(4);
    const [fresh, gone, goingAway, alsoFresh] = idsOf(fleet);
    serveInstances(fleet);
    ec2Mock.on(TerminateInstancesCommand).resolves({
      TerminatingInstances: [
        change(fresh, 'running', 'shutting-down'),
        change(gone, 'terminated', 'terminated'),
        change(goingAway, 'shutting-down', 'shutting-down'),
        change(alsoFresh, 'stopped', 'shutting-down'),
      ],
    });

    const result = await loadHandler()({});

    expect(ec2Mock).toHaveReceivedCommandTimes(TerminateInstancesCommand, 1);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ actionsTaken: 4, actionsFailed: 0 });
    expect(result.entries.every((e) => e.outcome === 'DONE')).toBe(true);
    expect([fresh, gone, goingAway, alsoFresh].map((id) => alreadyDone(entryOf(result, id)))).toEqual([undefined, 'was-terminated', 'was-shutting-down', undefined]);
    expect(entryOf(result, gone)!.reason).toMatch(/^already done before this run's call \(was-terminated\): another run or someone else got there first; planned because running for 1d/);
    expect(entryOf(result, fresh)!.reason).toMatch(/^running for 1d/);
    // The notification and the log line say so too.
    expect(publishedReport().Message).toMatch(new RegExp(`- instance ${gone} .* alreadyDone=was-terminated {2}action=TERMINATE {2}result=DONE {2}\\(already done`));
    expect(logLines('info')).toContainEqual(expect.objectContaining({ message: 'decision', resourceId: gone, outcome: 'DONE', alreadyDone: 'was-terminated' }));
    expect(logLines('warn').filter((l) => l.message === 'action failed')).toEqual([]);
  });

  test('StopInstances answering previous state stopped/stopping: marked already done', async () => {
    const fleet = oldInstances(3);
    const [a, b, c] = idsOf(fleet);
    serveInstances(fleet);
    ec2Mock.on(StopInstancesCommand).resolves({ StoppingInstances: [change(a, 'running', 'stopping'), change(b, 'stopped', 'stopped'), change(c, 'stopping', 'stopping')] });
    const result = await loadHandler({ ACTION: 'STOP' })({});
    expect(result.status).toBe('SUCCEEDED');
    expect([a, b, c].map((id) => [entryOf(result, id)?.outcome, alreadyDone(entryOf(result, id))]))
      .toEqual([['DONE', undefined], ['DONE', 'was-stopped'], ['DONE', 'was-stopping']]);
  });

  test('a state change that names no previous state is a plain success: nothing is claimed without evidence', async () => {
    const fleet = oldInstances(2);
    const [bare, stateless] = idsOf(fleet);
    serveInstances(fleet);
    ec2Mock.on(TerminateInstancesCommand).resolves({ TerminatingInstances: [{ InstanceId: bare }, { InstanceId: stateless, PreviousState: {} }] });
    const result = await loadHandler()({});
    expect(result.status).toBe('SUCCEEDED');
    expect([bare, stateless].map((id) => [entryOf(result, id)?.outcome, alreadyDone(entryOf(result, id))])).toEqual([['DONE', undefined], ['DONE', undefined]]);
  });

  test('DeleteSecurityGroup InvalidGroup.NotFound: DONE, marked already done (not a failure)', async () => {
    serveInstances([]);
    const groups: SecurityGroup[] = [
      { GroupId: 'sg-gone', GroupName: packerName(ago(3 * DAY)) },
      { GroupId: 'sg-here', GroupName: packerName(ago(3 * DAY)) },
    ];
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: groups });
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({ Return: true, GroupId: 'sg-here' })
      .on(DeleteSecurityGroupCommand, { GroupId: 'sg-gone' }).rejects(ec2Error('InvalidGroup.NotFound', 400, "The security group 'sg-gone' does not exist"));

    const result = await loadHandler({ CLEANUP_SECURITY_GROUPS: 'true' })({});

    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 2);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ actionsTaken: 2, actionsFailed: 0 });
    expect(entryOf(result, 'sg-gone')).toMatchObject({ outcome: 'DONE', errorCode: undefined });
    expect(alreadyDone(entryOf(result, 'sg-gone'))).toBe('InvalidGroup.NotFound');
    expect(alreadyDone(entryOf(result, 'sg-here'))).toBeUndefined();
    expect(publishedReport().Subject).toBe('[fleet-janitor] PackerCleaner: 2 done');
  });

  test('DeleteKeyPair: a success naming no KeyPairId (nothing deleted) or InvalidKeyPair.NotFound is already done; one naming it is done', async () => {
    const [deleted, missing, notFound, retried, bodiless] = Array.from({ length: 5 }, () => packerName(ago(3 * DAY)));
    serveInstances([]);
    ec2Mock.on(DescribeKeyPairsCommand).resolves({
      KeyPairs: [deleted, missing, notFound, retried, bodiless].map((KeyName, i) => ({ KeyName, KeyPairId: `key-${i}`, CreateTime: ago(3 * DAY) })),
    });
    ec2Mock.on(DeleteKeyPairCommand)
      .resolves({ Return: true, KeyPairId: 'key-0' })
      .on(DeleteKeyPairCommand, { KeyName: missing }).resolves({ Return: true })
      .on(DeleteKeyPairCommand, { KeyName: notFound }).rejects(ec2Error('InvalidKeyPair.NotFound'))
      // the SDK's first attempt may have been the one that deleted it: not claimed as someone else's
      .on(DeleteKeyPairCommand, { KeyName: retried }).resolves({ Return: true, $metadata: { attempts: 2 } })
      .on(DeleteKeyPairCommand, { KeyName: bodiless }).resolves(undefined as any);

    const result = await loadHandler({ CLEANUP_KEY_PAIRS: 'true' })({});

    expect(result.status).toBe('SUCCEEDED');
    expect([deleted, missing, notFound, retried, bodiless].map((id) => [entryOf(result, id)?.outcome, alreadyDone(entryOf(result, id))]))
      .toEqual([['DONE', undefined], ['DONE', 'no-key-pair-deleted'], ['DONE', 'InvalidKeyPair.NotFound'], ['DONE', undefined], ['DONE', undefined]]);
  });

  test('a batch refused because one instance no longer exists: the others are terminated, the vanished one is already done', async () => {
    const fleet = oldInstances(5);
    const vanished = fleet[2].InstanceId!;
    serveInstances(fleet);
    ec2Mock.on(TerminateInstancesCommand).callsFake(async (input: ec2Sdk.TerminateInstancesCommandInput) => {
      // EC2: one unknown id fails the whole call, and none of the instances are terminated.
      if (input.InstanceIds!.includes(vanished)) throw ec2Error('InvalidInstanceID.NotFound', 400, `The instance ID '${vanished}' does not exist`);
      return { TerminatingInstances: input.InstanceIds!.map((id) => change(id, 'running', 'shutting-down')) };
    });

    const result = await loadHandler()({});

    const calls = ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds!);
    expect(calls.map((ids) => ids.length)).toEqual([5, 1, 1, 1, 1, 1]);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ actionsTaken: 5, actionsFailed: 0 });
    expect(idsOf(fleet).map((id) => alreadyDone(entryOf(result, id)))).toEqual([undefined, undefined, 'InvalidInstanceID.NotFound', undefined, undefined]);
  });

  test('not claimed when it may have been this run\'s own work: fallback after a partly applied batch, an SDK retry, a retried call', async () => {
    // 1. Termination protection refuses the batch, but EC2 terminates the instances in the other
    //    Availability Zones: one by one, they then answer "shutting-down". That was this run.
    const fleet = oldInstances(3);
    const guarded = fleet[1].InstanceId!;
    serveInstances(fleet);
    const terminatedByBatch = new Set<string>();
    ec2Mock.on(TerminateInstancesCommand).callsFake(async (input: ec2Sdk.TerminateInstancesCommandInput) => {
      const ids = input.InstanceIds!;
      if (ids.includes(guarded)) {
        for (const id of ids) if (id !== guarded && id !== fleet[2].InstanceId) terminatedByBatch.add(id);
        throw ec2Error('OperationNotPermitted', 400, `The instance '${guarded}' may not be terminated.`);
      }
      return { TerminatingInstances: ids.map((id) => change(id, terminatedByBatch.has(id) ? 'shutting-down' : 'running', 'shutting-down')) };
    });
    let result = await loadHandler()({});
    expect(result.status).toBe('PARTIAL_FAILURE');
    expect(entryOf(result, guarded)).toMatchObject({ outcome: 'FAILED', errorCode: 'OperationNotPermitted' });
    expect([fleet[0], fleet[2]].map((i) => [entryOf(result, i.InstanceId!)?.outcome, alreadyDone(entryOf(result, i.InstanceId!))]))
      .toEqual([['DONE', undefined], ['DONE', undefined]]);

    // 2. The SDK needed two attempts for the answer: the first may have landed.
    ec2Mock.reset();
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-2' });
    const two = oldInstances(2);
    serveInstances(two);
    ec2Mock.on(TerminateInstancesCommand).resolves({
      $metadata: { attempts: 2 },
      TerminatingInstances: two.map((i) => change(i.InstanceId!, 'shutting-down', 'shutting-down')),
    });
    result = await loadHandler()({});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.entries.map(alreadyDone)).toEqual([undefined, undefined]);

    // 3. Our own retry (after throttling outlasted the SDK) finds the group gone: maybe our first call deleted it.
    ec2Mock.reset();
    serveInstances([]);
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-retried', GroupName: packerName(ago(3 * DAY)) }] });
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
    ec2Mock.on(DeleteSecurityGroupCommand).rejectsOnce(ec2Error('RequestLimitExceeded', 503)).rejects(ec2Error('InvalidGroup.NotFound'));
    result = await loadHandler({ CLEANUP_SECURITY_GROUPS: 'true' })({});
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 2);
    expect(result.status).toBe('SUCCEEDED');
    expect(entryOf(result, 'sg-retried')?.outcome).toBe('DONE');
    expect(alreadyDone(entryOf(result, 'sg-retried'))).toBeUndefined();
  });

  test('two runs at once over one stateful fleet: each action done once, already done once, neither run fails', async () => {
    // A small EC2 that keeps state: terminate is idempotent and reports the previous state, a deleted
    // group is InvalidGroup.NotFound, DeleteKeyPair of a missing key pair succeeds naming no KeyPairId.
    const due = oldInstances(4, { groups: ['sg-inuse'] });
    const young = ec2Instance({ age: HOUR });
    const instances = [...due, young];
    const states = new Map(instances.map((i) => [i.InstanceId!, i.State!.Name as string]));
    const keyAges = [3 * DAY, 2 * DAY, HOUR];
    const keyPairs = new Map(keyAges.map((age, i) => [packerName(ago(age)), { id: `key-${i}`, created: ago(age) }]));
    const oldKeys = [...keyPairs.keys()].slice(0, 2);
    const groups = new Map([['sg-orphan1', packerName(ago(3 * DAY))], ['sg-orphan2', packerName(ago(5 * DAY))], ['sg-inuse', packerName(ago(3 * DAY))]]);
    // Both runs observe before either acts: the worst case, where both plan the same actions.
    let observed = 0;
    let release!: () => void;
    const bothObserved = new Promise<void>((resolve) => { release = resolve; });
    const changing = async () => {
      await bothObserved;
      await new Promise((resolve) => setImmediate(resolve));
    };

    ec2Mock.on(DescribeInstancesCommand).callsFake(async () => ({
      Reservations: [{
        Instances: instances.filter((i) => LIVE_STATES.includes(states.get(i.InstanceId!)!))
          .map((i) => ({ ...i, State: { Name: states.get(i.InstanceId!) as ec2Sdk.InstanceStateName } })),
      }],
    }));
    ec2Mock.on(DescribeKeyPairsCommand).callsFake(async () => ({
      KeyPairs: [...keyPairs].map(([KeyName, k]) => ({ KeyName, KeyPairId: k.id, CreateTime: k.created })),
    }));
    ec2Mock.on(DescribeSecurityGroupsCommand).callsFake(async () => ({
      SecurityGroups: [...groups].map(([GroupId, GroupName]) => ({ GroupId, GroupName })),
    }));
    ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake(async () => {
      if (++observed === 2) release();
      return { NetworkInterfaces: [] };
    });
    ec2Mock.on(TerminateInstancesCommand).callsFake(async (input: ec2Sdk.TerminateInstancesCommandInput) => {
      await changing();
      return {
        TerminatingInstances: input.InstanceIds!.map((id) => {
          const previous = states.get(id)!;
          states.set(id, previous === 'terminated' ? 'terminated' : 'shutting-down');
          return change(id, previous, states.get(id)!);
        }),
      };
    });
    ec2Mock.on(DeleteSecurityGroupCommand).callsFake(async (input: ec2Sdk.DeleteSecurityGroupCommandInput) => {
      await changing();
      if (!groups.delete(input.GroupId!)) throw ec2Error('InvalidGroup.NotFound', 400, `The security group '${input.GroupId}' does not exist`);
      return { Return: true, GroupId: input.GroupId };
    });
    ec2Mock.on(DeleteKeyPairCommand).callsFake(async (input: ec2Sdk.DeleteKeyPairCommandInput) => {
      await changing();
      const keyPair = keyPairs.get(input.KeyName!);
      keyPairs.delete(input.KeyName!);
      return { Return: true, KeyPairId: keyPair?.id };
    });

    const env = { CLEANUP_KEY_PAIRS: 'true', CLEANUP_SECURITY_GROUPS: 'true' };
    const scheduled = loadHandler(env);
    const manual = loadHandler(env);
    const [a, b] = await Promise.all([scheduled({ source: 'cdk-fleet-janitor.schedule' }), manual({})]);

    // End state: what one run does (the due instances, the two old orphan key pairs and groups).
    expect(idsOf(due).map((id) => states.get(id))).toEqual(due.map(() => 'shutting-down'));
    expect(states.get(young.InstanceId!)).toBe('running');
    expect([...keyPairs.values()].map((k) => k.id)).toEqual(['key-2']);
    expect([...groups.keys()]).toEqual(['sg-inuse']);
    // Neither failed; each action was done by exactly one run and found already done by the other.
    for (const r of [a, b]) expect(r).toMatchObject({ status: 'SUCCEEDED', counts: { actionsFailed: 0, matched: 5 + 3 + 3 } });
    const acted = [...idsOf(due), ...oldKeys, 'sg-orphan1', 'sg-orphan2'];
    const doneIn = (r: typeof a) => new Set(r.entries.filter((e) => e.outcome === 'DONE' && alreadyDone(e) === undefined).map((e) => e.id));
    const alreadyIn = (r: typeof a) => new Set(r.entries.filter((e) => e.outcome === 'DONE' && alreadyDone(e) !== undefined).map((e) => e.id));
    for (const id of acted) {
      const times = (inRun: (r: typeof a) => Set<string>) => Number(inRun(a).has(id)) + Number(inRun(b).has(id));
      expect([id, times(doneIn), times(alreadyIn)]).toEqual([id, 1, 1]);
    }
    const single = due.length + 2 + 2; // instances, key pairs, groups
    expect(doneIn(a).size + doneIn(b).size).toBe(single);
    expect(a.counts.actionsTaken + b.counts.actionsTaken).toBe(single + alreadyIn(a).size + alreadyIn(b).size);
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 2);
  });
});
