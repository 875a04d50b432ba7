/*
 * The report of one run: what was seen, decided and done. It renders the SNS notification (subject
 * under 100 characters, body under SNS's 256 KB limit, truncated with counts) and the run summary
 * the handler returns.
 */
export type Outcome =
  | 'DONE' // the action was carried out
  | 'FAILED' // the action was attempted and AWS refused it
  | 'DRY_RUN' // the action would have been carried out
  | 'REPORTED' // report-only decision: nothing to do by configuration
  | 'SKIPPED_PROTECTED'
  | 'SKIPPED_CAP'
  | 'KEPT'; // matched, but not due for any action

export interface ReportEntry {
  /** Resource type shown in the report, e.g. "instance", "key-pair". */
  readonly resourceType: string;
  readonly id: string;
  /** The planned action, e.g. "TERMINATE", "STOP", "DELETE", "NONE". */
  readonly action: string;
  readonly reason: string;
  readonly outcome: Outcome;
  readonly errorCode?: string;
  /** Extra columns for the notification, in display order. */
  readonly details: ReadonlyArray<readonly [string, string]>;
}

export type RunStatus = 'SUCCEEDED' | 'PARTIAL_FAILURE' | 'FAILED';

export interface RunCounts {
  scanned: number;
  matched: number;
  actionsTaken: number;
  actionsFailed: number;
  wouldAct: number;
  reported: number;
  skippedProtected: number;
  skippedCap: number;
  kept: number;
}

export interface RunSummary {
  readonly construct: string;
  readonly status: RunStatus;
  readonly dryRun: boolean;
  readonly startedAt: string;
  readonly counts: RunCounts;
  readonly error?: string;
  /**
   * The construct's own summary of the run, shown under the counts (e.g. violations by rule, what is
   * due next). A few short lines: each is cut at OVERVIEW_LINE_MAX characters.
   */
  readonly overview?: readonly string[];
  readonly entries: ReportEntry[];
}

export const SNS_SUBJECT_MAX = 99;
// SNS allows 262,144 bytes; leave room for the envelope SNS adds to email/SQS deliveries.
export const SNS_BODY_MAX_BYTES = 250_000;
// An error message is not ours to bound; cut it so the header always leaves room for the report.
const ERROR_TEXT_MAX = 1_000;
/** Overview lines are cut at this length, and at most OVERVIEW_LINES_MAX are shown, so the header stays small. */
export const OVERVIEW_LINE_MAX = 1_000;
export const OVERVIEW_LINES_MAX = 50;

export function countEntries(entries: readonly ReportEntry[], scanned: number): RunCounts {
  const counts: RunCounts = {
    scanned, matched: entries.length, actionsTaken: 0, actionsFailed: 0, wouldAct: 0, reported: 0, skippedProtected: 0, skippedCap: 0, kept: 0,
  };
  for (const e of entries) {
    if (e.outcome === 'DONE') counts.actionsTaken++;
    else if (e.outcome === 'FAILED') counts.actionsFailed++;
    else if (e.outcome === 'DRY_RUN') counts.wouldAct++;
    else if (e.outcome === 'REPORTED') counts.reported++;
    else if (e.outcome === 'SKIPPED_PROTECTED') counts.skippedProtected++;
    else if (e.outcome === 'SKIPPED_CAP') counts.skippedCap++;
    else counts.kept++;
  }
  return counts;
}

export function runStatus(counts: RunCounts, error?: string): RunStatus {
  if (error) return 'FAILED';
  return counts.actionsFailed > 0 ? 'PARTIAL_FAILURE' : 'SUCCEEDED';
}

