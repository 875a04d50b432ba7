import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { IS_COMPLETE_ALIAS, OWNERSHIP_TAG_PREFIX, OWNERSHIP_TAGS } from './contract';
import { createFailureAlarms } from '../common/alarms';
import { JanitorFunctionProps } from '../common/common-props';
import { HandlerFunction } from '../common/handler-function';
import { createLogGroup } from '../common/log-group';
import { acknowledgeNagFindings, resourceFinding } from '../common/nag';
import { grantPublish } from '../common/notifications';
import { acknowledgeProviderFramework } from '../common/provider-framework';

const NAME = 'AmiManager';
/** The provider's construct id, a child of the stack: one per stack, shared by every AmiManager in it. */
export const PROVIDER_ID = 'FleetJanitorAmiManagerProvider';
/** How often the framework asks isComplete; AMIs take minutes, so a poll every 30 s costs little latency. */
export const QUERY_INTERVAL = Duration.seconds(30);
/** CloudFormation waits at most an hour for a custom resource. */
export const TOTAL_TIMEOUT = Duration.hours(1);
/** The handler's calls are short: no call waits for an image. */
const FUNCTION_TIMEOUT = Duration.minutes(2);

/** The function props that must be the same for every AmiManager in a stack (they share the function). */
const SHARED_PROPS: ReadonlyArray<keyof JanitorFunctionProps> = [
  'logRetention', 'logEncryptionKey', 'tracing', 'vpc', 'vpcSubnets', 'securityGroups', 'environmentEncryptionKey', 'memorySize',
];

/**
 * The custom resource provider of a stack's AmiManagers: one function (onEvent, and isComplete
 * through an alias), the CDK provider framework around it, its alarms, and the permissions the
 * stack's AmiManagers need. Its destructive permissions are scoped to images and snapshots tagged
 * with this stack's id: the handler also checks the logical id of each resource.
 */
export class AmiManagerProvider extends Construct {
  /** The provider of `scope`'s stack, created by its first AmiManager. */
  public static of(scope: Construct, props: JanitorFunctionProps): AmiManagerProvider {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild(PROVIDER_ID) as AmiManagerProvider | undefined;
    if (!existing) return new AmiManagerProvider(stack, PROVIDER_ID, props);
    existing.checkSameFunctionProps(scope, props);
    return existing;
  }

  public readonly handler: HandlerFunction;
  public readonly provider: cr.Provider;
  public readonly alarms: cloudwatch.Alarm[];
  private readonly props: JanitorFunctionProps;
  private readonly createImageStatement: iam.PolicyStatement;
  private stopStatement?: iam.PolicyStatement;
  private readonly topics = new Set<string>();

  private constructor(stack: Stack, id: string, props: JanitorFunctionProps) {
    super(stack, id);
    this.props = props;
    this.handler = new HandlerFunction(this, 'Handler', {
      bundle: 'ami-manager',
      serviceName: NAME,
      description: 'cdk-fleet-janitor AmiManager: bakes AMIs for CloudFormation and deletes them with every snapshot',
      common: { ...props, timeout: FUNCTION_TIMEOUT },
      // The provider framework invokes it synchronously and reports a failure to CloudFormation.
      invokedAsynchronously: false,
      environment: {},
    });
    // A new version per code change; the one it replaces is deleted once the alias has moved.
    const version = this.handler.function.currentVersion;
    version.applyRemovalPolicy(RemovalPolicy.DESTROY);
    const isComplete = new lambda.Alias(this, 'IsComplete', { aliasName: IS_COMPLETE_ALIAS, version });

    const frameworkLogs = createLogGroup(this, 'FrameworkLogGroup', { retention: props.logRetention, encryptionKey: props.logEncryptionKey });
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler.function,
      isCompleteHandler: isComplete,
      queryInterval: QUERY_INTERVAL,
      totalTimeout: TOTAL_TIMEOUT,
      logGroup: frameworkLogs,
      waiterStateMachineLogOptions: { destination: frameworkLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      disableWaiterStateMachineLogging: false,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      providerFunctionEnvEncryption: props.environmentEncryptionKey,
    });
    acknowledgeProviderFramework(this.provider, props.vpc !== undefined);

