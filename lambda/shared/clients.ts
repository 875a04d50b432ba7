/*
 * Options for every SDK v3 client a handler creates at module scope (once per container).
 * The endpoint is deliberately not set here: the SDK reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>
 * itself, so tests, the demo and production run the same code path.
 */
export const USER_AGENT = 'cdk-fleet-janitor';

export function clientConfig(handlerName: string) {
  return {
    retryMode: 'standard',
    // Fleet-scale describes hit EC2's request-rate buckets; a few more attempts than the default 3.
    maxAttempts: 5,
    customUserAgent: `${USER_AGENT}/${handlerName}`,
  } as const;
}
