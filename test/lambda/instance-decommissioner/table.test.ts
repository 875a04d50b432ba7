import {
  AttributeValue, BatchGetItemCommand, BatchGetItemCommandInput, ConditionalCheckFailedException, DynamoDBClient, PutItemCommand,
  ScanCommand, ScanCommandInput, UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { InstanceSnapshot } from '../../../lambda/instance-decommissioner/snapshot';
import {
  expireSnapshot, getSnapshots, markDecommissioned, putLiveSnapshot, readSnapshot, recordProgress, scanDecommissioned, TableContext,
} from '../../../lambda/instance-decommissioner/table';
import { instantRetry } from '../helpers';

const ddbMock = mockClient(DynamoDBClient);
const dynamodb = new DynamoDBClient({ region: 'eu-west-1' });

const TABLE = 'fleet-janitor-instance-snapshots';
const DAY = 86_400;
const NOW = new Date('2025-06-01T12:00:00.000Z');
const EXPIRES = Math.floor(NOW.getTime() / 1000) + 90 * DAY;
const HOOK = 'arn:aws:lambda:eu-west-1:111122223333:function:chef-deregister';
const HOOK2 = 'arn:aws:lambda:eu-west-1:111122223333:function:consul-leave';

let retry: ReturnType<typeof instantRetry>;
let ctx: TableContext;

beforeEach(() => {
  ddbMock.reset();
  retry = instantRetry();
  ctx = { dynamodb, tableName: TABLE, retentionSeconds: 90 * DAY, retry: retry.options };
  // retryTransient's jitter: no wait in these tests.
  jest.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => jest.restoreAllMocks());

const idOf = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

function snapshot(overrides: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return {
    instanceId: 'i-0123456789abcdef0',
    privateIp: '10.0.1.15',
    privateIps: ['10.0.1.15', '10.0.1.16'],
    publicIps: ['54.154.10.20'],
    ipv6s: ['2a05:d018:abc:1200::15'],
    privateDnsName: 'ip-10-0-1-15.eu-west-1.compute.internal',
    publicDnsName: 'ec2-54-154-10-20.eu-west-1.compute.amazonaws.com',
    tags: { 'Name': 'web-01', 'aws:autoscaling:groupName': 'web-asg' },
    autoScalingGroupName: 'web-asg',
    availabilityZone: 'eu-west-1a',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    launchTime: '2025-05-20T08:30:00.000Z',
    recordNames: ['web-01.internal.example.com'],
    ...overrides,
  };
}

/** A snapshot item as the table holds it. */
function item(snap: InstanceSnapshot, extra: Record<string, unknown> = {}): Record<string, AttributeValue> {
  return marshall({
    InstanceId: snap.instanceId,
    Status: 'LIVE',
    Snapshot: JSON.stringify(snap),
    CapturedAt: '2025-05-20T08:31:00.000Z',
    ExpiresAt: EXPIRES,
    ...extra,
  });
}

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: { httpStatusCode: 400 } });
const throttled = () => Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
  name: 'ThrottlingException', $metadata: { httpStatusCode: 400 },
});

