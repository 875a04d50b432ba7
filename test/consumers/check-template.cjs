#!/usr/bin/env node
/*
 * One set of checks for every language's consumer app: each app synthesizes the same stack
 * (see README.md beside this file) into a cloud assembly, and this script checks the template and
 * the handler assets there: the PackerCleaner `Cleaner` first, then the AmiManager `Ami` (its
 * custom resource, the stack's shared provider function and the provider framework around it),
 * then the TagPolicyEngine `Tags` (its rules custom resource, handler, creator capture rule,
 * schedule and IAM), then the InstanceDecommissioner `Decommissioner` (its snapshot table, event
 * queue and rule, event source mapping, reconcile schedule and IAM), then the EcsInstanceDrainer
 * `Drainer` (its handler, the termination hook on the cluster's Auto Scaling group, the lifecycle
 * and Spot rules, the state machine, IAM and alarms), then the ImageRetention `Retention` (its handler,
 * bundle and environment, the schedule, IAM on the stack's ECR repository, the consumer role and task
 * definitions, and alarms), and last the FleetJanitorDashboard `Dashboard` (a row per janitor, its graphs and
 * alarms). Usage: node check-template.cjs <language> <cdk.out dir> [stack name]
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
const { parseDashboardBody } = require('../helpers/dashboard-body.cjs');

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
// The provider framework's functions of one provider: those that call `handler` (the AmiManager's and
// the TagPolicyEngine's providers are two frameworks in the stack).
const frameworkFunctionOf = (name, handler) => frameworkFunction(name).filter((fn) => refTo(env(fn).USER_ON_EVENT_FUNCTION_ARN) === handler[0]);
// The schedules and the dead-letter queue of a janitor's function.
const schedulesOf = (fn) => ofType('AWS::Scheduler::Schedule').filter(([, s]) => refTo(s.Properties.Target.Arn) === fn[0]);
function queueOf(fn, service) {
  const queue = refTo(fn[1].Properties.DeadLetterConfig?.TargetArn);
  const queues = ofType('AWS::SQS::Queue').filter(([id]) => id === queue);
  assert(queues.length === 1, `${service} DeadLetterConfig is not a queue of the stack: ${json(fn[1].Properties.DeadLetterConfig)}`);
  return queues[0];
}

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
  const schedules = schedulesOf(onlyFunction('PackerCleaner'));
  assert(schedules.length === 1, `expected 1 AWS::Scheduler::Schedule of the PackerCleaner function, found ${schedules.length}`);
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

check('IAM: no inline policy on our roles (only aws-cdk-lib\'s: the provider frameworks\', the state machines\', the container instances\')', () => {
  const ours = ['PackerCleaner', 'AmiManager', 'TagPolicyEngine', 'InstanceDecommissioner', 'EcsInstanceDrainer', 'ImageRetention']
    .map((service) => roleOf(onlyFunction(service)));
  for (const schedule of ofType('AWS::Scheduler::Schedule')) ours.push(refTo(schedule[1].Properties.Target.RoleArn));
  for (const role of ours) {
    assert(role && ofType('AWS::IAM::Role').some(([id]) => id === role), `no AWS::IAM::Role ${role}`);
    const inline = attachedTo('AWS::IAM::Policy', role).map(([id]) => id);
    assert(inline.length === 0, `inline policies on ${role}: ${inline.join(', ')}`);
    const embedded = ofType('AWS::IAM::Role').find(([id]) => id === role)[1].Properties.Policies ?? [];
    assert(embedded.length === 0, `${role} has embedded Policies`);
  }
  // Whatever else has an inline policy must be one aws-cdk-lib writes: the provider framework's, a
  // state machine's (the drainer's is checked below), or the app's container instances' (the ECS
  // cluster grants its agent there).
  const frameworkRoles = new Set([...frameworkFunction('onEvent'), ...frameworkFunction('isComplete'), ...frameworkFunction('onTimeout')].map(roleOf));
  for (const sm of ofType('AWS::StepFunctions::StateMachine')) frameworkRoles.add(refTo(sm[1].Properties.RoleArn));
  for (const [, profile] of ofType('AWS::IAM::InstanceProfile')) for (const role of profile.Properties.Roles ?? []) frameworkRoles.add(refTo(role));
  for (const [id, policy] of ofType('AWS::IAM::Policy')) {
    const roles = (policy.Properties.Roles ?? []).map(refTo);
    assert(roles.every((r) => frameworkRoles.has(r)), `inline policy ${id} on ${roles.join(', ')}, not a provider framework role`);
  }
});

check('dead-letter queue: for the function and the schedule', () => {
  const fn = onlyFunction('PackerCleaner');
  const [queue] = queueOf(fn, 'PackerCleaner');
  const others = ['TagPolicyEngine', 'InstanceDecommissioner', 'EcsInstanceDrainer', 'ImageRetention']
    .map((service) => refTo(onlyFunction(service)[1].Properties.DeadLetterConfig?.TargetArn));
  assert(!others.includes(queue), `the PackerCleaner's queue ${queue} is another janitor's too`);
  const target = schedulesOf(fn)[0][1].Properties.Target;
  assert(refTo(target.DeadLetterConfig?.Arn) === queue, `schedule DeadLetterConfig: ${json(target.DeadLetterConfig)}`);
});

check('alarms notify the topic', () => {
  const fn = onlyFunction('PackerCleaner');
  const topic = refTo(env(fn).TOPIC_ARN);
  const queue = queueOf(fn, 'PackerCleaner');
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
  const onEvent = frameworkFunctionOf('onEvent', onlyFunction('AmiManager'));
  assert(onEvent.length === 1, `expected 1 provider framework onEvent function calling the AmiManager function, found ${onEvent.length}`);
  assert(refTo(r.Properties.ServiceToken) === onEvent[0][0], `${id}.ServiceToken is ${json(r.Properties.ServiceToken)}, not ${onEvent[0][0]}`);
});

check('AmiManager: the shared provider function runs nodejs24.x on arm64, index.handler', () => {
  checkRuntime(onlyFunction('AmiManager'), 'AmiManager');
});

let amiBundle;
check('AmiManager: handler asset is its own pre-built bundle, no TypeScript source', () => {
  const key = checkBundle(onlyFunction('AmiManager'), 'AmiManager');
  assert(key !== cleanerBundle, `AmiManager uses the PackerCleaner bundle ${key}`);
  amiBundle = key;
});

check('AmiManager: isComplete is the is-complete alias of the same function', () => {
  const handler = onlyFunction('AmiManager');
  const aliases = ofType('AWS::Lambda::Alias').filter(([, a]) => a.Properties.Name === 'is-complete');
  assert(aliases.length === 1, `expected 1 AWS::Lambda::Alias named is-complete, found ${aliases.length}`);
  const [aliasId, alias] = aliases[0];
  assert(refTo(alias.Properties.FunctionName) === handler[0], `the alias points at ${json(alias.Properties.FunctionName)}`);
  const framework = ['onEvent', 'isComplete', 'onTimeout'].map((name) => frameworkFunctionOf(name, handler));
  assert(framework.every((fns) => fns.length === 1), `expected 1 onEvent, isComplete and onTimeout framework function calling the AmiManager function, found ${framework.map((f) => f.length)}`);
  for (const fn of framework.flat()) {
    const target = env(fn).USER_IS_COMPLETE_FUNCTION_ARN;
    assert(refTo(target) === aliasId, `${fn[0]} USER_IS_COMPLETE_FUNCTION_ARN is ${json(target)}, not the alias`);
  }
});

check('AmiManager: the waiter state machine polls isComplete every 30 s for at most an hour, with logging', () => {
  // The provider framework's waiter: the state machine that invokes its isComplete function (the drainer has one too).
  const waiterOf = frameworkFunctionOf('isComplete', onlyFunction('AmiManager')).map(([fn]) => fn);
  const machines = ofType('AWS::StepFunctions::StateMachine').filter(([, sm]) => waiterOf.some((fn) => json(sm.Properties.DefinitionString).includes(`"${fn}"`)));
  assert(machines.length === 1, `expected 1 AWS::StepFunctions::StateMachine invoking the AmiManager framework's isComplete, found ${machines.length}`);
  const [id, sm] = machines[0];
  const definition = json(sm.Properties.DefinitionString);
  assert(definition.includes('\\"IntervalSeconds\\":30') && definition.includes('\\"MaxAttempts\\":120'), `${id} retries: ${definition.slice(0, 400)}`);
  const isComplete = frameworkFunctionOf('isComplete', onlyFunction('AmiManager'));
  const onTimeout = frameworkFunctionOf('onTimeout', onlyFunction('AmiManager'));
  assert(isComplete.length === 1 && definition.includes(`"${isComplete[0][0]}"`), `${id} does not invoke the framework isComplete function`);
  assert(onTimeout.length === 1 && definition.includes(`"${onTimeout[0][0]}"`), `${id} does not invoke the framework onTimeout function`);
  const logging = sm.Properties.LoggingConfiguration ?? {};
  assert(logging.Level === 'ALL' && (logging.Destinations ?? []).length === 1, `${id} LoggingConfiguration: ${json(logging)}`);
  assert(refTo(env(frameworkFunctionOf('onEvent', onlyFunction('AmiManager'))[0]).WAITER_STATE_MACHINE_ARN) === id, 'onEvent does not start this state machine');
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

// ---------- TagPolicyEngine `Tags`

const T = EXPECTED.tags;
// JSON with the keys of every object sorted: the items' attribute order is no part of the format.
const canonical = (v) => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
function onlyRules() {
  const rules = ofType('Custom::FleetJanitorTagRules');
  assert(rules.length === 1, `expected 1 Custom::FleetJanitorTagRules, found ${rules.length}`);
  return rules[0];
}
// The table a janitor's handler works on (its TABLE_NAME): the TagPolicyEngine's rules, the InstanceDecommissioner's snapshots.
function tableOf(service) {
  const id = refTo(env(onlyFunction(service)).TABLE_NAME);
  const tables = ofType('AWS::DynamoDB::Table').filter(([t]) => t === id);
  assert(tables.length === 1, `${service} TABLE_NAME is not a Ref to a table of the stack: ${json(env(onlyFunction(service)).TABLE_NAME)}`);
  return tables[0];
}
const onlyTable = () => tableOf('TagPolicyEngine');

check('TagPolicyEngine: a Custom::FleetJanitorTagRules whose Rules are the four rules in the seed\'s item format', () => {
  const [id, r] = onlyRules();
  const p = r.Properties;
  assert(typeof p.Rules === 'string', `${id}.Rules is not a JSON string: ${json(p.Rules)}`);
  const items = JSON.parse(p.Rules);
  assert(Array.isArray(items) && items.length === T.rules.length, `${id}.Rules has ${Array.isArray(items) ? items.length : json(items)} items, expected ${T.rules.length}`);
  T.rules.forEach((want, i) => assert(canonical(items[i]) === canonical(want), `${id}.Rules[${i}] is ${json(items[i])}, expected ${json(want)}`));
  assert(refTo(p.TableName) === onlyTable()[0], `${id}.TableName is ${json(p.TableName)}, not a Ref to the stack's table`);
  assert(json(p.Owner).includes('"AWS::StackName"') && json(p.Owner).includes('/ConsumerStack/Tags'), `${id}.Owner is ${json(p.Owner)}`);
  const extra = Object.keys(p).filter((k) => !['ServiceToken', 'TableName', 'Rules', 'Owner'].includes(k));
  assert(extra.length === 0, `${id} has unexpected properties: ${extra.join(', ')}`);
});

check('TagPolicyEngine: the rule table is keyed on RuleId (a string), on demand, with point-in-time recovery, and retained', () => {
  const [id, t] = onlyTable();
  const p = t.Properties;
  assert(json(p.KeySchema) === '[{"AttributeName":"RuleId","KeyType":"HASH"}]', `${id}.KeySchema is ${json(p.KeySchema)}`);
  assert(json(p.AttributeDefinitions) === '[{"AttributeName":"RuleId","AttributeType":"S"}]', `${id}.AttributeDefinitions is ${json(p.AttributeDefinitions)}`);
  assert(p.BillingMode === 'PAY_PER_REQUEST', `${id}.BillingMode is ${p.BillingMode}`);
  assert(p.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled === true, `${id}.PointInTimeRecoverySpecification is ${json(p.PointInTimeRecoverySpecification)}`);
  assert(t.DeletionPolicy === 'Retain' && t.UpdateReplacePolicy === 'Retain', `${id} DeletionPolicy ${t.DeletionPolicy}, UpdateReplacePolicy ${t.UpdateReplacePolicy}`);
});

check('TagPolicyEngine: the service token is its own provider framework\'s onEvent, which calls the handler (no waiter)', () => {
  const [id, r] = onlyRules();
  const handler = onlyFunction('TagPolicyEngine');
  const onEvent = frameworkFunctionOf('onEvent', handler);
  assert(onEvent.length === 1, `expected 1 provider framework onEvent function calling the TagPolicyEngine function, found ${onEvent.length}`);
  assert(refTo(r.Properties.ServiceToken) === onEvent[0][0], `${id}.ServiceToken is ${json(r.Properties.ServiceToken)}, not ${onEvent[0][0]}`);
  const waiter = Object.keys(env(onEvent[0])).filter((k) => k !== 'USER_ON_EVENT_FUNCTION_ARN');
  assert(waiter.length === 0, `the rules provider has more than onEvent: ${waiter.join(', ')}`);
  assert(frameworkFunctionOf('isComplete', handler).length === 0 && frameworkFunctionOf('onTimeout', handler).length === 0, 'the rules provider has an isComplete or onTimeout function');
});

check('TagPolicyEngine: the handler runs nodejs24.x on arm64, index.handler', () => {
  checkRuntime(onlyFunction('TagPolicyEngine'), 'TagPolicyEngine');
});

check('TagPolicyEngine: handler asset is its own pre-built bundle, no TypeScript source', () => {
  const key = checkBundle(onlyFunction('TagPolicyEngine'), 'TagPolicyEngine');
  assert(key !== cleanerBundle, `TagPolicyEngine uses the PackerCleaner bundle ${key}`);
  assert(key !== amiBundle, `TagPolicyEngine uses the AmiManager bundle ${key}`);
});

check('TagPolicyEngine environment: props reach the handler', () => {
  const e = env(onlyFunction('TagPolicyEngine'));
  assert(e.UNTAGGED_ACTION === T.untaggedAction, `UNTAGGED_ACTION=${e.UNTAGGED_ACTION}`);
  assert(e.GRACE_PERIOD_SECONDS === T.gracePeriodSeconds, `GRACE_PERIOD_SECONDS=${e.GRACE_PERIOD_SECONDS}`);
  assert(e.INSTANCE_SELECTOR === json(T.instanceSelector), `INSTANCE_SELECTOR=${e.INSTANCE_SELECTOR}`);
  onlyTable();
  assert(ofType('AWS::SNS::Topic').some(([t]) => t === refTo(e.TOPIC_ARN)), `TOPIC_ARN is not a Ref to a topic of the stack: ${json(e.TOPIC_ARN)}`);
  for (const [key, value] of Object.entries({ VPC_IDS: '[]', PROTECTION_TAG_KEY: 'fleet-janitor:protect', DRY_RUN: 'false', BACKFILL_CREATORS: 'true', PROPAGATE_TO_VOLUMES: 'false' })) {
    assert(e[key] === value, `${key}=${json(e[key])}, expected the default ${value}`);
  }
});

check('TagPolicyEngine: CloudTrail RunInstances events invoke the handler, with retries and the dead-letter queue', () => {
  const fn = onlyFunction('TagPolicyEngine');
  const rules = ofType('AWS::Events::Rule').filter(([, r]) => (r.Properties.Targets ?? []).some((t) => refTo(t.Arn) === fn[0]));
  assert(rules.length === 1, `expected 1 AWS::Events::Rule with the TagPolicyEngine function as target, found ${rules.length}`);
  const [id, rule] = rules[0];
  const want = { 'source': ['aws.ec2'], 'detail-type': ['AWS API Call via CloudTrail'], 'detail': { eventSource: ['ec2.amazonaws.com'], eventName: ['RunInstances'] } };
  assert(canonical(rule.Properties.EventPattern) === canonical(want), `${id}.EventPattern is ${json(rule.Properties.EventPattern)}`);
  assert((rule.Properties.State ?? 'ENABLED') === 'ENABLED', `${id}.State is ${rule.Properties.State}`);
  const targets = rule.Properties.Targets ?? [];
  assert(targets.length === 1 && refTo(targets[0].Arn) === fn[0], `${id} targets ${json(targets.map((t) => t.Arn))}, not the handler`);
  assert(refTo(targets[0].DeadLetterConfig?.Arn) === queueOf(fn, 'TagPolicyEngine')[0], `${id} target DeadLetterConfig: ${json(targets[0].DeadLetterConfig)}`);
  assert(targets[0].RetryPolicy?.MaximumRetryAttempts === 2, `${id} target RetryPolicy: ${json(targets[0].RetryPolicy)}`);
  const permissions = ofType('AWS::Lambda::Permission').filter(([, x]) => refTo(x.Properties.FunctionName) === fn[0] && refTo(x.Properties.SourceArn) === id);
  assert(permissions.length === 1 && permissions[0][1].Properties.Principal === 'events.amazonaws.com', `no lambda:InvokeFunction permission for ${id}`);
});

check('TagPolicyEngine: its schedule (default rate(1 hour)) starts the sweep, with the dead-letter queue', () => {
  const fn = onlyFunction('TagPolicyEngine');
  const schedules = schedulesOf(fn);
  assert(schedules.length === 1, `expected 1 AWS::Scheduler::Schedule of the TagPolicyEngine function, found ${schedules.length}`);
  const p = schedules[0][1].Properties;
  assert(p.ScheduleExpression === 'rate(1 hour)', `ScheduleExpression is ${p.ScheduleExpression}`);
  assert(refTo(p.Target.DeadLetterConfig?.Arn) === queueOf(fn, 'TagPolicyEngine')[0], `schedule DeadLetterConfig: ${json(p.Target.DeadLetterConfig)}`);
});

check('TagPolicyEngine IAM: tag, unmark and stop only unprotected, selected instances; stop only marked ones; nothing more', () => {
  const statements = statementsOf(onlyFunction('TagPolicyEngine'));
  const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));
  for (const sid of ['DescribeInstances', 'LookUpLaunches', 'RuleTable', 'TagInstances', 'UnmarkInstances', 'ActOnViolations']) {
    assert(bySid[sid], `no ${sid} statement (Sids: ${Object.keys(bySid).join(', ')})`);
  }
  assert(!bySid.TagAttachedResources, 'TagAttachedResources granted although propagateToVolumes is off');
  const selected = Object.fromEntries(Object.entries(T.instanceSelector).map(([k, v]) => [`ec2:ResourceTag/${k}`, v]));
  const unprotected = { 'ec2:ResourceTag/fleet-janitor:protect': 'true' };
  const onInstances = (s) => { const r = asList(s.Resource); return r.length === 1 && json(r[0]).endsWith(':instance/*"]]}'); };
  const act = bySid.ActOnViolations;
  assert(json(asList(act.Action)) === '["ec2:StopInstances"]', `ActOnViolations actions: ${json(act.Action)}`);
  assert(onInstances(act), `ActOnViolations on ${json(act.Resource)}`);
  const marked = { ...unprotected, 'ec2:ResourceTag/fleet-janitor:violation': 'false' };
  assert(canonical(act.Condition) === canonical({ Null: marked, StringEquals: selected }), `ActOnViolations conditions: ${json(act.Condition)}`);
  for (const sid of ['TagInstances', 'UnmarkInstances']) {
    const s = bySid[sid];
    assert(onInstances(s), `${sid} on ${json(s.Resource)}`);
    const c = s.Condition ?? {};
    assert(canonical(c.Null) === canonical(unprotected) && canonical(c.StringEquals) === canonical(selected), `${sid} conditions: ${json(c)}`);
  }
  assert(json(bySid.UnmarkInstances.Condition['ForAllValues:StringEquals']) === '{"aws:TagKeys":["fleet-janitor:violation"]}',
    `UnmarkInstances may remove more than the violation mark: ${json(bySid.UnmarkInstances.Condition)}`);
  assert(refTo(asList(bySid.RuleTable.Resource)[0]) === onlyTable()[0] && asList(bySid.RuleTable.Resource).length === 1, `RuleTable on ${json(bySid.RuleTable.Resource)}`);
  for (const action of ['ec2:StopInstances', 'ec2:CreateTags', 'ec2:DeleteTags']) {
    const granted = withAction(statements, action);
    assert(granted.length === 1, `${action} in ${granted.length} statements (${granted.map((s) => s.Sid).join(', ')})`);
  }
  assert(withAction(statements, 'ec2:TerminateInstances').length === 0, 'ec2:TerminateInstances granted although no action is TERMINATE');
  assert(!statements.some((s) => asList(s.Action).some((a) => a.endsWith(':*') || a === '*')), 'a wildcard action');
});

check('TagPolicyEngine: reports and alarms go to its topic', () => {
  const fn = onlyFunction('TagPolicyEngine');
  const topic = refTo(env(fn).TOPIC_ARN);
  const publish = withAction(statementsOf(fn), 'sns:Publish');
  assert(publish.some((s) => asList(s.Resource).some((r) => refTo(r) === topic)), `no sns:Publish on ${topic}: ${json(publish)}`);
  const queue = queueOf(fn, 'TagPolicyEngine');
  const onQueue = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => json(a.Properties.Dimensions ?? []).includes(`"${queue[0]}"`));
  const alarms = [...alarmsOn(fn), ...onQueue];
  assert(alarms.length === 3, `expected 3 TagPolicyEngine alarms (errors, throttles, dead letters), found ${alarms.length}`);
  for (const [id, alarm] of alarms) {
    const actions = (alarm.Properties.AlarmActions ?? []).map(refTo);
    assert(actions.includes(topic), `${id} does not notify ${topic}: ${json(alarm.Properties.AlarmActions)}`);
  }
});

// ---------- InstanceDecommissioner `Decommissioner`

const D = EXPECTED.decommissioner;
const decommissioner = () => onlyFunction('InstanceDecommissioner');
// The event queue: the one the event source mapping reads (the dead-letter queue is the function's DeadLetterConfig).
function onlyEventSource() {
  const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => refTo(m.Properties.FunctionName) === decommissioner()[0]);
  assert(mappings.length === 1, `expected 1 AWS::Lambda::EventSourceMapping of the InstanceDecommissioner function, found ${mappings.length}`);
  return mappings[0];
}
function eventQueue() {
  const id = refTo(onlyEventSource()[1].Properties.EventSourceArn);
  const queues = ofType('AWS::SQS::Queue').filter(([q]) => q === id);
  assert(queues.length === 1, `the event source mapping reads ${json(onlyEventSource()[1].Properties.EventSourceArn)}, not a queue of the stack`);
  return queues[0];
}
const zoneArn = `:route53:::hostedzone/${D.zone.id}`;
const onlyZone = (s) => { const r = asList(s.Resource); return r.length === 1 && json(r[0]).endsWith(`${zoneArn}"]]}`); };

check('InstanceDecommissioner: the handler runs nodejs24.x on arm64, index.handler', () => {
  checkRuntime(decommissioner(), 'InstanceDecommissioner');
});

check('InstanceDecommissioner: handler asset is its own pre-built bundle, no TypeScript source', () => {
  const key = checkBundle(decommissioner(), 'InstanceDecommissioner');
  const others = ['PackerCleaner', 'AmiManager', 'TagPolicyEngine', 'EcsInstanceDrainer'].map((service) => [service, onlyFunction(service)[1].Properties.Code.S3Key]);
  for (const [service, other] of others) assert(key !== other, `InstanceDecommissioner uses the ${service} bundle ${key}`);
});

check('InstanceDecommissioner environment: props reach the handler', () => {
  const e = env(decommissioner());
  const want = {
    HOSTED_ZONES: json([D.zone]),
    RECORD_NAME_TEMPLATES: json(D.recordNameTemplates),
    DELETE_ALARMS: D.deleteAlarms,
    HOOK_FUNCTIONS: json([D.hookArn]),
    INSTANCE_SELECTOR: json(D.instanceSelector),
    SNAPSHOT_RETENTION_SECONDS: D.snapshotRetentionSeconds,
    // The defaults.
    PROTECTION_TAG_KEY: 'fleet-janitor:protect',
    DRY_RUN: 'false',
    MAX_ACTIONS_PER_RUN: '100',
  };
  for (const [key, value] of Object.entries(want)) assert(e[key] === value, `${key}=${json(e[key])}, expected ${json(value)}`);
  tableOf('InstanceDecommissioner');
  assert(ofType('AWS::SNS::Topic').some(([t]) => t === refTo(e.TOPIC_ARN)), `TOPIC_ARN is not a Ref to a topic of the stack: ${json(e.TOPIC_ARN)}`);
  assert(json(e.EVENT_BUS).endsWith(':event-bus/default"]]}'), `EVENT_BUS is not the default bus's ARN: ${json(e.EVENT_BUS)}`);
});

check('InstanceDecommissioner: the snapshot table is keyed on InstanceId, on demand, PITR, encrypted, TTL on ExpiresAt, retained', () => {
  const [id, t] = tableOf('InstanceDecommissioner');
  assert(id !== onlyTable()[0], `the InstanceDecommissioner's table ${id} is the TagPolicyEngine's too`);
  const p = t.Properties;
  assert(json(p.KeySchema) === '[{"AttributeName":"InstanceId","KeyType":"HASH"}]', `${id}.KeySchema is ${json(p.KeySchema)}`);
  assert(json(p.AttributeDefinitions) === '[{"AttributeName":"InstanceId","AttributeType":"S"}]', `${id}.AttributeDefinitions is ${json(p.AttributeDefinitions)}`);
  assert(p.BillingMode === 'PAY_PER_REQUEST', `${id}.BillingMode is ${p.BillingMode}`);
  assert(p.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled === true, `${id}.PointInTimeRecoverySpecification is ${json(p.PointInTimeRecoverySpecification)}`);
  assert(p.SSESpecification?.SSEEnabled === true, `${id}.SSESpecification is ${json(p.SSESpecification)}`);
  assert(json(p.TimeToLiveSpecification) === '{"AttributeName":"ExpiresAt","Enabled":true}', `${id}.TimeToLiveSpecification is ${json(p.TimeToLiveSpecification)}`);
  assert(t.DeletionPolicy === 'Retain' && t.UpdateReplacePolicy === 'Retain', `${id} DeletionPolicy ${t.DeletionPolicy}, UpdateReplacePolicy ${t.UpdateReplacePolicy}`);
});

check('InstanceDecommissioner: the event queue is encrypted, TLS-only, kept 14 days, redriven to the dead-letter queue after 5 receives', () => {
  const fn = decommissioner();
  const [id, q] = eventQueue();
  const p = q.Properties;
  const [dlq] = queueOf(fn, 'InstanceDecommissioner');
  assert(id !== dlq, `the event queue ${id} is the dead-letter queue`);
  assert(p.SqsManagedSseEnabled === true || p.KmsMasterKeyId !== undefined, `${id} is not encrypted: ${json(p)}`);
  assert(p.MessageRetentionPeriod === 1209600, `${id}.MessageRetentionPeriod is ${p.MessageRetentionPeriod}`);
  assert(refTo(p.RedrivePolicy?.deadLetterTargetArn) === dlq && p.RedrivePolicy?.maxReceiveCount === 5, `${id}.RedrivePolicy is ${json(p.RedrivePolicy)}`);
  // AWS's guidance for a queue a function consumes: a visibility timeout of at least 6 times the function timeout.
  const timeout = fn[1].Properties.Timeout;
  assert(p.VisibilityTimeout >= 6 * timeout, `${id}.VisibilityTimeout is ${p.VisibilityTimeout}, below 6 x the function timeout ${timeout}`);
  const policies = ofType('AWS::SQS::QueuePolicy').filter(([, x]) => (x.Properties.Queues ?? []).some((r) => refTo(r) === id));
  const statements = policies.flatMap(([, x]) => asList(x.Properties.PolicyDocument.Statement));
  assert(statements.some((s) => s.Effect === 'Deny' && json(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}'), `${id} accepts requests without TLS`);
});

check('InstanceDecommissioner: EC2 state-change events go to the event queue, with the dead-letter queue', () => {
  const [queue] = eventQueue();
  const rules = ofType('AWS::Events::Rule').filter(([, r]) => (r.Properties.Targets ?? []).some((t) => refTo(t.Arn) === queue));
  assert(rules.length === 1, `expected 1 AWS::Events::Rule with the event queue as target, found ${rules.length}`);
  const [id, rule] = rules[0];
  const want = { 'source': ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'], 'detail': { state: ['running', 'shutting-down', 'terminated'] } };
  assert(canonical(rule.Properties.EventPattern) === canonical(want), `${id}.EventPattern is ${json(rule.Properties.EventPattern)}`);
  assert((rule.Properties.State ?? 'ENABLED') === 'ENABLED', `${id}.State is ${rule.Properties.State}`);
  const targets = rule.Properties.Targets;
  assert(targets.length === 1, `${id} has ${targets.length} targets`);
  assert(refTo(targets[0].DeadLetterConfig?.Arn) === queueOf(decommissioner(), 'InstanceDecommissioner')[0], `${id} target DeadLetterConfig: ${json(targets[0].DeadLetterConfig)}`);
  const policies = ofType('AWS::SQS::QueuePolicy').filter(([, x]) => (x.Properties.Queues ?? []).some((r) => refTo(r) === queue));
  const allow = policies.flatMap(([, x]) => asList(x.Properties.PolicyDocument.Statement))
    .filter((s) => s.Effect === 'Allow' && s.Principal?.Service === 'events.amazonaws.com' && asList(s.Action).includes('sqs:SendMessage'));
  assert(allow.length === 1 && refTo(allow[0].Condition?.ArnEquals?.['aws:SourceArn']) === id, `the queue policy does not let exactly ${id} send: ${json(allow)}`);
});

check('InstanceDecommissioner: the event source mapping feeds the handler batches of 10 with partial batch responses', () => {
  const [id, m] = onlyEventSource();
  const p = m.Properties;
  assert(json(p.FunctionResponseTypes) === '["ReportBatchItemFailures"]', `${id}.FunctionResponseTypes is ${json(p.FunctionResponseTypes)}`);
  assert(p.BatchSize === 10, `${id}.BatchSize is ${p.BatchSize}`);
  assert(p.ScalingConfig?.MaximumConcurrency === 2, `${id}.ScalingConfig is ${json(p.ScalingConfig)}`);
  assert((p.Enabled ?? true) === true, `${id}.Enabled is ${p.Enabled}`);
});

check('InstanceDecommissioner: its schedule (default rate(1 day)) starts the reconcile sweep, with the dead-letter queue', () => {
  const fn = decommissioner();
  const schedules = schedulesOf(fn);
  assert(schedules.length === 1, `expected 1 AWS::Scheduler::Schedule of the InstanceDecommissioner function, found ${schedules.length}`);
  const p = schedules[0][1].Properties;
  assert(p.ScheduleExpression === 'rate(1 day)', `ScheduleExpression is ${p.ScheduleExpression}`);
  assert(refTo(p.Target.DeadLetterConfig?.Arn) === queueOf(fn, 'InstanceDecommissioner')[0], `schedule DeadLetterConfig: ${json(p.Target.DeadLetterConfig)}`);
});

check('InstanceDecommissioner IAM: records of the given zone only, by DELETE and CREATE; alarms; the hook; the default bus; nothing more', () => {
  const fn = decommissioner();
  const statements = statementsOf(fn);
  const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));
  const expected = {
    DescribeInstances: ['ec2:DescribeInstances'],
    ConsumeEvents: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
    ReadRecords: ['route53:ListResourceRecordSets'],
    ChangeRecords: ['route53:ChangeResourceRecordSets'],
    FindAlarms: ['cloudwatch:DescribeAlarms'],
    DeleteAlarms: ['cloudwatch:DeleteAlarms'],
    InvokeHooks: ['lambda:InvokeFunction'],
    AnnounceDecommissions: ['events:PutEvents'],
  };
  for (const [sid, actions] of Object.entries(expected)) {
    assert(bySid[sid], `no ${sid} statement (Sids: ${Object.keys(bySid).join(', ')})`);
    assert(json([...asList(bySid[sid].Action)].sort()) === json([...actions].sort()), `${sid} actions: ${json(bySid[sid].Action)}`);
  }
  assert(refTo(asList(bySid.ConsumeEvents.Resource)[0]) === eventQueue()[0] && asList(bySid.ConsumeEvents.Resource).length === 1, `ConsumeEvents on ${json(bySid.ConsumeEvents.Resource)}`);
  for (const sid of ['ReadRecords', 'ChangeRecords']) assert(onlyZone(bySid[sid]), `${sid} on ${json(bySid[sid].Resource)}, not only ${zoneArn}`);
  assert(json(bySid.ChangeRecords.Condition) === '{"ForAllValues:StringEquals":{"route53:ChangeResourceRecordSetsActions":["DELETE","CREATE"]}}',
    `ChangeRecords may do more than DELETE and CREATE: ${json(bySid.ChangeRecords.Condition)}`);
  for (const sid of ['FindAlarms', 'DeleteAlarms']) assert(json(bySid[sid].Resource).endsWith(':alarm:*"]]}'), `${sid} on ${json(bySid[sid].Resource)}`);
  assert(json(bySid.InvokeHooks.Resource) === json(D.hookArn), `InvokeHooks on ${json(bySid.InvokeHooks.Resource)}, not only the hook`);
  assert(json(bySid.AnnounceDecommissions.Resource).endsWith(':event-bus/default"]]}'), `AnnounceDecommissions on ${json(bySid.AnnounceDecommissions.Resource)}`);
  const table = tableOf('InstanceDecommissioner')[0];
  const onTable = withAction(statements, 'dynamodb:PutItem');
  assert(onTable.length === 1 && asList(onTable[0].Resource).every((r) => refTo(r) === table), `dynamodb:PutItem on ${json(onTable.map((s) => s.Resource))}`);
  const ec2Writes = statements.flatMap((s) => asList(s.Action)).filter((a) => a.startsWith('ec2:') && a !== 'ec2:DescribeInstances');
  assert(ec2Writes.length === 0, `EC2 actions beyond DescribeInstances: ${ec2Writes.join(', ')}`);
  assert(!statements.some((s) => asList(s.Action).some((a) => a.endsWith(':*') || a === '*')), 'a wildcard action');
  const route53 = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('route53:')));
  assert(route53.every(onlyZone), `a route53 action beyond the given zone: ${json(route53.map((s) => s.Resource))}`);
});

check('InstanceDecommissioner: reports and alarms (errors, throttles, dead letters, oldest event) go to its topic', () => {
  const fn = decommissioner();
  const topic = refTo(env(fn).TOPIC_ARN);
  const publish = withAction(statementsOf(fn), 'sns:Publish');
  assert(publish.some((s) => asList(s.Resource).some((r) => refTo(r) === topic)), `no sns:Publish on ${topic}: ${json(publish)}`);
  const queues = [queueOf(fn, 'InstanceDecommissioner')[0], eventQueue()[0]];
  const onQueues = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => queues.some((q) => json(a.Properties.Dimensions ?? []).includes(`"${q}"`)));
  const alarms = [...alarmsOn(fn), ...onQueues];
  assert(alarms.length === 4, `expected 4 InstanceDecommissioner alarms (errors, throttles, dead letters, oldest event), found ${alarms.length}`);
  assert(onQueues.some(([, a]) => a.Properties.MetricName === 'ApproximateAgeOfOldestMessage'), 'no alarm on the age of the oldest event');
  for (const [id, alarm] of alarms) {
    const actions = (alarm.Properties.AlarmActions ?? []).map(refTo);
    assert(actions.includes(topic), `${id} does not notify ${topic}: ${json(alarm.Properties.AlarmActions)}`);
  }
});

// ---------- EcsInstanceDrainer `Drainer`

const R = EXPECTED.drainer;
const drainer = () => onlyFunction('EcsInstanceDrainer');
// Template ids named in a value (Refs and GetAtts anywhere in it).
const idsIn = (v) => [...json(v).matchAll(/\{"Ref":"([^"]+)"\}|\{"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1] ?? m[2]).filter((id) => !id.startsWith('AWS::'));
// The cluster and the Auto Scaling group the drainer works on: those its environment names.
function drainedCluster() {
  const clusters = ofType('AWS::ECS::Cluster').filter(([id]) => idsIn(env(drainer()).CLUSTER_ARN).includes(id));
  assert(clusters.length === 1, `CLUSTER_ARN is not an ECS cluster of the stack: ${json(env(drainer()).CLUSTER_ARN)}`);
  return clusters[0];
}
function drainedGroup() {
  const groups = ofType('AWS::AutoScaling::AutoScalingGroup').filter(([id]) => idsIn(env(drainer()).AUTO_SCALING_GROUPS).includes(id));
  assert(groups.length === 1, `AUTO_SCALING_GROUPS does not name exactly one group of the stack: ${json(env(drainer()).AUTO_SCALING_GROUPS)}`);
  return groups[0];
}
const terminationHooksOn = (group) => ofType('AWS::AutoScaling::LifecycleHook')
  .filter(([, h]) => refTo(h.Properties.AutoScalingGroupName) === group[0] && h.Properties.LifecycleTransition === 'autoscaling:EC2_INSTANCE_TERMINATING');
function drainStateMachine() {
  const name = json(env(drainer()).STATE_MACHINE_ARN);
  const machines = ofType('AWS::StepFunctions::StateMachine').filter(([, sm]) => typeof sm.Properties.StateMachineName === 'string'
    && name.endsWith(`:stateMachine:${sm.Properties.StateMachineName}"]]}`));
  assert(machines.length === 1, `STATE_MACHINE_ARN does not name a state machine of the stack: ${name}`);
  return machines[0];
}
const rulesTo = (fn) => ofType('AWS::Events::Rule').filter(([, r]) => (r.Properties.Targets ?? []).some((t) => refTo(t.Arn) === fn[0]));

check('EcsInstanceDrainer: the handler runs nodejs24.x on arm64, index.handler', () => {
  checkRuntime(drainer(), 'EcsInstanceDrainer');
});

check('EcsInstanceDrainer: handler asset is its own pre-built bundle, no TypeScript source', () => {
  const key = checkBundle(drainer(), 'EcsInstanceDrainer');
  for (const service of ['PackerCleaner', 'AmiManager', 'TagPolicyEngine', 'InstanceDecommissioner']) {
    assert(key !== onlyFunction(service)[1].Properties.Code.S3Key, `EcsInstanceDrainer uses the ${service} bundle ${key}`);
  }
});

check('EcsInstanceDrainer environment: props reach the handler; the cluster, the group and the stack\'s state machine', () => {
  const e = env(drainer());
  const want = {
    ON_TIMEOUT: R.onTimeout,
    MAX_DRAIN_SECONDS: R.maxDrainSeconds,
    HEARTBEAT_TIMEOUT_SECONDS: R.heartbeatTimeoutSeconds,
    STOP_STANDALONE_AFTER_SECONDS: R.stopStandaloneAfterSeconds,
    NOTIFY_ON_EVERY_DRAIN: R.notifyOnEveryDrain,
    // The defaults.
    POLL_INTERVAL_SECONDS: '10',
    SPOT_INTERRUPTIONS: 'true',
    DRY_RUN: 'false',
  };
  for (const [key, value] of Object.entries(want)) assert(e[key] === value, `${key}=${json(e[key])}, expected ${json(value)}`);
  assert(json(e.CLUSTER_ARN) === json({ 'Fn::GetAtt': [drainedCluster()[0], 'Arn'] }), `CLUSTER_ARN is ${json(e.CLUSTER_ARN)}`);
  assert(json(e.AUTO_SCALING_GROUPS) === json({ 'Fn::Join': ['', ['["', { Ref: drainedGroup()[0] }, '"]']] }), `AUTO_SCALING_GROUPS is ${json(e.AUTO_SCALING_GROUPS)}`);
  const [, sm] = drainStateMachine();
  assert(json(e.STATE_MACHINE_ARN).includes(':states:') && sm.Properties.StateMachineName.startsWith('ConsumerStack-Drainer-'), `STATE_MACHINE_ARN is ${json(e.STATE_MACHINE_ARN)}`);
  assert(ofType('AWS::SNS::Topic').some(([t]) => t === refTo(e.TOPIC_ARN)), `TOPIC_ARN is not a Ref to a topic of the stack: ${json(e.TOPIC_ARN)}`);
});

check('EcsInstanceDrainer: the group is the cluster\'s capacity provider\'s, without ECS managed draining', () => {
  const [groupId] = drainedGroup();
  const providers = ofType('AWS::ECS::CapacityProvider').filter(([, c]) => refTo(c.Properties.AutoScalingGroupProvider?.AutoScalingGroupArn) === groupId);
  assert(providers.length === 1, `expected 1 AWS::ECS::CapacityProvider of the group ${groupId}, found ${providers.length}`);
  const [providerId, provider] = providers[0];
  assert(provider.Properties.AutoScalingGroupProvider.ManagedDraining === 'DISABLED', `${providerId}.ManagedDraining is ${provider.Properties.AutoScalingGroupProvider.ManagedDraining}`);
  const associations = ofType('AWS::ECS::ClusterCapacityProviderAssociations')
    .filter(([, a]) => refTo(a.Properties.Cluster) === drainedCluster()[0] && (a.Properties.CapacityProviders ?? []).some((c) => refTo(c) === providerId));
  assert(associations.length === 1, `${providerId} is not associated with the cluster ${drainedCluster()[0]}`);
});

check('EcsInstanceDrainer: one termination hook on the group, the drainer\'s (heartbeat timeout, CONTINUE); no aws-cdk-lib drain hook', () => {
  const group = drainedGroup();
  const hooks = terminationHooksOn(group);
  assert(hooks.length === 1, `expected 1 termination lifecycle hook on ${group[0]}, found ${hooks.length}: ${hooks.map(([id]) => id).join(', ')}`);
  const [id, hook] = hooks[0];
  const p = hook.Properties;
  assert(p.HeartbeatTimeout === Number(R.heartbeatTimeoutSeconds), `${id}.HeartbeatTimeout is ${p.HeartbeatTimeout}, expected ${R.heartbeatTimeoutSeconds}`);
  assert(p.DefaultResult === 'CONTINUE', `${id}.DefaultResult is ${p.DefaultResult}`);
  // The drainer's hook notifies EventBridge (no SNS/SQS target, no role); aws-cdk-lib's drain hook has a topic and a function.
  assert(p.NotificationTargetARN === undefined && p.RoleARN === undefined, `${id} has a notification target: ${json(p.NotificationTargetARN)}`);
  const drainHooks = ofType('AWS::Lambda::Function').filter(([, f]) => json(f.Properties.Code?.ZipFile ?? '').includes('DRAINING'));
  assert(drainHooks.length === 0, `aws-cdk-lib's drain hook function: ${drainHooks.map(([fid]) => fid).join(', ')}`);
});

check('EcsInstanceDrainer: the group\'s termination events and Spot warnings invoke the handler, with the dead-letter queue', () => {
  const fn = drainer();
  const group = drainedGroup();
  const [hookId] = terminationHooksOn(group)[0] ?? [];
  const dlq = queueOf(fn, 'EcsInstanceDrainer')[0];
  const rules = rulesTo(fn);
  assert(rules.length === 2, `expected 2 AWS::Events::Rule with the EcsInstanceDrainer function as target (lifecycle, Spot), found ${rules.length}`);
  const lifecycle = { 'source': ['aws.autoscaling'], 'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
    'detail': { AutoScalingGroupName: [{ Ref: group[0] }], LifecycleHookName: [{ Ref: hookId }] } };
  const spot = { 'source': ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] };
  for (const want of [lifecycle, spot]) {
    const matching = rules.filter(([, r]) => canonical(r.Properties.EventPattern) === canonical(want));
    assert(matching.length === 1, `no rule with the pattern ${json(want)}: ${rules.map(([, r]) => json(r.Properties.EventPattern)).join('; ')}`);
    const [id, rule] = matching[0];
    assert((rule.Properties.State ?? 'ENABLED') === 'ENABLED', `${id}.State is ${rule.Properties.State}`);
    const targets = rule.Properties.Targets;
    assert(targets.length === 1 && refTo(targets[0].Arn) === fn[0], `${id} targets ${json(targets.map((t) => t.Arn))}, not only the handler`);
    assert(refTo(targets[0].DeadLetterConfig?.Arn) === dlq, `${id} target DeadLetterConfig: ${json(targets[0].DeadLetterConfig)}`);
    const permissions = ofType('AWS::Lambda::Permission').filter(([, x]) => refTo(x.Properties.FunctionName) === fn[0] && refTo(x.Properties.SourceArn) === id);
    assert(permissions.length === 1 && permissions[0][1].Properties.Principal === 'events.amazonaws.com', `no lambda:InvokeFunction permission for ${id}`);
  }
});

check('EcsInstanceDrainer: a STANDARD state machine with tracing, logging ALL to its own log group, invoking the handler', () => {
  const [id, sm] = drainStateMachine();
  const p = sm.Properties;
  assert(p.StateMachineType === 'STANDARD', `${id}.StateMachineType is ${p.StateMachineType}`);
  assert(p.TracingConfiguration?.Enabled === true, `${id}.TracingConfiguration is ${json(p.TracingConfiguration)}`);
  const logging = p.LoggingConfiguration ?? {};
  assert(logging.Level === 'ALL' && (logging.Destinations ?? []).length === 1, `${id}.LoggingConfiguration is ${json(logging)}`);
  const logGroup = refTo(logging.Destinations[0].CloudWatchLogsLogGroup?.LogGroupArn);
  assert(ofType('AWS::Logs::LogGroup').some(([g]) => g === logGroup), `${id} logs to ${json(logging.Destinations)}, not a log group of the stack`);
  assert(logGroup !== refTo(drainer()[1].Properties.LoggingConfig?.LogGroup), `${id} logs to the handler's log group ${logGroup}`);
  const others = ofType('AWS::StepFunctions::StateMachine').filter(([other]) => other !== id)
    .flatMap(([, o]) => (o.Properties.LoggingConfiguration?.Destinations ?? []).map((d) => refTo(d.CloudWatchLogsLogGroup?.LogGroupArn)));
  assert(!others.includes(logGroup), `${id}'s log group ${logGroup} is another state machine's too`);
  assert(json(p.DefinitionString).includes(`{"Fn::GetAtt":["${drainer()[0]}","Arn"]}`), `${id} does not invoke the handler ${drainer()[0]}`);
  // Its role: invoke only the handler, start only its own executions, plus log delivery and X-Ray.
  const role = refTo(p.RoleArn);
  const statements = attachedTo('AWS::IAM::Policy', role).flatMap(([, x]) => asList(x.Properties.PolicyDocument.Statement));
  for (const s of statements) {
    const actions = asList(s.Action);
    if (actions.includes('lambda:InvokeFunction')) assert(asList(s.Resource).every((r) => idsIn(r).length === 1 && idsIn(r)[0] === drainer()[0]), `${role} invokes ${json(s.Resource)}`);
    else if (actions.includes('states:StartExecution')) assert(json(s.Resource) === json(env(drainer()).STATE_MACHINE_ARN), `${role} starts ${json(s.Resource)}`);
    else assert(actions.every((a) => a.startsWith('logs:') || a.startsWith('xray:')), `${role} may ${actions.join(', ')}`);
  }
});

check('EcsInstanceDrainer IAM: ECS actions only in the cluster (StopTask for stopStandaloneTasksAfter); lifecycle actions on the group; its executions; nothing more', () => {
  const fn = drainer();
  const statements = statementsOf(fn);
  const [clusterId] = drainedCluster();
  const inCluster = json({ ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } } });
  const stop = withAction(statements, 'ecs:StopTask');
  assert(stop.length === 1, `ecs:StopTask in ${stop.length} statements, expected 1 (stopStandaloneTasksAfter is set)`);
  assert(json(stop[0].Resource).includes(':task/",{"Ref":"' + clusterId + '"},"/*"'), `ecs:StopTask on ${json(stop[0].Resource)}`);
  for (const s of statements.filter((x) => asList(x.Action).some((a) => a.startsWith('ecs:')))) {
    if (json(asList(s.Action)) === '["ecs:ListContainerInstances"]') {
      assert(json(s.Resource) === json({ 'Fn::GetAtt': [clusterId, 'Arn'] }), `ecs:ListContainerInstances on ${json(s.Resource)}`);
      continue;
    }
    assert(json(s.Condition) === inCluster, `${asList(s.Action).join(', ')} (${s.Sid}) without the ecs:cluster condition: ${json(s.Condition)}`);
  }
  assert(withAction(statements, 'ecs:UpdateContainerInstancesState').length === 1, 'ecs:UpdateContainerInstancesState is not granted although dryRun is off');
  const [groupId] = drainedGroup();
  const lifecycle = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('autoscaling:') && a !== 'autoscaling:DescribeAutoScalingInstances'));
  assert(lifecycle.length === 1, `expected 1 statement with lifecycle actions, found ${lifecycle.length}`);
  assert(json([...asList(lifecycle[0].Action)].sort()) === '["autoscaling:CompleteLifecycleAction","autoscaling:RecordLifecycleActionHeartbeat"]', `lifecycle actions: ${json(lifecycle[0].Action)}`);
  assert(json(lifecycle[0].Resource).endsWith(`:autoScalingGroup:*:autoScalingGroupName/",{"Ref":"${groupId}"}]]}`), `lifecycle actions on ${json(lifecycle[0].Resource)}`);
  const start = withAction(statements, 'states:StartExecution');
  assert(start.length === 1 && json(start[0].Resource) === json(env(fn).STATE_MACHINE_ARN), `states:StartExecution on ${json(start.map((s) => s.Resource))}`);
  const onAll = statements.filter((s) => asList(s.Resource).includes('*'));
  // On *: only what has no resource-level permissions (the Spot warning's group lookup, X-Ray tracing).
  const unscoped = onAll.flatMap((s) => asList(s.Action)).filter((a) => a !== 'autoscaling:DescribeAutoScalingInstances' && !a.startsWith('xray:'));
  assert(unscoped.length === 0, `on *: ${unscoped.join(', ')}`);
  assert(!statements.some((s) => asList(s.Action).some((a) => a.endsWith(':*') || a === '*')), 'a wildcard action');
  assert(statements.flatMap((s) => asList(s.Action)).every((a) => !a.startsWith('ec2:')), 'an EC2 action');
});

check('EcsInstanceDrainer: reports and alarms (errors, throttles, dead letters, executions) go to its topic', () => {
  const fn = drainer();
  const topic = refTo(env(fn).TOPIC_ARN);
  const publish = withAction(statementsOf(fn), 'sns:Publish');
  assert(publish.some((s) => asList(s.Resource).some((r) => refTo(r) === topic)), `no sns:Publish on ${topic}: ${json(publish)}`);
  const queue = queueOf(fn, 'EcsInstanceDrainer')[0];
  const [machine] = drainStateMachine();
  const onQueue = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => json(a.Properties.Dimensions ?? []).includes(`"${queue}"`));
  const onExecutions = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => json(a.Properties.Metrics ?? []).includes(`{"Ref":"${machine}"}`));
  const alarms = [...alarmsOn(fn), ...onQueue, ...onExecutions];
  assert(alarms.length === 4, `expected 4 EcsInstanceDrainer alarms (errors, throttles, dead letters, executions), found ${alarms.length}`);
  const metrics = json(onExecutions.map(([, a]) => a.Properties.Metrics));
  for (const name of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) assert(metrics.includes(`"${name}"`), `the execution alarm does not count ${name}`);
  for (const [id, alarm] of alarms) {
    const actions = (alarm.Properties.AlarmActions ?? []).map(refTo);
    assert(actions.includes(topic), `${id} does not notify ${topic}: ${json(alarm.Properties.AlarmActions)}`);
  }
});

// ---------- ImageRetention `Retention`

const I = EXPECTED.retention;
const retention = () => onlyFunction('ImageRetention');
// The repository the retention works on: the one of the stack named I.repositoryName.
function retainedRepository() {
  const repositories = ofType('AWS::ECR::Repository').filter(([, r]) => r.Properties.RepositoryName === I.repositoryName);
  assert(repositories.length === 1, `expected 1 AWS::ECR::Repository named ${I.repositoryName}, found ${repositories.length}`);
  return repositories[0];
}
const repositoryArn = () => json({ 'Fn::GetAtt': [retainedRepository()[0], 'Arn'] });
const anyRevision = ':task-definition/*"]]}';
const unprotectedOnly = '{"Null":{"aws:ResourceTag/fleet-janitor:protect":"true"}}';
// What the handler reads to find the images in use (read-only; on *: the listings name no resource).
const USAGE_READS = ['ecs:ListClusters', 'ecs:ListServices', 'ecs:DescribeServices', 'ecs:DescribeServiceRevisions', 'ecs:ListTasks', 'ecs:DescribeTasks', 'ecs:DescribeTaskDefinition',
  'events:ListEventBuses', 'events:ListRules', 'events:ListTargetsByRule', 'scheduler:ListSchedules', 'scheduler:GetSchedule',
  'lambda:ListFunctions', 'lambda:GetFunction'];
const sorted = (v) => json([...asList(v)].sort());
const retentionSids = () => Object.fromEntries(statementsOf(retention()).filter((s) => s.Sid).map((s) => [s.Sid, s]));

check('ImageRetention: the handler runs nodejs24.x on arm64, index.handler', () => {
  checkRuntime(retention(), 'ImageRetention');
});

check('ImageRetention: handler asset is its own pre-built bundle (image-retention), no TypeScript source', () => {
  const fn = retention();
  const key = checkBundle(fn, 'ImageRetention');
  for (const service of ['PackerCleaner', 'AmiManager', 'TagPolicyEngine', 'InstanceDecommissioner', 'EcsInstanceDrainer']) {
    assert(key !== onlyFunction(service)[1].Properties.Code.S3Key, `ImageRetention uses the ${service} bundle ${key}`);
  }
  // The image-retention bundle: the one that assumes the consumer roles under this session name.
  const code = fs.readFileSync(path.join(outdir, `asset.${key.replace('.zip', '')}`, 'index.js'), 'utf8');
  assert(code.includes('cdk-fleet-janitor-image-retention') && code.includes('CONSUMER_ACCOUNT_ROLES'), `${key} is not the image-retention bundle`);
});

check('ImageRetention environment: props reach the handler; the repository by reference; the defaults; nothing more', () => {
  const e = env(retention());
  const want = {
    KEEP_NEWEST: I.keepNewest,
    MIN_AGE_SECONDS: I.minAgeSeconds,
    KEEP_TAG_PATTERNS: json(I.keepTagPatterns),
    PINNED_IMAGES: json(I.pinnedImages),
    CONSUMER_ACCOUNT_ROLES: json(I.consumerAccountRoles),
    ACTION: I.action,
    TASK_DEFINITIONS: json(I.taskDefinitions),
    // The defaults.
    PROTECTION_TAG_KEY: 'fleet-janitor:protect',
    DRY_RUN: 'false',
    MAX_ACTIONS_PER_RUN: '100',
    // The runtime's.
    NODE_OPTIONS: '--enable-source-maps',
    POWERTOOLS_SERVICE_NAME: 'ImageRetention',
    POWERTOOLS_METRICS_NAMESPACE: 'CdkFleetJanitor',
  };
  for (const [key, value] of Object.entries(want)) assert(e[key] === value, `${key}=${json(e[key])}, expected ${json(value)}`);
  const [repository] = retainedRepository();
  assert(json(e.REPOSITORIES) === json({ 'Fn::Join': ['', ['["', { Ref: repository }, '"]']] }), `REPOSITORIES is ${json(e.REPOSITORIES)}, not the list of ${repository}`);
  assert(ofType('AWS::SNS::Topic').some(([t]) => t === refTo(e.TOPIC_ARN)), `TOPIC_ARN is not a Ref to a topic of the stack: ${json(e.TOPIC_ARN)}`);
  const extra = Object.keys(e).filter((k) => !(k in want) && k !== 'REPOSITORIES' && k !== 'TOPIC_ARN');
  assert(extra.length === 0, `unexpected environment variables: ${extra.join(', ')}`);
});

check(`ImageRetention: its schedule (${I.scheduleExpression}) starts the sweep, with its own dead-letter queue`, () => {
  const fn = retention();
  const schedules = schedulesOf(fn);
  assert(schedules.length === 1, `expected 1 AWS::Scheduler::Schedule of the ImageRetention function, found ${schedules.length}`);
  const p = schedules[0][1].Properties;
  assert(p.ScheduleExpression === I.scheduleExpression, `ScheduleExpression is ${p.ScheduleExpression}, expected ${I.scheduleExpression}`);
  assert((p.State ?? 'ENABLED') === 'ENABLED', `the schedule's State is ${p.State}`);
  const [queue] = queueOf(fn, 'ImageRetention');
  assert(refTo(p.Target.DeadLetterConfig?.Arn) === queue, `schedule DeadLetterConfig: ${json(p.Target.DeadLetterConfig)}`);
  const others = ['PackerCleaner', 'TagPolicyEngine', 'InstanceDecommissioner', 'EcsInstanceDrainer'].map((service) => refTo(onlyFunction(service)[1].Properties.DeadLetterConfig?.TargetArn));
  assert(!others.includes(queue), `the ImageRetention's queue ${queue} is another janitor's too`);
});

check('ImageRetention IAM: reads and BatchDeleteImage on the repository only, BatchDeleteImage without the protection tag; no registry-wide listing', () => {
  const statements = statementsOf(retention());
  const bySid = retentionSids();
  const read = bySid.ReadRepositories;
  assert(read, `no ReadRepositories statement (Sids: ${Object.keys(bySid).join(', ')})`);
  assert(sorted(read.Action) === sorted(['ecr:DescribeImages', 'ecr:BatchGetImage', 'ecr:ListTagsForResource', 'ecr:GetRepositoryPolicy', 'ecr:DescribeRepositories']),
    `ReadRepositories actions: ${json(read.Action)}`);
  assert(json(read.Resource) === repositoryArn(), `ReadRepositories on ${json(read.Resource)}, not only ${repositoryArn()}`);
  const del = withAction(statements, 'ecr:BatchDeleteImage');
  assert(del.length === 1, `ecr:BatchDeleteImage in ${del.length} statements, expected 1 (action is DELETE, no dry run)`);
  assert(json(asList(del[0].Action)) === '["ecr:BatchDeleteImage"]', `${del[0].Sid} also allows ${json(del[0].Action)}`);
  assert(json(del[0].Resource) === repositoryArn(), `ecr:BatchDeleteImage on ${json(del[0].Resource)}, not only ${repositoryArn()}`);
  assert(json(del[0].Condition) === unprotectedOnly, `ecr:BatchDeleteImage without the protection-tag Null condition: ${json(del[0].Condition)}`);
  assert(!bySid.ListRepositories, 'ListRepositories granted although the repositories are given');
  const ecr = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('ecr:')));
  assert(ecr.every((s) => json(s.Resource) === repositoryArn()), `an ECR action beyond the repository: ${json(ecr.map((s) => s.Resource))}`);
});

check('ImageRetention IAM: sts:AssumeRole on the consumer account\'s reader role only; the usage reads on *, read-only', () => {
  const statements = statementsOf(retention());
  const assume = withAction(statements, 'sts:AssumeRole');
  assert(assume.length === 1 && assume[0].Sid === 'ReadConsumerAccounts', `sts:AssumeRole in ${assume.length} statements (${assume.map((s) => s.Sid).join(', ')})`);
  assert(json(asList(assume[0].Action)) === '["sts:AssumeRole"]', `ReadConsumerAccounts actions: ${json(assume[0].Action)}`);
  assert(json(asList(assume[0].Resource)) === json(I.consumerAccountRoles), `sts:AssumeRole on ${json(assume[0].Resource)}, expected ${json(I.consumerAccountRoles)}`);
  const usage = retentionSids().ReadImageUsage;
  assert(usage, 'no ReadImageUsage statement');
  assert(sorted(usage.Action) === sorted(USAGE_READS), `ReadImageUsage actions: ${json(usage.Action)}`);
  assert(json(usage.Resource) === '"*"' && usage.Condition === undefined, `ReadImageUsage on ${json(usage.Resource)} with ${json(usage.Condition)}`);
});

check('ImageRetention IAM: task definitions listed, their tags read, deregistered, and deleted only without the protection tag; nothing more', () => {
  const statements = statementsOf(retention());
  const bySid = retentionSids();
  const want = {
    ListTaskDefinitions: [['ecs:ListTaskDefinitions'], '"*"'],
    ReadTaskDefinitionTags: [['ecs:ListTagsForResource'], anyRevision],
    DeregisterTaskDefinitions: [['ecs:DeregisterTaskDefinition'], '"*"'],
    DeleteTaskDefinitions: [['ecs:DeleteTaskDefinitions'], anyRevision],
  };
  for (const [sid, [actions, resource]] of Object.entries(want)) {
    const s = bySid[sid];
    assert(s, `no ${sid} statement (Sids: ${Object.keys(bySid).join(', ')})`);
    assert(sorted(s.Action) === sorted(actions), `${sid} actions: ${json(s.Action)}`);
    assert(json(s.Resource).endsWith(resource), `${sid} on ${json(s.Resource)}`);
  }
  assert(json(bySid.DeleteTaskDefinitions.Condition) === unprotectedOnly, `DeleteTaskDefinitions conditions: ${json(bySid.DeleteTaskDefinitions.Condition)}`);
  for (const action of ['ecs:DeregisterTaskDefinition', 'ecs:DeleteTaskDefinitions']) {
    assert(withAction(statements, action).length === 1, `${action} in ${withAction(statements, action).length} statements`);
  }
  // Nothing more: the construct's statements above, its reports, and the runtime's (logs, X-Ray, dead-letter queue).
  const known = new Set(['ReadRepositories', 'DeleteImages', 'ReadImageUsage', 'ReadConsumerAccounts', ...Object.keys(want),
    'PublishReports', 'EncryptReports', 'WriteOwnLogs', 'Tracing', 'DeadLetterQueue']);
  const unknown = statements.filter((s) => !known.has(s.Sid)).map((s) => `${s.Sid}: ${json(s.Action)}`);
  assert(unknown.length === 0, `unexpected statements: ${unknown.join('; ')}`);
  const onAll = statements.filter((s) => asList(s.Resource).includes('*')).flatMap((s) => asList(s.Action))
    .filter((a) => !USAGE_READS.includes(a) && !['ecs:ListTaskDefinitions', 'ecs:DeregisterTaskDefinition'].includes(a) && !a.startsWith('xray:'));
  assert(onAll.length === 0, `on *: ${onAll.join(', ')}`);
  assert(!statements.some((s) => asList(s.Action).some((a) => a.endsWith(':*') || a === '*')), 'a wildcard action');
  assert(statements.flatMap((s) => asList(s.Action)).every((a) => !a.startsWith('ec2:') && !a.startsWith('iam:')), 'an EC2 or IAM action');
});

check('ImageRetention: reports and alarms (errors, throttles, dead letters) go to its topic', () => {
  const fn = retention();
  const topic = refTo(env(fn).TOPIC_ARN);
  const publish = withAction(statementsOf(fn), 'sns:Publish');
  assert(publish.length === 1 && json(asList(publish[0].Resource)) === json([{ Ref: topic }]), `sns:Publish on ${json(publish.map((s) => s.Resource))}, not only ${topic}`);
  const topicKey = refTo(ofType('AWS::SNS::Topic').find(([t]) => t === topic)?.[1].Properties.KmsMasterKeyId);
  const encrypt = withAction(statementsOf(fn), 'kms:GenerateDataKey');
  assert(topicKey && encrypt.length === 1 && refTo(asList(encrypt[0].Resource)[0]) === topicKey, `kms:GenerateDataKey on ${json(encrypt.map((s) => s.Resource))}, not the topic's key ${topicKey}`);
  const queue = queueOf(fn, 'ImageRetention')[0];
  const onQueue = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => json(a.Properties.Dimensions ?? []).includes(`"${queue}"`));
  const alarms = [...alarmsOn(fn), ...onQueue];
  assert(alarms.length === 3, `expected 3 ImageRetention alarms (errors, throttles, dead letters), found ${alarms.length}`);
  const metrics = alarms.map(([, a]) => a.Properties.MetricName).sort();
  assert(json(metrics) === '["ApproximateNumberOfMessagesVisible","Errors","Throttles"]', `the alarms watch ${json(metrics)}`);
  for (const [id, alarm] of alarms) {
    const actions = (alarm.Properties.AlarmActions ?? []).map(refTo);
    assert(actions.includes(topic), `${id} does not notify ${topic}: ${json(alarm.Properties.AlarmActions)}`);
  }
});

// ---------- FleetJanitorDashboard `Dashboard`

const B = EXPECTED.dashboard;
const ROW = ['text', 'metric', 'metric', 'alarm'];
let rows;
check(`FleetJanitorDashboard: one dashboard named ${B.name}, a row per janitor in the order given (the last added by addJanitor)`, () => {
  const dashboards = ofType('AWS::CloudWatch::Dashboard');
  assert(dashboards.length === 1, `expected 1 dashboard, found ${dashboards.length}`);
  const [id, d] = dashboards[0];
  assert(d.Properties.DashboardName === B.name, `${id}.DashboardName is ${json(d.Properties.DashboardName)}`);
  // Each reference in the body becomes "<Ref:Id>" or "<Id.Attr>".
  const widgets = parseDashboardBody(d.Properties.DashboardBody).widgets;
  const types = widgets.map((w) => w.type);
  assert(json(types) === json(B.rows.flatMap(() => ROW)), `widget types ${json(types)}`);
  // The rows by position, so that the checks below still look at each janitor's graphs when a header is wrong.
  rows = B.rows.map((row, i) => ({ name: row[0], widgets: widgets.slice(i * ROW.length + 1, (i + 1) * ROW.length) }));
  const headers = widgets.filter((w) => w.type === 'text').map((w) => w.properties.markdown);
  const want = B.rows.map(([name, cid]) => `### ${name} \`${stackName}/${cid}\``);
  assert(json(headers) === json(want), `rows ${json(headers)}, expected ${json(want)}`);
});

check(`FleetJanitorDashboard: each row graphs its own janitor's run metrics and handler, every graph at ${B.periodSeconds} s`, () => {
  assert(rows, 'no rows');
  const RUN = ['ResourcesScanned', 'ActionsTaken', 'ActionsFailed', 'SkippedProtected', 'SkippedCap'];
  for (const { name, widgets: [run, handler] } of rows) {
    const fn = `<Ref:${onlyFunction(name)[0]}>`;
    const metrics = [...run.properties.metrics, ...handler.properties.metrics];
    const periods = [...new Set(metrics.map((m) => m[m.length - 1].period))];
    assert(json(periods) === json([B.periodSeconds]), `${name}: periods ${json(periods)}`);
    const runMetrics = run.properties.metrics.map((m) => json(m.slice(0, -1)));
    const wantRun = RUN.map((metric) => json(['CdkFleetJanitor', metric, 'FunctionName', fn, 'service', name]));
    assert(json(runMetrics) === json(wantRun), `${name} run metrics ${runMetrics.join(' ')}`);
    const handlerMetrics = handler.properties.metrics.map((m) => json(m.slice(0, -1)));
    const wantHandler = ['Errors', 'Throttles', 'Duration'].map((metric) => json(['AWS/Lambda', metric, 'FunctionName', fn]));
    assert(json(handlerMetrics) === json(wantHandler), `${name} handler metrics ${handlerMetrics.join(' ')}`);
  }
});

check('FleetJanitorDashboard: each row\'s alarm widget shows every alarm of its janitor (those on its topic) and no other', () => {
  assert(rows, 'no rows');
  const alarms = ofType('AWS::CloudWatch::Alarm');
  const topicsOf = (ids) => [...new Set(alarms.filter(([id]) => ids.includes(id)).flatMap(([, a]) => (a.Properties.AlarmActions ?? []).map(refTo)))];
  const topics = new Set();
  for (const { name, widgets: [, , widget] } of rows) {
    const shown = widget.properties.alarms.map((a) => /^<(.+)\.Arn>$/.exec(a)?.[1]);
    const [topic, ...more] = topicsOf(shown);
    assert(topic && more.length === 0, `${name}: the alarms shown (${json(shown)}) notify ${json([topic, ...more])}, not one topic`);
    assert(!topics.has(topic), `${name}: its alarms notify ${topic}, another janitor's topic`);
    topics.add(topic);
    const onTopic = alarms.filter(([, a]) => (a.Properties.AlarmActions ?? []).map(refTo).includes(topic)).map(([id]) => id);
    assert(json([...shown].sort()) === json(onTopic.sort()), `${name}: shows ${json(shown)}, its topic's alarms are ${json(onTopic)}`);
    const own = alarmsOn(onlyFunction(name)).map(([id]) => id);
    assert(own.length >= 2 && own.every((id) => shown.includes(id)), `${name}: its function's alarms ${json(own)} are not all shown`);
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
