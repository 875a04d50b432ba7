/**
 * Run AWS's CloudFormation linter, cfn-lint (the `cfn-lint` Python package), on synthesized templates.
 *
 * The version is pinned (CFN_LINT_VERSION; .ci/run installs it): new cfn-lint releases add rules, and a
 * gate that moves with whatever happens to be installed is no gate. A missing or different cfn-lint is
 * an error that says how to install the pinned one, never a skipped check.
 *
 *   expectNoCfnLintFindings(stack)            one stack, one cfn-lint run
 *   cfnLintTemplates({ name: template, ... }) several templates in one run (cfn-lint starts in ~2 s)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

/** The cfn-lint the findings are written against. Keep in step with .ci/run. */
export const CFN_LINT_VERSION = '1.51.0';
export const CFN_LINT_INSTALL_HINT = `python3 -m pip install 'cfn-lint==${CFN_LINT_VERSION}'`;

/** One thing cfn-lint reported. */
export interface CfnLintFinding {
  /** The name the template was given (the stack name for cfnLintStack). */
  readonly template: string;
  /** e.g. W3005 */
  readonly ruleId: string;
  /** Error, Warning or Informational. */
  readonly level: string;
  readonly message: string;
  /** Where in the template, e.g. Resources/CleanerHandler1A2B3C4D/DependsOn/0. */
  readonly path: string;
  /** Line in the written template (pretty-printed JSON). */
  readonly line?: number;
}

interface CfnLintCommand {
  readonly command: string;
  /** Arguments that come before cfn-lint's own (the python -c form). */
  readonly prefix: string[];
  readonly version: string;
}

/** The console script, then the same entry point through python3 (`python3 -m cfnlint` has no __main__ in 1.x). */
const CANDIDATES: ReadonlyArray<Omit<CfnLintCommand, 'version'>> = [
  { command: 'cfn-lint', prefix: [] },
  { command: 'python3', prefix: ['-c', 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())'] },
];

let cached: CfnLintCommand | undefined;

/** The pinned cfn-lint (looked up once per process), or an error that says what was found and how to install the right one. */
export function findCfnLint(): CfnLintCommand {
  return (cached ??= locateCfnLint());
}

/** findCfnLint without the cache, with the environment (PATH) to search. */
export function locateCfnLint(env: NodeJS.ProcessEnv = process.env): CfnLintCommand {
  const seen: string[] = [];
  for (const candidate of CANDIDATES) {
    const probe = spawnSync(candidate.command, [...candidate.prefix, '--version'], { encoding: 'utf8', timeout: 60_000, env });
    const label = candidate.prefix.length ? `${candidate.command} -c 'from cfnlint.runner import main ...'` : candidate.command;
    if (probe.error || probe.status !== 0) {
      seen.push(`${label}: ${probe.error ? probe.error.message : `exit ${probe.status}: ${(probe.stderr || probe.stdout).trim().split('\n').pop()}`}`);
      continue;
    }
    const version = /cfn-lint\s+(\S+)/.exec(probe.stdout + probe.stderr)?.[1] ?? (probe.stdout + probe.stderr).trim();
    if (version !== CFN_LINT_VERSION) {
      seen.push(`${label}: version ${version}`);
      continue;
    }
    return { ...candidate, version };
  }
  throw new Error(`cfn-lint ${CFN_LINT_VERSION} is needed to lint the synthesized templates and was not found `
    + `(tried: ${seen.join('; ')}). Install it with: ${CFN_LINT_INSTALL_HINT} `
    + '(the console script lands in ~/.local/bin or your Python\'s bin directory; either must be on PATH, '
    + 'or python3 must be the interpreter it was installed into).');
}

/**
 * Lint templates (name → template object) in one cfn-lint run and return every finding, in cfn-lint's
 * order. Each template is written, pretty-printed, to `<name>.template.json` in a temporary directory.
 */
export function cfnLintTemplates(templates: Record<string, unknown>): CfnLintFinding[] {
  const names = Object.keys(templates);
  if (names.length === 0) throw new Error('cfnLintTemplates: no templates given');
  const lint = findCfnLint();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfn-lint-'));
  try {
    const fileToName = new Map<string, string>();
    for (const name of names) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new Error(`cfnLintTemplates: template name ${JSON.stringify(name)} is not a plain file name`);
      const file = path.join(dir, `${name}.template.json`);
      fs.writeFileSync(file, `${JSON.stringify(templates[name], undefined, 2)}\n`);
      fileToName.set(path.resolve(file), name);
    }
    const files = [...fileToName.keys()];
    const result = spawnSync(lint.command, [...lint.prefix, '--format', 'json', '--', ...files], {
      encoding: 'utf8',
      timeout: 5 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.error) throw new Error(`cfn-lint could not run: ${result.error.message}`);
    // Exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 (or anything else) is a crash.
    if (result.status === null || result.status % 2 === 1 || result.status > 15) {
      throw new Error(`cfn-lint failed (exit ${result.status ?? result.signal}): ${result.stderr.trim() || result.stdout.trim()}`);
    }
    let raw: any[];
    try {
      raw = JSON.parse(result.stdout.trim() || '[]');
    } catch {
      throw new Error(`cfn-lint printed something other than JSON (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
    }
    if (!Array.isArray(raw)) throw new Error(`cfn-lint's JSON output is not a list: ${result.stdout.slice(0, 500)}`);
    if (raw.length === 0 && result.status !== 0) {
      throw new Error(`cfn-lint exited ${result.status} without reporting a finding: ${result.stderr.trim()}`);
    }
    return raw.map((m) => {
      const file = m.Filename ? path.resolve(String(m.Filename)) : undefined;
      const locationPath: unknown[] | null = m.Location?.Path ?? null;
      return {
        template: (file && fileToName.get(file)) ?? String(m.Filename ?? '(cfn-lint)'),
        ruleId: String(m.Rule?.Id ?? '?'),
        level: String(m.Level ?? '?'),
        message: String(m.Message ?? '').trim(),
        path: locationPath && locationPath.length ? locationPath.join('/') : '(template)',
        line: m.Location?.Start?.LineNumber,
      };
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The stack's template as CloudFormation receives it. Synthesizes the stack's App if it has not been. */
export function stackTemplate(stack: Stack): unknown {
  return Template.fromStack(stack).toJSON();
}

/** Lint one stack's template; the findings are named after the stack. */
export function cfnLintStack(stack: Stack): CfnLintFinding[] {
  return cfnLintTemplates({ [stack.stackName]: stackTemplate(stack) });
}

/** One line per finding: `W3005 Warning Resources/X/DependsOn/0 (line 12): message`. */
export function describeFindings(findings: readonly CfnLintFinding[]): string[] {
  return findings.map((f) => `${f.ruleId} ${f.level} ${f.path}${f.line ? ` (line ${f.line})` : ''}: ${f.message.replace(/\s+/g, ' ')}`);
}

/** Fail (listing rule id, level, path and message of each finding) when cfn-lint reports anything for the stack. */
export function expectNoCfnLintFindings(stack: Stack): void {
  expect(describeFindings(cfnLintStack(stack))).toEqual([]);
}