describe('putLiveSnapshot', () => {
  test('writes the item, unless it is marked decommissioned', async () => {
    ddbMock.on(PutItemCommand).resolves({});
    const snap = snapshot();
    expect(await putLiveSnapshot(ctx, snap, NOW)).toBe(true);
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
    expect(ddbMock.commandCalls(PutItemCommand)[0].args[0].input).toEqual({
      TableName: TABLE,
      Item: {
        InstanceId: { S: 'i-0123456789abcdef0' },
        Status: { S: 'LIVE' },
        Snapshot: { S: JSON.stringify(snap) },
        CapturedAt: { S: '2025-06-01T12:00:00.000Z' },
      },
      ConditionExpression: '(attribute_not_exists(#status) OR #status <> :decommissioned) AND attribute_not_exists(#hooks)',
      ExpressionAttributeNames: { '#status': 'Status', '#hooks': 'HooksDone' },
      ExpressionAttributeValues: { ':decommissioned': { S: 'DECOMMISSIONED' } },
    });
  });

  test('a live snapshot has no expiry: an instance may run longer than the retention, and its cleanup needs it', async () => {
    ddbMock.on(PutItemCommand).resolves({});
    await putLiveSnapshot({ ...ctx, retentionSeconds: 3_600 }, snapshot(), new Date('2025-06-01T12:00:00.999Z'));
    expect(ddbMock.commandCalls(PutItemCommand)[0].args[0].input.Item!.ExpiresAt).toBeUndefined();
  });

  test('the stored JSON reads back as the same snapshot', async () => {
    ddbMock.on(PutItemCommand).resolves({});
    const snap = snapshot();
    await putLiveSnapshot(ctx, snap, NOW);
    expect(readSnapshot(ddbMock.commandCalls(PutItemCommand)[0].args[0].input.Item!.Snapshot.S)).toEqual(snap);
  });

  test('already decommissioned (ConditionalCheckFailedException): false, not retried', async () => {
    ddbMock.on(PutItemCommand).rejects(conditionFailed());
    expect(await putLiveSnapshot(ctx, snapshot(), NOW)).toBe(false);
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  test('another error is thrown', async () => {
    ddbMock.on(PutItemCommand).rejects(Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 },
    }));
    await expect(putLiveSnapshot(ctx, snapshot(), NOW)).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  test('throttling is retried', async () => {
    ddbMock.on(PutItemCommand).rejectsOnce(throttled()).resolves({});
    expect(await putLiveSnapshot(ctx, snapshot(), NOW)).toBe(true);
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 2);
  });

  test('a plain error named ConditionalCheckFailedException (another copy of the SDK): false', async () => {
    const plain = Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException', $metadata: { httpStatusCode: 400 } });
    expect(plain).not.toBeInstanceOf(ConditionalCheckFailedException);
    ddbMock.on(PutItemCommand).rejects(plain);
    expect(await putLiveSnapshot(ctx, snapshot(), NOW)).toBe(false);
    expect(ddbMock).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  test('a plain error with another name is thrown', async () => {
    ddbMock.on(PutItemCommand).rejects(Object.assign(new Error('x'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }));
    await expect(putLiveSnapshot(ctx, snapshot(), NOW)).rejects.toMatchObject({ name: 'ValidationException' });
  });

  test.each([['null', null], ['undefined', undefined]])('a rejection with %s is thrown as it is, not as a TypeError', async (_label, value) => {
    ddbMock.on(PutItemCommand).callsFake(() => Promise.reject(value));
    let caught: unknown = 'nothing thrown';
    try {
      await putLiveSnapshot(ctx, snapshot(), NOW);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBe(value);
  });
});

describe('getSnapshots', () => {
  /** Answers BatchGetItem from `items` by key; records the keys of each request. */
  function serveItems(items: Array<Record<string, AttributeValue>>): BatchGetItemCommandInput[] {
    const requests: BatchGetItemCommandInput[] = [];
    ddbMock.on(BatchGetItemCommand).callsFake(async (input: BatchGetItemCommandInput) => {
      requests.push(structuredClone(input));
      const wanted = new Set(input.RequestItems![TABLE].Keys!.map((k) => k.InstanceId.S));
      return { Responses: { [TABLE]: items.filter((i) => wanted.has(i.InstanceId.S)) }, UnprocessedKeys: {} };
    });
    return requests;
  }

  test('consistent reads by InstanceId; the stored snapshot, status and hooks by id', async () => {
    const live = snapshot();
    const gone = snapshot({ instanceId: idOf(1) });
    const requests = serveItems([
      item(live, { HooksDone: new Set([HOOK, HOOK2]) }),
      item(gone, { Status: 'DECOMMISSIONED', DecommissionedAt: '2025-06-01T11:00:00.000Z', Cleaned: '{"records":[]}' }),
    ]);
    const found = await getSnapshots(ctx, [live.instanceId, gone.instanceId, idOf(2)]);
    expect(requests).toEqual([{
      RequestItems: {
        [TABLE]: {
          Keys: [{ InstanceId: { S: live.instanceId } }, { InstanceId: { S: idOf(1) } }, { InstanceId: { S: idOf(2) } }],
          ConsistentRead: true,
        },
      },
    }]);
    expect([...found.keys()].sort()).toEqual([live.instanceId, idOf(1)].sort());
    expect(found.get(live.instanceId)).toEqual({
      snapshot: live, status: 'LIVE', decommissionedAt: undefined, hooksDone: new Set([HOOK, HOOK2]), cleanedBefore: { records: [], alarms: [] },
    });
    expect(found.get(idOf(1))).toEqual({
      snapshot: gone, status: 'DECOMMISSIONED', decommissionedAt: '2025-06-01T11:00:00.000Z', hooksDone: new Set(), cleanedBefore: { records: [], alarms: [] },
    });
  });

  test('keys in groups of 100: 250 ids, 3 calls; duplicates asked for once', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => idOf(i));
    const requests = serveItems(ids.map((id) => item(snapshot({ instanceId: id }))));
    const found = await getSnapshots(ctx, [...ids, ids[0], ids[249]]);
    expect(requests.map((r) => r.RequestItems![TABLE].Keys!.length)).toEqual([100, 100, 50]);
    expect(requests.flatMap((r) => r.RequestItems![TABLE].Keys!.map((k) => k.InstanceId.S))).toEqual(ids);
    for (const r of requests) expect(r.RequestItems![TABLE].ConsistentRead).toBe(true);
    expect(found.size).toBe(250);
  });

  test('no ids: no call', async () => {
    serveItems([]);
    expect((await getSnapshots(ctx, [])).size).toBe(0);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 0);
  });

  test('UnprocessedKeys are asked for again, only they, after a growing back-off', async () => {
    const ids = Array.from({ length: 5 }, (_, i) => idOf(i));
    const requests: string[][] = [];
    let call = 0;
    ddbMock.on(BatchGetItemCommand).callsFake(async (input: BatchGetItemCommandInput) => {
      call++;
      const keys = input.RequestItems![TABLE].Keys!;
      requests.push(keys.map((k) => k.InstanceId.S!));
      // first call: the last 3 unprocessed; second: the last 1; third: all done
      const keep = call === 1 ? 3 : call === 2 ? 1 : 0;
      const done = keys.slice(0, keys.length - keep);
      return {
        Responses: { [TABLE]: done.map((k) => item(snapshot({ instanceId: k.InstanceId.S! }))) },
        UnprocessedKeys: keep ? { [TABLE]: { Keys: keys.slice(keys.length - keep), ConsistentRead: true } } : {},
      };
    });
    const found = await getSnapshots(ctx, ids);
    expect(requests).toEqual([ids, ids.slice(2), ids.slice(4)]);
    expect(retry.delays).toEqual([200, 400]);
    expect([...found.keys()]).toEqual(ids);
  });

  test('keys still unprocessed after 5 attempts: an error that says how many', async () => {
    ddbMock.on(BatchGetItemCommand).callsFake(async (input: BatchGetItemCommandInput) => ({
      Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: input.RequestItems![TABLE] },
    }));
    await expect(getSnapshots(ctx, [idOf(1), idOf(2)])).rejects.toThrow('2 snapshot(s) stayed unprocessed after 5 attempts');
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 5);
    expect(retry.delays).toEqual([200, 400, 800, 1600]);
  });

  test('throttling is retried with the same keys', async () => {
    ddbMock.on(BatchGetItemCommand)
      .rejectsOnce(throttled())
      .resolves({ Responses: { [TABLE]: [item(snapshot())] } });
    const found = await getSnapshots(ctx, ['i-0123456789abcdef0']);
    expect([...found.keys()]).toEqual(['i-0123456789abcdef0']);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 2);
  });

  test('a non-transient error is thrown', async () => {
    ddbMock.on(BatchGetItemCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    await expect(getSnapshots(ctx, [idOf(1)])).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 1);
  });

  test('malformed items are ignored, the good ones kept', async () => {
    const good = snapshot({ instanceId: idOf(0) });
    serveItems([
      item(good),
      marshall({ InstanceId: idOf(1), Status: 'LIVE', Snapshot: '{not json' }),
      item(snapshot({ instanceId: idOf(9) }), { InstanceId: idOf(2) }),
      item(snapshot({ instanceId: idOf(3) }), { Status: 'ARCHIVED' }),
      marshall({ InstanceId: idOf(4), Snapshot: JSON.stringify(snapshot({ instanceId: idOf(4) })) }),
      marshall({ InstanceId: idOf(5), Status: 'LIVE' }),
      marshall({ InstanceId: idOf(6), Status: 'LIVE', Snapshot: '["i-6"]' }),
      marshall({ InstanceId: idOf(7), Status: 'LIVE', Snapshot: JSON.stringify({ privateIps: [] }) }),
    ]);
    const found = await getSnapshots(ctx, Array.from({ length: 10 }, (_, i) => idOf(i)));
    expect([...found.keys()]).toEqual([idOf(0)]);
    expect(found.get(idOf(0))!.snapshot).toEqual(good);
  });

  test('a context without retry options: unprocessed keys are asked for again after the default sleep', async () => {
    const plain: TableContext = { dynamodb, tableName: TABLE, retentionSeconds: 90 * DAY };
    let call = 0;
    ddbMock.on(BatchGetItemCommand).callsFake(async (input: BatchGetItemCommandInput) => {
      call++;
      const keys = input.RequestItems![TABLE].Keys!;
      return call === 1
        ? { Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: { Keys: keys } } }
        : { Responses: { [TABLE]: keys.map((k) => item(snapshot({ instanceId: k.InstanceId.S! }))) } };
    });
    const started = Date.now();
    const found = await getSnapshots(plain, [idOf(1)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect([...found.keys()]).toEqual([idOf(1)]);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 2);
  });

  test('a response without Responses, or without this table in them: nothing found', async () => {
    ddbMock.on(BatchGetItemCommand).resolvesOnce({}).resolvesOnce({ Responses: {} });
    expect((await getSnapshots(ctx, [idOf(1)])).size).toBe(0);
    expect((await getSnapshots(ctx, [idOf(1)])).size).toBe(0);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetItemCommand, 2);
  });

  test('a DecommissionedAt that is not a string reads as absent', async () => {
    serveItems([item(snapshot(), { Status: 'DECOMMISSIONED', DecommissionedAt: 1_748_779_200 })]);
    const found = (await getSnapshots(ctx, ['i-0123456789abcdef0'])).get('i-0123456789abcdef0')!;
    expect(found.status).toBe('DECOMMISSIONED');
    expect(found.decommissionedAt).toBeUndefined();
  });

  test('a HooksDone that is not a string set is read as none', async () => {
    serveItems([item(snapshot(), { HooksDone: HOOK })]);
    expect((await getSnapshots(ctx, ['i-0123456789abcdef0'])).get('i-0123456789abcdef0')!.hooksDone).toEqual(new Set());
  });
});

