import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DecommissionDetail, fitDetail } from './announce';
import { DECOMMISSIONED_EVENT } from '../../src/instance-decommissioner/contract';
import { errorCode, errorMessage } from '../shared/errors';
import { retryTransient, RetryOptions } from '../shared/retry';

/*
 * The user's own cleanup (Chef node delete, Consul deregister, CMDB update) runs as Lambda functions
 * invoked synchronously, so that their failure fails the instance's message: SQS redelivers it and,
 * after its last attempt, it lands in the DLQ with the report naming the hook.
 */

/** What a hook receives: the detail of the bus event, framed like the event. */
export interface HookPayload {
  readonly source: typeof DECOMMISSIONED_EVENT.source;
  readonly detailType: typeof DECOMMISSIONED_EVENT.detailType;
  readonly detail: DecommissionDetail;
}

export interface HookResult {
  /** The function's ARN as configured. */
  readonly hook: string;
  readonly ok: boolean;
  /** The SDK's error code, or the function's errorType when it failed (FunctionError). */
  readonly errorCode?: string;
  /** Readable, at most ERROR_TEXT_MAX characters: "<errorType>: <errorMessage>" for a function error. */
  readonly error?: string;
}

export interface HooksOutcome {
  readonly results: HookResult[];
  /** At least one hook failed: the instance's message must fail. */
  readonly failed: boolean;
  /** The payload was over PAYLOAD_MAX_BYTES and its lists were cut to counts. */
  readonly truncated: boolean;
}

/**
 * Lambda takes 6 MB synchronously; we stay at what EventBridge takes, so a hook written against the
 * bus event (or later moved behind a rule) sees the same payload.
 */
export const PAYLOAD_MAX_BYTES = 256 * 1024;
export const ERROR_TEXT_MAX = 300;

export function hookPayload(detail: DecommissionDetail): HookPayload {
  return { source: DECOMMISSIONED_EVENT.source, detailType: DECOMMISSIONED_EVENT.detailType, detail };
}

/**
 * Invokes each hook in order with the same payload. Every hook is invoked even after one fails:
 * they are independent, and each result is reported. Throttling and server faults are retried; a
 * hook's own error is not (SQS redelivers the whole message).
 */
export async function invokeHooks(
  lambda: LambdaClient,
  hookArns: readonly string[],
  detail: DecommissionDetail,
  retry: RetryOptions = {},
): Promise<HooksOutcome> {
  if (hookArns.length === 0) return { results: [], failed: false, truncated: false };
  const fitted = fitDetail(detail, PAYLOAD_MAX_BYTES, hookPayload);
  const payload = Buffer.from(fitted.json, 'utf8');
  const results: HookResult[] = [];
  for (const hook of hookArns) {
    try {
      const output = await retryTransient(() => lambda.send(new InvokeCommand({
        FunctionName: hook,
        InvocationType: 'RequestResponse',
        Payload: payload,
      })), retry);
      if (output.FunctionError) {
        const { type, text } = functionError(output.FunctionError, output.Payload);
        results.push({ hook, ok: false, errorCode: type, error: cut(text) });
      } else {
        results.push({ hook, ok: true });
      }
    } catch (error) {
      results.push({ hook, ok: false, errorCode: errorCode(error), error: cut(`${errorCode(error)}: ${errorMessage(error)}`) });
    }
  }
  return { results, failed: results.some((r) => !r.ok), truncated: fitted.detail.truncated === true };
}

/**
 * A failed function's response payload is the runtime's error object,
 * {"errorType":"Error","errorMessage":"...","trace":[...]}; a crash may leave only a message, or text.
 */
function functionError(functionErrorKind: string, payload: Uint8Array | undefined): { type: string; text: string } {
  const raw = payload && payload.length > 0 ? Buffer.from(payload).toString('utf8') : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (parsed !== null && typeof parsed === 'object') {
    const { errorType, errorMessage: message } = parsed as { errorType?: unknown; errorMessage?: unknown };
    const type = typeof errorType === 'string' && errorType.length > 0 ? errorType : functionErrorKind;
    if (typeof message === 'string') return { type, text: `${type}: ${message}` };
  }
  return { type: functionErrorKind, text: raw.length > 0 ? `${functionErrorKind}: ${raw}` : functionErrorKind };
}

function cut(text: string): string {
  return text.length <= ERROR_TEXT_MAX ? text : `${text.slice(0, ERROR_TEXT_MAX - 3)}...`;
}
