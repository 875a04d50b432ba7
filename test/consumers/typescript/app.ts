// README example (TypeScript): the same stack every consumer app builds; checked by check-template.cjs.
import { App, Duration, Stack } from 'aws-cdk-lib';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { PackerCleaner, PackerCleanerAction } from '../../../src';

export function synthConsumerApp(outdir: string): void {
  // --- example: typescript ---
  const app = new App({ outdir });
  const stack = new Stack(app, 'ConsumerStack');

  const cleaner = new PackerCleaner(stack, 'Cleaner', {
    action: PackerCleanerAction.TERMINATE,
    maxAge: Duration.hours(3),
    tagSelector: { team: 'platform' },
    cleanupKeyPairs: true,
    maxActionsPerRun: 50,
    schedule: ScheduleExpression.rate(Duration.minutes(30)),
  });
  // cleaner.topic receives each run's report and the failure alarms.
  console.log(`report topic: ${cleaner.topic.node.path}`);

  app.synth();
  // --- end example ---
}
