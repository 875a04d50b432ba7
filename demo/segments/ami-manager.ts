/**
 * AmiManager end to end, on this machine: synthesize a stack with the construct, launch a source
 * instance with three EBS volumes on moto, and send the custom resource the requests CloudFormation
 * would over a stack's life (create, update in place, replace, delete), each the way the CDK
 * provider framework handles it: the shipped bundle's onEvent, then its isComplete until the image
 * is available. Prints the images and snapshots after each step and the notifications.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AmiManager } from '../../src';
import { AMI_RESOURCE_TYPE } from '../../src/ami-manager/contract';
import {
  cfnEvent, frameworkRequest, launchInstance, launchPermissions, newStackId, ownedImages, ownedSnapshots, processPerCallInvoker,
  Properties, ResourceIdentity, tagsOf,
} from '../../test/emulator/ami-manager-harness';
import { createTopicWithQueue, emulatorClients, readNotifications } from '../../test/emulator/fleet';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../../test/emulator/moto';
import { DemoContext, DemoSegment, describeResources, indent, requireBundle } from '../segment';

const STACK_NAME = 'AmiManagerDemo';

/** The app a platform team would write: a golden image shared with one account, deprecated after 90 days. */
function synthesize(outdir: string, instanceId: string, imageName: string, team: string): { template: any; properties: Properties } {
  const app = new App({ outdir });
  const stack = new Stack(app, STACK_NAME, { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  new AmiManager(stack, 'GoldenAmi', {
    instanceId,
    imageName,
    description: 'web tier golden image',
    tags: { team },
    deprecateAfter: Duration.days(90),
    shareWithAccounts: ['111111111111'],
    removalPolicy: RemovalPolicy.DESTROY,
    topic: new sns.Topic(stack, 'Reports'),
  });
  const template = app.synth().getStackByName(stack.stackName).template;
  const [, resource] = Object.entries<any>(template.Resources).find(([, r]) => r.Type === AMI_RESOURCE_TYPE)!;
  const { ServiceToken: _token, ...properties } = resource.Properties;
  return { template, properties };
}

/** The template's properties as CloudFormation sends them: the topic's Ref resolved to the demo topic. */
function resolved(properties: Properties, topicArn: string): Properties {
  return { ...properties, TopicArn: topicArn };
}

export const amiManager: DemoSegment = {
  name: 'AmiManager',
  description: 'bake an AMI from an instance as a custom resource: create, retag in place, replace, delete; no image or snapshot left',

  async run(ctx: DemoContext) {
    requireBundle('ami-manager');
    const aws = emulatorClients(ctx.endpoint);
    const instanceId = await launchInstance(aws.ec2);
    const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'ami-manager-demo');
    const v1 = synthesize(ctx.outdir, instanceId, 'web-golden', 'web');
    ctx.print(`Synthesized ${STACK_NAME}: ${describeResources(v1.template)}`);
    ctx.print(`Source instance ${instanceId} with 3 EBS volumes; topic ${topicArn}\n`);

    const who: ResourceIdentity = { stackId: newStackId(STACK_NAME), logicalId: 'GoldenAmi' };
    const invoker = processPerCallInvoker(ctx.endpoint);
    let failed = 0;
    const step = async (title: string, event: ReturnType<typeof cfnEvent>) => {
      const started = Date.now();
      const outcome = await frameworkRequest(invoker, event);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      ctx.print(`${title}: ${outcome.ok ? 'SUCCESS' : `FAILED (${outcome.message})`}, physical id ${outcome.physicalResourceId ?? '-'}, `
        + `${outcome.polls} isComplete poll(s), ${took} s`);
      if (!outcome.ok) {
        failed++;
        ctx.fail(`${title} failed: ${outcome.message}`);
      }
      await printState(ctx, aws.ec2, who);
      return outcome;
    };

    const props1 = resolved(v1.properties, topicArn);
    const created = await step('Create', cfnEvent(who, 'Create', props1));
    const imageId = created.physicalResourceId!;

    const retagged = resolved(synthesize(ctx.outdir, instanceId, 'web-golden', 'web-platform').properties, topicArn);
    await step('\nUpdate in place (tag team: web -> web-platform)', cfnEvent(who, 'Update', retagged, { physicalResourceId: imageId, oldProperties: props1 }));

    const renamed = resolved(synthesize(ctx.outdir, instanceId, 'web-golden-v2', 'web-platform').properties, topicArn);
    const replaced = await step('\nUpdate with replacement (imageName web-golden -> web-golden-v2)',
      cfnEvent(who, 'Update', renamed, { physicalResourceId: imageId, oldProperties: retagged }));
    await step(`\nCloudFormation's cleanup: Delete of the replaced ${imageId}`, cfnEvent(who, 'Delete', retagged, { physicalResourceId: imageId }));
    await step('\nStack deleted: Delete', cfnEvent(who, 'Delete', renamed, { physicalResourceId: replaced.physicalResourceId! }));

    const notifications = await readNotifications(aws.sqs, queueUrl);
    for (const n of notifications) ctx.print(`\nSNS notification\n  Subject: ${n.Subject}\n${indent(n.Message)}`);
    const leftImages = (await ownedImages(aws.ec2, who)).length;
    const leftSnapshots = (await ownedSnapshots(aws.ec2, who)).length;
    if (leftImages + leftSnapshots > 0) ctx.fail(`${leftImages} image(s) and ${leftSnapshots} snapshot(s) left behind`);
    return {
      templates: { [STACK_NAME]: v1.template },
      summary: `${failed === 0 ? 'SUCCEEDED' : `${failed} step(s) FAILED`}: 2 images baked, 1 retagged in place, both deleted; `
        + `${leftImages} images and ${leftSnapshots} snapshots left; ${notifications.length} notifications`,
    };
  },
};

async function printState(ctx: DemoContext, ec2: EC2Client, who: ResourceIdentity): Promise<void> {
  const images = await ownedImages(ec2, who);
  const snapshots = await ownedSnapshots(ec2, who);
  if (images.length === 0) ctx.print('  images: none');
  for (const image of images) {
    const tags = tagsOf(image.Tags);
    ctx.print(`  image ${image.ImageId} ${image.Name} ${image.State}; team=${tags.team ?? '-'}; deprecated from ${image.DeprecationTime ?? '-'}; `
      + `launch permission: ${(await launchPermissions(ec2, image.ImageId!)).join(', ') || '-'}`);
  }
  ctx.print(`  snapshots owned by the resource: ${snapshots.length}`
    + (snapshots.length ? ` (${snapshots.map((s) => `${s.SnapshotId} team=${tagsOf(s.Tags).team ?? '-'}`).join(', ')})` : ''));
}
