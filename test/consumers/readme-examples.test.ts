import * as fs from 'fs';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EXPECTED } = require('./expected.cjs');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../build-tools/readme-examples.cjs');

describe('README usage examples', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

  test('are exactly the code the consumer apps run (regenerate with node build-tools/readme-examples.cjs)', () => {
    expect(examples.readmeBlock(readme).text).toEqual(examples.renderBlock());
  });

  // The values the consumer apps' templates are checked for (check-template.cjs), as each language writes them.
  const hours = Number(EXPECTED.maxAgeSeconds) / 3600;
  const minutes = Number(/^rate\((\d+) minutes\)$/.exec(EXPECTED.scheduleExpression)![1]);
  const [[tagKey, tagValue]] = Object.entries(EXPECTED.tagSelector as Record<string, string>);
  const PROPS: Record<string, string[]> = {
    typescript: [
      `action: PackerCleanerAction.${EXPECTED.action}`, `maxAge: Duration.hours(${hours})`, `tagSelector: { ${tagKey}: '${tagValue}' }`,
      'cleanupKeyPairs: true', `maxActionsPerRun: ${EXPECTED.maxActionsPerRun}`, `schedule: ScheduleExpression.rate(Duration.minutes(${minutes}))`,
    ],
    python: [
      `action=PackerCleanerAction.${EXPECTED.action}`, `max_age=Duration.hours(${hours})`, `tag_selector={"${tagKey}": "${tagValue}"}`,
      'cleanup_key_pairs=True', `max_actions_per_run=${EXPECTED.maxActionsPerRun}`, `schedule=ScheduleExpression.rate(Duration.minutes(${minutes}))`,
    ],
    java: [
      `.action(PackerCleanerAction.${EXPECTED.action})`, `.maxAge(Duration.hours(${hours}))`, `.tagSelector(Map.of("${tagKey}", "${tagValue}"))`,
      '.cleanupKeyPairs(true)', `.maxActionsPerRun(${EXPECTED.maxActionsPerRun})`, `.schedule(ScheduleExpression.rate(Duration.minutes(${minutes})))`,
    ],
    go: [
      `Action: cdkfleetjanitor.PackerCleanerAction_${EXPECTED.action},`, `MaxAge: awscdk.Duration_Hours(jsii.Number(${hours})),`,
      `TagSelector: &map[string]*string{"${tagKey}": jsii.String("${tagValue}")},`, 'CleanupKeyPairs: jsii.Bool(true),',
      `MaxActionsPerRun: jsii.Number(${EXPECTED.maxActionsPerRun}),`,
      `Schedule: awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Minutes(jsii.Number(${minutes}))),`,
    ],
  };

  // The AmiManager `Ami` in the same stack (EXPECTED.ami: the properties CloudFormation gets).
  const ami: Record<string, string> & { tags: Record<string, string>; shareWithAccounts: string[] } = EXPECTED.ami;
  const days = Number(ami.deprecateAfterSeconds) / 86_400;
  const [[amiTagKey, amiTagValue]] = Object.entries(ami.tags);
  const [account] = ami.shareWithAccounts;
  const removal = ami.removalPolicy.toUpperCase();
  const AMI_PROPS: Record<string, string[]> = {
    typescript: [
      `instanceId: '${ami.instanceId}'`, `imageName: '${ami.imageName}'`, `tags: { ${amiTagKey}: '${amiTagValue}' }`,
      `shareWithAccounts: ['${account}']`, `deprecateAfter: Duration.days(${days})`, `removalPolicy: RemovalPolicy.${removal}`,
    ],
    python: [
      `instance_id="${ami.instanceId}"`, `image_name="${ami.imageName}"`, `tags={"${amiTagKey}": "${amiTagValue}"}`,
      `share_with_accounts=["${account}"]`, `deprecate_after=Duration.days(${days})`, `removal_policy=RemovalPolicy.${removal}`,
    ],
    java: [
      `.instanceId("${ami.instanceId}")`, `.imageName("${ami.imageName}")`, `.tags(Map.of("${amiTagKey}", "${amiTagValue}"))`,
      `.shareWithAccounts(List.of("${account}"))`, `.deprecateAfter(Duration.days(${days}))`, `.removalPolicy(RemovalPolicy.${removal})`,
    ],
    go: [
      `InstanceId: jsii.String("${ami.instanceId}"),`, `ImageName: jsii.String("${ami.imageName}"),`,
      `Tags: &map[string]*string{"${amiTagKey}": jsii.String("${amiTagValue}")},`, `ShareWithAccounts: &[]*string{jsii.String("${account}")},`,
      `DeprecateAfter: awscdk.Duration_Days(jsii.Number(${days})),`, `RemovalPolicy: awscdk.RemovalPolicy_${removal},`,
    ],
  };

  // The TagPolicyEngine `Tags` (EXPECTED.tags: the rule items the Custom::FleetJanitorTagRules resource writes,
  // and the handler's environment), written back as each language's props.
  type RuleItem = Record<string, string> & { AllowedValues?: string[] };
  const tags: { rules: RuleItem[]; instanceSelector: Record<string, string>; untaggedAction: string; gracePeriodSeconds: string } = EXPECTED.tags;
  const graceDays = Number(tags.gracePeriodSeconds) / 86_400;
  const [[selectorKey, selectorValue]] = Object.entries(tags.instanceSelector);
  /** The TagValue factory for a rule item's Action and Default: [method name, argument or undefined]. */
  function defaultOf(item: RuleItem): [string, string | undefined] | undefined {
    switch (item.Action) {
      case undefined: return undefined;
      case 'Update': return ['fixed', item.Default];
      case 'UserLookup': return ['creator', undefined];
      case 'Function': return ['launchDate', undefined];
      case 'FromTag': return ['fromTag', item.Default];
      default: throw new Error(`no TagValue for Action ${item.Action}`);
    }
  }
  const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const upper = (name: string) => name[0].toUpperCase() + name.slice(1);
  const quoted = (q: string) => (v: string) => `${q}${v}${q}`;
  /** One rule as each language writes it. */
  const RULE: Record<string, (item: RuleItem) => string> = {
    typescript: (item) => {
      const v = defaultOf(item);
      const q = quoted("'");
      return `{ ${[
        `tagKey: ${q(item.TagKey)}`, `required: ${item.Required}`,
        ...(v ? [`defaultValue: TagValue.${v[0]}(${v[1] === undefined ? '' : q(v[1])})`] : []),
        ...(item.AllowedValues ? [`allowedValues: [${item.AllowedValues.map(q).join(', ')}]`] : []),
        ...(item.Pattern ? [`pattern: ${q(item.Pattern)}`] : []),
        ...(item.OnViolation ? [`onViolation: ViolationAction.${item.OnViolation}`] : []),
      ].join(', ')} }`;
    },
    python: (item) => {
      const v = defaultOf(item);
      const q = quoted('"');
      return `TagRule(${[
        `tag_key=${q(item.TagKey)}`, `required=${upper(item.Required)}`,
        ...(v ? [`default_value=TagValue.${snake(v[0])}(${v[1] === undefined ? '' : q(v[1])})`] : []),
        ...(item.AllowedValues ? [`allowed_values=[${item.AllowedValues.map(q).join(', ')}]`] : []),
        ...(item.Pattern ? [`pattern=${q(item.Pattern)}`] : []),
        ...(item.OnViolation ? [`on_violation=ViolationAction.${item.OnViolation}`] : []),
      ].join(', ')})`;
    },
    java: (item) => {
      const v = defaultOf(item);
      const q = quoted('"');
      return `TagRule.builder()${[
        `.tagKey(${q(item.TagKey)})`, `.required(${item.Required})`,
        ...(v ? [`.defaultValue(TagValue.${v[0]}(${v[1] === undefined ? '' : q(v[1])}))`] : []),
        ...(item.AllowedValues ? [`.allowedValues(List.of(${item.AllowedValues.map(q).join(', ')}))`] : []),
        ...(item.Pattern ? [`.pattern(${q(item.Pattern)})`] : []),
        ...(item.OnViolation ? [`.onViolation(ViolationAction.${item.OnViolation})`] : []),
      ].join('')}.build()`;
    },
    go: (item) => {
      const v = defaultOf(item);
      const s = (x: string) => `jsii.String("${x}")`;
      return `{${[
        `TagKey: ${s(item.TagKey)}`, `Required: jsii.Bool(${item.Required})`,
        ...(v ? [`DefaultValue: cdkfleetjanitor.TagValue_${upper(v[0])}(${v[1] === undefined ? '' : s(v[1])})`] : []),
        ...(item.AllowedValues ? [`AllowedValues: jsii.Strings(${item.AllowedValues.map((x) => `"${x}"`).join(', ')})`] : []),
        ...(item.Pattern ? [`Pattern: ${s(item.Pattern)}`] : []),
        ...(item.OnViolation ? [`OnViolation: cdkfleetjanitor.ViolationAction_${item.OnViolation}`] : []),
      ].join(', ')}}`;
    },
  };
  /** How each language names a rule's tag key (to count the rules). */
  const RULE_KEY: Record<string, RegExp> = { typescript: /\btagKey:/g, python: /\btag_key=/g, java: /\.tagKey\(/g, go: /\bTagKey:/g };
  const TAG_PROPS: Record<string, string[]> = {
    typescript: [
      `instanceSelector: { ${selectorKey}: '${selectorValue}' }`, `untaggedAction: ViolationAction.${tags.untaggedAction}`, `gracePeriod: Duration.days(${graceDays})`,
    ],
    python: [
      `instance_selector={"${selectorKey}": "${selectorValue}"}`, `untagged_action=ViolationAction.${tags.untaggedAction}`, `grace_period=Duration.days(${graceDays})`,
    ],
    java: [
      `.instanceSelector(Map.of("${selectorKey}", "${selectorValue}"))`, `.untaggedAction(ViolationAction.${tags.untaggedAction})`, `.gracePeriod(Duration.days(${graceDays}))`,
    ],
    go: [
      `InstanceSelector: &map[string]*string{"${selectorKey}": jsii.String("${selectorValue}")},`,
      `UntaggedAction: cdkfleetjanitor.ViolationAction_${tags.untaggedAction},`, `GracePeriod: awscdk.Duration_Days(jsii.Number(${graceDays})),`,
    ],
  };
  // Code without whitespace or trailing commas: a rule may be wrapped over lines.
  const compact = (text: string) => text.replace(/\s+/g, '').replace(/,(?=[)}\]])/g, '');

  // The InstanceDecommissioner `Decommissioner` (EXPECTED.decommissioner: the handler's environment and what IAM may touch).
  interface DecommissionerExpected {
    readonly zone: { id: string; name: string };
    readonly recordNameTemplates: string[];
    readonly deleteAlarms: string;
    readonly hookArn: string;
    readonly instanceSelector: Record<string, string>;
    readonly snapshotRetentionSeconds: string;
  }
  const decom: DecommissionerExpected = EXPECTED.decommissioner;
  const retentionDays = Number(decom.snapshotRetentionSeconds) / 86_400;
  const [[decomKey, decomValue]] = Object.entries(decom.instanceSelector);
  const list = (q: string) => decom.recordNameTemplates.map((t) => `${q}${t}${q}`).join(', ');
  /** Props written on a line of their own. */
  const DECOM_PROPS: Record<string, string[]> = {
    typescript: [
      'hostedZones: [zone]', `recordNameTemplates: [${list("'")}]`, `deleteAlarms: ${decom.deleteAlarms}`,
      `instanceSelector: { ${decomKey}: '${decomValue}' }`, `snapshotRetention: Duration.days(${retentionDays})`,
    ],
    python: [
      'hosted_zones=[zone]', `record_name_templates=[${list('"')}]`, `delete_alarms=${upper(decom.deleteAlarms)}`,
      `instance_selector={"${decomKey}": "${decomValue}"}`, `snapshot_retention=Duration.days(${retentionDays})`,
    ],
    java: [
      '.hostedZones(List.of(zone))', `.recordNameTemplates(List.of(${list('"')}))`, `.deleteAlarms(${decom.deleteAlarms})`,
      `.instanceSelector(Map.of("${decomKey}", "${decomValue}"))`, `.snapshotRetention(Duration.days(${retentionDays}))`,
    ],
    go: [
      'HostedZones: &[]awsroute53.IHostedZone{zone},', `RecordNameTemplates: jsii.Strings(${list('"')}),`, `DeleteAlarms: jsii.Bool(${decom.deleteAlarms}),`,
      `InstanceSelector: &map[string]*string{"${decomKey}": jsii.String("${decomValue}")},`,
      `SnapshotRetention: awscdk.Duration_Days(jsii.Number(${retentionDays})),`,
    ],
  };
  /** The imported zone and the hook, which each language may wrap over lines (compared without whitespace). */
  const DECOM_CODE: Record<string, string[]> = {
    typescript: [
      `HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: '${decom.zone.id}', zoneName: '${decom.zone.name}' })`,
      `hooks: [LambdaFunction.fromFunctionArn(stack, 'ChefCleanup', '${decom.hookArn}')]`,
    ],
    python: [
      `HostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="${decom.zone.id}", zone_name="${decom.zone.name}")`,
      `hooks=[Function.from_function_arn(stack, "ChefCleanup", "${decom.hookArn}")]`,
    ],
    java: [
      `HostedZone.fromHostedZoneAttributes(stack, "Zone", HostedZoneAttributes.builder().hostedZoneId("${decom.zone.id}").zoneName("${decom.zone.name}").build())`,
      `.hooks(List.of(Function.fromFunctionArn(stack, "ChefCleanup", "${decom.hookArn}")))`,
    ],
    go: [
      `awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{HostedZoneId: jsii.String("${decom.zone.id}"), ZoneName: jsii.String("${decom.zone.name}")})`,
      `Hooks: &[]awslambda.IFunction{awslambda.Function_FromFunctionArn(stack, jsii.String("ChefCleanup"), jsii.String("${decom.hookArn}"))}`,
    ],
  };

  // The EcsInstanceDrainer `Drainer` (EXPECTED.drainer: the handler's environment, in seconds).
  const drain: Record<string, string> = EXPECTED.drainer;
  const drainHours = Number(drain.maxDrainSeconds) / 3600;
  const heartbeatMinutes = Number(drain.heartbeatTimeoutSeconds) / 60;
  const standaloneHours = Number(drain.stopStandaloneAfterSeconds) / 3600;
  /** Props written on a line of their own. */
  const DRAINER_PROPS: Record<string, string[]> = {
    typescript: [
      'cluster', 'autoScalingGroup: capacity', `maxDrainTime: Duration.hours(${drainHours})`, `heartbeatTimeout: Duration.minutes(${heartbeatMinutes})`,
      `onTimeout: DrainTimeoutAction.${drain.onTimeout}`, `stopStandaloneTasksAfter: Duration.hours(${standaloneHours})`, `notifyOnEveryDrain: ${drain.notifyOnEveryDrain}`,
    ],
    python: [
      'cluster=cluster', 'auto_scaling_group=capacity', `max_drain_time=Duration.hours(${drainHours})`, `heartbeat_timeout=Duration.minutes(${heartbeatMinutes})`,
      `on_timeout=DrainTimeoutAction.${drain.onTimeout}`, `stop_standalone_tasks_after=Duration.hours(${standaloneHours})`,
      `notify_on_every_drain=${upper(drain.notifyOnEveryDrain)}`,
    ],
    java: [
      '.cluster(cluster)', '.autoScalingGroup(capacity)', `.maxDrainTime(Duration.hours(${drainHours}))`, `.heartbeatTimeout(Duration.minutes(${heartbeatMinutes}))`,
      `.onTimeout(DrainTimeoutAction.${drain.onTimeout})`, `.stopStandaloneTasksAfter(Duration.hours(${standaloneHours}))`, `.notifyOnEveryDrain(${drain.notifyOnEveryDrain})`,
    ],
    go: [
      'Cluster: cluster,', 'AutoScalingGroup: capacity,', `MaxDrainTime: awscdk.Duration_Hours(jsii.Number(${drainHours})),`,
      `HeartbeatTimeout: awscdk.Duration_Minutes(jsii.Number(${heartbeatMinutes})),`, `OnTimeout: cdkfleetjanitor.DrainTimeoutAction_${drain.onTimeout},`,
      `StopStandaloneTasksAfter: awscdk.Duration_Hours(jsii.Number(${standaloneHours})),`, `NotifyOnEveryDrain: jsii.Bool(${drain.notifyOnEveryDrain}),`,
    ],
  };
  /** The capacity provider, added so that aws-cdk-lib adds no drain hook of its own (compared without whitespace). */
  const DRAINER_CODE: Record<string, string[]> = {
    typescript: ["new AsgCapacityProvider(stack, 'CapacityProvider', { autoScalingGroup: capacity, enableManagedDraining: false })", 'EcsOptimizedImage.amazonLinux2023(AmiHardwareType.ARM)', 'requireImdsv2: true'],
    python: ['AsgCapacityProvider(stack, "CapacityProvider", auto_scaling_group=capacity, enable_managed_draining=False)', 'EcsOptimizedImage.amazon_linux2023(AmiHardwareType.ARM)', 'require_imdsv2=True'],
    java: ['AsgCapacityProvider.Builder.create(stack, "CapacityProvider").autoScalingGroup(capacity).enableManagedDraining(false).build()',
      'EcsOptimizedImage.amazonLinux2023(AmiHardwareType.ARM)', '.requireImdsv2(true)'],
    go: ['awsecs.NewAsgCapacityProvider(stack, jsii.String("CapacityProvider"), &awsecs.AsgCapacityProviderProps{AutoScalingGroup: capacity, EnableManagedDraining: jsii.Bool(false)})',
      'awsecs.EcsOptimizedImage_AmazonLinux2023(awsecs.AmiHardwareType_ARM, nil)', 'RequireImdsv2: jsii.Bool(true)'],
  };

  // The ImageRetention `Retention` on the stack's repository (EXPECTED.retention: the handler's environment, lists as JSON).
  interface RetentionExpected {
    readonly repositoryName: string;
    readonly keepNewest: string;
    readonly minAgeSeconds: string;
    readonly keepTagPatterns: string[];
    readonly pinnedImages: string[];
    readonly consumerAccountRoles: string[];
    readonly action: string;
    readonly taskDefinitions: { keepNewestRevisions: number; deregisterUnused: boolean; deleteInactive: boolean };
    readonly scheduleExpression: string;
  }
  const ret: RetentionExpected = EXPECTED.retention;
  const minAgeDays = Number(ret.minAgeSeconds) / 86_400;
  const retentionHours = Number(/^rate\((\d+) hours\)$/.exec(ret.scheduleExpression)![1]);
  const strings = (q: string, values: string[]) => values.map((v) => `${q}${v}${q}`).join(', ');
  const revisions = ret.taskDefinitions.keepNewestRevisions;
  // deregisterUnused is left at its default (true, as EXPECTED has it): the apps set the other two.
  /** Props written on a line of their own. */
  const RETENTION_PROPS: Record<string, string[]> = {
    typescript: [
      'repositories: [images]', `keepNewest: ${ret.keepNewest}`, `minAge: Duration.days(${minAgeDays})`,
      `keepTagPatterns: [${strings("'", ret.keepTagPatterns)}]`, `pinnedImages: [${strings("'", ret.pinnedImages)}]`,
      `consumerAccountRoles: [${strings("'", ret.consumerAccountRoles)}]`, `action: RetentionAction.${ret.action}`,
      `taskDefinitions: { keepNewestRevisions: ${revisions}, deleteInactive: ${ret.taskDefinitions.deleteInactive} }`,
      `schedule: ScheduleExpression.rate(Duration.hours(${retentionHours}))`,
    ],
    python: [
      'repositories=[images]', `keep_newest=${ret.keepNewest}`, `min_age=Duration.days(${minAgeDays})`,
      `keep_tag_patterns=[${strings('"', ret.keepTagPatterns)}]`, `pinned_images=[${strings('"', ret.pinnedImages)}]`,
      `consumer_account_roles=[${strings('"', ret.consumerAccountRoles)}]`, `action=RetentionAction.${ret.action}`,
      `task_definitions=TaskDefinitionRetention(keep_newest_revisions=${revisions}, delete_inactive=${upper(String(ret.taskDefinitions.deleteInactive))})`,
      `schedule=ScheduleExpression.rate(Duration.hours(${retentionHours}))`,
    ],
    java: [
      '.repositories(List.of(images))', `.keepNewest(${ret.keepNewest})`, `.minAge(Duration.days(${minAgeDays}))`,
      `.keepTagPatterns(List.of(${strings('"', ret.keepTagPatterns)}))`, `.pinnedImages(List.of(${strings('"', ret.pinnedImages)}))`,
      `.consumerAccountRoles(List.of(${strings('"', ret.consumerAccountRoles)}))`, `.action(RetentionAction.${ret.action})`,
      `.taskDefinitions(TaskDefinitionRetention.builder().keepNewestRevisions(${revisions}).deleteInactive(${ret.taskDefinitions.deleteInactive}).build())`,
      `.schedule(ScheduleExpression.rate(Duration.hours(${retentionHours})))`,
    ],
    go: [
      'Repositories: &[]awsecr.IRepository{images},', `KeepNewest: jsii.Number(${ret.keepNewest}),`, `MinAge: awscdk.Duration_Days(jsii.Number(${minAgeDays})),`,
      `KeepTagPatterns: jsii.Strings(${strings('"', ret.keepTagPatterns)}),`, `PinnedImages: jsii.Strings(${strings('"', ret.pinnedImages)}),`,
      `ConsumerAccountRoles: jsii.Strings(${strings('"', ret.consumerAccountRoles)}),`, `Action: cdkfleetjanitor.RetentionAction_${ret.action},`,
      `TaskDefinitions: &cdkfleetjanitor.TaskDefinitionRetention{KeepNewestRevisions: jsii.Number(${revisions}), DeleteInactive: jsii.Bool(${ret.taskDefinitions.deleteInactive})},`,
      `Schedule: awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Hours(jsii.Number(${retentionHours}))),`,
    ],
  };
  /** The repository, with its name (compared without whitespace). */
  const RETENTION_CODE: Record<string, string[]> = {
    typescript: [`new Repository(stack, 'Images', { repositoryName: '${ret.repositoryName}' })`, "new ImageRetention(stack, 'Retention', {"],
    python: [`Repository(stack, "Images", repository_name="${ret.repositoryName}")`, 'ImageRetention(stack, "Retention",'],
    java: [`Repository.Builder.create(stack, "Images").repositoryName("${ret.repositoryName}").build()`, 'ImageRetention.Builder.create(stack, "Retention")'],
    go: [`awsecr.NewRepository(stack, jsii.String("Images"), &awsecr.RepositoryProps{RepositoryName: jsii.String("${ret.repositoryName}")})`,
      'cdkfleetjanitor.NewImageRetention(stack, jsii.String("Retention"), &cdkfleetjanitor.ImageRetentionProps{'],
  };

  // The FleetJanitorDashboard over the six: the first five given as `janitors`, the last added by addJanitor()
  // (each janitor's variable is its construct id in lower case). Compared without whitespace.
  const board: { name: string; periodSeconds: number; rows: Array<[string, string]> } = EXPECTED.dashboard;
  const janitorVars = board.rows.map(([, id]) => id.toLowerCase());
  const given = janitorVars.slice(0, -1).join(', ');
  const added = janitorVars[janitorVars.length - 1];
  const boardMinutes = board.periodSeconds / 60;
  const DASHBOARD_CODE: Record<string, string[]> = {
    typescript: ["new FleetJanitorDashboard(stack, 'Dashboard', {", `dashboardName: '${board.name}',`, `janitors: [${given}],`,
      `period: Duration.minutes(${boardMinutes})`, `dashboard.addJanitor(${added});`],
    python: ['FleetJanitorDashboard(stack, "Dashboard",', `dashboard_name="${board.name}",`, `janitors=[${given}],`,
      `period=Duration.minutes(${boardMinutes})`, `dashboard.add_janitor(${added})`],
    java: ['FleetJanitorDashboard.Builder.create(stack, "Dashboard")', `.dashboardName("${board.name}")`, `.janitors(List.of(${given}))`,
      `.period(Duration.minutes(${boardMinutes}))`, `dashboard.addJanitor(${added});`],
    go: ['cdkfleetjanitor.NewFleetJanitorDashboard(stack, jsii.String("Dashboard"), &cdkfleetjanitor.FleetJanitorDashboardProps{',
      `DashboardName: jsii.String("${board.name}"),`, `Janitors: &[]cdkfleetjanitor.IFleetJanitor{${given}},`,
      `Period: awscdk.Duration_Minutes(jsii.Number(${boardMinutes}))`, `dashboard.AddJanitor(${added})`],
  };

  const cases: Array<[string, unknown]> = examples.EXAMPLES.map((e: { language: string }) => [e.language, e]);
  test.each(cases)('the %s example sets exactly the PackerCleaner, AmiManager, TagPolicyEngine, InstanceDecommissioner, EcsInstanceDrainer, ImageRetention '
    + 'and FleetJanitorDashboard props its consumer app is checked for', (language: string, example: unknown) => {
    // Whitespace-insensitive: Go aligns its struct fields.
    const code = (examples.exampleRegion(example) as string).replace(/[ \t]+/g, ' ');
    expect(code).toMatch(/"ConsumerStack"|'ConsumerStack'/);
    for (const prop of PROPS[language]) expect(code).toContain(prop.replace(/[ \t]+/g, ' '));
    // Each on a line of its own, once.
    const bare = (text: string) => text.trim().replace(/[ \t]+/g, ' ').replace(/,$/, '');
    const propLines = code.split('\n').filter((l) => PROPS[language].some((p) => bare(l) === bare(p)));
    expect(propLines).toHaveLength(PROPS[language].length);
    expect(code).toMatch(/AmiManager/);
    for (const prop of AMI_PROPS[language]) expect(code).toContain(prop.replace(/[ \t]+/g, ' '));
    const amiLines = code.split('\n').filter((l) => AMI_PROPS[language].some((p) => bare(l) === bare(p)));
    expect(amiLines).toHaveLength(AMI_PROPS[language].length);
    expect(code).toMatch(/TagPolicyEngine/);
    for (const item of tags.rules) expect(compact(code)).toContain(compact(RULE[language](item)));
    expect(code.match(RULE_KEY[language]) ?? []).toHaveLength(tags.rules.length);
    for (const prop of TAG_PROPS[language]) expect(code).toContain(prop.replace(/[ \t]+/g, ' '));
    const tagLines = code.split('\n').filter((l) => TAG_PROPS[language].some((p) => bare(l) === bare(p)));
    expect(tagLines).toHaveLength(TAG_PROPS[language].length);
    expect(code).toMatch(/InstanceDecommissioner/);
    for (const prop of DECOM_PROPS[language]) expect(code).toContain(prop.replace(/[ \t]+/g, ' '));
    const decomLines = code.split('\n').filter((l) => DECOM_PROPS[language].some((p) => bare(l) === bare(p)));
    expect(decomLines).toHaveLength(DECOM_PROPS[language].length);
    for (const fragment of DECOM_CODE[language]) expect(compact(code)).toContain(compact(fragment));
    expect(code).toMatch(/EcsInstanceDrainer/);
    for (const prop of DRAINER_PROPS[language]) expect(code).toContain(prop.replace(/[ \t]+/g, ' '));
    const drainerLines = code.split('\n').filter((l) => DRAINER_PROPS[language].some((p) => bare(l) === bare(p)));
    expect(drainerLines).toHaveLength(DRAINER_PROPS[language].length);
    for (const fragment of DRAINER_CODE[language]) expect(compact(code)).toContain(compact(fragment));
    expect(code).toMatch(/ImageRetention/);
    for (const prop of RETENTION_PROPS[language]) expect(code).toContain(prop.replace(/[ \t]+/g, ' '));
    const retentionLines = code.split('\n').filter((l) => RETENTION_PROPS[language].some((p) => bare(l) === bare(p)));
    expect(retentionLines).toHaveLength(RETENTION_PROPS[language].length);
    for (const fragment of RETENTION_CODE[language]) expect(compact(code)).toContain(compact(fragment));
    for (const fragment of DASHBOARD_CODE[language]) expect(compact(code)).toContain(compact(fragment));
    expect(code).toMatch(/synth/i);
  });

  test('the AmiManager signals example is exactly the code typescript.test.ts builds (test/consumers/typescript/signals.ts)', () => {
    const region: string = examples.exampleRegion({ language: 'signals', file: 'test/consumers/typescript/signals.ts' });
    expect(readme).toContain(`\`\`\`ts\n${region}\n\`\`\``);
  });
});
