import { createEvent, deleteEvent, INSTANCE_ID, LOGICAL_ID, props, STACK_ID, TOPIC_ARN, updateEvent } from './harness';
import { parseDeleteSpec, parseResourceEvent, parseSpec } from '../../../lambda/ami-manager/properties';
import { EventShapeError } from '../../../lambda/shared/errors';
import { AMI_LIMITS } from '../../../src/ami-manager/contract';

/** parseSpec over the default properties with `overrides` (undefined removes a property). */
const spec = (overrides: Record<string, unknown> = {}) => parseSpec(props(overrides));

function rejects(overrides: Record<string, unknown>, message: RegExp | string): void {
  let caught: unknown;
  try {
    spec(overrides);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EventShapeError);
  expect((caught as Error).message).toMatch(message);
  expect((caught as Error).message).toMatch(/No resource was changed\.$/);
}

describe('parseSpec: the properties the construct writes, as CloudFormation delivers them', () => {
  test('the construct\'s properties (every scalar a string) parse into typed values; the ServiceToken is ignored', () => {
    expect(spec({ Description: 'nightly', DeprecateAfterSeconds: '86400', ShareWithAccounts: ['444455556666'], Reboot: 'true' })).toEqual({
      instanceId: INSTANCE_ID,
      imageName: 'web-server',
      description: 'nightly',
      reboot: true,
      tags: { team: 'platform' },
      deprecateAfterSeconds: 86_400,
      shareWithAccounts: ['444455556666'],
      stopInstanceAfterImage: false,
      removalPolicy: 'destroy',
      timeoutSeconds: 1_800,
      topicArn: TOPIC_ARN,
    });
  });

  test('optional properties may be absent: no description, no deprecation, no tags, no accounts, flags false, destroy', () => {
    const s = spec({
      Description: undefined,
      Tags: undefined,
      ShareWithAccounts: undefined,
      Reboot: undefined,
      StopInstanceAfterImage: undefined,
      RemovalPolicy: undefined,
    });
    expect(s).toMatchObject({ description: undefined, deprecateAfterSeconds: undefined, tags: {}, shareWithAccounts: [], reboot: false, stopInstanceAfterImage: false, removalPolicy: 'destroy' });
  });

  test('`where` names the property set in messages', () => {
    expect(() => parseSpec(props({ InstanceId: 'x' }), 'OldResourceProperties')).toThrow('OldResourceProperties.InstanceId must be');
  });

  describe('InstanceId', () => {
    test.each(['i-01234567', 'i-0123456789abcdef0'])('accepts %s (8 and 17 hex digits)', (id) => {
      expect(spec({ InstanceId: id }).instanceId).toBe(id);
    });
    test.each([
      ['missing', undefined], ['a number', 12345678], ['9 hex digits', 'i-012345678'], ['upper case', 'i-0123456789ABCDEF0'],
      ['no prefix', '0123456789abcdef0'], ['an AMI id', 'ami-0123456789abcdef0'], ['a trailing newline', 'i-01234567\n'],
    ])('rejects %s', (_, value) => {
      rejects({ InstanceId: value }, 'ResourceProperties.InstanceId must be an EC2 instance id such as i-0123456789abcdef0');
    });
  });

  describe('ImageName', () => {
    const min = 'a'.repeat(AMI_LIMITS.imageNameMin);
    const max = 'a'.repeat(AMI_LIMITS.imageNameMax);
    test('3 and 119 characters are accepted: with "-" and 8 suffix characters that is EC2\'s 128 at most', () => {
      expect(spec({ ImageName: min }).imageName).toBe(min);
      expect(spec({ ImageName: max }).imageName).toBe(max);
      expect(AMI_LIMITS.imageNameMax + 1 + AMI_LIMITS.imageNameSuffixLength).toBe(128);
    });
    test.each([['2 characters', 'ab'], ['120 characters', 'a'.repeat(120)], ['a number', 123], ['missing', undefined]])('rejects %s', (_, value) => {
      rejects({ ImageName: value }, 'ResourceProperties.ImageName must be a string of 3 to 119 characters');
    });
    test('every character EC2 allows is accepted', () => {
      expect(spec({ ImageName: "Web (v1) [x] 2.0/a-b'c@d_e" }).imageName).toBe("Web (v1) [x] 2.0/a-b'c@d_e");
    });
    test.each(['web*server', 'web:server', 'web,server', 'wéb-server', 'web\tserver'])('rejects %j: a character EC2 refuses', (name) => {
      rejects({ ImageName: name }, /ResourceProperties\.ImageName ".*" has characters EC2 refuses/);
    });
  });

  describe('Description', () => {
    test('empty and 255 characters are accepted, 256 is not', () => {
      expect(spec({ Description: '' }).description).toBe('');
      expect(spec({ Description: 'd'.repeat(255) }).description).toHaveLength(255);
      rejects({ Description: 'd'.repeat(256) }, 'ResourceProperties.Description must be a string of 0 to 255 characters');
    });
    test('a non-string is rejected', () => {
      rejects({ Description: 42 }, 'ResourceProperties.Description must be a string of 0 to 255 characters, got 42');
    });
  });

  describe('Reboot and StopInstanceAfterImage: CloudFormation sends "true"/"false"', () => {
    test.each([['true', true], ['false', false], [true, true], [false, false]])('%j is %s', (value, expected) => {
      expect(spec({ Reboot: value }).reboot).toBe(expected);
      expect(spec({ StopInstanceAfterImage: value }).stopInstanceAfterImage).toBe(expected);
    });
    test.each(['TRUE', 'True', 'yes', '1', 1, 0, '', null, ['true']])('%j is rejected', (value) => {
      rejects({ Reboot: value }, 'ResourceProperties.Reboot must be "true" or "false"');
      rejects({ StopInstanceAfterImage: value }, 'ResourceProperties.StopInstanceAfterImage must be "true" or "false"');
    });
  });

  describe('TimeoutSeconds: an integer string from 300 to 3600', () => {
    test.each([['300', 300], ['3600', 3_600], ['0300', 300], [900, 900]])('%j is %d', (value, expected) => {
      expect(spec({ TimeoutSeconds: value }).timeoutSeconds).toBe(expected);
    });
    test.each(['299', '3601', '1800.5', '1e3', '-600', ' 600', '', 'abc', 600.5, undefined, null, ['600']])('%j is rejected', (value) => {
      rejects({ TimeoutSeconds: value }, 'ResourceProperties.TimeoutSeconds must be an integer from 300 to 3600');
    });
  });

  describe('DeprecateAfterSeconds: an integer string from 60 to 10 years', () => {
    const max = AMI_LIMITS.deprecateAfterSecondsMax;
    test('60 and 3,650 days are accepted', () => {
      expect(spec({ DeprecateAfterSeconds: '60' }).deprecateAfterSeconds).toBe(60);
      expect(spec({ DeprecateAfterSeconds: String(max) }).deprecateAfterSeconds).toBe(315_360_000);
    });
    test.each(['59', String(max + 1), '0', '1.5', 'P1D', '9999999999999', Number.MAX_SAFE_INTEGER + 2])('%j is rejected', (value) => {
      rejects({ DeprecateAfterSeconds: value }, `ResourceProperties.DeprecateAfterSeconds must be an integer from 60 to ${max}`);
    });
  });

  describe('Tags', () => {
    test('46 tags are accepted: with the 4 ownership tags that is EC2\'s 50 per resource', () => {
      const tags = Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`k${i}`, `v${i}`]));
      expect(Object.keys(spec({ Tags: tags }).tags)).toHaveLength(46);
      rejects({ Tags: { ...tags, k46: 'v' } }, 'ResourceProperties.Tags has 47 tags; at most 46');
    });
    test('"aws:" inside a key is not a prefix: accepted', () => {
      expect(spec({ Tags: { 'team-aws:owner': 'web' } }).tags).toEqual({ 'team-aws:owner': 'web' });
    });
    test('keys of 1 and 128 characters and values of 0 and 256 characters are accepted', () => {
      const tags = { a: '', ['k'.repeat(128)]: 'v'.repeat(256) };
      expect(spec({ Tags: tags }).tags).toEqual(tags);
    });
    test.each([['an empty key', ''], ['a 129-character key', 'k'.repeat(129)], ['an aws: key', 'aws:cloudformation:stack-name']])('rejects %s', (_, key) => {
      rejects({ Tags: { [key]: 'v' } }, /ResourceProperties\.Tags has the key .*: a tag key has 1 to 128 characters and does not start with "aws:"/);
    });
    test.each(Object.values({ a: 'fleet-janitor:ami:stack-id', b: 'fleet-janitor:ami:request-id', c: 'fleet-janitor:ami:anything' }))('rejects the handler\'s own key %s', (key) => {
      rejects({ Tags: { [key]: 'forged' } }, `ResourceProperties.Tags has the key "${key}": keys starting with "fleet-janitor:ami:" are the handler's ownership tags`);
    });
    test.each([['a number', 3], ['257 characters', 'v'.repeat(257)], ['null', null], ['an object', { a: 1 }]])('rejects a value that is %s', (_, value) => {
      rejects({ Tags: { team: value } }, 'ResourceProperties.Tags["team"] must be a string of at most 256 characters');
    });
    test.each([['a list', [{ Key: 'team', Value: 'x' }]], ['a string', 'team=x'], ['null', null]])('rejects tags given as %s', (_, value) => {
      rejects({ Tags: value }, 'ResourceProperties.Tags must be a JSON object');
    });
  });

  describe('ShareWithAccounts', () => {
    const accounts = (n: number) => Array.from({ length: n }, (_, i) => String(100_000_000_000 + i));
    test('100 accounts are accepted, 101 are not (one ModifyImageAttribute call)', () => {
      expect(spec({ ShareWithAccounts: accounts(100) }).shareWithAccounts).toHaveLength(100);
      rejects({ ShareWithAccounts: accounts(101) }, 'ResourceProperties.ShareWithAccounts has 101 accounts; at most 100');
    });
    test('duplicates are shared once, in order', () => {
      expect(spec({ ShareWithAccounts: ['444455556666', '777788889999', '444455556666'] }).shareWithAccounts).toEqual(['444455556666', '777788889999']);
    });
    test.each(['44445555666', '4444555566667', '44445555666a', ' 444455556666'])('rejects the account %j', (account) => {
      rejects({ ShareWithAccounts: ['444455556666', account] }, `ResourceProperties.ShareWithAccounts has ${JSON.stringify(account)}: an account id is 12 digits`);
    });
    test.each([['a string', '444455556666'], ['a list with a number', [444455556666]], ['an object', { a: '444455556666' }]])('rejects %s', (_, value) => {
      rejects({ ShareWithAccounts: value }, 'ResourceProperties.ShareWithAccounts must be a list of strings');
    });
  });

  describe('RemovalPolicy', () => {
    test.each(['destroy', 'retain'])('%s is accepted', (policy) => {
      expect(spec({ RemovalPolicy: policy }).removalPolicy).toBe(policy);
    });
    test.each(['Retain', 'RETAIN', 'snapshot', '', 1])('%j is rejected', (policy) => {
      rejects({ RemovalPolicy: policy }, 'ResourceProperties.RemovalPolicy must be one of destroy, retain');
    });
  });

  describe('TopicArn', () => {
    test.each([TOPIC_ARN, 'arn:aws-cn:sns:cn-north-1:111122223333:t', 'arn:aws:sns:eu-west-1:111122223333:orders.fifo'])('%s is accepted', (arn) => {
      expect(spec({ TopicArn: arn }).topicArn).toBe(arn);
    });
    test.each([undefined, '', 'arn:aws:sqs:eu-west-1:111122223333:q', 'arn:aws:sns:eu-west-1:1111:t', 'arn:aws:sns:eu-west-1:111122223333:a b'])('%j is rejected', (arn) => {
      rejects({ TopicArn: arn }, 'ResourceProperties.TopicArn must be an SNS topic ARN');
    });
    test('a well-formed value of 2,048 characters is accepted, one of 2,049 is not', () => {
      // The region part of the pattern has no length of its own: only the 2,048-character cap stops it.
      const arnOfLength = (n: number) => `arn:aws:sns:${'a'.repeat(n - 27)}:111122223333:t`;
      expect(arnOfLength(2_048)).toHaveLength(2_048);
      expect(spec({ TopicArn: arnOfLength(2_048) }).topicArn).toBe(arnOfLength(2_048));
      rejects({ TopicArn: arnOfLength(2_049) }, 'ResourceProperties.TopicArn must be an SNS topic ARN');
    });
  });

  test('a missing value is echoed as "nothing"; one of exactly 80 characters whole', () => {
    const messageOf = (overrides: Record<string, unknown>) => {
      try {
        spec(overrides);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    };
    expect(messageOf({ InstanceId: undefined })).toMatch(/InstanceId must be .*, got nothing\./);
    const id = 'i-'.padEnd(78, 'x');
    expect(JSON.stringify(id)).toHaveLength(80);
    expect(messageOf({ InstanceId: id })).toContain(`got ${JSON.stringify(id)}.`);
  });

  test('a huge value is echoed cut to 80 characters', () => {
    let message = '';
    try {
      spec({ InstanceId: 'i-'.padEnd(100_000, 'x') });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('got "i-xxxx');
    const echoed = /got (.*)\. No resource/.exec(message)![1];
    expect(echoed).toHaveLength(80);
  });

  test('a value JSON cannot render (a cycle, a BigInt) is still echoed', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => spec({ InstanceId: cyclic })).toThrow('got [object Object]');
    expect(() => spec({ InstanceId: BigInt(7) })).toThrow('got 7');
    expect(() => spec({ InstanceId: Symbol('id') })).toThrow('got Symbol(id)');
  });
});

