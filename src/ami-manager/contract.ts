/*
 * What the AmiManager construct writes into its custom resource and what the handler reads: property
 * names, ownership tag keys and limits. One definition for both sides (the handler bundle imports it),
 * plain data with no imports so that the bundle stays free of aws-cdk-lib.
 */

/** Custom resource type of every AmiManager. */
export const AMI_RESOURCE_TYPE = 'Custom::FleetJanitorAmi';

/** Properties of the custom resource. CloudFormation delivers every scalar as a string. */
export const AMI_PROPERTIES = {
  instanceId: 'InstanceId',
  imageName: 'ImageName',
  description: 'Description',
  reboot: 'Reboot',
  tags: 'Tags',
  deprecateAfterSeconds: 'DeprecateAfterSeconds',
  shareWithAccounts: 'ShareWithAccounts',
  stopInstanceAfterImage: 'StopInstanceAfterImage',
  removalPolicy: 'RemovalPolicy',
  timeoutSeconds: 'TimeoutSeconds',
  topicArn: 'TopicArn',
} as const;

/** The properties that define the image: a change to any of them bakes a new one. */
export const IMAGE_DEFINING_PROPERTIES = ['instanceId', 'imageName', 'description', 'reboot'] as const;

/**
 * Tags the handler puts on the image and every snapshot when it creates them (never later, so there
 * is no untagged window). The construct's IAM conditions on the first two: the function can only
 * change or delete images and snapshots of its own stack and resource.
 */
export const OWNERSHIP_TAGS = {
  stackId: 'fleet-janitor:ami:stack-id',
  logicalId: 'fleet-janitor:ami:logical-id',
  /** The CloudFormation request that created the image: how a retried create finds it. */
  requestId: 'fleet-janitor:ami:request-id',
  /**
   * A hash of the properties that define the image. When a replacement fails, CloudFormation's
   * rollback asks for the old properties again: the image that still has them is handed back instead
   * of baking a third one, and CloudFormation then deletes the failed one.
   */
  fingerprint: 'fleet-janitor:ami:fingerprint',
} as const;

/** Tag key prefix a user's `tags` may not use: the ownership tags must stay the handler's. */
export const OWNERSHIP_TAG_PREFIX = 'fleet-janitor:ami:';

export const REMOVAL_POLICIES = ['destroy', 'retain'] as const;

/** Limits both sides check. */
export const AMI_LIMITS = {
  /** EC2: 3 to 128 characters; the handler appends `-` and 8 characters of the request to keep names unique. */
  imageNameMin: 3,
  imageNameMax: 119,
  imageNameSuffixLength: 8,
  descriptionMax: 255,
  /** CloudFormation waits at most an hour for a custom resource. */
  timeoutSecondsMin: 300,
  timeoutSecondsMax: 3_600,
  /** EnableImageDeprecation: at most 10 years ahead. */
  deprecateAfterSecondsMin: 60,
  deprecateAfterSecondsMax: 3_650 * 86_400,
  /** ModifyImageAttribute takes at most 100 launch permissions per call; more would need paging the share. */
  shareWithAccountsMax: 100,
  /** EC2 allows 50 tags per resource; the handler adds the 4 ownership tags. */
  tagsMax: 46,
} as const;

/** EC2's AMI name characters: letters, digits, ( ) [ ] space . / - ' @ _ */
export const IMAGE_NAME_PATTERN = /^[A-Za-z0-9()[\] ./\-'@_]+$/;
export const ACCOUNT_ID_PATTERN = /^\d{12}$/;
export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;

/**
 * One function serves both of the provider framework's handlers: invoked through this alias it is
 * `isComplete`, otherwise `onEvent` (Lambda passes the invoked ARN, qualifier included).
 */
export const IS_COMPLETE_ALIAS = 'is-complete';
