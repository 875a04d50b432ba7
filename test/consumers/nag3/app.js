#!/usr/bin/env node
/*
 * cdk-nag 3 consumer check: synthesizes each construct configuration below in an App of its own
 * with the five cdk-nag 3 rule packs registered the v3 way (Validations.of(app).addPlugins(...)),
 * reads the validation report aws-cdk-lib writes into the cloud assembly and prints, per
 * configuration and pack, the findings on our resources that no acknowledgement covered.
 * Exits 1 if there is any, or if the check would not have seen one (see the canary below).
 *
 * Usage: node app.js <work dir>   (run.sh installs the library tarball, aws-cdk-lib, constructs
 * and cdk-nag 3 next to it). Plain JavaScript, like a user's app without a build step.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const cdk = require('aws-cdk-lib');
const {
  aws_autoscaling: autoscaling, aws_ec2: ec2, aws_ecr: ecr, aws_ecs: ecs, aws_events: events, aws_iam: iam, aws_kms: kms, aws_lambda: lambda,
  aws_route53: route53, aws_sns: sns,
} = cdk;
const nag = require('cdk-nag');
const {
  AmiManager, DrainTimeoutAction, EcsInstanceDrainer, FleetJanitorDashboard, ImageRetention, InstanceDecommissioner, PackerCleaner,
  PackerCleanerAction, RetentionAction, TagPolicyEngine, TagValue, ViolationAction,
} = require('cdk-fleet-janitor');

const workDir = process.argv[2];
if (!workDir) {
  console.error('usage: node app.js <work dir>');
  process.exit(2);
}

/** The cdk-nag 3 packs, by the name each registers as a validation plugin (the prefix of its rule ids). */
const PACKS = {
  'AwsSolutions': nag.AwsSolutionsChecks,
  'NIST.800.53.R5': nag.NIST80053R5Checks,
  'HIPAA.Security': nag.HIPAASecurityChecks,
  'PCI.DSS.321': nag.PCIDSS321Checks,
  'Serverless': nag.ServerlessChecks,
};

/*
 * ===== Construct configurations: ADD NEW ONES HERE =====
 * `build(stack)` creates the construct under test as `Cleaner` (or any id) in `stack` and returns
 * the constructs it made as the user would (a VPC, a KMS key passed in as a prop): findings on those
 * are the user's business and are listed but not counted. Everything else in the stack is counted.
 * Example for later:
 *   { name: 'PackerCleaner vpc', build: (stack) => {
 *       const vpc = new cdk.aws_ec2.Vpc(stack, 'UserVpc');
 *       new PackerCleaner(stack, 'Cleaner', { vpc });
 *       return [vpc];
 *   } },
 */
