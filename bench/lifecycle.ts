/**
 * API calls per lifecycle operation of a custom-resource construct: the scenario drives its
 * requests against moto through the fault proxy (no faults injected), which counts every request.
 */
import { callTotals, withCountingEmulator } from './emulator';
import type { BenchScenario, LifecycleBench, LifecycleStep } from './scenario';

export interface LifecycleResult {
  readonly steps: LifecycleStep[];
  readonly description: string;
  readonly minimumRationale: string;
  readonly originals: string;
}

export async function measureLifecycle(scenario: BenchScenario, lifecycle: LifecycleBench, log: (line: string) => void): Promise<LifecycleResult> {
  return withCountingEmulator(`bench-${scenario.bundle}`, async ({ proxy, motoEndpoint, aws, topicArn }) => {
    const counts = () => proxy.counts();
    const steps = await lifecycle.measure({ proxyEndpoint: proxy.endpoint, motoEndpoint, aws, topicArn, counts, reset: () => proxy.reset(), log });
    return { steps, description: lifecycle.description, minimumRationale: lifecycle.minimumRationale, originals: lifecycle.originals };
  });
}

export function stepTotals(step: LifecycleStep): { calls: number; minimum: number; ratio: number } {
  return callTotals(step.calls, step.minimum);
}
