/**
 * Contract between the handler and the construct: the EMF records the handler writes are exactly
 * what the construct's metricXxx() methods, and so its alarms and the dashboard, read. The handler
 * runs (aws-sdk-client-mock) with the environment of the synthesized function, and each metric of
 * the construct is resolved against its output: namespace, name, the full dimension set and values,
 * and the value, which must be the run's own count.
 */
import { TerminateInstancesCommand, TerminateInstancesCommandInput } from '@aws-sdk/client-ec2';
import { PublishCommand } from '@aws-sdk/client-sns';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { readConfig } from '../../lambda/packer-cleaner/config';
import { FleetJanitorDashboard, IFleetJanitor, PackerCleaner, PackerCleanerAction, PackerCleanerProps } from '../../src';
import { PACKER_CLEANER_ENV_LIMITS } from '../../src/common/env-limits';
import { packerCleanerEverythingOn } from '../helpers/configurations';
import { ec2Error } from '../lambda/helpers';
import {
  ec2Instance, ec2Mock, emfRecords, HOUR, installHandlerHarness, loadHandler, logLines, oldInstances, serveInstances, snsMock, TOPIC_ARN,
} from '../lambda/packer-cleaner/harness';

installHandlerHarness();

const FUNCTION_NAME = 'TestStack-CleanerHandlerFunction-contract';

/** Each metric method of the janitor interface, and the run count its metric must carry. */
const METHODS: Array<[keyof IFleetJanitor & `metric${string}`, 'scanned' | 'actionsTaken' | 'actionsFailed' | 'skippedProtected' | 'skippedCap']> = [
  ['metricResourcesScanned', 'scanned'],
  ['metricActionsTaken', 'actionsTaken'],
  ['metricActionsFailed', 'actionsFailed'],
  ['metricSkippedProtected', 'skippedProtected'],
  ['metricSkippedCap', 'skippedCap'],
];

function synthesize() {
  const stack = new Stack(new App(), 'TestStack');
  const cleaner = new PackerCleaner(stack, 'Cleaner', { action: PackerCleanerAction.TERMINATE, maxActionsPerRun: 3 });
  const dashboard = new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [cleaner] });
  const template = Template.fromStack(stack);
  const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
  const env: Record<string, string> = { ...fn.Properties.Environment.Variables, TOPIC_ARN, AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME };
  return { stack, cleaner, dashboard, template, env };
}

/** A metric's dimensions with the function's Ref replaced by the deployed function's name. */
function dimensionsOf(stack: Stack, metric: cloudwatch.Metric): Record<string, string> {
  return Object.fromEntries(Object.entries(stack.resolve(metric.dimensions) as Record<string, unknown>)
    .map(([k, v]) => [k, typeof v === 'string' ? v : FUNCTION_NAME]));
}

/** The EMF record value that a CloudWatch metric with this namespace, name and dimensions would read, if any. */
function read(records: Array<Record<string, any>>, namespace: string, name: string, dimensions: Record<string, string>): number | undefined {
  for (const record of records) {
    for (const directive of record._aws.CloudWatchMetrics) {
      if (directive.Namespace !== namespace || !directive.Metrics.some((m: { Name: string }) => m.Name === name)) continue;
      for (const set of directive.Dimensions as string[][]) {
        const matches = set.length === Object.keys(dimensions).length && set.every((d) => record[d] === dimensions[d]);
        if (matches) return record[name];
      }
    }
  }
  return undefined;
}

