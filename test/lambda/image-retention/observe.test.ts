/*
 * What the handler reads from ECR: which accounts a repository policy may let pull, the repositories
 * in scope, and the manifests that link images (index children, referrers by subject).
 */
import { BatchGetImageCommand, DescribeImagesCommand, DescribeRepositoriesCommand, ECRClient, ListTagsForResourceCommand } from '@aws-sdk/client-ecr';
import {
  ACCOUNT, child, CONSUMER, digestsOf, ecrError, ecrMock, image, imageIndex, installHandlerHarness, MEDIA, OPT_IN, OTHER_CONSUMER, PROTECTION_TAG,
  pullPolicy, referrer, REGION, repositoryArn, serve, throttled, uri, World,
} from './harness';
import type { ImageRetentionConfig } from '../../../lambda/image-retention/config';
import { listRepositories, mayPull, observeRepository, policyMayGrant, TaggedRepository } from '../../../lambda/image-retention/observe';

const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const allow = (principal: unknown, action: unknown = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']) => ({ Effect: 'Allow', Principal: principal, Action: action });

describe('policyMayGrant', () => {
  test.each([
    ['no policy', undefined, false],
    ['an empty policy text', '', false],
    ['another account', policy(allow({ AWS: `arn:aws:iam::${OTHER_CONSUMER}:root` })), false],
    ['other accounts, as ids', policy(allow({ AWS: [OTHER_CONSUMER, '999999999999'] })), false],
    ['the account, as a root ARN', policy(allow({ AWS: `arn:aws:iam::${CONSUMER}:root` })), true],
    ['the account, as an id', policy(allow({ AWS: CONSUMER })), true],
    ['a role in the account', policy(allow({ AWS: [`arn:aws:iam::${OTHER_CONSUMER}:root`, `arn:aws:iam::${CONSUMER}:role/deployer`] })), true],
    ['"*" as the principal', policy(allow('*')), true],
    ['{"AWS": "*"}', policy(allow({ AWS: '*' })), true],
    ['{"AWS": ["*"]}', policy(allow({ AWS: ['*'] })), true],
    ['a service principal (Lambda pulling for functions)', policy(allow({ Service: 'lambda.amazonaws.com' })), true],
    ['a Deny only', policy({ ...allow({ AWS: CONSUMER }), Effect: 'Deny' }), false],
    ['NotAction (may include the pull actions)', policy({ Effect: 'Allow', Principal: { AWS: CONSUMER }, NotAction: 'ecr:PutImage' }), true],
    ['NotPrincipal', policy({ Effect: 'Allow', NotPrincipal: { AWS: OTHER_CONSUMER }, Action: 'ecr:BatchGetImage' }), true],
    ['"*" as the action', policy(allow({ AWS: CONSUMER }, '*')), true],
    ['ecr:*', policy(allow({ AWS: CONSUMER }, 'ecr:*')), true],
    ['ecr:Batch* (wildcard)', policy(allow({ AWS: CONSUMER }, 'ecr:Batch*')), true],
    ['ecr:Get* (wildcard)', policy(allow({ AWS: CONSUMER }, ['ecr:Get*'])), true],
    ['ecr:*Image (wildcard)', policy(allow({ AWS: CONSUMER }, 'ecr:*Image')), true],
    ['ecr:BatchGetImag? (IAM\'s one-character wildcard)', policy(allow({ AWS: CONSUMER }, 'ecr:BatchGetImag?')), true],
    ['ecr:B?tch* (both wildcards)', policy(allow({ AWS: CONSUMER }, 'ecr:B?tch*')), true],
    ['ecr:?utImage (a ? matching no pull action)', policy(allow({ AWS: CONSUMER }, 'ecr:?utImage')), false],
    ['ecr:Describe* (a wildcard matching no pull action)', policy(allow({ AWS: CONSUMER }, 'ecr:Describe*')), false],
    ['actions in any case', policy(allow({ AWS: CONSUMER }, 'ECR:BATCHGETIMAGE')), true],
    ['only push actions', policy(allow({ AWS: CONSUMER }, ['ecr:PutImage', 'ecr:InitiateLayerUpload'])), false],
    ['a single Statement object, not a list', JSON.stringify({ Statement: allow({ AWS: CONSUMER }) }), true],
    ['no Statement', JSON.stringify({ Version: '2012-10-17' }), false],
    ['a statement that is not an object', JSON.stringify({ Statement: ['x', null] }), false],
    ['a Deny for the account, an Allow for another', policy({ ...allow({ AWS: CONSUMER }), Effect: 'Deny' }, allow({ AWS: OTHER_CONSUMER })), false],
    ['an Allow among others', policy(allow({ AWS: OTHER_CONSUMER }), allow({ AWS: CONSUMER }, 'ecr:GetDownloadUrlForLayer')), true],
    ['not JSON (unparseable: it may)', '{"Statement": [', true],
    ['pull and push actions in one statement', policy(allow({ AWS: CONSUMER }, ['ecr:PutImage', 'ecr:BatchGetImage'])), true],
    ['an action of wildcards only', policy(allow({ AWS: CONSUMER }, '**')), true],
    ['a "." in a wildcard action is a dot, not any character', policy(allow({ AWS: CONSUMER }, 'ecr:Batch.*')), false],
    ['no Principal', JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'ecr:BatchGetImage' }] }), false],
    ['a null Principal', policy(allow(null)), false],
    ['a federated principal only', policy(allow({ Federated: 'cognito-identity.amazonaws.com' })), false],
    ['an AWS principal that is not a string', policy(allow({ AWS: [Number(CONSUMER)] })), false],
  ])('%s → %s', (_label, text, expected) => {
    expect(policyMayGrant(text, CONSUMER)).toBe(expected);
  });
});

