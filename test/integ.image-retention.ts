/*
 * Integration test for ImageRetention, run by integ-runner (never by jest: it matches *.test.ts only).
 *
 * Offline, `npx projen integ:snapshot` synthesizes this app and compares it with the committed
 * snapshot in integ.image-retention.ts.snapshot/. With AWS credentials, `integ-runner
 * --update-on-failed --force` deploys it and runs the assertions below (see the README).
 *
 * The stack has one ECR repository of its own and an ImageRetention that deletes every image of it
 * that nothing runs (keepNewest 0, minAge 0, no tag pattern). The assertions push one small image
 * through the registry API (a config blob and an OCI manifest with no layers: no Docker needed),
 * invoke the handler, and check that the image is gone. The handler's grants reach this repository
 * only; task definitions are not enabled (they would be account-wide), and it only reads what runs
 * in the account. The stack is environment-agnostic: nothing is looked up at synth.
 */
import { createHash } from 'crypto';
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicies, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { ImageRetention, RetentionAction } from '../src';

/** The smallest image config a registry takes; its digest is computed here, so the manifest is fixed. */
const CONFIG = JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
const CONFIG_DIGEST = `sha256:${createHash('sha256').update(CONFIG).digest('hex')}`;
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG_DIGEST, size: Buffer.byteLength(CONFIG) },
  layers: [],
});
const TAG = 'integ-unused';

// No creation stack traces in the snapshot's metadata: they hold this machine's file paths.
const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'FleetJanitorImageRetentionInteg', {
  description: 'cdk-fleet-janitor integration test: ImageRetention deletes an unused image from its own repository (safe to delete)',
});

const repository = new ecr.Repository(stack, 'Repository', { removalPolicy: RemovalPolicy.DESTROY, emptyOnDelete: true });

const retention = new ImageRetention(stack, 'ImageRetention', {
  repositories: [repository],
  keepNewest: 0,
  minAge: Duration.seconds(0),
  keepTagPatterns: [],
  action: RetentionAction.DELETE,
});
// The assertions invoke the function themselves; a scheduled run could delete the image first.
(retention.schedule.node.defaultChild as scheduler.CfnSchedule).state = 'DISABLED';

// Leave nothing behind on destroy: the topic's KMS key and the log group are retained by default.
RemovalPolicies.of(stack).destroy();

const integ = new IntegTest(app, 'ImageRetentionIntegTest', {
  testCases: [stack],
  // Stateful (it deletes what it pushed): an update of the previous snapshot would have nothing to delete.
  stackUpdateWorkflow: false,
});

const repositoryName = repository.repositoryName;
const upload = integ.assertions.awsApiCall('ECR', 'initiateLayerUpload', { repositoryName });
const uploadId = upload.getAttString('uploadId');

// 1. Push the image: its config blob, then the manifest, tagged.
upload
  .next(integ.assertions.awsApiCall('ECR', 'uploadLayerPart', {
    repositoryName, uploadId, partFirstByte: 0, partLastByte: Buffer.byteLength(CONFIG) - 1, layerPartBlob: CONFIG,
  }))
  .next(integ.assertions.awsApiCall('ECR', 'completeLayerUpload', { repositoryName, uploadId, layerDigests: [CONFIG_DIGEST] }))
  .next(integ.assertions.awsApiCall('ECR', 'putImage', {
    repositoryName, imageManifest: MANIFEST, imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json', imageTag: TAG,
  }))
  // 2. One run deletes it: nothing runs it, and nothing else keeps it.
  .next(integ.assertions
    .invokeFunction({ functionName: retention.handler.functionName, payload: JSON.stringify({ source: 'integ.image-retention' }) })
    .expect(ExpectedResult.objectLike({
      Payload: Match.serializedJson(Match.objectLike({
        status: 'SUCCEEDED',
        dryRun: false,
        counts: Match.objectLike({ actionsTaken: 1, actionsFailed: 0 }),
        entries: [Match.objectLike({ resourceType: 'image', action: 'DELETE', outcome: 'DONE' })],
      })),
    })))
  // 3. ECR agrees: the repository is empty.
  .next(integ.assertions
    .awsApiCall('ECR', 'describeImages', { repositoryName })
    .expect(ExpectedResult.objectLike({ imageDetails: [] })));

app.synth();
