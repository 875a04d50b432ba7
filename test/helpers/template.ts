import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

export const ASSET_HASH_PLACEHOLDER = '<asset-hash>';

/**
 * The stack's template with asset hashes (S3 keys of the bundled handlers, asset parameters) replaced
 * by a placeholder: the hash covers the bundle, which differs by esbuild version and machine, while
 * the snapshot is about the resources the construct creates. The same goes for the hash in the logical
 * id of a function version.
 */
export function maskedTemplate(stack: Stack): unknown {
  const json = JSON.stringify(Template.fromStack(stack).toJSON());
  return JSON.parse(json
    .replace(/[0-9a-f]{64}/g, ASSET_HASH_PLACEHOLDER)
    // A function's currentVersion has a logical id that ends with a hash of its code and configuration.
    .replace(/(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}/g, `$1${ASSET_HASH_PLACEHOLDER}`));
}
