// Runs inside the fresh `node` process that run-bundle.ts starts, standing in for the Lambda runtime:
// load the bundle, call handler(event, context) once, write the outcome to a file, exit.
// Plain JavaScript because it runs under bare node, not ts-node.
// The outcome goes to a file, not stdout: the handler logs JSON lines to stdout.
'use strict';
const fs = require('fs');
const path = require('path');

// qualifier (optional): the alias or version the function was invoked through; Lambda puts it at the end of
// context.invokedFunctionArn (the AmiManager's isComplete is invoked through the `is-complete` alias).
const [bundlePath, eventPath, outcomePath, timeoutSeconds, qualifier] = process.argv.slice(2);
const startedAt = Date.now();
const deadline = startedAt + Number(timeoutSeconds) * 1000;
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
const region = process.env.AWS_REGION;

const context = {
  functionName,
  functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
  invokedFunctionArn: `arn:aws:lambda:${region}:123456789012:function:${functionName}${qualifier ? `:${qualifier}` : ''}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  awsRequestId: `emulator-${startedAt}`,
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'emulator',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: () => {},
  fail: () => {},
  succeed: () => {},
};

function finish(outcome, exitCode) {
  fs.writeFileSync(outcomePath, JSON.stringify({ ...outcome, durationMs: Date.now() - startedAt }));
  // Lambda freezes the process when an async handler settles; idle SDK sockets must not keep this one alive.
  process.exit(exitCode);
}

async function main() {
  const event = JSON.parse(fs.readFileSync(eventPath, 'utf8'));
  const { handler } = require(path.resolve(bundlePath));
  if (typeof handler !== 'function') throw new Error(`${bundlePath} does not export a handler function`);
  // Callback-style handlers (three parameters) are supported the way Lambda supports them.
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const maybe = handler(event, context, (err, result) => (err ? reject(err) : resolve(result)));
      if (maybe && typeof maybe.then === 'function') maybe.then(resolve, reject);
    });
  }
  return handler(event, context);
}

main().then(
  (result) => finish({ ok: true, result: result === undefined ? null : result }, 0),
  (error) => finish({ ok: false, error: { name: error?.name, message: error?.message ?? String(error), stack: error?.stack } }, 1),
);
