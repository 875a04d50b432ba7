import {
  byteLength,
  countEntries,
  notificationBody,
  notificationSubject,
  Outcome,
  OVERVIEW_LINE_MAX,
  OVERVIEW_LINES_MAX,
  ReportEntry,
  RunCounts,
  RunSummary,
  runStatus,
  SNS_BODY_MAX_BYTES,
  SNS_SUBJECT_MAX,
  truncateText,
} from '../../../lambda/shared/report';

const OUTCOMES: Outcome[] = ['DONE', 'FAILED', 'DRY_RUN', 'REPORTED', 'SKIPPED_PROTECTED', 'SKIPPED_CAP', 'KEPT'];

function entry(id: string, outcome: Outcome, extra: Partial<ReportEntry> = {}): ReportEntry {
  return {
    resourceType: 'instance',
    id,
    action: outcome === 'KEPT' ? 'NONE' : 'TERMINATE',
    reason: 'running for 3h 00m, over maxAge 2h 00m',
    outcome,
    errorCode: outcome === 'FAILED' ? 'OperationNotPermitted' : undefined,
    details: [['name', `Packer Builder ${id}`], ['key', `packer_${id}`], ['state', 'running']],
    ...extra,
  };
}

interface SummaryOptions {
  readonly dryRun?: boolean;
  readonly error?: string;
  readonly construct?: string;
  readonly counts?: Partial<RunCounts>;
}

function summary(entries: ReportEntry[], opts: SummaryOptions = {}): RunSummary {
  const counts = { ...countEntries(entries, entries.length + 5), ...opts.counts };
  return {
    construct: opts.construct ?? 'PackerCleaner',
    status: runStatus(counts, opts.error),
    dryRun: opts.dryRun ?? false,
    startedAt: '2025-06-01T12:00:00.000Z',
    counts,
    error: opts.error,
    entries,
  };
}

const hugeCounts: RunCounts = {
  scanned: 9_999_999_999,
  matched: 9_999_999_999,
  actionsTaken: 9_999_999_999,
  actionsFailed: 9_999_999_999,
  wouldAct: 9_999_999_999,
  reported: 9_999_999_999,
  skippedProtected: 9_999_999_999,
  skippedCap: 9_999_999_999,
  kept: 9_999_999_999,
};

describe('countEntries / runStatus', () => {
  test('counts each outcome and the scanned total', () => {
    const entries = OUTCOMES.flatMap((o, i) => Array.from({ length: i + 1 }, (_, n) => entry(`i-${o}-${n}`, o)));
    expect(countEntries(entries, 100)).toEqual({
      scanned: 100, matched: 28, actionsTaken: 1, actionsFailed: 2, wouldAct: 3, reported: 4, skippedProtected: 5, skippedCap: 6, kept: 7,
    });
  });

  test('FAILED when the run stopped, PARTIAL_FAILURE when an action failed, else SUCCEEDED', () => {
    const ok = countEntries([entry('i-1', 'DONE')], 1);
    const partial = countEntries([entry('i-1', 'DONE'), entry('i-2', 'FAILED')], 2);
    expect(runStatus(ok)).toBe('SUCCEEDED');
    expect(runStatus(partial)).toBe('PARTIAL_FAILURE');
    expect(runStatus(ok, 'UnauthorizedOperation')).toBe('FAILED');
    expect(runStatus(partial, 'boom')).toBe('FAILED');
  });
});