    const policy = this.handler.policy;
    const ownStack = { StringEquals: { [`aws:ResourceTag/${OWNERSHIP_TAGS.stackId}`]: Aws.STACK_ID } };
    const images = stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: '*' });
    const snapshots = stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: '*' });
    policy.addStatements(new iam.PolicyStatement({
      sid: 'DescribeImages',
      actions: ['ec2:DescribeImages', 'ec2:DescribeImageAttribute', 'ec2:DescribeSnapshots'],
      resources: ['*'],
    }));
    this.createImageStatement = new iam.PolicyStatement({ sid: 'CreateImageFromInstances', actions: ['ec2:CreateImage'], resources: [] });
    policy.addStatements(this.createImageStatement);
    policy.addStatements(new iam.PolicyStatement({
      sid: 'CreateTaggedImages',
      actions: ['ec2:CreateImage'],
      resources: [images, snapshots],
      conditions: { StringEquals: { [`aws:RequestTag/${OWNERSHIP_TAGS.stackId}`]: Aws.STACK_ID } },
    }));
    policy.addStatements(new iam.PolicyStatement({
      sid: 'TagAtCreation',
      actions: ['ec2:CreateTags'],
      resources: [images, snapshots],
      conditions: { StringEquals: { 'ec2:CreateAction': 'CreateImage' } },
    }));
    policy.addStatements(new iam.PolicyStatement({
      sid: 'RetagOwnImages',
      actions: ['ec2:CreateTags', 'ec2:DeleteTags'],
      resources: [images, snapshots],
      conditions: { ...ownStack, 'ForAllValues:StringNotLike': { 'aws:TagKeys': [`${OWNERSHIP_TAG_PREFIX}*`] } },
    }));
    policy.addStatements(new iam.PolicyStatement({
      sid: 'ChangeOwnImages',
      actions: ['ec2:DeregisterImage', 'ec2:ModifyImageAttribute', 'ec2:EnableImageDeprecation', 'ec2:DisableImageDeprecation'],
      resources: [images],
      conditions: ownStack,
    }));
    policy.addStatements(new iam.PolicyStatement({
      sid: 'ChangeOwnSnapshots',
      actions: ['ec2:DeleteSnapshot', 'ec2:ModifySnapshotAttribute'],
      resources: [snapshots],
      conditions: ownStack,
    }));
    const ownership = `tagged ${OWNERSHIP_TAGS.stackId} = this stack's id`;
    acknowledgeNagFindings(policy, [
      { id: 'AwsSolutions-IAM5', reason: 'ec2:DescribeImages, ec2:DescribeImageAttribute, ec2:DescribeSnapshots: EC2 Describe actions support no resource-level permissions; read-only.', appliesTo: ['Resource::*'] },
      {
        id: 'AwsSolutions-IAM5',
        reason: `image/* and snapshot/*: the ids of the images and snapshots an AmiManager creates are not known in advance; CreateImage requires the request to carry the ${OWNERSHIP_TAGS.stackId} tag, CreateTags is only allowed as part of CreateImage or on resources ${ownership} (never an ownership tag), and deregistering, deleting, sharing and deprecating only on resources ${ownership}.`,
        appliesTo: [resourceFinding(this, images), resourceFinding(this, snapshots)],
      },
    ]);

    // Made before any AmiManager names its topic: each one adds its topic to their actions.
    const alarms = createFailureAlarms(this, this.handler.function, undefined, `${NAME} of stack ${stack.stackName}`);
    this.alarms = [alarms.errorAlarm, alarms.throttleAlarm];
  }

  /** Lets the stack's AmiManager at `scope` create images of `instanceId` (and stop it), and report to `topic`. */
  public addUser(instanceId: string, stopInstance: boolean, topic: sns.ITopic): void {
    const stack = Stack.of(this);
    const instanceArn = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: instanceId });
    this.createImageStatement.addResources(instanceArn);
    if (stopInstance) {
      if (!this.stopStatement) {
        this.stopStatement = new iam.PolicyStatement({ sid: 'StopSourceInstances', actions: ['ec2:StopInstances'], resources: [] });
        this.handler.policy.addStatements(this.stopStatement);
      }
      this.stopStatement.addResources(instanceArn);
    }
    const key = JSON.stringify(stack.resolve(topic.topicArn));
    if (!this.topics.has(key)) {
      this.topics.add(key);
      grantPublish(topic, this.handler.policy, this.topics.size === 1 ? '' : String(this.topics.size));
      for (const alarm of this.alarms) alarm.addAlarmAction(new actions.SnsAction(topic));
    }
  }

  private checkSameFunctionProps(scope: Construct, props: JanitorFunctionProps): void {
    for (const key of SHARED_PROPS) {
      if (!sameValue(props[key], this.props[key])) {
        throw new Error(`${NAME}: invalid ${String(key)} at ${scope.node.path}: the AmiManagers of a stack share one provider function, `
          + `so ${String(key)} must be the same for all of them (set by the first AmiManager of stack ${Stack.of(scope).stackName})`);
      }
    }
  }
}

/**
 * Equal props: the same construct (a VPC, a key, a security group), or lists and structs whose items
 * are. Python, Java and Go pass a new copy of a list or struct on every call, so identity alone would
 * refuse two AmiManagers given the same security groups.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  if (isPlainStruct(a) && isPlainStruct(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((key) => sameValue(a[key], b[key]));
  }
  return false;
}

function isPlainStruct(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
