#!/usr/bin/env node
/*
 * One set of checks for every language's consumer app: each app synthesizes the same stack
 * (see README.md beside this file) into a cloud assembly, and this script checks the template and
 * the handler assets there: the PackerCleaner `Cleaner` first, then the AmiManager `Ami` (its
 * custom resource, the stack's shared provider function and the provider framework around it). Usage: node check-template.cjs <language> <cdk.out dir> [stack name]
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
const json = (v) => JSON.stringify(v);
const refTo = (v) => (v && typeof v === 'object' ? v.Ref ?? (v['Fn::GetAtt'] ?? [])[0] : undefined);
const env = (fn) => fn[1].Properties.Environment?.Variables ?? {};

// The janitors' own functions, told apart by their Powertools service name (the provider
// framework's functions are CDK's: handler framework.*, no service name).
const functionsOf = (service) => ofType('AWS::Lambda::Function').filter((fn) => env(fn).POWERTOOLS_SERVICE_NAME === service);
function onlyFunction(service) {
  const fns = functionsOf(service);
  assert(fns.length === 1, `expected 1 ${service} function (POWERTOOLS_SERVICE_NAME=${service}), found ${fns.length}`);
  return fns[0];
}
const frameworkFunction = (name) => ofType('AWS::Lambda::Function').filter(([, r]) => r.Properties.Handler === `framework.${name}`);

// Every statement of ours is in a managed policy of the function's role (cdk-nag's IAMNoInlinePolicy).
const roleOf = (fn) => refTo(fn[1].Properties.Role);
const attachedTo = (type, role) => ofType(type).filter(([, r]) => (r.Properties.Roles ?? []).some((x) => refTo(x) === role));
const statementsOf = (fn) => attachedTo('AWS::IAM::ManagedPolicy', roleOf(fn)).flatMap(([, r]) => asList(r.Properties.PolicyDocument.Statement));
const withAction = (statements, action) => statements.filter((s) => asList(s.Action).includes(action));
const alarmsOn = (fn) => ofType('AWS::CloudWatch::Alarm').filter(([, a]) => (a.Properties.Dimensions ?? []).some((d) => d.Name === 'FunctionName' && refTo(d.Value) === fn[0]));

function checkBundle(fn, service) {
  const p = fn[1].Properties;
  const key = p.Code && p.Code.S3Key;
  assert(typeof key === 'string' && /^[0-9a-f]{64}\.zip$/.test(key), `${service} Code.S3Key is ${json(key)}`);
  const dir = path.join(outdir, `asset.${key.replace('.zip', '')}`);
  assert(fs.existsSync(path.join(dir, 'index.js')), `no index.js in ${dir}`);
  const files = fs.readdirSync(dir);
  assert(!files.some((f) => f.endsWith('.ts')), `TypeScript source in the asset: ${files.join(', ')}`);
  const size = fs.statSync(path.join(dir, 'index.js')).size;
  assert(size > 100_000, `${service} index.js is only ${size} bytes: not the bundled handler`);
  return key;
}
function checkRuntime(fn, service) {
  const p = fn[1].Properties;
  assert(p.Runtime === 'nodejs24.x', `${service} Runtime is ${p.Runtime}`);
  assert(json(p.Architectures) === '["arm64"]', `${service} Architectures is ${json(p.Architectures)}`);
  assert(p.Handler === 'index.handler', `${service} Handler is ${p.Handler}`);
}

// ---------- PackerCleaner `Cleaner`

check('lambda function: nodejs24.x on arm64, index.handler', () => {
  checkRuntime(onlyFunction('PackerCleaner'), 'PackerCleaner');
});

let cleanerBundle;
check('handler asset: the pre-built bundle, no TypeScript source', () => {
  cleanerBundle = checkBundle(onlyFunction('PackerCleaner'), 'PackerCleaner');
});

check('environment: props reach the handler', () => {
  const e = env(onlyFunction('PackerCleaner'));
  assert(e.ACTION === EXPECTED.action, `ACTION=${e.ACTION}`);
  assert(e.MAX_AGE_SECONDS === EXPECTED.maxAgeSeconds, `MAX_AGE_SECONDS=${e.MAX_AGE_SECONDS}`);
  assert(e.TAG_SELECTOR === json(EXPECTED.tagSelector), `TAG_SELECTOR=${e.TAG_SELECTOR}`);
  assert(e.MAX_ACTIONS_PER_RUN === EXPECTED.maxActionsPerRun, `MAX_ACTIONS_PER_RUN=${e.MAX_ACTIONS_PER_RUN}`);
  assert(e.CLEANUP_KEY_PAIRS === 'true', `CLEANUP_KEY_PAIRS=${e.CLEANUP_KEY_PAIRS}`);
  assert(e.TOPIC_ARN && e.TOPIC_ARN.Ref, `TOPIC_ARN is not a Ref to the topic: ${json(e.TOPIC_ARN)}`);
});

check('schedule: EventBridge Scheduler with the given expression', () => {
  const schedules = ofType('AWS::Scheduler::Schedule');
  assert(schedules.length === 1, `expected 1 AWS::Scheduler::Schedule, found ${schedules.length}`);
  const expr = schedules[0][1].Properties.ScheduleExpression;
  assert(expr === EXPECTED.scheduleExpression, `ScheduleExpression is ${expr}`);
});

check('IAM: terminate on tagged, unprotected instances only', () => {
  const statements = statementsOf(onlyFunction('PackerCleaner'));
  const terminate = withAction(statements, 'ec2:TerminateInstances');
  assert(terminate.length === 1, `expected 1 statement with ec2:TerminateInstances, found ${terminate.length}`);
  const c = terminate[0].Condition ?? {};
  assert(c.StringEquals && c.StringEquals['ec2:ResourceTag/team'] === 'platform', `no ec2:ResourceTag/team condition: ${json(c)}`);
  assert(c.Null && c.Null['ec2:ResourceTag/fleet-janitor:protect'] === 'true', `no protection-tag Null condition: ${json(c)}`);
  assert(withAction(statements, 'ec2:StopInstances').length === 0, 'ec2:StopInstances granted although action is TERMINATE');
});

check('IAM: key pair deletion scoped to Packer key names', () => {
  const del = withAction(statementsOf(onlyFunction('PackerCleaner')), 'ec2:DeleteKeyPair');
  assert(del.length === 1, `expected 1 statement with ec2:DeleteKeyPair, found ${del.length}`);
  const text = json(del[0].Resource);
  assert(text.includes(':key-pair/packer_*') && text.includes(':key-pair/packer *'), `resources: ${text}`);
});

check('IAM: no inline policy on our roles (only the provider framework\'s own roles have one)', () => {
  const ours = [onlyFunction('PackerCleaner'), onlyFunction('AmiManager')].map(roleOf);
  const schedule = ofType('AWS::Scheduler::Schedule')[0];
  if (schedule) ours.push(refTo(schedule[1].Properties.Target.RoleArn));
  for (const role of ours) {
    assert(role && ofType('AWS::IAM::Role').some(([id]) => id === role), `no AWS::IAM::Role ${role}`);
    const inline = attachedTo('AWS::IAM::Policy', role).map(([id]) => id);
    assert(inline.length === 0, `inline policies on ${role}: ${inline.join(', ')}`);
    const embedded = ofType('AWS::IAM::Role').find(([id]) => id === role)[1].Properties.Policies ?? [];
    assert(embedded.length === 0, `${role} has embedded Policies`);
  }
  // Whatever else has an inline policy must be the provider framework's (CDK's code, not ours).
  const frameworkRoles = new Set([...frameworkFunction('onEvent'), ...frameworkFunction('isComplete'), ...frameworkFunction('onTimeout')].map(roleOf));
  for (const sm of ofType('AWS::StepFunctions::StateMachine')) frameworkRoles.add(refTo(sm[1].Properties.RoleArn));
  for (const [id, policy] of ofType('AWS::IAM::Policy')) {
    const roles = (policy.Properties.Roles ?? []).map(refTo);
    assert(roles.every((r) => frameworkRoles.has(r)), `inline policy ${id} on ${roles.join(', ')}, not a provider framework role`);
  }
});

check('dead-letter queue: for the function and the schedule', () => {
  const queues = ofType('AWS::SQS::Queue').map(([id]) => id);
  assert(queues.length === 1, `expected 1 AWS::SQS::Queue, found ${queues.length}`);
  const fn = onlyFunction('PackerCleaner')[1].Properties;
  assert(json(fn.DeadLetterConfig ?? {}).includes(`"${queues[0]}"`), `function DeadLetterConfig: ${json(fn.DeadLetterConfig)}`);
  const target = ofType('AWS::Scheduler::Schedule')[0][1].Properties.Target;
  assert(json(target.DeadLetterConfig ?? {}).includes(`"${queues[0]}"`), `schedule DeadLetterConfig: ${json(target.DeadLetterConfig)}`);
});

check('alarms notify the topic', () => {
  const fn = onlyFunction('PackerCleaner');
  const topic = refTo(env(fn).TOPIC_ARN);
  const queue = ofType('AWS::SQS::Queue')[0];
  const onQueue = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => queue && json(a.Properties.Dimensions ?? []).includes(`"${queue[0]}"`));
  const alarms = [...alarmsOn(fn), ...onQueue];
  assert(alarms.length === 3, `expected 3 PackerCleaner alarms (errors, throttles, dead letters), found ${alarms.length}`);
  for (const [id, alarm] of alarms) {
    const actions = (alarm.Properties.AlarmActions ?? []).map(refTo);
    assert(actions.includes(topic), `${id} does not notify the topic ${topic}: ${json(alarm.Properties.AlarmActions)}`);
  }
});

// ---------- AmiManager `Ami`

const A = EXPECTED.ami;
const amiResources = () => ofType('Custom::FleetJanitorAmi');
function onlyAmi() {
  const amis = amiResources();
  assert(amis.length === 1, `expected 1 Custom::FleetJanitorAmi, found ${amis.length}`);
  return amis[0];
}

check('AmiManager: a Custom::FleetJanitorAmi with its properties as CloudFormation sends them', () => {
  const [id, r] = onlyAmi();
  const p = r.Properties;
  const want = {
    InstanceId: A.instanceId,
    ImageName: A.imageName,
    Reboot: 'false',
    Tags: A.tags,
    DeprecateAfterSeconds: A.deprecateAfterSeconds,
    ShareWithAccounts: A.shareWithAccounts,
    StopInstanceAfterImage: 'false',
    RemovalPolicy: A.removalPolicy,
    TimeoutSeconds: '3600',
  };
  for (const [key, value] of Object.entries(want)) assert(json(p[key]) === json(value), `${id}.${key} is ${json(p[key])}, expected ${json(value)}`);
  assert(!('Description' in p), `${id}.Description is set although the app gives none: ${json(p.Description)}`);
  const topic = refTo(p.TopicArn);
  assert(ofType('AWS::SNS::Topic').some(([t]) => t === topic), `${id}.TopicArn is not a Ref to a topic of the stack: ${json(p.TopicArn)}`);
  const known = new Set(['ServiceToken', 'TopicArn', ...Object.keys(want)]);
  const extra = Object.keys(p).filter((k) => !known.has(k));
  assert(extra.length === 0, `${id} has unexpected properties: ${extra.join(', ')}`);
  // The resource itself is deleted either way: RETAIN is the handler's business (it keeps the image).
  assert((r.DeletionPolicy ?? 'Delete') === 'Delete', `${id} DeletionPolicy is ${r.DeletionPolicy}`);
});

check('AmiManager: the service token is the provider framework\'s onEvent, which calls the shared function', () => {
  const [id, r] = onlyAmi();
  const onEvent = frameworkFunction('onEvent');
  assert(onEvent.length === 1, `expected 1 provider framework onEvent function, found ${onEvent.length}`);
  assert(refTo(r.Properties.ServiceToken) === onEvent[0][0], `${id}.ServiceToken is ${json(r.Properties.ServiceToken)}, not ${onEvent[0][0]}`);
  const handler = onlyFunction('AmiManager');
  assert(refTo(env(onEvent[0]).USER_ON_EVENT_FUNCTION_ARN) === handler[0], `USER_ON_EVENT_FUNCTION_ARN is ${json(env(onEvent[0]).USER_ON_EVENT_FUNCTION_ARN)}`);
});

check('AmiManager: the shared provider function runs nodejs24.x on arm64, index.handler', () => {
  checkRuntime(onlyFunction('AmiManager'), 'AmiManager');
});

check('AmiManager: handler asset is its own pre-built bundle, no TypeScript source', () => {
  const key = checkBundle(onlyFunction('AmiManager'), 'AmiManager');
  assert(key !== cleanerBundle, `AmiManager uses the PackerCleaner bundle ${key}`);
});

check('AmiManager: isComplete is the is-complete alias of the same function', () => {
  const handler = onlyFunction('AmiManager');
  const aliases = ofType('AWS::Lambda::Alias').filter(([, a]) => a.Properties.Name === 'is-complete');
  assert(aliases.length === 1, `expected 1 AWS::Lambda::Alias named is-complete, found ${aliases.length}`);
  const [aliasId, alias] = aliases[0];
  assert(refTo(alias.Properties.FunctionName) === handler[0], `the alias points at ${json(alias.Properties.FunctionName)}`);
  for (const fn of [...frameworkFunction('onEvent'), ...frameworkFunction('isComplete'), ...frameworkFunction('onTimeout')]) {
    const target = env(fn).USER_IS_COMPLETE_FUNCTION_ARN;
    assert(refTo(target) === aliasId, `${fn[0]} USER_IS_COMPLETE_FUNCTION_ARN is ${json(target)}, not the alias`);
  }
});

check('AmiManager: the waiter state machine polls isComplete every 30 s for at most an hour, with logging', () => {
  const machines = ofType('AWS::StepFunctions::StateMachine');
  assert(machines.length === 1, `expected 1 AWS::StepFunctions::StateMachine, found ${machines.length}`);
  const [id, sm] = machines[0];
  const definition = json(sm.Properties.DefinitionString);
  assert(definition.includes('\\"IntervalSeconds\\":30') && definition.includes('\\"MaxAttempts\\":120'), `${id} retries: ${definition.slice(0, 400)}`);
  const isComplete = frameworkFunction('isComplete');
  const onTimeout = frameworkFunction('onTimeout');
  assert(isComplete.length === 1 && definition.includes(`"${isComplete[0][0]}"`), `${id} does not invoke the framework isComplete function`);
  assert(onTimeout.length === 1 && definition.includes(`"${onTimeout[0][0]}"`), `${id} does not invoke the framework onTimeout function`);
  const logging = sm.Properties.LoggingConfiguration ?? {};
  assert(logging.Level === 'ALL' && (logging.Destinations ?? []).length === 1, `${id} LoggingConfiguration: ${json(logging)}`);
  assert(refTo(env(frameworkFunction('onEvent')[0]).WAITER_STATE_MACHINE_ARN) === id, 'onEvent does not start this state machine');
});

check('AmiManager IAM: CreateImage on the instance\'s ARN; images and snapshots only with the stack-id request tag', () => {
  const statements = withAction(statementsOf(onlyFunction('AmiManager')), 'ec2:CreateImage');
  const onInstances = statements.filter((s) => json(s.Resource).includes(':instance/'));
  assert(onInstances.length === 1, `expected 1 CreateImage statement on instances, found ${onInstances.length}`);
  const resources = asList(onInstances[0].Resource);
  assert(resources.length === 1 && json(resources[0]).includes(`:instance/${A.instanceId}"`), `CreateImage on ${json(resources)}`);
  for (const s of statements.filter((x) => x !== onInstances[0])) {
    assert(!json(s.Resource).includes(':instance/'), `a second CreateImage statement on instances: ${json(s.Resource)}`);
    const tag = (s.Condition ?? {}).StringEquals?.['aws:RequestTag/fleet-janitor:ami:stack-id'];
    assert(json(tag) === '{"Ref":"AWS::StackId"}', `CreateImage on ${json(s.Resource)} without the stack-id request tag: ${json(s.Condition)}`);
  }
  assert(!statements.some((s) => asList(s.Resource).includes('*')), 'ec2:CreateImage on *');
});

check('AmiManager IAM: destructive EC2 actions only on resources tagged with this stack\'s id', () => {
  const statements = statementsOf(onlyFunction('AmiManager'));
  const destructive = ['ec2:DeregisterImage', 'ec2:DeleteSnapshot', 'ec2:ModifyImageAttribute', 'ec2:ModifySnapshotAttribute',
    'ec2:EnableImageDeprecation', 'ec2:DisableImageDeprecation', 'ec2:DeleteTags'];
  for (const action of ['ec2:DeregisterImage', 'ec2:DeleteSnapshot']) {
    assert(withAction(statements, action).length > 0, `${action} is not granted: the image could not be deleted`);
  }
  const ownStack = (s) => json((s.Condition ?? {}).StringEquals?.['aws:ResourceTag/fleet-janitor:ami:stack-id']) === '{"Ref":"AWS::StackId"}';
  for (const s of statements) {
    const actions = asList(s.Action);
    const isTagAtCreation = json(s.Condition) === '{"StringEquals":{"ec2:CreateAction":"CreateImage"}}';
    const touches = actions.filter((a) => destructive.includes(a) || a === 'ec2:*' || (a === 'ec2:CreateTags' && !isTagAtCreation));
    if (touches.length === 0) continue;
    assert(ownStack(s), `${touches.join(', ')} (${s.Sid}) without the aws:ResourceTag/fleet-janitor:ami:stack-id condition: ${json(s.Condition)}`);
    assert(!asList(s.Resource).includes('*'), `${touches.join(', ')} (${s.Sid}) on *`);
  }
  assert(withAction(statements, 'ec2:StopInstances').length === 0, 'ec2:StopInstances granted although stopInstanceAfterImage is off');
  assert(withAction(statements, 'ec2:TerminateInstances').length === 0, 'ec2:TerminateInstances granted to AmiManager');
});

check('AmiManager: reports and alarms go to its topic', () => {
  const topic = refTo(onlyAmi()[1].Properties.TopicArn);
  const fn = onlyFunction('AmiManager');
  const publish = withAction(statementsOf(fn), 'sns:Publish');
  assert(publish.some((s) => asList(s.Resource).some((r) => refTo(r) === topic)), `no sns:Publish on ${topic}: ${json(publish)}`);
  const alarms = alarmsOn(fn);
  assert(alarms.length === 2, `expected 2 alarms on the AmiManager function (errors, throttles), found ${alarms.length}`);
  for (const [id, alarm] of alarms) {
    const actions = (alarm.Properties.AlarmActions ?? []).map(refTo);
    assert(actions.includes(topic), `${id} does not notify ${topic}: ${json(alarm.Properties.AlarmActions)}`);
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
