import { App, CfnParameter, CfnResource, Lazy, Stack, Tokenization } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { IConstruct } from 'constructs';
import { JanitorCommonProps } from '../../src/common/common-props';
import { envNumber, HandlerFunction } from '../../src/common/handler-function';

describe('envNumber: a number as an environment variable value', () => {
  test('a plain number is its decimal string', () => {
    expect(envNumber(42)).toBe('42');
    expect(envNumber(0.5)).toBe('0.5');
  });

  test('a number token resolves to a string at synth, never to a JSON number', () => {
    const stack = new Stack(new App(), 'S');
    const value = envNumber(Lazy.number({ produce: () => 3_600 }));
    expect(stack.resolve(value)).toBe('3600');
  });

  test('a parameter\'s number stays a reference (CloudFormation passes it to Lambda as a string)', () => {
    const stack = new Stack(new App(), 'S');
    const param = new CfnParameter(stack, 'MaxAge', { type: 'Number', default: 7_200 });
    expect(stack.resolve(envNumber(param.valueAsNumber))).toEqual({ Ref: 'MaxAge' });
  });

  test('the token embeds in other strings and prints as itself', () => {
    const stack = new Stack(new App(), 'S');
    const value = envNumber(Lazy.number({ produce: () => 7 }));
    const resolvable = Tokenization.reverseString(value).firstToken!;
    expect(String(resolvable)).toBe(value);
    expect(stack.resolve(`max ${value} runs`)).toBe('max 7 runs');
  });
});

