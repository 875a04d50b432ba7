/**
 * A loopback HTTP proxy between a handler (or any SDK v3 client) and moto that injects AWS-shaped
 * faults and records every call it sees.
 *
 * - The service comes from the SigV4 credential scope (`Credential=AKID/date/region/SERVICE/aws4_request`),
 *   the operation from the form body's `Action=` (query protocol: EC2, SNS) or the `X-Amz-Target`
 *   header (JSON protocol: SQS, ...).
 * - Faults are decided before forwarding: an injected fault never reaches moto. The decision uses a
 *   seeded PRNG (mulberry32), one draw per eligible request, so a sequential client sees the same
 *   faults on every run with the same seed.
 * - Throttling answers look like AWS's, so the SDK classifies them as throttling:
 *   EC2 → 503 `RequestLimitExceeded`; other query services → 400 `Throttling`; JSON → 400 `ThrottlingException`;
 *   REST-JSON (Lambda, Scheduler) → 429 with the code in `x-amzn-ErrorType`.
 *   "unavailable" is a 503 with a plain-text body. A rule failure is EC2-style error XML with the
 *   rule's code (JSON `{"__type": code}` for JSON-protocol calls; HTTP 400 unless the rule says
 *   otherwise), for every matching request or only the first `times`.
 * - Everything else is forwarded verbatim (method, path, headers, body) and the response streamed back.
 */
import * as http from 'http';
import type { AddressInfo, Socket } from 'net';
import { mulberry32 } from './random';

export interface FaultRule {
  /** e.g. TerminateInstances */
  readonly operation: string;
  /** Fail any request of `operation` whose parameters contain this value, e.g. an instance id. */
  readonly resourceId: string;
  /** The AWS error code to answer with, e.g. OperationNotPermitted. */
  readonly code: string;
  readonly message?: string;
  /** @default 400 */
  readonly httpStatus?: number;
  /** Fail only the first `times` matching requests; later ones are forwarded. @default every one */
  readonly times?: number;
}

export interface FaultProxyOptions {
  /** moto's endpoint, e.g. http://127.0.0.1:5000 */
  readonly target: string;
  /** @default 1 */
  readonly seed?: number;
  /**
   * Where the draws come from instead of the proxy's own PRNG: a test running many seeded sequences
   * through one proxy gives each sequence its own, so a sequence rerun alone sees the same faults;
   * a test whose clients run concurrently can keep one stream per service (the call is given), so
   * that how the services' calls interleave does not decide which service gets the faults.
   * @default a mulberry32 PRNG seeded with `seed`
   */
  readonly random?: (call: { readonly service: string; readonly operation: string }) => number;
  /** Share of eligible requests answered with a throttling error, 0..1. @default 0 */
  readonly throttleRate?: number;
  /** Share of eligible requests answered with a plain HTTP 503, 0..1. @default 0 */
  readonly unavailableRate?: number;
  readonly rules?: readonly FaultRule[];
  /** Which operations random faults (throttle, unavailable) may hit. @default all */
  readonly faultOperations?: (operation: string) => boolean;
}

export type InjectedFault = 'throttle' | 'unavailable' | 'rule';

export interface CallRecord {
  /** From the SigV4 credential scope, e.g. "ec2", "sns", "sqs"; "unknown" for unsigned requests. */
  readonly service: string;
  /** e.g. "TerminateInstances"; "unknown" when neither Action nor X-Amz-Target names one. */
  readonly operation: string;
  /** The status the client got: the injected one, or moto's (502 if moto could not be reached; 0 while pending). */
  status: number;
  readonly injected?: InjectedFault;
  /** Query-protocol form (and URL query) parameters, or the JSON body's top-level fields (non-strings as JSON). */
  readonly params: Record<string, string>;
}

