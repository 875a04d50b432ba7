import { App, CfnParameter, Lazy, Stack, Tokenization } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
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

describe('HandlerFunction: the dead-letter queue comes with asynchronous invocation only', () => {
  const build = (invokedAsynchronously: boolean) => {
    const stack = new Stack(new App(), 'S');
    const fn = new HandlerFunction(stack, 'Handler', {
      bundle: 'packer-cleaner', serviceName: 'Test', description: 'a test handler', environment: {}, common: {}, invokedAsynchronously,
    });
    // what a construct adds: a policy CloudFormation accepts is never empty
    fn.policy.addStatements(new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    return { fn, template: Template.fromStack(stack) };
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
