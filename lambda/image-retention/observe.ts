import {
  BatchGetImageCommand, DescribeRepositoriesCommand, ECRClient, GetRepositoryPolicyCommand, ImageDetail,
  ListTagsForResourceCommand, paginateDescribeImages, paginateDescribeRepositories, Repository,
} from '@aws-sdk/client-ecr';
import type { ImageRetentionConfig } from './config';
import { ECR_DESCRIBE_PAGE_MAX, ECR_IMAGE_BATCH_MAX, ECR_REPOSITORY_NAMES_MAX, OPT_IN_TAG_KEY, OPT_IN_TAG_VALUE } from '../../src/image-retention/contract';
import { chunk } from '../shared/batch';
import { errorCode } from '../shared/errors';
import { collectPages } from '../shared/paginate';
import { retryTransient } from '../shared/retry';

/*
 * The repositories in scope and every image in them, with what their manifests say about one
 * another: which manifests an image index lists, and which image a referrer (signature, SBOM,
 * attestation) is about.
 */

export interface ObservedImage {
  readonly digest: string;
  readonly tags: readonly string[];
  readonly pushedAt?: Date;
  readonly sizeBytes: number;
  readonly mediaType?: string;
  readonly artifactMediaType?: string;
}

export interface ObservedRepository {
  readonly name: string;
  readonly arn: string;
  readonly uri: string;
  readonly protected: boolean;
  readonly images: readonly ObservedImage[];
  /** Image index digest → the manifests it lists. */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Referrer digest → the digest of its subject (from the manifest's `subject`). */
  readonly subjects: ReadonlyMap<string, string>;
}

/** A repository that could not be read: nothing in it is touched this run. */
export interface UnreadRepository {
  readonly name: string;
  readonly errorCode: string;
  readonly message: string;
}

export const INDEX_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
/** Docker's manifest formats have no `subject` field (OCI 1.1 added it): such an image is never a referrer. */
const NO_SUBJECT_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);
const MANIFEST_MEDIA_TYPES = [...INDEX_MEDIA_TYPES, 'application/vnd.oci.image.manifest.v1+json', ...NO_SUBJECT_MEDIA_TYPES];
/** Config media types of container images: any other artifact type may be a referrer. */
const IMAGE_CONFIG_MEDIA_TYPES = new Set([
  'application/vnd.docker.container.image.v1+json',
  'application/vnd.oci.image.config.v1+json',
]);

/** A repository with its tags. */
export type TaggedRepository = Repository & { tags: Record<string, string> };

export interface RepositoriesInScope {
  readonly repositories: TaggedRepository[];
  /** Configured names with no repository behind them. */
  readonly missing: string[];
}

