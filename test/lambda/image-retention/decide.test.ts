import type { PinnedImage } from '../../../lambda/image-retention/config';
import { decideImages, DecideInput, ImagePlanItem } from '../../../lambda/image-retention/decide';
import type { ObservedImage, ObservedRepository } from '../../../lambda/image-retention/observe';
import type { ImageUse } from '../../../lambda/image-retention/usage';

const NOW = new Date('2026-12-01T12:00:00Z');
const DAY = 86_400_000;
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const image = (n: number, ageDays: number, tags: string[] = [], extra: Partial<ObservedImage> = {}): ObservedImage => ({
  digest: digest(n), tags, pushedAt: new Date(NOW.getTime() - ageDays * DAY), sizeBytes: 1000 + n, ...extra,
});

function repo(name: string, images: ObservedImage[], extra: Partial<ObservedRepository> = {}): ObservedRepository {
  return {
    name,
    arn: `arn:aws:ecr:eu-west-1:123456789012:repository/${name}`,
    uri: `${REGISTRY}/${name}`,
    protected: false,
    images,
    children: new Map(),
    subjects: new Map(),
    ...extra,
  };
}

const SETTINGS = {
  keepNewest: 0, minAgeSeconds: 30 * 86_400, keepTagPatterns: ['latest'], pinnedImages: [] as PinnedImage[], action: 'DELETE' as const, dryRun: false,
};

function decide(input: Partial<DecideInput> & { repositories: ObservedRepository[] }, settings: Partial<typeof SETTINGS> = {}, budget = 1_000) {
  return decideImages({ uses: [], unknownConsumers: new Map(), ...input }, { ...SETTINGS, ...settings }, budget, NOW);
}

/** digest number → "KEEP:<reason>" or the disposition. */
function verdicts(items: ImagePlanItem[]): Record<number, string> {
  return Object.fromEntries(items.map((i) => [parseInt(i.image.digest.slice(7), 16), i.disposition === 'KEEP' ? `KEEP:${i.keepReason}` : i.disposition]));
}

const use = (uri: string, usedBy = 'ecs-service 123456789012/prod/web', reported?: string): ImageUse => ({ image: uri, usedBy, ...(reported ? { digest: reported } : {}) });

