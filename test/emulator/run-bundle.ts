/**
 * Run a shipped handler bundle (e.g. assets/packer-cleaner/index.js) once, the way Lambda would:
 * in a fresh node process (module-scope SDK clients read the environment at load), with only the
 * function's environment plus what the Lambda runtime and the emulator add.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { awsEnv } from './moto';

/** The shipped bundle of a handler (assets/<name>/index.js, built by `npx projen bundle:handlers`). */
export function shippedBundle(name: string): string {
  return path.resolve(__dirname, '..', '..', 'assets', name, 'index.js');
}

/** Milliseconds, for fixture ages. */
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface RunBundleOptions {
  /** The CommonJS bundle exporting `handler(event, context)`. */
  readonly bundlePath: string;
  /** The function's environment variables, e.g. from functionEnvironmentFromTemplate(). */
  readonly env: Record<string, string>;
  readonly event: unknown;
  /** moto's endpoint; its awsEnv() is added to env. */
  readonly endpoint: string;
  /** Lambda's timeout: context.getRemainingTimeInMillis() counts down from it, and the process is killed after it. @default 60 */
  readonly timeoutSeconds?: number;
  /** @default 'packer-cleaner' */
  readonly functionName?: string;
  /**
   * The alias or version the function is invoked through: Lambda appends it to context.invokedFunctionArn
   * (e.g. 'is-complete' for the AmiManager's isComplete handler).
   * @default - unqualified
   */
  readonly qualifier?: string;
}

export interface BundleRun {
  /** What the handler resolved with (undefined if it threw or never finished). */
  readonly result?: any;
  /** What the handler threw. */
  readonly error?: { name?: string; message: string; stack?: string };
  readonly stdout: string;
  readonly stderr: string;
  /** stdout lines that are JSON: the handler's structured logs and EMF metrics. */
  readonly logs: any[];
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

const INVOKER = path.join(__dirname, 'invoke-handler.cjs');

export async function runBundle(options: RunBundleOptions): Promise<BundleRun> {
  const bundlePath = path.resolve(options.bundlePath);
  if (!fs.existsSync(bundlePath)) {
    throw new Error(`no bundle at ${bundlePath}: run \`npx projen bundle:handlers\` first`);
  }
  const timeoutSeconds = options.timeoutSeconds ?? 60;
  const functionName = options.functionName ?? 'packer-cleaner';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'run-bundle-'));
  const eventPath = path.join(dir, 'event.json');
  const outcomePath = path.join(dir, 'outcome.json');
  fs.writeFileSync(eventPath, JSON.stringify(options.event));

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    // What the Lambda runtime sets; Powertools reads the function name and memory size.
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    TZ: 'UTC',
    ...options.env,
    ...awsEnv(options.endpoint),
  };

  const started = Date.now();
  try {
    const args = [INVOKER, bundlePath, eventPath, outcomePath, String(timeoutSeconds), ...(options.qualifier ? [options.qualifier] : [])];
    const child = spawn(process.execPath, args, {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutSeconds * 1000 + 5_000);
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    clearTimeout(timer);

    const outcome = fs.existsSync(outcomePath) ? JSON.parse(fs.readFileSync(outcomePath, 'utf8')) : undefined;
    const error = outcome
      ? outcome.error
      : { message: timedOut ? `handler did not finish within ${timeoutSeconds} s` : `the handler process exited (${exitCode}) without an outcome` };
    return {
      result: outcome?.ok ? outcome.result : undefined,
      error: outcome?.ok ? undefined : error,
      stdout,
      stderr,
      logs: jsonLines(stdout),
      exitCode,
      timedOut,
      durationMs: outcome?.durationMs ?? Date.now() - started,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function jsonLines(text: string): any[] {
  const parsed: any[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      parsed.push(JSON.parse(line));
    } catch {
      // not a log line
    }
  }
  return parsed;
}
