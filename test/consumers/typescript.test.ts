import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { synthConsumerApp } from './typescript/app';
import { synthSignalsExample } from './typescript/signals';

/*
 * The TypeScript consumer app (PackerCleaner, AmiManager, TagPolicyEngine, InstanceDecommissioner, EcsInstanceDrainer,
 * ImageRetention and a FleetJanitorDashboard over the six), checked by the same script as the Python, Java and Go apps.
 */
const CHECKER = path.join(__dirname, 'check-template.cjs');
/** How many checks check-template.cjs runs; a broken template fails exactly one of them. */
const CHECKS = 59;
const ONE_FAILED = `[typescript] ${CHECKS - 1} passed, 1 failed`;

function runChecker(outdir: string): { status: number; output: string } {
  try {
    return { status: 0, output: execFileSync(process.execPath, [CHECKER, 'typescript', outdir], { encoding: 'utf8' }) };
  } catch (e: any) {
    return { status: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe('consumer app: typescript', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-ts-'));
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('synthesizes a stack that passes every template check', () => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    synthConsumerApp(outdir);
    const { status, output } = runChecker(outdir);
    expect(output).toContain(`[typescript] ${CHECKS} passed, 0 failed`);
    expect(status).toBe(0);
  });

  /** Runs the checker on a copy of the synthesized assembly whose template `change` edited. */
  function checkChanged(change: (resources: Record<string, any>) => void): { status: number; output: string } {
    const file = path.join(outdir, 'ConsumerStack.template.json');
    const template = JSON.parse(fs.readFileSync(file, 'utf8'));
    change(template.Resources);
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-ts-broken-'));
    try {
      fs.cpSync(outdir, broken, { recursive: true });
      fs.writeFileSync(path.join(broken, 'ConsumerStack.template.json'), JSON.stringify(template));
      return runChecker(broken);
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  }
  const ofType = (resources: Record<string, any>, type: string) => Object.values<any>(resources).filter((r) => r.Type === type);

  test('the checker fails, naming the language and the check, when the template differs', () => {
    const { status, output } = checkChanged((resources) => {
      // The PackerCleaner's schedule (the others run at their defaults).
      for (const schedule of ofType(resources, 'AWS::Scheduler::Schedule')) {
        if (schedule.Properties.ScheduleExpression === 'rate(30 minutes)') schedule.Properties.ScheduleExpression = 'rate(1 hour)';
      }
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL schedule: EventBridge Scheduler with the given expression: ScheduleExpression is rate(1 hour)');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an AmiManager property CloudFormation would send differently', () => {
    const { status, output } = checkChanged((resources) => {
      for (const ami of ofType(resources, 'Custom::FleetJanitorAmi')) ami.Properties.DeprecateAfterSeconds = 7776000;
    });
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL AmiManager: a Custom::FleetJanitorAmi .*DeprecateAfterSeconds is 7776000, expected "7776000"/);
  });

  test('the checker fails on a destructive AmiManager statement without the stack-id condition', () => {
    const { status, output } = checkChanged((resources) => {
      for (const policy of ofType(resources, 'AWS::IAM::ManagedPolicy')) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          if ([statement.Action].flat().includes('ec2:DeleteSnapshot')) delete statement.Condition;
        }
      }
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL AmiManager IAM: destructive EC2 actions only on resources tagged with this stack\'s id: ec2:DeleteSnapshot');
  });

  test('the checker fails on an inline policy on the AmiManager function\'s role', () => {
    const { status, output } = checkChanged((resources) => {
      const fn = ofType(resources, 'AWS::Lambda::Function').find((f) => f.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'AmiManager');
      resources.Injected = { Type: 'AWS::IAM::Policy', Properties: { Roles: [{ Ref: fn.Properties.Role['Fn::GetAtt'][0] }], PolicyDocument: { Statement: [] } } };
    });
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL IAM: no inline policy on our roles .*: inline policies on FleetJanitorAmiManagerProviderHandlerRole\w+: Injected/);
  });

  test('the checker fails on a TagPolicyEngine rule item the handler would read differently', () => {
    const { status, output } = checkChanged((resources) => {
      for (const rules of ofType(resources, 'Custom::FleetJanitorTagRules')) {
        const items = JSON.parse(rules.Properties.Rules);
        items[2].Required = true;
        rules.Properties.Rules = JSON.stringify(items);
      }
    });
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL TagPolicyEngine: a Custom::FleetJanitorTagRules .*\.Rules\[2\] is \{.*"Required":true.*\}, expected \{.*"Required":"true"/);
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on a TagPolicyEngine stop not limited to marked instances', () => {
    const { status, output } = checkChanged((resources) => {
      for (const policy of ofType(resources, 'AWS::IAM::ManagedPolicy')) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          if (statement.Sid === 'ActOnViolations') delete statement.Condition.Null['ec2:ResourceTag/fleet-janitor:violation'];
        }
      }
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL TagPolicyEngine IAM: tag, unmark and stop only unprotected, selected instances; stop only marked ones; nothing more: ActOnViolations conditions:');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an InstanceDecommissioner event source without partial batch responses', () => {
    const { status, output } = checkChanged((resources) => {
      for (const mapping of ofType(resources, 'AWS::Lambda::EventSourceMapping')) delete mapping.Properties.FunctionResponseTypes;
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL InstanceDecommissioner: the event source mapping feeds the handler batches of 10 with partial batch responses: '
      + 'DecommissionerEventSource');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an InstanceDecommissioner record change that may UPSERT', () => {
    const { status, output } = checkChanged((resources) => {
      for (const policy of ofType(resources, 'AWS::IAM::ManagedPolicy')) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          if (statement.Sid === 'ChangeRecords') statement.Condition['ForAllValues:StringEquals']['route53:ChangeResourceRecordSetsActions'].push('UPSERT');
        }
      }
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL InstanceDecommissioner IAM: records of the given zone only, by DELETE and CREATE; alarms; the hook; the default bus; '
      + 'nothing more: ChangeRecords may do more than DELETE and CREATE');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an EcsInstanceDrainer StopTask without the ecs:cluster condition', () => {
    const { status, output } = checkChanged((resources) => {
      for (const policy of ofType(resources, 'AWS::IAM::ManagedPolicy')) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          if (statement.Sid === 'StopStandaloneTasks') delete statement.Condition;
        }
      }
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL EcsInstanceDrainer IAM: ECS actions only in the cluster (StopTask for stopStandaloneTasksAfter); lifecycle actions on the group; '
      + 'its executions; nothing more: ecs:StopTask (StopStandaloneTasks) without the ecs:cluster condition');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on a second termination hook on the drained group (aws-cdk-lib\'s drain hook)', () => {
    const { status, output } = checkChanged((resources) => {
      const [hook] = ofType(resources, 'AWS::AutoScaling::LifecycleHook');
      resources.DrainHook = { Type: 'AWS::AutoScaling::LifecycleHook', Properties: { ...hook.Properties, HeartbeatTimeout: 300 } };
    });
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL EcsInstanceDrainer: one termination hook on the group, .*: expected 1 termination lifecycle hook on \w+, found 2: \w+, DrainHook/);
    expect(output).toContain(ONE_FAILED);
  });

  /** Applies `change` to every statement of the managed policies whose Sid is `sid`. */
  const changeStatement = (sid: string, change: (statement: any) => void) => (resources: Record<string, any>) => {
    for (const policy of ofType(resources, 'AWS::IAM::ManagedPolicy')) {
      for (const statement of policy.Properties.PolicyDocument.Statement) if (statement.Sid === sid) change(statement);
    }
  };

  test('the checker fails on an ImageRetention BatchDeleteImage that would delete in a protected repository', () => {
    const { status, output } = checkChanged(changeStatement('DeleteImages', (statement) => delete statement.Condition));
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL ImageRetention IAM: reads and BatchDeleteImage on the repository only, BatchDeleteImage without the protection tag; '
      + 'no registry-wide listing: ecr:BatchDeleteImage without the protection-tag Null condition: undefined');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an ImageRetention BatchDeleteImage beyond the repository', () => {
    const { status, output } = checkChanged(changeStatement('DeleteImages', (statement) => {
      statement.Resource = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecr:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':repository/*']] };
    }));
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL ImageRetention IAM: reads and BatchDeleteImage on the repository only, .*: ecr:BatchDeleteImage on .*repository\/\*.*, not only \{"Fn::GetAtt":\["Images\w+","Arn"\]\}/);
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an ImageRetention that may assume any role', () => {
    const { status, output } = checkChanged(changeStatement('ReadConsumerAccounts', (statement) => { statement.Resource = 'arn:aws:iam::*:role/*'; }));
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL ImageRetention IAM: sts:AssumeRole on the consumer account\'s reader role only; the usage reads on *, read-only: '
      + 'sts:AssumeRole on "arn:aws:iam::*:role/*", expected ["arn:aws:iam::111122223333:role/ImageUsageReader"]');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on an ImageRetention environment the handler would read differently', () => {
    const { status, output } = checkChanged((resources) => {
      const fn = ofType(resources, 'AWS::Lambda::Function').find((f) => f.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'ImageRetention');
      fn.Properties.Environment.Variables.TASK_DEFINITIONS = '{"keepNewestRevisions":3,"deregisterUnused":true,"deleteInactive":false}';
    });
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL ImageRetention environment: props reach the handler; the repository by reference; the defaults; nothing more: TASK_DEFINITIONS=');
    expect(output).toContain(ONE_FAILED);
  });

  /** Applies `change` to each JSON text part of the dashboard body (its references are the other parts). */
  const changeDashboardText = (change: (text: string) => string) => (resources: Record<string, any>) => {
    for (const dashboard of ofType(resources, 'AWS::CloudWatch::Dashboard')) {
      const parts: unknown[] = dashboard.Properties.DashboardBody['Fn::Join'][1];
      dashboard.Properties.DashboardBody['Fn::Join'][1] = parts.map((p) => (typeof p === 'string' ? change(p) : p));
    }
  };

  test('the checker fails on a dashboard whose rows are not the janitors in the order given', () => {
    const { status, output } = checkChanged(changeDashboardText((text) => text.replace('### TagPolicyEngine `ConsumerStack/Tags`', '### TagPolicyEngine `ConsumerStack/Other`')));
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL FleetJanitorDashboard: one dashboard named fleet-janitor, .*: rows \[.*"### TagPolicyEngine `ConsumerStack\/Other`".*\], expected/);
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on a dashboard graph at another period', () => {
    let changed = 0; // the first graph's first metric only
    const { status, output } = checkChanged(changeDashboardText((text) => (text.includes('"period":900') && changed++ === 0 ? text.replace('"period":900', '"period":3600') : text)));
    expect(status).toBe(1);
    expect(output).toContain('[typescript] FAIL FleetJanitorDashboard: each row graphs its own janitor\'s run metrics and handler, every graph at 900 s: PackerCleaner: periods [3600,900]');
    expect(output).toContain(ONE_FAILED);
  });

  test('the checker fails on a dashboard row that leaves out an alarm of its janitor', () => {
    const { status, output } = checkChanged((resources) => {
      const [[, alarm]] = Object.entries<any>(resources).filter(([id, r]) => r.Type === 'AWS::CloudWatch::Alarm' && id.startsWith('Retention'));
      resources.RetentionExtraAlarm = { Type: 'AWS::CloudWatch::Alarm', Properties: { ...alarm.Properties, Namespace: 'Platform', MetricName: 'Builds', Dimensions: [] } };
    });
    expect(status).toBe(1);
    expect(output).toMatch(/FAIL FleetJanitorDashboard: each row's alarm widget shows every alarm of its janitor .*: ImageRetention: shows \[.*\], its topic's alarms are \[.*"RetentionExtraAlarm".*\]/);
    expect(output).toContain(ONE_FAILED);
  });
});

