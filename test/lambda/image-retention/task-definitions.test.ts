import { decideRevisions, parseRevisionArn } from '../../../lambda/image-retention/task-definitions';

const arn = (family: string, revision: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:${revision}`;
const ALL = { keepNewestRevisions: 2, deregisterUnused: true, deleteInactive: true };

const summary = (items: ReturnType<typeof decideRevisions>) => items.map((i) => `${i.id} ${i.action} ${i.disposition}${i.keepReason ? `:${i.keepReason}` : ''}`);

test('parseRevisionArn reads family and revision, and nothing else', () => {
  expect(parseRevisionArn(arn('web-app_1', 42))).toEqual({ family: 'web-app_1', revision: 42 });
  expect(parseRevisionArn('arn:aws:ecs:eu-west-1:123456789012:task-definition/web')).toBeUndefined();
  expect(parseRevisionArn('web:3')).toBeUndefined();
  expect(parseRevisionArn(`${arn('web', 3)}:4`)).toBeUndefined();
  expect(parseRevisionArn(`${arn('web', 3)}x`)).toBeUndefined();
});

test('per family, the newest revisions by number are kept, in-use older ones too; the rest are deregistered', () => {
  const active = [arn('web', 1), arn('web', 10), arn('web', 9), arn('web', 2), arn('api', 1)];
  const items = decideRevisions(active, [], new Set([arn('web', 1)]), ALL, 100, true);
  // Kept revisions first (family by family, newest first), then the candidates.
  expect(summary(items)).toEqual([
    'api:1 NONE KEEP:newest',
    'web:10 NONE KEEP:newest',
    'web:9 NONE KEEP:newest',
    'web:1 NONE KEEP:in-use',
    'web:2 DEREGISTER ACT',
  ]);
});

test('INACTIVE revisions are deleted unless something runs them; only with deleteInactive', () => {
  const inactive = [arn('web', 3), arn('web', 4)];
  expect(summary(decideRevisions([], inactive, new Set([arn('web', 4)]), ALL, 100, true))).toEqual(['web:4 NONE KEEP:in-use', 'web:3 DELETE ACT']);
  expect(decideRevisions([], inactive, new Set(), { ...ALL, deleteInactive: false }, 100, true)).toEqual([]);
});

test('without deregisterUnused, old ACTIVE revisions are neither acted on nor listed', () => {
  const items = decideRevisions([arn('web', 1), arn('web', 2), arn('web', 3)], [], new Set(), { ...ALL, deregisterUnused: false }, 100, true);
  expect(summary(items)).toEqual(['web:3 NONE KEEP:newest', 'web:2 NONE KEEP:newest']);
});

test('the cap counts each revision; uncapped (REPORT) takes all; a budget of 0 takes none', () => {
  const active = [arn('web', 1), arn('web', 2), arn('web', 3), arn('web', 4), arn('web', 5)];
  const acts = (budget: number, capped: boolean) => decideRevisions(active, [], new Set(), ALL, budget, capped).filter((i) => i.action !== 'NONE').map((i) => `${i.id} ${i.disposition}`);
  // Oldest first: the lowest revisions take the budget.
  expect(acts(2, true)).toEqual(['web:1 ACT', 'web:2 ACT', 'web:3 CAP']);
  expect(acts(0, true)).toEqual(['web:1 CAP', 'web:2 CAP', 'web:3 CAP']);
  expect(acts(0, false)).toEqual(['web:1 ACT', 'web:2 ACT', 'web:3 ACT']);
});

test('under the cap, ACTIVE revisions to deregister go before INACTIVE ones to delete, whatever their families', () => {
  const active = [arn('web', 1), arn('web', 2), arn('zeta', 1), arn('zeta', 2)];
  const inactive = [arn('api', 1), arn('api', 2)];
  const acts = (budget: number) => decideRevisions(active, inactive, new Set(), { ...ALL, keepNewestRevisions: 1 }, budget, true)
    .filter((i) => i.action !== 'NONE').map((i) => `${i.id} ${i.action} ${i.disposition}`);
  expect(acts(2)).toEqual(['web:1 DEREGISTER ACT', 'zeta:1 DEREGISTER ACT', 'api:1 DELETE CAP', 'api:2 DELETE CAP']);
  expect(acts(3)).toEqual(['web:1 DEREGISTER ACT', 'zeta:1 DEREGISTER ACT', 'api:1 DELETE ACT', 'api:2 DELETE CAP']);
});

test('ARNs that are not task definition revisions are ignored', () => {
  expect(decideRevisions(['garbage', 'arn:aws:ecs:eu-west-1:1:task-definition/x'], ['nope'], new Set(), ALL, 10, true)).toEqual([]);
});
