#!/usr/bin/env node
/*
 * `npx projen mutation [-- <glob> ...]`: StrykerJS over the handler and construct code with the
 * jest tests that run in-process (unit, handler, construct; the emulator tests run the bundle in
 * another process, where Stryker's mutants are not). Prints the score per file and writes
 * docs/MUTATION.md from Stryker's JSON report, keeping the "Equivalent mutants" section that
 * a maintainer writes by hand. A command that prints numbers, never part of CI.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const reportFile = (pass) => path.join(ROOT, 'reports', 'mutation', `${pass.name}.json`);
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
      config: { ...jestConfig, testMatch: pass.testMatch, testPathIgnorePatterns: [...jestConfig.testPathIgnorePatterns, '/test/constructs/cfn-lint.test.ts'] },
      enableFindRelatedTests: false,
    },
    coverageAnalysis: 'perTest',
    concurrency: Math.max(1, os.cpus().length),
    // A mutant that loops (retry counters, pagination) times out: it counts as killed, so fail it fast.
    timeoutMS: 10_000,
    reporters: ['clear-text', 'progress', 'json'],
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
  const globs = process.argv.slice(2).filter((a) => a !== '--');
  const { Stryker } = await import('@stryker-mutator/core');
  const started = Date.now();
  const files = {};
  const mutated = [];
  for (const pass of PASSES) {
    // A glob given on the command line runs in the pass whose folder it names.
    const mutate = globs.length === 0 ? pass.mutate : globs.filter((g) => g.replace(/^!/, '').startsWith(`${pass.name}/`));
    if (mutate.length === 0) continue;
    console.log(`\n== mutation pass ${pass.name}: ${mutate.join(' ')} with ${pass.testMatch.join(' ')}`);
    await new Stryker(strykerOptions(pass, mutate)).runMutationTest();
    Object.assign(files, JSON.parse(fs.readFileSync(reportFile(pass), 'utf8')).files);
    mutated.push(...mutate);
  }
  if (mutated.length === 0) throw new Error(`no pass mutates ${globs.join(' ')}: give globs under ${PASSES.map((p) => `${p.name}/`).join(' or ')}`);
  const minutes = (Date.now() - started) / 60_000;
  const doc = renderDoc({ files }, mutated, minutes);
  fs.mkdirSync(path.dirname(DOC), { recursive: true });
  fs.writeFileSync(DOC, doc);
  console.log(`\nWrote ${path.relative(ROOT, DOC)} (${minutes.toFixed(1)} min).`);
}

const KILLED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);

function scoreOf(mutants) {
  const counted = mutants.filter((m) => COUNTED.has(m.status));
  const killed = counted.filter((m) => KILLED.has(m.status)).length;
  return { killed, counted: counted.length, survived: counted.length - killed, score: counted.length === 0 ? 100 : (100 * killed) / counted.length };
}

function renderDoc(report, mutate, minutes) {
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
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; Node.js ${process.version}`,
    `- Mutated: ${mutate.map((m) => `\`${m}\``).join(', ')}`,
    `- Run time: ${minutes.toFixed(1)} min`,
    `- **Score: ${total.score.toFixed(2)}%** (${total.killed} killed or timed out of ${total.counted}; ${total.survived} survived or not covered)`,
    '',
    '## Score per file',
    '',
    '| file | score | killed | survived | no coverage |',
    '|---|---:|---:|---:|---:|',
    ...files.map(([name, f]) => {
      const s = scoreOf(f.mutants);
      const noCoverage = f.mutants.filter((m) => m.status === 'NoCoverage').length;
      return `| ${name} | ${s.score.toFixed(1)}% | ${s.killed} | ${s.survived - noCoverage} | ${noCoverage} |`;
    }),
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
