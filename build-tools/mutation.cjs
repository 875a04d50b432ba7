#!/usr/bin/env node
/*
 * `npx projen mutation [-- [--force] [--tests=<test glob> ...] <glob> ...]`: StrykerJS over the handler and construct code with the
 * jest tests that run in-process (unit, handler, construct; the emulator tests run the bundle in
 * another process, where Stryker's mutants are not). Prints the score per file and writes
 * docs/MUTATION.md from Stryker's JSON report, keeping the "Equivalent mutants" section that
 * a maintainer writes by hand. A command that prints numbers, never part of CI.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const ROOT = path.resolve(__dirname, '..');
const reportFile = (pass) => path.join(ROOT, 'reports', 'mutation', `${pass.name}.json`);
/*
 * Each pass's latest result for every file it has mutated, kept in the repository: a run re-tests
 * only the mutants whose code or covering tests changed since (Stryker's incremental mode), and a
 * run over one folder updates that folder's files and keeps the others'. A full run from nothing
 * takes hours on two cores.
 */
const STORE = path.join(ROOT, 'docs', 'mutation');
// Gzipped: the report holds the source of every file and test, about 2 MB of JSON per pass.
const storeFile = (pass) => path.join(STORE, `${pass.name}.incremental.json.gz`);
const RUNS = path.join(STORE, 'runs.json');
const DOC = path.join(ROOT, 'docs', 'MUTATION.md');
const EQUIVALENT_HEADING = '## Equivalent mutants';

/**
 * Two passes, each with the tests that exercise its code in the jest process: handler code with
 * the handler tests, construct code with the construct tests. (A static mutant, in module-level
 * code, runs every test of its pass: the split halves what those cost.)
 */
const PASSES = [
  { name: 'lambda', mutate: ['lambda/**/*.ts'], testMatch: ['<rootDir>/test/lambda/**/*.test.ts', '<rootDir>/test/contracts/**/*.test.ts'] },
  {
    name: 'src',
    mutate: ['src/**/*.ts', '!src/**/index.ts', '!src/index.ts'],
    testMatch: ['<rootDir>/test/constructs/**/*.test.ts', '<rootDir>/test/common/**/*.test.ts', '<rootDir>/test/contracts/**/*.test.ts'],
  },
];

function strykerOptions(pass, mutate) {
  const jestConfig = { ...require(path.join(ROOT, 'package.json')).jest };
  // Coverage, JUnit files and the cfn-lint test (a subprocess over synthesized templates) add time and kill nothing.
  delete jestConfig.collectCoverage;
  delete jestConfig.reporters;
  return {
    mutate,
    testRunner: 'jest',
    jest: {
      projectType: 'custom',
      // The fuzz tests feed hundreds of malformed events through every parser: each mutant of a parser would run all
      // of them, for kills the parsers' own tests make. cfn-lint runs a Python process per synth.
      config: {
        ...jestConfig,
        testMatch: pass.testMatch,
        testPathIgnorePatterns: [...jestConfig.testPathIgnorePatterns, '/test/constructs/cfn-lint.test.ts', '/test/lambda/[^/]+/fuzz.test.ts'],
      },
      enableFindRelatedTests: false,
    },
    coverageAnalysis: 'perTest',
    concurrency: Math.max(1, os.cpus().length),
    // A mutant that loops (retry counters, pagination) times out: it counts as killed, so fail it fast.
    timeoutMS: 10_000,
    // A re-run after new tests re-tests only the mutants whose code or covering tests changed.
    incremental: true,
    incrementalFile: path.relative(ROOT, path.join(ROOT, 'reports', 'mutation', `${pass.name}.incremental.json`)),
    plugins: ['@stryker-mutator/*', path.join(__dirname, 'mutation-survivor-log.mjs')],
    reporters: ['clear-text', 'progress', 'json', 'survivor-log'],
    jsonReporter: { fileName: path.relative(ROOT, reportFile(pass)) },
    clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
    // The sandbox is a copy of the project: leave out what the tests never read.
    ignorePatterns: ['.venv-moto', 'cdk.out', 'demo/cdk.out', 'dist', 'test/consumers', 'coverage', 'test-reports', 'reports', '.goproxy', 'lib', '.jsii', 'tsconfig.tsbuildinfo', 'test/*.snapshot'],
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
    thresholds: { high: 90, low: 85, break: null },
  };
}