describe('metrics: what the handler emits is what the construct reads', () => {
  async function run(env: Record<string, string>) {
    // 11 scanned: 6 due (cap 3: 2 done, 1 refused, 3 over the cap), 4 protected, 1 too young.
    const due = oldInstances(6);
    const protectedOnes = oldInstances(4, { tags: { 'fleet-janitor:protect': 'yes' } });
    serveInstances([...due, ...protectedOnes, ec2Instance({ age: HOUR / 2 })]);
    const refused = due[0].InstanceId!;
    ec2Mock.on(TerminateInstancesCommand).callsFake(async (input: TerminateInstancesCommandInput) => {
      if (input.InstanceIds!.includes(refused)) throw ec2Error('OperationNotPermitted');
      return {
        TerminatingInstances: input.InstanceIds!.map((InstanceId) => ({
          InstanceId, PreviousState: { Name: 'running' as const }, CurrentState: { Name: 'shutting-down' as const },
        })),
      };
    });
    return loadHandler(env)({});
  }

  test('every metric method resolves to the run\'s own count, with all its dimensions', async () => {
    const { stack, cleaner, env } = synthesize();
    const result = await run(env);
    expect(result.counts).toMatchObject({ scanned: 11, actionsTaken: 2, actionsFailed: 1, skippedProtected: 4, skippedCap: 3 });
    const records = emfRecords();
    expect(records).toHaveLength(1);
    for (const [method, count] of METHODS) {
      const metric = cleaner[method]();
      expect({ method, value: read(records, metric.namespace, metric.metricName, dimensionsOf(stack, metric)) })
        .toEqual({ method, value: result.counts[count] });
    }
  });

  test('every janitor metric on the dashboard is one the handler emits', async () => {
    const { stack, dashboard, env } = synthesize();
    await run(env);
    const records = emfRecords();
    // The body is a Fn::Join; its references are the function's name (metrics) and alarm ARNs (not read here).
    const body = stack.resolve((dashboard.dashboard.node.defaultChild as cloudwatch.CfnDashboard).dashboardBody);
    const text = (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : FUNCTION_NAME)).join('');
    const janitorMetrics = JSON.parse(text).widgets.flatMap((w: any) => w.properties.metrics ?? [])
      .filter((m: unknown[]) => m[0] === 'CdkFleetJanitor');
    expect(janitorMetrics).toHaveLength(METHODS.length);
    for (const m of janitorMetrics) {
      const [namespace, name, ...rest] = m.slice(0, -1) as string[];
      const dimensions = Object.fromEntries(Array.from({ length: rest.length / 2 }, (_, i) => [rest[2 * i], rest[2 * i + 1]]));
      expect({ name, value: read(records, namespace, name, dimensions) }).toEqual({ name, value: expect.any(Number) });
    }
  });

  test('without the function name (outside Lambda), the record still has the service dimension', async () => {
    const { env } = synthesize();
    delete env.AWS_LAMBDA_FUNCTION_NAME;
    await run(env);
    const [record] = emfRecords();
    expect(record._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
    expect(record.service).toBe('PackerCleaner');
  });
});

describe('a report that cannot be published fails the invocation, after the run is logged', () => {
  test.each([
    ['refused (AuthorizationError)', () => ec2Error('AuthorizationError', 403)],
    ['throttled on every retry', () => ec2Error('Throttling', 400)],
  ])('%s', async (_label, error) => {
    const { env } = synthesize();
    const due = oldInstances(2);
    serveInstances(due);
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    snsMock.on(PublishCommand).callsFake(async () => { throw error(); });
    await expect(loadHandler(env)({})).rejects.toMatchObject({ name: error().name });
    // The instances were terminated and each decision, the metrics and the run's end are logged.
    expect(logLines('info').filter((l) => l.message === 'decision').map((l) => l.resourceId).sort()).toEqual(due.map((i) => i.InstanceId).sort());
    expect(emfRecords()).toHaveLength(1);
    expect(logLines('error').filter((l) => l.message === 'run finished, but its report could not be published')).toEqual([
      expect.objectContaining({ status: 'SUCCEEDED', counts: expect.objectContaining({ actionsTaken: 2 }) }),
    ]);
    expect(logLines('info').some((l) => l.message === 'run finished')).toBe(false);
  });

  test('a run that failed and could not report either fails with the run\'s own error', async () => {
    const { env } = synthesize();
    serveInstances([], 1000, { 1: ec2Error('UnauthorizedOperation', 403) });
    snsMock.on(PublishCommand).rejects(ec2Error('AuthorizationError', 403));
    await expect(loadHandler(env)({})).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(logLines('error').find((l) => l.message === 'run finished, but its report could not be published')).toMatchObject({ status: 'FAILED' });
  });
});

