import { App, CfnResource, Fn, Lazy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, IConstruct } from 'constructs';
import { acknowledgeNagFindings, resourceFinding } from '../../src/common/nag';

const REASON = 'the reason this finding is inherent to the construct';
const ARN_FINDING = 'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*';

function newStack(): Stack {
  return new Stack(new App(), 'TestStack');
}

/** The cdk-nag 3 acknowledgements recorded on exactly this construct: acknowledged id → reason. */
function v3Acknowledgements(construct: IConstruct): Record<string, string> {
  return Object.assign({}, ...construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .map((entry) => entry.data));
}

/** The cdk-nag 2 acknowledgements in the CloudFormation metadata of a resource. */
function v2Acknowledgements(resource: CfnResource): unknown[] {
  return resource.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
}

describe('acknowledgeNagFindings: cdk-nag 3 acknowledgements next to the cdk-nag 2 metadata', () => {
  test('a plain rule: one id, the rule, on the resource itself', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason: REASON }]);
    expect(v3Acknowledgements(queue)).toEqual({ 'Annotation::AwsSolutions-SQS3': REASON });
    expect(v2Acknowledgements(queue)).toEqual([{ id: 'AwsSolutions-SQS3', reason: REASON }]);
  });

  test('a granular rule: one id per finding, each with the finding in brackets, verbatim (spaces, "::")', () => {
    const policy = new iam.CfnManagedPolicy(newStack(), 'Policy', { policyDocument: {} });
    const keyPairs = 'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:key-pair/packer *';
    acknowledgeNagFindings(policy, [
      { id: 'AwsSolutions-IAM5', reason: 'Describe actions support no resource-level permissions', appliesTo: ['Resource::*'] },
      { id: 'AwsSolutions-IAM5', reason: REASON, appliesTo: [ARN_FINDING, keyPairs] },
    ]);
    expect(v3Acknowledgements(policy)).toEqual({
      'Annotation::AwsSolutions-IAM5[Resource::*]': 'Describe actions support no resource-level permissions',
      [`Annotation::AwsSolutions-IAM5[${ARN_FINDING}]`]: REASON,
      [`Annotation::AwsSolutions-IAM5[${keyPairs}]`]: REASON,
    });
    expect(v2Acknowledgements(policy)).toEqual([
      { id: 'AwsSolutions-IAM5', reason: 'Describe actions support no resource-level permissions', applies_to: ['Resource::*'] },
      { id: 'AwsSolutions-IAM5', reason: REASON, applies_to: [ARN_FINDING, keyPairs] },
    ]);
  });

  test.each([
    ['AwsSolutions-SQS3'],
    ['NIST.800.53.R5-LambdaInsideVPC'],
    ['NIST.800.53.R4-LambdaInsideVPC'],
    ['HIPAA.Security-CloudWatchLogGroupEncrypted'],
    ['PCI.DSS.321-IAMNoInlinePolicy'],
    ['Serverless-LambdaTracing'],
  ])('the rules of every pack: %s', (id) => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    acknowledgeNagFindings(queue, [
      { id, reason: REASON },
      { id, reason: REASON, appliesTo: [ARN_FINDING] },
    ]);
    expect(v3Acknowledgements(queue)).toEqual({ [`Annotation::${id}`]: REASON, [`Annotation::${id}[${ARN_FINDING}]`]: REASON });
  });

  test.each([
    ['an unknown pack', 'AwsSolution-IAM5'],
    ['a pack name without a rule', 'Serverless'],
    ['a pack that is not cdk-nag\'s', 'Checkov-CKV_AWS_117'],
    ['the v3 namespaced form', 'AwsSolutions::AwsSolutions-SQS3'],
    ['a finding in the id instead of appliesTo', 'AwsSolutions-IAM5[Resource::*]'],
  ])('%s is an error, and nothing is recorded: %s', (_what, id) => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    expect(() => acknowledgeNagFindings(queue, [{ id, reason: REASON }]))
      .toThrow(`cdk-nag acknowledgement on TestStack/Queue: "${id}" is not a rule id of a known pack`);
    expect(v3Acknowledgements(queue)).toEqual({});
    expect(v2Acknowledgements(queue)).toEqual([]);
  });

  test('the error says what a rule id looks like and names every pack', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    expect(() => acknowledgeNagFindings(queue, [{ id: 'IAM5', reason: REASON }])).toThrow(new Error(
      'cdk-nag acknowledgement on TestStack/Queue: "IAM5" is not a rule id of a known pack (<pack>-<rule> with pack one of '
      + 'AwsSolutions, NIST.800.53.R5, NIST.800.53.R4, HIPAA.Security, PCI.DSS.321, Serverless; granular findings go in appliesTo)'));
  });

  test('an L2 gets both forms on its CloudFormation resource only: not on itself nor on its scope, which a user shares', () => {
    const stack = newStack();
    const queue = new sqs.Queue(stack, 'Queue');
    acknowledgeNagFindings(queue, [{ id: 'Serverless-SQSRedrivePolicy', reason: REASON }]);
    const resource = queue.node.defaultChild as CfnResource;
    expect(v3Acknowledgements(resource)).toEqual({ 'Annotation::Serverless-SQSRedrivePolicy': REASON });
    expect(v2Acknowledgements(resource)).toHaveLength(1);
    for (const other of [queue, stack, stack.node.scope!]) expect(v3Acknowledgements(other)).toEqual({});
  });

  test('acknowledging again records nothing twice; another reason for the same id is recorded too', () => {
    const policy = new iam.CfnManagedPolicy(newStack(), 'Policy', { policyDocument: {} });
    const ack = { id: 'AwsSolutions-IAM5', reason: REASON, appliesTo: ['Resource::*'] };
    acknowledgeNagFindings(policy, [ack]);
    acknowledgeNagFindings(policy, [ack, { id: 'AwsSolutions-IAM4', reason: REASON, appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess'] }]);
    acknowledgeNagFindings(policy, [{ ...ack, reason: 'a second, different written reason' }]);
    const entries = policy.node.metadata.filter((e) => e.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((e) => e.data);
    expect(entries).toEqual([
      { 'Annotation::AwsSolutions-IAM5[Resource::*]': REASON },
      { 'Annotation::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess]': REASON },
      { 'Annotation::AwsSolutions-IAM5[Resource::*]': 'a second, different written reason' },
    ]);
    expect(v2Acknowledgements(policy)).toHaveLength(3);
  });

  test('cdk-nag 3 reads the reason as written: no base64 even beyond Latin-1 (cdk-nag 2 gets base64)', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    const reason = 'no "保護" tag on the resources it deletes';
    acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason }]);
    expect(v3Acknowledgements(queue)).toEqual({ 'Annotation::AwsSolutions-SQS3': reason });
    expect(v2Acknowledgements(queue)).toEqual([{ id: 'AwsSolutions-SQS3', reason: Buffer.from(reason).toString('base64'), is_reason_encoded: true }]);
  });

  test('only characters beyond Latin-1 make cdk-nag 2 read base64: "ÿ" (U+00FF) is written as it is', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    const reason = 'the key "ÿ" is in Latin-1';
    acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason }]);
    expect(v2Acknowledgements(queue)).toEqual([{ id: 'AwsSolutions-SQS3', reason }]);
  });

  test('the same acknowledgement twice in one call is recorded once', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    const ack = { id: 'AwsSolutions-SQS3', reason: REASON };
    acknowledgeNagFindings(queue, [ack, ack]);
    expect(queue.node.metadata.filter((e) => e.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)).toHaveLength(1);
    expect(v2Acknowledgements(queue)).toEqual([ack]);
  });

  test('metadata of another kind that looks like an acknowledgement does not stop one being recorded', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    queue.node.addMetadata('some-tool:notes', { 'Annotation::AwsSolutions-SQS3': REASON });
    acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason: REASON }]);
    expect(v3Acknowledgements(queue)).toEqual({ 'Annotation::AwsSolutions-SQS3': REASON });
  });

  test('without cdk-nag 3 the app synthesizes as before: the v3 form is construct metadata, not template content', () => {
    const stack = newStack();
    const queue = new sqs.Queue(stack, 'Queue');
    acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason: REASON }]);
    const template = (stack.node.scope as App).synth().getStackByName('TestStack').template;
    const [resource] = Object.values(template.Resources) as any[];
    expect(resource.Metadata).toEqual({ cdk_nag: { rules_to_suppress: [{ id: 'AwsSolutions-SQS3', reason: REASON }] } });
  });
});