describe('scanDecommissioned', () => {
  test('walks every page (3 pages) with the status filter', async () => {
    const snaps = Array.from({ length: 5 }, (_, i) => snapshot({ instanceId: idOf(i) }));
    const decommissioned = (s: InstanceSnapshot) => item(s, { Status: 'DECOMMISSIONED', DecommissionedAt: '2025-06-01T11:00:00.000Z' });
    const requests: ScanCommandInput[] = [];
    ddbMock.on(ScanCommand).callsFake(async (input: ScanCommandInput) => {
      requests.push(structuredClone(input));
      // each page ends with the item whose key the next request starts after
      const page = input.ExclusiveStartKey ? (snaps.findIndex((s) => s.instanceId === input.ExclusiveStartKey!.InstanceId.S) + 1) / 2 : 0;
      const slice = snaps.slice(page * 2, page * 2 + 2);
      return {
        Items: slice.map(decommissioned),
        LastEvaluatedKey: page < 2 ? { InstanceId: { S: slice[slice.length - 1].instanceId } } : undefined,
      };
    });
    const found = await scanDecommissioned(ctx);
    expect(requests).toHaveLength(3);
    for (const request of requests) {
      expect(request).toMatchObject({
        TableName: TABLE,
        FilterExpression: '#status = :status',
        ExpressionAttributeNames: { '#status': 'Status' },
        ExpressionAttributeValues: { ':status': { S: 'DECOMMISSIONED' } },
      });
    }
    expect(requests.map((r) => r.ExclusiveStartKey)).toEqual([undefined, { InstanceId: { S: idOf(1) } }, { InstanceId: { S: idOf(3) } }]);
    expect(found.map((s) => s.snapshot)).toEqual(snaps);
    expect(found.every((s) => s.status === 'DECOMMISSIONED' && s.decommissionedAt === '2025-06-01T11:00:00.000Z')).toBe(true);
  });

  test('a throttled page is asked for again from where the walk stopped', async () => {
    const keys: Array<Record<string, AttributeValue> | undefined> = [];
    let call = 0;
    ddbMock.on(ScanCommand).callsFake(async (input: ScanCommandInput) => {
      keys.push(structuredClone(input.ExclusiveStartKey));
      call++;
      if (call === 1) return { Items: [item(snapshot({ instanceId: idOf(0) }), { Status: 'DECOMMISSIONED' })], LastEvaluatedKey: { InstanceId: { S: idOf(0) } } };
      if (call === 2) throw throttled();
      return { Items: [item(snapshot({ instanceId: idOf(1) }), { Status: 'DECOMMISSIONED' })] };
    });
    const found = await scanDecommissioned(ctx);
    expect(keys).toEqual([undefined, { InstanceId: { S: idOf(0) } }, { InstanceId: { S: idOf(0) } }]);
    expect(found.map((s) => s.snapshot.instanceId)).toEqual([idOf(0), idOf(1)]);
  });

  test('malformed items are left out', async () => {
    ddbMock.on(ScanCommand).resolves({
      Items: [
        item(snapshot({ instanceId: idOf(0) }), { Status: 'DECOMMISSIONED' }),
        marshall({ InstanceId: idOf(1), Status: 'DECOMMISSIONED', Snapshot: 'garbage' }),
      ],
    });
    expect((await scanDecommissioned(ctx)).map((s) => s.snapshot.instanceId)).toEqual([idOf(0)]);
  });

  test('an empty table', async () => {
    ddbMock.on(ScanCommand).resolves({ Items: [] });
    expect(await scanDecommissioned(ctx)).toEqual([]);
  });

  test('a page without Items counts as empty; the next page is still read', async () => {
    ddbMock.on(ScanCommand)
      .resolvesOnce({ LastEvaluatedKey: { InstanceId: { S: idOf(0) } } })
      .resolvesOnce({ Items: [item(snapshot({ instanceId: idOf(1) }), { Status: 'DECOMMISSIONED' })] });
    expect((await scanDecommissioned(ctx)).map((s) => s.snapshot.instanceId)).toEqual([idOf(1)]);
    expect(ddbMock).toHaveReceivedCommandTimes(ScanCommand, 2);
  });
});

