/**
 * The AmiManager construct writes the custom resource's properties; the handler parses them. These
 * tests run the handler's parser on what the construct synthesizes, at the defaults and at every
 * boundary the construct accepts, and check that what the construct refuses the handler refuses too.
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { imageNameFor } from '../../lambda/ami-manager/decide';
import { parseSpec } from '../../lambda/ami-manager/properties';
import { AmiManager, AmiManagerProps } from '../../src';
import { AMI_LIMITS, AMI_RESOURCE_TYPE } from '../../src/ami-manager/contract';

const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:reports';

/** The resource's properties as CloudFormation would send them (the topic's Ref resolved, ServiceToken dropped). */
function synthesizedProperties(props: AmiManagerProps): Record<string, unknown> {
  const stack = new Stack(new App(), 'Contract', { env: { account: '123456789012', region: 'eu-west-1' } });
  new AmiManager(stack, 'Golden', props);
  const resource = Object.values(Template.fromStack(stack).findResources(AMI_RESOURCE_TYPE))[0];
  const { ServiceToken: _token, ...properties } = resource.Properties;
  return { ...properties, TopicArn: TOPIC_ARN };
}

const BASE: AmiManagerProps = { instanceId: 'i-0123456789abcdef0' };

test('defaults: the handler reads what the construct writes, with the documented defaults', () => {
  expect(parseSpec(synthesizedProperties(BASE))).toEqual({
    instanceId: 'i-0123456789abcdef0',
    imageName: expect.stringMatching(/^Contract-Golden-[0-9A-F]{8}$/),
    description: undefined,
    reboot: false,
    tags: {},
    deprecateAfterSeconds: undefined,
    shareWithAccounts: [],
    stopInstanceAfterImage: false,
    removalPolicy: 'destroy',
    timeoutSeconds: 3_600,
    topicArn: TOPIC_ARN,
  });
});

test('every prop set: the handler reads each one back', () => {
  const spec = parseSpec(synthesizedProperties({
    ...BASE,
    imageName: 'web-golden',
    description: 'web tier',
    reboot: true,
    tags: { team: 'web' },
    deprecateAfter: Duration.days(90),
    shareWithAccounts: ['111111111111', '222222222222'],
    stopInstanceAfterImage: true,
    removalPolicy: RemovalPolicy.RETAIN,
    timeout: Duration.minutes(30),
  }));
  expect(spec).toEqual({
    instanceId: 'i-0123456789abcdef0',
    imageName: 'web-golden',
    description: 'web tier',
    reboot: true,
    tags: { team: 'web' },
    deprecateAfterSeconds: 90 * 86_400,
    shareWithAccounts: ['111111111111', '222222222222'],
    stopInstanceAfterImage: true,
    removalPolicy: 'retain',
    timeoutSeconds: 1_800,
    topicArn: TOPIC_ARN,
  });
});

test('the limits the construct accepts, the handler accepts; one past them, both refuse', () => {
  const atLimits: AmiManagerProps = {
    ...BASE,
    imageName: 'n'.repeat(AMI_LIMITS.imageNameMax),
    description: 'd'.repeat(AMI_LIMITS.descriptionMax),
    tags: Object.fromEntries(Array.from({ length: AMI_LIMITS.tagsMax }, (_, i) => [`k${i}`, 'v'.repeat(256)])),
    deprecateAfter: Duration.seconds(AMI_LIMITS.deprecateAfterSecondsMax),
    shareWithAccounts: Array.from({ length: AMI_LIMITS.shareWithAccountsMax }, (_, i) => String(100_000_000_000 + i)),
    timeout: Duration.seconds(AMI_LIMITS.timeoutSecondsMin),
  };
  const spec = parseSpec(synthesizedProperties(atLimits));
  // The name EC2 gets stays within its 128 characters.
  expect(imageNameFor(spec, '6b0f7c1e-3c1a-4a57-9d51-0f3e8a6c2b11')).toHaveLength(128);
  const lowest = { deprecateAfter: Duration.seconds(AMI_LIMITS.deprecateAfterSecondsMin), timeout: Duration.seconds(AMI_LIMITS.timeoutSecondsMax) };
  expect(parseSpec(synthesizedProperties({ ...BASE, ...lowest })))
    .toMatchObject({ deprecateAfterSeconds: AMI_LIMITS.deprecateAfterSecondsMin, timeoutSeconds: AMI_LIMITS.timeoutSecondsMax });

  const { deprecateAfterSecondsMax: deprecateMax, deprecateAfterSecondsMin: deprecateMin } = AMI_LIMITS;
  const past: Array<[Partial<AmiManagerProps>, Record<string, unknown>]> = [
    [{ imageName: 'n'.repeat(AMI_LIMITS.imageNameMax + 1) }, { ImageName: 'n'.repeat(AMI_LIMITS.imageNameMax + 1) }],
    [{ description: 'd'.repeat(AMI_LIMITS.descriptionMax + 1) }, { Description: 'd'.repeat(AMI_LIMITS.descriptionMax + 1) }],
    [{ timeout: Duration.seconds(AMI_LIMITS.timeoutSecondsMax + 60) }, { TimeoutSeconds: String(AMI_LIMITS.timeoutSecondsMax + 1) }],
    [{ timeout: Duration.seconds(AMI_LIMITS.timeoutSecondsMin - 60) }, { TimeoutSeconds: String(AMI_LIMITS.timeoutSecondsMin - 1) }],
    [{ deprecateAfter: Duration.seconds(deprecateMax + 1) }, { DeprecateAfterSeconds: String(deprecateMax + 1) }],
    [{ deprecateAfter: Duration.seconds(deprecateMin - 1) }, { DeprecateAfterSeconds: String(deprecateMin - 1) }],
    [{ tags: { 'fleet-janitor:ami:x': 'y' } }, { Tags: { 'fleet-janitor:ami:x': 'y' } }],
    [{ tags: Object.fromEntries(Array.from({ length: AMI_LIMITS.tagsMax + 1 }, (_, i) => [`k${i}`, 'v'])) },
      { Tags: Object.fromEntries(Array.from({ length: AMI_LIMITS.tagsMax + 1 }, (_, i) => [`k${i}`, 'v'])) }],
    [{ shareWithAccounts: ['1234'] }, { ShareWithAccounts: ['1234'] }],
    [{ shareWithAccounts: Array.from({ length: AMI_LIMITS.shareWithAccountsMax + 1 }, (_, i) => String(100_000_000_000 + i)) },
      { ShareWithAccounts: Array.from({ length: AMI_LIMITS.shareWithAccountsMax + 1 }, (_, i) => String(100_000_000_000 + i)) }],
    [{ instanceId: 'i-123' }, { InstanceId: 'i-123' }],
    [{ imageName: 'a:b' }, { ImageName: 'a:b' }],
  ];
  const valid = synthesizedProperties(BASE);
  for (const [props, properties] of past) {
    expect(() => synthesizedProperties({ ...BASE, ...props } as AmiManagerProps)).toThrow(/^AmiManager: invalid /);
    expect(() => parseSpec({ ...valid, ...properties })).toThrow(/^Rejected event: ResourceProperties\./);
  }
});
