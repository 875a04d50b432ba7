/**
 * What a construct contributes to `npx projen demo`. demo/run.ts starts one moto server and runs every
 * segment in demo/segments/index.ts on it, in order (or only the ones named on the command line);
 * a new construct adds one file there and one line to the registry.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DAY, HOUR, MINUTE } from '../test/emulator/run-bundle';

export const REPO_ROOT = path.resolve(__dirname, '..');

export interface DemoSegment {
  /** The construct's name, e.g. PackerCleaner: what `npx projen demo -- <name>` selects. */
  readonly name: string;
  /** One line: what the segment shows (printed in its header and by `--list`). */
  readonly description: string;
  /**
   * Synthesize an app with the construct, build a fleet on moto, run the construct's shipped handler
   * bundle with the environment the template gives its function, print before/after and the notification.
   *
   * moto is reset before every segment (POST /moto-api/reset), so a segment starts from an empty
   * emulator, may use any region and names, and needs no cleanup. Server-wide settings
   * (POST /moto-api/config, e.g. `stepfunctions.execute_state_machine`) survive a reset: a segment
   * that changes one puts it back before it returns.
   *
   * Throw when the segment cannot go on (the runner reports it and carries on with the next segment);
   * call `ctx.fail()` for a failure worth reporting that still leaves something to show.
   */
  run(ctx: DemoContext): Promise<DemoSegmentResult>;
  /**
   * Print extra lines after the run, under the segment's output (e.g. where the construct's CloudWatch
   * dashboard would be). Called only when run() returned; moto still holds the segment's state.
   */
  afterRun?(ctx: DemoContext, result: DemoSegmentResult): Promise<void> | void;
}

/** What a segment's run hands back to afterRun() and to the closing summary. */
export interface DemoSegmentResult {
  /** The synthesized templates, by stack name (what afterRun can look things up in). */
  readonly templates: Readonly<Record<string, any>>;
  /** One line for the closing summary, e.g. "5 done, 1 skipped (protected), 8 kept". */
  readonly summary: string;
}

export interface DemoContext {
  /** moto's endpoint, e.g. http://127.0.0.1:49152 (shared by every segment, reset before each). */
  readonly endpoint: string;
  /** Where this segment's app writes its cloud assembly: demo/cdk.out/<segment name>. */
  readonly outdir: string;
  /** Print one or more lines of the segment's output. */
  print(text?: string): void;
  /** Print rows as aligned columns under a header line, indented by two spaces. */
  table(headers: readonly string[], rows: readonly (readonly unknown[])[]): void;
  /** Mark the segment failed (the demo exits non-zero), and keep going. */
  fail(reason: string): void;
}

/** The shipped bundle of a handler (assets/<name>/index.js), or an error that says how to build it. */
export function requireBundle(name: string): string {
  const bundle = path.join(REPO_ROOT, 'assets', name, 'index.js');
  if (!fs.existsSync(bundle)) {
    throw new Error(`no handler bundle at ${bundle}: run \`npx projen bundle:handlers\` (npx projen demo does)`);
  }
  return bundle;
}

// ---- formatting helpers shared by the segments --------------------------------------------------


/** Aligned columns under a header line and a rule, each line indented by two spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: readonly unknown[]) => '  ' + cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A duration the way the demo prints ages: `3d 4h`, `5h 0m`, `40m`. */
export function age(ms: number): string {
  if (ms >= DAY) return `${Math.floor(ms / DAY)}d ${Math.floor((ms % DAY) / HOUR)}h`;
  if (ms >= HOUR) return `${Math.floor(ms / HOUR)}h ${Math.floor((ms % HOUR) / MINUTE)}m`;
  return `${Math.floor(ms / MINUTE)}m`;
}

/** Every line indented by four spaces. */
export function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l}`).join('\n');
}

/** "12 resources (CloudWatch::Alarm x2, IAM::Role x2, ...)" for a synthesized template. */
export function describeResources(template: any): string {
  const types = Object.values<any>(template.Resources ?? {}).map((r) => r.Type as string);
  return `${types.length} resources (${[...new Set(types)].sort()
    .map((t) => `${t.replace(/^AWS::/, '')} x${types.filter((x) => x === t).length}`).join(', ')})`;
}

/**
 * Where each CloudWatch dashboard of the synthesized stacks would be once deployed (moto has no
 * dashboards to show), and what its rows hold.
 */
export function printDashboards(ctx: DemoContext, templates: Readonly<Record<string, any>>, region: string): void {
  for (const [stackName, template] of Object.entries(templates)) {
    for (const [logicalId, resource] of Object.entries<any>(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::CloudWatch::Dashboard') continue;
      const name = resource.Properties?.DashboardName ?? `<the name CloudFormation gives ${stackName}/${logicalId}>`;
      const body = resource.Properties?.DashboardBody;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const titles = [...text.matchAll(/\\"title\\":\\"([^"\\]+)\\"|"title":"([^"\\]+)"/g)].map((m) => m[1] ?? m[2]);
      ctx.print(`\nDashboard ${name} (stack ${stackName}), once deployed:`);
      ctx.print(`  https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${name}`);
      for (const title of titles) ctx.print(`  - ${title}`);
    }
  }
}