describe('notificationSubject', () => {
  test('summarises the outcome counts', () => {
    const s = summary([entry('i-1', 'DONE'), entry('i-2', 'DONE'), entry('i-3', 'FAILED'), entry('i-4', 'REPORTED'),
      entry('i-5', 'SKIPPED_PROTECTED'), entry('i-6', 'SKIPPED_CAP'), entry('i-7', 'KEPT')]);
    expect(notificationSubject(s)).toBe('[fleet-janitor] PackerCleaner: 2 done, 1 failed, 1 reported, 2 skipped');
  });

  test('a dry run says so and counts what would be done', () => {
    const subject = notificationSubject(summary([entry('i-1', 'DRY_RUN'), entry('i-2', 'DRY_RUN')], { dryRun: true }));
    expect(subject).toBe('[fleet-janitor] PackerCleaner (dry run): 2 would act');
  });

  test('a failed run says so first', () => {
    expect(notificationSubject(summary([], { error: 'UnauthorizedOperation' }))).toBe('[fleet-janitor] PackerCleaner: RUN FAILED, 0 done');
  });

  test.each([
    ['huge counts', summary([], { error: 'x', counts: hugeCounts })],
    ['huge counts, dry run', summary([], { dryRun: true, counts: hugeCounts })],
    ['a long construct name', summary([], { construct: 'PackerCleaner'.repeat(40), counts: hugeCounts })],
    ['a long construct name, dry run', summary([], { construct: 'x'.repeat(500), dryRun: true })],
  ])('stays under 100 characters with %s', (_label, s) => {
    const subject = notificationSubject(s);
    expect(subject.length).toBeLessThan(100);
    expect(subject.length).toBeLessThanOrEqual(SNS_SUBJECT_MAX);
    expect(subject.startsWith('[fleet-janitor] ')).toBe(true);
    expect(subject).not.toMatch(/[\r\n]/);
  });

  test('a truncated subject ends with an ellipsis', () => {
    const subject = notificationSubject(summary([], { construct: 'x'.repeat(500) }));
    expect(subject).toHaveLength(SNS_SUBJECT_MAX);
    expect(subject.endsWith('...')).toBe(true);
  });
});

