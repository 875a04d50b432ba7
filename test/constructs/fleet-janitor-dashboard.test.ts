import { App, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FleetJanitorDashboard, PackerCleaner, PackerCleanerAction } from '../../src';
import { expectNoNagFindings } from '../helpers/nag';

function newStack(): Stack {
  return new Stack(new App(), 'TestStack');
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parseDashboardBody } = require('../helpers/dashboard-body.cjs');

/** The dashboard body as JSON, with each reference written as "<Ref:Id>" or "<Id.Attr>". */
function dashboardBody(stack: Stack): any {
  const dashboards = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  return parseDashboardBody(dashboards[0].Properties.DashboardBody);
}

function ref(stack: Stack, construct: any): string {
  return `<Ref:${stack.getLogicalId(construct.node.defaultChild)}>`;
}

describe('FleetJanitorDashboard', () => {
  test('one row per janitor: header, resources and actions, handler errors and duration, alarm states', () => {
    const stack = newStack();
    const cleaner = new PackerCleaner(stack, 'Cleaner', { action: PackerCleanerAction.TERMINATE });
    const dashboard = new FleetJanitorDashboard(stack, 'Dashboard', { dashboardName: 'fleet-janitor' });
    dashboard.addJanitor(cleaner);
    dashboard.addJanitor(cleaner); // twice: still one row
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'fleet-janitor' });
    const widgets = dashboardBody(stack).widgets;
    expect(widgets.map((w: any) => w.type)).toEqual(['text', 'metric', 'metric', 'alarm']);
    expect(widgets[0].properties.markdown).toBe('### PackerCleaner `TestStack/Cleaner`');

    const fn = ref(stack, cleaner.handler);
    const janitorMetric = (name: string, label: string) =>
      ['CdkFleetJanitor', name, 'FunctionName', fn, 'service', 'PackerCleaner', expect.objectContaining({ label, stat: 'Sum', period: 3600 })];
    const [, actions, handler, alarms] = widgets;
    expect(actions.properties.title).toBe('PackerCleaner TestStack/Cleaner: resources and actions');
    expect(actions.properties.metrics).toEqual([
      janitorMetric('ResourcesScanned', 'scanned'),
      janitorMetric('ActionsTaken', 'actions taken'),
      [...janitorMetric('ActionsFailed', 'failed').slice(0, 6), expect.objectContaining({ label: 'failed', yAxis: 'right' })],
      [...janitorMetric('SkippedProtected', '').slice(0, 6), expect.objectContaining({ label: 'skipped: protected', yAxis: 'right' })],
      [...janitorMetric('SkippedCap', '').slice(0, 6), expect.objectContaining({ label: 'skipped: over the cap', yAxis: 'right' })],
    ]);
    expect(handler.properties.metrics).toEqual([
      ['AWS/Lambda', 'Errors', 'FunctionName', fn, expect.objectContaining({ label: 'errors', stat: 'Sum', period: 3600 })],
      ['AWS/Lambda', 'Throttles', 'FunctionName', fn, expect.objectContaining({ label: 'throttles', stat: 'Sum' })],
      ['AWS/Lambda', 'Duration', 'FunctionName', fn, expect.objectContaining({ label: 'duration (max)', stat: 'Maximum', yAxis: 'right' })],
    ]);
    expect(handler.properties.title).toBe('PackerCleaner TestStack/Cleaner: handler');
    expect(alarms.properties.title).toBe('PackerCleaner TestStack/Cleaner: alarms');
    expect(alarms.properties.alarms).toEqual(cleaner.alarms.map((a: any) => `<${stack.getLogicalId(a.node.defaultChild)}.Arn>`));
    expect(alarms.properties.alarms).toHaveLength(3);
  });

  test('janitors given as props and added later each get a row; the period applies to every graph', () => {
    const stack = newStack();
    const a = new PackerCleaner(stack, 'A');
    const b = new PackerCleaner(stack, 'B', { dryRun: true });
    const dashboard = new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [a], period: Duration.minutes(5) });
    dashboard.addJanitor(b);
    const widgets = dashboardBody(stack).widgets;
    expect(widgets.filter((w: any) => w.type === 'text').map((w: any) => w.properties.markdown))
      .toEqual(['### PackerCleaner `TestStack/A`', '### PackerCleaner `TestStack/B`']);
    // CloudWatch's default period (300 s) is left out of the body; the dashboard's default (3600 s) would be written.
    const periods = widgets.filter((w: any) => w.type === 'metric').flatMap((w: any) => w.properties.metrics.map((m: any[]) => m[m.length - 1].period));
    expect(periods).toHaveLength(16);
    expect(new Set(periods)).toEqual(new Set([undefined]));
    expect(JSON.stringify(widgets)).not.toContain('3600');
  });

  test.each([
    [{ dashboardName: 'has space' }, 'FleetJanitorDashboard: invalid dashboardName ("has space"): use 1 to 255 letters, digits, "-" or "_"'],
    [{ dashboardName: 'x'.repeat(256) }, 'FleetJanitorDashboard: invalid dashboardName'],
    [{ period: Duration.seconds(90) }, 'FleetJanitorDashboard: invalid period ("90 seconds"): must be a whole number of minutes'],
    [{ period: Duration.millis(60_500) }, 'FleetJanitorDashboard: invalid period ("60.5 seconds"): must be a whole number of minutes'],
    [{ period: Duration.seconds(30) }, 'FleetJanitorDashboard: invalid period ("30 seconds"): must be a whole number of minutes'],
    [{ period: Duration.seconds(0) }, 'FleetJanitorDashboard: invalid period ("0 seconds"): must be a whole number of minutes'],
  ])('invalid props %j', (props, message) => {
    const stack = newStack();
    expect(() => new FleetJanitorDashboard(stack, 'Dashboard', props)).toThrow(message);
    expect(stack.node.children).toHaveLength(0);
  });

  test('one minute is the shortest period', () => {
    const stack = newStack();
    new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [new PackerCleaner(stack, 'Cleaner')], period: Duration.minutes(1) });
    const metrics = dashboardBody(stack).widgets.filter((w: any) => w.type === 'metric').flatMap((w: any) => w.properties.metrics);
    expect(metrics.map((m: any[]) => m[m.length - 1].period)).toEqual(Array(metrics.length).fill(60));
  });

  test('a dashboardName only known at deploy time (a parameter) is left to CloudFormation', () => {
    const stack = newStack();
    const name = new CfnParameter(stack, 'DashboardName', { default: 'fleet-janitor' }).valueAsString;
    new FleetJanitorDashboard(stack, 'Dashboard', { dashboardName: name });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: { Ref: 'DashboardName' } });
  });

  test('every rule pack: nothing to report', () => {
    const stack = newStack();
    new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [new PackerCleaner(stack, 'Cleaner')] });
    expectNoNagFindings(stack);
  });
});
