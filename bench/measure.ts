/**
 * The measurements that need no emulator: bundle size, cold load of the bundle in a fresh node
 * process, the pure decision step, and synth cost.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import * as zlib from 'zlib';
import { App, AssetStaging, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { BenchScenario, DecisionBench } from './scenario';
import { summarize, Summary } from './util';
import { HANDLER_NODE_OPTIONS } from '../src/common/handler-function';

export const REPO_ROOT = path.resolve(__dirname, '..');

export function bundlePath(scenario: BenchScenario): string {
  return path.join(REPO_ROOT, 'assets', scenario.bundle, 'index.js');
}

export interface BundleSize {
  readonly bytes: number;
  readonly gzipBytes: number;
}

export function bundleSize(file: string): BundleSize {
  const content = fs.readFileSync(file);
  return { bytes: content.length, gzipBytes: zlib.gzipSync(content, { level: 9 }).length };
}

/** The source map shipped beside a bundle (positions only, no sources). */
export function sourceMapSize(file: string): BundleSize | undefined {
  return fs.existsSync(`${file}.map`) ? bundleSize(`${file}.map`) : undefined;
}

export interface ColdLoad {
  readonly bundle: Summary;
  readonly bare: Summary;
  /** median(bundle) / median(bare) */
  readonly ratio: number;
}

/**
 * `node -e "require(bundle)"` against `node -e 0`, interleaved (and alternating which goes first)
 * so that drift in the machine's load hits both alike. Both get the same minimal environment; the
 * bundle also gets the NODE_OPTIONS its function runs with (source-mapped stack traces).
 */
export function coldLoad(file: string, runs: number): ColdLoad {
  const env = { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1', TZ: 'UTC' };
  const time = (script: string): number => {
    const started = performance.now();
    const processEnv = script === '0' ? env : { ...env, NODE_OPTIONS: HANDLER_NODE_OPTIONS };
    const result = spawnSync(process.execPath, ['-e', script], { env: processEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = performance.now() - started;
    if (result.status !== 0) throw new Error(`node -e ${JSON.stringify(script)} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}`);
    return ms;
  };
  const loadScript = `require(${JSON.stringify(file)})`;
  // One of each first, untimed: the OS file cache then holds node and the bundle for both.
  time('0');
  time(loadScript);
  const bundle: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      bare.push(time('0'));
      bundle.push(time(loadScript));
    } else {
      bundle.push(time(loadScript));
      bare.push(time('0'));
    }
  }
  const b = summarize(bundle);
  const z = summarize(bare);
  return { bundle: b, bare: z, ratio: b.median / z.median };
}

/** The decision step on synthetic input: one warm-up, then `runs` timed runs. */
export function decisionTime(decision: DecisionBench, runs: number): Summary {
  const run = decision.prepare(decision.resources);
  run();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    run();
    samples.push(performance.now() - started);
  }
  return summarize(samples);
}

export interface SynthCost {
  readonly baseline: Summary;
  readonly withConstruct: Summary;
  /** median(withConstruct) / median(baseline) */
  readonly ratio: number;
  /** Resources in the synthesized stack with the construct, and without. */
  readonly resources: { readonly withConstruct: number; readonly baseline: number };
}

/**
 * `app.synth()` of a fresh App holding a Stack with one sns.Topic, with and without the construct,
 * interleaved; one warm-up of each (loads and JIT-compiles aws-cdk-lib), then `runs` timed runs.
 * The asset hash cache is cleared before every run, so each pays what a fresh `cdk synth` pays.
 */
export function synthCost(scenario: BenchScenario, runs: number): SynthCost {
  const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  let counter = 0;
  const synth = (withConstruct: boolean): { ms: number; resources: number } => {
    AssetStaging.clearAssetHashCache();
    const outdir = path.join(outRoot, String(counter++));
    const started = performance.now();
    const app = new App({ outdir });
    const stack = new Stack(app, 'BenchStack', { env: { account: '123456789012', region: 'us-east-1' } });
    const topic = new sns.Topic(stack, 'Topic');
    if (withConstruct) scenario.exampleStack(stack, topic);
    const assembly = app.synth();
    const ms = performance.now() - started;
    const resources = Object.keys(assembly.getStackByName(stack.stackName).template.Resources ?? {}).length;
    fs.rmSync(outdir, { recursive: true, force: true });
    return { ms, resources };
  };
  try {
    synth(false);
    synth(true);
    const baseline: number[] = [];
    const withConstruct: number[] = [];
    const resources = { withConstruct: 0, baseline: 0 };
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? [false, true] : [true, false];
      for (const withIt of order) {
        const { ms, resources: n } = synth(withIt);
        (withIt ? withConstruct : baseline).push(ms);
        resources[withIt ? 'withConstruct' : 'baseline'] = n;
      }
    }
    const b = summarize(baseline);
    const w = summarize(withConstruct);
    return { baseline: b, withConstruct: w, ratio: w.median / b.median, resources };
  } finally {
    fs.rmSync(outRoot, { recursive: true, force: true });
  }
}
