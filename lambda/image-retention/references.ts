import { IMAGE_DIGEST } from './config';

/*
 * Image references as ECS, Lambda and users write them, reduced to what retention needs: which of
 * our repositories, and a tag or a digest. Pure string work.
 */

/** An image named by a task, a service, a function or pinnedImages. */
export interface ImageReference {
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** Who names it, for the report: e.g. "ecs-service 111111111111/prod/web". */
  readonly usedBy: string;
}

/**
 * Parses `<registry>/<repository>[:tag][@sha256:…]` when `<registry>` is ours; undefined for any
 * other registry (Docker Hub, another account's ECR, another region) or a malformed reference.
 */
export function parseImageUri(uri: string, registry: string): { repository: string; tag?: string; digest?: string } | undefined {
  const slash = uri.indexOf('/');
  if (slash <= 0 || uri.slice(0, slash).toLowerCase() !== registry.toLowerCase()) return undefined;
  let rest = uri.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!IMAGE_DIGEST.test(digest)) return undefined;
  }
  // Repository names hold no ':', so one after the last '/' starts the tag.
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  const repository = colon >= 0 ? rest.slice(0, colon) : rest;
  const tag = colon >= 0 ? rest.slice(colon + 1) : undefined;
  if (repository === '' || tag === '') return undefined;
  // An image named without tag or digest is pulled as :latest.
  return { repository, ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}), ...(digest ? { digest } : {}) };
}

/** The registry host of a repository URI (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/name`). */
export function registryOf(repositoryUri: string): string {
  return repositoryUri.slice(0, repositoryUri.indexOf('/'));
}

/**
 * The subject a cosign-style tag points at: `sha256-<hex>.sig` (signatures), `.att` (attestations),
 * `.sbom` (SBOMs) name the image `sha256:<hex>`.
 */
export function cosignSubject(tag: string): string | undefined {
  const match = /^sha256-([0-9a-f]{64})\.(sig|att|sbom)$/.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}

/** The account id of an ARN (`arn:aws:iam::111111111111:role/x`), or undefined. */
export function accountOfArn(arn: string): string | undefined {
  return /^arn:[^:]+:[^:]*:[^:]*:(\d{12}):/.exec(arn)?.[1];
}
