import { Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, INagLogger, NagLoggerSuppressedData } from 'cdk-nag';

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

/**
 * Runs cdk-nag's AwsSolutions pack on a stack that has not been synthesized yet and expects no error
 * and no warning: every finding is fixed or acknowledged with a reason. Returns the acknowledged
 * findings (with the reason cdk-nag reports) for further checks.
 */
export function expectNoNagFindings(stack: Stack): AcknowledgedFinding[] {
  const recorder = new AcknowledgementRecorder();
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true, reports: false, additionalLoggers: [recorder] }));
  const annotations = Annotations.fromStack(stack);
  const describe = (messages: ReturnType<typeof annotations.findError>) =>
    messages.map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);
  expect(describe(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
  expect(describe(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')))).toEqual([]);
  // Guard against a vacuous pass (aspects added after the stack was already synthesized).
  expect(recorder.checks).toBeGreaterThan(0);
  return recorder.acknowledged;
}
