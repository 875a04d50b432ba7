import { EventShapeError } from './errors';

/**
 * What a scheduled sweep accepts: the Scheduler's payload, an EventBridge "Scheduled Event" (a
 * user's own `events.Rule` schedule, or the Lambda console's test event), or a manual invoke that
 * forces a dry run.
 */
export interface SweepEvent {
  readonly source?: string;
  readonly dryRun?: boolean;
}

const SWEEP_KEYS = new Set(['source', 'dryRun']);
const MAX_SOURCE_LENGTH = 256;

/*
 * An EventBridge scheduled event, as a rule with a schedule expression delivers it:
 *   {"version":"0","id":"<uuid>","detail-type":"Scheduled Event","source":"aws.events",
 *    "account":"123456789012","time":"2015-10-08T16:53:06Z","region":"us-east-1",
 *    "resources":["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],"detail":{}}
 * The Lambda console's "Scheduled Event" test template is the same without "version". Nothing in it
 * configures the run: it is accepted as "run now", checked strictly so that other events are not.
 */
export const SCHEDULED_DETAIL_TYPE = 'Scheduled Event';
export const SCHEDULED_SOURCE = 'aws.events';
const SCHEDULED_KEYS = ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'];
const SCHEDULED_KEY_SET = new Set(SCHEDULED_KEYS);
const SCHEDULED_REQUIRED = ['id', 'detail-type', 'source', 'account', 'time', 'region', 'resources'];
/** Keys that only an EventBridge envelope has: one of them says the caller meant a Scheduled Event. */
const ENVELOPE_ONLY_KEYS = new Set(SCHEDULED_KEYS.filter((k) => !SWEEP_KEYS.has(k)));
/** A schedule rule's event names that one rule; a few more are tolerated, never an unbounded list. */
const MAX_RESOURCES = 10;
const MAX_ARN_LENGTH = 1_600;
const MAX_FIELD_ECHO = 64;

/** Each envelope field: a bounded length, then a pattern (the length check keeps the regex cheap). */
const SCHEDULED_FIELDS: ReadonlyArray<readonly [string, number, RegExp, string]> = [
  ['version', 8, /^\d{1,8}$/, 'a string of digits such as "0"'],
  ['id', 128, /^[0-9A-Za-z-]{1,128}$/, 'an event id such as "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"'],
  ['account', 12, /^\d{12}$/, 'a 12-digit account id'],
  ['time', 40, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, 'a UTC timestamp such as "2015-10-08T16:53:06Z"'],
  ['region', 32, /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'a region such as "us-east-1"'],
];
/** arn:<partition>:events:<region>:<account>:rule/[<bus>/]<rule name> */
const RULE_ARN = /^arn:aws(-[a-z]+)*:events:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:rule\/[0-9A-Za-z._\-/]+$/;

/**
 * Rejects anything but a small plain object with known keys, or a well-formed EventBridge
 * "Scheduled Event". A manual invoke may ask for a dry run (`{"dryRun": true}`) but can never turn
 * a configured dry run into a real one.
 */
export function parseSweepEvent(event: unknown): SweepEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new EventShapeError(`expected a JSON object such as {"source":"cdk-fleet-janitor.schedule"}, got ${describe(event)}`);
  }
  const record = event as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.some((k) => ENVELOPE_ONLY_KEYS.has(k))) return parseScheduledEvent(record, keys);
  const unknown = keys.filter((k) => !SWEEP_KEYS.has(k));
  if (unknown.length > 0) {
    throw new EventShapeError(`unexpected field(s) ${quoteKeys(unknown)}; accepted fields are "source" and "dryRun"`);
  }
  if (record.source !== undefined && (typeof record.source !== 'string' || record.source.length > MAX_SOURCE_LENGTH)) {
    throw new EventShapeError(`"source" must be a string of at most ${MAX_SOURCE_LENGTH} characters, got ${describe(record.source)}`);
  }
  if (record.dryRun !== undefined && typeof record.dryRun !== 'boolean') {
    throw new EventShapeError(`"dryRun" must be true or false, got ${describe(record.dryRun)}`);
  }
  return { source: record.source as string | undefined, dryRun: record.dryRun as boolean | undefined };
}

