/**
 * EcsInstanceDrainer end to end, on this machine: the construct synthesized (polls of 2 s, a 30 s
 * heartbeat timeout, standalone tasks stopped after 10 s), its function, state machine, hook and rules
 * built in moto from the template, and three instances of the group terminating at once: one whose
 * service tasks ECS moves away after 4 s, one that also runs a standalone task, and one that never
 * joined the cluster. moto's Step Functions interpreter runs the drains; the shipped bundle makes
 * each check. Prints each instance before and after, and the notifications.
 */
import { randomUUID } from 'crypto';
import {
  configureEmulator, containerInstanceStatus, deployDrainer, describeTasks, DRAIN_PROPS, drainerClients, finishedExecution, FleetNode,
  launchNodes, lifecycleActions, lifecycleEvent, motoApi, openLifecycleAction, putAndDeliver, registerTaskDefinitions, startTask,
  stopServiceTask, waitFor,
} from '../../test/emulator/ecs-instance-drainer-harness';
import { readNotifications } from '../../test/emulator/fleet';
import { DemoContext, DemoSegment, indent, requireBundle } from '../segment';

type Name = 'web' | 'batch' | 'stray';
const NAMES: Name[] = ['web', 'batch', 'stray'];
/** When ECS's service scheduler has moved the service tasks of a DRAINING instance elsewhere (seconds after the event). */
const SERVICE_TASKS_GONE_AFTER = 4;

export const ecsInstanceDrainer: DemoSegment = {
  name: 'EcsInstanceDrainer',
  description: 'three container instances terminated by Auto Scaling, drained on Step Functions before they go',

  async run(ctx: DemoContext) {
    requireBundle('ecs-instance-drainer');
    const clients = drainerClients(ctx.endpoint);
    await configureEmulator(ctx.endpoint);
    try {
      const stack = await deployDrainer(ctx.endpoint, clients);
      await registerTaskDefinitions(clients);
      const launched = await launchNodes(clients, NAMES.map((n) => n !== 'stray'));
      const nodes = Object.fromEntries(NAMES.map((n, i) => [n, launched[i]])) as Record<Name, FleetNode>;
      const service: Record<Name, string[]> = { web: [], batch: [], stray: [] };
      const standalone: string[] = [];
      for (let i = 0; i < 2; i++) service.web.push(await startTask(clients, nodes.web, 'service'));
      service.batch.push(await startTask(clients, nodes.batch, 'service'));
      standalone.push(await startTask(clients, nodes.batch, 'standalone'));

      ctx.print(`Drainer: poll ${DRAIN_PROPS.pollInterval.toSeconds()} s, heartbeat timeout ${DRAIN_PROPS.heartbeatTimeout.toSeconds()} s, `
        + `maxDrainTime ${DRAIN_PROPS.maxDrainTime.toSeconds()} s, standalone tasks stopped after ${DRAIN_PROPS.stopStandaloneTasksAfter.toSeconds()} s`);
      ctx.print('Before: Auto Scaling starts terminating three instances of the group');
      ctx.table(['instance', 'role', 'container instance', 'tasks'], NAMES.map((n) => [
        nodes[n].instanceId, n, nodes[n].containerInstanceArn ? 'ACTIVE' : '(not in the cluster)',
        `${service[n].length} service${n === 'batch' ? ' + 1 standalone' : ''}`,
      ]));

      const tokens = Object.fromEntries(NAMES.map((n) => [n, randomUUID()])) as Record<Name, string>;
      for (const n of NAMES) await openLifecycleAction(ctx.endpoint, nodes[n].instanceId, tokens[n]);
      const now = new Date();
      const started = Date.now();
      await putAndDeliver(clients, stack, NAMES.map((n) => lifecycleEvent(nodes[n].instanceId, tokens[n], now)));

      // ECS's service scheduler: once an instance is DRAINING, its service tasks are replaced elsewhere and stopped.
      for (const n of ['web', 'batch'] as const) {
        await waitFor(`${n} DRAINING`, async () => await containerInstanceStatus(clients, nodes[n].containerInstanceArn!) === 'DRAINING', 30_000);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + SERVICE_TASKS_GONE_AFTER * 1000 - Date.now())));
      for (const t of [...service.web, ...service.batch]) await stopServiceTask(clients, t);

      const ended = await Promise.all(NAMES.map((n) => finishedExecution(clients, stack.stateMachineArn, `${nodes[n].instanceId}-${tokens[n]}`, 90_000)));
      const actions = Object.fromEntries((await lifecycleActions(ctx.endpoint)).map((a) => [a.InstanceId, a]));
      const [lone] = await describeTasks(clients, standalone);

      ctx.print();
      ctx.print(`After (${((Date.now() - started) / 1000).toFixed(1)} s): every drain's execution ended, each lifecycle action completed once`);
      ctx.table(['instance', 'execution', 'container instance', 'lifecycle action', 'heartbeats'], NAMES.map((n, i) => {
        const action = actions[nodes[n].instanceId];
        const status = nodes[n].containerInstanceArn ? 'DRAINING' : '(not in the cluster)';
        const completed = action?.Completion ? `${action.Completion.Result} after ${(action.Completion.At - started / 1000).toFixed(1)} s` : 'open';
        return [nodes[n].instanceId, ended[i].status, status, completed, String(action?.Heartbeats.length ?? 0)];
      }));
      ctx.print(`  the standalone task on batch: ${lone.lastStatus} (${lone.stoppedReason ?? 'no reason'})`);

      const notifications = await readNotifications(clients.sqs, stack.notifications.queueUrl);
      ctx.print();
      ctx.print(`Notifications (${notifications.length}: drains that stopped tasks or found nothing to drain; a clean drain is only logged):`);
      for (const m of notifications) ctx.print(indent(`${m.Subject}\n${m.Message}`));

      const ok = NAMES.every((n) => actions[nodes[n].instanceId]?.Completion?.Result === 'CONTINUE') && ended.every((e) => e.status === 'SUCCEEDED');
      if (!ok) ctx.fail('a drain did not end with its lifecycle action completed CONTINUE');
      return { templates: { EcsInstanceDrainerEmulator: stack.synth.template }, summary: `${NAMES.length} drains, ${notifications.length} notifications` };
    } finally {
      // Server-wide settings survive a reset: put them back for the next segment.
      await motoApi(ctx.endpoint, '/moto-api/config', { stepfunctions: { execute_state_machine: false } });
      await motoApi(ctx.endpoint, '/moto-api/state-manager/unset-transition', { model_name: 'ecs::task' });
    }
  },
};