export function notificationSubject(summary: RunSummary): string {
  const c = summary.counts;
  const parts: string[] = [];
  if (summary.status === 'FAILED') parts.push('RUN FAILED');
  if (summary.dryRun) parts.push(`${c.wouldAct} would act`);
  else parts.push(`${c.actionsTaken} done`);
  if (c.actionsFailed) parts.push(`${c.actionsFailed} failed`);
  if (c.reported) parts.push(`${c.reported} reported`);
  if (c.skippedProtected + c.skippedCap) parts.push(`${c.skippedProtected + c.skippedCap} skipped`);
  const subject = `[fleet-janitor] ${summary.construct}${summary.dryRun ? ' (dry run)' : ''}: ${parts.join(', ')}`;
  return truncateText(subject, SNS_SUBJECT_MAX);
}

export function notificationBody(summary: RunSummary, maxBytes = SNS_BODY_MAX_BYTES): string {
  const c = summary.counts;
  const header = [
    `${summary.construct} run started ${summary.startedAt}: ${summary.status}`,
    summary.dryRun ? 'DRY RUN: nothing was changed; "DRY_RUN" marks what a real run would have done.' : 'Live run: actions below were carried out.',
    ...(summary.error ? [`The run stopped early: ${truncateText(summary.error, ERROR_TEXT_MAX)}`] : []),
    '',
    `Scanned ${c.scanned} resource(s); ${c.matched} matched.`,
    `Done: ${c.actionsTaken}  Failed: ${c.actionsFailed}  Would act (dry run): ${c.wouldAct}  Reported only: ${c.reported}`,
    `Skipped (protected): ${c.skippedProtected}  Skipped (per-run cap): ${c.skippedCap}  Kept (not due): ${c.kept}`,
    '',
    ...(summary.overview?.length ? [...summary.overview.slice(0, OVERVIEW_LINES_MAX).map((line) => truncateText(line, OVERVIEW_LINE_MAX)), '', ''] : []),
  ].join('\n');
  // What needs a human first: failures, then changes, then what was left alone. If the body has to
  // be truncated, the kept resources go first.
  const entries = [...summary.entries].sort((a, b) => OUTCOME_ORDER[a.outcome] - OUTCOME_ORDER[b.outcome]);
  const rows = entries.map(renderEntry);
  let body = header + (rows.length ? 'Resources:\n' : 'No matching resources.\n');
  const whole = body + rows.map((row) => `${row}\n`).join('');
  if (byteLength(whole) <= maxBytes) return whole;
  // Room for the truncation line. Its length depends on the tally of what is left out; the tally of
  // every entry is never shorter (same outcomes, counts at least as large), so reserve that.
  const budget = maxBytes - byteLength(truncationLine(summary.entries));
  let shown = 0;
  let size = byteLength(body);
  for (const row of rows) {
    const rowSize = byteLength(row) + 1;
    if (size + rowSize > budget) break;
    body += row + '\n';
    size += rowSize;
    shown++;
  }
  // The whole body did not fit, so at least one row is left out.
  return body + truncationLine(entries.slice(shown));
}

const OUTCOME_ORDER: Record<Outcome, number> = {
  FAILED: 0, DONE: 1, DRY_RUN: 2, REPORTED: 3, SKIPPED_PROTECTED: 4, SKIPPED_CAP: 5, KEPT: 6,
};

function truncationLine(rest: readonly ReportEntry[]): string {
  const tally = new Map<string, number>();
  for (const e of rest) tally.set(e.outcome, (tally.get(e.outcome) ?? 0) + 1);
  const detail = [...tally.entries()].map(([k, n]) => `${n} ${k}`).join(', ');
  return `... and ${rest.length} more resource(s) not listed to stay under the SNS size limit (${detail}); every one is in the function's JSON logs.\n`;
}

function renderEntry(e: ReportEntry): string {
  const details = e.details.map(([k, v]) => `${k}=${oneLine(v)}`).join('  ');
  const error = e.errorCode ? `  error=${oneLine(e.errorCode)}` : '';
  return `- ${e.resourceType} ${oneLine(e.id)}  ${details}  action=${e.action}  result=${e.outcome}${error}  (${oneLine(e.reason)})`;
}

/** One resource, one line: an error message (an SDK that could not parse a response) may hold line breaks. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export function truncateText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}
