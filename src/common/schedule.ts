import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** Payload every scheduled sweep receives; the handlers accept exactly this shape. */
export const SCHEDULE_PAYLOAD = { source: 'cdk-fleet-janitor.schedule' };

/**
 * Invokes a sweep on EventBridge Scheduler (the recommended scheduler). A failed sweep is retried
 * twice within the hour, not Scheduler's default of 185 times over a day: the next run comes soon.
 */
export function scheduleSweep(scope: Construct, fn: lambda.IFunction, expression: scheduler.ScheduleExpression, description: string): scheduler.Schedule {
  return new scheduler.Schedule(scope, 'Schedule', {
    schedule: expression,
    description,
    target: new targets.LambdaInvoke(fn, {
      input: scheduler.ScheduleTargetInput.fromObject(SCHEDULE_PAYLOAD),
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    }),
  });
}