describe('parseResourceEvent: the request envelope', () => {
  test('a Create has no physical id; properties are kept for parseSpec', () => {
    const event = createEvent();
    expect(parseResourceEvent(event)).toEqual({
      requestType: 'Create',
      stackId: STACK_ID,
      requestId: event.RequestId,
      logicalResourceId: LOGICAL_ID,
      physicalResourceId: undefined,
      properties: event.ResourceProperties,
      oldProperties: undefined,
    });
  });

  test('an Update carries its physical id and old properties; a Delete its physical id', () => {
    const update = parseResourceEvent(updateEvent('ami-0123456789abcdef0', props({ ImageName: 'old' }), props()));
    expect(update).toMatchObject({ requestType: 'Update', physicalResourceId: 'ami-0123456789abcdef0', oldProperties: props({ ImageName: 'old' }) });
    expect(parseResourceEvent(deleteEvent('ami-0123456789abcdef0'))).toMatchObject({ requestType: 'Delete', physicalResourceId: 'ami-0123456789abcdef0', oldProperties: undefined });
  });

  test.each([null, undefined, 'Create', 42, [createEvent()], true])('a non-object event (%j) is rejected', (event) => {
    expect(() => parseResourceEvent(event)).toThrow(EventShapeError);
    expect(() => parseResourceEvent(event)).toThrow('the event must be a JSON object');
  });

  test.each([undefined, 'create', 'CREATE', 'Replace', 1, null])('RequestType %j is rejected', (requestType) => {
    expect(() => parseResourceEvent(createEvent(props(), { RequestType: requestType as string }))).toThrow('RequestType must be one of Create, Update, Delete');
  });

  test.each([
    ['StackId', 'arn:aws:cloudformation:eu-west-1:111122223333:stack/app', 'StackId must be a CloudFormation stack ARN'],
    ['StackId', STACK_ID.replace('111122223333', '1111'), 'StackId must be a CloudFormation stack ARN'],
    ['StackId', `${STACK_ID}\n`, 'StackId must be a CloudFormation stack ARN'],
    ['StackId', `x${STACK_ID}`, 'StackId must be a CloudFormation stack ARN'],
    ['RequestId', '', 'RequestId must be a request id such as a UUID'],
    ['RequestId', 'a'.repeat(129), 'RequestId must be a request id such as a UUID'],
    ['RequestId', 'abc/def', 'RequestId must be a request id such as a UUID'],
    ['LogicalResourceId', 'Build-Image', 'LogicalResourceId must be an alphanumeric logical id'],
    ['LogicalResourceId', 7, 'LogicalResourceId must be an alphanumeric logical id'],
  ])('%s %j is rejected', (field, value, message) => {
    expect(() => parseResourceEvent(createEvent(props(), { [field]: value }))).toThrow(message);
  });

  test('GovCloud and China stack ARNs are accepted; a 128-character request id too', () => {
    const gov = STACK_ID.replace('arn:aws:', 'arn:aws-us-gov:').replace('eu-west-1', 'us-gov-west-1');
    expect(parseResourceEvent(createEvent(props(), { StackId: gov })).stackId).toBe(gov);
    expect(parseResourceEvent(createEvent(props(), { RequestId: 'a'.repeat(128) })).requestId).toHaveLength(128);
  });

  test.each(['Update', 'Delete'])('%s needs a PhysicalResourceId of 1 to 1024 characters', (requestType) => {
    const base = requestType === 'Update' ? updateEvent('x', props(), props()) : deleteEvent('x');
    for (const bad of [undefined, '', 'x'.repeat(1_025), 5]) {
      expect(() => parseResourceEvent({ ...base, PhysicalResourceId: bad })).toThrow(`PhysicalResourceId is required for ${requestType}`);
    }
    expect(parseResourceEvent({ ...base, PhysicalResourceId: 'x'.repeat(1_024) }).physicalResourceId).toHaveLength(1_024);
  });

  test('a Create has a PhysicalResourceId only in isComplete\'s event (merged by the provider framework), checked like the others', () => {
    expect(parseResourceEvent(createEvent()).physicalResourceId).toBeUndefined();
    expect(parseResourceEvent(createEvent(props(), { PhysicalResourceId: 'ami-0123456789abcdef0' })).physicalResourceId).toBe('ami-0123456789abcdef0');
    for (const bad of ['', 'x'.repeat(1_025), 5, null]) {
      expect(() => parseResourceEvent({ ...createEvent(), PhysicalResourceId: bad })).toThrow('PhysicalResourceId is required for Create');
    }
  });

  test.each([undefined, null, 'props', ['a']])('ResourceProperties %j is rejected', (value) => {
    expect(() => parseResourceEvent(createEvent(props(), { ResourceProperties: value as never }))).toThrow('ResourceProperties must be a JSON object');
  });

  test('the image onEvent reported as finished is read from Data.ImageId when it is an AMI id', () => {
    const finished = (data: unknown) => parseResourceEvent({ ...createEvent(props(), { PhysicalResourceId: 'ami-0123456789abcdef0' }), Data: data }).finishedImageId;
    expect(finished({ ImageId: 'ami-0123456789abcdef0', ImageName: 'web-server' })).toBe('ami-0123456789abcdef0');
    expect(finished({ ImageId: 'ami-01234567' })).toBe('ami-01234567');
    expect(finished(undefined)).toBeUndefined();
    expect(finished({})).toBeUndefined();
  });

  test.each([
    ['not an AMI id', 'web-server'],
    ['text before the id', 'xami-0123456789abcdef0'],
    ['text after the id', 'ami-0123456789abcdef0x'],
    ['18 hex digits', 'ami-0123456789abcdef01'],
    ['a list holding an AMI id', ['ami-0123456789abcdef0']],
    ['a number', 1234],
  ])('Data.ImageId that is %s is no finished image', (_, imageId) => {
    const event = { ...createEvent(props(), { PhysicalResourceId: 'ami-0123456789abcdef0' }), Data: { ImageId: imageId } };
    expect(parseResourceEvent(event).finishedImageId).toBeUndefined();
  });

  test('an Update needs OldResourceProperties as an object; other requests do not read them', () => {
    expect(() => parseResourceEvent(updateEvent('ami-0123', props(), props(), { OldResourceProperties: undefined }))).toThrow('OldResourceProperties must be a JSON object');
    expect(() => parseResourceEvent(updateEvent('ami-0123', props(), props(), { OldResourceProperties: [] as never }))).toThrow('OldResourceProperties must be a JSON object');
    expect(parseResourceEvent(deleteEvent('ami-0123', props(), { OldResourceProperties: 'junk' as never })).oldProperties).toBeUndefined();
  });
});