export interface FaultProxy {
  /** e.g. http://127.0.0.1:49153: give this to the client instead of moto's endpoint. */
  readonly endpoint: string;
  /** Every request seen, in arrival order. */
  readonly calls: CallRecord[];
  /** "service:Operation" → requests seen (forwarded + injected). */
  counts(): Record<string, number>;
  /** Requests that reached moto (not injected), optionally of one operation. */
  forwarded(operation?: string): CallRecord[];
  /** Forget the recorded calls (the PRNG and rules carry on). */
  reset(): void;
  /** Add a rule from now on (a fault armed in the middle of a run). */
  addRule(rule: FaultRule): void;
  /** Close the server and every open connection. Safe to call twice. */
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
/** Request bodies are buffered to read the operation; nothing the SDK sends here comes close. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;


export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  if (target.protocol !== 'http:') throw new Error(`fault proxy: target must be http://, got ${opts.target}`);
  const throttleRate = rate(opts.throttleRate, 'throttleRate');
  const unavailableRate = rate(opts.unavailableRate, 'unavailableRate');
  if (throttleRate + unavailableRate > 1) throw new Error('fault proxy: throttleRate + unavailableRate must not exceed 1');
  const rules = [...(opts.rules ?? [])];
  const eligible = opts.faultOperations ?? (() => true);
  const random = opts.random ?? mulberry32(opts.seed ?? 1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const calls: CallRecord[] = [];
  const ruleHits = new Map<FaultRule, number>();
  let requestCounter = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) {
        res.writeHead(413, { 'content-type': 'text/plain' }).end('fault proxy: request body too large');
        return;
      }
      const body = Buffer.concat(chunks);
      const call = identify(req, body);
      const requestId = `fault-proxy-${String(++requestCounter).padStart(8, '0')}`;

      let injected: InjectedFault | undefined;
      if (eligible(call.operation) && (throttleRate > 0 || unavailableRate > 0)) {
        const draw = random(call.record);
        if (draw < throttleRate) injected = 'throttle';
        else if (draw < throttleRate + unavailableRate) injected = 'unavailable';
      }
      const rule = injected ? undefined : rules.find((r) => r.operation === call.operation && mentions(call, r.resourceId)
        && (r.times === undefined || (ruleHits.get(r) ?? 0) < r.times));
      if (rule) {
        injected = 'rule';
        ruleHits.set(rule, (ruleHits.get(rule) ?? 0) + 1);
      }

      const record: CallRecord = { ...call.record, status: 0, ...(injected ? { injected } : {}) };
      calls.push(record);

      if (injected) {
        const answer = injected === 'throttle' ? throttleAnswer(call, requestId)
          : injected === 'unavailable' ? unavailableAnswer(requestId)
            : ruleAnswer(rule!, call, requestId);
        record.status = answer.status;
        res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
        res.end(answer.body);
        return;
      }

      const upstream = http.request({
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      }, (upstreamRes) => {
        record.status = upstreamRes.statusCode ?? 0;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders);
        upstreamRes.pipe(res);
        upstreamRes.on('error', () => res.destroy());
      });
      upstream.on('error', (error) => {
        record.status = 502;
        if (res.headersSent) {
          res.destroy();
        } else {
          res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: upstream ${opts.target} failed: ${error.message}`);
        }
      });
      upstream.end(body);
    });
  });

  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    calls,
    counts() {
      const out: Record<string, number> = {};
      for (const c of calls) {
        const key = `${c.service}:${c.operation}`;
        out[key] = (out[key] ?? 0) + 1;
      }
      return out;
    },
    forwarded(operation?: string) {
      return calls.filter((c) => !c.injected && (operation === undefined || c.operation === operation));
    },
    reset() {
      calls.length = 0;
    },
    addRule(rule) {
      rules.push(rule);
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return stopped;
    },
  };
}

function rate(value: number | undefined, name: string): number {
  const r = value ?? 0;
  if (!(r >= 0 && r <= 1)) throw new Error(`fault proxy: ${name} must be between 0 and 1, got ${value}`);
  return r;
}

type Protocol = 'query' | 'json' | 'rest-json' | 'other';

/**
 * REST-JSON services (no X-Amz-Target, no form body) and the code each answers a throttled call
 * with: HTTP 429, the code in x-amzn-ErrorType, a JSON body. Their clients cannot read the query
 * protocol's XML error, so they must not get it.
 */
const REST_JSON_THROTTLING: Record<string, string> = {
  lambda: 'TooManyRequestsException',
  scheduler: 'ThrottlingException',
};

interface Identified {
  readonly protocol: Protocol;
  readonly service: string;
  readonly operation: string;
  readonly record: Omit<CallRecord, 'status'>;
  /** Every string value in the request's parameters (JSON bodies walked deeply), for rule matching. */
  readonly values: string[];
}

const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/;

function identify(req: http.IncomingMessage, body: Buffer): Identified {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const auth = String(req.headers.authorization ?? '');
  const scope = CREDENTIAL_SCOPE.exec(auth) ?? CREDENTIAL_SCOPE.exec(`Credential=${url.searchParams.get('X-Amz-Credential') ?? ''}`);
  const service = scope ? scope[1] : 'unknown';
  const contentType = String(req.headers['content-type'] ?? '');
  const target = req.headers['x-amz-target'];

  const params: Record<string, string> = {};
  const values: string[] = [];
  for (const [k, v] of url.searchParams) {
    params[k] = v;
    values.push(v);
  }
  let protocol: Protocol = 'other';
  let operation = params.Action;

  if (typeof target === 'string' && target.length > 0) {
    protocol = 'json';
    operation = target.slice(target.lastIndexOf('.') + 1);
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8') || '{}');
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [k, v] of Object.entries(parsed)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      collectStrings(parsed, values);
    } catch {
      // not JSON: recorded without params
    }
  } else if (contentType.startsWith('application/x-www-form-urlencoded') || (params.Action && body.length === 0)) {
    protocol = 'query';
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      params[k] = v;
      values.push(v);
    }
    operation = params.Action;
  } else if (REST_JSON_THROTTLING[service] !== undefined) {
    protocol = 'rest-json';
  }
  return { protocol, service, operation: operation || 'unknown', record: { service, operation: operation || 'unknown', params }, values };
}

