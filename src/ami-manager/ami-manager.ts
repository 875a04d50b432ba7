import { CustomResource, Duration, Fn, Names, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { AmiManagerProvider } from './ami-manager-provider';
import {
  ACCOUNT_ID_PATTERN, AMI_LIMITS, AMI_PROPERTIES as P, AMI_RESOURCE_TYPE, IMAGE_NAME_PATTERN, INSTANCE_ID_PATTERN, OWNERSHIP_TAG_PREFIX,
} from './contract';
import { JanitorFunctionProps } from '../common/common-props';
import { envNumber } from '../common/handler-function';
import { FleetJanitorBase } from '../common/janitor-base';
import { resolveTopic } from '../common/notifications';
import { checkDuration, checkFunctionProps, checkTagMap, fail } from '../common/validation';

export interface AmiManagerProps extends JanitorFunctionProps {
  /**
   * The instance to image. Give this or `instanceId`, not both.
   * @default - `instanceId`
   */
  readonly instance?: ec2.IInstance;

  /**
   * The id of the instance to image (a token is fine). Give this or `instance`, not both.
   * @default - `instance`
   */
  readonly instanceId?: string;

  /**
   * The image name, 3 to 119 characters of letters, digits and ( ) [ ] space . / - ' @ _. Each image
   * gets this name followed by `-` and 8 characters of the CloudFormation request that created it, so
   * that a replacement can exist next to the image it replaces.
   * @default - derived from the construct path, stack name included
   */
  readonly imageName?: string;

  /**
   * The image description (at most 255 characters).
   * @default - none
   */
  readonly description?: string;

  /**
   * Reboot the instance before imaging it, for a consistent file system. Without a reboot the image
   * is taken from the running instance (NoReboot), as the original did.
   * @default false
   */
  readonly reboot?: boolean;

  /**
   * Tags put on the image and on each of its snapshots, in the CreateImage call itself. Changing
   * them later retags the existing image and snapshots. Keys starting with `fleet-janitor:ami:` are
   * reserved for the ownership tags.
   * @default - only the ownership tags
   */
  readonly tags?: { [key: string]: string };

  /**
   * Deprecate the image this long after its creation (EnableImageDeprecation). Changing it later
   * applies to the existing image.
   * @default - never deprecated
   */
  readonly deprecateAfter?: Duration;

  /**
   * Accounts given launch permission on the image and create-volume permission on its snapshots
   * (12-digit ids, at most 100). Changing the list later shares or unshares the existing image.
   * @default - not shared
   */
  readonly shareWithAccounts?: string[];

  /**
   * Stop the source instance once the image is available.
   * @default false
   */
  readonly stopInstanceAfterImage?: boolean;

  /**
   * What happens to the image when the resource is replaced or deleted: DESTROY deregisters it and
   * deletes every one of its snapshots, RETAIN keeps both (and says so in the report).
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Longest wait for the image to become available before the resource fails (and the image is
   * cleaned up). At least 5 minutes; at most 60, CloudFormation's limit for a custom resource.
   * @default Duration.minutes(60)
   */
  readonly timeout?: Duration;
}

const NAME = 'AmiManager';
const DEFAULT_TIMEOUT = Duration.minutes(60);

/**
 * An AMI baked from an instance during a deployment: a CloudFormation custom resource that creates
 * the image (tagged at creation, image and snapshots), hands its id to launch templates and Auto
 * Scaling groups only once it is available, and deregisters it with every snapshot when it is
 * replaced or deleted. The AmiManagers of a stack share one provider function.
 */
export class AmiManager extends FleetJanitorBase {
  /** The kind of janitor. */
  public readonly janitorName = NAME;
  /** The id of the image (available by the time anything that uses it is deployed). */
  public readonly imageId: string;
  /** The image, for `LaunchTemplate` and `AutoScalingGroup`. */
  public readonly machineImage: ec2.IMachineImage;
  /** The ids of the image's snapshots. */
  public readonly snapshotIds: string[];
  /** The name EC2 gave the image (`imageName` plus the request suffix). */
  public readonly imageName: string;
  /** The custom resource. */
  public readonly resource: CustomResource;
  /** The provider function the stack's AmiManagers share (onEvent, and isComplete through an alias). */
  public readonly handler: lambda.IFunction;
  /** The topic that receives the reports of this image's creation, changes and deletion, and the alarms. */
  public readonly topic: sns.ITopic;
  /** Alarms on the shared function's errors and throttles; they notify `topic`. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** The shared function's log group. */
  public readonly logGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: AmiManagerProps) {
    validateProps(props);
    super(scope, id);

    const instanceId = props.instance?.instanceId ?? props.instanceId!;
    this.topic = resolveTopic(this, props.topic, 'fleet-janitor AmiManager reports');
    const provider = AmiManagerProvider.of(this, props);
    provider.addUser(instanceId, props.stopInstanceAfterImage ?? false, this.topic);
    this.handler = provider.handler.function;
    this.logGroup = provider.handler.logGroup;
    this.alarms = provider.alarms;

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const imageName = props.imageName ?? defaultImageName(this);
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.provider.serviceToken,
      resourceType: AMI_RESOURCE_TYPE,
      properties: {
        [P.instanceId]: instanceId,
        [P.imageName]: imageName,
        // An unset description is left out of the template (CloudFormation properties drop undefined).
        [P.description]: props.description,
        [P.reboot]: String(props.reboot ?? false),
        [P.tags]: props.tags ?? {},
        ...(props.deprecateAfter ? { [P.deprecateAfterSeconds]: envNumber(props.deprecateAfter.toSeconds()) } : {}),
        [P.shareWithAccounts]: props.shareWithAccounts ?? [],
        [P.stopInstanceAfterImage]: String(props.stopInstanceAfterImage ?? false),
        [P.removalPolicy]: removalPolicy === RemovalPolicy.RETAIN ? 'retain' : 'destroy',
        [P.timeoutSeconds]: envNumber((props.timeout ?? DEFAULT_TIMEOUT).toSeconds()),
        [P.topicArn]: this.topic.topicArn,
      },
    });
    if (props.instance) this.resource.node.addDependency(props.instance);

    this.imageId = this.resource.ref;
    this.imageName = this.resource.getAttString('ImageName');
    this.snapshotIds = Fn.split(',', this.resource.getAttString('SnapshotIds'));
    const osType = props.instance instanceof ec2.Instance ? props.instance.osType : ec2.OperatingSystemType.LINUX;
    this.machineImage = new BakedImage(this.imageId, osType);
  }
}

