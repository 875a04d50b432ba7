import {
  ACCOUNT_ID_PATTERN, AMI_LIMITS as LIMITS, AMI_PROPERTIES as P, IMAGE_NAME_PATTERN, INSTANCE_ID_PATTERN,
  OWNERSHIP_TAG_PREFIX, REMOVAL_POLICIES,
} from '../../src/ami-manager/contract';
import { EventShapeError } from '../shared/errors';

/*
 * The custom resource events CloudFormation sends (through the CDK provider framework) and the
 * properties the AmiManager construct writes. Everything is checked before any EC2 call: a bad
 * template fails the resource with a reason that names the property.
 */

export type RemovalPolicy = typeof REMOVAL_POLICIES[number];

/** One AmiManager resource's configuration, from its properties. */
export interface AmiSpec {
  readonly instanceId: string;
  readonly imageName: string;
  readonly description?: string;
  readonly reboot: boolean;
  readonly tags: Readonly<Record<string, string>>;
  readonly deprecateAfterSeconds?: number;
  readonly shareWithAccounts: readonly string[];
  readonly stopInstanceAfterImage: boolean;
  readonly removalPolicy: RemovalPolicy;
  readonly timeoutSeconds: number;
  readonly topicArn: string;
}

export type RequestType = 'Create' | 'Update' | 'Delete';

/** The fields of a CloudFormation custom resource request the handler uses. */
export interface ResourceEvent {
  readonly requestType: RequestType;
  readonly stackId: string;
  readonly requestId: string;
  readonly logicalResourceId: string;
  /** Absent on Create. */
  readonly physicalResourceId?: string;
  readonly properties: Record<string, unknown>;
  /** Update only. */
  readonly oldProperties?: Record<string, unknown>;
  /**
   * isComplete only: the image onEvent reported as already finished (an in-place update), from the
   * `Data` the provider framework merges into the event.
   */
  readonly finishedImageId?: string;
}

const REQUEST_TYPES: readonly string[] = ['Create', 'Update', 'Delete'];
const STACK_ID = /^arn:aws(-[a-z]+)*:cloudformation:[a-z0-9-]+:\d{12}:stack\/[A-Za-z][A-Za-z0-9-]{0,127}\/[0-9a-f-]{36}$/;
const REQUEST_ID = /^[0-9A-Za-z-]{1,128}$/;
const LOGICAL_ID = /^[A-Za-z0-9]{1,255}$/;
const TOPIC_ARN = /^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;
const MAX_ECHO = 80;

/** Reads the request envelope; the properties are parsed by `parseSpec` once the request type is known. */
export function parseResourceEvent(event: unknown): ResourceEvent {
  const e = asRecord(event, 'the event');
  const requestType = e.RequestType;
  if (typeof requestType !== 'string' || !REQUEST_TYPES.includes(requestType)) {
    throw new EventShapeError(`RequestType must be one of ${REQUEST_TYPES.join(', ')}, got ${echo(requestType)}`);
  }
  const stackId = matching(e.StackId, STACK_ID, 'StackId', 'a CloudFormation stack ARN');
  const requestId = matching(e.RequestId, REQUEST_ID, 'RequestId', 'a request id such as a UUID');
  const logicalResourceId = matching(e.LogicalResourceId, LOGICAL_ID, 'LogicalResourceId', 'an alphanumeric logical id');
  let physicalResourceId: string | undefined;
  // CloudFormation sends none with a Create, but the provider framework merges the one onEvent
  // returned into the isComplete event of every request type, Create included.
  if (requestType !== 'Create' || e.PhysicalResourceId !== undefined) {
    if (typeof e.PhysicalResourceId !== 'string' || e.PhysicalResourceId.length === 0 || e.PhysicalResourceId.length > 1_024) {
      throw new EventShapeError(`PhysicalResourceId is required for ${requestType}, got ${echo(e.PhysicalResourceId)}`);
    }
    physicalResourceId = e.PhysicalResourceId;
  }
  const properties = asRecord(e.ResourceProperties, 'ResourceProperties');
  const oldProperties = requestType === 'Update' ? asRecord(e.OldResourceProperties, 'OldResourceProperties') : undefined;
  const data = e.Data;
  const finished = data !== null && typeof data === 'object' ? (data as Record<string, unknown>).ImageId : undefined;
  const finishedImageId = typeof finished === 'string' && /^ami-[0-9a-f]{8,17}$/.test(finished) ? finished : undefined;
  return {
    requestType: requestType as RequestType, stackId, requestId, logicalResourceId, physicalResourceId, properties, oldProperties, finishedImageId,
  };
}

