import { DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { RULE_ATTRIBUTES, RULES_PROPERTIES } from '../../src/tag-policy-engine/contract';
import { parseRuleItem } from '../../src/tag-policy-engine/rule-format';
// Values in errors are cut: the message ends up in CloudFormation's 4 KB response and in the logs.
import { echo, errorCode, EventShapeError } from '../shared/errors';
import { retryTransient, RetryOptions } from '../shared/retry';

/** parseRuleItem's limit on a RuleId. */
const RULE_ID_MAX = 256;

/*
 * The custom resource that writes the construct's rules into the rule table on deploy. Each item it
 * writes carries ManagedBy = this resource's owner; it only ever overwrites or deletes items with
 * that mark, so rules added to the table by hand are read by the sweep and never touched by a deploy.
 */

export interface RulesRequest {
  readonly requestType: 'Create' | 'Update' | 'Delete';
  readonly tableName: string;
  readonly owner: string;
  readonly items: Array<Record<string, unknown>>;
  readonly oldTableName?: string;
  readonly oldItems?: Array<Record<string, unknown>>;
  readonly physicalResourceId?: string;
}

/** Reads a CloudFormation custom resource event as the provider framework passes it on. */
export function parseRulesRequest(event: Record<string, unknown>): RulesRequest {
  const requestType = event.RequestType;
  if (requestType !== 'Create' && requestType !== 'Update' && requestType !== 'Delete') {
    throw new EventShapeError(`"RequestType" must be Create, Update or Delete, got ${echo(requestType)}`);
  }
  // Only the rules about to be written must be valid rules. The ones a Delete (or an Update, from its
  // old properties) removes only need their RuleId: a rule that an older version accepted and this
  // one would refuse must not leave the stack stuck in DELETE_FAILED or UPDATE_ROLLBACK_FAILED.
  const props = readProperties(event.ResourceProperties, 'ResourceProperties', requestType !== 'Delete');
  const old = requestType === 'Update' ? readProperties(event.OldResourceProperties, 'OldResourceProperties', false) : undefined;
  const physical = event.PhysicalResourceId;
  return {
    requestType,
    ...props,
    ...(old ? { oldTableName: old.tableName, oldItems: old.items } : {}),
    ...(typeof physical === 'string' ? { physicalResourceId: physical } : {}),
  };
}

function readProperties(value: unknown, name: string, toWrite: boolean): { tableName: string; owner: string; items: Array<Record<string, unknown>> } {
  const props = value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
  if (!props) throw new EventShapeError(`"${name}" must be an object`);
  const tableName = props[RULES_PROPERTIES.tableName];
  const owner = props[RULES_PROPERTIES.owner];
  if (typeof tableName !== 'string' || tableName.length === 0) throw new EventShapeError(`"${name}.${RULES_PROPERTIES.tableName}" must be a table name`);
  if (typeof owner !== 'string' || owner.length === 0) throw new EventShapeError(`"${name}.${RULES_PROPERTIES.owner}" must be a non-empty string`);
  let items: unknown;
  try {
    items = JSON.parse(String(props[RULES_PROPERTIES.rules]));
  } catch {
    throw new EventShapeError(`"${name}.${RULES_PROPERTIES.rules}" must be a JSON array of rule items`);
  }
  if (!Array.isArray(items)) throw new EventShapeError(`"${name}.${RULES_PROPERTIES.rules}" must be a JSON array of rule items`);
  for (const item of items) {
    const result = item !== null && typeof item === 'object' && !Array.isArray(item)
      ? (toWrite ? parseRuleItem(item as Record<string, unknown>) : ruleIdProblem(item as Record<string, unknown>))
      : { error: 'not an object' };
    if (result.error !== undefined) throw new EventShapeError(`"${name}.${RULES_PROPERTIES.rules}" holds an invalid rule item: ${result.error}`);
  }
  return { tableName, owner, items: items as Array<Record<string, unknown>> };
}

export interface RulesResult {
  readonly PhysicalResourceId: string;
  readonly Data: { readonly Written: string; readonly Deleted: string };
}

/** Writes (Create/Update) or removes (Delete) the rule items of this resource. */
export async function syncRules(dynamodb: DynamoDBClient, request: RulesRequest, retry: RetryOptions = {}): Promise<RulesResult> {
  const physicalResourceId = `${request.tableName}/${request.owner}`;
  if (request.requestType === 'Delete') {
    const deleted = await deleteOwn(dynamodb, request.tableName, request.owner, request.items.map(ruleIdOf), retry);
    return { PhysicalResourceId: request.physicalResourceId ?? physicalResourceId, Data: { Written: '0', Deleted: String(deleted) } };
  }
  for (const item of request.items) {
    const ruleId = ruleIdOf(item);
    try {
      await retryTransient(() => dynamodb.send(new PutItemCommand({
        TableName: request.tableName,
        // The table's key is a string: a numeric RuleId is written as the string deleteOwn will ask for.
        Item: marshall({ ...item, [RULE_ATTRIBUTES.ruleId]: ruleId, [RULE_ATTRIBUTES.managedBy]: request.owner }, { removeUndefinedValues: true }),
        // Never overwrite an item someone wrote by hand (or another engine's).
        ConditionExpression: 'attribute_not_exists(#id) OR #owner = :owner',
        ExpressionAttributeNames: { '#id': RULE_ATTRIBUTES.ruleId, '#owner': RULE_ATTRIBUTES.managedBy },
        ExpressionAttributeValues: marshall({ ':owner': request.owner }),
      })), retry);
    } catch (error) {
      if (errorCode(error) === 'ConditionalCheckFailedException') {
        throw new Error(`rule ${ruleId}: table ${request.tableName} already holds an item with ${RULE_ATTRIBUTES.ruleId} ${JSON.stringify(ruleId)} `
          + 'that this TagPolicyEngine did not write; give the rule another ruleId, or delete that item');
      }
      throw error;
    }
  }
  // Rules dropped from the props (or all of them, when the rules moved to another table) are removed.
  let deleted = 0;
  // Only an Update has old items (parseRulesRequest reads them from its OldResourceProperties).
  if (request.oldItems) {
    const kept = request.oldTableName === request.tableName ? new Set(request.items.map(ruleIdOf)) : new Set<string>();
    const dropped = request.oldItems.map(ruleIdOf).filter((id) => !kept.has(id));
    deleted = await deleteOwn(dynamodb, request.oldTableName ?? request.tableName, request.owner, dropped, retry);
  }
  return { PhysicalResourceId: physicalResourceId, Data: { Written: String(request.items.length), Deleted: String(deleted) } };
}

async function deleteOwn(dynamodb: DynamoDBClient, tableName: string, owner: string, ruleIds: string[], retry: RetryOptions): Promise<number> {
  let deleted = 0;
  for (const ruleId of ruleIds) {
    try {
      await retryTransient(() => dynamodb.send(new DeleteItemCommand({
        TableName: tableName,
        Key: marshall({ [RULE_ATTRIBUTES.ruleId]: ruleId }),
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': RULE_ATTRIBUTES.managedBy },
        ExpressionAttributeValues: marshall({ ':owner': owner }),
      })), retry);
      deleted++;
    } catch (error) {
      const name = errorCode(error);
      // Gone already, or no longer ours (someone took the item over by hand): nothing of ours to delete.
      if (name === 'ConditionalCheckFailedException') continue;
      // A table deleted before its rules (stack deletion order): nothing left to delete.
      if (name === 'ResourceNotFoundException') return deleted;
      throw error;
    }
  }
  return deleted;
}

/** What deleting an item needs: its key, as the table holds it (a string). */
function ruleIdProblem(item: Record<string, unknown>): { error?: string } {
  const id = item[RULE_ATTRIBUTES.ruleId];
  if ((typeof id !== 'string' && typeof id !== 'number') || String(id).length === 0 || String(id).length > RULE_ID_MAX) {
    return { error: `${RULE_ATTRIBUTES.ruleId} must be a string of 1 to ${RULE_ID_MAX} characters` };
  }
  return {};
}

function ruleIdOf(item: Record<string, unknown>): string {
  return String(item[RULE_ATTRIBUTES.ruleId]);
}