/** The baked image as an `IMachineImage`, with the user data of its operating system. */
class BakedImage implements ec2.IMachineImage {
  constructor(private readonly imageId: string, private readonly osType: ec2.OperatingSystemType) {}

  public getImage(_scope: Construct): ec2.MachineImageConfig {
    return {
      imageId: this.imageId,
      osType: this.osType,
      userData: this.osType === ec2.OperatingSystemType.WINDOWS ? ec2.UserData.forWindows() : ec2.UserData.forLinux(),
    };
  }
}

/** The construct path with a hash of it: letters, digits and dashes, at least 8 characters (the hash). */
function defaultImageName(scope: Construct): string {
  return Names.uniqueResourceName(scope, { maxLength: AMI_LIMITS.imageNameMax, separator: '-' });
}

function validateProps(props: AmiManagerProps): void {
  if ((props.instance === undefined) === (props.instanceId === undefined)) {
    fail(NAME, 'instance', props.instance ? props.instance.node.path : undefined, 'give exactly one of instance and instanceId');
  }
  const instanceId = props.instanceId;
  if (instanceId !== undefined && !Token.isUnresolved(instanceId) && !INSTANCE_ID_PATTERN.test(instanceId)) {
    fail(NAME, 'instanceId', instanceId, 'must be an EC2 instance id such as i-0123456789abcdef0');
  }
  const name = props.imageName;
  if (name !== undefined && !Token.isUnresolved(name)) {
    if (name.length < AMI_LIMITS.imageNameMin || name.length > AMI_LIMITS.imageNameMax) {
      fail(NAME, 'imageName', name, `must have ${AMI_LIMITS.imageNameMin} to ${AMI_LIMITS.imageNameMax} characters (EC2 allows 128; 9 are the request suffix)`);
    }
    if (!IMAGE_NAME_PATTERN.test(name)) fail(NAME, 'imageName', name, 'EC2 allows only letters, digits and ( ) [ ] space . / - \' @ _ in an image name');
  }
  const description = props.description;
  if (description !== undefined && !Token.isUnresolved(description) && description.length > AMI_LIMITS.descriptionMax) {
    fail(NAME, 'description', description, `must have at most ${AMI_LIMITS.descriptionMax} characters`);
  }
  checkTagMap(NAME, 'tags', props.tags);
  for (const key of Object.keys(props.tags ?? {})) {
    if (key.startsWith(OWNERSHIP_TAG_PREFIX)) fail(NAME, 'tags', key, `keys starting with "${OWNERSHIP_TAG_PREFIX}" are reserved for the ownership tags`);
    if (/^aws:/i.test(key)) fail(NAME, 'tags', key, 'keys starting with "aws:" are reserved by AWS');
  }
  if (Object.keys(props.tags ?? {}).length > AMI_LIMITS.tagsMax) {
    fail(NAME, 'tags', Object.keys(props.tags!).length, `at most ${AMI_LIMITS.tagsMax} tags (EC2 allows 50; 4 are the ownership tags)`);
  }
  checkDuration(NAME, 'deprecateAfter', props.deprecateAfter, {
    min: Duration.seconds(AMI_LIMITS.deprecateAfterSecondsMin), max: Duration.seconds(AMI_LIMITS.deprecateAfterSecondsMax),
  });
  checkDuration(NAME, 'timeout', props.timeout, {
    min: Duration.seconds(AMI_LIMITS.timeoutSecondsMin), max: Duration.seconds(AMI_LIMITS.timeoutSecondsMax),
  });
  const accounts = [...new Set(props.shareWithAccounts ?? [])];
  for (const account of accounts) {
    if (!Token.isUnresolved(account) && !ACCOUNT_ID_PATTERN.test(account)) fail(NAME, 'shareWithAccounts', account, 'an account id is 12 digits');
  }
  if (accounts.length > AMI_LIMITS.shareWithAccountsMax) {
    fail(NAME, 'shareWithAccounts', accounts.length, `at most ${AMI_LIMITS.shareWithAccountsMax} accounts`);
  }
  if (props.removalPolicy !== undefined && props.removalPolicy !== RemovalPolicy.DESTROY && props.removalPolicy !== RemovalPolicy.RETAIN) {
    fail(NAME, 'removalPolicy', props.removalPolicy, 'must be RemovalPolicy.DESTROY or RemovalPolicy.RETAIN');
  }
  checkFunctionProps(NAME, props);
}