async function main() {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  if (args.includes('--report-only')) {
    // Re-renders docs/MUTATION.md from the stored results, e.g. after the equivalent mutants were written up.
    const runs = readRuns();
    const last = runs.runs.at(-1) ?? { mutate: [], minutes: 0 };
    writeDoc(last.mutate, last.minutes, runs);
    return;
  }
  // --force re-tests every selected mutant: Stryker's incremental mode reuses a static mutant's result (module-level
  // code, covered by every test) even after tests that now kill it were added.
  const force = args.includes('--force');
  // --tests=<glob> (repeatable) runs only those test files, e.g. one construct's own tests for its files: a static mutant
  // (module-level code, loaded by every test that imports the package index) otherwise runs every test of the pass.
  // A survivor of such a run may still be killed by a test left out; a kill is a kill.
  const tests = args.filter((a) => a.startsWith('--tests=')).map((a) => `<rootDir>/${a.slice('--tests='.length)}`);
  const globs = args.filter((a) => a !== '--force' && !a.startsWith('--tests='));
  const { Stryker } = await import('@stryker-mutator/core');
  const started = Date.now();
  const mutated = [];
  fs.rmSync(path.join(ROOT, 'reports', 'mutation', 'survivors.log'), { force: true });
  let runs;
  for (const pass of PASSES) {
    // A glob given on the command line runs in the pass whose folder it names.
    const mutate = globs.length === 0 ? pass.mutate : globs.filter((g) => g.replace(/^!/, '').startsWith(`${pass.name}/`));
    if (mutate.length === 0) continue;
    const testMatch = tests.length > 0 ? tests : pass.testMatch;
    console.log(`\n== mutation pass ${pass.name}: ${mutate.join(' ')} with ${testMatch.join(' ')}`);
    const passStarted = Date.now();
    const options = { ...strykerOptions({ ...pass, testMatch }, mutate), force };
    const stored = readJson(storeFile(pass));
    if (stored) {
      fs.mkdirSync(path.dirname(options.incrementalFile), { recursive: true });
      fs.writeFileSync(path.join(ROOT, options.incrementalFile), JSON.stringify(stored));
    }
    await new Stryker(options).runMutationTest();
    const report = JSON.parse(fs.readFileSync(reportFile(pass), 'utf8'));
    const merged = mergeResults(stored, readJson(path.join(ROOT, options.incrementalFile)));
    fs.mkdirSync(STORE, { recursive: true });
    fs.writeFileSync(storeFile(pass), zlib.gzipSync(JSON.stringify(merged), { level: 9 }));
    const date = isoNow();
    // Read just before the write: a run over another folder may have finished in the meantime.
    runs = readRuns();
    // The report holds every file of the pass's incremental store, re-tested or not: date and count this run's files only.
    const measured = Object.entries(report.files).filter(([file]) => inMutateSet(file, mutate));
    for (const [file] of measured) runs.measured[file] = date;
    runs.runs.push({ date, pass: pass.name, mutate, ...(tests.length > 0 ? { tests: testMatch } : {}), minutes: round1((Date.now() - passStarted) / 60_000), mutants: measured.reduce((n, [, f]) => n + f.mutants.length, 0) });
    mutated.push(...mutate);
    fs.writeFileSync(RUNS, JSON.stringify(runs, null, 1) + '\n');
  }
  if (mutated.length === 0) throw new Error(`no pass mutates ${globs.join(' ')}: give globs under ${PASSES.map((p) => `${p.name}/`).join(' or ')}`);
  writeDoc(mutated, (Date.now() - started) / 60_000, runs);
}

const readRuns = () => (fs.existsSync(RUNS) ? JSON.parse(fs.readFileSync(RUNS, 'utf8')) : { runs: [], measured: {} });

function writeDoc(mutated, minutes, runs) {
  const files = {};
  for (const pass of PASSES) Object.assign(files, readJson(storeFile(pass))?.files ?? {});
  fs.mkdirSync(path.dirname(DOC), { recursive: true });
  fs.writeFileSync(DOC, renderDoc({ files }, mutated, minutes, runs));
  console.log(`\nWrote ${path.relative(ROOT, DOC)} (${minutes.toFixed(1)} min).`);
}

function readJson(file) {
  if (!fs.existsSync(file)) return undefined;
  const bytes = fs.readFileSync(file);
  return JSON.parse((file.endsWith('.gz') ? zlib.gunzipSync(bytes) : bytes).toString('utf8'));
}

