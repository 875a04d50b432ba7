/**
 * AmiManager: the requests CloudFormation sends the custom resource over an image's life, each
 * handled the way the CDK provider framework does (onEvent, then isComplete until done), with the
 * shipped bundle against moto. moto keeps a new image `pending` for its first describes (the test
 * launcher's MOTO_AMI_PENDING_DESCRIBES, default 2), so a create takes three isComplete polls.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AmiManager } from '../../src';
import {
  cfnEvent, Deployment, frameworkRequest, launchInstance, newStackId, processPerCallInvoker, Properties, ResourceIdentity, synthesizedProperties,
} from '../../test/emulator/ami-manager-harness';
import type { BenchScenario, LifecycleContext, LifecycleStep } from '../scenario';

const SHARED_WITH = ['111111111111', '222222222222'];
const VOLUMES = 3;

export const amiManager: BenchScenario = {
  name: 'AmiManager',
  bundle: 'ami-manager',

  exampleStack(stack: Stack, topic: sns.ITopic): void {
    new AmiManager(stack, 'GoldenAmi', { instanceId: 'i-0123456789abcdef0', topic });
  },

  lifecycle: {
    description: `an image of a running instance with ${VOLUMES} EBS volumes, created with the defaults, then with sharing to `
      + `${SHARED_WITH.length} accounts and deprecation; one tag changed in place; deleted.`,
    minimumRationale: 'a create needs 1 CreateImage (tags on image and snapshots in the same call) and one DescribeImages per '
      + 'isComplete poll (ceil(wait / poll interval)); sharing adds 1 ModifyImageAttribute (all accounts in one call) and 1 '
      + 'ModifySnapshotAttribute per snapshot, deprecation 1 EnableImageDeprecation; an in-place retag needs the image\'s snapshot ids '
      + '(1 DescribeImages) and 1 CreateTags for the image and all its snapshots; a delete needs 1 DeregisterImage (with '
      + 'DeleteAssociatedSnapshots) and 1 DescribeSnapshots to verify nothing is left. Every operation that changes something '
      + 'publishes 1 report. The handler\'s extra call: the delete\'s DescribeImages, which proves the image carries this '
      + 'resource\'s ownership tags before anything is deleted and reads its snapshot ids. (The isComplete the framework calls '
      + 'after an in-place update gets the image\'s data from onEvent and makes no call.)',
    originals: 'the AWS DevOps blog\'s function made 1 CreateImage, then polled DescribeImages from inside one invocation until '
      + 'the image was available, then 1 CreateTags for the image only (its snapshots stay untagged, and the image is untagged '
      + 'until then); its delete was 1 DeregisterImage and no snapshot call, so each of the '
      + `${VOLUMES} snapshots leaks; the widely copied variant deleted the first snapshot only (${VOLUMES - 1} leak per image).`,
    measure: measureAmiLifecycle,
  },
};

async function measureAmiLifecycle(ctx: LifecycleContext): Promise<LifecycleStep[]> {
  const instanceId = await launchInstance(ctx.aws.ec2);
  const invoker = processPerCallInvoker(ctx.proxyEndpoint);
  const steps: LifecycleStep[] = [];
  const run = async (operation: string, event: ReturnType<typeof cfnEvent>, minimum: (d: Deployment) => Record<string, number>) => {
    ctx.reset();
    const deployment = await frameworkRequest(invoker, event);
    if (!deployment.ok) throw new Error(`AmiManager ${operation}: ${deployment.failedIn} failed: ${deployment.message}`);
    const invocations = 1 + deployment.polls;
    steps.push({ operation, invocations, calls: ctx.counts(), minimum: minimum(deployment) });
    ctx.log(`  AmiManager: ${operation}: ${invocations} invocations, ${Object.values(ctx.counts()).reduce((a, b) => a + b, 0)} requests`);
    return deployment;
  };
  const who = (name: string): ResourceIdentity => ({ stackId: newStackId(name), logicalId: 'GoldenAmi' });

  const plain = synthesizedProperties({ instanceId }, ctx.topicArn, 'BenchPlain');
  await run('create, defaults', cfnEvent(who('BenchPlain'), 'Create', plain), (d) => ({
    'ec2:CreateImage': 1, 'ec2:DescribeImages': d.polls, 'sns:Publish': 1,
  }));

  const resource = who('BenchShared');
  const shared: Properties = synthesizedProperties({ instanceId, shareWithAccounts: SHARED_WITH, deprecateAfter: Duration.days(90), tags: { team: 'web' } },
    ctx.topicArn, 'BenchShared');
  const created = await run(`create, shared with ${SHARED_WITH.length} accounts, deprecated`, cfnEvent(resource, 'Create', shared), (d) => ({
    'ec2:CreateImage': 1,
    'ec2:DescribeImages': d.polls,
    'ec2:ModifyImageAttribute': 1,
    'ec2:ModifySnapshotAttribute': VOLUMES,
    'ec2:EnableImageDeprecation': 1,
    'sns:Publish': 1,
  }));
  const imageId = created.physicalResourceId!;

  const retagged: Properties = { ...shared, Tags: { team: 'web-platform' } };
  await run('update in place, one tag', cfnEvent(resource, 'Update', retagged, { physicalResourceId: imageId, oldProperties: shared }), () => ({
    'ec2:DescribeImages': 1, 'ec2:CreateTags': 1, 'sns:Publish': 1,
  }));

  await run(`delete, ${VOLUMES} snapshots`, cfnEvent(resource, 'Delete', retagged, { physicalResourceId: imageId }), () => ({
    'ec2:DeregisterImage': 1, 'ec2:DescribeSnapshots': 1, 'sns:Publish': 1,
  }));
  await invoker.stop();
  return steps;
}
