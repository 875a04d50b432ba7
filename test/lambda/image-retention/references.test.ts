/*
 * Image and task definition references as ECS, Lambda, Scheduler and users write them, reduced to
 * what retention needs. Pure string work.
 */
import { accountOfArn, cosignSubject, parseImageUri, registryOf } from '../../../lambda/image-retention/references';
import { isFamilyOnly, runTaskInputDefinition } from '../../../lambda/image-retention/usage';

const REGISTRY = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';
const HEX = '0123456789abcdef'.repeat(4);
const DIGEST = `sha256:${HEX}`;

describe('parseImageUri', () => {
  test.each([
    ['a tag', `${REGISTRY}/app:v1.2`, { repository: 'app', tag: 'v1.2' }],
    ['a digest', `${REGISTRY}/app@${DIGEST}`, { repository: 'app', digest: DIGEST }],
    ['a tag and a digest (the digest is what runs)', `${REGISTRY}/app:v1@${DIGEST}`, { repository: 'app', tag: 'v1', digest: DIGEST }],
    ['no tag: latest', `${REGISTRY}/app`, { repository: 'app', tag: 'latest' }],
    ['a namespace', `${REGISTRY}/team/app:v1`, { repository: 'team/app', tag: 'v1' }],
    ['a deep namespace without a tag', `${REGISTRY}/a/b/c`, { repository: 'a/b/c', tag: 'latest' }],
    ['a namespace and a digest', `${REGISTRY}/team/app@${DIGEST}`, { repository: 'team/app', digest: DIGEST }],
    ['dots and dashes in names', `${REGISTRY}/my.team/web-app_x:1.0.0-rc_1`, { repository: 'my.team/web-app_x', tag: '1.0.0-rc_1' }],
    ['the registry in upper case', `${REGISTRY.toUpperCase()}/app:v1`, { repository: 'app', tag: 'v1' }],
  ])('%s', (_label, uri, expected) => {
    expect(parseImageUri(uri, REGISTRY)).toEqual(expected);
  });

  test.each([
    ['Docker Hub', 'nginx:1.27'],
    ['Docker Hub with a namespace', 'library/nginx:1.27'],
    ['docker.io', 'docker.io/library/nginx:1.27'],
    ['public ECR', 'public.ecr.aws/lambda/nodejs:20'],
    ['another account', '222233334444.dkr.ecr.eu-west-1.amazonaws.com/app:v1'],
    ['another region', '111122223333.dkr.ecr.us-east-1.amazonaws.com/app:v1'],
    ['a registry that only starts like ours', `${REGISTRY}.evil.example/app:v1`],
    ['a registry with a port', 'localhost:5000/app:v1'],
    ['no slash at all', REGISTRY],
    ['no slash, our registry and more', `${REGISTRY}x`],
    ['an empty string', ''],
  ])('other registries are ignored: %s', (_label, uri) => {
    expect(parseImageUri(uri, REGISTRY)).toBeUndefined();
  });

  test.each([
    ['a short digest', `${REGISTRY}/app@sha256:abc`],
    ['an upper-case digest', `${REGISTRY}/app@sha256:${HEX.toUpperCase()}`],
    ['another algorithm', `${REGISTRY}/app@sha512:${HEX}`],
    ['an empty digest', `${REGISTRY}/app@`],
    ['a tag and a bad digest', `${REGISTRY}/app:v1@sha256:nothex`],
    ['an empty tag', `${REGISTRY}/app:`],
    ['an empty repository', `${REGISTRY}/`],
    ['an empty repository before a tag', `${REGISTRY}/:v1`],
    ['an empty repository before a digest', `${REGISTRY}/@${DIGEST}`],
  ])('malformed references are ignored: %s', (_label, uri) => {
    expect(parseImageUri(uri, REGISTRY)).toBeUndefined();
  });

  test('registryOf gives the host of a repository URI', () => {
    expect(registryOf(`${REGISTRY}/team/app`)).toBe(REGISTRY);
  });
});

