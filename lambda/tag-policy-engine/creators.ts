/*
 * Who launched an instance, read from a CloudTrail RunInstances record: the record EventBridge
 * delivers ("AWS API Call via CloudTrail", its `detail`) and the one LookupEvents returns (its
 * `CloudTrailEvent` string) have the same shape.
 */

const MAX_CREATOR = 256;
const AUTOSCALING = 'autoscaling.amazonaws.com';
const ASG_GROUP_TAG = 'aws:autoscaling:groupName';

export interface Launch {
  /** The creator as written into the tag. */
  readonly creator: string;
  readonly instanceIds: string[];
  readonly eventTime?: Date;
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Json : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function items(value: unknown): Json[] {
  const list = obj(value)?.items;
  return Array.isArray(list) ? list.map(obj).filter((i): i is Json => i !== undefined) : [];
}

/**
 * The launch a RunInstances record describes; undefined for a call that failed (errorCode set) or
 * that launched nothing. The creator:
 * - an IAM user: its user name;
 * - an assumed role: `<role name>/<session name>` (for IAM Identity Center, the session name is the
 *   person's user name);
 * - an Auto Scaling group: `autoscaling:<group name>`;
 * - the root user: `root`; a federated user: its name; an AWS service: the service (`ec2fleet.amazonaws.com`).
 */
export function launchFromRecord(record: unknown): Launch | undefined {
  const r = obj(record);
  if (!r || r.eventName !== 'RunInstances' || r.errorCode !== undefined) return undefined;
  const launched = items(obj(r.responseElements)?.instancesSet);
  const instanceIds = launched.map((i) => str(i.instanceId)).filter((id): id is string => /^i-[0-9a-f]{8,17}$/.test(id ?? ''));
  if (instanceIds.length === 0) return undefined;
  const creator = creatorOf(r, launched);
  if (!creator) return undefined;
  const time = str(r.eventTime) ? new Date(r.eventTime as string) : undefined;
  return { creator, instanceIds, eventTime: time && !Number.isNaN(time.getTime()) ? time : undefined };
}

function creatorOf(record: Json, launched: Json[]): string | undefined {
  const identity = obj(record.userIdentity) ?? {};
  const invokedBy = str(identity.invokedBy);
  const sessionIssuer = obj(obj(identity.sessionContext)?.sessionIssuer);
  const roleName = str(sessionIssuer?.userName);
  // The service-linked role may have a custom suffix: AWSServiceRoleForAutoScaling_<suffix>.
  if (invokedBy === AUTOSCALING || /^AWSServiceRoleForAutoScaling(_|$)/.test(String(roleName))) {
    const group = asgGroupOf(record, launched);
    return cut(group ? `autoscaling:${group}` : 'autoscaling');
  }
  switch (identity.type) {
    case 'AssumedRole': {
      // arn:aws:sts::<account>:assumed-role/<role name>/<session name>
      const match = /:assumed-role\/([^/]+)\/(.+)/.exec(String(identity.arn));
      if (match) return cut(`${match[1]}/${match[2]}`);
      return cut(roleName ?? str(identity.principalId));
    }
    case 'Root':
      return 'root';
    case 'AWSService':
      return cut(invokedBy ?? 'aws-service');
    default:
      // An IAM user (its user name, or its ARN's last part), a federated user (arn …:federated-user/<name>).
      return cut(str(identity.userName) ?? lastPart(str(identity.arn)) ?? str(identity.principalId));
  }
}

/** The group's name from the tags in the request, or on the instances in the response. */
function asgGroupOf(record: Json, launched: Json[]): string | undefined {
  const request = obj(record.requestParameters);
  for (const spec of items(request?.tagSpecificationSet)) {
    for (const tag of Array.isArray(spec.tags) ? spec.tags.map(obj) : items(spec.tags)) {
      if (tag?.key === ASG_GROUP_TAG && str(tag.value)) return tag.value as string;
    }
  }
  for (const instance of launched) {
    for (const tag of items(instance.tagSet)) {
      if (tag.key === ASG_GROUP_TAG && str(tag.value)) return tag.value as string;
    }
  }
  return undefined;
}

function lastPart(arn: string | undefined): string | undefined {
  return arn ? arn.slice(arn.lastIndexOf('/') + 1) || undefined : undefined;
}

/** At most MAX_CREATOR characters: EC2 counts code points, and a cut inside a surrogate pair would not be valid UTF-8. */
function cut(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const chars = [...value];
  return chars.length <= MAX_CREATOR ? value : chars.slice(0, MAX_CREATOR).join('');
}