/** An event carrying EventBridge envelope fields: accepted only as a complete, plain Scheduled Event. */
function parseScheduledEvent(record: Record<string, unknown>, keys: string[]): SweepEvent {
  // What kind of event it is comes first: that is the most useful thing to tell a caller who sent another one.
  if (record['detail-type'] !== SCHEDULED_DETAIL_TYPE || record.source !== SCHEDULED_SOURCE) {
    rejectScheduledEvent(`only "detail-type" ${JSON.stringify(SCHEDULED_DETAIL_TYPE)} from "source" ${JSON.stringify(SCHEDULED_SOURCE)} is accepted, `
      + `got "detail-type" ${echo(record['detail-type'])} and "source" ${echo(record.source)}`);
  }
  const unknown = keys.filter((k) => !SCHEDULED_KEY_SET.has(k));
  if (unknown.length > 0) {
    rejectScheduledEvent(`unexpected field(s) ${quoteKeys(unknown)}; a Scheduled Event has only ${SCHEDULED_KEYS.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  const missing = SCHEDULED_REQUIRED.filter((k) => record[k] === undefined);
  if (missing.length > 0) rejectScheduledEvent(`missing field(s) ${quoteKeys(missing)}`);
  const problem = envelopeFieldProblem(record);
  if (problem !== undefined) rejectScheduledEvent(problem);
  if (Number.isNaN(Date.parse(record.time as string))) rejectScheduledEvent(`"time" must be a real date, got ${echo(record.time)}`);
  const resources = record.resources;
  if (!Array.isArray(resources) || resources.length < 1 || resources.length > MAX_RESOURCES) {
    rejectScheduledEvent(`"resources" must list 1 to ${MAX_RESOURCES} rule ARNs, got ${Array.isArray(resources) ? `${resources.length} entries` : describe(resources)}`);
  }
  for (const arn of resources as unknown[]) {
    if (typeof arn !== 'string' || arn.length > MAX_ARN_LENGTH || !RULE_ARN.test(arn)) {
      rejectScheduledEvent(`"resources" must hold EventBridge rule ARNs such as "arn:aws:events:us-east-1:123456789012:rule/my-schedule", got ${echo(arn)}`);
    }
  }
  const detail = record.detail;
  if (detail !== undefined && !(detail !== null && typeof detail === 'object' && !Array.isArray(detail) && Object.keys(detail).length === 0)) {
    rejectScheduledEvent(`"detail" must be an empty object {}, got ${Array.isArray(detail) || detail === null || typeof detail !== 'object' ? describe(detail) : 'an object with fields'}`);
  }
  return { source: SCHEDULED_SOURCE, dryRun: undefined };
}

const INSTANCE_ID = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;

/** Whether a value has the shape of an EC2 instance id ("i-" and 8 or 17 hex digits). */
export function isInstanceId(value: string): boolean {
  return INSTANCE_ID.test(value);
}

/**
 * What is wrong with the common fields of an EventBridge envelope (version, id, account, time,
 * region) that are present; undefined when nothing is. Checking which are required is the caller's.
 */
export function envelopeFieldProblem(record: Record<string, unknown>): string | undefined {
  for (const [key, maxLength, pattern, wanted] of SCHEDULED_FIELDS) {
    const value = record[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > maxLength || !pattern.test(value)) return `"${key}" must be ${wanted}, got ${echo(value)}`;
  }
  return undefined;
}

function rejectScheduledEvent(reason: string): never {
  throw new EventShapeError(`not a valid EventBridge Scheduled Event: ${reason}`);
}

function quoteKeys(keys: string[]): string {
  return keys.slice(0, 5).map((k) => JSON.stringify(k.slice(0, MAX_FIELD_ECHO))).join(', ') + (keys.length > 5 ? ` and ${keys.length - 5} more` : '');
}

/** A short string value is shown (quoted, cut); anything else is described, never echoed in full. */
function echo(value: unknown): string {
  if (typeof value === 'string' && value.length <= MAX_FIELD_ECHO) return JSON.stringify(value);
  return describe(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return typeof value;
}
