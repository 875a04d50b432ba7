import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { completeAction, LifecycleOutcome, recordHeartbeat, setDraining, startExecution, stopTasks } from './act';
import { EcsInstanceDrainerConfig, readConfig } from './config';
import { decideBegin, decideCheck } from './decide';
import type { Drain, TaskView } from './drain';
import { DrainStart, isStepInput, parseStartEvent, parseStepInput, StepInput } from './events';
import { findContainerInstance, groupOf, tasksOn } from './observe';
import { DRAINER_METRIC_NAMES } from '../../src/common/metric-names';
import { CHECKS_PER_EXECUTION, DRAIN_NEXT } from '../../src/ecs-instance-drainer/contract';
import { clientConfig } from '../shared/clients';
import { deepenStackTraces } from '../shared/errors';
import type { Outcome, ReportEntry } from '../shared/report';
import { RunRecorder, runSweep } from '../shared/sweep';
import { createTelemetry, logEntries } from '../shared/telemetry';
import { formatAge } from '../shared/time';

/*
 * One function, two callers. EventBridge: a termination lifecycle action or a Spot warning starts a
 * drain (a Step Functions execution named after the event). The state machine: `begin` finds the
 * container instance and sets it DRAINING, each `check` counts its tasks and decides, `failed`
 * reports an execution that could not go on. No invocation waits: Step Functions does.
 */

const NAME = 'EcsInstanceDrainer';
const sdk = clientConfig('ecs-instance-drainer');
const ecs = new ECSClient(sdk);
const autoscaling = new AutoScalingClient(sdk);
const sfn = new SFNClient(sdk);
const sns = new SNSClient(sdk);
const { logger, metrics } = createTelemetry(process.env.POWERTOOLS_SERVICE_NAME ?? NAME);

let config: EcsInstanceDrainerConfig | undefined;

export interface StartResult {
  readonly outcome: 'STARTED' | 'DUPLICATE' | 'IGNORED';
  readonly instanceId: string;
  readonly executionName?: string;
  readonly reason?: string;
}

export async function handler(event: unknown): Promise<StartResult | Drain> {
  deepenStackTraces();
  config ??= readConfig(process.env);
  const now = new Date();
  if (isStepInput(event)) return runStep(config, parseStepInput(event), now);
  return start(config, parseStartEvent(event));
}

