/** A configuration value the construct set (or a user overrode) is missing or invalid. */
export class ConfigError extends Error {
  constructor(readonly variable: string, readonly value: string | undefined, reason: string) {
    super(`Invalid configuration: environment variable ${variable}=${value === undefined ? '(unset)' : JSON.stringify(value)}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** The invocation event does not have the shape this handler accepts; nothing was changed. */
export class EventShapeError extends Error {
  constructor(reason: string) {
    super(`Rejected event: ${reason}. No resource was changed.`);
    this.name = 'EventShapeError';
  }
}

/** The AWS error code of an SDK v3 error (its name), or a fallback for non-AWS errors. */
export function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; Code?: unknown; code?: unknown };
    for (const candidate of [e.Code, e.code, e.name]) {
      if (typeof candidate === 'string' && candidate.length > 0 && candidate !== 'Error') return candidate;
    }
  }
  return 'UnknownError';
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

const THROTTLING_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalError',
  'InternalFailure',
]);

/** Errors worth retrying later: throttling and transient server faults, never a bad request. */
export function isTransient(error: unknown): boolean {
  if (THROTTLING_CODES.has(errorCode(error))) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/** Errors that say nothing about one item: retrying item by item would only repeat them. */
const CALLER_LEVEL_CODES = new Set([
  'UnauthorizedOperation',
  'AccessDenied',
  'AccessDeniedException',
  'AuthFailure',
  'ExpiredToken',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'OptInRequired',
]);

export function isCallerLevel(error: unknown): boolean {
  return CALLER_LEVEL_CODES.has(errorCode(error));
}

/** Frames an error keeps: enough to reach our frames below the SDK's middleware when an AWS call fails. */
export const STACK_TRACE_FRAMES = 30;

/**
 * Deepens stack traces for this invocation. Set when the handler starts, not with
 * `--stack-trace-limit` in NODE_OPTIONS: the SDK and Powertools create errors while the bundle
 * loads, and deeper traces then cost about 15% of the cold start.
 */
export function deepenStackTraces(): void {
  if (Error.stackTraceLimit < STACK_TRACE_FRAMES) Error.stackTraceLimit = STACK_TRACE_FRAMES;
}

const MAX_ECHO = 64;

/** A value as an error message shows it: a string quoted and cut, anything else by its kind, never in full. */
export function echo(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}...` : value);
  if (value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}
