import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { IConstruct } from 'constructs';
import { NagAcknowledgement, acknowledgeNagFindings, acknowledgeRoleDefaultPolicy, flattenFinding } from './nag';

/*
 * The CDK provider framework (custom_resources.Provider) brings its own functions, roles and waiter
 * state machine, built by aws-cdk-lib. What the rule packs find there is acknowledged here, on each
 * of those resources, with the reason it holds for the framework.
 */

const FRAMEWORK_FUNCTIONS = ['framework-onEvent', 'framework-isComplete', 'framework-onTimeout'];
const WAITER = 'waiter-state-machine';

export function acknowledgeProviderFramework(provider: cr.Provider, inVpc: boolean): void {
  for (const id of FRAMEWORK_FUNCTIONS) {
    const fn = provider.node.tryFindChild(id);
    if (!fn) continue;
    const functionAcks: NagAcknowledgement[] = [
      ...['AwsSolutions-L1', 'Serverless-LambdaLatestVersion'].map((rule) => ({
        id: rule, reason: 'A function of the CDK provider framework: aws-cdk-lib chooses and updates its runtime, not this library.',
      })),
      ...['NIST.800.53.R5-LambdaDLQ', 'HIPAA.Security-LambdaDLQ', 'Serverless-LambdaDLQ'].map((rule) => ({
        id: rule, reason: 'Invoked synchronously by CloudFormation or by the waiter state machine, never asynchronously: a failure is reported to CloudFormation, there is no event to keep.',
      })),
      ...['NIST.800.53.R5-LambdaConcurrency', 'HIPAA.Security-LambdaConcurrency'].map((rule) => ({
        id: rule, reason: 'Invoked once per custom resource event during deployments; a reservation could stop a stack from deploying (account minimum of unreserved concurrency).',
      })),
      { id: 'Serverless-LambdaTracing', reason: 'A function of the CDK provider framework that only relays events (aws-cdk-lib offers no tracing option for it); the handler it invokes is traced with X-Ray.' },
      { id: 'Serverless-LambdaDefaultMemorySize', reason: 'A function of the CDK provider framework that only relays events; aws-cdk-lib sets its configuration.' },
    ];
    if (!inVpc) {
      for (const pack of ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321']) {
        functionAcks.push({
          id: `${pack}-LambdaInsideVPC`,
          reason: 'The framework functions only call AWS APIs (Lambda, Step Functions, the CloudFormation response URL); '
            + 'pass the vpc prop to run them in a VPC.',
        });
      }
    }
    acknowledgeNagFindings(fn, functionAcks);
    const role = fn.node.tryFindChild('ServiceRole');
    if (role) {
      const managed = Stack.of(role).resolve((role.node.defaultChild as iam.CfnRole).managedPolicyArns) as unknown[] | undefined;
      const findings = (managed ?? []).map((arn) => `Policy::${flattenFinding(role, arn)}`);
      if (findings.length > 0) {
        acknowledgeNagFindings(role, [{
          id: 'AwsSolutions-IAM4',
          reason: 'The role of a CDK provider framework function: aws-cdk-lib attaches AWSLambdaBasicExecutionRole (and the VPC access role in a VPC), which lets it write its own logs.',
          appliesTo: findings,
        }]);
      }
      acknowledgeDefaultPolicy(role, 'the framework function invokes the handler (and its versions and aliases) and starts the waiter state machine');
    }
  }
  const waiter = provider.node.tryFindChild(WAITER);
  if (waiter) {
    acknowledgeNagFindings(waiter, ['AwsSolutions-SF2', 'Serverless-StepFunctionStateMachineXray'].map((rule) => ({
      id: rule, reason: 'The CDK provider framework\'s waiter state machine only retries isComplete on a timer; the handler function itself is traced with X-Ray.',
    })));
    const role = waiter.node.tryFindChild('Role');
    if (role) acknowledgeDefaultPolicy(role, 'the waiter invokes the framework\'s isComplete and onTimeout functions (and their versions)');
  }
}

function acknowledgeDefaultPolicy(role: IConstruct, what: string): void {
  acknowledgeRoleDefaultPolicy(role, `The inline policy aws-cdk-lib's provider framework writes for its own role: ${what}.`,
    `${what}: the ":*" covers the function's versions and aliases, never another function.`);
}
