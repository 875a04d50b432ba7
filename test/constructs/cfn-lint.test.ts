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
import { AmiManager, EcsInstanceDrainer, FleetJanitorDashboard, ImageRetention, InstanceDecommissioner, PackerCleaner, TagPolicyEngine } from '../../src';
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
import {
  amiManagerEverythingOn, ecsFleet, ecsInstanceDrainerEverythingOn, imageRetentionEverythingOn, instanceDecommissionerEverythingOn,
  packerCleanerEverythingOn, tagPolicyEngineEverythingOn, tagPolicyRules,
} from '../helpers/configurations';

interface LintConfiguration {
  /** Unique; also the stack name and the template's file name (letters, digits, dashes). */
  readonly name: string;
  /** Findings in resources aws-cdk-lib makes and we cannot change, each named exactly (checked to occur). */
  readonly thirdParty?: readonly RegExp[];
  /** Add the construct, configured, to an empty stack. */
  build(stack: Stack): void;
}

/*
 * The CDK provider framework's functions and waiter state machine each carry a DependsOn on their
 * role, which their GetAtt of the role already implies (W3005). aws-cdk-lib adds them; a construct
 * has no way to remove a construct-level dependency of a resource it does not own.
 */
const PROVIDER_FRAMEWORK_W3005 = [
  /^W3005 Warning Resources\/FleetJanitorAmiManagerProviderframeworkonEvent[0-9A-F]{8}\/DependsOn\/1 .*ServiceRole/,
  /^W3005 Warning Resources\/FleetJanitorAmiManagerProviderframeworkisComplete[0-9A-F]{8}\/DependsOn\/1 .*ServiceRole/,
  /^W3005 Warning Resources\/FleetJanitorAmiManagerProviderframeworkonTimeout[0-9A-F]{8}\/DependsOn\/1 .*ServiceRole/,
  /^W3005 Warning Resources\/FleetJanitorAmiManagerProviderwaiterstatemachine[0-9A-F]{8}\/DependsOn\/1 .*Role/,
];

/*
 * aws-cdk-lib's StateMachine adds a construct-level dependency on its role, rendered as a DependsOn
 * the RoleArn's GetAtt already implies; a construct cannot remove a dependency aws-cdk-lib adds.
 */
const STATE_MACHINE_W3005 = [/^W3005 Warning Resources\/DrainerStateMachine[0-9A-F]{8}\/DependsOn\/\d .*DrainerStateMachineRole/];

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
    name: 'AmiManager-defaults',
    build: (stack) => new AmiManager(stack, 'Ami', { instanceId: 'i-0123456789abcdef0' }),
    thirdParty: PROVIDER_FRAMEWORK_W3005,
  },
  {
    name: 'AmiManager-everything-on',
    build: (stack) => {
      // Two AmiManagers share the stack's provider; the second makes its own topic.
      const props = amiManagerEverythingOn(stack).props;
      new AmiManager(stack, 'Ami', props);
      new AmiManager(stack, 'SecondAmi', { ...props, topic: undefined, instanceId: 'i-0123456789abcdef1' });
    },
    thirdParty: PROVIDER_FRAMEWORK_W3005,
  },
  {
    name: 'TagPolicyEngine-defaults',
    build: (stack) => new TagPolicyEngine(stack, 'Tags', { rules: tagPolicyRules() }),
    thirdParty: [/^W3005 Warning Resources\/TagsRulesProviderframeworkonEvent[0-9A-F]{8}\/DependsOn\/1 .*ServiceRole/],
  },
  {
    name: 'TagPolicyEngine-everything-on',
    build: (stack) => new TagPolicyEngine(stack, 'Tags', tagPolicyEngineEverythingOn(stack).props),
    thirdParty: [/^W3005 Warning Resources\/TagsRulesProviderframeworkonEvent[0-9A-F]{8}\/DependsOn\/\d .*ServiceRole/],
  },
  {
    name: 'InstanceDecommissioner-defaults',
    build: (stack) => new InstanceDecommissioner(stack, 'Decom'),
  },
  {
    name: 'InstanceDecommissioner-everything-on',
    build: (stack) => new InstanceDecommissioner(stack, 'Decom', instanceDecommissionerEverythingOn(stack).props),
  },
  {
    name: 'EcsInstanceDrainer-defaults',
    build: (stack) => {
      const { cluster, capacity } = ecsFleet(stack);
      new EcsInstanceDrainer(stack, 'Drainer', { cluster, autoScalingGroup: capacity });
    },
    thirdParty: STATE_MACHINE_W3005,
  },
  {
    name: 'EcsInstanceDrainer-everything-on',
    build: (stack) => {
      const { props, second } = ecsInstanceDrainerEverythingOn(stack);
      new EcsInstanceDrainer(stack, 'Drainer', props).addAutoScalingGroup(second);
    },
    thirdParty: STATE_MACHINE_W3005,
  },
  {
    name: 'ImageRetention-defaults',
    build: (stack) => new ImageRetention(stack, 'Retention'),
  },
  {
    name: 'ImageRetention-everything-on',
    build: (stack) => new ImageRetention(stack, 'Retention', imageRetentionEverythingOn(stack).props),
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
    const thirdParty = CONFIGURATIONS.find((c) => c.name === name)!.thirdParty ?? [];
    const described = describeFindings(findings.filter((f) => f.template === name));
    expect(described.filter((line) => !thirdParty.some((pattern) => pattern.test(line)))).toEqual([]);
    // Each third-party finding named occurs exactly once: the list never hides more than it says.
    for (const pattern of thirdParty) expect(described.filter((line) => pattern.test(line))).toHaveLength(1);
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
