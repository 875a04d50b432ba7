import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { IFleetJanitor } from '../common/janitor';
import { fail } from '../common/validation';

export interface FleetJanitorDashboardProps {
  /**
   * Name of the dashboard (letters, digits, `-` and `_`, at most 255 characters).
   * @default - a name CloudFormation generates
   */
  readonly dashboardName?: string;

  /**
   * Janitors to show; more can be added with `addJanitor()`.
   * @default - none
   */
  readonly janitors?: IFleetJanitor[];

  /**
   * Period of every graph.
   * @default Duration.hours(1)
   */
  readonly period?: Duration;
}

const NAME = 'FleetJanitorDashboard';
const WIDTH = 24;

/**
 * A CloudWatch dashboard with one row per janitor: what its runs scanned and did (actions taken,
 * failed, skipped as protected or over the cap), its handler's errors and duration, and the state
 * of its alarms.
 */
export class FleetJanitorDashboard extends Construct {
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  private readonly period: Duration;
  private readonly janitors = new Set<IFleetJanitor>();

  constructor(scope: Construct, id: string, props: FleetJanitorDashboardProps = {}) {
    validateProps(props);
    super(scope, id);
    this.period = props.period ?? Duration.hours(1);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(7),
    });
    for (const janitor of props.janitors ?? []) this.addJanitor(janitor);
  }

  /** Adds a row for `janitor` (once: adding the same janitor again changes nothing). */
  public addJanitor(janitor: IFleetJanitor): void {
    if (this.janitors.has(janitor)) return;
    this.janitors.add(janitor);
    const period = this.period;
    const label = `${janitor.janitorName} ${janitor.node.path}`;
    this.dashboard.addWidgets(new cloudwatch.TextWidget({
      markdown: `### ${janitor.janitorName} \`${janitor.node.path}\``,
      width: WIDTH,
      height: 1,
    }));
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${label}: resources and actions`,
        width: 8,
        left: [
          janitor.metricResourcesScanned({ period, label: 'scanned' }),
          janitor.metricActionsTaken({ period, label: 'actions taken' }),
        ],
        right: [
          janitor.metricActionsFailed({ period, label: 'failed' }),
          janitor.metricSkippedProtected({ period, label: 'skipped: protected' }),
          janitor.metricSkippedCap({ period, label: 'skipped: over the cap' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: `${label}: handler`,
        width: 8,
        left: [
          janitor.handler.metricErrors({ period, statistic: cloudwatch.Stats.SUM, label: 'errors' }),
          janitor.handler.metricThrottles({ period, statistic: cloudwatch.Stats.SUM, label: 'throttles' }),
        ],
        right: [janitor.handler.metricDuration({ period, statistic: cloudwatch.Stats.MAXIMUM, label: 'duration (max)' })],
      }),
      new cloudwatch.AlarmStatusWidget({
        title: `${label}: alarms`,
        width: 8,
        alarms: janitor.alarms,
      }),
    );
  }
}

function validateProps(props: FleetJanitorDashboardProps): void {
  const name = props.dashboardName;
  if (name !== undefined && !Token.isUnresolved(name) && !/^[A-Za-z0-9_-]{1,255}$/.test(name)) {
    fail(NAME, 'dashboardName', name, 'use 1 to 255 letters, digits, "-" or "_"');
  }
  if (props.period && !props.period.isUnresolved()) {
    const seconds = props.period.toSeconds({ integral: false });
    if (seconds < 60 || seconds % 60 !== 0) fail(NAME, 'period', `${seconds} seconds`, 'must be a whole number of minutes');
  }
}