describe('limits and defaults: the construct and the handler agree on every variable', () => {
  /** The prop each limited variable comes from. */
  const PROPS: Record<keyof typeof PACKER_CLEANER_ENV_LIMITS, [string, (n: number) => PackerCleanerProps]> = {
    MAX_AGE_SECONDS: ['maxAge', (n) => ({ maxAge: Duration.seconds(n) })],
    TERMINATE_STOPPED_AFTER_SECONDS: ['terminateStoppedAfter', (n) => ({ terminateStoppedAfter: Duration.seconds(n) })],
    MAX_ACTIONS_PER_RUN: ['maxActionsPerRun', (n) => ({ maxActionsPerRun: n })],
  };

  function envOf(props: PackerCleanerProps): Record<string, string> {
    const stack = new Stack(new App(), 'TestStack');
    new PackerCleaner(stack, 'Cleaner', props);
    const fn = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))[0];
    return { ...fn.Properties.Environment.Variables, TOPIC_ARN };
  }

  test.each(Object.entries(PACKER_CLEANER_ENV_LIMITS))('%s: both sides accept %j and refuse one past either end', (variable, limit) => {
    const [prop, props] = PROPS[variable as keyof typeof PACKER_CLEANER_ENV_LIMITS];
    for (const n of [limit.min, limit.max]) {
      const env = envOf(props(n));
      expect(env[variable]).toBe(String(n));
      expect(() => readConfig(env)).not.toThrow();
    }
    for (const n of [limit.min - 1, limit.max + 1]) {
      expect(() => envOf(props(n))).toThrow(new RegExp(`^PackerCleaner: invalid ${prop} `));
      expect(() => readConfig({ ...envOf({}), [variable]: String(n) })).toThrow(new RegExp(`environment variable ${variable}=`));
    }
  });

  test('every variable the construct sets, in every configuration, is one the handler reads and accepts', () => {
    const stack = new Stack(new App(), 'TestStack');
    const everything = packerCleanerEverythingOn(stack).props;
    // Everything on, less the user's resources (they belong to another stack's construct tree).
    const { topic, vpc, securityGroups, logEncryptionKey, environmentEncryptionKey, ...behaviour } = everything;
    for (const props of [{}, behaviour]) {
      const env = envOf(props);
      const config = readConfig(env);
      // A variable the handler ignores would be a prop that silently does nothing.
      const seen = new Set<string>();
      readConfig(new Proxy(env, { get: (target, key: string) => { seen.add(key); return target[key]; } }));
      const runtime = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];
      expect(Object.keys(env).filter((k) => !runtime.includes(k) && !seen.has(k))).toEqual([]);
      expect(config.topicArn).toBe(TOPIC_ARN);
    }
  });

  test('the handler\'s own defaults (a variable unset) are the construct\'s defaults', () => {
    const fromConstruct = readConfig(envOf({}));
    const fromHandler = readConfig({ TOPIC_ARN });
    expect(fromHandler).toEqual(fromConstruct);
    expect(fromHandler).toEqual({
      topicArn: TOPIC_ARN,
      action: 'NOTIFY',
      maxAgeSeconds: 7_200,
      terminateStoppedAfterSeconds: undefined,
      keyNamePatterns: ['packer_*', 'packer *'],
      tagSelector: {},
      protectionTagKey: 'fleet-janitor:protect',
      dryRun: false,
      maxActionsPerRun: 100,
      cleanupKeyPairs: false,
      cleanupSecurityGroups: false,
    });
  });
});