describe('README example: the AmiManager waits for the instance\'s CloudFormation signal', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-ts-signals-'));
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('the image is taken after the signal, and the user data waits for the image only after signalling', () => {
    synthSignalsExample(outdir);
    const resources: Record<string, any> = JSON.parse(fs.readFileSync(path.join(outdir, 'SignalsStack.template.json'), 'utf8')).Resources;
    const byType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

    const [[instanceId, instance]] = byType('AWS::EC2::Instance');
    expect(instance.CreationPolicy).toEqual({ ResourceSignal: { Count: 1, Timeout: 'PT20M' } });
    const [[amiId, ami]] = byType('Custom::FleetJanitorAmi');
    expect(ami.DependsOn).toContain(instanceId);
    expect(ami.Properties.InstanceId).toEqual({ Ref: instanceId });

    const userData = JSON.stringify(instance.Properties.UserData);
    const signal = userData.indexOf('/opt/aws/bin/cfn-signal');
    const wait = userData.indexOf('aws ec2 describe-images');
    expect(userData.indexOf('dnf install -y aws-cfn-bootstrap')).toBeLessThan(userData.indexOf('/opt/aws/bin/cfn-init'));
    expect(signal).toBeGreaterThan(0);
    expect(wait).toBeGreaterThan(signal);
    expect(userData).toContain('Name=tag:fleet-janitor:ami:stack-id,Values=');

    const instanceRole = instance.Properties.IamInstanceProfile;
    expect(instanceRole).toBeDefined();
    const describe = byType('AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().includes('ec2:DescribeImages'));
    expect(describe).toHaveLength(1);

    const templates = byType('AWS::EC2::LaunchTemplate').filter(([, t]) => t.Properties.LaunchTemplateData.ImageId);
    expect(templates.map(([, t]) => t.Properties.LaunchTemplateData.ImageId)).toEqual([{ Ref: amiId }]);
  });
});
