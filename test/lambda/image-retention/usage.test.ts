/*
 * observeUsage on its own: the digests ECS pinned when it deployed a service (service revisions),
 * which a service scaled to 0 starts again even after its tag moved.
 */
import {
  DescribeServiceRevisionsCommand, DescribeServicesCommand, DescribeTaskDefinitionCommand, DescribeTasksCommand, ECSClient,
  ListClustersCommand, ListServicesCommand, ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient, ListEventBusesCommand, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionCommand, LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { GetScheduleCommand, ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { observeUsage, revisionKey, runTaskInputDefinition } from '../../../lambda/image-retention/usage';

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
      serviceRevisionArn: arn,
      taskDefinition: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:7`,
      containerImages: [{ containerName: 'web', image: IMAGE, imageDigest: PINNED }],
    })),
    // A revision from before October 2024 cannot be described: its tag stays the reference.
    failures: input.serviceRevisionArns.includes(revisionArn(3)) ? [{ arn: revisionArn(3), reason: 'MISSING' }] : [],
  }));

  const usage = await observeUsage(clients(), ACCOUNT);

  const calls = ecsMock.commandCalls(DescribeServiceRevisionsCommand).map((c) => c.args[0].input.serviceRevisionArns!.length);
  expect(calls).toEqual([20, 5]);
  const pinned = usage.uses.filter((u) => u.digest === PINNED);
  expect(pinned).toHaveLength(24);
  // Named with the revision's task definition, as the task definition's own use is (the first use names the image).
  expect(pinned[0]).toEqual({ image: IMAGE, digest: PINNED, usedBy: `ecs-service ${ACCOUNT}/prod/svc-0 (task definition web:7)` });
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

/*
 * Every listing, driven on its own: pages that omit their list, a throttled page in the middle
 * (the listing resumes from the token it had, never from the start), answers with fields missing,
 * and the names each use is reported under.
 */

const throttle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

/**
 * A listing served `size` items a page from its token; the first request for the page at `throttleAt` is throttled.
 * `inToken`/`outToken` are the operation's request and response token fields.
 */
function pages<T>(items: T[], itemsKey: string, inToken: string, outToken: string, opts: { size?: number; throttleAt?: number } = {}) {
  const size = opts.size ?? 2;
  let throttled = false;
  return (input: Record<string, unknown>) => {
    const from = input[inToken] === undefined ? 0 : Number(String(input[inToken]).slice('t'.length));
    if (from === opts.throttleAt && !throttled) {
      throttled = true;
      throw throttle();
    }
    const next = from + size < items.length ? `t${from + size}` : undefined;
    return { [itemsKey]: items.slice(from, from + size), ...(next ? { [outToken]: next } : {}) };
  };
}

const td = (family: string, revision: number) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/${family}:${revision}`;

describe('each listing pages through a throttled middle page without starting over', () => {
  const serviceArn = (n: number) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/svc-${n}`;
  const taskArn = (n: number) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:task/prod/t${n}`;
  const cases: Array<[string, () => void, (usage: Awaited<ReturnType<typeof observeUsage>>) => void]> = [
    ['ListClusters', () => {
      const clusters = [0, 1, 2, 3, 4].map((n) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/c${n}`);
      ecsMock.on(ListClustersCommand).callsFake(pages(clusters, 'clusterArns', 'nextToken', 'nextToken', { throttleAt: 2 }));
      ecsMock.on(ListServicesCommand).resolves({ serviceArns: [] });
    }, () => {
      expect(ecsMock.commandCalls(ListServicesCommand).map((c) => c.args[0].input.cluster)).toEqual([0, 1, 2, 3, 4].map((n) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/c${n}`));
    }],
    ['ListServices', () => {
      ecsMock.on(ListServicesCommand).callsFake(pages([0, 1, 2, 3, 4].map(serviceArn), 'serviceArns', 'nextToken', 'nextToken', { throttleAt: 2 }));
      ecsMock.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({ services: input.services.map((arn) => ({ serviceName: arn.slice(arn.lastIndexOf('/') + 1), taskDefinition: 'web:7' })) }));
    }, (usage) => {
      expect(ecsMock.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input.services)).toEqual([[0, 1, 2, 3, 4].map(serviceArn)]);
      expect(usage.uses).toHaveLength(1);
    }],
    ['ListTasks', () => {
      ecsMock.on(ListServicesCommand).resolves({ serviceArns: [] });
      ecsMock.on(ListTasksCommand, { desiredStatus: 'RUNNING' }).callsFake(pages([0, 1, 2, 3, 4].map(taskArn), 'taskArns', 'nextToken', 'nextToken', { throttleAt: 2 }));
      ecsMock.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ taskArns: [] });
      ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({ tasks: input.tasks.map((taskArn_) => ({ taskArn: taskArn_, lastStatus: 'RUNNING', containers: [{ image: IMAGE }] })) }));
    }, (usage) => {
      expect(ecsMock.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input.tasks)).toEqual([[0, 1, 2, 3, 4].map(taskArn)]);
      expect(usage.uses.map((u) => u.usedBy)).toEqual([0, 1, 2, 3, 4].map((n) => `ecs-task ${ACCOUNT}/prod/t${n}`));
    }],
    ['ListEventBuses', () => {
      ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
      eventsMock.on(ListEventBusesCommand).callsFake(pages(['b0', 'b1', 'b2', 'b3', 'b4'].map((Name) => ({ Name })), 'EventBuses', 'NextToken', 'NextToken', { throttleAt: 2 }));
      eventsMock.on(ListRulesCommand).resolves({ Rules: [] });
    }, () => {
      expect(eventsMock.commandCalls(ListRulesCommand).map((c) => c.args[0].input.EventBusName)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    }],
    ['ListRules', () => {
      ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
      eventsMock.on(ListEventBusesCommand).resolves({ EventBuses: [{ Name: 'default' }] });
      eventsMock.on(ListRulesCommand).callsFake(pages(['r0', 'r1', 'r2', 'r3', 'r4'].map((Name) => ({ Name })), 'Rules', 'NextToken', 'NextToken', { throttleAt: 2 }));
      eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: [] });
    }, () => {
      expect(eventsMock.commandCalls(ListTargetsByRuleCommand).map((c) => c.args[0].input.Rule)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    }],
    ['ListTargetsByRule', () => {
      ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
      eventsMock.on(ListEventBusesCommand).resolves({ EventBuses: [{ Name: 'default' }] });
      eventsMock.on(ListRulesCommand).resolves({ Rules: [{ Name: 'nightly' }] });
      const targets = [0, 1, 2, 3, 4].map((n) => ({ Id: `t${n}`, Arn: CLUSTER, EcsParameters: { TaskDefinitionArn: `app-${n}:1` } }));
      eventsMock.on(ListTargetsByRuleCommand).callsFake(pages(targets, 'Targets', 'NextToken', 'NextToken', { throttleAt: 2 }));
    }, () => {
      // The describes are one per revision whatever the listing did: the tokens show it resumed at the throttled page.
      expect(eventsMock.commandCalls(ListTargetsByRuleCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 't2', 't2', 't4']);
      expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition)).toEqual([0, 1, 2, 3, 4].map((n) => `app-${n}:1`));
    }],
    ['ListSchedules', () => {
      ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
      const schedules = [0, 1, 2, 3, 4].map((n) => ({ Name: `s${n}`, GroupName: 'default', Target: { Arn: CLUSTER } }));
      schedulerMock.on(ListSchedulesCommand).callsFake(pages(schedules, 'Schedules', 'NextToken', 'NextToken', { throttleAt: 2 }));
      schedulerMock.on(GetScheduleCommand).resolves({ Target: { Arn: CLUSTER, RoleArn: 'r', EcsParameters: { TaskDefinitionArn: 'web:7' } } });
    }, () => {
      expect(schedulerMock.commandCalls(GetScheduleCommand).map((c) => c.args[0].input.Name)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    }],
    ['ListFunctions', () => {
      ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
      const functions = [0, 1, 2, 3, 4].map((n) => ({ FunctionName: `fn${n}`, Version: '$LATEST', PackageType: 'Image' as const }));
      lambdaMock.on(ListFunctionsCommand).callsFake(pages(functions, 'Functions', 'Marker', 'NextMarker', { throttleAt: 2 }));
      lambdaMock.on(GetFunctionCommand).resolves({ Code: { ImageUri: IMAGE } });
    }, () => {
      expect(lambdaMock.commandCalls(GetFunctionCommand).map((c) => c.args[0].input.FunctionName)).toEqual(['fn0', 'fn1', 'fn2', 'fn3', 'fn4']);
    }],
  ];
  test.each(cases)('%s', async (_op, arrange, check) => {
    arrange();
    check(await observeUsage(clients(), ACCOUNT));
  });
});

