import { Aspects, IAspect, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import {
  AwsSolutionsChecks, HIPAASecurityChecks, INagLogger, NagLoggerSuppressedData, NagPackProps, NIST80053R5Checks, PCIDSS321Checks,
  ServerlessChecks,
} from 'cdk-nag';
import { IConstruct } from 'constructs';

/** The rule packs a regulated platform team runs, by the prefix of their rule ids. */
export const RULE_PACKS: Record<string, new (props?: NagPackProps) => IAspect> = {
  'AwsSolutions': AwsSolutionsChecks,
  'NIST.800.53.R5': NIST80053R5Checks,
  'HIPAA.Security': HIPAASecurityChecks,
  'PCI.DSS.321': PCIDSS321Checks,
  'Serverless': ServerlessChecks,
};

/** A finding cdk-nag found and that an acknowledgement (cdk_nag metadata) covered. */
export interface AcknowledgedFinding {
  readonly path: string;
  readonly ruleId: string;
  readonly findingId: string;
  readonly reason: string;
}

/** Records what cdk-nag acknowledged, so a test can check the acknowledgements are the intended ones. */
class AcknowledgementRecorder implements INagLogger {
  readonly acknowledged: AcknowledgedFinding[] = [];
  checks = 0;
  onCompliance(): void { this.checks++; }
  onNonCompliance(): void { this.checks++; }
  onSuppressed(data: NagLoggerSuppressedData): void {
    this.checks++;
    this.acknowledged.push({ path: data.resource.node.path, ruleId: data.ruleId, findingId: data.findingId, reason: data.suppressionReason });
  }
  onError(): void { this.checks++; }
  onSuppressedError(): void { this.checks++; }
  onNotApplicable(): void {}
}

export interface NagCheckOptions {
  /** Rule packs to run, by prefix. @default every pack in RULE_PACKS */
  readonly packs?: string[];
  /**
   * Constructs the test made as the user would (a VPC, a key): their own findings are the user's
   * business and are not counted. Everything else in the stack is.
   */
  readonly userConstructs?: IConstruct[];
}

/**
 * Runs cdk-nag rule packs on a stack that has not been synthesized yet and expects no error and no
 * warning: every finding is fixed or acknowledged with a reason. Returns the acknowledged findings
 * (with the reason cdk-nag reports) for further checks.
 */
export function expectNoNagFindings(stack: Stack, options: NagCheckOptions = {}): AcknowledgedFinding[] {
  const packs = options.packs ?? Object.keys(RULE_PACKS);
  const recorder = new AcknowledgementRecorder();
  for (const pack of packs) {
    Aspects.of(stack).add(new RULE_PACKS[pack]({ verbose: true, reports: false, additionalLoggers: [recorder] }));
  }
  const userPaths = (options.userConstructs ?? []).map((c) => `/${c.node.path}`);
  const annotations = Annotations.fromStack(stack);
  const pattern = Match.stringLikeRegexp(`^(${packs.map((p) => p.replace(/\./g, '\\.')).join('|')})-`);
  const describe = (messages: ReturnType<typeof annotations.findError>) => messages
    .filter((m) => !userPaths.some((p) => m.id === p || m.id.startsWith(`${p}/`)))
    .map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);
  expect(describe(annotations.findError('*', pattern))).toEqual([]);
  expect(describe(annotations.findWarning('*', pattern))).toEqual([]);
  // Guard against a vacuous pass (aspects added after the stack was already synthesized).
  expect(recorder.checks).toBeGreaterThan(0);
  return recorder.acknowledged;
}