const CONFIGURATIONS = [
  {
    name: 'PackerCleaner defaults',
    build: (stack) => {
      new PackerCleaner(stack, 'Cleaner');
      return [];
    },
  },
  {
    name: 'PackerCleaner everything on',
    build: (stack) => {
      const vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
      const key = (id) => new kms.Key(stack, id, { enableKeyRotation: true });
      const cleaner = new PackerCleaner(stack, 'Cleaner', {
        action: PackerCleanerAction.TERMINATE,
        terminateStoppedAfter: cdk.Duration.days(1),
        tagSelector: { team: 'platform' },
        cleanupKeyPairs: true,
        cleanupSecurityGroups: true,
        dryRun: false,
        schedule: cdk.aws_scheduler.ScheduleExpression.rate(cdk.Duration.minutes(30)),
        vpc,
        logEncryptionKey: key('LogKey'),
        environmentEncryptionKey: key('EnvKey'),
        topic: new cdk.aws_sns.Topic(stack, 'Alerts', { masterKey: key('AlertsKey'), enforceSSL: true }),
        reserveConcurrency: true,
        tracing: lambda.Tracing.ACTIVE,
      });
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [cleaner] });
      return [vpc];
    },
  },
  {
    name: 'AmiManager defaults',
    build: (stack) => {
      new AmiManager(stack, 'Ami', { instanceId: 'i-0123456789abcdef0' });
      return [];
    },
  },
  {
    // Two AmiManagers sharing the stack's provider, one of an instance of the stack (the user's).
    name: 'AmiManager everything on',
    build: (stack) => {
      const vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
      const securityGroup = new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' });
      const instance = new ec2.Instance(stack, 'Builder', {
        vpc,
        instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
        machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
        requireImdsv2: true,
      });
      const key = (id) => new kms.Key(stack, id, { enableKeyRotation: true });
      const shared = {
        vpc,
        securityGroups: [securityGroup],
        logEncryptionKey: key('LogKey'),
        environmentEncryptionKey: key('EnvKey'),
        tracing: lambda.Tracing.ACTIVE,
        memorySize: 1024,
      };
      const ami = new AmiManager(stack, 'Ami', {
        ...shared,
        instance,
        imageName: 'web-golden',
        description: 'web tier golden image',
        reboot: true,
        tags: { team: 'web' },
        deprecateAfter: cdk.Duration.days(90),
        shareWithAccounts: ['111111111111', '222222222222'],
        stopInstanceAfterImage: true,
        removalPolicy: cdk.RemovalPolicy.RETAIN,
        timeout: cdk.Duration.minutes(45),
        topic: new sns.Topic(stack, 'Alerts', { masterKey: key('AlertsKey'), enforceSSL: true }),
      });
      new AmiManager(stack, 'SecondAmi', { ...shared, instanceId: 'i-0123456789abcdef1' });
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [ami] });
      return [vpc, securityGroup, instance];
    },
  },
  {
    // A TagPolicyEngine needs rules (or a table): the consumer apps' four rules, every other prop at its default.
    name: 'TagPolicyEngine defaults',
    build: (stack) => {
      new TagPolicyEngine(stack, 'Tags', { rules: tagRules() });
      return [];
    },
  },
  {
    name: 'TagPolicyEngine everything on',
    build: (stack) => {
      const vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
      const securityGroup = new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' });
      const key = (id) => new kms.Key(stack, id, { enableKeyRotation: true });
      const tags = new TagPolicyEngine(stack, 'Tags', {
        rules: [...tagRules(), { tagKey: 'Owner', required: true, defaultValue: TagValue.fromTag('CreatedBy'), onViolation: ViolationAction.STOP }],
        vpcs: [vpc],
        instanceSelector: { managed: 'true' },
        untaggedAction: ViolationAction.TERMINATE,
        gracePeriod: cdk.Duration.days(7),
        captureCreators: true,
        backfillCreators: true,
        propagateToVolumes: true,
        dryRun: false,
        maxActionsPerRun: 50,
        schedule: cdk.aws_scheduler.ScheduleExpression.rate(cdk.Duration.minutes(30)),
        vpc,
        securityGroups: [securityGroup],
        logEncryptionKey: key('LogKey'),
        environmentEncryptionKey: key('EnvKey'),
        topic: new sns.Topic(stack, 'Alerts', { masterKey: key('AlertsKey'), enforceSSL: true }),
        reserveConcurrency: true,
        tracing: lambda.Tracing.ACTIVE,
        timeout: cdk.Duration.minutes(10),
        memorySize: 1024,
      });
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [tags] });
      return [vpc, securityGroup];
    },
  },
  {
    name: 'InstanceDecommissioner defaults',
    build: (stack) => {
      new InstanceDecommissioner(stack, 'Decommissioner');
      return [];
    },
  },
  {
    // Everything on: a private zone and its reverse zone in the team's VPC, both template kinds, alarms,
    // a bus and a hook of the team's, a selector. (No reserveConcurrency: the construct refuses it.)
    name: 'InstanceDecommissioner everything on',
    build: (stack) => {
      const vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
      const securityGroup = new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' });
      const key = (id) => new kms.Key(stack, id, { enableKeyRotation: true });
      const zones = [
        new route53.PrivateHostedZone(stack, 'PrivateZone', { zoneName: 'internal.example.com', vpc }),
        new route53.PrivateHostedZone(stack, 'ReverseZone', { zoneName: '10.in-addr.arpa', vpc }),
      ];
      const bus = new events.EventBus(stack, 'FleetBus', { eventBusName: 'fleet-events' });
      const decommissioner = new InstanceDecommissioner(stack, 'Decommissioner', {
        hostedZones: zones,
        recordNameTemplates: ['{tag:Name}.internal.example.com', '{instanceId}.internal.example.com'],
        deleteAlarms: true,
        eventBus: bus,
        hooks: [lambda.Function.fromFunctionArn(stack, 'ChefCleanup', 'arn:aws:lambda:us-east-1:111122223333:function:chef-node-cleanup')],
        instanceSelector: { team: 'platform' },
        snapshotRetention: cdk.Duration.days(180),
        reconcileSchedule: cdk.aws_scheduler.ScheduleExpression.rate(cdk.Duration.hours(12)),
        maxReceiveCount: 10,
        maxActionsPerRun: 500,
        vpc,
        securityGroups: [securityGroup],
        logEncryptionKey: key('LogKey'),
        environmentEncryptionKey: key('EnvKey'),
        topic: new sns.Topic(stack, 'Alerts', { masterKey: key('AlertsKey'), enforceSSL: true }),
        tracing: lambda.Tracing.ACTIVE,
        timeout: cdk.Duration.minutes(10),
        memorySize: 1024,
      });
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [decommissioner] });
      return [vpc, securityGroup, ...zones, bus];
    },
  },
  {
    // The drainer needs a cluster and its Auto Scaling group: the consumer apps' (../typescript/app.ts), the user's.
    name: 'EcsInstanceDrainer defaults',
    build: (stack) => {
      const { cluster, groups, constructs } = ecsCluster(stack, 1);
      new EcsInstanceDrainer(stack, 'Drainer', { cluster, autoScalingGroup: groups[0] });
      return constructs;
    },
  },
  {
    // Everything on: two groups of the cluster, in the team's VPC, every option set. (No reserveConcurrency:
    // one reserved execution would serialize the checks of every drain.)
    name: 'EcsInstanceDrainer everything on',
    build: (stack) => {
      const { vpc, cluster, groups, constructs } = ecsCluster(stack, 2);
      const securityGroup = new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' });
      const key = (id) => new kms.Key(stack, id, { enableKeyRotation: true });
      const drainer = new EcsInstanceDrainer(stack, 'Drainer', {
        cluster,
        autoScalingGroup: groups[0],
        pollInterval: cdk.Duration.seconds(30),
        heartbeatTimeout: cdk.Duration.minutes(10),
        maxDrainTime: cdk.Duration.hours(4),
        onTimeout: DrainTimeoutAction.ABANDON,
        stopStandaloneTasksAfter: cdk.Duration.hours(1),
        spotInterruptions: true,
        notifyOnEveryDrain: true,
        dryRun: false,
        vpc,
        securityGroups: [securityGroup],
        logEncryptionKey: key('LogKey'),
        environmentEncryptionKey: key('EnvKey'),
        topic: new sns.Topic(stack, 'Alerts', { masterKey: key('AlertsKey'), enforceSSL: true }),
        tracing: lambda.Tracing.ACTIVE,
        timeout: cdk.Duration.minutes(2),
        memorySize: 1024,
      });
      drainer.addAutoScalingGroup(groups[1]);
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [drainer] });
      return [...constructs, securityGroup];
    },
  },
  {
    // Every repository tagged fleet-janitor:image-retention = enabled, REPORT: reads only.
    name: 'ImageRetention defaults',
    build: (stack) => {
      new ImageRetention(stack, 'Retention');
      return [];
    },
  },
  {
    // The tagged repositories with DELETE: BatchDeleteImage on repository/*, conditioned on the tags.
    name: 'ImageRetention tagged repositories, DELETE',
    build: (stack) => {
      new ImageRetention(stack, 'Retention', {
        action: RetentionAction.DELETE,
        taskDefinitions: { deleteInactive: true },
      });
      return [];
    },
  },
  {
    // Everything on: the consumer apps' repository (../typescript/app.ts) and one imported by name, deletion of
    // images and task definitions, pins, tag patterns, a consumer account, in the team's VPC with keys.
    name: 'ImageRetention everything on',
    build: (stack) => {
      const vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
      const securityGroup = new ec2.SecurityGroup(stack, 'HandlerSg', { vpc, description: 'fleet-janitor handler' });
      const images = new ecr.Repository(stack, 'Images', { repositoryName: 'web-images' });
      const key = (id) => new kms.Key(stack, id, { enableKeyRotation: true });
      const retention = new ImageRetention(stack, 'Retention', {
        repositories: [images, ecr.Repository.fromRepositoryName(stack, 'ApiImages', 'team/api')],
        keepNewest: 5,
        minAge: cdk.Duration.days(14),
        keepTagPatterns: ['latest', 'release-*'],
        pinnedImages: ['web-images:v1.0.0', `team/api@sha256:${'a'.repeat(64)}`],
        consumerAccountRoles: ['arn:aws:iam::111122223333:role/ImageUsageReader'],
        action: RetentionAction.DELETE,
        taskDefinitions: { keepNewestRevisions: 3, deregisterUnused: true, deleteInactive: true },
        maxActionsPerRun: 500,
        dryRun: false,
        schedule: cdk.aws_scheduler.ScheduleExpression.rate(cdk.Duration.hours(12)),
        vpc,
        securityGroups: [securityGroup],
        logEncryptionKey: key('LogKey'),
        environmentEncryptionKey: key('EnvKey'),
        topic: new sns.Topic(stack, 'Alerts', { masterKey: key('AlertsKey'), enforceSSL: true }),
        reserveConcurrency: true,
        tracing: lambda.Tracing.ACTIVE,
        timeout: cdk.Duration.minutes(10),
        memorySize: 1024,
      });
      new FleetJanitorDashboard(stack, 'Dashboard', { janitors: [retention] });
      return [vpc, securityGroup, images];
    },
  },
  // ===== end of construct configurations =====
];

