/**
 * The benchmark: prints numbers and writes docs/BENCHMARKS.md. Not a test: nothing here passes or
 * fails on a threshold; it fails only when a measurement cannot be taken or a handler run did not do its job.
 *
 *   npx projen bench        (bundles the handlers first)
 *   npx ts-node --project tsconfig.dev.json bench/run.ts [--update-doc] [scenario name ...]
 *
 * With scenario names, only those are measured and docs/BENCHMARKS.md is left as it was, unless
 * `--update-doc` is given: then their headline rows and sections in it are replaced (or added), the
 * other scenarios' left as they were, and its header says when they were measured on their own.
 */
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { measureEconomy } from './economy';
import { measureLifecycle } from './lifecycle';
import { describeMachine, machineLine } from './machine';
import { bundlePath, bundleSize, coldLoad, decisionTime, REPO_ROOT, sourceMapSize, synthCost } from './measure';
import { BenchReport, renderReport, ScenarioResult, spliceReport } from './report';
import { SCENARIOS } from './scenarios';

const SETTINGS = { coldLoadRuns: 20, handlerRuns: 3, decisionRuns: 5, synthRuns: 5 };
const OUTPUT = path.join(REPO_ROOT, 'docs', 'BENCHMARKS.md');

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const args = process.argv.slice(2);
  const updateDoc = args.includes('--update-doc');
  const only = args.filter((a) => a !== '--update-doc');
  if (updateDoc && only.length === 0) throw new Error('--update-doc goes with scenario names: without them the whole document is written anyway');
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const scenarios = only.length ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;

  const missing = scenarios.map(bundlePath).filter((p) => !fs.existsSync(p));
  if (missing.length) throw new Error(`no bundle at ${missing.join(', ')}: run \`npx projen bundle:handlers\` first (npx projen bench does)`);

  const machine = describeMachine();
  log(`Benchmarking ${scenarios.map((s) => s.name).join(', ')} on ${machineLine(machine)}`);

  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const file = bundlePath(scenario);
    const size = bundleSize(file);
    const sourceMap = sourceMapSize(file);
    log(`${scenario.name}: cold load, ${SETTINGS.coldLoadRuns} runs each`);
    const load = coldLoad(file, SETTINGS.coldLoadRuns);
    log(`${scenario.name}: synth cost`);
    const synth = synthCost(scenario, SETTINGS.synthRuns);
    let decision: ScenarioResult['decision'];
    if (scenario.decision) {
      log(`${scenario.name}: decision step over ${scenario.decision.resources} synthetic resources`);
      decision = {
        resources: scenario.decision.resources,
        description: scenario.decision.description,
        time: decisionTime(scenario.decision, SETTINGS.decisionRuns),
      };
    }
    let economy: ScenarioResult['economy'];
    if (scenario.economy) {
      log(`${scenario.name}: API economy against moto`);
      economy = await measureEconomy(scenario, scenario.economy, SETTINGS.handlerRuns, log);
    }
    let eventBatches: ScenarioResult['eventBatches'];
    if (scenario.eventBatches) {
      log(`${scenario.name}: API calls per batch of events against moto`);
      const { fleetDescription, minimumRationale, extraRationale, method, paced } = scenario.eventBatches;
      eventBatches = { fleetDescription, minimumRationale, extraRationale, method, paced, sizes: await scenario.eventBatches.measure({ log }) };
    }
    let lifecycle: ScenarioResult['lifecycle'];
    if (scenario.lifecycle) {
      log(`${scenario.name}: API calls per lifecycle operation against moto`);
      lifecycle = await measureLifecycle(scenario, scenario.lifecycle, log);
    }
    results.push({
      name: scenario.name, bundle: scenario.bundle, size, sourceMap, coldLoad: load, synth, decision, economy, eventBatches, lifecycle,
    });
  }

  const report: BenchReport = { date: new Date(), machine, scenarios: results, totalMs: performance.now() - started, settings: SETTINGS };
  const markdown = renderReport(report);
  process.stdout.write(`${markdown}\n`);
  if (only.length && updateDoc) {
    const command = `bench/run.ts --update-doc ${only.join(' ')}`;
    const existing = fs.existsSync(OUTPUT) ? fs.readFileSync(OUTPUT, 'utf8') : undefined;
    fs.writeFileSync(OUTPUT, `${existing ? spliceReport(existing, markdown, SCENARIOS.map((s) => s.name), command) : markdown}\n`);
    log(`Updated ${only.join(', ')} in ${path.relative(process.cwd(), OUTPUT)}, the other scenarios left as they were.`);
  } else if (only.length) {
    log(`Only ${only.join(', ')} measured: ${path.relative(process.cwd(), OUTPUT)} left as it was (--update-doc puts them in).`);
  } else {
    fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
    fs.writeFileSync(OUTPUT, `${markdown}\n`);
    log(`Wrote ${path.relative(process.cwd(), OUTPUT)} (${((performance.now() - started) / 60_000).toFixed(1)} min).`);
  }
}

main().catch((error) => {
  log(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exitCode = 1;
});