test('pages that leave out their list (as AWS does for an empty one) list nothing', async () => {
  ecsMock.on(ListClustersCommand).resolves({});
  eventsMock.on(ListEventBusesCommand).resolves({ EventBuses: [{ Name: 'default' }] });
  eventsMock.on(ListRulesCommand).resolves({});
  schedulerMock.on(ListSchedulesCommand).resolves({ Schedules: undefined } as never);
  lambdaMock.on(ListFunctionsCommand).resolves({});
  const usage = await observeUsage(clients(), ACCOUNT);
  expect(usage.uses).toEqual([]);
  expect(ecsMock.commandCalls(ListServicesCommand)).toHaveLength(0);
  expect(eventsMock.commandCalls(ListTargetsByRuleCommand)).toHaveLength(0);
  expect(schedulerMock.commandCalls(GetScheduleCommand)).toHaveLength(0);
  expect(lambdaMock.commandCalls(GetFunctionCommand)).toHaveLength(0);

  ecsMock.on(ListClustersCommand).resolves({ clusterArns: [CLUSTER] });
  ecsMock.on(ListServicesCommand).resolves({});
  ecsMock.on(ListTasksCommand).resolves({});
  eventsMock.on(ListRulesCommand).resolves({ Rules: [{ Name: 'nightly' }] });
  eventsMock.on(ListTargetsByRuleCommand).resolves({});
  expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([]);
  expect(ecsMock.commandCalls(DescribeServicesCommand)).toHaveLength(0);
  expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);

  // No bus listed: no rule is listed either (an unnamed bus would list the default bus's rules).
  eventsMock.on(ListEventBusesCommand).resolves({});
  eventsMock.on(ListRulesCommand).rejects(new Error('ListRules without a bus'));
  expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([]);
});

