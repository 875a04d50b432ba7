import { launchFromRecord } from '../../../lambda/tag-policy-engine/creators';

/*
 * RunInstances records in the shapes the CloudTrail User Guide documents ("CloudTrail userIdentity
 * element", "Amazon EC2 API call examples"): the record EventBridge delivers as `detail` and the one
 * LookupEvents returns as the `CloudTrailEvent` string are the same.
 */
const ACCOUNT = '123456789012';
const INSTANCE = 'i-0123456789abcdef0';

function runInstances(userIdentity: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventVersion: '1.09',
    userIdentity,
    eventTime: '2025-05-20T08:29:41Z',
    eventSource: 'ec2.amazonaws.com',
    eventName: 'RunInstances',
    awsRegion: 'us-east-1',
    sourceIPAddress: '198.51.100.1',
    userAgent: 'aws-cli/2.15.0',
    requestParameters: {
      instancesSet: { items: [{ imageId: 'ami-0abcdef1234567890', minCount: 1, maxCount: 1 }] },
      instanceType: 't3.micro',
    },
    responseElements: {
      requestId: 'e3c1bf6f-3b4a-4d25-9f0e-1a2b3c4d5e6f',
      reservationId: 'r-0123456789abcdef0',
      ownerId: ACCOUNT,
      instancesSet: {
        items: [{ instanceId: INSTANCE, imageId: 'ami-0abcdef1234567890', instanceState: { code: 0, name: 'pending' }, instanceType: 't3.micro' }],
      },
    },
    requestID: 'e3c1bf6f-3b4a-4d25-9f0e-1a2b3c4d5e6f',
    eventID: '2a8c7e2b-0c9d-4f8e-9d6c-5b4a3c2d1e0f',
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Management',
    ...overrides,
  };
}

const IAM_USER = {
  type: 'IAMUser',
  principalId: 'AIDAJ45Q7YFFAREXAMPLE',
  arn: `arn:aws:iam::${ACCOUNT}:user/Alice`,
  accountId: ACCOUNT,
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  userName: 'Alice',
};

const SSO_SESSION = {
  type: 'AssumedRole',
  principalId: 'AROAEXAMPLEID:jane@example.com',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Admin_abc123/jane@example.com`,
  accountId: ACCOUNT,
  accessKeyId: 'ASIAEXAMPLEKEY',
  sessionContext: {
    sessionIssuer: {
      type: 'Role',
      principalId: 'AROAEXAMPLEID',
      arn: `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_abc123`,
      accountId: ACCOUNT,
      userName: 'AWSReservedSSO_Admin_abc123',
    },
    webIdFederationData: {},
    attributes: { creationDate: '2025-05-20T08:00:00Z', mfaAuthenticated: 'false' },
  },
};

const ROOT = { type: 'Root', principalId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:root`, accountId: ACCOUNT, accessKeyId: 'ASIAEXAMPLEKEY' };

const FEDERATED = {
  type: 'FederatedUser',
  principalId: `${ACCOUNT}:Bob`,
  arn: `arn:aws:sts::${ACCOUNT}:federated-user/Bob`,
  accountId: ACCOUNT,
  accessKeyId: 'ASIAEXAMPLEKEY',
  sessionContext: { sessionIssuer: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: `arn:aws:iam::${ACCOUNT}:user/Admin`, accountId: ACCOUNT, userName: 'Admin' } },
};

const AWS_SERVICE = { type: 'AWSService', invokedBy: 'ec2fleet.amazonaws.com' };

const ASG_IDENTITY = {
  type: 'AssumedRole',
  principalId: 'AROAEXAMPLEASG:AutoScaling',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling`,
  accountId: ACCOUNT,
  sessionContext: {
    sessionIssuer: {
      type: 'Role',
      principalId: 'AROAEXAMPLEASG',
      arn: `arn:aws:iam::${ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
      accountId: ACCOUNT,
      userName: 'AWSServiceRoleForAutoScaling',
    },
    attributes: { creationDate: '2025-05-20T08:29:00Z', mfaAuthenticated: 'false' },
  },
  invokedBy: 'autoscaling.amazonaws.com',
};

