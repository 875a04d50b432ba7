import { CLOUDTRAIL_DETAIL_TYPE } from '../../src/tag-policy-engine/contract';
import { echo, EventShapeError } from '../shared/errors';

/*
 * The three kinds of invocation the handler accepts, told apart by shape: a CloudFormation custom
 * resource event (the rules, on deploy), an EventBridge CloudTrail RunInstances event (creator
 * capture), and anything else, which must be a sweep event (parseSweepEvent checks it).
 */
export type InvocationKind = 'rules' | 'launch' | 'sweep';

export function kindOf(event: unknown): InvocationKind {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return 'sweep';
  const record = event as Record<string, unknown>;
  if ('RequestType' in record && 'ResourceProperties' in record) return 'rules';
  if (record['detail-type'] === CLOUDTRAIL_DETAIL_TYPE) return 'launch';
  return 'sweep';
}

const ENVELOPE_KEYS = new Set(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
const MAX_ECHO = 64;

/**
 * The CloudTrail record of an EventBridge "AWS API Call via CloudTrail" event for EC2 RunInstances,
 * the only one the capture rule forwards. Anything else is rejected: nothing is tagged from it.
 */
export function parseLaunchEvent(event: Record<string, unknown>): Record<string, unknown> {
  const unknown = Object.keys(event).filter((k) => !ENVELOPE_KEYS.has(k));
  if (unknown.length > 0) reject(`unexpected field(s) ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, MAX_ECHO))).join(', ')}`);
  if (event.source !== 'aws.ec2') reject(`"source" must be "aws.ec2", got ${echo(event.source)}`);
  if (typeof event.account !== 'string' || !/^\d{12}$/.test(event.account)) reject(`"account" must be a 12-digit account id, got ${echo(event.account)}`);
  if (typeof event.region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(event.region)) reject(`"region" must be a region such as "us-east-1", got ${echo(event.region)}`);
  const detail = event.detail;
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) reject('"detail" must be the CloudTrail record, an object');
  const record = detail as Record<string, unknown>;
  if (record.eventSource !== 'ec2.amazonaws.com' || record.eventName !== 'RunInstances') {
    reject(`only RunInstances from ec2.amazonaws.com is accepted, got ${echo(record.eventName)} from ${echo(record.eventSource)}`);
  }
  const identity = record.userIdentity;
  if (identity === null || typeof identity !== 'object' || Array.isArray(identity)) reject('"detail.userIdentity" must be an object');
  return record;
}

function reject(reason: string): never {
  throw new EventShapeError(`not a CloudTrail RunInstances event: ${reason}`);
}