/**
 * An ECS cluster on `groups` Auto Scaling groups of Graviton container instances, as in the consumer
 * apps: a launch template (ECS-optimized AL2023, IMDSv2, an instance role), each group added with an
 * AsgCapacityProvider without managed draining. Returns the user's constructs with them.
 */
function ecsCluster(stack, groups) {
  const vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const role = new iam.Role(stack, 'InstanceRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
  const launchTemplate = new ec2.LaunchTemplate(stack, 'ContainerInstances', {
    instanceType: new ec2.InstanceType('m7g.large'),
    machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.ARM),
    userData: ec2.UserData.forLinux(),
    role,
    requireImdsv2: true,
  });
  const constructs = [vpc, cluster, role, launchTemplate];
  const asgs = [];
  for (let i = 1; i <= groups; i++) {
    const group = new autoscaling.AutoScalingGroup(stack, `Capacity${i}`, { vpc, launchTemplate, minCapacity: 1, maxCapacity: 10 });
    const provider = new ecs.AsgCapacityProvider(stack, `CapacityProvider${i}`, { autoScalingGroup: group, enableManagedDraining: false });
    cluster.addAsgCapacityProvider(provider);
    asgs.push(group);
    constructs.push(group, provider);
  }
  return { vpc, cluster, groups: asgs, constructs };
}