describe('direct keep reasons', () => {
  test('an old image nothing names is deleted; a young one is kept; the boundary of minAge is old', () => {
    const plan = decide({ repositories: [repo('app', [image(1, 31), image(2, 29), image(3, 30)])] });
    expect(verdicts(plan.items)).toEqual({ 1: 'DELETE', 2: 'KEEP:young', 3: 'DELETE' });
    expect(plan.deletions).toBe(2);
  });

  test('the newest keepNewest top-level images by push time are kept, ties broken by digest', () => {
    const images = [image(1, 100), image(2, 90), image(3, 80), image(4, 80)];
    expect(verdicts(decide({ repositories: [repo('app', images)] }, { keepNewest: 2 }).items)).toEqual({ 1: 'DELETE', 2: 'DELETE', 3: 'KEEP:newest', 4: 'KEEP:newest' });
    expect(verdicts(decide({ repositories: [repo('app', images)] }, { keepNewest: 3 }).items)).toEqual({ 1: 'DELETE', 2: 'KEEP:newest', 3: 'KEEP:newest', 4: 'KEEP:newest' });
  });

  test('ANY tag matching a pattern keeps the image, whatever its other tags (wildcards * and ?)', () => {
    const plan = decide({ repositories: [repo('app', [image(1, 99, ['build-7', 'release-1.2']), image(2, 99, ['build-8']), image(3, 99, ['v1']), image(4, 99, ['v10'])])] },
      { keepTagPatterns: ['release-*', 'v?'] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:tag-pattern', 2: 'DELETE', 3: 'KEEP:tag-pattern', 4: 'DELETE' });
  });

  test('in use by tag resolves to the current digest; by digest names that digest; a task keeps the digest it pulled after the tag moved', () => {
    const images = [image(1, 99, ['web']), image(2, 99), image(3, 99), image(4, 99)];
    const uses = [
      use(`${REGISTRY}/app:web`),
      use(`${REGISTRY}/app@${digest(2)}`, 'lambda 123456789012/fn:3'),
      use(`${REGISTRY}/app:web`, 'ecs-task 123456789012/prod/abc', digest(3)),
    ];
    const plan = decide({ repositories: [repo('app', images)], uses });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:in-use', 2: 'KEEP:in-use', 3: 'KEEP:in-use', 4: 'DELETE' });
    expect(plan.items.find((item) => item.image.digest === digest(2))?.usedBy).toBe('lambda 123456789012/fn:3');
    expect(plan.items.find((i) => i.image.digest === digest(3))?.usedBy).toBe('ecs-task 123456789012/prod/abc');
  });

  test('references to another registry, region or repository protect nothing here; no tag means latest', () => {
    const images = [image(1, 99, ['latest2']), image(2, 99, ['x']), image(3, 99, ['latest'])];
    const uses = [
      use('999999999999.dkr.ecr.eu-west-1.amazonaws.com/app:x'),
      use('123456789012.dkr.ecr.us-east-1.amazonaws.com/app:x'),
      use(`${REGISTRY}/other:x`),
      use(`${REGISTRY}/app`),
    ];
    const plan = decide({ repositories: [repo('app', images)], uses }, { keepTagPatterns: [] });
    expect(verdicts(plan.items)).toEqual({ 1: 'DELETE', 2: 'DELETE', 3: 'KEEP:in-use' });
  });

  test('pinned images by digest and by tag; in-use outranks pinned', () => {
    const images = [image(1, 99), image(2, 99, ['v1.2.3']), image(3, 99), image(4, 99)];
    const pinned: PinnedImage[] = [{ repository: 'app', digest: digest(1) }, { repository: 'app', tag: 'v1.2.3' }, { repository: 'other', digest: digest(4) }, { repository: 'app', digest: digest(3) }];
    const plan = decide({ repositories: [repo('app', images)], uses: [use(`${REGISTRY}/app@${digest(3)}`)] }, { pinnedImages: pinned });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:pinned', 2: 'KEEP:pinned', 3: 'KEEP:in-use', 4: 'DELETE' });
    expect(plan.items.find((item) => item.image.digest === digest(2))?.usedBy).toBe('pinnedImages app:v1.2.3');
  });

  test('an image named by several uses or pins names the first one found: uses in their order, then pins in theirs', () => {
    const images = [image(1, 99, ['web']), image(2, 99, ['v1'])];
    const uses = [use(`${REGISTRY}/app:web`, 'ecs-service 123456789012/prod/web'), use(`${REGISTRY}/app@${digest(1)}`, 'lambda 123456789012/fn:3')];
    const pinned: PinnedImage[] = [{ repository: 'app', digest: digest(2) }, { repository: 'app', tag: 'v1' }, { repository: 'app', tag: 'web' }];
    const plan = decide({ repositories: [repo('app', images)], uses }, { pinnedImages: pinned });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:in-use', 2: 'KEEP:pinned' });
    expect(plan.items.find((i) => i.image.digest === digest(1))?.usedBy).toBe('ecs-service 123456789012/prod/web');
    expect(plan.items.find((i) => i.image.digest === digest(2))?.usedBy).toBe(`pinnedImages app@${digest(2)}`);
  });

  test('an image without a push time counts as the newest of its repository', () => {
    const plan = decide({ repositories: [repo('app', [image(1, 99), image(2, 99, [], { pushedAt: undefined }), image(3, 98)])] }, { keepNewest: 1 });
    expect(verdicts(plan.items)).toEqual({ 1: 'DELETE', 2: 'KEEP:newest', 3: 'DELETE' });
  });

  test('an image without a push time is of unknown age and kept as young', () => {
    const plan = decide({ repositories: [repo('app', [image(1, 99, [], { pushedAt: undefined })])] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:young' });
  });
});

describe('multi-arch indexes and referrers', () => {
  const index = (n: number, age: number, tags: string[] = []) => image(n, age, tags, { mediaType: 'application/vnd.oci.image.index.v1+json' });

  test('an unused old index is deleted with its children, index first; children never count as top-level', () => {
    const r = repo('app', [index(1, 99), image(2, 99), image(3, 99)], { children: new Map([[digest(1), [digest(2), digest(3)]]]) });
    const plan = decide({ repositories: [r] });
    expect(verdicts(plan.items)).toEqual({ 1: 'DELETE', 2: 'DELETE', 3: 'DELETE' });
    expect(Object.fromEntries(plan.items.map((i) => [i.image.digest, i.phase]))).toEqual({ [digest(1)]: 0, [digest(2)]: 1, [digest(3)]: 1 });
  });

  test('a kept index keeps its children (index-child), even old untagged ones; newest counts the index once', () => {
    const r = repo('app', [index(1, 99, ['latest']), image(2, 99), image(3, 99), image(4, 98)], { children: new Map([[digest(1), [digest(2), digest(3)]]]) });
    expect(verdicts(decide({ repositories: [r] }).items)).toEqual({ 1: 'KEEP:tag-pattern', 2: 'KEEP:index-child', 3: 'KEEP:index-child', 4: 'DELETE' });
    const newest = repo('app', [index(1, 99), image(2, 1), image(3, 1), image(4, 98)], { children: new Map([[digest(1), [digest(2), digest(3)]]]) });
    // Children are judged with their index: young children of an old index do not keep it, nor are they "newest".
    expect(verdicts(decide({ repositories: [newest] }, { keepNewest: 1 }).items)).toEqual({ 1: 'DELETE', 2: 'DELETE', 3: 'DELETE', 4: 'KEEP:newest' });
  });

  test('a child shared by a kept and a deleted index stays; a child in use itself stays while its index goes', () => {
    const r = repo('app', [index(1, 99, ['latest']), index(2, 99), image(3, 99), image(4, 99), image(5, 99)], {
      children: new Map([[digest(1), [digest(3)]], [digest(2), [digest(3), digest(4), digest(5)]]]),
    });
    const plan = decide({ repositories: [r], uses: [use(`${REGISTRY}/app@${digest(5)}`)] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:tag-pattern', 2: 'DELETE', 3: 'KEEP:index-child', 4: 'DELETE', 5: 'KEEP:in-use' });
  });

  test('referrers (subject or cosign tag) are kept while their subject is, deleted before it otherwise', () => {
    const sig = (n: number) => `sha256-${n.toString(16).padStart(64, '0')}.sig`;
    const r = repo('app', [
      image(1, 99, ['latest']), image(2, 99), // kept subject and its subject-linked referrer
      image(3, 99), image(4, 1, [sig(3)]), // deleted subject and its young cosign signature
      image(5, 99), image(6, 99), // deleted subject, and an SBOM whose signature (7) refers to the SBOM
      image(7, 99),
    ], { subjects: new Map([[digest(2), digest(1)], [digest(6), digest(5)], [digest(7), digest(6)]]) });
    const plan = decide({ repositories: [r] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:tag-pattern', 2: 'KEEP:referrer', 3: 'DELETE', 4: 'DELETE', 5: 'DELETE', 6: 'DELETE', 7: 'DELETE' });
    const phase = Object.fromEntries(plan.items.map((i) => [parseInt(i.image.digest.slice(7), 16), i.phase]));
    expect([phase[4], phase[3]]).toEqual([0, 1]);
    expect([phase[7], phase[6], phase[5]]).toEqual([0, 1, 2]);
  });

  test('several referrers of one subject: all kept with a kept subject, all deleted before a deleted one', () => {
    const r = repo('app', [image(1, 99, ['latest']), image(2, 99), image(3, 99), image(4, 99), image(5, 99), image(6, 99)], {
      subjects: new Map([[digest(2), digest(1)], [digest(3), digest(1)], [digest(5), digest(4)], [digest(6), digest(4)]]),
    });
    const plan = decide({ repositories: [r] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:tag-pattern', 2: 'KEEP:referrer', 3: 'KEEP:referrer', 4: 'DELETE', 5: 'DELETE', 6: 'DELETE' });
    const phase = Object.fromEntries(plan.items.map((i) => [parseInt(i.image.digest.slice(7), 16), i.phase]));
    expect([phase[5], phase[6], phase[4]]).toEqual([0, 0, 1]);
  });

  test('a cosign tag naming the image itself links nothing: the image is judged as top-level', () => {
    const sig = (n: number) => `sha256-${n.toString(16).padStart(64, '0')}.sig`;
    const plan = decide({ repositories: [repo('app', [image(1, 1, [sig(1)]), image(2, 99, [sig(2)])])] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:young', 2: 'DELETE' });
    expect(plan.items.find((i) => i.image.digest === digest(2))?.phase).toBe(0);
  });

  test('a referrer with its own reason stays even when its subject goes; a dangling referrer is judged as top-level', () => {
    const r = repo('app', [image(1, 99), image(2, 99, ['latest']), image(3, 99), image(4, 5)], {
      subjects: new Map([[digest(2), digest(1)], [digest(3), digest(9)], [digest(4), digest(8)]]),
    });
    const plan = decide({ repositories: [r] });
    expect(verdicts(plan.items)).toEqual({ 1: 'DELETE', 2: 'KEEP:tag-pattern', 3: 'DELETE', 4: 'KEEP:young' });
    // A kept referrer is not deleted first: its subject has nothing to wait for.
    expect(plan.items.find((i) => i.image.digest === digest(1))?.phase).toBe(0);
  });

  test('a child of a kept index that is in use itself keeps its own reason (and names its user)', () => {
    const r = repo('app', [index(1, 99, ['latest']), image(2, 99), image(3, 99)], { children: new Map([[digest(1), [digest(2), digest(3)]]]) });
    const plan = decide({ repositories: [r], uses: [use(`${REGISTRY}/app@${digest(3)}`, 'lambda 123456789012/fn:1')] });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:tag-pattern', 2: 'KEEP:index-child', 3: 'KEEP:in-use' });
    expect(plan.items.find((i) => i.image.digest === digest(3))?.usedBy).toBe('lambda 123456789012/fn:1');
  });
});

describe('protection, unknown consumers and the cap', () => {
  test('a protected repository: candidates are PROTECTED, never counted as deletions; kept images keep their reasons', () => {
    const plan = decide({ repositories: [repo('app', [image(1, 99), image(2, 1)], { protected: true })] });
    expect(verdicts(plan.items)).toEqual({ 1: 'PROTECTED', 2: 'KEEP:young' });
    expect(plan.deletions).toBe(0);
  });

  test('a failed consumer that may pull a repository keeps every candidate there, naming the account; other repositories are cleaned', () => {
    const plan = decide({
      repositories: [repo('app', [image(1, 99), image(2, 1)]), repo('tools', [image(3, 99)])],
      unknownConsumers: new Map([['app', ['111111111111', '222222222222']]]),
    });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:unknown-consumer', 2: 'KEEP:young', 3: 'DELETE' });
    expect(plan.items[0].usedBy).toBe('111111111111, 222222222222');
  });

  test('under a failed consumer, a candidate index keeps unknown-consumer and what goes with it keeps its own derived reason', () => {
    const idx = image(1, 99, [], { mediaType: 'application/vnd.oci.image.index.v1+json' });
    const plan = decide({
      repositories: [repo('app', [idx, image(2, 99), image(3, 99), image(4, 99)], {
        children: new Map([[digest(1), [digest(2), digest(3)]]]), subjects: new Map([[digest(4), digest(1)]]),
      })],
      unknownConsumers: new Map([['app', ['111111111111']]]),
    });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:unknown-consumer', 2: 'KEEP:index-child', 3: 'KEEP:index-child', 4: 'KEEP:referrer' });
    expect(plan.deletions).toBe(0);
  });

  test('under a failed consumer, images linked only to each other (cosign tags naming each other) are kept too', () => {
    const sig = (n: number) => `sha256-${n.toString(16).padStart(64, '0')}.sig`;
    const r = repo('app', [image(1, 99, [sig(2)]), image(2, 99, [sig(1)]), image(3, 99)]);
    // Neither is top-level (each is the other's referrer): without a failed consumer both go, with one both stay.
    expect(verdicts(decide({ repositories: [r] }).items)).toEqual({ 1: 'DELETE', 2: 'DELETE', 3: 'DELETE' });
    const plan = decide({ repositories: [r], unknownConsumers: new Map([['app', ['111111111111']]]) });
    expect(verdicts(plan.items)).toEqual({ 1: 'KEEP:unknown-consumer', 2: 'KEEP:unknown-consumer', 3: 'KEEP:unknown-consumer' });
    expect(plan.items.map((i) => i.usedBy)).toEqual(['111111111111', '111111111111', '111111111111']);
    expect(plan.deletions).toBe(0);
  });

  test('the cap takes whole units, oldest first across repositories; the rest is CAP', () => {
    const idx = image(1, 50, [], { mediaType: 'application/vnd.oci.image.index.v1+json' });
    const plan = decide({
      repositories: [
        repo('a', [idx, image(2, 50), image(3, 50), image(4, 90)], { children: new Map([[digest(1), [digest(2), digest(3)]]]) }),
        repo('b', [image(5, 80), image(6, 40)]),
      ],
    }, {}, 4);
    // Oldest first: 4 (90 d), 5 (80 d), then the index unit (3 images) does not fit in the 2 left, and nothing after it runs.
    expect(verdicts(plan.items)).toEqual({ 1: 'CAP', 2: 'CAP', 3: 'CAP', 4: 'DELETE', 5: 'DELETE', 6: 'CAP' });
    expect(plan.deletions).toBe(2);
  });

  test('a unit is as old as its oldest member; units of the same age go by their smallest digest', () => {
    const idx = (n: number, age: number) => image(n, age, [], { mediaType: 'application/vnd.oci.image.index.v1+json' });
    // An old index whose child was pushed recently: the unit counts from the index, and goes before the 50-day image.
    const byAge = decide({
      repositories: [repo('a', [idx(1, 90), image(2, 10)], { children: new Map([[digest(1), [digest(2)]]]) }), repo('b', [image(3, 50)])],
    }, {}, 2);
    expect(verdicts(byAge.items)).toEqual({ 1: 'DELETE', 2: 'DELETE', 3: 'CAP' });
    // Same age: the index unit {2, 3, 5} (smallest digest 2) goes before the image 4, whatever the index's own digest.
    const byDigest = decide({
      repositories: [repo('a', [idx(5, 50), image(2, 50), image(3, 50)], { children: new Map([[digest(5), [digest(2), digest(3)]]]) }), repo('b', [image(4, 50)])],
    }, {}, 3);
    expect(verdicts(byDigest.items)).toEqual({ 2: 'DELETE', 3: 'DELETE', 4: 'CAP', 5: 'DELETE' });
    // Within a unit the items come in digest order.
    expect(byDigest.items.filter((i) => i.repository === 'a').map((i) => i.image.digest)).toEqual([digest(2), digest(3), digest(5)]);
  });

  test('REPORT is not capped and counts no deletions; a dry run is capped like a real run', () => {
    const repositories = [repo('a', [image(1, 99), image(2, 98)])];
    const report = decide({ repositories }, { action: 'REPORT' as never }, 1);
    expect(verdicts(report.items)).toEqual({ 1: 'DELETE', 2: 'DELETE' });
    expect(report.deletions).toBe(0);
    expect(verdicts(decide({ repositories }, { dryRun: true }, 1).items)).toEqual({ 1: 'DELETE', 2: 'CAP' });
  });

  test('a cap of 0 deletes nothing', () => {
    expect(verdicts(decide({ repositories: [repo('a', [image(1, 99)])] }, {}, 0).items)).toEqual({ 1: 'CAP' });
  });
});
