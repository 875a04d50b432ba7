import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/*
 * What a consumer installs: the pre-built handler bundles ship in the package and run on their own;
 * handler sources do not ship, so nothing is bundled (and no esbuild, Docker or lockfile is needed)
 * at a consumer's synth.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const HANDLERS = ['packer-cleaner'];

function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [report] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  return report.files.map((f) => f.path);
}

describe('npm package contents', () => {
  const files = packedFiles();

  test.each(HANDLERS)('ships the %s bundle', (name) => {
    expect(files).toContain(`assets/${name}/index.js`);
  });

  test('ships no handler source, tests, demo or TypeScript source', () => {
    const leaked = files.filter((f) => /^(lambda|test|demo|src)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
    expect(leaked).toEqual([]);
  });
});

describe.each(HANDLERS)('the %s bundle', (name) => {
  const bundle = path.join(ROOT, 'assets', name, 'index.js');

  test('loads on its own, outside the repository, with no node_modules', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-alone-'));
    try {
      fs.copyFileSync(bundle, path.join(dir, 'index.js'));
      const out = execFileSync(process.execPath, ['-e', 'const m = require("./index.js"); process.stdout.write(typeof m.handler)'], {
        cwd: dir,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1' },
      });
      expect(out).toBe('function');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bundles the AWS SDK v3 instead of relying on the runtime copy', () => {
    const code = fs.readFileSync(bundle, 'utf8');
    const external = new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]).filter((m) => !m.startsWith('node:')));
    // The CRT signer is an optional require inside a try (only SigV4a needs it); nothing else is external.
    expect([...external].filter((m) => m !== '@aws-sdk/signature-v4-crt')).toEqual([]);
    expect(code).toContain('DescribeInstances');
  });
});