async function start(cfg: EcsInstanceDrainerConfig, event: DrainStart): Promise<StartResult> {
  const ignored = (reason: string): StartResult => {
    logger.info('not drained', { instanceId: event.instanceId, kind: event.kind, reason });
    return { outcome: 'IGNORED', instanceId: event.instanceId, reason };
  };
  if (event.kind === 'spot' && !cfg.spotInterruptions) return ignored('Spot interruptions are not drained (spotInterruptions: false)');
  // The rules match the configured groups; a Spot warning names only the instance.
  const group = event.autoScalingGroupName ?? await groupOf(autoscaling, event.instanceId);
  if (group === undefined || !cfg.autoScalingGroups.includes(group)) {
    return ignored(group === undefined ? 'the instance is in no Auto Scaling group' : `its Auto Scaling group ${group} is not drained by this construct`);
  }
  const executionName = event.kind === 'lifecycle'
    ? `${event.instanceId}-${event.lifecycleActionToken}`
    : `${event.instanceId}-spot-${event.eventId.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 80);
  const drain: Drain = {
    kind: event.kind,
    instanceId: event.instanceId,
    autoScalingGroupName: group,
    ...(event.kind === 'lifecycle' ? { lifecycleHookName: event.lifecycleHookName, lifecycleActionToken: event.lifecycleActionToken } : {}),
    startedAt: event.time,
    heartbeatAt: event.time,
    executionName,
    generation: 0,
    checks: 0,
    stoppedTasks: 0,
    next: DRAIN_NEXT.wait,
    waitSeconds: 0,
  };
  const outcome = await startExecution(sfn, cfg.stateMachineArn, executionName, { drain });
  logger.info(outcome === 'STARTED' ? 'drain started' : 'drain already started for this event', { instanceId: event.instanceId, executionName, kind: event.kind });
  return { outcome, instanceId: event.instanceId, executionName };
}

async function runStep(cfg: EcsInstanceDrainerConfig, input: StepInput, now: Date): Promise<Drain> {
  const { drain } = input;
  if (input.step === 'failed') {
    await report(cfg, drain, now, (recorder) => {
      recorder.add(drainEntry(drain, now, 'FAILED', `the drain could not go on: ${input.error?.Error ?? 'unknown error'}${input.error?.Cause ? ` (${input.error.Cause.slice(0, 500)})` : ''}`, input.error?.Error));
    });
    return { ...drain, next: DRAIN_NEXT.end, waitSeconds: 0 };
  }
  if (input.step === 'begin') return begin(cfg, drain, now);
  return check(cfg, drain, now);
}

async function begin(cfg: EcsInstanceDrainerConfig, drain: Drain, now: Date): Promise<Drain> {
  const instance = await findContainerInstance(ecs, cfg.clusterArn, drain.instanceId);
  const decision = decideBegin(instance?.status);
  if (decision.kind === 'NOT_REGISTERED') {
    const lifecycle = drain.kind === 'lifecycle' ? await completeAction(autoscaling, drain, 'CONTINUE') : undefined;
    await report(cfg, drain, now, (recorder) => {
      recorder.add(drainEntry(drain, now, 'REPORTED', `nothing to drain: ${decision.reason}${actionNote(lifecycle, 'CONTINUE')}`));
    }, true);
    return { ...drain, next: DRAIN_NEXT.end, waitSeconds: 0 };
  }
  if (decision.kind === 'SET_DRAINING' && !cfg.dryRun) await setDraining(ecs, cfg.clusterArn, instance!.arn);
  logger.info('drain begun', { instanceId: drain.instanceId, containerInstance: instance!.arn, status: instance!.status, setDraining: decision.kind === 'SET_DRAINING', dryRun: cfg.dryRun });
  return check(cfg, { ...drain, containerInstanceArn: instance!.arn }, now);
}

async function check(cfg: EcsInstanceDrainerConfig, drain: Drain, now: Date): Promise<Drain> {
  const tasks = await tasksOn(ecs, cfg.clusterArn, drain.containerInstanceArn!);
  const decision = decideCheck(drain, tasks, cfg, now);

  // A dry run sets nothing DRAINING, so waiting would only last until the timeout: it reports what
  // is on the instance now and lets the termination go on.
  if (cfg.dryRun) {
    const lifecycle = drain.kind === 'lifecycle' ? await completeAction(autoscaling, drain, 'CONTINUE') : undefined;
    await report(cfg, drain, now, (recorder) => {
      recorder.scanned = tasks.length;
      recorder.add(drainEntry(drain, now, 'DRY_RUN', `would drain ${decision.remaining.length} task(s)${actionNote(lifecycle, 'CONTINUE')}`));
      recorder.add(...decision.remaining.map((t) => taskEntry(t, 'NONE', 'KEPT', 'on the instance')));
    }, true);
    return { ...drain, next: DRAIN_NEXT.end, waitSeconds: 0 };
  }

  if (decision.outcome === 'DRAINING') {
    let next: Drain = { ...drain, checks: drain.checks + 1, next: DRAIN_NEXT.wait, waitSeconds: decision.waitSeconds };
    if (decision.heartbeat) {
      if (await recordHeartbeat(autoscaling, drain) === 'GONE') return actionGone(cfg, drain, now, decision.remaining);
      next = { ...next, heartbeatAt: now.toISOString() };
    }
    if (decision.stop.length > 0) {
      const reason = `fleet-janitor EcsInstanceDrainer: standalone task stopped to drain ${drain.instanceId} (its Auto Scaling group is terminating it)`;
      const outcomes = await stopTasks(ecs, cfg.clusterArn, decision.stop, reason);
      const stopped = outcomes.filter((o) => o.ok).length;
      logEntries(logger, outcomes.map((o) => ({
        resourceType: 'ecs-task',
        id: o.taskArn,
        action: 'STOP',
        outcome: o.ok ? 'DONE' : 'FAILED',
        errorCode: o.errorCode,
        reason: 'standalone task past stopStandaloneTasksAfter',
        details: [['instance', drain.instanceId]],
      })));
      next = { ...next, stoppedTasks: next.stoppedTasks + stopped };
    }
    logger.info('drain check', { instanceId: drain.instanceId, remaining: decision.remaining.length, heartbeat: decision.heartbeat, stopped: decision.stop.length, waitSeconds: decision.waitSeconds });
    if (next.checks >= CHECKS_PER_EXECUTION) next = { ...next, next: DRAIN_NEXT.continueAsNew, generation: next.generation + 1, checks: 0 };
    return next;
  }

  const lifecycle = decision.complete ? await completeAction(autoscaling, drain, decision.complete) : undefined;
  const timedOut = decision.outcome !== 'DRAINED';
  await report(cfg, drain, now, (recorder) => {
    recorder.scanned = tasks.length;
    const outcome: Outcome = timedOut ? 'REPORTED' : 'DONE';
    const what = decision.outcome === 'DRAINED' ? 'drained'
      : decision.outcome === 'TIMED_OUT' ? `maxDrainTime passed with ${decision.remaining.length} task(s) still running`
        : `the Spot interruption came with ${decision.remaining.length} task(s) still running`;
    recorder.add(drainEntry(drain, now, outcome, `${what}${actionNote(lifecycle, decision.complete)}`));
    recorder.add(...decision.remaining.map((t) => taskEntry(t, 'NONE', 'KEPT', 'still running when the drain ended')));
  }, timedOut);
  return { ...drain, next: DRAIN_NEXT.end, waitSeconds: 0 };
}

async function actionGone(cfg: EcsInstanceDrainerConfig, drain: Drain, now: Date, remaining: readonly TaskView[]): Promise<Drain> {
  await report(cfg, drain, now, (recorder) => {
    recorder.add(drainEntry(drain, now, 'REPORTED', `the lifecycle action is gone (expired, or completed by someone else) with ${remaining.length} task(s) still running: the drain ends`));
  });
  return { ...drain, next: DRAIN_NEXT.end, waitSeconds: 0 };
}

function actionNote(outcome: LifecycleOutcome | undefined, result: string | undefined): string {
  if (outcome === undefined) return '';
  return outcome === 'DONE' ? `; lifecycle action completed ${result}` : '; the lifecycle action was already gone';
}

/** How long the drain has lasted, from its event (never negative: the event's clock may run ahead). */
function drainSeconds(drain: Drain, now: Date): number {
  return Math.max(0, (now.getTime() - Date.parse(drain.startedAt)) / 1000);
}

function drainEntry(drain: Drain, now: Date, outcome: Outcome, reason: string, code?: string): ReportEntry {
  const seconds = Math.round(drainSeconds(drain, now));
  return {
    resourceType: 'ec2-instance',
    id: drain.instanceId,
    action: 'DRAIN',
    outcome,
    reason,
    errorCode: code,
    details: [
      ['group', drain.autoScalingGroupName],
      ['kind', drain.kind],
      ['duration', formatAge(seconds)],
      ['stopped tasks', String(drain.stoppedTasks)],
    ],
  };
}

function taskEntry(task: TaskView, action: string, outcome: Outcome, reason: string): ReportEntry {
  return {
    resourceType: 'ecs-task',
    id: task.taskArn,
    action,
    outcome,
    reason,
    details: [['status', `${task.lastStatus} (desired ${task.desiredStatus})`], ['group', task.group ?? '']],
  };
}

/**
 * The drain's end: one log line per entry, metrics, and a notification when it timed out, failed or
 * stopped tasks (every drain with `notifyOnEveryDrain`).
 */
async function report(
  cfg: EcsInstanceDrainerConfig, drain: Drain, now: Date, fill: (recorder: RunRecorder) => void, noteworthy = false,
): Promise<void> {
  // Published with the run's counts (runSweep flushes the stored metrics).
  metrics.addMetric(DRAINER_METRIC_NAMES.drainDuration, MetricUnit.Seconds, drainSeconds(drain, now));
  await runSweep({
    construct: NAME,
    dryRun: cfg.dryRun,
    topicArn: cfg.topicArn,
    sns,
    logger,
    metrics,
    now,
    shouldNotify: (summary) => cfg.notifyOnEveryDrain || noteworthy || drain.stoppedTasks > 0 || summary.status !== 'SUCCEEDED',
  }, async (recorder) => {
    recorder.overview.push(`Cluster ${cfg.clusterArn}, instance ${drain.instanceId} (${drain.kind}), execution ${drain.executionName}`);
    fill(recorder);
  });
}
