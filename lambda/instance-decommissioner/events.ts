import { STATE_CHANGE_DETAIL_TYPE, WATCHED_STATES, WatchedState } from '../../src/instance-decommissioner/contract';
import { echo, EventShapeError } from '../shared/errors';
import { envelopeFieldProblem, isInstanceId } from '../shared/event';

export { isInstanceId };

/*
 * The two kinds of invocation: a batch of SQS messages, each an EventBridge "EC2 Instance
 * State-change Notification", and the scheduled reconcile sweep (parseSweepEvent checks it).
 */

/** One state change, as the handler works with it. */
export interface StateChange {
  readonly instanceId: string;
  readonly state: WatchedState;
  /** When EC2 reported the change. */
  readonly time: string;
}

/** Lambda's SQS event: what the handler reads of each record. */
export interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
}

const ENVELOPE_KEYS = new Set(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
const DETAIL_KEYS = new Set(['instance-id', 'state']);
/** What every EventBridge event carries (`version` and `resources` may be absent from a hand-made one). */
const REQUIRED_KEYS = ['id', 'account', 'time', 'region', 'detail'] as const;
const MAX_RESOURCES = 10;
const MAX_ARN_LENGTH = 1_600;
const MAX_BODY_BYTES = 256 * 1024;
const MAX_ECHO = 64;

/** An SQS batch from the event source mapping: `{"Records": [{"eventSource": "aws:sqs", ...}]}`. */
export function isSqsBatch(event: unknown): event is { Records: unknown[] } {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return false;
  const records = (event as { Records?: unknown }).Records;
  return Array.isArray(records);
}

/** The records of an SQS batch; a batch that is not one is rejected as a whole (nothing changed). */
export function sqsRecords(event: { Records: unknown[] }): SqsRecord[] {
  if (event.Records.length === 0 || event.Records.length > 10_000) throw new EventShapeError(`"Records" must hold 1 to 10000 SQS messages, got ${event.Records.length}`);
  return event.Records.map((record, index) => {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new EventShapeError(`Records[${index}] must be an SQS message object`);
    const r = record as Record<string, unknown>;
    if (r.eventSource !== 'aws:sqs') throw new EventShapeError(`Records[${index}].eventSource must be "aws:sqs", got ${echo(r.eventSource)}`);
    if (typeof r.messageId !== 'string' || r.messageId.length === 0 || r.messageId.length > 128) {
      throw new EventShapeError(`Records[${index}].messageId must be a message id, got ${echo(r.messageId)}`);
    }
    if (typeof r.body !== 'string') throw new EventShapeError(`Records[${index}].body must be a string, got ${echo(r.body)}`);
    return { messageId: r.messageId, body: r.body };
  });
}

/**
 * The state change one message carries: an EventBridge EC2 state-change event for one of the
 * watched states. Anything else throws EventShapeError: that message fails (and, after its
 * retries, waits in the dead-letter queue), and nothing is changed for it.
 */
export function parseStateChange(body: string): StateChange {
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) reject(`the message body is over ${MAX_BODY_BYTES} bytes`);
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    reject('the message body is not JSON');
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) reject(`expected a JSON object, got ${echo(event)}`);
  const e = event as Record<string, unknown>;
  const unknown = Object.keys(e).filter((k) => !ENVELOPE_KEYS.has(k));
  if (unknown.length > 0) reject(`unexpected field(s) ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, MAX_ECHO))).join(', ')}`);
  if (e.source !== 'aws.ec2' || e['detail-type'] !== STATE_CHANGE_DETAIL_TYPE) {
    reject(`only "detail-type" "${STATE_CHANGE_DETAIL_TYPE}" from "source" "aws.ec2" is accepted, got ${echo(e['detail-type'])} from ${echo(e.source)}`);
  }
  const missing = REQUIRED_KEYS.filter((k) => e[k] === undefined);
  if (missing.length > 0) reject(`missing field(s) ${missing.map((k) => JSON.stringify(k)).join(', ')}`);
  const problem = envelopeFieldProblem(e);
  if (problem !== undefined) reject(problem);
  if (Number.isNaN(Date.parse(e.time as string))) reject(`"time" must be a real date, got ${echo(e.time)}`);
  const resources = e.resources;
  if (resources !== undefined && (!Array.isArray(resources) || resources.length > MAX_RESOURCES
    || resources.some((r) => typeof r !== 'string' || r.length > MAX_ARN_LENGTH))) {
    reject(`"resources" must list at most ${MAX_RESOURCES} ARNs, got ${echo(resources)}`);
  }
  const detail = e.detail;
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) reject(`"detail" must be an object, got ${echo(detail)}`);
  const d = detail as Record<string, unknown>;
  const extra = Object.keys(d).filter((k) => !DETAIL_KEYS.has(k));
  if (extra.length > 0) reject(`unexpected detail field(s) ${extra.slice(0, 5).map((k) => JSON.stringify(k.slice(0, MAX_ECHO))).join(', ')}`);
  const instanceId = d['instance-id'];
  if (typeof instanceId !== 'string' || !isInstanceId(instanceId)) reject(`"detail.instance-id" must be an instance id such as "i-0123456789abcdef0", got ${echo(instanceId)}`);
  const state = d.state;
  if (typeof state !== 'string' || !(WATCHED_STATES as readonly string[]).includes(state)) {
    reject(`"detail.state" must be one of ${WATCHED_STATES.join(', ')}, got ${echo(state)}`);
  }
  return { instanceId: instanceId as string, state: state as WatchedState, time: e.time as string };
}

function reject(reason: string): never {
  throw new EventShapeError(`not an EC2 instance state-change event: ${reason}`);
}