/** Whether Stryker's `mutate` globs select `file`: one positive glob matches and no `!` glob does. */
function inMutateSet(file, globs) {
  const matches = (glob) => path.matchesGlob(file, glob);
  return globs.some((g) => !g.startsWith('!') && matches(g)) && !globs.some((g) => g.startsWith('!') && matches(g.slice(1)));
}

const isoNow = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const round1 = (n) => Math.round(n * 10) / 10;

/** The files this run mutated, from its report; the others as they were, unless they are gone from the tree. */
function mergeResults(stored, latest) {
  const keep = Object.fromEntries(Object.entries(stored?.files ?? {}).filter(([file]) => fs.existsSync(path.join(ROOT, file))));
  return { ...latest, files: { ...keep, ...latest.files }, testFiles: { ...(stored?.testFiles ?? {}), ...(latest.testFiles ?? {}) } };
}

const KILLED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);

function scoreOf(mutants) {
  const counted = mutants.filter((m) => COUNTED.has(m.status));
  const killed = counted.filter((m) => KILLED.has(m.status)).length;
  return { killed, counted: counted.length, survived: counted.length - killed, score: counted.length === 0 ? 100 : (100 * killed) / counted.length };
}

function renderDoc(report, mutate, minutes, runs) {
  const files = Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b));
  const all = files.flatMap(([, f]) => f.mutants);
  const total = scoreOf(all);
  const previous = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '';
  const equivalent = previous.includes(EQUIVALENT_HEADING)
    ? previous.slice(previous.indexOf(EQUIVALENT_HEADING))
    : `${EQUIVALENT_HEADING}\n\nNone listed yet: each survivor below is either to be killed by a test or listed here with the reason it cannot be.\n`;
  const out = [
    '# Mutation testing',
    '',
    'Generated by `npx projen mutation` (`build-tools/mutation.cjs`, StrykerJS with the jest runner over the unit, handler and construct tests);',
    'the survivors are listed from its JSON report. Only the section "Equivalent mutants" is written by hand and kept across runs.',
    '',
    `- Date: ${isoNow()}`,
    `- Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; Node.js ${process.version}`,
    `- Last run mutated: ${mutate.map((m) => `\`${m}\``).join(', ')} (${minutes.toFixed(1)} min); the other files' results are from the run dated in their row`,
    `- **Score: ${total.score.toFixed(2)}%** (${total.killed} killed or timed out of ${total.counted}; ${total.survived} survived or not covered)`,
    '',
    '## Score per file',
    '',
    '| file | score | killed | survived | no coverage | measured |',
    '|---|---:|---:|---:|---:|---|',
    ...files.map(([name, f]) => {
      const s = scoreOf(f.mutants);
      const noCoverage = f.mutants.filter((m) => m.status === 'NoCoverage').length;
      return `| ${name} | ${s.score.toFixed(1)}% | ${s.killed} | ${s.survived - noCoverage} | ${noCoverage} | ${runs.measured[name] ?? ''} |`;
    }),
    '',
    '## Runs',
    '',
    '| date | pass | mutated | mutants | minutes |',
    '|---|---|---|---:|---:|',
    ...runs.runs.map((r) => `| ${r.date} | ${r.pass} | ${r.mutate.map((m) => `\`${m}\``).join(' ')}${r.tests ? ` (tests: ${r.tests.map((t) => `\`${t.replace('<rootDir>/', '')}\``).join(' ')})` : ''} | ${r.mutants} | ${r.minutes} |`),
    '',
    '## Survivors',
    '',
  ];
  for (const [name, f] of files) {
    const left = f.mutants.filter((m) => m.status === 'Survived' || m.status === 'NoCoverage')
      .sort((a, b) => a.location.start.line - b.location.start.line);
    if (left.length === 0) continue;
    out.push(`### ${name}`, '');
    for (const m of left) {
      const original = f.source.split('\n').slice(m.location.start.line - 1, m.location.end.line).join(' ').trim().replace(/\s+/g, ' ');
      out.push(`- line ${m.location.start.line}: ${m.mutatorName} → \`${(m.replacement ?? '').replace(/\s+/g, ' ').replace(/`/g, "'").slice(0, 120)}\`${m.status === 'NoCoverage' ? ' (no test covers it)' : ''}; in \`${original.replace(/`/g, "'").slice(0, 140)}\``);
    }
    out.push('');
  }
  out.push(equivalent.trimEnd(), '');
  return out.join('\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
