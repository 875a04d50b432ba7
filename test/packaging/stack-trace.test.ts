/**
 * A failure in the SHIPPED bundle must be readable in the function's logs: the stack trace names our
 * functions (esbuild --keep-names) and, with NODE_OPTIONS=--enable-source-maps (which the construct
 * sets on the function), the source file and line of each of our frames (the bundle ships
 * index.js.map: mappings only, no sources).
 *
 * The bundle runs as in the emulator tests (run-bundle.ts: a fresh node process, Lambda-style
 * environment), made to throw inside our code: a bad configuration value (ConfigError from the
 * config readers), a malformed event (EventShapeError), and an EC2 API that refuses every call (the
 * error comes out of the SDK, through our async frames).
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PackerCleaner } from '../../src';
import { runBundle, shippedBundle } from '../emulator/run-bundle';

jest.setTimeout(60_000);

const BUNDLE = shippedBundle('packer-cleaner');
/**
 * What the construct sets on the function, read from its synthesized template: source-mapped traces.
 * The handler deepens traces itself (with V8's default of 10 frames, an AWS error thrown through the
 * SDK's middleware stack would show no frame of ours).
 */
const FUNCTION_NODE_OPTIONS: string = (() => {
  const stack = new Stack(new App(), 'TraceStack');
  new PackerCleaner(stack, 'Cleaner');
  const fn = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))[0];
  return fn.Properties.Environment.Variables.NODE_OPTIONS;
})();

test('the construct turns on source maps', () => {
  expect(FUNCTION_NODE_OPTIONS).toBe('--enable-source-maps');
});
const SOURCE_MAPS = { NODE_OPTIONS: FUNCTION_NODE_OPTIONS };
const CONFIG = { TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:fleet-janitor', ACTION: 'TERMINATE', POWERTOOLS_METRICS_DISABLED: 'true' };
/** Nothing listens here: the configuration and event failures happen before any request. */
const NO_ENDPOINT = 'http://127.0.0.1:9';

/** The "at ..." lines of a stack trace. */
function frames(stack: string | undefined): string[] {
  return (stack ?? '').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('at '));
}

async function thrown(env: Record<string, string>, event: unknown, endpoint = NO_ENDPOINT) {
  const run = await runBundle({ bundlePath: BUNDLE, env: { ...CONFIG, ...env }, event, endpoint, timeoutSeconds: 30 });
  expect(run.error).toBeDefined();
  return { ...run.error!, frames: frames(run.error!.stack) };
}

describe('the shipped bundle', () => {
  test('references a source map that maps our sources but carries none of them', () => {
    const code = fs.readFileSync(BUNDLE, 'utf8');
    expect(code.trimEnd().endsWith('//# sourceMappingURL=index.js.map')).toBe(true);
    const map = JSON.parse(fs.readFileSync(`${BUNDLE}.map`, 'utf8'));
    expect(map.version).toBe(3);
    expect(map.sources).toEqual(expect.arrayContaining([
      '../../lambda/packer-cleaner/index.ts',
      '../../lambda/packer-cleaner/config.ts',
      '../../lambda/shared/event.ts',
    ]));
    // Handler sources do not ship (see package-contents.test.ts), not even inside the map.
    expect(map.sourcesContent).toBeUndefined();
  });
});

describe('a stack trace from the shipped bundle', () => {
  test('a bad configuration value: our functions, files and lines', async () => {
    const error = await thrown({ ...SOURCE_MAPS, ACTION: 'DELETE' }, { source: 'cdk-fleet-janitor.schedule' });
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain('ACTION="DELETE"');
    expect(error.frames.slice(0, 3)).toEqual([
      expect.stringMatching(/^at readEnum \(.*\/lambda\/shared\/config\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^at readConfig \(.*\/lambda\/packer-cleaner\/config\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^at handler \(.*\/lambda\/packer-cleaner\/index\.ts:\d+:\d+\)$/),
    ]);
  });

  test('a malformed event: the parser and the handler, with files', async () => {
    const error = await thrown(SOURCE_MAPS, { 'detail-type': 'Scheduled Event', 'source': 'aws.events' });
    expect(error.name).toBe('EventShapeError');
    expect(error.frames.slice(0, 4)).toEqual([
      expect.stringMatching(/^at rejectScheduledEvent \(.*\/lambda\/shared\/event\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^at parseScheduledEvent \(.*\/lambda\/shared\/event\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^at parseSweepEvent \(.*\/lambda\/shared\/event\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^at handler \(.*\/lambda\/packer-cleaner\/index\.ts:\d+:\d+\)$/),
    ]);
  });

  test('an AWS error on the way through our async code: its frames name our functions and files', async () => {
    // EC2 refuses everything; SNS accepts the report, so what the handler throws is EC2's refusal.
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
        if (/(^|&)Action=Publish(&|$)/.test(body)) {
          res.writeHead(200, { 'content-type': 'text/xml' }).end('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            + '<PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>');
          return;
        }
        res.writeHead(403, { 'content-type': 'text/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
          + '<Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r-2</RequestID></Response>');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const error = await thrown(SOURCE_MAPS, {}, endpoint);
      expect(error.name).toBe('UnauthorizedOperation');
      const ours = error.frames.filter((f) => /\/lambda\/(shared|packer-cleaner)\/[a-z-]+\.ts:\d+:\d+\)$/.test(f));
      expect(ours.length).toBeGreaterThan(0);
      // Each of our frames names its function (an arrow function is <anonymous>), never a minified name.
      for (const f of ours) expect(f).toMatch(/^at (async )?([a-z][A-Za-z]{5,}|<anonymous>) \(/);
      // From the SDK call up to the handler: paginate → observe → the sweep → the handler.
      const names = ours.map((f) => /^at (?:async )?(\S+) \(.*\/(lambda\/[a-z/-]+\.ts):/.exec(f)!.slice(1).join(' '));
      expect(names).toEqual(expect.arrayContaining([
        'collectPages lambda/shared/paginate.ts',
        'observe lambda/packer-cleaner/observe.ts',
        'runSweep lambda/shared/sweep.ts',
        'handler lambda/packer-cleaner/index.ts',
      ]));
      // Only our own sources are in the shipped map: the SDK's frames keep their bundle positions
      // (never a wrong file of ours).
      expect(error.frames.some((f) => /node_modules/.test(f))).toBe(false);
      expect(error.frames.some((f) => /\/index\.js:\d+:\d+\)$/.test(f))).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('without NODE_OPTIONS=--enable-source-maps, the frames still name our functions', async () => {
    const error = await thrown({ ACTION: 'DELETE' }, {});
    expect(error.frames.slice(0, 3)).toEqual([
      expect.stringMatching(/^at readEnum \(.*\/index\.js:\d+:\d+\)$/),
      expect.stringMatching(/^at readConfig \(.*\/index\.js:\d+:\d+\)$/),
      expect.stringMatching(/^at handler \(.*\/index\.js:\d+:\d+\)$/),
    ]);
  });
});
