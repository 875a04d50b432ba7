/**
 * PackerCleaner: old running Packer instances (key `packer_<uuid>`, each in its own reservation)
 * among production instances, stopped by the shipped handler with action STOP.
 */
import { randomUUID } from 'crypto';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand, StartInstancesCommand } from '@aws-sdk/client-ec2';
import { Duration, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { readConfig } from '../../lambda/packer-cleaner/config';
import { decide, ObservedInstance } from '../../lambda/packer-cleaner/decide';
import { PackerCleaner, PackerCleanerAction } from '../../src';
import { createKeyPair } from '../../test/emulator/fleet';
import { mulberry32 } from '../../test/emulator/random';
import type { BenchScenario, EconomyFixture } from '../scenario';
import { chunks, forEachConcurrently } from '../util';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The harness tag moto_launcher.py turns into LaunchTime (and removes): see test/emulator/fleet.ts. */
const FIXTURE_LAUNCH_TIME = 'moto-fixture:launch-time';
/** StopInstances / StartInstances / DescribeInstances pages: up to 1000 instances per call. */
const EC2_IDS_PER_CALL = 1000;
/** RunInstances calls in flight: moto's server is threaded; more than this gains nothing on 2 cores. */
const RUN_INSTANCES_IN_FLIGHT = 8;
/** Non-Packer keys, including near misses that a loose filter would take for Packer's. */
const OTHER_KEYS = ['prod-web', 'prod-api', 'ci-runner', 'packer-ci', 'mypacker_x'];

export const packerCleaner: BenchScenario = {
  name: 'PackerCleaner',
  bundle: 'packer-cleaner',

  exampleStack(stack: Stack, topic: sns.ITopic): void {
    new PackerCleaner(stack, 'PackerCleaner', { topic });
  },

  economy: {
    matching: [1_000, 5_000],
    nonMatching: 5_000,
    fleetDescription: 'matching: a running instance launched 3 h ago with key `packer_<uuid>`, one reservation each; '
      + `non-matching: instances launched 3 h ago with keys ${OTHER_KEYS.map((k) => `\`${k}\``).join(', ')}, 1,000 per reservation`,
    minimumRationale: 'DescribeInstances returns up to 1,000 instances per page and the key-name filter is applied server-side, '
      + 'so only the N matching instances are paged: ceil(N/1000) pages; StopInstances takes up to 1,000 ids: ceil(N/1000) calls; '
      + 'one SNS Publish for the report.',
    construct(stack: Stack, topic: sns.ITopic): void {
      new PackerCleaner(stack, 'PackerCleaner', {
        topic,
        action: PackerCleanerAction.STOP,
        maxActionsPerRun: 100_000,
        maxAge: Duration.hours(2),
      });
    },
    event: { source: 'cdk-fleet-janitor.schedule' },
    prepare: async ({ ec2 }) => prepareFleet(ec2),
  },

  decision: {
    resources: 100_000,
    description: 'instances with 60% `packer_<uuid>` keys, 5% `packer <id>`, 35% other keys; 70% running, 20% stopped, '
      + '5% terminated, 5% pending; half launched within maxAge (2 h), half up to 30 days before; 2% protected; '
      + 'action TERMINATE, terminateStoppedAfter 1 day, no cap reached',
    prepare(resources: number) {
      const now = new Date();
      const instances = syntheticInstances(resources, now.getTime());
      const config = readConfig({
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:bench',
        ACTION: 'TERMINATE',
        MAX_AGE_SECONDS: '7200',
        TERMINATE_STOPPED_AFTER_SECONDS: String(DAY / 1000),
        MAX_ACTIONS_PER_RUN: '100000',
      });
      return () => decide({ instances, keyPairs: [], securityGroups: [] }, config, now);
    },
  },
};

async function prepareFleet(ec2: EC2Client): Promise<EconomyFixture> {
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['099720109477'], Filters: [{ Name: 'name', Values: ['ubuntu/images/*'] }] }));
  const imageId = images.Images?.[0]?.ImageId;
  if (!imageId) throw new Error('moto has no Ubuntu AMI (owner 099720109477) to launch the fleet from');
  // moto validates key pairs on RunInstances, as EC2 does.
  for (const key of OTHER_KEYS) await createKeyPair(ec2, key);
  const launchTime = new Date(Date.now() - 3 * HOUR).toISOString();
  const tags = (name: string) => [{
    ResourceType: 'instance' as const,
    Tags: [{ Key: 'Name', Value: name }, { Key: FIXTURE_LAUNCH_TIME, Value: launchTime }],
  }];
  const matchingIds: string[] = [];
  let otherLaunched = 0;

  return {
    async add(matching: number, nonMatching: number): Promise<void> {
      // Matching instances: moto pages DescribeInstances by reservation, so one reservation each, as Packer
      // launches them. They go first: moto's RunInstances slows down with every instance it holds (it scans them all).
      await forEachConcurrently(Array.from({ length: matching }, () => `packer_${randomUUID()}`), RUN_INSTANCES_IN_FLIGHT, async (key) => {
        await createKeyPair(ec2, key);
        const out = await ec2.send(new RunInstancesCommand({
          ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, KeyName: key, TagSpecifications: tags('Packer Builder'),
        }));
        matchingIds.push(out.Instances![0].InstanceId!);
      });
      // Non-matching instances: big reservations (the key-name filter keeps them out of the handler's pages).
      for (let left = nonMatching; left > 0;) {
        const count = Math.min(left, EC2_IDS_PER_CALL);
        const key = OTHER_KEYS[otherLaunched++ % OTHER_KEYS.length];
        await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: count, MaxCount: count, KeyName: key, TagSpecifications: tags(key) }));
        left -= count;
      }
    },

    async restore(): Promise<void> {
      // moto keeps LaunchTime across stop/start, so the restarted instances are 3 h old again.
      for (const ids of chunks(matchingIds, EC2_IDS_PER_CALL)) await ec2.send(new StartInstancesCommand({ InstanceIds: ids }));
    },

    minimumCalls(n: number): Record<string, number> {
      const batches = Math.ceil(n / EC2_IDS_PER_CALL);
      return { 'ec2:DescribeInstances': batches, 'ec2:StopInstances': batches, 'sns:Publish': 1 };
    },

    check(run, n) {
      if (run.error) return `the handler failed: ${run.error.message}`;
      const counts = run.result?.counts;
      if (counts?.actionsTaken !== n || counts?.actionsFailed !== 0) {
        return `expected ${n} instances stopped and none failed, got ${JSON.stringify(counts)}`;
      }
      return undefined;
    },
  };
}

/** A deterministic mix of Packer and other keys, states, ages and protection tags. */
function syntheticInstances(count: number, now: number): ObservedInstance[] {
  const random = mulberry32(20_240_501);
  const pick = <T>(weighted: ReadonlyArray<readonly [T, number]>): T => {
    let r = random();
    for (const [value, weight] of weighted) if ((r -= weight) < 0) return value;
    return weighted[weighted.length - 1][0];
  };
  const instances: ObservedInstance[] = [];
  for (let i = 0; i < count; i++) {
    const hex = i.toString(16).padStart(8, '0');
    const keyName = pick([[`packer_${hex}-0000-4000-8000-000000000000`, 0.6], [`packer ${hex}`, 0.05], ['prod-web', 0.25], ['packer-ci', 0.1]] as const);
    const state = pick([['running', 0.7], ['stopped', 0.2], ['terminated', 0.05], ['pending', 0.05]] as const);
    const launchedAgo = random() < 0.5 ? random() * 2 * HOUR : 2 * HOUR + random() * 30 * DAY;
    const tags: Record<string, string> = { Name: keyName.startsWith('packer') ? 'Packer Builder' : 'web' };
    if (random() < 0.02) tags['fleet-janitor:protect'] = 'true';
    instances.push({
      instanceId: `i-${hex.padStart(17, '0')}`,
      keyName,
      state,
      launchTime: new Date(now - launchedAgo),
      stoppedAt: state === 'stopped' ? new Date(now - launchedAgo * random()) : undefined,
      tags,
      securityGroupIds: [`sg-${(i % 50).toString(16).padStart(17, '0')}`],
    });
  }
  return instances;
}