describe('expireSnapshot', () => {
  test('sets the expiry, only if none is set, only on an existing item', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    await expireSnapshot({ ...ctx, retentionSeconds: 3_600 }, idOf(7), new Date('2025-06-01T12:00:00.999Z'));
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input).toEqual({
      TableName: TABLE,
      Key: { InstanceId: { S: idOf(7) } },
      UpdateExpression: 'SET #expires = if_not_exists(#expires, :expires)',
      ConditionExpression: 'attribute_exists(#id)',
      ExpressionAttributeNames: { '#expires': 'ExpiresAt', '#id': 'InstanceId' },
      ExpressionAttributeValues: { ':expires': { N: String(1_748_779_200 + 3_600) } },
    });
  });

  test('throttling is retried; other errors thrown', async () => {
    ddbMock.on(UpdateItemCommand).rejectsOnce(throttled()).resolves({});
    await expireSnapshot(ctx, idOf(1), NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 2);
    ddbMock.reset();
    ddbMock.on(UpdateItemCommand).rejects(conditionFailed());
    await expect(expireSnapshot(ctx, idOf(1), NOW)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });
});

describe('markDecommissioned', () => {
  test('sets status, snapshot, time, what was cleaned and a new expiry', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    const snap = snapshot();
    const cleaned = { records: [{ zone: 'Z123', name: 'web-01.internal.example.com', type: 'A' }], alarms: ['web-01-cpu'] };
    await markDecommissioned(ctx, snap, cleaned, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input).toEqual({
      TableName: TABLE,
      Key: { InstanceId: { S: 'i-0123456789abcdef0' } },
      UpdateExpression: 'SET #status = :status, #snapshot = :snapshot, #at = :at, #cleaned = :cleaned, #expires = :expires',
      ExpressionAttributeNames: { '#status': 'Status', '#snapshot': 'Snapshot', '#at': 'DecommissionedAt', '#cleaned': 'Cleaned', '#expires': 'ExpiresAt' },
      ExpressionAttributeValues: {
        ':status': { S: 'DECOMMISSIONED' },
        ':snapshot': { S: JSON.stringify(snap) },
        ':at': { S: '2025-06-01T12:00:00.000Z' },
        ':cleaned': { S: JSON.stringify(cleaned) },
        ':expires': { N: String(EXPIRES) },
      },
    });
  });

  test('throttling is retried; other errors thrown', async () => {
    ddbMock.on(UpdateItemCommand).rejectsOnce(throttled()).resolves({});
    await markDecommissioned(ctx, snapshot(), {}, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 2);
    ddbMock.reset();
    ddbMock.on(UpdateItemCommand).rejects(Object.assign(new Error('too big'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }));
    await expect(markDecommissioned(ctx, snapshot(), {}, NOW)).rejects.toMatchObject({ name: 'ValidationException' });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });
});

