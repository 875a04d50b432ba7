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

  const cases: Array<[string, unknown]> = examples.EXAMPLES.map((e: { language: string }) => [e.language, e]);
  test.each(cases)('the %s example sets exactly the PackerCleaner and AmiManager props its consumer app is checked for', (language: string, example: unknown) => {
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
    expect(code).toMatch(/synth/i);
  });

  test('the AmiManager signals example is exactly the code typescript.test.ts builds (test/consumers/typescript/signals.ts)', () => {
    const region: string = examples.exampleRegion({ language: 'signals', file: 'test/consumers/typescript/signals.ts' });
    expect(readme).toContain(`\`\`\`ts\n${region}\n\`\`\``);
  });
});