test('pages counts every call that answered: listing pages, describes, and one per DescribeTaskDefinition', async () => {
  ecsMock.on(ListClustersCommand).callsFake(pages([CLUSTER], 'clusterArns', 'nextToken', 'nextToken'));
  ecsMock.on(ListServicesCommand).callsFake(pages([0, 1, 2].map((n) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/prod/s${n}`), 'serviceArns', 'nextToken', 'nextToken'));
  ecsMock.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({ services: input.services.map((arn, i) => ({ serviceName: arn, taskDefinition: `app-${i % 2}:1` })) }));
  ecsMock.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => ({ taskDefinition: { family: 'x', revision: 1, containerDefinitions: [{ image: `${IMAGE}-${input.taskDefinition}` }] } }));
  lambdaMock.on(ListFunctionsCommand).resolves({ Functions: [{ FunctionName: 'fn', PackageType: 'Image' }, { FunctionName: 'zip', PackageType: 'Zip' }] });
  lambdaMock.on(GetFunctionCommand).resolves({ Code: { ImageUri: IMAGE } });
  const usage = await observeUsage(clients(), ACCOUNT);
  // ListClusters 1 + ListServices 2 + DescribeServices 1 + ListTasks 2 (RUNNING, STOPPED) + ListEventBuses 1 + ListSchedules 1
  // + ListFunctions 1 + GetFunction 1 (the image function only) + DescribeTaskDefinition 2 (three services, two revisions).
  expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(2);
  expect(usage.pages).toBe(1 + 2 + 1 + 2 + 1 + 1 + 1 + 1 + 2);
});

describe('DescribeTaskDefinition', () => {
  const ruleNaming = (...references: string[]) => {
    ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
    eventsMock.on(ListEventBusesCommand).resolves({ EventBuses: [{ Name: 'default' }] });
    eventsMock.on(ListRulesCommand).resolves({ Rules: [{ Name: 'nightly' }] });
    eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: references.map((r, i) => ({ Id: `t${i}`, Arn: CLUSTER, EcsParameters: { TaskDefinitionArn: r } })) });
  };
  const clientException = () => Object.assign(new Error('Unable to describe task definition.'), { name: 'ClientException', $metadata: { httpStatusCode: 400 } });

  test('a rule naming a family with no ACTIVE revision left runs nothing; a named revision that cannot be described fails the account', async () => {
    ruleNaming('gone', td('old', 1).replace(/:1$/, ''));
    ecsMock.on(DescribeTaskDefinitionCommand).rejects(clientException());
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(usage.uses).toEqual([]);
    expect(usage.taskDefinitionsInUse).toEqual(new Set());
    // ListClusters, ListEventBuses, ListRules, ListTargetsByRule, ListSchedules, ListFunctions, and the two refused describes.
    expect(usage.pages).toBe(6 + 2);

    ruleNaming('gone:3');
    await expect(observeUsage(clients(), ACCOUNT)).rejects.toThrow('Unable to describe task definition.');
  });

  test('a family-only reference refused for another reason fails the account', async () => {
    ruleNaming('web');
    ecsMock.on(DescribeTaskDefinitionCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    await expect(observeUsage(clients(), ACCOUNT)).rejects.toThrow('not authorized');
  });

  test('an answer without containers, images or ARN adds nothing; the revision in use is the one ECS answered with', async () => {
    ruleNaming('empty:1', 'imageless:1', 'web');
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: 'empty:1' }).resolves({ taskDefinition: { family: 'empty', revision: 1 } });
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: 'imageless:1' }).resolves({ taskDefinition: { containerDefinitions: [{ name: 'c' }] } });
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: 'web' }).resolves({
      taskDefinition: { taskDefinitionArn: td('web', 9), family: 'web', revision: 9, containerDefinitions: [{ name: 'sidecar' }, { name: 'web', image: IMAGE }] },
    });
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(usage.taskDefinitionsInUse).toEqual(new Set([td('web', 9)]));
    expect(usage.uses).toEqual([{ image: IMAGE, usedBy: `events-rule ${ACCOUNT}/default/nightly (task definition web:9)` }]);
  });
});

describe('ECS answers with parts missing', () => {
  test('DescribeServices: failures other than MISSING fail the account with their ARNs; an answer without services or failures lists nothing', async () => {
    ecsMock.on(ListServicesCommand).resolves({ serviceArns: ['s1', 's2'] });
    ecsMock.on(DescribeServicesCommand).resolves({ failures: [{ arn: 's1', reason: 'MISSING' }, { arn: 's2', reason: 'ACCESS_DENIED' }, { arn: 's3', reason: 'OTHER' }] });
    await expect(observeUsage(clients(), ACCOUNT)).rejects.toThrow(/^DescribeServices failed for s2: ACCESS_DENIED, s3: OTHER$/);

    ecsMock.on(DescribeServicesCommand).resolves({ failures: [{ arn: 's1', reason: 'MISSING' }] });
    expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([]);
    ecsMock.on(DescribeServicesCommand).resolves({});
    expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([]);
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
  });

  test('a service\'s deployments and task sets without a task definition, and revisions without an ARN, are skipped', async () => {
    ecsMock.on(ListServicesCommand).resolves({ serviceArns: ['web'] });
    ecsMock.on(DescribeServicesCommand).resolves({
      services: [{ serviceName: 'web', deployments: [{ id: 'd1' }, { id: 'd2', taskDefinition: 'web:6' }], taskSets: [{ id: 'ts' }], currentServiceRevisions: [{}] }],
    });
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition)).toEqual(['web:6']);
    expect(ecsMock.commandCalls(DescribeServiceRevisionsCommand)).toHaveLength(0);
    expect(usage.uses).toEqual([{ image: IMAGE, usedBy: `ecs-service ${ACCOUNT}/prod/web (task definition web:7)` }]);
  });

  test('DescribeServiceRevisions: answers without revisions or images add nothing; an answered ARN it was not asked for is named by itself', async () => {
    ecsMock.on(ListServicesCommand).resolves({ serviceArns: ['web'] });
    ecsMock.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'web', currentServiceRevisions: [{ arn: revisionArn(1) }] }] });
    ecsMock.on(DescribeServiceRevisionsCommand).resolves({});
    expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([]);

    ecsMock.on(DescribeServiceRevisionsCommand).resolves({
      serviceRevisions: [
        { serviceRevisionArn: revisionArn(1) },
        { serviceRevisionArn: revisionArn(1), containerImages: [{ containerName: 'sidecar' }, { image: IMAGE }] },
        { serviceRevisionArn: revisionArn(2), containerImages: [{ image: IMAGE, imageDigest: PINNED }] },
      ],
    });
    expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([
      { image: IMAGE, usedBy: `ecs-service ${ACCOUNT}/prod/web` },
      { image: IMAGE, digest: PINNED, usedBy: `ecs-service-revision ${revisionArn(2)}` },
    ]);
  });

  test('DescribeTasks: failures other than MISSING fail the account; tasks without ARN, definition or containers are named and skipped as they can be', async () => {
    ecsMock.on(ListServicesCommand).resolves({ serviceArns: [] });
    ecsMock.on(ListTasksCommand, { desiredStatus: 'RUNNING' }).resolves({ taskArns: ['a', 'b', 'c'] });
    ecsMock.on(DescribeTasksCommand).resolves({ failures: [{ arn: 'c', reason: 'ACCESS_DENIED' }, { arn: 'a', reason: 'MISSING' }, { arn: 'b', reason: 'OTHER' }] });
    await expect(observeUsage(clients(), ACCOUNT)).rejects.toThrow(/^DescribeTasks failed for c: ACCESS_DENIED, b: OTHER$/);

    ecsMock.on(DescribeTasksCommand).resolves({});
    expect((await observeUsage(clients(), ACCOUNT)).uses).toEqual([]);

    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task/prod/abc`, lastStatus: 'RUNNING' },
        { lastStatus: 'PENDING', containers: [{ name: 'sidecar' }, { image: IMAGE, imageDigest: PINNED }] },
      ],
    });
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(usage.uses).toEqual([{ image: IMAGE, digest: PINNED, usedBy: `ecs-task ${ACCOUNT}/prod/unknown` }]);
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
  });
});

