import { BatchDeleteImageCommand, ECRClient } from '@aws-sdk/client-ecr';
import { DeleteTaskDefinitionsCommand, DeregisterTaskDefinitionCommand, ECSClient, ListTagsForResourceCommand } from '@aws-sdk/client-ecs';
import type { ImagePlanItem } from './decide';
import { imageEntry } from './entries';
import type { RevisionPlanItem } from './task-definitions';
import { ECR_IMAGE_BATCH_MAX, ECS_DELETE_TASK_DEFINITIONS_MAX, RetentionActionName } from '../../src/image-retention/contract';
import { chunk } from '../shared/batch';
import { errorCode, errorMessage } from '../shared/errors';
import type { Pacer } from '../shared/pace';
import type { Outcome, ReportEntry } from '../shared/report';
import { retryTransient } from '../shared/retry';

export interface ActOptions {
  readonly action: RetentionActionName;
  readonly dryRun: boolean;
}

/** The outcome of a planned deletion that is not carried out: a dry run, or report-only. */
function notCarriedOut(options: ActOptions): Outcome | undefined {
  if (options.action === 'REPORT') return 'REPORTED';
  return options.dryRun ? 'DRY_RUN' : undefined;
}

/** Evidence that an image was already gone when this run asked to delete it. */
export const IMAGE_GONE = 'ImageNotFound';

/**
 * Deletes the planned images by digest, 100 per BatchDeleteImage, repository by repository and
 * phase by phase (indexes before their children, referrers before their subjects), and reports
 * every image. An image whose referencing index or referrer was not deleted is left for a later run.
 */
export async function actOnImages(
  ecr: ECRClient,
  items: readonly ImagePlanItem[],
  options: ActOptions,
  record: (entries: ReportEntry[]) => void,
): Promise<void> {
  record(items.filter((i) => i.disposition !== 'DELETE').map((i) => imageEntry(i, outcomeOf(i))));
  const planned = items.filter((i) => i.disposition === 'DELETE');
  const instead = notCarriedOut(options);
  if (instead) {
    record(planned.map((i) => imageEntry(i, instead)));
    return;
  }
  const byRepository = new Map<string, ImagePlanItem[]>();
  for (const item of planned) {
    if (!byRepository.has(item.repository)) byRepository.set(item.repository, []);
    byRepository.get(item.repository)!.push(item);
  }
  for (const [repositoryName, repositoryItems] of byRepository) {
    const phases = [...new Set(repositoryItems.map((i) => i.phase))].sort((a, b) => a - b);
    let notDeleted = false;
    for (const phase of phases) {
      const inPhase = repositoryItems.filter((i) => i.phase === phase);
      if (notDeleted) {
        // Something that references these images is still there: ECR would refuse some, and the rest would be orphaned.
        record(inPhase.map((i) => ({ ...imageEntry(i, 'FAILED', 'NotAttempted'), reason: `${imageEntry(i, 'FAILED').reason}; not attempted: an image that references it in this repository could not be deleted` })));
        continue;
      }
      for (const batch of chunk(inPhase, ECR_IMAGE_BATCH_MAX)) {
        const results = await deleteBatch(ecr, repositoryName, batch.map((i) => i.image.digest));
        record(batch.map((item) => {
          const result = results.get(item.image.digest);
          if (result === undefined) return imageEntry(item, 'DONE');
          // Gone already (another run, a retried call whose first answer was lost, or a person): nothing left to delete.
          if (result.code === IMAGE_GONE) return imageEntry(item, 'DONE');
          notDeleted = true;
          return imageEntry(item, 'FAILED', result.code);
        }));
      }
    }
  }
}

/** Digest → failure of one BatchDeleteImage call; a digest not in the map was deleted. */
async function deleteBatch(ecr: ECRClient, repositoryName: string, digests: string[]): Promise<Map<string, { code: string; message?: string }>> {
  const failures = new Map<string, { code: string; message?: string }>();
  try {
    const imageIds = digests.map((imageDigest) => ({ imageDigest }));
    const out = await retryTransient(() => ecr.send(new BatchDeleteImageCommand({ repositoryName, imageIds })));
    for (const failure of out.failures ?? []) {
      const digest = failure.imageId?.imageDigest;
      if (digest) failures.set(digest, { code: failure.failureCode ?? 'UnknownError', message: failure.failureReason });
    }
    // ECR names every id it deleted; one it neither deleted nor refused was not handled.
    const deleted = new Set((out.imageIds ?? []).map((id) => id.imageDigest));
    for (const digest of digests) if (!deleted.has(digest) && !failures.has(digest)) failures.set(digest, { code: 'NotReported' });
  } catch (error) {
    for (const digest of digests) failures.set(digest, { code: errorCode(error), message: errorMessage(error) });
  }
  return failures;
}

function outcomeOf(item: ImagePlanItem): Outcome {
  if (item.disposition === 'PROTECTED') return 'SKIPPED_PROTECTED';
  if (item.disposition === 'CAP') return 'SKIPPED_CAP';
  return 'KEPT';
}

export interface RevisionEntryInput {
  readonly item: RevisionPlanItem;
  readonly outcome: Outcome;
  readonly errorCode?: string;
}

/**
 * Deregisters or deletes the planned task definition revisions, paced under ECS's limits, after
 * checking that none carries the protection tag. Each revision's outcome goes to `record`.
 */
export async function actOnRevisions(
  ecs: ECSClient,
  items: readonly RevisionPlanItem[],
  options: ActOptions & { readonly protectionTagKey: string; readonly pacer: Pacer },
  record: (results: RevisionEntryInput[]) => void,
): Promise<void> {
  record(items.filter((i) => i.disposition !== 'ACT').map((item) => ({ item, outcome: item.disposition === 'CAP' ? 'SKIPPED_CAP' : 'KEPT' })));
  const planned: RevisionPlanItem[] = [];
  for (const item of items.filter((i) => i.disposition === 'ACT')) {
    try {
      const out = await retryTransient(() => ecs.send(new ListTagsForResourceCommand({ resourceArn: item.arn })));
      if ((out.tags ?? []).some((t) => t.key === options.protectionTagKey)) record([{ item, outcome: 'SKIPPED_PROTECTED' }]);
      else planned.push(item);
    } catch (error) {
      record([{ item, outcome: 'FAILED', errorCode: errorCode(error) }]);
    }
  }
  const instead = notCarriedOut(options);
  if (instead) {
    record(planned.map((item) => ({ item, outcome: instead })));
    return;
  }
  for (const item of planned.filter((i) => i.action === 'DEREGISTER')) {
    try {
      await retryTransient(async () => {
        await options.pacer.wait();
        return ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: item.arn }));
      });
      record([{ item, outcome: 'DONE' }]);
    } catch (error) {
      record([{ item, outcome: 'FAILED', errorCode: errorCode(error) }]);
    }
  }
  for (const batch of chunk(planned.filter((i) => i.action === 'DELETE'), ECS_DELETE_TASK_DEFINITIONS_MAX)) {
    try {
      const out = await retryTransient(async () => {
        await options.pacer.wait();
        return ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: batch.map((i) => i.arn) }));
      });
      const failed = new Map((out.failures ?? []).map((f) => [f.arn, f.reason ?? 'UnknownError']));
      record(batch.map((item) => (failed.has(item.arn) ? { item, outcome: 'FAILED', errorCode: failed.get(item.arn) } : { item, outcome: 'DONE' })));
    } catch (error) {
      record(batch.map((item) => ({ item, outcome: 'FAILED', errorCode: errorCode(error) })));
    }
  }
}