function collectStrings(value: unknown, out: string[], depth = 0): void {
  if (depth > 64) return;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, out, depth + 1);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectStrings(v, out, depth + 1);
}

function mentions(call: Identified, resourceId: string): boolean {
  return call.values.includes(resourceId);
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function ec2ErrorXml(code: string, message: string, requestId: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n'
    + `<Response><Errors><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error></Errors>`
    + `<RequestID>${requestId}</RequestID></Response>`;
}

function throttleAnswer(call: Identified, requestId: string): Answer {
  if (call.protocol === 'json') {
    return {
      status: 400,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
      body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }),
    };
  }
  if (call.protocol === 'rest-json') {
    const code = REST_JSON_THROTTLING[call.service];
    return {
      status: 429,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': code, 'x-amzn-requestid': requestId },
      body: JSON.stringify({ message: 'Rate exceeded' }),
    };
  }
  if (call.service === 'ec2') {
    return { status: 503, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: ec2ErrorXml('RequestLimitExceeded', 'Request limit exceeded.', requestId) };
  }
  return {
    status: 400,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body: '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code>'
      + `<Message>Rate exceeded</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}

function unavailableAnswer(requestId: string): Answer {
  return { status: 503, headers: { 'content-type': 'text/plain', 'x-amzn-requestid': requestId }, body: 'Service Unavailable' };
}

function ruleAnswer(rule: FaultRule, call: Identified, requestId: string): Answer {
  const message = rule.message ?? `The operation ${rule.operation} is not permitted on ${rule.resourceId} (injected by the fault proxy).`;
  if (call.protocol === 'json') {
    // JSON-protocol services (ECS, Step Functions, SQS, ...) answer errors as JSON with the code in __type.
    return {
      status: rule.httpStatus ?? 400,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
      body: JSON.stringify({ __type: rule.code, message }),
    };
  }
  if (call.protocol === 'rest-json') {
    return {
      status: rule.httpStatus ?? 400,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': rule.code, 'x-amzn-requestid': requestId },
      body: JSON.stringify({ message }),
    };
  }
  return { status: rule.httpStatus ?? 400, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: ec2ErrorXml(rule.code, message, requestId) };
}
