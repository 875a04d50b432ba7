import { BatchWriteItemCommand, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { CLOUDTRAIL_LOOKUP_DAYS, CREATOR_ATTRIBUTES, CREATOR_ITEM_PREFIX, RULE_ATTRIBUTES } from '../../src/tag-policy-engine/contract';
import { chunk } from '../shared/batch';
import { retryTransient, RetryOptions, sleep } from '../shared/retry';

/** BatchWriteItem takes up to 25 items a call. */
const WRITE_BATCH_MAX = 25;
const UNPROCESSED_ATTEMPTS = 5;
const DAY_SECONDS = 86_400;

/**
 * Caches creators found in CloudTrail in the rule table (RuleId `creator#<instance id>`), so a later
 * run needs no lookup for an instance whose tag could not be written (dry run, a failed call, a
 * protected instance later unprotected). The items expire with the table's TTL after CloudTrail's
 * own 90 days.
 */
export async function cacheCreators(
  dynamodb: DynamoDBClient,
  tableName: string,
  creators: ReadonlyMap<string, string>,
  launches: ReadonlyMap<string, Date | undefined>,
  now: Date,
  retry: RetryOptions = {},
): Promise<number> {
  const expiresAt = Math.floor(now.getTime() / 1000) + CLOUDTRAIL_LOOKUP_DAYS * DAY_SECONDS;
  const requests: WriteRequest[] = [...creators].map(([instanceId, creator]) => ({
    PutRequest: {
      Item: marshall({
        [RULE_ATTRIBUTES.ruleId]: `${CREATOR_ITEM_PREFIX}${instanceId}`,
        [CREATOR_ATTRIBUTES.creator]: creator,
        [CREATOR_ATTRIBUTES.launchedAt]: launches.get(instanceId)?.toISOString(),
        [CREATOR_ATTRIBUTES.expiresAt]: expiresAt,
      }, { removeUndefinedValues: true }),
    },
  }));
  let written = 0;
  for (const batch of chunk(requests, WRITE_BATCH_MAX)) {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > UNPROCESSED_ATTEMPTS) throw new Error(`${pending.length} creator item(s) stayed unprocessed after ${UNPROCESSED_ATTEMPTS} attempts`);
      // Unprocessed items mean the table's capacity was exceeded: back off before sending them again.
      if (attempt > 1) await (retry.sleep ?? sleep)(50 * 2 ** attempt);
      const out = await retryTransient(() => dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } })), retry);
      const unprocessed = out.UnprocessedItems?.[tableName] ?? [];
      written += pending.length - unprocessed.length;
      pending = unprocessed;
    }
  }
  return written;
}
