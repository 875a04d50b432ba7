import { App, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, IConstruct } from 'constructs';
import { acknowledgeProviderFramework } from '../../src/common/provider-framework';

/*
 * The acknowledgements on the provider framework's own resources, against trees the AmiManager never
 * builds: a provider without isComplete (no waiter), one with a role of the user's, and hand-made
 * trees with the parts aws-cdk-lib might leave out (no managed policies, no default policy, no
 * wildcard, no waiter role). Whatever is missing is skipped, never acknowledged empty.
 */

function newStack(): Stack {
  return new Stack(new App(), 'TestStack');
}

/** Acknowledged ids recorded on a construct's resource (cdk-nag 3 metadata) → reason. */
function acknowledged(construct: IConstruct): Record<string, string> {
  const resource = (construct.node.defaultChild ?? construct) as IConstruct;
  return Object.fromEntries(resource.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
    .map(([key, reason]) => [key.replace(/^Annotation::/, ''), reason]));
}

function handler(stack: Stack, id = 'Handler'): lambda.Function {
  return new lambda.Function(stack, id, { runtime: lambda.Runtime.NODEJS_20_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=1') });
}

/** A construct with a CloudFormation resource as its default child, as a framework function or waiter has. */
function resourceNode(scope: Construct, id: string, type: string): Construct {
  const node = new Construct(scope, id);
  new CfnResource(node, 'Resource', { type });
  return node;
}

test('a provider without isComplete: the onEvent function is acknowledged, and there is no waiter to acknowledge', () => {
  const stack = newStack();
  const provider = new cr.Provider(stack, 'Provider', { onEventHandler: handler(stack) });
  expect(provider.node.tryFindChild('framework-isComplete')).toBeUndefined();
  expect(provider.node.tryFindChild('waiter-state-machine')).toBeUndefined();
  acknowledgeProviderFramework(provider, false);
  const onEvent = provider.node.findChild('framework-onEvent');
  expect(Object.keys(acknowledged(onEvent))).toEqual(expect.arrayContaining(['AwsSolutions-L1', 'Serverless-LambdaDLQ', 'NIST.800.53.R5-LambdaInsideVPC']));
  expect(acknowledged(onEvent)['NIST.800.53.R5-LambdaInsideVPC']).toBe(
    'The framework functions only call AWS APIs (Lambda, Step Functions, the CloudFormation response URL); pass the vpc prop to run them in a VPC.');
  expect(Object.keys(acknowledged(onEvent.node.findChild('ServiceRole')))).toEqual(['AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]']);
});

test('in a VPC, the functions are not acknowledged as outside one', () => {
  const stack = newStack();
  const provider = new cr.Provider(stack, 'Provider', { onEventHandler: handler(stack) });
  acknowledgeProviderFramework(provider, true);
  expect(Object.keys(acknowledged(provider.node.findChild('framework-onEvent'))).filter((id) => id.endsWith('LambdaInsideVPC'))).toEqual([]);
});

test('a provider with a role of the user\'s: the framework functions have no role of their own, and the user\'s role is left alone', () => {
  const stack = newStack();
  const role = new iam.Role(stack, 'UserRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  const provider = new cr.Provider(stack, 'Provider', {
    onEventHandler: handler(stack), isCompleteHandler: handler(stack, 'IsComplete'), frameworkOnEventRole: role, frameworkCompleteAndTimeoutRole: role,
  });
  acknowledgeProviderFramework(provider, false);
  expect(provider.node.findChild('framework-onEvent').node.tryFindChild('ServiceRole')).toBeUndefined();
  expect(acknowledged(provider.node.findChild('framework-isComplete'))).toHaveProperty('AwsSolutions-L1');
  expect(acknowledged(role)).toEqual({});
});

test('parts aws-cdk-lib might leave out are skipped: no managed policy, no default policy, no wildcard, no waiter role', () => {
  const stack = newStack();
  const provider = new Construct(stack, 'Provider');
  const onEvent = resourceNode(provider, 'framework-onEvent', 'AWS::Lambda::Function');
  const bareRole = new iam.Role(onEvent, 'ServiceRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  bareRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: ['arn:aws:lambda:eu-west-1:111122223333:function:exact'] }));
  const isComplete = resourceNode(provider, 'framework-isComplete', 'AWS::Lambda::Function');
  const unusedRole = new iam.Role(isComplete, 'ServiceRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  const waiter = resourceNode(provider, 'waiter-state-machine', 'AWS::StepFunctions::StateMachine');

  acknowledgeProviderFramework(provider as unknown as cr.Provider, false);

  // No managed policy: nothing for AwsSolutions-IAM4 to name. No wildcard: nothing for AwsSolutions-IAM5.
  expect(acknowledged(bareRole)).toEqual({});
  expect(acknowledged(unusedRole)).toEqual({});
  const policy = bareRole.node.findChild('DefaultPolicy');
  expect(Object.keys(acknowledged(policy)).sort()).toEqual(['HIPAA.Security-IAMNoInlinePolicy', 'NIST.800.53.R5-IAMNoInlinePolicy', 'PCI.DSS.321-IAMNoInlinePolicy']);
  expect(acknowledged(policy)['PCI.DSS.321-IAMNoInlinePolicy']).toMatch(/^The inline policy aws-cdk-lib's provider framework writes for its own role: the framework function invokes the handler/);
  expect(Object.keys(acknowledged(waiter)).sort()).toEqual(['AwsSolutions-SF2', 'Serverless-StepFunctionStateMachineXray']);
  expect(acknowledged(isComplete)).toHaveProperty('AwsSolutions-L1');
});
