#!/usr/bin/env node
/*
 * One set of checks for every language's consumer app: each app synthesizes the same stack
 * (see README.md beside this file) into a cloud assembly, and this script checks the template and
 * the handler asset there. Usage: node check-template.cjs <language> <cdk.out dir> [stack name]
 */
'use strict';
const fs = require('fs');
const path = require('path');

const [language, outdir, stackName = 'ConsumerStack'] = process.argv.slice(2);
if (!language || !outdir) {
  console.error('usage: check-template.cjs <language> <cdk.out dir> [stack name]');
  process.exit(2);
}

// The props every consumer app sets; the checks below follow from them.
const { EXPECTED } = require('./expected.cjs');

const results = [];
function check(name, fn) {
  try {
    fn();
    results.push({ name, ok: true });
  } catch (e) {
    results.push({ name, ok: false, detail: e.message });
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}
const asList = (v) => (Array.isArray(v) ? v : [v]);

let template;
check('template exists', () => {
  const file = path.join(outdir, `${stackName}.template.json`);
  assert(fs.existsSync(file), `no ${file}`);
  template = JSON.parse(fs.readFileSync(file, 'utf8'));
});
if (!template) report();

const resources = Object.entries(template.Resources ?? {});
const ofType = (type) => resources.filter(([, r]) => r.Type === type);
// Every statement of ours is in a managed policy (cdk-nag's IAMNoInlinePolicy); none is inline.
const statements = ofType('AWS::IAM::ManagedPolicy').flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
const withAction = (action) => statements.filter((s) => asList(s.Action).includes(action));

check('lambda function: nodejs24.x on arm64, index.handler', () => {
  const fns = ofType('AWS::Lambda::Function');
  assert(fns.length === 1, `expected 1 AWS::Lambda::Function, found ${fns.length}`);
  const p = fns[0][1].Properties;
  assert(p.Runtime === 'nodejs24.x', `Runtime is ${p.Runtime}`);
  assert(JSON.stringify(p.Architectures) === '["arm64"]', `Architectures is ${JSON.stringify(p.Architectures)}`);
  assert(p.Handler === 'index.handler', `Handler is ${p.Handler}`);
});

check('handler asset: the pre-built bundle, no TypeScript source', () => {
  const p = ofType('AWS::Lambda::Function')[0][1].Properties;
  const key = p.Code && p.Code.S3Key;
  assert(typeof key === 'string' && /^[0-9a-f]{64}\.zip$/.test(key), `Code.S3Key is ${JSON.stringify(key)}`);
  const hash = key.replace('.zip', '');
  const dir = path.join(outdir, `asset.${hash}`);
  assert(fs.existsSync(path.join(dir, 'index.js')), `no index.js in ${dir}`);
  const files = fs.readdirSync(dir);
  assert(!files.some((f) => f.endsWith('.ts')), `TypeScript source in the asset: ${files.join(', ')}`);
  const size = fs.statSync(path.join(dir, 'index.js')).size;
  assert(size > 100_000, `index.js is only ${size} bytes: not the bundled handler`);
});

check('environment: props reach the handler', () => {
  const env = ofType('AWS::Lambda::Function')[0][1].Properties.Environment.Variables;
  assert(env.ACTION === EXPECTED.action, `ACTION=${env.ACTION}`);
  assert(env.MAX_AGE_SECONDS === EXPECTED.maxAgeSeconds, `MAX_AGE_SECONDS=${env.MAX_AGE_SECONDS}`);
  assert(env.TAG_SELECTOR === JSON.stringify(EXPECTED.tagSelector), `TAG_SELECTOR=${env.TAG_SELECTOR}`);
  assert(env.MAX_ACTIONS_PER_RUN === EXPECTED.maxActionsPerRun, `MAX_ACTIONS_PER_RUN=${env.MAX_ACTIONS_PER_RUN}`);
  assert(env.CLEANUP_KEY_PAIRS === 'true', `CLEANUP_KEY_PAIRS=${env.CLEANUP_KEY_PAIRS}`);
  assert(env.TOPIC_ARN && env.TOPIC_ARN.Ref, `TOPIC_ARN is not a Ref to the topic: ${JSON.stringify(env.TOPIC_ARN)}`);
});

check('schedule: EventBridge Scheduler with the given expression', () => {
  const schedules = ofType('AWS::Scheduler::Schedule');
  assert(schedules.length === 1, `expected 1 AWS::Scheduler::Schedule, found ${schedules.length}`);
  const expr = schedules[0][1].Properties.ScheduleExpression;
  assert(expr === EXPECTED.scheduleExpression, `ScheduleExpression is ${expr}`);
});

check('IAM: terminate on tagged, unprotected instances only', () => {
  const terminate = withAction('ec2:TerminateInstances');
  assert(terminate.length === 1, `expected 1 statement with ec2:TerminateInstances, found ${terminate.length}`);
  const c = terminate[0].Condition ?? {};
  assert(c.StringEquals && c.StringEquals['ec2:ResourceTag/team'] === 'platform', `no ec2:ResourceTag/team condition: ${JSON.stringify(c)}`);
  assert(c.Null && c.Null['ec2:ResourceTag/fleet-janitor:protect'] === 'true', `no protection-tag Null condition: ${JSON.stringify(c)}`);
  assert(withAction('ec2:StopInstances').length === 0, 'ec2:StopInstances granted although action is TERMINATE');
});

check('IAM: key pair deletion scoped to Packer key names', () => {
  const del = withAction('ec2:DeleteKeyPair');
  assert(del.length === 1, `expected 1 statement with ec2:DeleteKeyPair, found ${del.length}`);
  const text = JSON.stringify(del[0].Resource);
  assert(text.includes(':key-pair/packer_*') && text.includes(':key-pair/packer *'), `resources: ${text}`);
});

check('IAM: no inline policy', () => {
  const inline = ofType('AWS::IAM::Policy').map(([id]) => id);
  assert(inline.length === 0, `inline policies: ${inline.join(', ')}`);
});

check('dead-letter queue: for the function and the schedule', () => {
  const queues = ofType('AWS::SQS::Queue').map(([id]) => id);
  assert(queues.length === 1, `expected 1 AWS::SQS::Queue, found ${queues.length}`);
  const fn = ofType('AWS::Lambda::Function')[0][1].Properties;
  assert(JSON.stringify(fn.DeadLetterConfig ?? {}).includes(`"${queues[0]}"`), `function DeadLetterConfig: ${JSON.stringify(fn.DeadLetterConfig)}`);
  const target = ofType('AWS::Scheduler::Schedule')[0][1].Properties.Target;
  assert(JSON.stringify(target.DeadLetterConfig ?? {}).includes(`"${queues[0]}"`), `schedule DeadLetterConfig: ${JSON.stringify(target.DeadLetterConfig)}`);
});

check('alarms notify the topic', () => {
  const topics = ofType('AWS::SNS::Topic').map(([id]) => id);
  const alarms = ofType('AWS::CloudWatch::Alarm');
  assert(alarms.length === 3, `expected 3 alarms (errors, throttles, dead letters), found ${alarms.length}`);
  for (const [id, alarm] of alarms) {
    const actions = JSON.stringify(alarm.Properties.AlarmActions ?? []);
    assert(topics.some((t) => actions.includes(`"${t}"`)), `${id} does not notify the topic: ${actions}`);
  }
});

report();

function report() {
  for (const r of results) {
    console.log(`[${language}] ${r.ok ? 'PASS' : 'FAIL'} ${r.name}${r.ok ? '' : `: ${r.detail}`}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`[${language}] ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