/** The repositories in scope: the configured names, or every repository tagged for opt-in. */
export async function listRepositories(ecr: ECRClient, config: ImageRetentionConfig): Promise<RepositoriesInScope> {
  const { repositories, missing } = config.repositories
    ? await describeNamed(ecr, config.repositories)
    : {
      repositories: (await collectPages(
        (startingToken) => paginateDescribeRepositories({ client: ecr, pageSize: ECR_DESCRIBE_PAGE_MAX, startingToken }, {}),
        (page) => page.nextToken,
        (page) => page.repositories ?? [],
      )).items,
      missing: [],
    };
  const tagged = [];
  for (const repository of repositories) {
    const out = await retryTransient(() => ecr.send(new ListTagsForResourceCommand({ resourceArn: repository.repositoryArn })));
    const tags = Object.fromEntries((out.tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    if (config.repositories || tags[OPT_IN_TAG_KEY] === OPT_IN_TAG_VALUE) tagged.push({ ...repository, tags });
  }
  return { repositories: tagged, missing };
}

/**
 * Repositories by name, up to 100 names per call. A call that names a missing repository fails as a
 * whole, so its names are then asked one at a time: the others are still found.
 */
async function describeNamed(ecr: ECRClient, names: readonly string[]): Promise<{ repositories: Repository[]; missing: string[] }> {
  const repositories: Repository[] = [];
  const missing: string[] = [];
  const describe = async (batch: string[]): Promise<void> => {
    try {
      const out = await retryTransient(() => ecr.send(new DescribeRepositoriesCommand({ repositoryNames: batch })));
      repositories.push(...(out.repositories ?? []));
    } catch (error) {
      if (errorCode(error) !== 'RepositoryNotFoundException') throw error;
      if (batch.length === 1) missing.push(batch[0]);
      else for (const name of batch) await describe([name]);
    }
  };
  for (const batch of chunk(names, ECR_REPOSITORY_NAMES_MAX)) await describe(batch);
  return { repositories, missing };
}

/** Every image of one repository, and the manifests that link them. */
export async function observeRepository(ecr: ECRClient, repository: TaggedRepository, protectionTagKey: string): Promise<ObservedRepository> {
  const name = repository.repositoryName!;
  const details = await collectPages(
    (startingToken) => paginateDescribeImages({ client: ecr, pageSize: ECR_DESCRIBE_PAGE_MAX, startingToken }, { repositoryName: name }),
    (page) => page.nextToken,
    (page) => page.imageDetails ?? [],
  );
  const images = details.items.filter((d): d is ImageDetail & { imageDigest: string } => typeof d.imageDigest === 'string').map(toImage);
  const children = new Map<string, string[]>();
  const subjects = new Map<string, string>();
  // First the indexes (their children are then known), then the images that may be referrers:
  // untagged ones that are no index's child, and any whose artifact is not a container image.
  const indexes = images.filter((i) => INDEX_MEDIA_TYPES.has(i.mediaType ?? ''));
  await readManifests(ecr, name, indexes.map((i) => i.digest), (digest, manifest) => {
    children.set(digest, (manifest.manifests ?? []).map((m) => m.digest).filter((d): d is string => typeof d === 'string'));
    if (manifest.subject?.digest) subjects.set(digest, manifest.subject.digest);
  });
  const listed = new Set([...children.values()].flat());
  const mayRefer = images.filter((i) => !INDEX_MEDIA_TYPES.has(i.mediaType ?? '') && !NO_SUBJECT_MEDIA_TYPES.has(i.mediaType ?? '')
    && !listed.has(i.digest)
    && (i.tags.length === 0 || (i.artifactMediaType !== undefined && !IMAGE_CONFIG_MEDIA_TYPES.has(i.artifactMediaType))));
  await readManifests(ecr, name, mayRefer.map((i) => i.digest), (digest, manifest) => {
    if (manifest.subject?.digest) subjects.set(digest, manifest.subject.digest);
  });
  return {
    name,
    arn: repository.repositoryArn!,
    uri: repository.repositoryUri!,
    protected: Object.prototype.hasOwnProperty.call(repository.tags, protectionTagKey),
    images,
    children,
    subjects,
  };
}

interface Manifest {
  readonly manifests?: ReadonlyArray<{ readonly digest?: unknown }>;
  readonly subject?: { readonly digest?: string };
}

/**
 * BatchGetImage, 100 digests per call. A manifest that cannot be read leaves the repository's
 * structure unknown (an unread index could be hiding the children it lists), so it fails the repository.
 */
async function readManifests(
  ecr: ECRClient,
  repositoryName: string,
  digests: string[],
  use: (digest: string, manifest: Manifest) => void,
): Promise<void> {
  for (const batch of chunk(digests, ECR_IMAGE_BATCH_MAX)) {
    const out = await retryTransient(() => ecr.send(new BatchGetImageCommand({
      repositoryName,
      imageIds: batch.map((imageDigest) => ({ imageDigest })),
      acceptedMediaTypes: MANIFEST_MEDIA_TYPES,
    })));
    // An image deleted since the listing has nothing left to protect or to link.
    const failed = (out.failures ?? []).filter((f) => f.failureCode !== 'ImageNotFound');
    if (failed.length > 0) {
      throw new Error(`BatchGetImage could not read ${failed.length} manifest(s) of ${repositoryName}: ${failed.map((f) => `${f.imageId?.imageDigest} ${f.failureCode}`).join(', ')}`);
    }
    for (const image of out.images ?? []) {
      const digest = image.imageId?.imageDigest;
      if (!digest || !image.imageManifest) continue;
      let manifest: Manifest;
      try {
        manifest = JSON.parse(image.imageManifest) as Manifest;
      } catch {
        throw new Error(`the manifest of ${repositoryName}@${digest} is not JSON`);
      }
      use(digest, manifest);
    }
  }
}

function toImage(d: ImageDetail & { imageDigest: string }): ObservedImage {
  return {
    digest: d.imageDigest,
    tags: d.imageTags ?? [],
    pushedAt: d.imagePushedAt,
    sizeBytes: d.imageSizeInBytes ?? 0,
    mediaType: d.imageManifestMediaType,
    artifactMediaType: d.artifactMediaType,
  };
}

/**
 * Whether an account may pull from a repository, by the repository's policy: no policy means only
 * this account; a policy that cannot be read or understood means it may.
 */
export async function mayPull(ecr: ECRClient, repositoryName: string, account: string): Promise<boolean> {
  let text: string | undefined;
  try {
    text = (await retryTransient(() => ecr.send(new GetRepositoryPolicyCommand({ repositoryName })))).policyText;
  } catch (error) {
    if (errorCode(error) === 'RepositoryPolicyNotFoundException') return false;
    return true;
  }
  return policyMayGrant(text, account);
}

const PULL_ACTIONS = ['ecr:batchgetimage', 'ecr:getdownloadurlforlayer'];

/** Whether a repository policy has an Allow statement that could let `account` pull. Unparseable: yes. */
export function policyMayGrant(policyText: string | undefined, account: string): boolean {
  if (!policyText) return false;
  let policy: { Statement?: unknown };
  try {
    policy = JSON.parse(policyText) as { Statement?: unknown };
  } catch {
    return true;
  }
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  return statements.some((s) => {
    if (!s || typeof s !== 'object') return false;
    const st = s as { Effect?: unknown; Action?: unknown; NotAction?: unknown; Principal?: unknown; NotPrincipal?: unknown };
    if (st.Effect !== 'Allow') return false;
    if (st.NotAction !== undefined || st.NotPrincipal !== undefined) return true;
    const actions = (Array.isArray(st.Action) ? st.Action : [st.Action]).map((a) => String(a).toLowerCase());
    const pulls = actions.some((a) => a === '*' || a === 'ecr:*' || PULL_ACTIONS.includes(a) || (/[*?]/.test(a) && PULL_ACTIONS.some((p) => globMatch(a, p))));
    return pulls && principalMayBe(st.Principal, account);
  });
}

function principalMayBe(principal: unknown, account: string): boolean {
  if (principal === '*') return true;
  if (!principal || typeof principal !== 'object') return false;
  // A service principal (lambda.amazonaws.com pulling for a function) acts for whichever account its conditions name.
  if ((principal as { Service?: unknown }).Service !== undefined) return true;
  const aws = (principal as { AWS?: unknown }).AWS;
  if (aws === undefined) return false;
  return (Array.isArray(aws) ? aws : [aws]).some((p) => p === '*' || p === account || (typeof p === 'string' && p.includes(`:${account}:`)));
}

function globMatch(pattern: string, value: string): boolean {
  const source = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`).test(value);
}