describe('notificationBody', () => {
  test('lists every entry with its details, action, result and error code', () => {
    const body = notificationBody(summary([entry('i-0aaa', 'DONE'), entry('i-0bbb', 'FAILED')]));
    expect(body).toContain('PackerCleaner run started 2025-06-01T12:00:00.000Z: PARTIAL_FAILURE');
    expect(body).toContain('Live run: actions below were carried out.');
    expect(body).toContain('- instance i-0aaa  name=Packer Builder i-0aaa  key=packer_i-0aaa  state=running  action=TERMINATE  result=DONE  (');
    expect(body).toContain('- instance i-0bbb');
    expect(body).toMatch(/i-0bbb .*result=FAILED {2}error=OperationNotPermitted/);
    expect(body).toContain('Done: 1  Failed: 1');
    expect(body).not.toContain('more resource(s) not listed');
  });

  test('one resource, one line: line breaks in a reason, an id, a detail or an error code become single spaces', () => {
    const body = notificationBody(summary([entry('i-0aaa', 'FAILED', {
      reason: 'Deserialization error: to see the raw response,\n  inspect the hidden field {error}.$response\r\non this object.',
      errorCode: 'Unknown\nError',
      details: [['zone', 'Z1\nZ2']],
    })]));
    const rows = body.split('\n').filter((line) => line.startsWith('- '));
    expect(rows).toEqual(['- instance i-0aaa  zone=Z1 Z2  action=TERMINATE  result=FAILED  error=Unknown Error  '
      + '(Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.)']);
    expect(body).not.toContain('\n  inspect');
  });

  test('dry-run wording', () => {
    const body = notificationBody(summary([entry('i-1', 'DRY_RUN')], { dryRun: true }));
    expect(body).toContain('DRY RUN: nothing was changed');
    expect(body).not.toContain('Live run');
    expect(body).toContain('Would act (dry run): 1');
    expect(body).toMatch(/i-1 .*result=DRY_RUN/);
  });

  test('a run that stopped early carries the error', () => {
    const body = notificationBody(summary([entry('i-1', 'DONE')], { error: 'UnauthorizedOperation: not allowed' }));
    expect(body).toContain(': FAILED');
    expect(body).toContain('The run stopped early: UnauthorizedOperation: not allowed');
    expect(body).toContain('- instance i-1');
  });

  test('a huge error message cannot push the body over the limit', () => {
    const entries = Array.from({ length: 3_000 }, (_, n) => entry(`i-${n}`, 'DONE'));
    const body = notificationBody(summary(entries, { error: `boom ${'x'.repeat(400_000)}` }));
    expect(byteLength(body)).toBeLessThanOrEqual(SNS_BODY_MAX_BYTES);
    expect(body).toContain('The run stopped early: boom xxx');
    expect(body).toContain('- instance i-0 ');
  });

  test('the whole body of a small run, line by line', () => {
    const s = summary([entry('i-1', 'DONE'), entry('i-2', 'KEPT')]);
    expect(notificationBody(s)).toBe([
      'PackerCleaner run started 2025-06-01T12:00:00.000Z: SUCCEEDED',
      'Live run: actions below were carried out.',
      '',
      'Scanned 7 resource(s); 2 matched.',
      'Done: 1  Failed: 0  Would act (dry run): 0  Reported only: 0',
      'Skipped (protected): 0  Skipped (per-run cap): 0  Kept (not due): 1',
      'Resources:',
      '- instance i-1  name=Packer Builder i-1  key=packer_i-1  state=running  action=TERMINATE  result=DONE  (running for 3h 00m, over maxAge 2h 00m)',
      '- instance i-2  name=Packer Builder i-2  key=packer_i-2  state=running  action=NONE  result=KEPT  (running for 3h 00m, over maxAge 2h 00m)',
      '',
    ].join('\n'));
  });

  test('the error text is capped at 1,000 characters', () => {
    const body = notificationBody(summary([entry('i-1', 'DONE')], { error: `boom ${'x'.repeat(5_000)}` }));
    const line = body.split('\n').find((l) => l.startsWith('The run stopped early: '))!;
    expect(line).toBe(`The run stopped early: boom ${'x'.repeat(1_000 - 'boom '.length - 3)}...`);
  });

  test('every outcome is listed by urgency, input order within an outcome', () => {
    const order: Outcome[] = ['KEPT', 'DONE', 'SKIPPED_CAP', 'FAILED', 'REPORTED', 'KEPT', 'DRY_RUN', 'SKIPPED_PROTECTED', 'DONE', 'FAILED'];
    const entries = order.map((outcome, n) => entry(`i-${n}`, outcome));
    const listed = notificationBody(summary(entries)).split('\n').filter((l) => l.startsWith('- instance ')).map((l) => l.split(' ')[2]);
    expect(listed).toEqual(['i-3', 'i-9', 'i-1', 'i-8', 'i-6', 'i-4', 'i-7', 'i-2', 'i-0', 'i-5']);
  });

  test('one row over the limit: that row is left out and the truncation line says so', () => {
    // Rows longer than the truncation line, so that one byte too few leaves out exactly one row.
    const entries = Array.from({ length: 20 }, (_, n) => entry(`i-${n}`, 'DONE', { reason: 'r'.repeat(400) }));
    const full = notificationBody(summary(entries));
    expect(full).not.toContain('more resource(s)');
    const cut = notificationBody(summary(entries), byteLength(full) - 1);
    expect(cut.split('\n').filter((l) => l.startsWith('- instance '))).toHaveLength(19);
    expect(cut).toContain('... and 1 more resource(s) not listed to stay under the SNS size limit (1 DONE)');
    expect(notificationBody(summary(entries), byteLength(full))).toBe(full);
  });

  test('a row that ends exactly at the byte budget is listed; one byte less and it is not', () => {
    const entries = Array.from({ length: 12 }, (_, n) => entry(`i-${n}`, 'DONE', { reason: 'r'.repeat(300 + n) }));
    const whole = notificationBody(summary(entries));
    const prefix = whole.slice(0, whole.indexOf('- instance '));
    const rows = whole.slice(prefix.length).split('\n').filter((l) => l.startsWith('- instance '));
    // With no room for a row, the body is the prefix and the truncation line for every entry: the reserve.
    const reserve = byteLength(notificationBody(summary(entries), byteLength(prefix) + 1)) - byteLength(prefix);
    const upTo = (k: number) => byteLength(prefix) + rows.slice(0, k).reduce((n, row) => n + byteLength(row) + 1, 0) + reserve;
    const listed = (maxBytes: number) => notificationBody(summary(entries), maxBytes).split('\n').filter((l) => l.startsWith('- instance ')).length;
    expect(listed(upTo(7))).toBe(7);
    expect(listed(upTo(7) - 1)).toBe(6);
  });

  test('nothing matched', () => {
    expect(notificationBody(summary([]))).toContain('No matching resources.');
  });

  test('50,000 entries fit under 250,000 bytes with a truncation line carrying the counts', () => {
    const entries = Array.from({ length: 50_000 }, (_, n) => entry(`i-${n.toString(16).padStart(17, '0')}`, OUTCOMES[n % OUTCOMES.length]));
    const body = notificationBody(summary(entries));
    expect(byteLength(body)).toBeLessThan(SNS_BODY_MAX_BYTES);
    expect(byteLength(body)).toBeLessThan(262_144);

    const listed = body.split('\n').filter((l) => l.startsWith('- instance '));
    expect(listed.length).toBeGreaterThan(100);
    expect(listed.length).toBeLessThan(50_000);
    // listed by urgency (failures, then changes, ..., kept last), input order within an outcome
    const urgency = ['FAILED', 'DONE', 'DRY_RUN', 'REPORTED', 'SKIPPED_PROTECTED', 'SKIPPED_CAP', 'KEPT'];
    const byUrgency = urgency.flatMap((o) => entries.filter((e) => e.outcome === o));
    expect(listed.map((l) => l.split(' ')[2])).toEqual(byUrgency.slice(0, listed.length).map((e) => e.id));
    expect(listed[0]).toContain('result=FAILED');

    const match = /\.\.\. and (\d+) more resource\(s\) not listed to stay under the SNS size limit \(([^)]*)\)/.exec(body);
    expect(match).not.toBeNull();
    const omitted = Number(match![1]);
    expect(omitted + listed.length).toBe(50_000);
    const tally = Object.fromEntries(match![2].split(', ').map((part) => {
      const [n, outcome] = part.split(' ');
      return [outcome, Number(n)];
    }));
    const expected: Record<string, number> = {};
    for (const e of byUrgency.slice(listed.length)) expected[e.outcome] = (expected[e.outcome] ?? 0) + 1;
    expect(tally).toEqual(expected);
    // the header totals still cover everything
    expect(body).toContain('Scanned 50005 resource(s); 50000 matched.');
  });

  test('byte budget counts multi-byte characters', () => {
    const entries = Array.from({ length: 5_000 }, (_, n) => entry(`i-${n}`, 'KEPT', { details: [['name', '构建机器🚀'.repeat(10)]] }));
    const body = notificationBody(summary(entries), 20_000);
    expect(byteLength(body)).toBeLessThanOrEqual(20_000);
    expect(body.length).toBeLessThan(20_000);
    expect(body).toContain('more resource(s) not listed');
  });

  test.each([1_000, 1_500, 2_000, 3_333, 10_000])('never exceeds maxBytes=%d, even with every outcome in the omitted tail', (maxBytes) => {
    // long rows so the last listed row ends close to the budget, then a tail with every outcome and large counts
    const entries = Array.from({ length: 70_000 }, (_, n) => entry(`i-${n}`, OUTCOMES[n % OUTCOMES.length], {
      reason: 'r'.repeat(n % 97),
    }));
    const body = notificationBody(summary(entries), maxBytes);
    expect(byteLength(body)).toBeLessThanOrEqual(maxBytes);
    expect(body).toMatch(/\.\.\. and \d+ more resource\(s\)/);
    for (const outcome of OUTCOMES) expect(body).toContain(` ${outcome}`);
  });
});

