import { AutoScalingClient, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import {
  ContainerInstance as ContainerInstanceDescription, DescribeContainerInstancesCommand, DescribeTasksCommand, DesiredStatus, ECSClient,
  paginateListContainerInstances, paginateListTasks,
} from '@aws-sdk/client-ecs';
import type { TaskView } from './drain';
import { chunk } from '../shared/batch';
import { collectPages } from '../shared/paginate';

/*
 * What a drain reads: the container instance on the EC2 instance, and the tasks on it. Tasks are
 * listed under both desired statuses: a task told to stop (desired STOPPED) may still be running its
 * graceful shutdown, and the instance must not go before it has stopped.
 */

/** ListTasks and ListContainerInstances pages; DescribeTasks takes at most 100 tasks. */
export const ECS_PAGE_SIZE = 100;

export interface ContainerInstance {
  readonly arn: string;
  readonly status: string;
}

/** The cluster's container instance on `instanceId`, or undefined when the instance is not in the cluster. */
export async function findContainerInstance(ecs: ECSClient, cluster: string, instanceId: string): Promise<ContainerInstance | undefined> {
  const { items: arns } = await collectPages(
    (startingToken) => paginateListContainerInstances({ client: ecs, pageSize: ECS_PAGE_SIZE, startingToken }, { cluster, filter: `ec2InstanceId == ${instanceId}` }),
    (page) => page.nextToken,
    (page) => page.containerInstanceArns ?? [],
  );
  // The filter leaves one container instance; the check of each one's EC2 id below does not rely on it.
  const found: ContainerInstanceDescription[] = [];
  for (const group of chunk(arns, ECS_PAGE_SIZE)) {
    const described = await ecs.send(new DescribeContainerInstancesCommand({ cluster, containerInstances: group }));
    found.push(...(described.containerInstances ?? []).filter((ci) => ci.ec2InstanceId === instanceId && ci.containerInstanceArn !== undefined));
  }
  // One EC2 instance runs one ECS agent; were there two registrations, the one still active counts.
  const current = found.find((ci) => ci.status !== 'INACTIVE') ?? found[0];
  return current ? { arn: current.containerInstanceArn!, status: current.status ?? 'UNKNOWN' } : undefined;
}

/** Every task on the container instance that ECS still lists, with what the decision needs. */
export async function tasksOn(ecs: ECSClient, cluster: string, containerInstance: string): Promise<TaskView[]> {
  const arns = new Set<string>();
  for (const desiredStatus of [DesiredStatus.RUNNING, DesiredStatus.STOPPED]) {
    const listed = await collectPages(
      (startingToken) => paginateListTasks({ client: ecs, pageSize: ECS_PAGE_SIZE, startingToken }, { cluster, containerInstance, desiredStatus }),
      (page) => page.nextToken,
      (page) => page.taskArns ?? [],
    );
    listed.items.forEach((arn) => arns.add(arn));
  }
  const tasks: TaskView[] = [];
  for (const group of chunk([...arns], ECS_PAGE_SIZE)) {
    const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: group }));
    for (const t of described.tasks ?? []) {
      if (!t.taskArn) continue;
      tasks.push({
        taskArn: t.taskArn,
        // ECS names a service's tasks' group "service:<name>"; anything else was started on its own (RunTask, a schedule).
        standalone: !(t.group ?? '').startsWith('service:'),
        desiredStatus: t.desiredStatus ?? 'UNKNOWN',
        lastStatus: t.lastStatus ?? 'UNKNOWN',
        ...(t.group !== undefined ? { group: t.group } : {}),
      });
    }
  }
  return tasks;
}

/** The Auto Scaling group of an instance (a Spot warning does not say), or undefined when it is in none. */
export async function groupOf(autoscaling: AutoScalingClient, instanceId: string): Promise<string | undefined> {
  const answer = await autoscaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  return answer.AutoScalingInstances?.find((i) => i.InstanceId === instanceId)?.AutoScalingGroupName;
}