describe('cosignSubject', () => {
  test.each(['sig', 'att', 'sbom'])('sha256-<hex>.%s names sha256:<hex>', (kind) => {
    expect(cosignSubject(`sha256-${HEX}.${kind}`)).toBe(DIGEST);
  });

  test.each([
    ['another suffix', `sha256-${HEX}.sig2`],
    ['no suffix', `sha256-${HEX}`],
    ['a colon', `sha256:${HEX}.sig`],
    ['upper-case hex', `sha256-${HEX.toUpperCase()}.sig`],
    ['63 hex digits', `sha256-${HEX.slice(1)}.sig`],
    ['65 hex digits', `sha256-${HEX}0.sig`],
    ['a prefix', `v1-sha256-${HEX}.sig`],
    ['a plain tag', 'latest'],
  ])('%s names nothing', (_label, tag) => {
    expect(cosignSubject(tag)).toBeUndefined();
  });
});

describe('accountOfArn', () => {
  test.each([
    ['arn:aws:iam::111111111111:role/reader', '111111111111'],
    ['arn:aws-cn:iam::222222222222:role/a/b', '222222222222'],
    ['arn:aws-us-gov:ecs:us-gov-west-1:333333333333:task-definition/web:1', '333333333333'],
    ['arn:aws:sts::444444444444:assumed-role/r/s', '444444444444'],
  ])('%s → %s', (arn, account) => {
    expect(accountOfArn(arn)).toBe(account);
  });

  test.each([
    'arn:aws:s3:::bucket',
    'arn:aws:iam::11111111111:role/short',
    'arn:aws:iam::1111111111111:role/long',
    '111111111111',
    'role/reader',
    'x-arn:aws:iam::111111111111:role/reader',
    '',
  ])('%j has no account', (arn) => {
    expect(accountOfArn(arn)).toBeUndefined();
  });
});

describe('isFamilyOnly', () => {
  test.each([
    ['web', true],
    ['web:3', false],
    ['arn:aws:ecs:eu-west-1:111122223333:task-definition/web', true],
    ['arn:aws:ecs:eu-west-1:111122223333:task-definition/web:3', false],
    ['arn:aws-cn:ecs:cn-north-1:111122223333:task-definition/my_family-1', true],
  ])('%s → %s', (reference, expected) => {
    expect(isFamilyOnly(reference)).toBe(expected);
  });
});

describe('runTaskInputDefinition (the universal aws-sdk:ecs:runTask target\'s Input)', () => {
  test.each([
    ['TaskDefinition', '{"Cluster":"batch","TaskDefinition":"arn:aws:ecs:eu-west-1:111122223333:task-definition/job:4"}', 'arn:aws:ecs:eu-west-1:111122223333:task-definition/job:4'],
    ['a family', '{"TaskDefinition":"job"}', 'job'],
    ['taskDefinition (camel case)', '{"taskDefinition":"job:2"}', 'job:2'],
    ['TaskDefinition wins over taskDefinition', '{"TaskDefinition":"a:1","taskDefinition":"b:1"}', 'a:1'],
  ])('%s', (_label, input, expected) => {
    expect(runTaskInputDefinition(input)).toBe(expected);
  });

  test.each([
    ['no input', undefined],
    ['an empty input', ''],
    ['not JSON', '{TaskDefinition: job}'],
    ['null', 'null'],
    ['a list', '["job:1"]'],
    ['a string', '"job:1"'],
    ['no task definition', '{"Cluster":"batch"}'],
    ['an empty task definition', '{"TaskDefinition":""}'],
    ['a number', '{"TaskDefinition":5}'],
    ['an object', '{"TaskDefinition":{"Family":"job"}}'],
  ])('%s names nothing', (_label, input) => {
    expect(runTaskInputDefinition(input)).toBeUndefined();
  });
});
