/*
 * observeUsage on its own: the digests ECS pinned when it deployed a service (service revisions),
 * which a service scaled to 0 starts again even after its tag moved.
 */
import {
  DescribeServiceRevisionsCommand, DescribeServicesCommand, DescribeTaskDefinitionCommand, ECSClient,
  ListClustersCommand, ListServicesCommand, ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, ListEventBusesCommand, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { observeUsage, revisionKey } from '../../../lambda/image-retention/usage';

const ecsMock = mockClient(ECSClient);
const eventsMock = mockClient(EventBridgeClient);
const schedulerMock = mockClient(SchedulerClient);
const lambdaMock = mockClient(LambdaClient);

const ACCOUNT = '111122223333';
const CLUSTER = `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/prod`;
const IMAGE = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/web:stable`;
const PINNED = `sha256:${'a'.repeat(64)}`;
const revisionArn = (n: number) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:service-revision/prod/svc-${n}/${1000 + n}`;

const clients = () => ({
  ecs: new ECSClient({ region: 'eu-west-1' }),
  events: new EventBridgeClient({ region: 'eu-west-1' }),
  scheduler: new SchedulerClient({ region: 'eu-west-1' }),
  lambda: new LambdaClient({ region: 'eu-west-1' }),
});

beforeEach(() => {
  for (const mock of [ecsMock, eventsMock, schedulerMock, lambdaMock]) mock.reset();
  eventsMock.on(ListEventBusesCommand).resolves({ EventBuses: [] });
  schedulerMock.on(ListSchedulesCommand).resolves({ Schedules: [] });
  lambdaMock.on(ListFunctionsCommand).resolves({ Functions: [] });
  ecsMock.on(ListClustersCommand).resolves({ clusterArns: [CLUSTER] });
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
  ecsMock.on(DescribeTaskDefinitionCommand).resolves({
    taskDefinition: { taskDefinitionArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:7`, family: 'web', revision: 7, containerDefinitions: [{ image: IMAGE }] },
  });
});

test('each service\'s current revisions are described, 20 per call, and their resolved digests count as in use', async () => {
  const services = Array.from({ length: 25 }, (_, i) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/svc-${i}`);
  ecsMock.on(ListServicesCommand).resolves({ serviceArns: services });
  ecsMock.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({
    services: input.services.map((arn) => {
      const n = Number(arn.slice(arn.lastIndexOf('-') + 1));
      return { serviceName: `svc-${n}`, taskDefinition: 'web:7', desiredCount: 0, currentServiceRevisions: [{ arn: revisionArn(n) }] };
    }),
  }));
  ecsMock.on(DescribeServiceRevisionsCommand).callsFake((input: { serviceRevisionArns: string[] }) => ({
    serviceRevisions: input.serviceRevisionArns.filter((arn) => arn !== revisionArn(3)).map((arn) => ({
      serviceRevisionArn: arn, containerImages: [{ containerName: 'web', image: IMAGE, imageDigest: PINNED }],
    })),
    // A revision from before October 2024 cannot be described: its tag stays the reference.
    failures: input.serviceRevisionArns.includes(revisionArn(3)) ? [{ arn: revisionArn(3), reason: 'MISSING' }] : [],
  }));

  const usage = await observeUsage(clients(), ACCOUNT);

  const calls = ecsMock.commandCalls(DescribeServiceRevisionsCommand).map((c) => c.args[0].input.serviceRevisionArns!.length);
  expect(calls).toEqual([20, 5]);
  const pinned = usage.uses.filter((u) => u.digest === PINNED);
  expect(pinned).toHaveLength(24);
  expect(pinned[0]).toEqual({ image: IMAGE, digest: PINNED, usedBy: `ecs-service ${ACCOUNT}/prod/svc-0` });
  // svc-3's revision could not be described: no pinned digest for it, the task definition's tag remains (named once for the revision).
  expect(usage.uses.filter((u) => u.usedBy.startsWith(`ecs-service ${ACCOUNT}/prod/svc-3`))).toEqual([]);
  expect(usage.uses.filter((u) => u.digest === undefined)).toEqual([{ image: IMAGE, usedBy: `ecs-service ${ACCOUNT}/prod/svc-0 (task definition web:7)` }]);
});

test('services without current revisions (as before service revisions existed) make no DescribeServiceRevisions call', async () => {
  ecsMock.on(ListServicesCommand).resolves({ serviceArns: [`arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/old`] });
  ecsMock.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'old', taskDefinition: 'web:7' }] });
  const usage = await observeUsage(clients(), ACCOUNT);
  expect(ecsMock.commandCalls(DescribeServiceRevisionsCommand)).toHaveLength(0);
  expect(usage.uses).toEqual([{ image: IMAGE, usedBy: `ecs-service ${ACCOUNT}/prod/old (task definition web:7)` }]);
});

test('a refused DescribeServiceRevisions (a reader role made before it was needed) fails the account: nothing deleted on partial knowledge', async () => {
  ecsMock.on(ListServicesCommand).resolves({ serviceArns: [`arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/svc-1`] });
  ecsMock.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'svc-1', taskDefinition: 'web:7', currentServiceRevisions: [{ arn: revisionArn(1) }] }] });
  ecsMock.on(DescribeServiceRevisionsCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
  await expect(observeUsage(clients(), ACCOUNT)).rejects.toThrow('not authorized');
});

test('one revision named by ARN (a service) and as family:revision (a rule) is described once', async () => {
  ecsMock.on(ListServicesCommand).resolves({ serviceArns: [`arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/web`] });
  ecsMock.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'web', taskDefinition: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:7` }] });
  eventsMock.on(ListEventBusesCommand).resolves({ EventBuses: [{ Name: 'default' }] });
  eventsMock.on(ListRulesCommand).resolves({ Rules: [{ Name: 'nightly' }] });
  eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: [{ Id: 't', Arn: CLUSTER, EcsParameters: { TaskDefinitionArn: 'web:7' } }] });
  const usage = await observeUsage(clients(), ACCOUNT);
  expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(1);
  expect(usage.uses).toEqual([{ image: IMAGE, usedBy: `ecs-service ${ACCOUNT}/prod/web (task definition web:7)` }]);
  expect(revisionKey(`arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:7`)).toBe('web:7');
  expect(revisionKey('web')).toBe('web');
});

test('task definitions are described 4 at a time at most, and the images keep the order of their references', async () => {
  const services = Array.from({ length: 12 }, (_, i) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/svc-${i}`);
  ecsMock.on(ListServicesCommand).resolves({ serviceArns: services });
  ecsMock.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({
    services: input.services.map((arn) => ({ serviceName: arn.slice(arn.lastIndexOf('/') + 1), taskDefinition: `app-${arn.slice(arn.lastIndexOf('-') + 1)}:1` })),
  }));
  let inFlight = 0;
  let most = 0;
  ecsMock.on(DescribeTaskDefinitionCommand).callsFake(async (input: { taskDefinition: string }) => {
    inFlight++;
    most = Math.max(most, inFlight);
    // Later references answer sooner: the order of the uses must not follow the answers.
    await new Promise((resolve) => setTimeout(resolve, 30 - Number(input.taskDefinition.slice(4, -2))));
    inFlight--;
    const family = input.taskDefinition.slice(0, -2);
    return { taskDefinition: { family, revision: 1, containerDefinitions: [{ image: `${IMAGE}-${family}` }] } };
  });
  const usage = await observeUsage(clients(), ACCOUNT);
  expect(most).toBe(4);
  expect(usage.uses.map((u) => u.image)).toEqual(Array.from({ length: 12 }, (_, i) => `${IMAGE}-app-${i}`));
});
