/**
 * A construct's shipped bundle in one warm container for the bench (test/emulator/warm-runner.ts),
 * with the function environment every scenario gives it.
 */
import * as path from 'path';
import { REPO_ROOT } from './measure';
import { startWarmRunner, WarmOutcome, WarmRunner } from '../test/emulator/warm-runner';

export type Outcome = WarmOutcome;
export type Invoker = WarmRunner;

export function startInvoker(bundle: string, env: Record<string, string>, endpoint: string): Invoker {
  return startWarmRunner({
    bundlePath: path.join(REPO_ROOT, 'assets', bundle, 'index.js'),
    env: { AWS_LAMBDA_FUNCTION_NAME: bundle, AWS_LAMBDA_FUNCTION_VERSION: '$LATEST', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256', TZ: 'UTC', ...env },
    endpoint,
  });
}
