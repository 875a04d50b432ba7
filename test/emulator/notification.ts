/*
 * Reading a run's SNS notification back (as delivered to SQS): its resource lines and counts, in
 * the format lambda/shared/report.ts writes.
 */
import type { Notification } from './fleet';

export interface NotificationRow {
  readonly resourceType: string;
  readonly id: string;
  readonly action: string;
  readonly result: string;
  readonly error?: string;
}

/** The resource lines of a notification body, by id; fails on a line it cannot read or an id listed twice. */
export function parseRows(body: string): Map<string, NotificationRow> {
  const rows = new Map<string, NotificationRow>();
  for (const line of body.split('\n').filter((l) => l.startsWith('- '))) {
    const match = /^- (instance|key-pair|security-group) (.+?) {2}.* {2}action=(\S+) {2}result=(\S+)(?: {2}error=(\S+))?/.exec(line);
    if (!match) throw new Error(`unreadable notification line: ${line}`);
    if (rows.has(match[2])) throw new Error(`${match[2]} is listed twice in the notification`);
    rows.set(match[2], { resourceType: match[1], id: match[2], action: match[3], result: match[4], error: match[5] });
  }
  return rows;
}

/** One resource line of a notification body with every column. */
export interface Row {
  readonly resourceType: string;
  readonly id: string;
  readonly details: Record<string, string>;
  readonly action: string;
  readonly result: string;
  readonly error?: string;
  readonly reason: string;
}

/**
 * Every resource line of a notification body, in order, with its detail columns and reason. An id
 * runs to the first double space, so ids with single spaces (a record set's "name TYPE") read whole.
 */
export function parseRowList(body: string): Row[] {
  return body.split('\n').filter((l) => l.startsWith('- ')).map((line) => {
    const match = /^- (\S+) (.+?) {2}(.*?) {2}action=(\S+) {2}result=(\S+)(?: {2}error=(\S+))? {2}\((.*)\)$/.exec(line);
    if (!match) throw new Error(`unreadable notification line: ${line}`);
    const details: Record<string, string> = {};
    for (const part of match[3].split('  ').filter((p) => p.length > 0)) {
      const eq = part.indexOf('=');
      details[part.slice(0, eq)] = part.slice(eq + 1);
    }
    return { resourceType: match[1], id: match[2], details, action: match[4], result: match[5], error: match[6], reason: match[7] };
  });
}

/** The counts block of the body header. */
export function parseCounts(body: string): Record<string, number> {
  const number = (re: RegExp) => {
    const match = re.exec(body);
    if (!match) throw new Error(`no ${re} in the notification body`);
    return Number(match[1]);
  };
  return {
    scanned: number(/Scanned (\d+) resource\(s\)/),
    matched: number(/; (\d+) matched\./),
    actionsTaken: number(/Done: (\d+)/),
    actionsFailed: number(/Failed: (\d+)/),
    wouldAct: number(/Would act \(dry run\): (\d+)/),
    reported: number(/Reported only: (\d+)/),
    skippedProtected: number(/Skipped \(protected\): (\d+)/),
    skippedCap: number(/Skipped \(per-run cap\): (\d+)/),
    kept: number(/Kept \(not due\): (\d+)/),
  };
}

/** The "... and N more resource(s) not listed ..." line of a truncated body, if there is one. */
export function parseTruncation(body: string): { omitted: number; tally: Record<string, number> } | undefined {
  const match = /^\.\.\. and (\d+) more resource\(s\) not listed to stay under the SNS size limit \(([^)]*)\)/m.exec(body);
  if (!match) return undefined;
  const counts: Record<string, number> = {};
  for (const part of match[2].split(', ')) {
    const [count, outcome] = part.split(' ');
    counts[outcome] = Number(count);
  }
  return { omitted: Number(match[1]), tally: counts };
}

/** Exactly one PackerCleaner notification arrived, within SNS's subject and body limits; returns it. */
export function onlyNotification(notifications: Notification[]): Notification {
  expect(notifications).toHaveLength(1);
  const [n] = notifications;
  expect(n.Subject).toBeDefined();
  expect(n.Subject!.length).toBeLessThan(100);
  expect(n.Subject).toContain('PackerCleaner');
  expect(Buffer.byteLength(n.Message, 'utf8')).toBeLessThanOrEqual(250_000);
  return n;
}