/** An Auto Scaling launch, the group's name in the request's tag specifications (tags as a plain list, as CloudTrail writes them). */
function asgLaunch(group: string | undefined, where: 'request' | 'response' | 'both' = 'request', identity: Record<string, unknown> = ASG_IDENTITY) {
  const record = runInstances(identity);
  const groupTag = group === undefined ? [] : [{ key: 'aws:autoscaling:groupName', value: group }];
  if (where !== 'response') {
    record.requestParameters = {
      instancesSet: { items: [{ minCount: 1, maxCount: 1 }] },
      launchTemplate: { launchTemplateId: 'lt-0123456789abcdef0', version: '1' },
      tagSpecificationSet: { items: [{ resourceType: 'instance', tags: [{ key: 'Name', value: 'web' }, ...groupTag] }] },
    };
  }
  if (where !== 'request') {
    record.responseElements = {
      ownerId: ACCOUNT,
      instancesSet: { items: [{ instanceId: INSTANCE, tagSet: { items: [{ key: 'Name', value: 'web' }, ...groupTag] } }] },
    };
  }
  return record;
}

describe('launchFromRecord: who launched', () => {
  test('an IAM user: its user name, with the instances and the event time', () => {
    expect(launchFromRecord(runInstances(IAM_USER))).toEqual({
      creator: 'Alice',
      instanceIds: [INSTANCE],
      eventTime: new Date('2025-05-20T08:29:41Z'),
    });
  });

  test('an IAM user without userName: the last part of its ARN', () => {
    const { userName: _userName, ...identity } = IAM_USER;
    expect(launchFromRecord(runInstances(identity))?.creator).toBe('Alice');
  });

  test('an IAM Identity Center (SSO) session: role name / session name, the person', () => {
    expect(launchFromRecord(runInstances(SSO_SESSION))?.creator).toBe('AWSReservedSSO_Admin_abc123/jane@example.com');
  });

  test('an assumed role without an ARN: the role name from the session issuer, else the principal id', () => {
    const { arn: _arn, ...noArn } = SSO_SESSION;
    expect(launchFromRecord(runInstances(noArn))?.creator).toBe('AWSReservedSSO_Admin_abc123');
    expect(launchFromRecord(runInstances({ type: 'AssumedRole', principalId: 'AROAEXAMPLEID:ci' }))?.creator).toBe('AROAEXAMPLEID:ci');
  });

  test('an assumed role with a session name containing slashes keeps all of it', () => {
    const identity = { ...SSO_SESSION, arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Deployer/gitlab/job/42` };
    expect(launchFromRecord(runInstances(identity))?.creator).toBe('Deployer/gitlab/job/42');
  });

  test('the root user: "root"', () => {
    expect(launchFromRecord(runInstances(ROOT))?.creator).toBe('root');
  });

  test('a federated user: its name', () => {
    expect(launchFromRecord(runInstances(FEDERATED))?.creator).toBe('Bob');
    const { arn: _arn, ...noArn } = FEDERATED;
    expect(launchFromRecord(runInstances(noArn))?.creator).toBe(`${ACCOUNT}:Bob`);
  });

  test('an AWS service: the service', () => {
    expect(launchFromRecord(runInstances(AWS_SERVICE))?.creator).toBe('ec2fleet.amazonaws.com');
    expect(launchFromRecord(runInstances({ type: 'AWSService' }))?.creator).toBe('aws-service');
  });

  test('other identity types: user name, else the ARN\'s last part, else the principal id', () => {
    expect(launchFromRecord(runInstances({ type: 'SAMLUser', userName: 'carol' }))?.creator).toBe('carol');
    expect(launchFromRecord(runInstances({ type: 'WebIdentityUser', arn: 'arn:aws:sts::123456789012:x/dave' }))?.creator).toBe('dave');
    expect(launchFromRecord(runInstances({ type: 'IdentityCenterUser', principalId: 'p-1' }))?.creator).toBe('p-1');
  });

  test('an identity with nothing to name it: undefined', () => {
    expect(launchFromRecord(runInstances({ type: 'IAMUser' }))).toBeUndefined();
    expect(launchFromRecord(runInstances({ type: 'IAMUser', arn: 'arn:aws:iam::123456789012:user/' }))).toBeUndefined();
    expect(launchFromRecord(runInstances({ type: 'Unknown' }))).toBeUndefined();
    expect(launchFromRecord(runInstances(undefined as unknown as Record<string, unknown>))).toBeUndefined();
  });

  test('a creator longer than a tag value is cut to 256 characters, never inside a character', () => {
    expect(launchFromRecord(runInstances({ ...IAM_USER, userName: 'u'.repeat(300) }))?.creator).toBe('u'.repeat(256));
    expect(launchFromRecord(runInstances({ ...IAM_USER, userName: 'u'.repeat(256) }))?.creator).toBe('u'.repeat(256));
    const emoji = '\u{1F600}';
    const creator = launchFromRecord(runInstances({ ...IAM_USER, userName: emoji.repeat(300) }))!.creator;
    expect(creator).toBe(emoji.repeat(256));
  });
});

describe('launchFromRecord: Auto Scaling launches', () => {
  test('the group name from the request\'s tag specifications', () => {
    expect(launchFromRecord(asgLaunch('web-asg'))).toEqual({ creator: 'autoscaling:web-asg', instanceIds: [INSTANCE], eventTime: new Date('2025-05-20T08:29:41Z') });
  });

  test('tags in the request as { items: [...] } are read too', () => {
    const record = asgLaunch(undefined);
    record.requestParameters = { tagSpecificationSet: { items: [{ resourceType: 'instance', tags: { items: [{ key: 'aws:autoscaling:groupName', value: 'g2' }] } }] } };
    expect(launchFromRecord(record)?.creator).toBe('autoscaling:g2');
  });

  test('the group name from the instances\' tag set in the response', () => {
    expect(launchFromRecord(asgLaunch('api-asg', 'response'))?.creator).toBe('autoscaling:api-asg');
  });

  test('the request wins when both have it', () => {
    const record = asgLaunch('from-request', 'request');
    record.responseElements = { instancesSet: { items: [{ instanceId: INSTANCE, tagSet: { items: [{ key: 'aws:autoscaling:groupName', value: 'from-response' }] } }] } };
    expect(launchFromRecord(record)?.creator).toBe('autoscaling:from-request');
  });

  test('no group name found: "autoscaling"', () => {
    expect(launchFromRecord(asgLaunch(undefined, 'both'))?.creator).toBe('autoscaling');
    expect(launchFromRecord(asgLaunch('', 'both'))?.creator).toBe('autoscaling');
  });

  test('told by invokedBy alone, or by the service-linked role alone (custom suffix included)', () => {
    const { invokedBy: _invokedBy, ...roleOnly } = ASG_IDENTITY;
    expect(launchFromRecord(asgLaunch('g', 'request', roleOnly))?.creator).toBe('autoscaling:g');
    const suffixed = {
      ...roleOnly,
      sessionContext: { sessionIssuer: { ...ASG_IDENTITY.sessionContext.sessionIssuer, userName: 'AWSServiceRoleForAutoScaling_web' } },
    };
    expect(launchFromRecord(asgLaunch('g', 'request', suffixed))?.creator).toBe('autoscaling:g');
    expect(launchFromRecord(asgLaunch('g', 'request', { type: 'AWSService', invokedBy: 'autoscaling.amazonaws.com' }))?.creator).toBe('autoscaling:g');
  });

  test('a role merely named like it is not Auto Scaling', () => {
    const lookalike = {
      ...SSO_SESSION,
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSServiceRoleForAutoScalingFake/eve`,
      sessionContext: { sessionIssuer: { type: 'Role', userName: 'AWSServiceRoleForAutoScalingFake' } },
    };
    expect(launchFromRecord(asgLaunch('g', 'request', lookalike))?.creator).toBe('AWSServiceRoleForAutoScalingFake/eve');
  });

  test('an aws:autoscaling:groupName tag on a human\'s launch does not make it an Auto Scaling launch', () => {
    expect(launchFromRecord(asgLaunch('g', 'both', IAM_USER))?.creator).toBe('Alice');
  });
});