describe('with ECR', () => {
  installHandlerHarness();
  const ecr = () => new ECRClient({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

  async function observe(world: World, name = 'app') {
    serve(world);
    const repository: TaggedRepository = {
      repositoryName: name,
      repositoryArn: repositoryArn(name),
      repositoryUri: uri(name),
      registryId: ACCOUNT,
      tags: world.repositories.find((r) => r.name === name)!.tags,
    };
    return observeRepository(ecr(), repository, PROTECTION_TAG);
  }

  describe('mayPull', () => {
    test.each([
      ['no policy', undefined, false],
      ['a policy for the account', pullPolicy(CONSUMER), true],
      ['a policy for another account', pullPolicy(OTHER_CONSUMER), false],
      ['a policy that cannot be read (access denied)', ecrError('AccessDeniedException'), true],
      ['a policy that cannot be read (throttled past every retry)', throttled(), true],
    ])('%s → %s', async (_label, text, expected) => {
      const world = new World();
      world.repository('app', [], { policy: text });
      serve(world);
      expect(await mayPull(ecr(), 'app', CONSUMER)).toBe(expected);
    });
  });

  describe('listRepositories', () => {
    const config = (repositories?: string[]) => ({ repositories } as unknown as ImageRetentionConfig);

    test('configured names: one DescribeRepositories for up to 100 of them, 150 take 2 calls', async () => {
      const world = new World();
      const names = Array.from({ length: 150 }, (_, i) => `repo-${i}`);
      for (const name of names) world.repository(name, []);
      serve(world);
      const { repositories, missing } = await listRepositories(ecr(), config(names));
      expect(repositories.map((r) => r.repositoryName)).toEqual(names);
      expect(missing).toEqual([]);
      expect(world.callsOf('DescribeRepositories').map((c) => c.input.repositoryNames!.length)).toEqual([100, 50]);
    });

    test('configured names: a call naming a missing one fails as a whole, so they are asked one by one; the missing one is listed, not thrown; their tags are read', async () => {
      const world = new World();
      world.repository('app', [], { tags: { [PROTECTION_TAG]: '' } });
      world.repository('api', []);
      serve(world);
      const { repositories, missing } = await listRepositories(ecr(), config(['app', 'gone', 'api']));
      expect(repositories.map((r) => [r.repositoryName, r.tags])).toEqual([['app', { [PROTECTION_TAG]: '' }], ['api', {}]]);
      expect(missing).toEqual(['gone']);
      expect(world.callsOf('DescribeRepositories').map((c) => c.input.repositoryNames)).toEqual([['app', 'gone', 'api'], ['app'], ['gone'], ['api']]);
    });

    test('configured names: a single missing one takes one call', async () => {
      const world = new World();
      world.repository('app', []);
      serve(world);
      const names = Array.from({ length: 101 }, (_, i) => `repo-${i}`);
      for (const name of names.slice(0, 100)) world.repository(name, []);
      const { repositories, missing } = await listRepositories(ecr(), config(names));
      expect(repositories).toHaveLength(100);
      expect(missing).toEqual(['repo-100']);
      expect(world.callsOf('DescribeRepositories').map((c) => c.input.repositoryNames!.length)).toEqual([100, 1]);
    });

    test('configured names asked one by one: an error other than a missing repository is thrown', async () => {
      const world = new World();
      world.repository('app', []);
      world.fault('DescribeRepositories', ecrError('AccessDeniedException'), { call: 3 });
      serve(world);
      await expect(listRepositories(ecr(), config(['gone', 'app']))).rejects.toMatchObject({ name: 'AccessDeniedException' });
      expect(world.callsOf('DescribeRepositories').map((c) => c.input.repositoryNames)).toEqual([['gone', 'app'], ['gone'], ['app']]);
    });

    test('any other DescribeRepositories error is thrown', async () => {
      const world = new World();
      world.repository('app', []);
      world.fault('DescribeRepositories', ecrError('AccessDeniedException'));
      serve(world);
      await expect(listRepositories(ecr(), config(['app']))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    });

    test('opt-in: every page, only the tag enabled', async () => {
      const world = new World();
      world.pageSize = 1;
      world.repository('a', [], { tags: { [OPT_IN.key]: OPT_IN.value } });
      world.repository('b', [], { tags: { [OPT_IN.key]: 'Enabled' } });
      world.repository('c', []);
      world.repository('d', [], { tags: { [OPT_IN.key]: OPT_IN.value, team: 'x' } });
      serve(world);
      const { repositories, missing } = await listRepositories(ecr(), config());
      expect(repositories.map((r) => r.repositoryName)).toEqual(['a', 'd']);
      expect(missing).toEqual([]);
      expect(world.callsOf('DescribeRepositories').map((c) => c.input.nextToken)).toEqual([undefined, 'page-1', 'page-2', 'page-3']);
    });

    test('opt-in: a page throttled past its retries resumes from its own token, listing each repository once', async () => {
      const world = new World();
      world.pageSize = 1;
      for (const name of ['a', 'b', 'c']) world.repository(name, [], { tags: { [OPT_IN.key]: OPT_IN.value } });
      world.fault('DescribeRepositories', throttled(), { call: 2 });
      serve(world);
      const { repositories } = await listRepositories(ecr(), config());
      expect(repositories.map((r) => r.repositoryName)).toEqual(['a', 'b', 'c']);
      expect(world.callsOf('DescribeRepositories').map((c) => c.input.nextToken)).toEqual([undefined, 'page-1', 'page-1', 'page-2']);
    });
  });

  describe('observeRepository: manifests', () => {
    test('index children are read with BatchGetImage, accepting index and manifest media types; plain tagged images are not read', async () => {
      const world = new World();
      const amd = child();
      const arm = child();
      const index = imageIndex([amd, arm], { tags: ['v1'] });
      const list = imageIndex([arm], { mediaType: MEDIA.dockerList });
      const tagged = image({ tags: ['v0'] });
      world.repository('app', [index, amd, arm, list, tagged]);
      const observed = await observe(world);

      expect(observed.children).toEqual(new Map([[index.digest, [amd.digest, arm.digest]], [list.digest, [arm.digest]]]));
      const reads = world.callsOf('BatchGetImage');
      expect(reads).toHaveLength(1);
      expect(reads[0].input.imageIds.map((i: { imageDigest: string }) => i.imageDigest).sort()).toEqual(digestsOf([index, list]));
      const accepted = [MEDIA.index, MEDIA.dockerList, MEDIA.manifest, MEDIA.dockerManifest];
      expect(reads[0].input.acceptedMediaTypes).toEqual(expect.arrayContaining(accepted));
      expect(observed.subjects.size).toBe(0);
      expect(observed.images.map((i) => i.digest)).toEqual([index, amd, arm, list, tagged].map((i) => i.digest));
    });

    test('referrers by subject: untagged images and non-image artifacts are read; children are not', async () => {
      const world = new World();
      const subject = image({ tags: ['v1'] });
      const signature = referrer(subject);
      const taggedSbom = referrer(subject, { tags: ['sbom-v1'], artifactMediaType: MEDIA.sbom });
      const untaggedPlain = image();
      const amd = child();
      const index = imageIndex([amd], { tags: ['multi'] });
      const indexSignature = referrer(index);
      world.repository('app', [subject, signature, taggedSbom, untaggedPlain, amd, index, indexSignature]);
      const observed = await observe(world);

      expect(observed.subjects).toEqual(new Map([
        [signature.digest, subject.digest],
        [taggedSbom.digest, subject.digest],
        [indexSignature.digest, index.digest],
      ]));
      const read = world.callsOf('BatchGetImage').flatMap((c) => c.input.imageIds.map((i: { imageDigest: string }) => i.imageDigest));
      expect(read.sort()).toEqual(digestsOf([index, signature, taggedSbom, untaggedPlain, indexSignature]));
      expect(read).not.toContain(amd.digest);
      expect(read).not.toContain(subject.digest);
    });

    test('an untagged Docker schema 2 image is not read: Docker manifests have no subject field', async () => {
      const world = new World();
      const docker = { ...image(), mediaType: MEDIA.dockerManifest };
      const oci = image();
      world.repository('app', [docker, oci]);
      await observe(world);
      const read = world.callsOf('BatchGetImage').flatMap((c) => c.input.imageIds.map((i: { imageDigest: string }) => i.imageDigest));
      expect(read).toEqual([oci.digest]);
    });

    test('every manifest media type is accepted, Docker schema 1 too', async () => {
      const world = new World();
      world.repository('app', [image()]);
      await observe(world);
      expect([...world.callsOf('BatchGetImage')[0].input.acceptedMediaTypes].sort()).toEqual([
        MEDIA.index, MEDIA.dockerList, MEDIA.manifest, MEDIA.dockerManifest,
        'application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
      ].sort());
    });

    test.each([
      MEDIA.dockerManifest, 'application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    ])('an untagged image of Docker media type %s is not read', async (mediaType) => {
      const world = new World();
      world.repository('app', [{ ...image(), mediaType }]);
      await observe(world);
      expect(world.callsOf('BatchGetImage')).toEqual([]);
    });

    test('a tagged image whose config is a container image\'s (OCI or Docker) is not read; one without an artifact type is not either', async () => {
      const world = new World();
      world.repository('app', [
        image({ tags: ['oci'] }),
        { ...image({ tags: ['docker-config'] }), artifactMediaType: 'application/vnd.docker.container.image.v1+json' },
        { ...image({ tags: ['no-artifact-type'] }), artifactMediaType: undefined },
      ]);
      await observe(world);
      expect(world.callsOf('BatchGetImage')).toEqual([]);
    });

    test('an index entry without a string digest lists nothing', async () => {
      const world = new World();
      const amd = child();
      const manifests = [{ size: 1 }, { digest: amd.digest }, { digest: 42 }];
      const index = { ...imageIndex([amd]), manifest: { schemaVersion: 2, mediaType: MEDIA.index, manifests } };
      world.repository('app', [index, amd]);
      const observed = await observe(world);
      expect(observed.children).toEqual(new Map([[index.digest, [amd.digest]]]));
    });

    test('an image whose manifest comes back empty links nothing and fails nothing', async () => {
      const world = new World();
      const empty = { ...image(), manifest: '' };
      world.repository('app', [empty]);
      const observed = await observe(world);
      expect(observed.subjects.size).toBe(0);
      expect(observed.images.map((i) => i.digest)).toEqual([empty.digest]);
    });

    test('an index\'s own subject (a signed index artifact) is recorded too', async () => {
      const world = new World();
      const subject = image({ tags: ['v1'] });
      const amd = child();
      const attestations = {
        ...imageIndex([amd]),
        manifest: { schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ digest: amd.digest }], subject: { digest: subject.digest } },
      };
      world.repository('app', [subject, attestations, amd]);
      const observed = await observe(world);
      expect(observed.subjects.get(attestations.digest)).toBe(subject.digest);
      expect(observed.children.get(attestations.digest)).toEqual([amd.digest]);
    });

    test('manifests are read 100 digests a call', async () => {
      const world = new World();
      const untagged = Array.from({ length: 230 }, () => image());
      world.repository('app', untagged);
      await observe(world);
      expect(world.callsOf('BatchGetImage').map((c) => c.input.imageIds.length)).toEqual([100, 100, 30]);
    });

    test('a manifest that cannot be read fails the repository', async () => {
      const world = new World();
      const amd = child();
      const index = imageIndex([amd]);
      world.repository('app', [index, amd]);
      world.manifestFailures.set(index.digest, 'KmsError');
      await expect(observe(world)).rejects.toThrow(`BatchGetImage could not read 1 manifest(s) of app: ${index.digest} KmsError`);
    });

    test('every manifest that cannot be read is named in the error', async () => {
      const world = new World();
      const one = image();
      const two = image();
      world.repository('app', [one, two]);
      world.manifestFailures.set(one.digest, 'KmsError');
      world.manifestFailures.set(two.digest, 'AccessDenied');
      await expect(observe(world)).rejects.toThrow(`BatchGetImage could not read 2 manifest(s) of app: ${one.digest} KmsError, ${two.digest} AccessDenied`);
    });

    test('a manifest that is not JSON fails the repository', async () => {
      const world = new World();
      const broken = { ...image(), manifest: 'not json {' };
      world.repository('app', [broken]);
      await expect(observe(world)).rejects.toThrow(`the manifest of app@${broken.digest} is not JSON`);
    });

    test('BatchGetImage failing as a call (past its retries) fails the repository', async () => {
      const world = new World();
      world.repository('app', [image()]);
      world.fault('BatchGetImage', ecrError('AccessDeniedException'));
      await expect(observe(world)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    });

    test('an image deleted since the listing (ImageNotFound) is no failure', async () => {
      const world = new World();
      const gone = image();
      const kept = image();
      world.repository('app', [gone, kept]);
      world.manifestFailures.set(gone.digest, 'ImageNotFound');
      const observed = await observe(world);
      expect(observed.images).toHaveLength(2);
    });

    test('a throttled BatchGetImage is retried', async () => {
      const world = new World();
      const sig = referrer(image({ tags: ['x'] }));
      world.repository('app', [sig]);
      world.fault('BatchGetImage', throttled());
      const observed = await observe(world);
      expect(world.callsOf('BatchGetImage')).toHaveLength(2);
      expect(observed.subjects.size).toBe(1);
    });

    test('what an image is: digest, tags, push time, size, media types; the protection tag marks the repository', async () => {
      const world = new World();
      const img = image({ tags: ['a', 'b'], sizeBytes: 1234 });
      world.repository('app', [img], { tags: { [PROTECTION_TAG]: 'no' } });
      const observed = await observe(world);
      expect(observed).toMatchObject({ name: 'app', arn: repositoryArn('app'), uri: uri('app'), protected: true });
      expect(observed.images).toEqual([{ digest: img.digest, tags: ['a', 'b'], pushedAt: img.pushedAt, sizeBytes: 1234, mediaType: MEDIA.manifest, artifactMediaType: MEDIA.config }]);
    });
  });
});

describe('ECR answers with parts missing', () => {
  installHandlerHarness();
  const ecr = () => new ECRClient({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const config = (repositories?: string[]) => ({ repositories } as unknown as ImageRetentionConfig);
  /** The `app` repository, read after serve() and the overrides of the test. */
  const observe = () => {
    const tagged: TaggedRepository = { repositoryName: 'app', repositoryArn: repositoryArn('app'), repositoryUri: uri('app'), registryId: ACCOUNT, tags: {} };
    return observeRepository(ecr(), tagged, PROTECTION_TAG);
  };

  test('DescribeRepositories without its list (by names, name by name, opt-in) finds nothing and reads no tags', async () => {
    const world = new World();
    serve(world);
    ecrMock.on(DescribeRepositoriesCommand).resolves({});
    expect(await listRepositories(ecr(), config(['a', 'b']))).toEqual({ repositories: [], missing: [] });
    expect(await listRepositories(ecr(), config(undefined))).toEqual({ repositories: [], missing: [] });
    // A call naming a missing one is asked name by name; those answers leave out their list too.
    ecrMock.on(DescribeRepositoriesCommand, { repositoryNames: ['a', 'b'] }).rejects(ecrError('RepositoryNotFoundException'));
    expect(await listRepositories(ecr(), config(['a', 'b']))).toEqual({ repositories: [], missing: [] });
    expect(world.callsOf('ListTagsForResource')).toEqual([]);
    expect(ecrMock.commandCalls(ListTagsForResourceCommand)).toHaveLength(0);
  });

  test('DescribeImages: a page without its list holds nothing; an image without a digest is left out', async () => {
    const world = new World();
    const kept = image();
    world.repository('app', [kept]);
    serve(world);
    ecrMock.on(DescribeImagesCommand).resolves({});
    expect((await observe()).images).toEqual([]);
    ecrMock.on(DescribeImagesCommand).resolves({
      imageDetails: [{ imageTags: ['orphan'], imagePushedAt: new Date() }, { imageDigest: kept.digest, imageTags: ['v1'] }],
    });
    expect((await observe()).images.map((i) => i.digest)).toEqual([kept.digest]);
  });

  test('BatchGetImage: an answer without failures fails nothing; an image without an id is skipped; a failure without an id still fails the repository', async () => {
    const world = new World();
    const amd = child();
    const index = imageIndex([amd]);
    world.repository('app', [index, amd]);
    serve(world);
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ digest: amd.digest }] });
    ecrMock.on(BatchGetImageCommand).resolves({
      images: [{ imageManifest: manifest }, { imageId: { imageDigest: index.digest }, imageManifest: manifest }],
    });
    expect((await observe()).children).toEqual(new Map([[index.digest, [amd.digest]]]));

    ecrMock.on(BatchGetImageCommand).resolves({ failures: [{ failureCode: 'KmsError' }] });
    await expect(observe()).rejects.toThrow(/^BatchGetImage could not read 1 manifest\(s\) of app: /);
  });
});
