/**
 * The demo: every construct on this machine. Starts one moto server, runs each segment of
 * demo/segments/index.ts on it (moto reset before each), prints a summary, stops moto (also when a
 * segment fails). Exits non-zero when any segment failed.
 *
 *   npx projen demo                          every segment (bundles the handlers first)
 *   npx projen demo -- PackerCleaner [...]   only the named ones, in registry order
 *   npx projen demo -- --list                the segments and what each shows
 *
 * Needs Python with moto, or creates .venv-moto (see test/emulator/moto.ts).
 */
import * as path from 'path';
import { DemoContext, DemoSegment, DemoSegmentResult, formatTable } from './segment';
import { SEGMENTS } from './segments';
import { startMoto } from '../test/emulator/moto';

const OUTDIR = path.join(__dirname, 'cdk.out');

/** A bad command line: printed without a stack trace. */
class UsageError extends Error {}

interface Outcome {
  readonly segment: DemoSegment;
  readonly failures: string[];
  readonly ms: number;
  readonly result?: DemoSegmentResult;
}

function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

function knownSegments(segments: readonly DemoSegment[]): string {
  return formatTable(['segment', 'what it shows'], segments.map((s) => [s.name, s.description]));
}

/** The segments the arguments select (none: all), or an error naming the unknown ones and the known ones. */
function selectSegments(args: readonly string[], segments: readonly DemoSegment[]): readonly DemoSegment[] {
  const names = args.filter((a) => a !== '--');
  const unknown = names.filter((n) => !segments.some((s) => s.name === n));
  if (unknown.length) {
    const near = unknown.map((n) => segments.find((s) => s.name.toLowerCase() === n.toLowerCase()))
      .filter((s): s is DemoSegment => !!s).map((s) => ` (did you mean ${s.name}?)`).join('');
    throw new UsageError(`unknown demo segment${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')}${near}.`
      + ` Known: ${segments.map((s) => s.name).join(', ')}\n\n${knownSegments(segments)}\n\n`
      + 'Run one with `npx projen demo -- <ConstructName>`, all with `npx projen demo`.');
  }
  return names.length ? segments.filter((s) => names.includes(s.name)) : segments;
}

async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status} ${await response.text()}`);
}

async function runSegment(segment: DemoSegment, endpoint: string): Promise<Outcome> {
  const failures: string[] = [];
  const ctx: DemoContext = {
    endpoint,
    outdir: path.join(OUTDIR, segment.name),
    print,
    table: (headers, rows) => print(formatTable(headers, rows)),
    fail: (reason) => { failures.push(reason); },
  };
  const started = Date.now();
  let result: DemoSegmentResult | undefined;
  try {
    await resetMoto(endpoint);
    result = await segment.run(ctx);
    await segment.afterRun?.(ctx, result);
  } catch (e) {
    print(`\n${segment.name} FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    failures.push(e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
  return { segment, failures, ms: Date.now() - started, result };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--list') || args.includes('--help') || args.includes('-h')) {
    print('Usage: npx projen demo [-- <ConstructName> ...]\n');
    print(knownSegments(SEGMENTS));
    return;
  }
  const selected = selectSegments(args, SEGMENTS);

  // ImageRetention's fleet has a Lambda image function: moto resolves its ImageUri against its ECR (a digest in ResolvedImageUri,
  // as Lambda does) only with this set, in moto's environment (startMoto passes this process's on). Only image functions use it.
  process.env.MOTO_LAMBDA_STUB_ECR = 'false';
  const moto = await startMoto();
  const outcomes: Outcome[] = [];
  try {
    print(`moto listening on ${moto.endpoint}`);
    for (const segment of selected) {
      print(`\n=== ${segment.name}: ${segment.description} ===\n`);
      outcomes.push(await runSegment(segment, moto.endpoint));
    }
  } finally {
    await moto.stop();
  }

  print('\n=== Summary ===\n');
  print(formatTable(['segment', 'result', 'time', 'summary'], outcomes.map((o) => [
    o.segment.name,
    o.failures.length ? 'FAILED' : 'ok',
    `${(o.ms / 1000).toFixed(1)} s`,
    o.failures.length ? o.failures.join('; ') : o.result?.summary ?? '',
  ])));
  const failed = outcomes.filter((o) => o.failures.length);
  if (failed.length) {
    print(`\n${failed.length} of ${outcomes.length} segment(s) failed: ${failed.map((o) => o.segment.name).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  process.stderr.write(`demo: ${e instanceof UsageError ? e.message : e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
