import { BatchWriteItemCommand, BatchWriteItemCommandInput, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import 'aws-sdk-client-mock-jest';
import { ddbMock, installHandlerHarness, nextId, TABLE } from './harness';
import { cacheCreators } from '../../../lambda/tag-policy-engine/cache';

installHandlerHarness();

const dynamodb = new DynamoDBClient({ region: 'eu-west-1' });
const NOW = new Date('2024-06-30T12:00:00Z');
const EXPIRES = Math.floor(NOW.getTime() / 1000) + 90 * 86_400;

const writes = () => ddbMock.commandCalls(BatchWriteItemCommand).map((c) => c.args[0].input.RequestItems![TABLE]);
const itemsOf = (requests: WriteRequest[]) => requests.map((r) => unmarshall(r.PutRequest!.Item!));

function creators(n: number): { found: Map<string, string>; launches: Map<string, Date | undefined> } {
  const found = new Map<string, string>();
  const launches = new Map<string, Date | undefined>();
  for (let i = 0; i < n; i++) {
    const id = nextId();
    found.set(id, `user-${i}`);
    launches.set(id, new Date(NOW.getTime() - i * 60_000));
  }
  return { found, launches };
}

describe('cacheCreators', () => {
  test('writes creator#<instance id> items in BatchWriteItem calls of 25, expiring 90 days on', async () => {
    const { found, launches } = creators(60);
    const written = await cacheCreators(dynamodb, TABLE, found, launches, NOW);
    const batches = writes();
    expect(batches.map((b) => b.length)).toEqual([25, 25, 10]);
    const items = batches.flatMap(itemsOf);
    expect(items).toEqual([...found].map(([id, creator]) => ({
      RuleId: `creator#${id}`, Creator: creator, LaunchedAt: launches.get(id)!.toISOString(), ExpiresAt: EXPIRES,
    })));
    expect(written).toBe(60);
  });

  test('an unknown launch time is left out of the item', async () => {
    const id = nextId();
    await cacheCreators(dynamodb, TABLE, new Map([[id, 'alice']]), new Map(), NOW);
    expect(writes().flatMap(itemsOf)).toEqual([{ RuleId: `creator#${id}`, Creator: 'alice', ExpiresAt: EXPIRES }]);
  });

  test('UnprocessedItems are sent again, only they, after a growing back-off', async () => {
    const { found, launches } = creators(5);
    const sleeps: number[] = [];
    let call = 0;
    ddbMock.on(BatchWriteItemCommand).callsFake(async (input: BatchWriteItemCommandInput) => {
      call++;
      const sent = input.RequestItems![TABLE];
      // first call: the last 3 unprocessed; second: the last 1; third: all done
      const keep = call === 1 ? 3 : call === 2 ? 1 : 0;
      return { UnprocessedItems: keep ? { [TABLE]: sent.slice(sent.length - keep) } : {} };
    });
    const written = await cacheCreators(dynamodb, TABLE, found, launches, NOW, { sleep: async (ms) => { sleeps.push(ms); } });
    expect(writes().map((b) => b.length)).toEqual([5, 3, 1]);
    const ids = [...found.keys()];
    expect(writes()[2].map((r) => unmarshall(r.PutRequest!.Item!).RuleId)).toEqual([`creator#${ids[4]}`]);
    expect(sleeps).toEqual([200, 400]);
    expect(written).toBe(5);
  });

  test('items still unprocessed after 5 attempts: an error that says how many', async () => {
    const { found, launches } = creators(2);
    ddbMock.on(BatchWriteItemCommand).callsFake(async (input: BatchWriteItemCommandInput) => ({
      UnprocessedItems: { [TABLE]: input.RequestItems![TABLE] },
    }));
    await expect(cacheCreators(dynamodb, TABLE, found, launches, NOW, { sleep: async () => undefined }))
      .rejects.toThrow('2 creator item(s) stayed unprocessed after 5 attempts');
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteItemCommand, 5);
  });

  test('ThrottlingException on BatchWriteItem is retried with the same items', async () => {
    const { found, launches } = creators(3);
    ddbMock.on(BatchWriteItemCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }))
      .resolves({});
    expect(await cacheCreators(dynamodb, TABLE, found, launches, NOW, { sleep: async () => undefined })).toBe(3);
    expect(writes()).toHaveLength(2);
    expect(writes()[1]).toEqual(writes()[0]);
  });

  test('a validation error is thrown, not retried', async () => {
    const { found, launches } = creators(1);
    ddbMock.on(BatchWriteItemCommand).rejects(Object.assign(new Error('bad'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }));
    await expect(cacheCreators(dynamodb, TABLE, found, launches, NOW, { sleep: async () => undefined })).rejects.toThrow('bad');
    expect(writes()).toHaveLength(1);
  });

  test('nothing found: no call', async () => {
    expect(await cacheCreators(dynamodb, TABLE, new Map(), new Map(), NOW)).toBe(0);
    expect(ddbMock.calls()).toHaveLength(0);
  });
});
