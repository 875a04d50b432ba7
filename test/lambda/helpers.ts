import { EC2ServiceException } from '@aws-sdk/client-ec2';

/**
 * An error shaped like the ones SDK v3 throws for an EC2 API error: the error code is its `name`,
 * with the HTTP status in `$metadata`.
 */
export function ec2Error(code: string, httpStatusCode = 400, message = `${code} (test)`): EC2ServiceException {
  return new EC2ServiceException({ name: code, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode }, message });
}

/** Retry options that do not wait, and record the delays they were asked for. */
export function instantRetry(attempts?: number) {
  const delays: number[] = [];
  return { delays, options: { attempts, sleep: async (ms: number) => { delays.push(ms); } } };
}