/** A HandlerFunction as a construct makes one, in the VPC's stack when there is a VPC. */
function newHandler(common: JanitorCommonProps, invokedAsynchronously = false): HandlerFunction {
  const stack = common.vpc ? Stack.of(common.vpc) : new Stack(new App(), 'S');
  const fn = new HandlerFunction(stack, 'Handler', {
    bundle: 'packer-cleaner', serviceName: 'Test', description: 'a test handler', environment: {}, common, invokedAsynchronously,
  });
  // what a construct adds: a policy CloudFormation accepts is never empty
  fn.policy.addStatements(new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
  return fn;
}

const vpcInNewStack = () => new ec2.Vpc(new Stack(new App(), 'V'), 'Vpc');

describe('HandlerFunction: the dead-letter queue comes with asynchronous invocation only', () => {
  const build = (invokedAsynchronously: boolean) => {
    const fn = newHandler({}, invokedAsynchronously);
    return { fn, template: Template.fromStack(Stack.of(fn)) };
  };

  test('invoked synchronously (a custom resource, a state machine task): no queue, no DeadLetterConfig, no SendMessage right', () => {
    const { fn, template } = build(false);
    expect(fn.deadLetterQueue).toBeUndefined();
    template.resourceCountIs('AWS::SQS::Queue', 0);
    expect(template.findResources('AWS::Lambda::Function', { Properties: { DeadLetterConfig: Match.anyValue() } })).toEqual({});
    expect(JSON.stringify(template.findResources('AWS::IAM::ManagedPolicy'))).not.toContain('sqs:SendMessage');
  });

  test('invoked asynchronously: an encrypted, TLS-only queue keeping events 14 days, the function\'s DeadLetterConfig and the right to send to it', () => {
    const { fn, template } = build(true);
    expect(fn.deadLetterQueue).toBeDefined();
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const queueArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^HandlerDeadLetterQueue'), 'Arn'] };
    template.hasResourceProperties('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: queueArn } });
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([{ Sid: 'DeadLetterQueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArn }]) },
    });
  });
});

describe('HandlerFunction: the cdk-nag acknowledgements follow the props', () => {
  const acknowledged = (resource: IConstruct): Array<{ id: string; reason: string }> =>
    ((resource.node.defaultChild as CfnResource).getMetadata('cdk_nag')?.rules_to_suppress ?? []);
  const ids = (resource: IConstruct) => acknowledged(resource).map((a) => a.id);

  test('no tracing and no VPC: no wildcard statement in the runtime policy, so nothing acknowledged there', () => {
    const fn = newHandler({ tracing: lambda.Tracing.DISABLED });
    expect(acknowledged(fn.runtimePolicy)).toEqual([]);
  });

  test('tracing: the X-Ray wildcard is acknowledged with its reason', () => {
    const fn = newHandler({ tracing: lambda.Tracing.PASS_THROUGH });
    expect(acknowledged(fn.runtimePolicy)).toEqual([expect.objectContaining({
      id: 'AwsSolutions-IAM5', applies_to: ['Resource::*'], reason: expect.stringMatching(/^xray:PutTraceSegments, xray:PutTelemetryRecords: X-Ray supports no resource-level permissions\.$/),
    })]);
  });

  test('in a VPC: the networking wildcard is acknowledged next to the X-Ray one, with the reason for each', () => {
    const fn = newHandler({ vpc: vpcInNewStack() });
    expect(acknowledged(fn.runtimePolicy)).toEqual([expect.objectContaining({
      id: 'AwsSolutions-IAM5',
      applies_to: ['Resource::*'],
      reason: 'xray:PutTraceSegments, xray:PutTelemetryRecords: X-Ray supports no resource-level permissions; '
        + 'ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DescribeSubnets, ec2:DeleteNetworkInterface, '
        + 'ec2:AssignPrivateIpAddresses, ec2:UnassignPrivateIpAddresses: the network interfaces Lambda creates in the VPC are '
        + 'not known in advance and the Describe actions support no resource-level permissions (the statements of the AWS '
        + 'managed AWSLambdaVPCAccessExecutionRole policy).',
    })]);
  });

  test('without a VPC: LambdaInsideVPC of three packs, saying how to put it in one; with a VPC: none', () => {
    const outside = acknowledged(newHandler({}).function).filter((a) => a.id.endsWith('-LambdaInsideVPC'));
    expect(outside.map((a) => a.id)).toEqual(['NIST.800.53.R5-LambdaInsideVPC', 'HIPAA.Security-LambdaInsideVPC', 'PCI.DSS.321-LambdaInsideVPC']);
    for (const a of outside) expect(a.reason).toBe('The handler only calls AWS APIs over TLS with IAM authentication and serves no network traffic; pass the vpc prop to run it in a VPC.');

    const fn = newHandler({ vpc: vpcInNewStack() });
    expect(ids(fn.function).filter((id) => id.endsWith('-LambdaInsideVPC'))).toEqual([]);
  });

  test('without a reservation: LambdaConcurrency of two packs, saying why and how to reserve; with one: none', () => {
    const unreserved = acknowledged(newHandler({}).function).filter((a) => a.id.endsWith('-LambdaConcurrency'));
    expect(unreserved.map((a) => a.id)).toEqual(['NIST.800.53.R5-LambdaConcurrency', 'HIPAA.Security-LambdaConcurrency']);
    for (const a of unreserved) {
      expect(a.reason).toBe('No reservation by default: Lambda refuses one that leaves an account below its minimum unreserved '
        + 'concurrency (10 or 50 in new accounts) and the stack would not deploy. Runs do not overlap without it (a rate '
        + 'schedule is validated to be longer than the timeout) and every action is safe to repeat; reserveConcurrency: true reserves 1.');
    }
    expect(ids(newHandler({ reserveConcurrency: true }).function).filter((id) => id.endsWith('-LambdaConcurrency'))).toEqual([]);
  });

  test('a construct whose runs are bounded otherwise gives its own concurrency reason; another user of the dead-letter queue is named', () => {
    const stack = new Stack(new App(), 'S');
    const fn = new HandlerFunction(stack, 'Handler', {
      bundle: 'packer-cleaner',
      serviceName: 'Test',
      description: 'a test handler',
      environment: {},
      common: {},
      invokedAsynchronously: true,
      concurrencyReason: 'bounded by the event source mapping',
      deadLetterQueueUsers: 'the event queue',
    });
    fn.policy.addStatements(new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    const concurrency = acknowledged(fn.function).filter((a) => a.id.endsWith('-LambdaConcurrency'));
    expect(concurrency.map((a) => a.reason)).toEqual(['bounded by the event source mapping', 'bounded by the event source mapping']);
    expect(acknowledged(fn.deadLetterQueue!)).toEqual([expect.objectContaining({
      id: 'Serverless-SQSRedrivePolicy',
      reason: 'This queue is itself the dead-letter queue of the handler and its schedule, and of the event queue; its depth alarm notifies the topic.',
    })]);
    expect(acknowledged(newHandler({}, true).deadLetterQueue!)).toEqual([expect.objectContaining({
      reason: 'This queue is itself the dead-letter queue of the handler and its schedule; its depth alarm notifies the topic.',
    })]);
  });

  test('invoked synchronously: LambdaDLQ of three packs, saying why there is no event to keep; invoked asynchronously: none', () => {
    const sync = acknowledged(newHandler({}, false).function).filter((a) => a.id.endsWith('-LambdaDLQ'));
    expect(sync.map((a) => a.id)).toEqual(['NIST.800.53.R5-LambdaDLQ', 'HIPAA.Security-LambdaDLQ', 'Serverless-LambdaDLQ']);
    for (const a of sync) expect(a.reason).toMatch(/^Invoked synchronously .*no event to keep; the error alarm notifies the topic\.$/);
    expect(ids(newHandler({}, true).function).filter((id) => id.endsWith('-LambdaDLQ'))).toEqual([]);
  });

  test('asynchronous, in a VPC and with a reservation: the function carries no cdk-nag metadata at all', () => {
    const fn = newHandler({ vpc: vpcInNewStack(), reserveConcurrency: true }, true);
    expect((fn.function.node.defaultChild as CfnResource).getMetadata('cdk_nag')).toBeUndefined();
  });
});