/** The TagPolicyEngine rules of the consumer apps (../typescript/app.ts). */
function tagRules() {
  return [
    { tagKey: 'CostCenter', required: true, defaultValue: TagValue.fixed('unassigned'), allowedValues: ['1001', '1002', 'unassigned'] },
    { tagKey: 'CreatedBy', required: true, defaultValue: TagValue.creator() },
    { tagKey: 'LaunchDate', required: true, defaultValue: TagValue.launchDate() },
    { tagKey: 'Environment', required: true, pattern: '^(dev|staging|prod)$', onViolation: ViolationAction.NOTIFY },
  ];
}

/*
 * Canary: a stack with the construct and, next to it, resources a user might add, each known to
 * break a rule of every pack. Each pack must report a finding there and the user's wildcard policy
 * must be reported although our policy's identical finding (AwsSolutions-IAM5[Resource::*]) is
 * acknowledged: otherwise the packs did not run, or our acknowledgements leak to the user's
 * resources, and a count of zero above would mean nothing.
 */
const CANARY = {
  name: 'canary (the check sees findings)',
  build: (stack) => {
    new PackerCleaner(stack, 'Cleaner', { action: PackerCleanerAction.TERMINATE, cleanupKeyPairs: true });
    const fn = new lambda.Function(stack, 'UserFunction', {
      runtime: lambda.Runtime.NODEJS_18_X, // not the latest (AwsSolutions-L1, Serverless-LambdaLatestVersion)
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {};'), // no VPC, tracing, DLQ, concurrency limit
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:TerminateInstances'], resources: ['*'] }));
    return [];
  },
  expect: (findings) => {
    const problems = [];
    for (const pack of Object.keys(PACKS)) {
      if (!findings.some((f) => f.pack === pack && f.path.includes('/UserFunction/'))) {
        problems.push(`${pack} reported nothing on the user's function: the pack did not run`);
      }
    }
    if (!findings.some((f) => f.ruleName === 'AwsSolutions-IAM5[Resource::*]' && f.path.includes('/UserFunction/ServiceRole/DefaultPolicy/'))) {
      problems.push('AwsSolutions-IAM5[Resource::*] on the user\'s policy was not reported: an acknowledgement of ours leaks to it');
    }
    return problems;
  },
};

/** Synthesizes one configuration with the five packs and returns every finding in the validation report. */
function evaluate(configuration, index) {
  const outdir = path.join(workDir, `cdk.out.${index}`);
  // Report instead of throwing, so that every configuration and pack is counted in one run.
  const app = new cdk.App({ outdir, context: { '@aws-cdk/core:failSynthOnValidationErrors': false } });
  for (const Pack of Object.values(PACKS)) cdk.Validations.of(app).addPlugins(new Pack(app));
  const stack = new cdk.Stack(app, 'ConsumerStack');
  const userPaths = configuration.build(stack).map((c) => c.node.path);
  app.synth();

  // aws-cdk-lib >= 2.262 writes validation-report.json; earlier versions policy-validation-report.json.
  const reportFile = ['validation-report.json', 'policy-validation-report.json'].map((f) => path.join(outdir, f)).find((f) => fs.existsSync(f));
  // A pack with no unacknowledged finding is left out of the report; no report: no finding at all.
  const report = reportFile ? JSON.parse(fs.readFileSync(reportFile, 'utf8')) : { pluginReports: [] };
  const findings = [];
  const errors = [];
  for (const plugin of report.pluginReports) {
    const pack = plugin.pluginName ?? plugin.summary?.pluginName;
    const error = plugin.metadata?.error ?? plugin.summary?.metadata?.error;
    if (error) errors.push(`${pack}: ${error}`);
    if (!(pack in PACKS)) continue;
    for (const violation of plugin.violations) {
      for (const resource of violation.violatingConstructs ?? violation.violatingResources ?? []) {
        const p = resource.constructPath ?? '?';
        const user = userPaths.some((u) => p === u || p.startsWith(`${u}/`));
        findings.push({ pack, ruleName: violation.ruleName, severity: violation.severity, path: p, user });
      }
    }
  }
  return { findings, errors };
}

let failed = false;
const summary = [];
for (const [index, configuration] of [CANARY, ...CONFIGURATIONS].entries()) {
  const { findings, errors } = evaluate(configuration, index);
  console.log(`== ${configuration.name}`);
  for (const error of errors) {
    console.log(`   plugin error: ${error}`);
    failed = true;
  }
  if (configuration.expect) {
    const problems = configuration.expect(findings);
    for (const problem of problems) console.log(`   CANARY FAILED: ${problem}`);
    if (problems.length > 0) failed = true;
    else console.log(`   ok: every pack reported the user's resources (${findings.length} findings), none of them hidden by our acknowledgements`);
    continue;
  }
  for (const pack of Object.keys(PACKS)) {
    const ours = findings.filter((f) => f.pack === pack && !f.user);
    const users = findings.filter((f) => f.pack === pack && f.user);
    console.log(`   ${pack}: ${ours.length} unacknowledged${users.length ? ` (+${users.length} on the user's constructs, not counted)` : ''}`);
    for (const f of ours) console.log(`      ${f.severity.padEnd(7)} ${f.ruleName}  @ ${f.path}`);
    summary.push([configuration.name, pack, ours.length]);
    if (ours.length > 0) failed = true;
  }
}

console.log('== summary: unacknowledged findings per configuration and pack');
for (const [name, pack, count] of summary) console.log(`   ${String(count).padStart(3)}  ${name} / ${pack}`);
const total = summary.reduce((n, [, , count]) => n + count, 0);
console.log(`   ${String(total).padStart(3)}  total (aws-cdk-lib ${require('aws-cdk-lib/package.json').version}, cdk-nag ${require('cdk-nag/package.json').version})`);
process.exitCode = failed ? 1 : 0;
