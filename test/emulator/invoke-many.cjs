// Loads a handler bundle ONCE in this process (as one warm Lambda container would) and calls
// handler(event, context) for each event of a JSON array file, one after the other, recording each
// outcome. Used by the fuzz test, so 500+ events do not cost 500+ node processes.
// Usage: node invoke-many.cjs <bundle.js> <events.json> <outcomes.json>
//    or: node invoke-many.cjs <bundle.js> --serve
//        A long-lived runner: reads one JSON request per line on stdin, {"id", "event", "qualifier"?}
//        (qualifier: the alias the function is invoked through, appended to context.invokedFunctionArn),
//        calls the handler, and writes one JSON line per request to file descriptor 3:
//        {"id", "ok": true, "result"} or {"id", "ok": false, "name", "message"}. Requests run one at a
//        time, in order, like invocations of one warm Lambda container.
//        INVOKE_MANY_DELAY_SCALE (e.g. 0.02) shortens every timer the handler sets (the SDK's and the
//        handler's retry backoffs) by that factor: the same retries in less wall time. Clocks
//        (Date.now) are not changed.
// Plain JavaScript because it runs under bare node, not ts-node. Outcomes go to a file: the
// handler logs JSON lines to stdout.
'use strict';
const fs = require('fs');
const path = require('path');

const [bundlePath, eventsPath, outcomesPath] = process.argv.slice(2);
const serve = eventsPath === '--serve';
/** Error messages are kept up to this length: enough to judge them, never a 1 MB echo of the event. */
const MESSAGE_MAX = 4_000;
const startedAt = Date.now();

function context(i, qualifier) {
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
  return {
    functionName,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${functionName}${qualifier ? `:${qualifier}` : ''}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: `invoke-many-${startedAt}-${i}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'invoke-many',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

async function main() {
  const events = JSON.parse(fs.readFileSync(eventsPath, 'utf8'));
  if (!Array.isArray(events)) throw new Error(`${eventsPath} must hold a JSON array of events`);
  const { handler } = require(path.resolve(bundlePath));
  if (typeof handler !== 'function') throw new Error(`${bundlePath} does not export a handler function`);
  const outcomes = [];
  for (let i = 0; i < events.length; i++) {
    const started = Date.now();
    try {
      const result = await handler(events[i], context(i));
      outcomes.push({ ok: true, status: result && result.status, counts: result && result.counts, durationMs: Date.now() - started });
    } catch (error) {
      const message = error && typeof error.message === 'string' ? error.message : String(error);
      outcomes.push({
        ok: false,
        name: error && error.name,
        message: message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}...(${message.length} characters)` : message,
        messageLength: message.length,
        durationMs: Date.now() - started,
      });
    }
  }
  return outcomes;
}

function failure(error) {
  const message = error && typeof error.message === 'string' ? error.message : String(error);
  return {
    ok: false,
    name: error && error.name,
    message: message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}...(${message.length} characters)` : message,
    messageLength: message.length,
  };
}

function scaleTimers(scale) {
  if (!(scale > 0 && scale <= 1)) throw new Error(`INVOKE_MANY_DELAY_SCALE must be in (0, 1], got ${scale}`);
  const original = global.setTimeout;
  global.setTimeout = function scaledSetTimeout(fn, ms, ...args) {
    return original(fn, Math.ceil((Number(ms) || 0) * scale), ...args);
  };
}

async function serveLines() {
  if (process.env.INVOKE_MANY_DELAY_SCALE) scaleTimers(Number(process.env.INVOKE_MANY_DELAY_SCALE));
  const { handler } = require(path.resolve(bundlePath));
  if (typeof handler !== 'function') throw new Error(`${bundlePath} does not export a handler function`);
  const out = fs.createWriteStream(null, { fd: 3 });
  const lines = require('readline').createInterface({ input: process.stdin, crlfDelay: Infinity });
  let i = 0;
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const request = JSON.parse(line);
    const started = Date.now();
    let outcome;
    try {
      const result = await handler(request.event, context(i++, request.qualifier));
      outcome = { id: request.id, ok: true, result: result === undefined ? null : result };
    } catch (error) {
      outcome = { id: request.id, ...failure(error) };
    }
    out.write(`${JSON.stringify({ ...outcome, durationMs: Date.now() - started })}\n`);
  }
  await new Promise((resolve) => out.end(resolve));
}

if (serve) {
  serveLines().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`invoke-many --serve: ${error && error.stack}\n`);
      process.exit(1);
    },
  );
} else main().then(
  (outcomes) => {
    fs.writeFileSync(outcomesPath, JSON.stringify({ ok: true, outcomes, durationMs: Date.now() - startedAt }));
    // Idle SDK sockets must not keep this process alive.
    process.exit(0);
  },
  (error) => {
    fs.writeFileSync(outcomesPath, JSON.stringify({ ok: false, error: { name: error && error.name, message: String(error && error.message), stack: error && error.stack } }));
    process.exit(1);
  },
);
