/**
 * The emulator both call-counting measurements run against: moto, the fault proxy in front of it
 * (no faults injected) counting every request by `service:Operation`, clients that talk to moto
 * directly for fixtures, and an SNS topic for the handler's reports. Both are stopped afterwards.
 */
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { FaultProxy, startFaultProxy } from '../test/emulator/fault-proxy';
import { EmulatorClients, emulatorClients } from '../test/emulator/fleet';
import { startMoto } from '../test/emulator/moto';

export interface CountingEmulator {
  readonly proxy: FaultProxy;
  /** moto itself, for fixtures that must not be counted. */
  readonly motoEndpoint: string;
  readonly aws: EmulatorClients;
  readonly topicArn: string;
}

export async function withCountingEmulator<T>(topicName: string, body: (emulator: CountingEmulator) => Promise<T>): Promise<T> {
  const moto = await startMoto();
  try {
    const proxy = await startFaultProxy({ target: moto.endpoint });
    try {
      const aws = emulatorClients(moto.endpoint);
      const { TopicArn } = await aws.sns.send(new CreateTopicCommand({ Name: topicName }));
      return await body({ proxy, motoEndpoint: moto.endpoint, aws, topicArn: TopicArn! });
    } finally {
      await proxy.stop();
    }
  } finally {
    await moto.stop();
  }
}

/** Requests made against the minimum an ideal implementation needs, summed over operations. */
export function callTotals(calls: Record<string, number>, minimum: Record<string, number>): { calls: number; minimum: number; ratio: number } {
  const made = Object.values(calls).reduce((a, b) => a + b, 0);
  const needed = Object.values(minimum).reduce((a, b) => a + b, 0);
  return { calls: made, minimum: needed, ratio: made / needed };
}
