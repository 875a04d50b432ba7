/*
 * What the TagPolicyEngine construct writes (environment, rule items, custom resource properties)
 * and what its handler reads: one definition for both sides. Plain data with no imports, so that the
 * handler bundle stays free of aws-cdk-lib.
 */

/** Custom resource type that writes the props rules into the rule table. */
export const RULES_RESOURCE_TYPE = 'Custom::FleetJanitorTagRules';

/** Properties of that custom resource. */
export const RULES_PROPERTIES = {
  tableName: 'TableName',
  /** The rules, as a JSON array of rule items (the attribute names below). */
  rules: 'Rules',
  /** Who owns the items written: the stack name and the engine's construct path. Deploys only touch their own items. */
  owner: 'Owner',
} as const;

/**
 * Attribute names of a rule item. The first five are the seed's own format (AWS Compute blog
 * "Managing Your AWS Resources Through a Serverless Policy Engine"); the rest extend it.
 */
export const RULE_ATTRIBUTES = {
  ruleId: 'RuleId',
  tagKey: 'TagKey',
  /** Update (a fixed default), UserLookup (the creator), Function (today() = the launch date), FromTag (another tag's value). */
  action: 'Action',
  /** "true" or "false" (the seed's strings; a DynamoDB boolean is read too). */
  required: 'Required',
  /** The default value: the fixed value, "today()" for Function, the other tag key for FromTag. */
  defaultValue: 'Default',
  /** A list (or string set) of the allowed values. */
  allowedValues: 'AllowedValues',
  /** A regular expression (JavaScript syntax) the whole value must match. */
  pattern: 'Pattern',
  /** NOTIFY, MARK, STOP or TERMINATE: what a violation of this rule leads to; default the engine's untaggedAction. */
  onViolation: 'OnViolation',
  /** Set on items a deploy wrote: which TagPolicyEngine owns them. Items without it are the user's. */
  managedBy: 'ManagedBy',
} as const;

/** Rule actions of the seed's format, plus FromTag. */
export const RULE_ACTIONS = ['Update', 'UserLookup', 'Function', 'FromTag'] as const;
/** The only Function the seed defines. */
export const TODAY_FUNCTION = 'today()';

/** Items of the rule table whose RuleId starts with this hold a cached creator, not a rule. */
export const CREATOR_ITEM_PREFIX = 'creator#';
/** Attributes of a cached creator item. */
export const CREATOR_ATTRIBUTES = { creator: 'Creator', launchedAt: 'LaunchedAt', expiresAt: 'ExpiresAt' } as const;
/** The TTL attribute of a table the construct creates (cached creators expire). */
export const TTL_ATTRIBUTE = CREATOR_ATTRIBUTES.expiresAt;

/** Tag that marks an instance in violation: `<ISO time> <rules broken>`; the time starts the grace period. */
export const VIOLATION_TAG_KEY = 'fleet-janitor:violation';

/** What happens to an instance that breaks a required rule no default can fix. */
export const VIOLATION_ACTIONS = ['NOTIFY', 'MARK', 'STOP', 'TERMINATE'] as const;

/** CloudTrail keeps 90 days of management events for LookupEvents. */
export const CLOUDTRAIL_LOOKUP_DAYS = 90;

/** Event detail-type of the CloudTrail events the creator capture rule forwards. */
export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';
