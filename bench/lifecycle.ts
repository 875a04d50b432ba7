/**
 * API calls per lifecycle operation of a custom-resource construct: the scenario drives its
 * requests against moto through the fault proxy (no faults injected), which counts every request.
 */
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import type { BenchScenario, LifecycleBench, LifecycleStep } from './scenario';
import { startFaultProxy } from '../test/emulator/fault-proxy';
import { emulatorClients } from '../test/emulator/fleet';
import { startMoto } from '../test/emulator/moto';

export interface LifecycleResult {
  readonly steps: LifecycleStep[];
  readonly description: string;
  readonly minimumRationale: string;
  readonly originals: string;
}

export async function measureLifecycle(scenario: BenchScenario, lifecycle: LifecycleBench, log: (line: string) => void): Promise<LifecycleResult> {
  const moto = await startMoto();
  try {
    const proxy = await startFaultProxy({ target: moto.endpoint });
    try {
      const aws = emulatorClients(moto.endpoint);
      const { TopicArn } = await aws.sns.send(new CreateTopicCommand({ Name: `bench-${scenario.bundle}` }));
      const steps = await lifecycle.measure({
        proxyEndpoint: proxy.endpoint, aws, topicArn: TopicArn!, counts: () => proxy.counts(), reset: () => proxy.reset(), log,
      });
      return { steps, description: lifecycle.description, minimumRationale: lifecycle.minimumRationale, originals: lifecycle.originals };
    } finally {
      await proxy.stop();
    }
  } finally {
    await moto.stop();
  }
}

export function stepTotals(step: LifecycleStep): { calls: number; minimum: number; ratio: number } {
  const calls = Object.values(step.calls).reduce((a, b) => a + b, 0);
  const minimum = Object.values(step.minimum).reduce((a, b) => a + b, 0);
  return { calls, minimum, ratio: calls / minimum };
}
