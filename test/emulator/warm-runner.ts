/**
 * A shipped handler bundle in one warm "container": one long-lived `invoke-many.cjs --serve` process
 * that loads the bundle once and takes one invocation at a time, each answered with its outcome and
 * duration, as Lambda runs them. Used where hundreds of invocations must not cost hundreds of node
 * starts (the bench, the AmiManager leak test).
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { awsEnv } from './moto';

const INVOKER = path.join(__dirname, 'invoke-many.cjs');

export interface WarmOutcome {
  readonly ok: boolean;
  readonly result?: any;
  readonly message?: string;
  /** The handler's time; 0 when the runner exited before answering. */
  readonly durationMs: number;
}

export interface WarmRunner {
  /** `qualifier`: the alias the function is invoked through (appended to context.invokedFunctionArn). */
  invoke(event: unknown, qualifier?: string): Promise<WarmOutcome>;
  /** The runner's last 8,000 characters of stderr. */
  stderr(): string;
  stop(): Promise<void>;
}

export interface WarmRunnerOptions {
  /** The bundle's index.js. */
  readonly bundlePath: string;
  /** The function's environment (its name, version, memory, configuration). */
  readonly env: Record<string, string>;
  /** Where the bundle's AWS calls go. */
  readonly endpoint: string;
  /** Shortens every timer the handler sets (retry backoffs) by this factor (INVOKE_MANY_DELAY_SCALE). */
  readonly delayScale?: number;
}

export function startWarmRunner(options: WarmRunnerOptions): WarmRunner {
  const child: ChildProcess = spawn(process.execPath, [INVOKER, options.bundlePath, '--serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...options.env,
      ...awsEnv(options.endpoint),
      ...(options.delayScale !== undefined ? { INVOKE_MANY_DELAY_SCALE: String(options.delayScale) } : {}),
    },
    stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-8_000); });
  const waiting = new Map<number, (outcome: WarmOutcome) => void>();
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
    invoke(event, qualifier) {
      if (exited) return Promise.reject(new Error(`the runner has exited; stderr:\n${stderr}`));
      const id = next++;
      return new Promise<WarmOutcome>((resolve) => {
        waiting.set(id, resolve);
        child.stdin!.write(`${JSON.stringify({ id, event, ...(qualifier !== undefined ? { qualifier } : {}) })}\n`);
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
