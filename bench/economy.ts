/**
 * API economy and handler wall time: the shipped bundle, configured from the synthesized template,
 * runs against moto through the fault proxy (no faults injected), which counts every HTTP request
 * by `service:Operation`. Only the handler's requests go through the proxy; fixture setup talks to
 * moto directly.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { callTotals, withCountingEmulator } from './emulator';
import { bundlePath } from './measure';
import type { BenchScenario, EconomyBench } from './scenario';
import { summarize, Summary, timeMs } from './util';
import { EMULATOR_ACCOUNT, EMULATOR_REGION } from '../test/emulator/moto';
import { runBundle } from '../test/emulator/run-bundle';
import { functionEnvironmentFromTemplate } from '../test/emulator/stack-env';

export interface EconomySize {
  readonly matching: number;
  readonly nonMatching: number;
  /** Time to create this size's additional resources in moto. */
  readonly setupMs: number;
  /** Requests per `service:Operation` in the first run. */
  readonly calls: Record<string, number>;
  readonly minimum: Record<string, number>;
  /** Whether every run made exactly the same requests. */
  readonly consistent: boolean;
  /** Requests answered with a non-2xx status in the first run (the SDK retries them). */
  readonly failedCalls: number;
  /** The handler process from spawn to exit. */
  readonly wallMs: Summary;
  /** From the invoker's start to the handler's result: loading the bundle plus the invocation. */
  readonly inProcessMs: Summary;
  /** StartInstances-style restores between runs. */
  readonly restoreMs: Summary;
}

export interface EconomyResult {
  readonly sizes: EconomySize[];
  readonly runsPerSize: number;
  readonly fleetDescription: string;
  readonly minimumRationale: string;
}

export async function measureEconomy(
  scenario: BenchScenario,
  economy: EconomyBench,
  runsPerSize: number,
  log: (line: string) => void,
): Promise<EconomyResult> {
  return withCountingEmulator(`bench-${scenario.bundle}`, async ({ proxy, aws, topicArn }) => {
    const { env, timeoutSeconds } = synthesizeForEconomy(economy, topicArn);
    const fixture = await economy.prepare(aws);

    const sizes: EconomySize[] = [];
    let created = 0;
    for (const [index, n] of economy.matching.entries()) {
      const setup = await timeMs(() => fixture.add(n - created, index === 0 ? economy.nonMatching : 0));
      log(`  ${scenario.name}: fleet of ${n} matching among ${economy.nonMatching} non-matching ready (+${n - created} matching`
        + `${index === 0 ? `, +${economy.nonMatching} non-matching` : ''} in ${(setup.ms / 1000).toFixed(1)} s)`);
      created = n;

      const wall: number[] = [];
      const inProcess: number[] = [];
      const restores: number[] = [];
      const counts: Array<Record<string, number>> = [];
      let failedCalls = 0;
      for (let run = 0; run < runsPerSize; run++) {
        proxy.reset();
        const { ms, value: result } = await timeMs(() => runBundle({
          bundlePath: bundlePath(scenario),
          env,
          event: economy.event,
          endpoint: proxy.endpoint,
          timeoutSeconds,
          functionName: scenario.bundle,
        }));
        const problem = fixture.check(result, n);
        if (problem) throw new Error(`${scenario.name}, ${n} matching, run ${run + 1}: ${problem}\nstderr:\n${result.stderr.slice(-4000)}`);
        wall.push(ms);
        inProcess.push(result.durationMs);
        counts.push(proxy.counts());
        if (run === 0) failedCalls = proxy.calls.filter((c) => c.status < 200 || c.status >= 300).length;
        log(`  ${scenario.name}: ${n} matching, run ${run + 1}/${runsPerSize}: ${(ms / 1000).toFixed(2)} s, `
          + `${Object.values(counts[run]).reduce((a, b) => a + b, 0)} requests`);
        const isLast = run === runsPerSize - 1 && index === economy.matching.length - 1;
        if (!isLast) restores.push((await timeMs(() => fixture.restore())).ms);
      }
      sizes.push({
        matching: n,
        nonMatching: economy.nonMatching,
        setupMs: setup.ms,
        calls: counts[0],
        minimum: fixture.minimumCalls(n),
        consistent: counts.every((c) => sameCounts(c, counts[0])),
        failedCalls,
        wallMs: summarize(wall),
        inProcessMs: summarize(inProcess),
        restoreMs: summarize(restores),
      });
    }
    return { sizes, runsPerSize, fleetDescription: economy.fleetDescription, minimumRationale: economy.minimumRationale };
  });
}

/** The function's environment and timeout exactly as the construct deploys them, the topic pointing into moto. */
function synthesizeForEconomy(economy: EconomyBench, topicArn: string): { env: Record<string, string>; timeoutSeconds: number } {
  const app = new App();
  const stack = new Stack(app, 'BenchEconomy', { env: { account: EMULATOR_ACCOUNT, region: EMULATOR_REGION } });
  economy.construct(stack, new sns.Topic(stack, 'Topic'));
  const template = Template.fromStack(stack).toJSON();
  const env = functionEnvironmentFromTemplate(template, { resolveRefs: { 'AWS::SNS::Topic': topicArn } });
  const fn = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment);
  return { env, timeoutSeconds: Number(fn?.Properties?.Timeout ?? 60) };
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/** Every operation called or expected, with calls, minimum and ratio; a missing minimum is 0 (an extra operation). */
export function callRows(size: EconomySize): Array<{ operation: string; calls: number; minimum: number }> {
  const ops = [...new Set([...Object.keys(size.minimum), ...Object.keys(size.calls)])];
  return ops.map((operation) => ({ operation, calls: size.calls[operation] ?? 0, minimum: size.minimum[operation] ?? 0 }));
}

export function totals(size: EconomySize): { calls: number; minimum: number; ratio: number } {
  return callTotals(size.calls, size.minimum);
}
