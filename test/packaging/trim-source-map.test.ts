/**
 * build-tools/trim-source-map.cjs keeps only the mappings into our own sources. Checked against the
 * full map esbuild writes for the same bundle: every position in our code looks up exactly as before,
 * every position in a dependency looks up to nothing (never to a wrong file of ours).
 */
import * as fs from 'fs';
import { SourceMap } from 'module';
import * as os from 'os';
import * as path from 'path';
import { buildSync } from 'esbuild';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decodeMappings, encodeMappings, trimSourceMap } = require('../../build-tools/trim-source-map.cjs');

const ROOT = path.resolve(__dirname, '..', '..');
const ours = (source: string) => !source.split(/[\\/]/).includes('node_modules');

describe('trimSourceMap', () => {
  let full: any;
  beforeAll(() => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-map-'));
    try {
      // The same build as the bundle task's (see .projenrc.ts).
      buildSync({
        entryPoints: [path.join(ROOT, 'lambda', 'packer-cleaner', 'index.ts')],
        bundle: true,
        minify: true,
        keepNames: true,
        sourcemap: true,
        sourcesContent: false,
        platform: 'node',
        target: 'node22',
        format: 'cjs',
        mainFields: ['module', 'main'],
        legalComments: 'none',
        outfile: path.join(outdir, 'index.js'),
        logLevel: 'warning',
      });
      full = JSON.parse(fs.readFileSync(path.join(outdir, 'index.js.map'), 'utf8'));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  }, 60_000);

  test('decoding and encoding the mappings is lossless', () => {
    expect(encodeMappings(decodeMappings(full.mappings))).toBe(full.mappings);
  });

  test('our positions look up as in the full map; a dependency\'s to nothing', () => {
    const trimmed = trimSourceMap(full, ours);
    expect(trimmed.sources.length).toBeGreaterThan(10);
    expect(trimmed.sources.every(ours)).toBe(true);
    expect(trimmed.mappings.length).toBeLessThan(full.mappings.length / 10);
    const before = new SourceMap(full);
    const after = new SourceMap(trimmed);
    let mine = 0;
    let theirs = 0;
    decodeMappings(full.mappings).forEach((segments: number[][], line: number) => {
      for (const [column, source] of segments) {
        if (source === undefined) continue;
        for (const col of [column, column + 1]) {
          const expected = before.findEntry(line, col) as any;
          const actual = after.findEntry(line, col) as any;
          if (ours(expected.originalSource ?? 'node_modules')) {
            mine++;
            expect([actual.originalSource, actual.originalLine, actual.originalColumn])
              .toEqual([expected.originalSource, expected.originalLine, expected.originalColumn]);
          } else {
            theirs++;
            if (actual.originalSource !== undefined) throw new Error(`${line}:${col} in ${expected.originalSource} maps to ${actual.originalSource}`);
          }
        }
      }
    });
    expect(mine).toBeGreaterThan(1000);
    expect(theirs).toBeGreaterThan(mine);
  });

  test('names used by kept mappings are kept, renumbered', () => {
    const trimmed = trimSourceMap(full, ours);
    const used = new Set<number>();
    for (const segments of decodeMappings(trimmed.mappings)) for (const s of segments) if (s.length === 5) used.add(s[4]);
    expect([...used].sort((a, b) => a - b)).toEqual(trimmed.names.map((_: string, i: number) => i));
  });

  test('the shipped map is the trimmed one', () => {
    const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'assets', 'packer-cleaner', 'index.js.map'), 'utf8'));
    expect(shipped.sources.every(ours)).toBe(true);
    // Sources are relative to the output folder, which differs here: compare from lambda/ on.
    const fromLambda = (sources: string[]) => sources.map((s) => s.slice(s.indexOf('lambda/')));
    expect(fromLambda(shipped.sources)).toEqual(fromLambda(trimSourceMap(full, ours).sources));
    expect(shipped.mappings).toBe(trimSourceMap(full, ours).mappings);
  });
});