describe('parseDeleteSpec: a Delete reads only what it needs, leniently', () => {
  test('retain and destroy are read; the topic when it is a topic ARN', () => {
    expect(parseDeleteSpec(props({ RemovalPolicy: 'retain' }))).toEqual({ removalPolicy: 'retain', topicArn: TOPIC_ARN });
    expect(parseDeleteSpec(props({ RemovalPolicy: 'destroy' }))).toEqual({ removalPolicy: 'destroy', topicArn: TOPIC_ARN });
  });

  test.each([undefined, 'RETAIN', 'Retain', 'snapshot', 1, null, ['retain']])('an unreadable removal policy (%j) is the default, destroy', (policy) => {
    expect(parseDeleteSpec(props({ RemovalPolicy: policy })).removalPolicy).toBe('destroy');
  });

  test('broken properties elsewhere do not matter; a bad topic is left out', () => {
    expect(parseDeleteSpec({ InstanceId: 5, Tags: 'junk', RemovalPolicy: 'retain', TopicArn: 'not-an-arn' })).toEqual({ removalPolicy: 'retain', topicArn: undefined });
    expect(parseDeleteSpec({})).toEqual({ removalPolicy: 'destroy', topicArn: undefined });
    expect(parseDeleteSpec({ TopicArn: 42 })).toEqual({ removalPolicy: 'destroy', topicArn: undefined });
    expect(parseDeleteSpec({ TopicArn: [TOPIC_ARN] })).toEqual({ removalPolicy: 'destroy', topicArn: undefined });
  });
});