describe('recordProgress', () => {
  const NOTHING = { records: [], alarms: [] };
  const RECORD = { zoneId: 'Z1', name: 'web-1.internal.example.com', type: 'A', values: ['10.0.1.5'] };

  test('adds the hooks to a string set and stores what was removed, and the snapshot if the item has none', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    const snap = snapshot();
    await recordProgress(ctx, snap, [HOOK, HOOK2, HOOK], { records: [RECORD], alarms: ['web-1-cpu'] }, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input).toEqual({
      TableName: TABLE,
      Key: { InstanceId: { S: 'i-0123456789abcdef0' } },
      UpdateExpression: 'SET #snapshot = if_not_exists(#snapshot, :snapshot), #status = if_not_exists(#status, :live), '
        + '#expires = if_not_exists(#expires, :expires), #cleaned = :cleaned ADD #hooks :hooks',
      ExpressionAttributeNames: { '#hooks': 'HooksDone', '#snapshot': 'Snapshot', '#status': 'Status', '#expires': 'ExpiresAt', '#cleaned': 'Cleaned' },
      ExpressionAttributeValues: {
        ':hooks': { SS: [HOOK, HOOK2] },
        ':snapshot': { S: JSON.stringify(snap) },
        ':live': { S: 'LIVE' },
        ':expires': { N: String(EXPIRES) },
        ':cleaned': { S: JSON.stringify({ records: [RECORD], alarms: ['web-1-cpu'] }) },
      },
    });
  });

  test('no hook called, but records removed: no ADD (an empty string set is invalid), the removal stored', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    await recordProgress(ctx, snapshot(), [], { records: [RECORD], alarms: [] }, NOW);
    const input = ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input;
    expect(input.UpdateExpression).not.toContain('ADD');
    expect(input.ExpressionAttributeNames).not.toHaveProperty('#hooks');
    expect(input.ExpressionAttributeValues).not.toHaveProperty(':hooks');
  });

  const BASE_EXPRESSION = 'SET #snapshot = if_not_exists(#snapshot, :snapshot), #status = if_not_exists(#status, :live), '
    + '#expires = if_not_exists(#expires, :expires), #cleaned = :cleaned';

  test('only alarms removed: written, without ADD', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    const snap = snapshot();
    await recordProgress(ctx, snap, [], { records: [], alarms: ['web-1-cpu'] }, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input).toEqual({
      TableName: TABLE,
      Key: { InstanceId: { S: 'i-0123456789abcdef0' } },
      UpdateExpression: BASE_EXPRESSION,
      ExpressionAttributeNames: { '#snapshot': 'Snapshot', '#status': 'Status', '#expires': 'ExpiresAt', '#cleaned': 'Cleaned' },
      ExpressionAttributeValues: {
        ':snapshot': { S: JSON.stringify(snap) },
        ':live': { S: 'LIVE' },
        ':expires': { N: String(EXPIRES) },
        ':cleaned': { S: JSON.stringify({ records: [], alarms: ['web-1-cpu'] }) },
      },
    });
  });

  test('only records removed: written, with the exact expression', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    await recordProgress(ctx, snapshot(), [], { records: [RECORD], alarms: [] }, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input.UpdateExpression).toBe(BASE_EXPRESSION);
  });

  test('only hooks done: written, with the ADD', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    await recordProgress(ctx, snapshot(), [HOOK], NOTHING, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    const input = ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe(`${BASE_EXPRESSION} ADD #hooks :hooks`);
    expect(input.ExpressionAttributeValues![':hooks']).toEqual({ SS: [HOOK] });
    expect(input.ExpressionAttributeValues![':cleaned']).toEqual({ S: JSON.stringify(NOTHING) });
  });

  test('nothing done: no call', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    await recordProgress(ctx, snapshot(), [], NOTHING, NOW);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
  });

  test('a live item\'s stored progress reads back as cleanedBefore; a decommissioned item\'s does not, nor a malformed one', async () => {
    const live = item(snapshot({ instanceId: idOf(0) }), { Status: 'LIVE', Cleaned: JSON.stringify({ records: [RECORD, { name: 'x' }], alarms: ['a', 3] }) });
    const done = item(snapshot({ instanceId: idOf(1) }), { Status: 'DECOMMISSIONED', Cleaned: JSON.stringify({ records: [RECORD], alarms: ['a'] }) });
    const bad = item(snapshot({ instanceId: idOf(2) }), { Status: 'LIVE', Cleaned: '{not json' });
    ddbMock.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: [live, done, bad] } });
    const found = await getSnapshots(ctx, [idOf(0), idOf(1), idOf(2)]);
    expect(found.get(idOf(0))!.cleanedBefore).toEqual({ records: [RECORD], alarms: ['a'] });
    expect(found.get(idOf(1))!.cleanedBefore).toEqual({ records: [], alarms: [] });
    expect(found.get(idOf(2))!.cleanedBefore).toEqual({ records: [], alarms: [] });
  });
});

