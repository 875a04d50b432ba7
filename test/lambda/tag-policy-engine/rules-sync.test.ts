import {
  ConditionalCheckFailedException, DeleteItemCommand, DeleteItemCommandInput, DynamoDBClient, PutItemCommand, ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import 'aws-sdk-client-mock-jest';
import { ddbMock, installHandlerHarness, noWait, OWNER, RuleItem, rulesEvent, rulesProperties, SEED_RULES, TABLE } from './harness';
import { parseRulesRequest, RulesRequest, syncRules } from '../../../lambda/tag-policy-engine/rules-sync';

installHandlerHarness();

const dynamodb = new DynamoDBClient({ region: 'eu-west-1' });
const RULES: RuleItem[] = [
  { RuleId: 'CostCenter', TagKey: 'CostCenter', Action: 'Update', Default: 'unassigned', Required: 'true', AllowedValues: ['1001', 'unassigned'] },
  { RuleId: 'CreatedBy', TagKey: 'CreatedBy', Action: 'UserLookup', Required: 'true' },
  { RuleId: 'Environment', TagKey: 'Environment', Required: 'true', Pattern: '^(dev|prod)$', OnViolation: 'NOTIFY' },
];

const puts = () => ddbMock.commandCalls(PutItemCommand).map((c) => c.args[0].input);
const deletes = () => ddbMock.commandCalls(DeleteItemCommand).map((c) => c.args[0].input);
const deletedIds = () => deletes().map((d) => `${d.TableName}:${unmarshall(d.Key!).RuleId}`);
const conditionalFailure = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: { httpStatusCode: 400 } });

const request = (requestType: RulesRequest['requestType'], items: RuleItem[], extra: Partial<RulesRequest> = {}): RulesRequest =>
  ({ requestType, tableName: TABLE, owner: OWNER, items, ...extra });

describe('parseRulesRequest', () => {
  test('Create: the table, the owner and the rule items', () => {
    // strictly: a Create has no physical id yet, and the request holds no key for one
    expect(parseRulesRequest(rulesEvent('Create', rulesProperties(RULES)))).toStrictEqual({ requestType: 'Create', tableName: TABLE, owner: OWNER, items: RULES });
  });

  test('Update: the old table and items too, and the physical id', () => {
    const event = rulesEvent('Update', rulesProperties(RULES.slice(1)), { OldResourceProperties: rulesProperties(RULES, 'old-table') });
    expect(parseRulesRequest(event)).toEqual({
      requestType: 'Update', tableName: TABLE, owner: OWNER, items: RULES.slice(1), oldTableName: 'old-table', oldItems: RULES, physicalResourceId: `${TABLE}/${OWNER}`,
    });
  });

  test.each([
    ['a RequestType in lower case', { RequestType: 'create' }, '"RequestType" must be Create, Update or Delete, got "create"'],
    ['no RequestType', { RequestType: undefined }, '"RequestType" must be Create, Update or Delete, got undefined'],
    ['ResourceProperties not an object', { ResourceProperties: '{}' }, '"ResourceProperties" must be an object'],
    ['ResourceProperties an array', { ResourceProperties: [] }, '"ResourceProperties" must be an object'],
    ['ResourceProperties null', { ResourceProperties: null }, '"ResourceProperties" must be an object'],
    ['a TableName that is a number', { ResourceProperties: { ...rulesProperties(RULES), TableName: 5 } }, '"ResourceProperties.TableName" must be a table name'],
    ['an empty Owner', { ResourceProperties: { ...rulesProperties(RULES), Owner: '' } }, '"ResourceProperties.Owner" must be a non-empty string'],
    ['no TableName', { ResourceProperties: { ...rulesProperties(RULES), TableName: '' } }, '"ResourceProperties.TableName" must be a table name'],
    ['no Owner', { ResourceProperties: { ...rulesProperties(RULES), Owner: undefined } }, '"ResourceProperties.Owner" must be a non-empty string'],
    ['Rules not JSON', { ResourceProperties: { ...rulesProperties(RULES), Rules: '[{' } }, '"ResourceProperties.Rules" must be a JSON array of rule items'],
    ['Rules an object', { ResourceProperties: { ...rulesProperties(RULES), Rules: '{}' } }, '"ResourceProperties.Rules" must be a JSON array of rule items'],
    ['a rule that is not an object', { ResourceProperties: { ...rulesProperties(RULES), Rules: '[null]' } }, 'holds an invalid rule item: not an object'],
    ['an invalid rule', { ResourceProperties: rulesProperties([{ RuleId: 'x', TagKey: 'aws:x' }]) }, 'holds an invalid rule item: TagKey "aws:x": tag keys starting with "aws:" are reserved'],
  ])('%s is rejected with an EventShapeError naming the field', (_label, change, message) => {
    const event = { ...rulesEvent('Create', rulesProperties(RULES)), ...change };
    expect(() => parseRulesRequest(event)).toThrow(expect.objectContaining({ name: 'EventShapeError', message: expect.stringContaining(message) }));
  });

  test('a huge RequestType is not echoed back in full (the reason goes to CloudFormation, 4 KB at most)', () => {
    const event = { ...rulesEvent('Create', rulesProperties(RULES)), RequestType: 'C'.repeat(1_000_000) };
    let message = '';
    try {
      parseRulesRequest(event);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`"RequestType" must be Create, Update or Delete, got "${'C'.repeat(64)}..."`);
    expect(message.length).toBeLessThan(300);
    expect(() => parseRulesRequest({ ...event, RequestType: ['Create'] })).toThrow('got an array');
  });

  test.each([
    ['an empty RuleId', ''],
    ['a RuleId of 257 characters', 'r'.repeat(257)],
    ['a boolean RuleId', true],
    ['no RuleId', undefined],
  ])('Delete: %s cannot name an item, and is rejected', (_label, ruleId) => {
    expect(() => parseRulesRequest(rulesEvent('Delete', rulesProperties([{ RuleId: ruleId as string, TagKey: 'X' }]))))
      .toThrow(expect.objectContaining({ name: 'EventShapeError', message: expect.stringContaining('RuleId must be a string of 1 to 256 characters') }));
  });

  test('Delete: a RuleId of 256 characters, or a number, names an item', () => {
    const items = [{ RuleId: 'r'.repeat(256), TagKey: 'X' }, { RuleId: 7 as unknown as string, TagKey: 'Y' }];
    expect(parseRulesRequest(rulesEvent('Delete', rulesProperties(items))).items).toEqual(items);
  });

  test('an Update without valid OldResourceProperties is rejected', () => {
    expect(() => parseRulesRequest(rulesEvent('Update', rulesProperties(RULES)))).toThrow('"OldResourceProperties" must be an object');
  });

  test('Delete and the old rules of an Update need only each rule\'s RuleId: a rule this version refuses can still be removed', () => {
    const legacy = [{ RuleId: 'old-style', TagKey: 'X', Action: 'Lookup' }];
    expect(parseRulesRequest(rulesEvent('Delete', rulesProperties(legacy))).items).toEqual(legacy);
    expect(parseRulesRequest(rulesEvent('Update', rulesProperties(RULES), { OldResourceProperties: rulesProperties(legacy) })).oldItems).toEqual(legacy);
    expect(() => parseRulesRequest(rulesEvent('Delete', rulesProperties([{ TagKey: 'X' }]))))
      .toThrow('"ResourceProperties.Rules" holds an invalid rule item: RuleId must be a string of 1 to 256 characters');
    expect(() => parseRulesRequest(rulesEvent('Delete', rulesProperties([{ RuleId: 'r'.repeat(257) }])))).toThrow('RuleId must be a string');
  });
});