describe('acknowledgeNagFindings: what it refuses', () => {
  test.each([
    ['', '""'],
    ['  too short  ', '"  too short  "'],
    ['123456789', '"123456789"'],
  ])('a reason under 10 characters (%j) names the rule, the construct and the reason', (reason, shown) => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    expect(() => acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason }]))
      .toThrow(`cdk-nag acknowledgement of AwsSolutions-SQS3 on TestStack/Queue needs a written reason, got ${shown}`);
    expect(v2Acknowledgements(queue)).toEqual([]);
  });

  test('a reason of exactly 10 characters is enough', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-SQS3', reason: '1234567890' }]);
    expect(v3Acknowledgements(queue)).toEqual({ 'Annotation::AwsSolutions-SQS3': '1234567890' });
  });

  test('an empty appliesTo would acknowledge nothing: an error naming the rule and the construct', () => {
    const queue = new sqs.CfnQueue(newStack(), 'Queue');
    expect(() => acknowledgeNagFindings(queue, [{ id: 'AwsSolutions-IAM5', reason: REASON, appliesTo: [] }]))
      .toThrow('cdk-nag acknowledgement of AwsSolutions-IAM5 on TestStack/Queue has an empty appliesTo: name the findings');
  });

  test('a construct that is no CloudFormation resource and has none as its default child', () => {
    const plain = new Construct(newStack(), 'Plain');
    expect(() => acknowledgeNagFindings(plain, [{ id: 'AwsSolutions-SQS3', reason: REASON }]))
      .toThrow('TestStack/Plain is not a CloudFormation resource and has none as its default child');
  });

  test('a construct whose default child is no CloudFormation resource either', () => {
    const wrapper = new Construct(newStack(), 'Wrapper');
    new Construct(wrapper, 'Resource');
    expect(wrapper.node.defaultChild).toBeDefined();
    expect(() => acknowledgeNagFindings(wrapper, [{ id: 'AwsSolutions-SQS3', reason: REASON }]))
      .toThrow('TestStack/Wrapper is not a CloudFormation resource and has none as its default child');
  });
});

