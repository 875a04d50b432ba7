import { Aws, Duration, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { fail } from './validation';

/** Payload every scheduled sweep receives; the handlers accept exactly this shape (and a few standard ones). */
export const SCHEDULE_PAYLOAD = { source: 'cdk-fleet-janitor.schedule' };

/** A failed sweep is retried twice within the hour, not Scheduler's default of 185 times over a day: the next run comes soon. */
const RETRY_POLICY: scheduler.CfnSchedule.RetryPolicyProperty = { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 };

/**
 * Scheduler's target: the function's unqualified ARN, invoked by a role of the construct's own whose
 * rights are in a managed policy (invoke exactly that ARN, not its versions and aliases; send to the
 * dead-letter queue). An event Scheduler could not deliver after its retries goes to that queue.
 */
class InvokeSweep implements scheduler.IScheduleTarget {
  constructor(private readonly fn: lambda.IFunction, private readonly role: iam.IRole, private readonly deadLetterQueue: sqs.IQueue) {}

  bind(_schedule: scheduler.ISchedule): scheduler.ScheduleTargetConfig {
    return {
      arn: this.fn.functionArn,
      role: this.role,
      input: scheduler.ScheduleTargetInput.fromObject(SCHEDULE_PAYLOAD),
      retryPolicy: RETRY_POLICY,
      deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
    };
  }
}

/** Invokes a sweep on EventBridge Scheduler (the recommended scheduler). */
export function scheduleSweep(
  scope: Construct, fn: lambda.IFunction, expression: scheduler.ScheduleExpression, description: string, deadLetterQueue: sqs.IQueue,
): scheduler.Schedule {
  const role = new iam.Role(scope, 'ScheduleRole', {
    description: `Lets EventBridge Scheduler start ${description}`,
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: {
          'aws:SourceAccount': Aws.ACCOUNT_ID,
          'aws:SourceArn': `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule-group/default`,
        },
      },
    }),
  });
  const policy = new iam.ManagedPolicy(scope, 'SchedulePolicy', {
    description: `What EventBridge Scheduler needs to start ${description}`,
    roles: [role],
    statements: [
      new iam.PolicyStatement({ sid: 'InvokeSweep', actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
      new iam.PolicyStatement({ sid: 'DeadLetterQueue', actions: ['sqs:SendMessage'], resources: [deadLetterQueue.queueArn] }),
    ],
  });
  const schedule = new scheduler.Schedule(scope, 'Schedule', {
    schedule: expression,
    description,
    target: new InvokeSweep(fn, role, deadLetterQueue),
  });
  schedule.node.addDependency(policy);
  return schedule;
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_SECONDS: Record<string, number> = { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86400, days: 86400 };

/**
 * Runs must not overlap even without a concurrency reservation: a rate schedule's period must be
 * longer than the function timeout, so a run has always ended when the next one starts. (A cron
 * expression's spacing is not checked.)
 */
export function checkScheduleAgainstTimeout(
  construct: string, expression: scheduler.ScheduleExpression | undefined, timeout: Duration, prop = 'schedule',
): void {
  if (!expression || Token.isUnresolved(expression.expressionString) || timeout.isUnresolved()) return;
  const rate = RATE.exec(expression.expressionString);
  if (!rate) return;
  const periodSeconds = Number(rate[1]) * UNIT_SECONDS[rate[2]];
  if (periodSeconds <= timeout.toSeconds()) {
    fail(construct, prop, expression.expressionString,
      `a rate schedule must be longer than the function timeout (${timeout.toHumanString()}), or two runs could overlap`);
  }
}
