/**
 * cfn-lint, AWS's CloudFormation linter, reports nothing (no error, no warning) on the synthesized
 * template of every construct, in two configurations each: all defaults, and everything on.
 *
 * Add a construct or a prop: one entry (or one more prop) in CONFIGURATIONS below. All templates are
 * linted in one cfn-lint run; each configuration is its own test, listing rule id, level, path and
 * message of every finding.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, CfnResource, Duration, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { FleetJanitorDashboard, PackerCleaner } from '../../src';
import {
  CFN_LINT_INSTALL_HINT,
  CFN_LINT_VERSION,
  CfnLintFinding,
  cfnLintStack,
  cfnLintTemplates,
  describeFindings,
  findCfnLint,
  locateCfnLint,
  stackTemplate,
} from '../helpers/cfn-lint';
import { packerCleanerEverythingOn } from '../helpers/configurations';

interface LintConfiguration {
  /** Unique; also the stack name and the template's file name (letters, digits, dashes). */
  readonly name: string;
  /** Add the construct, configured, to an empty stack. */
  build(stack: Stack): void;
}

const CONFIGURATIONS: readonly LintConfiguration[] = [
  {
    name: 'PackerCleaner-defaults',
    build: (stack) => new PackerCleaner(stack, 'PackerCleaner'),
  },
  {
    name: 'PackerCleaner-everything-on',
    build: (stack) => new PackerCleaner(stack, 'PackerCleaner', packerCleanerEverythingOn(stack).props),
  },
  {
    name: 'FleetJanitorDashboard-defaults',
    build: (stack) => new FleetJanitorDashboard(stack, 'Dashboard'),
  },
  {
    name: 'FleetJanitorDashboard-everything-on',
    build: (stack) => new FleetJanitorDashboard(stack, 'Dashboard', {
      dashboardName: 'fleet-janitor',
      period: Duration.minutes(15),
      janitors: [new PackerCleaner(stack, 'A'), new PackerCleaner(stack, 'B', packerCleanerEverythingOn(stack).props)],
    }),
  },
];

function synthesize(configuration: LintConfiguration): unknown {
  const stack = new Stack(new App(), configuration.name);
  configuration.build(stack);
  return stackTemplate(stack);
}

describe('cfn-lint', () => {
  let findings: CfnLintFinding[];

  beforeAll(() => {
    findings = cfnLintTemplates(Object.fromEntries(CONFIGURATIONS.map((c) => [c.name, synthesize(c)])));
  }, 120_000);

  test('configuration names are unique', () => {
    expect(new Set(CONFIGURATIONS.map((c) => c.name)).size).toBe(CONFIGURATIONS.length);
  });

  test.each(CONFIGURATIONS.map((c) => [c.name]))('%s: no errors, no warnings', (name) => {
    expect(describeFindings(findings.filter((f) => f.template === name))).toEqual([]);
  });

  test('every finding belongs to a configuration', () => {
    // A finding about something other than the templates (cfn-lint's configuration, a file it could not read).
    const names = new Set(CONFIGURATIONS.map((c) => c.name));
    expect(describeFindings(findings.filter((f) => !names.has(f.template)))).toEqual([]);
  });
});

describe('the cfn-lint helper', () => {
  test('finds the pinned cfn-lint', () => {
    expect(findCfnLint().version).toBe(CFN_LINT_VERSION);
  });

  test('without cfn-lint, fails saying how to install it', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'no-cfn-lint-'));
    try {
      expect(() => locateCfnLint({ PATH: empty })).toThrow(CFN_LINT_INSTALL_HINT);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  test('reports a warning: an explicit DependsOn that a GetAtt already implies (W3005)', () => {
    const stack = new Stack(new App(), 'KnownWarning');
    const queue = new sqs.CfnQueue(stack, 'Queue');
    const topic = new sns.CfnTopic(stack, 'Topic', { displayName: queue.attrQueueName });
    topic.addDependency(queue);
    const found = cfnLintStack(stack);
    expect(found).toContainEqual(expect.objectContaining({
      template: 'KnownWarning',
      ruleId: 'W3005',
      level: 'Warning',
      path: `Resources/${stack.getLogicalId(topic)}/DependsOn/0`,
    }));
    expect(describeFindings(found).join('\n')).toContain('W3005');
  });

  test('reports an error: a property the resource type does not have (E3002)', () => {
    const stack = new Stack(new App(), 'KnownError');
    new CfnResource(stack, 'Queue', { type: 'AWS::SQS::Queue', properties: { NoSuchProperty: 'x' } });
    expect(cfnLintStack(stack)).toContainEqual(expect.objectContaining({ template: 'KnownError', ruleId: 'E3002', level: 'Error' }));
  });
});