describe('EventBridge Scheduler', () => {
  beforeEach(() => {
    ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
  });
  const listing = (...schedules: Array<{ Name: string; GroupName?: string; Target?: { Arn: string } }>) =>
    schedulerMock.on(ListSchedulesCommand).resolves({ Schedules: schedules as never });

  test('only ECS targets are read, in any partition, templated or universal; the others cost no GetSchedule', async () => {
    listing(
      { Name: 'ecs', GroupName: 'jobs', Target: { Arn: CLUSTER } },
      { Name: 'china', GroupName: 'jobs', Target: { Arn: 'arn:aws-cn:ecs:cn-north-1:111122223333:cluster/prod' } },
      { Name: 'universal', Target: { Arn: 'arn:aws:scheduler:::aws-sdk:ecs:runTask' } },
      { Name: 'universal-cn', Target: { Arn: 'arn:aws-cn:scheduler:::aws-sdk:ecs:runTask' } },
      { Name: 'other-action', Target: { Arn: 'arn:aws:scheduler:::aws-sdk:ecs:runTaskSomethingElse' } },
      { Name: 'sqs', Target: { Arn: 'arn:aws:sqs:eu-west-1:111122223333:queue' } },
      { Name: 'embedded', Target: { Arn: 'arn:aws:lambda:eu-west-1:111122223333:function:x/arn:aws:ecs:' } },
      { Name: 'no-target' },
    );
    schedulerMock.on(GetScheduleCommand).callsFake((input: { Name: string }) => (
      input.Name === 'universal'
        ? { Target: { Arn: 'arn:aws:scheduler:::aws-sdk:ecs:runTask', RoleArn: 'r', Input: JSON.stringify({ TaskDefinition: 'web:7', Cluster: 'prod' }) } }
        : { Target: { Arn: CLUSTER, RoleArn: 'r', EcsParameters: { TaskDefinitionArn: 'web:7' } } }));
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(schedulerMock.commandCalls(GetScheduleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: 'ecs', GroupName: 'jobs' }, { Name: 'china', GroupName: 'jobs' }, { Name: 'universal', GroupName: undefined },
      { Name: 'universal-cn', GroupName: undefined },
    ]);
    expect(usage.uses.map((u) => u.usedBy)).toEqual([`scheduler-schedule ${ACCOUNT}/jobs/ecs (task definition web:7)`]);
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(1);
  });

  test('a schedule read without a target or a task definition names nothing; the default group is named as such', async () => {
    listing({ Name: 'bare', Target: { Arn: CLUSTER } }, { Name: 'plain', Target: { Arn: CLUSTER } }, { Name: 'templ', Target: { Arn: CLUSTER } });
    schedulerMock.on(GetScheduleCommand, { Name: 'bare' }).resolves({});
    schedulerMock.on(GetScheduleCommand, { Name: 'plain' }).resolves({ Target: { Arn: CLUSTER, RoleArn: 'r' } });
    schedulerMock.on(GetScheduleCommand, { Name: 'templ' }).resolves({ Target: { Arn: CLUSTER, RoleArn: 'r', EcsParameters: { TaskDefinitionArn: 'web:7' } } });
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(usage.uses).toEqual([{ image: IMAGE, usedBy: `scheduler-schedule ${ACCOUNT}/default/templ (task definition web:7)` }]);
  });

  test.each([
    ['{"TaskDefinition":"web:7"}', 'web:7'],
    ['{"taskDefinition":"web:8"}', 'web:8'],
    ['{"TaskDefinition":""}', undefined],
    ['{"TaskDefinition":7}', undefined],
    ['{"Cluster":"prod"}', undefined],
    ['not json', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('the universal runTask input %j names %j', (input, expected) => {
    expect(runTaskInputDefinition(input)).toBe(expected);
  });
});

describe('Lambda image functions', () => {
  beforeEach(() => {
    ecsMock.on(ListClustersCommand).resolves({ clusterArns: [] });
  });

  test('each version is named with its qualifier; the digest comes from ResolvedImageUri; answers without code name nothing', async () => {
    lambdaMock.on(ListFunctionsCommand).resolves({
      Functions: [
        { FunctionName: 'api', Version: '3', PackageType: 'Image' },
        { FunctionName: 'api', PackageType: 'Image' },
        { FunctionName: 'resolved-only', Version: '1', PackageType: 'Image' },
        { FunctionName: 'no-code', Version: '1', PackageType: 'Image' },
        { FunctionName: 'no-uri', Version: '1', PackageType: 'Image' },
        { FunctionName: 'odd', Version: '1', PackageType: 'Image' },
        { PackageType: 'Image' },
      ],
    });
    const repo = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/web`;
    lambdaMock.on(GetFunctionCommand, { FunctionName: 'api', Qualifier: '3' }).resolves({ Code: { ImageUri: IMAGE, ResolvedImageUri: `${repo}@${PINNED}` } });
    lambdaMock.on(GetFunctionCommand, { FunctionName: 'api', Qualifier: undefined }).resolves({ Code: { ImageUri: IMAGE } });
    lambdaMock.on(GetFunctionCommand, { FunctionName: 'resolved-only' }).resolves({ Code: { ResolvedImageUri: `${repo}@${PINNED}` } });
    lambdaMock.on(GetFunctionCommand, { FunctionName: 'no-code' }).resolves({});
    lambdaMock.on(GetFunctionCommand, { FunctionName: 'no-uri' }).resolves({ Code: {} });
    // Not an answer Lambda gives: a resolved URI without a digest yields no digest.
    lambdaMock.on(GetFunctionCommand, { FunctionName: 'odd' }).resolves({ Code: { ImageUri: IMAGE, ResolvedImageUri: IMAGE } });
    const usage = await observeUsage(clients(), ACCOUNT);
    expect(lambdaMock.commandCalls(GetFunctionCommand)).toHaveLength(6);
    expect(usage.uses).toEqual([
      { image: IMAGE, digest: PINNED, usedBy: `lambda ${ACCOUNT}/api:3` },
      { image: IMAGE, usedBy: `lambda ${ACCOUNT}/api:$LATEST` },
      { image: `${repo}@${PINNED}`, usedBy: `lambda ${ACCOUNT}/resolved-only:1` },
      { image: IMAGE, usedBy: `lambda ${ACCOUNT}/odd:1` },
    ]);
  });
});
