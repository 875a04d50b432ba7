import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** Payload every scheduled sweep receives; the handlers accept exactly this shape. */
export const SCHEDULE_PAYLOAD = { source: 'cdk-fleet-janitor.schedule' };

/**
 * Scheduler invokes the function's unqualified ARN, so its role may invoke exactly that ARN.
 * (`targets.LambdaInvoke` grants `grantInvoke`, which adds every version and alias: `<arn>:*`.)
 * The role itself is the base class's: one per target, trusted only by this account's schedules.
 */
class InvokeUnqualifiedFunction extends targets.ScheduleTargetBase {
  private readonly fn: lambda.IFunction;

  constructor(fn: lambda.IFunction, props: targets.ScheduleTargetBaseProps) {
    super(props, fn.functionArn);
    this.fn = fn;
  }

  protected addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['lambda:InvokeFunction'],
      resources: [this.fn.functionArn],
    }));
  }
}

/**
 * Invokes a sweep on EventBridge Scheduler (the recommended scheduler). A failed sweep is retried
 * twice within the hour, not Scheduler's default of 185 times over a day: the next run comes soon.
 */
export function scheduleSweep(
  scope: Construct, fn: lambda.IFunction, expression: scheduler.ScheduleExpression, description: string,
): scheduler.Schedule {
  return new scheduler.Schedule(scope, 'Schedule', {
    schedule: expression,
    description,
    target: new InvokeUnqualifiedFunction(fn, {
      input: scheduler.ScheduleTargetInput.fromObject(SCHEDULE_PAYLOAD),
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    }),
  });
}