describe('launchFromRecord: instances', () => {
  test('every instance launched, in order', () => {
    const ids = ['i-0123456789abcdef0', 'i-0123456789abcdef1', 'i-12345678'];
    const record = runInstances(IAM_USER, { responseElements: { instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } } });
    expect(launchFromRecord(record)?.instanceIds).toEqual(ids);
  });

  test('items that are not instance ids are skipped', () => {
    const record = runInstances(IAM_USER, {
      responseElements: {
        instancesSet: {
          items: [{ instanceId: 'i-0123456789abcdef0' }, { instanceId: 'vol-0123456789abcdef0' }, { instanceId: 'i-1234567' }, { instanceId: 'i-0123456789ABCDEF0' },
            { instanceId: 5 }, {}, null, 'i-0123456789abcdef1', { instanceId: 'i-0123456789abcdef01' }],
        },
      },
    });
    expect(launchFromRecord(record)?.instanceIds).toEqual(['i-0123456789abcdef0']);
  });

  test('an event time that is missing or unreadable is undefined, the launch still read', () => {
    expect(launchFromRecord(runInstances(IAM_USER, { eventTime: undefined }))).toEqual({ creator: 'Alice', instanceIds: [INSTANCE], eventTime: undefined });
    expect(launchFromRecord(runInstances(IAM_USER, { eventTime: 'yesterday' }))?.eventTime).toBeUndefined();
  });
});

