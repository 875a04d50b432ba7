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

const ORIGINAL_ENV = process.env;

/**
 * A fresh copy of a handler module (its config, clients and telemetry live at module scope) under
 * `baseEnv` with `overrides` applied (undefined removes a variable). The SDK modules given are the
 * test file's own, so the aws-sdk-client-mock mocks made on them intercept the handler's clients.
 * `afterLoad` runs inside the same module registry, to reach the module instances the handler uses.
 */
export function loadHandlerModule<T extends object>(options: {
  readonly modulePath: string;
  readonly baseEnv: Record<string, string>;
  readonly overrides?: Record<string, string | undefined>;
  readonly sdkModules: Record<string, unknown>;
  readonly afterLoad?: () => void;
}): T {
  const next: Record<string, string | undefined> = { ...ORIGINAL_ENV, ...options.baseEnv };
  for (const [k, v] of Object.entries(options.overrides ?? {})) {
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  process.env = next;
  let mod: T | undefined;
  jest.isolateModules(() => {
    for (const [name, sdk] of Object.entries(options.sdkModules)) jest.doMock(name, () => sdk);
    mod = jest.requireActual<T>(options.modulePath);
    options.afterLoad?.();
  });
  return mod!;
}

/** Puts back the environment the test process started with (after `loadHandlerModule`). */
export function restoreEnv(): void {
  process.env = ORIGINAL_ENV;
}

/** Captures the console in every test of the file (Logger and Metrics write through it in dev mode), and restores it after. */
export function captureConsole(): void {
  let spies: jest.SpyInstance[] = [];
  beforeEach(() => {
    spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => jest.spyOn(console, m).mockImplementation(() => undefined));
  });
  afterEach(() => {
    spies.forEach((s) => s.mockRestore());
  });
}

/** JSON log lines the Logger wrote with console[method] (under captureConsole). */
export function logLines(method: 'info' | 'warn' | 'error'): Array<Record<string, unknown>> {
  return (console[method] as jest.Mock).mock.calls.map(([text]) => {
    try {
      return JSON.parse(String(text)) as Record<string, unknown>;
    } catch {
      return {};
    }
  });
}

/** The EMF records the handler's Metrics wrote (through console.log in dev mode, under captureConsole). */
export function emfRecords(): Array<Record<string, any>> {
  return (console.log as jest.Mock).mock.calls.map(([text]) => String(text)).filter((t) => t.includes('"_aws"')).map((t) => JSON.parse(t));
}