describe('a stored Cleaned, read back', () => {
  const R = { zoneId: 'Z1', name: 'web-1.internal.example.com', type: 'A', values: ['10.0.1.5'] };

  async function cleanedOf(cleaned: unknown) {
    const extra = cleaned === undefined ? {} : { Cleaned: cleaned };
    ddbMock.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: [item(snapshot(), { Status: 'LIVE', ...extra })] } });
    return (await getSnapshots(ctx, ['i-0123456789abcdef0'])).get('i-0123456789abcdef0')!.cleanedBefore;
  }

  test.each<[string, unknown]>([
    ['absent', undefined],
    ['not JSON', '{not json'],
    ['JSON null', 'null'],
    ['a JSON number', '42'],
    ['a JSON string', '"records"'],
    ['records and alarms that are not lists', JSON.stringify({ records: { 0: R }, alarms: 'web-1-cpu' })],
    ['records and alarms that are null', JSON.stringify({ records: null, alarms: null })],
  ])('%s: nothing', async (_label, cleaned) => {
    expect(await cleanedOf(cleaned)).toEqual({ records: [], alarms: [] });
  });

  test('non-string alarms are dropped', async () => {
    expect(await cleanedOf(JSON.stringify({ records: [], alarms: ['a', 3, null, { x: 'b' }, ['c'], 'd'] }))).toEqual({ records: [], alarms: ['a', 'd'] });
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['a string', 'Z1 web-1 A'],
    ['a number', 7],
    ['a list', ['Z1', 'web-1', 'A']],
    ['a numeric zoneId', { ...R, zoneId: 1 }],
    ['no zoneId', { name: R.name, type: R.type, values: R.values }],
    ['a numeric name', { ...R, name: 2 }],
    ['no name', { zoneId: R.zoneId, type: R.type, values: R.values }],
    ['a null type', { ...R, type: null }],
    ['no type', { zoneId: R.zoneId, name: R.name, values: R.values }],
  ])('a record entry that is %s is dropped, the good one kept', async (_label, bad) => {
    expect(await cleanedOf(JSON.stringify({ records: [bad, R], alarms: [] }))).toEqual({ records: [R], alarms: [] });
  });

  test('a string setIdentifier is kept; another is left out entirely; values keep only strings', async () => {
    const read = (await cleanedOf(JSON.stringify({
      records: [
        { ...R, setIdentifier: 'i-1' },
        { ...R, setIdentifier: 42, values: ['10.0.1.6', 5, null] },
        { zoneId: 'Z2', name: 'n', type: 'AAAA', values: 'x' },
        { zoneId: 'Z3', name: 'm', type: 'CNAME', extra: true },
      ],
      alarms: [],
    })))!;
    expect(read.records).toEqual([
      { ...R, setIdentifier: 'i-1' },
      { ...R, values: ['10.0.1.6'] },
      { zoneId: 'Z2', name: 'n', type: 'AAAA', values: [] },
      { zoneId: 'Z3', name: 'm', type: 'CNAME', values: [] },
    ]);
    expect(Object.keys(read.records[0])).toContain('setIdentifier');
    expect(Object.keys(read.records[1])).not.toContain('setIdentifier');
    expect(Object.keys(read.records[2])).toEqual(['zoneId', 'name', 'type', 'values']);
  });
});