describe('launchFromRecord: nothing to tag', () => {
  test('a failed call (errorCode set)', () => {
    const record = runInstances(IAM_USER, {
      errorCode: 'Client.UnauthorizedOperation',
      errorMessage: 'You are not authorized to perform this operation.',
      responseElements: null,
    });
    expect(launchFromRecord(record)).toBeUndefined();
    // Even if the response had instances in it.
    expect(launchFromRecord({ ...runInstances(IAM_USER), errorCode: 'Server.InsufficientInstanceCapacity' })).toBeUndefined();
  });

  test.each<[string, unknown]>([
    ['no responseElements', null],
    ['no instancesSet', { reservationId: 'r-1' }],
    ['an empty instancesSet', { instancesSet: { items: [] } }],
    ['items not a list', { instancesSet: { items: { instanceId: INSTANCE } } }],
  ])('no instances launched: %s', (_label, responseElements) => {
    expect(launchFromRecord(runInstances(IAM_USER, { responseElements }))).toBeUndefined();
  });

  test('another event name', () => {
    expect(launchFromRecord(runInstances(IAM_USER, { eventName: 'StartInstances' }))).toBeUndefined();
    expect(launchFromRecord(runInstances(IAM_USER, { eventName: undefined }))).toBeUndefined();
  });

  test.each([null, undefined, 'RunInstances', 42, [], [runInstances(IAM_USER)]])('not a record: %j', (value) => {
    expect(launchFromRecord(value)).toBeUndefined();
  });

  test('a record read back from LookupEvents\' CloudTrailEvent string is read the same', () => {
    expect(launchFromRecord(JSON.parse(JSON.stringify(runInstances(SSO_SESSION))))).toEqual(launchFromRecord(runInstances(SSO_SESSION)));
  });

  test.each([
    ['an empty user name', ''],
    ['a user name that is not a string (a list has a length too)', ['Bob']],
  ])('%s: the IAM user is named by its ARN instead', (_label, userName) => {
    expect(launchFromRecord(runInstances({ ...IAM_USER, userName }))?.creator).toBe('Alice');
  });

  test('only whole instance ids are taken: one with something before or after it is not an instance id', () => {
    const responseElements = { instancesSet: { items: [{ instanceId: 'eni-i-0123456789abcdef0' }, { instanceId: `${INSTANCE}x` }, { instanceId: INSTANCE }] } };
    expect(launchFromRecord(runInstances(IAM_USER, { responseElements }))?.instanceIds).toEqual([INSTANCE]);
  });

  test('a role merely named like the Auto Scaling service-linked role is an ordinary assumed role', () => {
    const lookalike = {
      ...SSO_SESSION,
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/MyAWSServiceRoleForAutoScaling/deployer`,
      sessionContext: { sessionIssuer: { type: 'Role', userName: 'MyAWSServiceRoleForAutoScaling' } },
    };
    expect(launchFromRecord(runInstances(lookalike))?.creator).toBe('MyAWSServiceRoleForAutoScaling/deployer');
  });

  test('an identity with no name at all launched nothing this engine can name: no launch', () => {
    expect(launchFromRecord(runInstances({ type: 'IAMUser' }))).toBeUndefined();
  });

  test('an Auto Scaling launch recorded without request parameters: the group from the response\'s tags', () => {
    const record = asgLaunch('web-asg', 'response');
    delete record.requestParameters;
    expect(launchFromRecord(record)?.creator).toBe('autoscaling:web-asg');
  });

  test('a tag specification with a null tag in its list is read past', () => {
    const record = asgLaunch('web-asg');
    (record.requestParameters as any).tagSpecificationSet.items[0].tags.unshift(null);
    expect(launchFromRecord(record)?.creator).toBe('autoscaling:web-asg');
  });
});