/** Validates the construct's properties; `where` names the property set in errors. */
export function parseSpec(props: Record<string, unknown>, where = 'ResourceProperties'): AmiSpec {
  const field = (key: string) => `${where}.${key}`;
  const instanceId = matching(props[P.instanceId], INSTANCE_ID_PATTERN, field(P.instanceId), 'an EC2 instance id such as i-0123456789abcdef0');
  const imageName = text(props[P.imageName], field(P.imageName), LIMITS.imageNameMin, LIMITS.imageNameMax);
  if (!IMAGE_NAME_PATTERN.test(imageName)) {
    throw new EventShapeError(`${field(P.imageName)} ${echo(imageName)} has characters EC2 refuses in an image name (allowed: letters, digits, ( ) [ ] space . / - ' @ _)`);
  }
  const description = props[P.description] === undefined ? undefined : text(props[P.description], field(P.description), 0, LIMITS.descriptionMax);
  const tags = tagMap(props[P.tags], field(P.tags));
  const shareWithAccounts = [...new Set(stringList(props[P.shareWithAccounts], field(P.shareWithAccounts)))];
  for (const account of shareWithAccounts) {
    if (!ACCOUNT_ID_PATTERN.test(account)) throw new EventShapeError(`${field(P.shareWithAccounts)} has ${echo(account)}: an account id is 12 digits`);
  }
  if (shareWithAccounts.length > LIMITS.shareWithAccountsMax) {
    throw new EventShapeError(`${field(P.shareWithAccounts)} has ${shareWithAccounts.length} accounts; at most ${LIMITS.shareWithAccountsMax}`);
  }
  const removalPolicy = props[P.removalPolicy] ?? 'destroy';
  if (typeof removalPolicy !== 'string' || !(REMOVAL_POLICIES as readonly string[]).includes(removalPolicy)) {
    throw new EventShapeError(`${field(P.removalPolicy)} must be one of ${REMOVAL_POLICIES.join(', ')}, got ${echo(removalPolicy)}`);
  }
  const topicArn = matching(props[P.topicArn], TOPIC_ARN, field(P.topicArn), 'an SNS topic ARN');
  return {
    instanceId,
    imageName,
    description,
    reboot: flag(props[P.reboot], field(P.reboot)),
    tags,
    deprecateAfterSeconds: props[P.deprecateAfterSeconds] === undefined ? undefined
      : integer(props[P.deprecateAfterSeconds], field(P.deprecateAfterSeconds), LIMITS.deprecateAfterSecondsMin, LIMITS.deprecateAfterSecondsMax),
    shareWithAccounts,
    stopInstanceAfterImage: flag(props[P.stopInstanceAfterImage], field(P.stopInstanceAfterImage)),
    removalPolicy: removalPolicy as RemovalPolicy,
    timeoutSeconds: integer(props[P.timeoutSeconds], field(P.timeoutSeconds), LIMITS.timeoutSecondsMin, LIMITS.timeoutSecondsMax),
    topicArn,
  };
}

/**
 * What a Delete needs from possibly broken properties: a stack that cannot be deleted because a
 * property is malformed helps nobody, so only the removal policy and the topic are read, and an
 * unreadable removal policy means the default, DESTROY (the image is still deleted only if it
 * carries this resource's ownership tags).
 */
export function parseDeleteSpec(props: Record<string, unknown>): { removalPolicy: RemovalPolicy; topicArn?: string } {
  const policy = props[P.removalPolicy];
  const topic = props[P.topicArn];
  return {
    removalPolicy: policy === 'retain' ? 'retain' : 'destroy',
    topicArn: typeof topic === 'string' && TOPIC_ARN.test(topic) ? topic : undefined,
  };
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EventShapeError(`${what} must be a JSON object, got ${echo(value)}`);
  }
  return value as Record<string, unknown>;
}

function matching(value: unknown, pattern: RegExp, what: string, expected: string): string {
  if (typeof value !== 'string' || value.length > 2_048 || !pattern.test(value)) {
    throw new EventShapeError(`${what} must be ${expected}, got ${echo(value)}`);
  }
  return value;
}

function text(value: unknown, what: string, min: number, max: number): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    throw new EventShapeError(`${what} must be a string of ${min} to ${max} characters, got ${echo(value)}`);
  }
  return value;
}

/** CloudFormation turns booleans into "true"/"false"; a direct invoke may pass real ones. */
function flag(value: unknown, what: string): boolean {
  if (value === undefined || value === 'false' || value === false) return false;
  if (value === 'true' || value === true) return true;
  throw new EventShapeError(`${what} must be "true" or "false", got ${echo(value)}`);
}

function integer(value: unknown, what: string, min: number, max: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new EventShapeError(`${what} must be an integer from ${min} to ${max}, got ${echo(value)}`);
  }
  return n;
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new EventShapeError(`${what} must be a list of strings, got ${echo(value)}`);
  }
  return value as string[];
}

function tagMap(value: unknown, what: string): Record<string, string> {
  if (value === undefined) return {};
  const tags = asRecord(value, what);
  const entries = Object.entries(tags);
  if (entries.length > LIMITS.tagsMax) throw new EventShapeError(`${what} has ${entries.length} tags; at most ${LIMITS.tagsMax}`);
  for (const [key, tagValue] of entries) {
    if (key.length === 0 || key.length > 128 || /^aws:/i.test(key)) {
      throw new EventShapeError(`${what} has the key ${echo(key)}: a tag key has 1 to 128 characters and does not start with "aws:"`);
    }
    if (key.startsWith(OWNERSHIP_TAG_PREFIX)) {
      throw new EventShapeError(`${what} has the key ${echo(key)}: keys starting with "${OWNERSHIP_TAG_PREFIX}" are the handler's ownership tags`);
    }
    if (typeof tagValue !== 'string' || tagValue.length > 256) {
      throw new EventShapeError(`${what}[${echo(key)}] must be a string of at most 256 characters, got ${echo(tagValue)}`);
    }
  }
  return tags as Record<string, string>;
}

function echo(value: unknown): string {
  let shown: string;
  try {
    shown = value === undefined ? 'nothing' : JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return shown.length > MAX_ECHO ? `${shown.slice(0, MAX_ECHO - 3)}...` : shown;
}
