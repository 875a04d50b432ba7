/**
 * A handler bundle in one warm "container": the bundle loaded once by test/emulator/invoke-many.cjs,
 * which takes one invocation at a time, with its duration, as Lambda would run them.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { REPO_ROOT } from './measure';
import { awsEnv } from '../test/emulator/moto';

const INVOKER = path.join(REPO_ROOT, 'test', 'emulator', 'invoke-many.cjs');

export interface Outcome {
  readonly ok: boolean;
  readonly result?: any;
  readonly message?: string;
  readonly durationMs: number;
}

export interface Invoker {
  invoke(event: unknown): Promise<Outcome>;
  stderr(): string;
  stop(): Promise<void>;
}

/** A shipped bundle loaded once in a node process that takes invocations one at a time (invoke-many.cjs --serve): one warm container. */
export function startInvoker(bundle: string, env: Record<string, string>, endpoint: string): Invoker {
  const child: ChildProcess = spawn(process.execPath, [INVOKER, path.join(REPO_ROOT, 'assets', bundle, 'index.js'), '--serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_LAMBDA_FUNCTION_NAME: bundle,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      TZ: 'UTC',
      ...env,
      ...awsEnv(endpoint),
    },
    stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-8_000); });
  const waiting = new Map<number, (outcome: Outcome) => void>();
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    for (const resolveOne of waiting.values()) resolveOne({ ok: false, message: `the runner exited; stderr:\n${stderr}`, durationMs: 0 });
    waiting.clear();
    resolve();
  }));
  readline.createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).on('line', (line) => {
    const outcome = JSON.parse(line);
    const resolveOne = waiting.get(outcome.id);
    waiting.delete(outcome.id);
    resolveOne?.(outcome);
  });
  let next = 0;
  return {
    invoke(event) {
      if (exited) return Promise.reject(new Error(`the runner has exited; stderr:\n${stderr}`));
      const id = next++;
      return new Promise<Outcome>((resolve) => {
        waiting.set(id, resolve);
        child.stdin!.write(`${JSON.stringify({ id, event })}\n`);
      });
    },
    stderr: () => stderr,
    async stop() {
      if (exited) return;
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