describe('readSnapshot', () => {
  test('a stored snapshot reads back as it was', () => {
    const snap = snapshot();
    expect(readSnapshot(JSON.stringify(snap))).toEqual(snap);
  });

  test('only the instance id is required', () => {
    expect(readSnapshot('{"instanceId":"i-0123456789abcdef0"}')).toEqual({
      instanceId: 'i-0123456789abcdef0',
      privateIp: undefined,
      privateIps: [],
      publicIps: [],
      ipv6s: [],
      privateDnsName: undefined,
      publicDnsName: undefined,
      tags: {},
      autoScalingGroupName: undefined,
      availabilityZone: undefined,
      vpcId: undefined,
      launchTime: undefined,
      recordNames: [],
    });
  });

  test('non-string and empty list members are dropped', () => {
    const read = readSnapshot(JSON.stringify({
      instanceId: 'i-0123456789abcdef0',
      privateIps: ['10.0.1.15', 10, null, '', { ip: '10.0.1.16' }, '10.0.1.17'],
      publicIps: 'not-a-list',
      ipv6s: [['2a05::1'], '2a05::2'],
      recordNames: [true, 'web-01.internal.example.com'],
    }))!;
    expect(read.privateIps).toEqual(['10.0.1.15', '10.0.1.17']);
    expect(read.publicIps).toEqual([]);
    expect(read.ipv6s).toEqual(['2a05::2']);
    expect(read.recordNames).toEqual(['web-01.internal.example.com']);
  });

  test('non-string tag values are dropped; empty strings kept', () => {
    const read = readSnapshot(JSON.stringify({ instanceId: 'i-1', tags: { Name: 'web-01', Count: 3, Flag: true, Nested: { a: 'b' }, Nil: null, Empty: '' } }))!;
    expect(read.tags).toEqual({ Name: 'web-01', Empty: '' });
  });

  test.each([['a list', ['Name']], ['a string', 'Name=web'], ['null', null]])('tags that are %s: no tags', (_label, tags) => {
    expect(readSnapshot(JSON.stringify({ instanceId: 'i-1', tags }))!.tags).toEqual({});
  });

  test('non-string and empty scalar fields read as absent', () => {
    const read = readSnapshot(JSON.stringify({
      instanceId: 'i-1', privateIp: 10, privateDnsName: '', publicDnsName: ['x'], vpcId: null, launchTime: 1716193800000, availabilityZone: 'eu-west-1a',
    }))!;
    expect(read).toMatchObject({ privateIp: undefined, privateDnsName: undefined, publicDnsName: undefined, vpcId: undefined, launchTime: undefined, availabilityZone: 'eu-west-1a' });
  });

  test.each<[string, unknown]>([
    ['not JSON', '{"instanceId":'],
    ['undefined', undefined],
    ['a JSON list', '[{"instanceId":"i-1"}]'],
    ['JSON null', 'null'],
    ['a JSON string', '"i-1"'],
    ['no instance id', '{"privateIps":["10.0.0.1"]}'],
    ['a numeric instance id', '{"instanceId":1}'],
  ])('%s: undefined', (_label, json) => {
    expect(readSnapshot(json)).toBeUndefined();
  });
});
