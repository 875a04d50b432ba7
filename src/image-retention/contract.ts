/*
 * What the ImageRetention construct writes (the environment) and what its handler reads: one
 * definition for both sides. Plain data with no imports, so that the handler bundle stays free of
 * aws-cdk-lib.
 */

/** Repositories opt in with this tag when the construct is given no `repositories`. */
export const OPT_IN_TAG_KEY = 'fleet-janitor:image-retention';
export const OPT_IN_TAG_VALUE = 'enabled';

/** What a run does with the images it proved unused. */
export const RETENTION_ACTIONS = ['REPORT', 'DELETE'] as const;
export type RetentionActionName = typeof RETENTION_ACTIONS[number];

/** ECR BatchDeleteImage and BatchGetImage take 1 to 100 image ids. */
export const ECR_IMAGE_BATCH_MAX = 100;
/** DescribeRepositories takes up to 100 repository names per call. */
export const ECR_REPOSITORY_NAMES_MAX = 100;
/** DescribeImages returns up to 1000 images per page. */
export const ECR_DESCRIBE_PAGE_MAX = 1_000;
/** ECS DeleteTaskDefinitions takes up to 10 revisions per call. */
export const ECS_DELETE_TASK_DEFINITIONS_MAX = 10;
/** ECS DescribeServices takes 10 services, DescribeTasks 100 tasks per call. */
export const ECS_DESCRIBE_SERVICES_MAX = 10;
export const ECS_DESCRIBE_TASKS_MAX = 100;
/** ECS DescribeServiceRevisions takes up to 20 revisions per call. */
export const ECS_DESCRIBE_SERVICE_REVISIONS_MAX = 20;
/**
 * DeregisterTaskDefinition and DeleteTaskDefinitions are rate-limited to about one call per second
 * sustained (a small burst aside), so the task-definition sweep spaces its calls this far apart.
 */
export const TASK_DEFINITION_CALL_INTERVAL_MS = 1_000;

/** The documented defaults, shared by the construct's props and the handler's fallbacks. */
export const DEFAULTS = {
  keepNewest: 10,
  minAgeDays: 30,
  keepTagPatterns: ['latest'],
  keepNewestRevisions: 5,
} as const;

/** The handler's environment variables. */
export const ENV = {
  topicArn: 'TOPIC_ARN',
  /** JSON list of repository names; unset: every repository tagged OPT_IN_TAG_KEY = OPT_IN_TAG_VALUE. */
  repositories: 'REPOSITORIES',
  keepNewest: 'KEEP_NEWEST',
  minAgeSeconds: 'MIN_AGE_SECONDS',
  /** JSON list of tag patterns (`*` any run, `?` one character). */
  keepTagPatterns: 'KEEP_TAG_PATTERNS',
  /** JSON list of `repository@sha256:<digest>` or `repository:tag`. */
  pinnedImages: 'PINNED_IMAGES',
  /** JSON list of IAM role ARNs in the accounts that pull these images. */
  consumerAccountRoles: 'CONSUMER_ACCOUNT_ROLES',
  action: 'ACTION',
  /** JSON `{"keepNewestRevisions":n,"deregisterUnused":bool,"deleteInactive":bool}`; unset: task definitions are not touched. */
  taskDefinitions: 'TASK_DEFINITIONS',
  protectionTagKey: 'PROTECTION_TAG_KEY',
  dryRun: 'DRY_RUN',
  maxActionsPerRun: 'MAX_ACTIONS_PER_RUN',
} as const;

/** Why an image was kept; the report counts each, and every kept image's log line names one. */
export const KEEP_REASONS = [
  'in-use', // something in this or a consumer account names it (the detail says what)
  'pinned', // pinnedImages names it
  'unknown-consumer', // a consumer account that may pull the repository could not be read
  'protected', // the repository carries the protection tag
  'index-child', // a child manifest of a kept image index
  'referrer', // a signature, SBOM or attestation whose subject is kept
  'tag-pattern', // a tag matches keepTagPatterns
  'newest', // among the newest keepNewest images of its repository
  'young', // pushed less than minAge ago
] as const;
export type KeepReason = typeof KEEP_REASONS[number];

/*
 * Names of repositories, tags and digests, and the `pinnedImages` grammar: the construct validates
 * the prop with these at synth and the handler its environment at cold start. (They live here, not
 * in lambda/image-retention/config.ts, because jsii compiles src/ alone: src/ cannot import lambda/.)
 */

/** ECR's repository name grammar (with namespaces) and tag grammar. */
export const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;
/** An IAM role ARN of any partition, with or without a path: what consumerAccountRoles holds. */
export const IAM_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

/** An image named in pinnedImages: by digest, or by tag (resolved to its digest at each run). */
export type PinnedImage =
  | { readonly repository: string; readonly digest: string }
  | { readonly repository: string; readonly tag: string };

/** `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/`: the registry part of an image URI. */
const REGISTRY_HOST = /^[^/]*\.dkr\.ecr[^/]*\.amazonaws\.com(\.cn)?\//;

/** Parses `repository@sha256:<digest>` or `repository:tag`; undefined when it is neither. */
export function parsePinnedImage(value: string): PinnedImage | undefined {
  // A full image URI fits the name grammar too (dots are allowed) but would pin nothing: refused.
  if (REGISTRY_HOST.test(value)) return undefined;
  const at = value.indexOf('@');
  if (at > 0) {
    const repository = value.slice(0, at);
    const digest = value.slice(at + 1);
    return REPOSITORY_NAME.test(repository) && IMAGE_DIGEST.test(digest) ? { repository, digest } : undefined;
  }
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const repository = value.slice(0, colon);
  const tag = value.slice(colon + 1);
  return REPOSITORY_NAME.test(repository) && IMAGE_TAG.test(tag) ? { repository, tag } : undefined;
}