describe('notificationBody: the construct\'s overview', () => {
  test('shown between the counts and the resources, in order, followed by a blank line', () => {
    const body = notificationBody({ ...summary([entry('i-1', 'DONE')]), overview: ['Violations by rule:', '  Env: 1 instance(s): i-1'] });
    const lines = body.split('\n');
    const at = lines.indexOf('Violations by rule:');
    expect(lines[at - 2]).toMatch(/^Skipped \(protected\): /);
    expect(lines.slice(at - 1, at + 4)).toEqual(['', 'Violations by rule:', '  Env: 1 instance(s): i-1', '', 'Resources:']);
  });

  test('absent or empty: the body is what it was without one', () => {
    const plain = notificationBody(summary([entry('i-1', 'DONE')]));
    expect(notificationBody({ ...summary([entry('i-1', 'DONE')]), overview: [] })).toBe(plain);
    expect(plain).toMatch(/Kept \(not due\): 0\nResources:/);
  });

  test('each line cut at OVERVIEW_LINE_MAX characters, at most OVERVIEW_LINES_MAX lines', () => {
    const long = 'x'.repeat(OVERVIEW_LINE_MAX + 50);
    const overview = [long, ...Array.from({ length: OVERVIEW_LINES_MAX + 10 }, (_, i) => `line ${i}`)];
    const body = notificationBody({ ...summary([]), overview });
    expect(body).toContain(`${'x'.repeat(OVERVIEW_LINE_MAX - 3)}...\n`);
    expect(body).not.toContain('x'.repeat(OVERVIEW_LINE_MAX - 2));
    expect(body).toContain(`line ${OVERVIEW_LINES_MAX - 2}\n`);
    expect(body).not.toContain(`line ${OVERVIEW_LINES_MAX - 1}\n`);
  });
});

describe('truncateText', () => {
  test('keeps short text and cuts long text to exactly max with an ellipsis', () => {
    expect(truncateText('abc', 3)).toBe('abc');
    expect(truncateText('abcdef', 5)).toBe('ab...');
    expect(truncateText('abcdef', 5)).toHaveLength(5);
  });
});