describe('syncRules', () => {
  test('Create puts each item with ManagedBy and a condition that never overwrites an item not ours', async () => {
    const result = await syncRules(dynamodb, request('Create', RULES), noWait);
    expect(puts()).toHaveLength(3);
    puts().forEach((put, n) => {
      expect(put).toMatchObject({
        TableName: TABLE,
        ConditionExpression: 'attribute_not_exists(#id) OR #owner = :owner',
        ExpressionAttributeNames: { '#id': 'RuleId', '#owner': 'ManagedBy' },
        ExpressionAttributeValues: { ':owner': { S: OWNER } },
      });
      expect(unmarshall(put.Item!)).toEqual({ ...RULES[n], ManagedBy: OWNER });
    });
    expect(put0Types()).toMatchObject({ RuleId: { S: 'CostCenter' }, Required: { S: 'true' }, AllowedValues: { L: [{ S: '1001' }, { S: 'unassigned' }] } });
    expect(result).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: '3', Deleted: '0' } });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteItemCommand);
  });

  test('the seed\'s item format is written as is', async () => {
    await syncRules(dynamodb, request('Create', SEED_RULES), noWait);
    expect(puts().map((p) => unmarshall(p.Item!))).toEqual(SEED_RULES.map((r) => ({ ...r, ManagedBy: OWNER })));
  });

  test('a numeric RuleId is written as the string key the table has (and the one a Delete asks for)', async () => {
    await syncRules(dynamodb, request('Create', [{ RuleId: 7, TagKey: 'App' }]), noWait);
    expect(puts()[0].Item!.RuleId).toEqual({ S: '7' });
    await syncRules(dynamodb, request('Delete', [{ RuleId: 7, TagKey: 'App' }]), noWait);
    expect(deletes()[0].Key).toEqual({ RuleId: { S: '7' } });
  });

  test('an existing hand-written item with the same RuleId: a clear error, nothing overwritten', async () => {
    ddbMock.on(PutItemCommand).callsFake(async (input: { Item: Record<string, { S?: string }> }) => {
      if (input.Item.RuleId.S === 'CreatedBy') throw conditionalFailure();
      return {};
    });
    await expect(syncRules(dynamodb, request('Create', RULES), noWait)).rejects.toThrow(
      `rule CreatedBy: table ${TABLE} already holds an item with RuleId "CreatedBy" that this TagPolicyEngine did not write; give the rule another ruleId, or delete that item`,
    );
    // it stops there: CloudFormation rolls back, and the Delete removes only what this resource wrote
    expect(puts().map((p) => unmarshall(p.Item!).RuleId)).toEqual(['CostCenter', 'CreatedBy']);
  });

  test('a throttled PutItem is retried; another error is thrown as is', async () => {
    ddbMock.on(PutItemCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }))
      .resolves({});
    await syncRules(dynamodb, request('Create', RULES.slice(0, 1)), noWait);
    expect(puts()).toHaveLength(2);
    ddbMock.on(PutItemCommand).rejects(Object.assign(new Error('no such table'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } }));
    await expect(syncRules(dynamodb, request('Create', RULES), noWait)).rejects.toThrow('no such table');
  });

  test('Update writes the new rules, then deletes the dropped ones, each conditional on ManagedBy', async () => {
    const changed = { ...RULES[0], Default: '1001' };
    const added = { RuleId: 'Team', TagKey: 'Team' };
    const result = await syncRules(dynamodb, request('Update', [changed, added], { oldTableName: TABLE, oldItems: RULES }), noWait);
    expect(puts().map((p) => unmarshall(p.Item!))).toEqual([{ ...changed, ManagedBy: OWNER }, { ...added, ManagedBy: OWNER }]);
    expect(deletedIds()).toEqual([`${TABLE}:CreatedBy`, `${TABLE}:Environment`]);
    for (const d of deletes()) {
      expect(d).toMatchObject({ ConditionExpression: '#owner = :owner', ExpressionAttributeNames: { '#owner': 'ManagedBy' }, ExpressionAttributeValues: { ':owner': { S: OWNER } } });
    }
    expect(result).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: '2', Deleted: '2' } });
    // writes come before deletes: a failure half-way never leaves the table without the new rules
    const order = ddbMock.calls().map((c) => (c.args[0] as object).constructor.name);
    expect(order).toEqual(['PutItemCommand', 'PutItemCommand', 'DeleteItemCommand', 'DeleteItemCommand']);
  });

  test('Update to another table moves the rules: all written there, all removed from the old one', async () => {
    const result = await syncRules(dynamodb, request('Update', RULES, { oldTableName: 'old-table', oldItems: RULES }), noWait);
    expect(puts().map((p) => p.TableName)).toEqual([TABLE, TABLE, TABLE]);
    expect(deletedIds()).toEqual(RULES.map((r) => `old-table:${r.RuleId}`));
    expect(result).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: '3', Deleted: '3' } });
  });

  test('Update with nothing dropped deletes nothing', async () => {
    await syncRules(dynamodb, request('Update', RULES, { oldTableName: TABLE, oldItems: RULES.slice(0, 2) }), noWait);
    expect(deletes()).toEqual([]);
  });

  test('Delete deletes its own items only (conditional on ManagedBy) and keeps the physical id', async () => {
    const result = await syncRules(dynamodb, request('Delete', RULES, { physicalResourceId: 'physical-1' }), noWait);
    expect(puts()).toEqual([]);
    expect(deletedIds()).toEqual(RULES.map((r) => `${TABLE}:${r.RuleId}`));
    expect(deletes().every((d) => d.ConditionExpression === '#owner = :owner')).toBe(true);
    expect(result).toEqual({ PhysicalResourceId: 'physical-1', Data: { Written: '0', Deleted: '3' } });
  });

  test('ConditionalCheckFailed on delete (gone, or taken over by hand) is fine: the others are still deleted', async () => {
    ddbMock.on(DeleteItemCommand).callsFake(async (input: DeleteItemCommandInput) => {
      if (input.Key!.RuleId.S === 'CreatedBy') throw conditionalFailure();
      return {};
    });
    const result = await syncRules(dynamodb, request('Delete', RULES), noWait);
    expect(deletes()).toHaveLength(3);
    expect(result.Data).toEqual({ Written: '0', Deleted: '2' });
  });

  test('ResourceNotFoundException on delete (the table went first) is fine: no further calls', async () => {
    ddbMock.on(DeleteItemCommand).rejects(new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: { httpStatusCode: 400 } }));
    const result = await syncRules(dynamodb, request('Delete', RULES), noWait);
    expect(deletes()).toHaveLength(1);
    expect(result).toEqual({ PhysicalResourceId: `${TABLE}/${OWNER}`, Data: { Written: '0', Deleted: '0' } });
  });

  test('another error on delete fails the request', async () => {
    ddbMock.on(DeleteItemCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    await expect(syncRules(dynamodb, request('Delete', RULES), noWait)).rejects.toThrow('denied');
  });
});

function put0Types() {
  return puts()[0].Item!;
}