describe('resourceFinding: the IAM5 finding id cdk-nag reports for an ARN', () => {
  test.each([
    ['a literal ARN', 'arn:aws:s3:::bucket/*', 'Resource::arn:aws:s3:::bucket/*'],
    ['Fn::Sub placeholders in a plain string', 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*',
      'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*'],
  ])('%s', (_what, arn, expected) => {
    expect(resourceFinding(newStack(), arn)).toBe(expected);
  });

  test('references, attributes, Fn::Sub and imports are written the way cdk-nag writes them', () => {
    const stack = newStack();
    const queue = new sqs.CfnQueue(stack, 'Queue');
    expect(resourceFinding(stack, `arn:${stack.partition}:sqs:${stack.region}:${stack.account}:${queue.attrQueueName}`))
      .toBe('Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:<Queue.QueueName>');
    expect(resourceFinding(stack, `${queue.ref}/*`)).toBe('Resource::<Queue>/*');
    expect(resourceFinding(stack, Fn.sub('arn:${AWS::Partition}:logs:${AWS::Region}:*'))).toBe('Resource::arn:<AWS::Partition>:logs:<AWS::Region>:*');
    expect(resourceFinding(stack, Fn.importValue('SharedBucketArn'))).toBe('Resource::SharedBucketArn');
  });

  test('anything else is written as its JSON', () => {
    expect(resourceFinding(newStack(), Fn.select(0, ['a', 'b']))).toBe('Resource::a');
    expect(resourceFinding(newStack(), Token.asString({ 'Fn::FindInMap': ['Map', 'Key', 'Value'] }))).toBe('Resource::{"Fn::FindInMap":["Map","Key","Value"]}');
    expect(resourceFinding(newStack(), Token.asString(Lazy.any({ produce: () => null })))).toBe('Resource::null');
  });
});

