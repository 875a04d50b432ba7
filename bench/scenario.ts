/**
 * What a construct contributes to the benchmark. bench/run.ts measures every scenario in
 * bench/scenarios/index.ts the same way; a new construct adds one file there and one line to the registry.
 */
import type { Stack } from 'aws-cdk-lib';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Summary } from './util';
import type { EmulatorClients } from '../test/emulator/fleet';
import type { BundleRun } from '../test/emulator/run-bundle';

export interface BenchScenario {
  /** The construct's name, e.g. PackerCleaner. */
  readonly name: string;
  /** The handler's folder: the shipped bundle is assets/<bundle>/index.js. */
  readonly bundle: string;
  /** API economy and handler wall time against moto. Omit for handlers moto cannot run. */
  readonly economy?: EconomyBench;
  /**
   * API calls per lifecycle operation, for a construct driven by CloudFormation requests (a custom
   * resource) rather than a sweep over a fleet.
   */
  readonly lifecycle?: LifecycleBench;
  /**
   * API calls per batch of queued events, for a construct driven by events delivered in batches (an
   * SQS event source) rather than by a sweep over a fleet.
   */
  readonly eventBatches?: EventBatchBench;
  /** The pure decision step on synthetic input. */
  readonly decision?: DecisionBench;
  /**
   * The example app: add the construct, with its documented defaults, to a stack that already holds
   * `topic`. Synth cost compares this stack against the same stack with only the topic.
   */
  exampleStack(stack: Stack, topic: sns.ITopic): void;
}

export interface EconomyBench {
  /** Matching resources per measured fleet, ascending; the fleet grows from one size to the next. */
  readonly matching: readonly number[];
  /** Resources the handler must leave alone, created with the first fleet. */
  readonly nonMatching: number;
  /** A short description of one matching and one non-matching resource, for the report. */
  readonly fleetDescription: string;
  /** Why `minimumCalls` is the minimum, for the report. */
  readonly minimumRationale: string;
  /** The event a scheduled or triggered invocation receives. */
  readonly event: unknown;
  /**
   * Add the construct, configured for the economy runs (its function's environment is read out of
   * the synthesized template), to a stack that already holds `topic`.
   */
  construct(stack: Stack, topic: sns.ITopic): void;
  /** Prepare an empty moto (shared setup such as key pairs of the non-matching resources). */
  prepare(aws: EmulatorClients): Promise<EconomyFixture>;
}

export interface EconomyFixture {
  /** Create `matching` more resources the handler must act on and `nonMatching` more it must not touch. */
  add(matching: number, nonMatching: number): Promise<void>;
  /** Put every matching resource back into the state the handler acts on, as cheaply as moto allows. */
  restore(): Promise<void>;
  /** The fewest calls any correct handler makes per `service:Operation` (lower case service) for `n` matching resources. */
  minimumCalls(n: number): Record<string, number>;
  /** What is wrong with a run over `n` matching resources, or undefined if it did its job. */
  check(run: BundleRun, n: number): string | undefined;
}

export interface DecisionBench {
  /** How many synthetic resources one decision covers. */
  readonly resources: number;
  /** What the synthetic input is made of, for the report. */
  readonly description: string;
  /** Build the synthetic input once; the returned function runs the decision step once on it. */
  prepare(resources: number): () => unknown;
}

export interface LifecycleBench {
  /** What the measured resource and its requests are, for the report. */
  readonly description: string;
  /** Why each operation's minimum is the minimum, for the report. */
  readonly minimumRationale: string;
  /** What the originals called for the same operations, where their code makes it clear. */
  readonly originals: string;
  /** Drive the operations against moto through the counting proxy; one step per operation. */
  measure(ctx: LifecycleContext): Promise<LifecycleStep[]>;
}

export interface LifecycleContext {
  /** The counting proxy in front of moto: the handler's endpoint. */
  readonly proxyEndpoint: string;
  /** moto itself, for fixtures that must not be counted. */
  readonly motoEndpoint: string;
  /** Clients straight to moto, for fixtures and checks (not counted). */
  readonly aws: EmulatorClients;
  /** A topic in moto for the construct's reports. */
  readonly topicArn: string;
  /** Requests per `service:Operation` since the last reset. */
  counts(): Record<string, number>;
  reset(): void;
  log(line: string): void;
}

export interface LifecycleStep {
  readonly operation: string;
  /** Handler invocations the operation took (onEvent and every isComplete poll). */
  readonly invocations: number;
  readonly calls: Record<string, number>;
  readonly minimum: Record<string, number>;
}

export interface EventBatchBench {
  /** The fleet and the events fed to the handler, for the report. */
  readonly fleetDescription: string;
  /** Why the minimum is the minimum, for the report. */
  readonly minimumRationale: string;
  /** What the handler calls beyond the minimum's operations, and why, for the report. */
  readonly extraRationale: string;
  /** How the batches were run, and which were sampled at the larger sizes, for the report. */
  readonly method: string;
  /** A rate-limited service whose calls per second the report shows (e.g. Route 53 at 5 per second). */
  readonly paced?: { readonly service: string; readonly label: string; readonly limitPerSecond: number };
  /** Build the fleets and feed their event batches to the shipped bundle, counting every request; one entry per size. */
  measure(ctx: EventBatchContext): Promise<EventBatchSize[]>;
}

export interface EventBatchContext {
  log(line: string): void;
}

export interface EventBatchSize {
  /** Resources the events are about. */
  readonly n: number;
  /** Events per batch (the event source's batch size). */
  readonly batchSize: number;
  /** Batches the N resources' events take. */
  readonly batches: number;
  /** Batches run through the handler: all of them, or an evenly spread sample. */
  readonly measuredBatches: number;
  /** Requests per `service:Operation` over the measured batches. */
  readonly calls: Record<string, number>;
  /** The minimum over the measured batches. */
  readonly minimum: Record<string, number>;
  /** Whether every measured batch made the same requests. */
  readonly consistent: boolean;
  /** Requests answered with a non-2xx status (the SDK retries them; counted above). */
  readonly failedCalls: number;
  /** Handler time per batch in one warm container (the first batch's includes the SDK's first connections). */
  readonly batchMs: Summary;
  /** From the first measured batch's start to the last one's end. */
  readonly totalMs: number;
  /** Time to build this size's fleet, records and snapshots. */
  readonly setupMs: number;
  /** The paced service's calls over the measured batches. */
  readonly paced?: PacedCalls;
}

export interface PacedCalls {
  readonly calls: number;
  /** Calls over the measured batches' total time. */
  readonly perSecond: number;
  /** Within each batch, calls after its first over the time from its first call to its last, summed over the batches. */
  readonly perSecondWhilePaced: number;
  /** The most calls that arrived within any one second. */
  readonly maxInAnySecond: number;
  /** Calls that arrived with `limitPerSecond` or more others in the second before them. */
  readonly callsOverLimit: number;
  /** The least time between the arrivals of two calls. */
  readonly minGapMs: number;
  /** Gaps between consecutive arrivals shorter than 1 s / `limitPerSecond`. */
  readonly gapsUnderInterval: number;
}
