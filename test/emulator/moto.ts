/**
 * Start and stop a moto server (the `moto` Python package) on a free loopback port.
 *
 * moto runs through `moto_launcher.py`, which patches the places where moto's EC2 differs from
 * real EC2 (see the top of that file). Production code is never patched: it reaches moto through
 * the SDK's standard `AWS_ENDPOINT_URL`.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

export interface MotoServer {
  /** e.g. http://127.0.0.1:49152 */
  readonly endpoint: string;
  readonly port: number;
  /** Stop the server and wait until its process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const LAUNCHER = path.join(__dirname, 'moto_launcher.py');
const VENV_DIR = path.join(REPO_ROOT, '.venv-moto');
const VENV_PYTHON = path.join(VENV_DIR, 'bin', 'python');
/** The launcher's patches are written against this moto's internals (it exits if a hook moved). */
const MOTO_REQUIREMENT = 'moto[server]==5.2.1';
const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 60_000;
/** venv creation plus pip install of moto took ~25 s here; allow slow mirrors. */
const INSTALL_WAIT_MS = 10 * 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** moto logs a traceback per failed call; keep the tail for error messages, not all of it. */
const STDERR_TAIL_CHARS = 16_000;

/** Region and dummy credentials every emulator client and bundle run uses. */
export const EMULATOR_REGION = 'us-east-1';
/** moto's default account, the one the demo stack is synthesized for. */
export const EMULATOR_ACCOUNT = '123456789012';

/** Environment variables that point the AWS SDK for JavaScript v3 (and the CLI) at moto. */
export function awsEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: EMULATOR_REGION,
    AWS_DEFAULT_REGION: EMULATOR_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
  };
}

let cachedPython: string | undefined;

/**
 * A Python interpreter that can run moto's server: `python3` if it has moto, else the repo's
 * `.venv-moto`, which is created (and moto installed into it) on first use.
 */
export function findMotoPython(): string {
  if (cachedPython) return cachedPython;
  for (const candidate of ['python3', VENV_PYTHON]) {
    if (canImportMotoServer(candidate)) return (cachedPython = candidate);
  }
  installMotoVenv();
  return (cachedPython = VENV_PYTHON);
}

/** Create .venv-moto with moto in it. Jest runs test files in parallel workers: one installs, the others wait. */
function installMotoVenv(): void {
  const lock = path.join(VENV_DIR, '.install-lock');
  const deadline = Date.now() + INSTALL_WAIT_MS;
  fs.mkdirSync(VENV_DIR, { recursive: true });
  while (true) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e: any) {
      if (e.code !== 'EEXIST') throw e;
    }
    if (canImportMotoServer(VENV_PYTHON)) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for another process installing moto into ${VENV_DIR} (remove ${lock} if none is)`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000); // a synchronous sleep
  }
  try {
    if (canImportMotoServer(VENV_PYTHON)) return;
    process.stderr.write(`moto not found: creating ${VENV_DIR} and installing ${MOTO_REQUIREMENT} (one-time)\n`);
    // A venv left half-built by an interrupted install is repaired by running both steps again.
    run('python3', ['-m', 'venv', VENV_DIR]);
    run(VENV_PYTHON, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', MOTO_REQUIREMENT]);
    if (!canImportMotoServer(VENV_PYTHON)) {
      throw new Error(`installed ${MOTO_REQUIREMENT} into ${VENV_DIR}, but "import moto.server" still fails there`);
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function canImportMotoServer(python: string): boolean {
  // moto.server needs the [server] extra (flask, werkzeug); plain `import moto` is not enough.
  // Another moto version may have moved the hooks the launcher patches, so only the pinned one counts.
  const version = MOTO_REQUIREMENT.split('==')[1];
  const probe = spawnSync(python, ['-c', `import moto.server, moto, sys; sys.exit(0 if moto.__version__ == ${JSON.stringify(version)} else 3)`], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  return probe.status === 0;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

/** Ask the OS for a free loopback port. Another process may take it before moto binds it: see startMoto's retry. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Servers still running in this process, stopped synchronously if the process exits without stop(). */
const running = new Set<ChildProcess>();
let exitHandlerInstalled = false;

function killOnExit(child: ChildProcess): void {
  running.add(child);
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** Start moto on a free 127.0.0.1 port and resolve once it answers HTTP. */
export async function startMoto(): Promise<MotoServer> {
  const python = findMotoPython();
  // The free-port probe and moto's bind are not atomic; a lost race is retried on a new port.
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    try {
      return await launch(python, port);
    } catch (e) {
      if (attempt < 3 && /Address already in use/i.test(String(e))) continue;
      throw e;
    }
  }
}

async function launch(python: string, port: number): Promise<MotoServer> {
  const endpoint = `http://${LOOPBACK}:${port}`;
  const child = spawn(python, [LAUNCHER, LOOPBACK, String(port)], {
    // stdin stays open: the launcher exits when it closes, so even a SIGKILLed parent leaves no moto behind.
    stdio: ['pipe', 'ignore', 'pipe'],
    env: {
      ...process.env,
      MOTO_LAUNCHER_WATCH_STDIN: '1',
      // Real EC2 rejects RunInstances with an unknown key pair; so does the emulator.
      MOTO_ENABLE_KEYPAIR_VALIDATION: 'true',
      // Patch 13 runs `moto-fixture:bundle` functions with the node that runs the tests.
      MOTO_LAUNCHER_NODE: process.execPath,
      PYTHONUNBUFFERED: '1',
    },
  });
  killOnExit(child);

  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => { spawnError = e; });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    child.stdin?.destroy();
    running.delete(child);
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (true) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`moto (${python} ${LAUNCHER}) exited before answering on ${endpoint}`
        + ` (${spawnError?.message ?? `exit ${child.exitCode ?? child.signalCode}`}). stderr:\n${stderr}`);
    }
    if (await answers(`${endpoint}/moto-api/`)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto did not answer on ${endpoint} within ${START_TIMEOUT_MS / 1000} s. stderr:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { endpoint, port, stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

