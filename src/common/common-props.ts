import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';

/** Tag key that exempts a resource from every fleet-janitor action. */
export const DEFAULT_PROTECTION_TAG_KEY = 'fleet-janitor:protect';
export const DEFAULT_MAX_ACTIONS_PER_RUN = 100;

/** Props every fleet-janitor construct accepts. */
export interface JanitorCommonProps {
  /**
   * Topic that receives each run's report and the failure alarms.
   * @default - a new topic, encrypted with a new KMS key and refusing non-TLS publishers
   */
  readonly topic?: sns.ITopic;

  /**
   * Report what would be done without changing anything. The function then gets no permission
   * to change anything either.
   * @default false
   */
  readonly dryRun?: boolean;

  /**
   * A resource carrying a tag with this key (any value) is never acted on; it is reported as protected.
   * @default "fleet-janitor:protect"
   */
  readonly protectionTagKey?: string;

  /**
   * Most changes made in one run; further candidates are reported as skipped and handled by later runs.
   * @default 100
   */
  readonly maxActionsPerRun?: number;

  /**
   * How long the handler's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Memory of the handler function, in MiB.
   * @default 512
   */
  readonly memorySize?: number;

  /**
   * Timeout of the handler function.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
}
