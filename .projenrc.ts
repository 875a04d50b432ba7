import { awscdk, javascript } from 'projen';

/*
 * aws-cdk-lib version choice (see issue #2):
 * - 2.257.0 is the development version and the bottom of the peer range.
 * - cdk-nag 2.38.x runs its AwsSolutions pack against 2.257.0 offline (our construct tests do). cdk-nag
 *   3.0.2 declares a peer range of ^2.257.0 but cannot run on 2.257.0 (measured): it is a validation
 *   plugin (`Validations.of(app).addPlugins(new AwsSolutionsChecks(app))`; registered as an Aspect,
 *   the v2 way, synth throws "aspectApplication.aspect.visit is not a function", on 2.276.0 too), and
 *   2.257.0 does not pass plugins the construct tree, so the pack fails with "NagPack requires a
 *   construct tree on the validation context" and so does the validation. 2.258.0 is the first
 *   release that passes it (read in its source; runs on 2.268.0 and 2.276.0, checked 2026-12-01),
 *   so 2.38.x it is while we develop on 2.257.0; test/consumers/nag3 runs the cdk-nag 3 packs on
 *   the packaged library with aws-cdk-lib 2.276.0.
 * - the integ-runner snapshot check can read the cloud assembly written by 2.257.0; it cannot read
 *   the schema-55 assembly of aws-cdk-lib 2.276.0, so we do not move past the 2.25x line yet.
 */
const CDK_VERSION = '2.257.0';
const CDK_NAG_VERSION = '2.38.2';

// Handlers bundle the AWS SDK v3 and Powertools; pinned so every build ships the same bytes.
const AWS_SDK_VERSION = '3.1169.0';
const POWERTOOLS_VERSION = '2.36.0';

/** Handlers bundled by `bundle:handlers`; one folder per construct under lambda/. */
const HANDLERS = ['packer-cleaner', 'ami-manager', 'tag-policy-engine', 'instance-decommissioner', 'ecs-instance-drainer', 'image-retention'];

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-fleet-janitor',
  description: 'AWS CDK constructs that keep EC2/ECS fleets clean and compliant: Packer leftovers, AMIs, ECS drains, image retention, tag policy.',
  author: 'cdk-fleet-janitor maintainers',
  authorAddress: 'maintainers@cdk-fleet-janitor.dev',
  repositoryUrl: 'https://github.com/cdk-fleet-janitor/cdk-fleet-janitor.git',
  keywords: ['cdk', 'awscdk', 'ec2', 'ecs', 'packer', 'cleanup', 'janitor'],
  license: 'Apache-2.0',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  jsiiVersion: '~6.0.0',
  cdkVersion: CDK_VERSION,
  cdkVersionPinning: false,
  constructsVersion: '10.5.1',
  // The guide's layout names the dev tsconfig explicitly; it also type-checks lambda/.
  tsconfigDevFile: 'tsconfig.dev.json',
  tsconfigDev: {
    compilerOptions: {},
    include: ['lambda/**/*.ts', 'demo/**/*.ts', 'bench/**/*.ts', '.projenrc.ts'],
  },
  // Handlers are not constructs: they are bundled by our own task, never by projen's lambda discovery.
  lambdaAutoDiscover: false,
  github: false,
  // Every language a platform team works in, built by jsii from the same source. .NET is left out:
  // this build machine has no .NET SDK and no NuGet access.
  publishToPypi: { distName: 'cdk-fleet-janitor', module: 'cdk_fleet_janitor' },
  publishToMaven: {
    javaPackage: 'io.github.cdkfleetjanitor',
    mavenGroupId: 'io.github.cdkfleetjanitor',
    mavenArtifactId: 'cdk-fleet-janitor',
  },
  publishToGo: { moduleName: 'github.com/cdk-fleet-janitor/cdk-fleet-janitor-go', packageName: 'cdkfleetjanitor' },
  // lambda/, test/ and demo/ are outside jsii's tsconfig.json; lint them through tsconfig.dev.json.
  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'lambda', 'demo', 'bench', 'projenrc'],
    tsconfigPath: './tsconfig.dev.json',
    projectService: false,
  },
  release: false,
  jestOptions: {
    // projen's default passes --updateSnapshot, which silently rewrites a broken snapshot even in CI.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      testTimeout: 30_000,
      // A worker per core, not jest's default of cores - 1 (on 2 cores that is one process for everything):
      // the emulator tests spend most of their time waiting on moto and their own timers. 1,143 s -> 476 s here.
      maxWorkers: '100%',
      testPathIgnorePatterns: ['/node_modules/', '/cdk.out/', '/test/emulator/__fixtures__/', '/test/consumers/(python/.venv|go/.build|java/target)/'],
      modulePathIgnorePatterns: ['/test/consumers/(python/.venv|go/.build|java/target)/', '/dist/'],
      coveragePathIgnorePatterns: ['/node_modules/', '/test/'],
      globalSetup: '<rootDir>/test/helpers/jest-tmpdir-setup.cjs',
      globalTeardown: '<rootDir>/test/helpers/jest-tmpdir-teardown.cjs',
    },
  },
  devDeps: [
    `cdk-nag@${CDK_NAG_VERSION}`,
    'esbuild@0.28.2',
    `@aws-sdk/client-ec2@${AWS_SDK_VERSION}`,
    `@aws-sdk/client-sns@${AWS_SDK_VERSION}`,
    `@aws-sdk/client-sqs@${AWS_SDK_VERSION}`,
    `@aws-sdk/client-dynamodb@${AWS_SDK_VERSION}`,
    // Not released with every SDK version: the newest of each on the day the handler was written.
    '@aws-sdk/util-dynamodb@3.996.9',
    '@aws-sdk/client-cloudtrail@3.1137.0',
    `@aws-sdk/client-route-53@${AWS_SDK_VERSION}`,
    `@aws-sdk/client-eventbridge@${AWS_SDK_VERSION}`,
    '@aws-sdk/client-cloudwatch@3.1164.0',
    '@aws-sdk/client-lambda@3.1164.0',
    // EcsInstanceDrainer: ECS, Auto Scaling lifecycle actions, Step Functions executions.
    '@aws-sdk/client-ecs@3.1164.0',
    '@aws-sdk/client-sfn@3.1164.0',
    `@aws-sdk/client-auto-scaling@${AWS_SDK_VERSION}`,
    // ImageRetention: ECR, consumer accounts through STS, EventBridge Scheduler schedules that run tasks.
    `@aws-sdk/client-ecr@${AWS_SDK_VERSION}`,
    `@aws-sdk/client-sts@${AWS_SDK_VERSION}`,
    `@aws-sdk/client-scheduler@${AWS_SDK_VERSION}`,
    // Partial batch responses for the SQS-fed InstanceDecommissioner; the newest release on the day.
    '@aws-lambda-powertools/batch@2.35.0',
    `@aws-lambda-powertools/logger@${POWERTOOLS_VERSION}`,
    `@aws-lambda-powertools/metrics@${POWERTOOLS_VERSION}`,
    'aws-sdk-client-mock@4.1.0',
    'aws-sdk-client-mock-jest@4.1.0',
    '@types/aws-lambda@8.10.164',
    // integ-runner injects its own recommended feature flags into every synth: pinned so an upgrade
    // never changes the snapshots silently. It reads schema 53, the one aws-cdk-lib 2.257.0 writes.
    '@aws-cdk/integ-runner@2.197.10',
    '@aws-cdk/integ-tests-alpha@2.245.0-alpha.0',
    // Mutation testing (npx projen mutation). 10.x needs Node 22; these machines have Node 20.
    '@stryker-mutator/core@9.5.1',
    '@stryker-mutator/jest-runner@9.5.1',
    // build-tools/mutation-survivor-log.mjs is a Stryker reporter plugin.
    '@stryker-mutator/api@9.5.1',
  ],
  gitignore: ['/assets/', '/.venv-moto/', 'cdk.out/', '/demo/cdk.out/', '__pycache__/'],
  // The bundles ship in the tarball (and so in every jsii package); handler sources do not.
  npmIgnoreOptions: { ignorePatterns: ['/lambda/', '/demo/', '/bench/', '/docs/', '/.ci/', '/tsconfig.dev.json', '!/assets/'] },
});

// npm ci fails on this registry with newer unrs-resolver: some optional platform bindings are missing.
project.package.addField('overrides', { 'unrs-resolver': '1.12.2' });

// ---- handler bundles -------------------------------------------------------------------------
// esbuild runs when the library is built, never at a consumer's synth (aws-cdk#9759).
// Minified, with readable stack traces: --keep-names keeps our function names in every frame
// (`at readConfig (...)`, not `at yfe (...)`), and the source map (mappings only, no sources, and
// only into lambda/) turns `index.js:47:590823` into `lambda/packer-cleaner/config.ts:33:13` when
// the function runs with NODE_OPTIONS=--enable-source-maps, which the construct sets.
const bundleTask = project.addTask('bundle:handlers', {
  description: 'Bundle each Lambda handler in lambda/ into assets/<name>/index.js (+ index.js.map)',
});
for (const name of HANDLERS) {
  bundleTask.exec([
    'esbuild',
    `lambda/${name}/index.ts`,
    '--bundle',
    '--minify',
    '--keep-names',
    '--sourcemap',
    '--sources-content=false',
    '--platform=node',
    '--target=node22',
    '--format=cjs',
    '--main-fields=module,main',
    '--legal-comments=none',
    `--outfile=assets/${name}/index.js`,
    '--log-level=warning',
  ].join(' '));
  // Only our own sources stay mapped: Node parses the map at every cold start, and the SDK's
  // mappings (96% of them) cost a quarter of the load time for frames nobody reads.
  bundleTask.exec(`node build-tools/trim-source-map.cjs assets/${name}/index.js.map`);
}
project.preCompileTask.spawn(bundleTask);

const typecheckLambda = project.addTask('typecheck:lambda', {
  description: 'Type-check handler, test and demo code (jsii compiles only src/)',
  exec: 'tsc --noEmit -p tsconfig.dev.json',
});

// integ-runner's scratch output, and a third-party asset it copies into snapshots.
project.gitignore.exclude('/test/cdk-integ.out.*', '/test/*.snapshot/asset.*');

// Integ tests: the snapshot check is offline (never deploys) and runs with the tests; a maintainer
// with an AWS account runs the same tests for real (see README).
const INTEG_RUNNER = 'integ-runner --directory test --language typescript --app "node -r ts-node/register/transpile-only {filePath}"';
const integSnapshot = project.addTask('integ:snapshot', {
  description: 'Synthesize every test/integ.*.ts and fail on any difference from its committed snapshot (offline, never deploys)',
});
integSnapshot.spawn(bundleTask);
integSnapshot.exec(INTEG_RUNNER);
const integUpdate = project.addTask('integ:update', {
  description: 'Rewrite the snapshots of integ tests whose synthesized stacks changed (offline: --dry-run deploys nothing)',
});
integUpdate.spawn(bundleTask);
integUpdate.exec(`${INTEG_RUNNER} --update-on-failed --dry-run`);

// Tests need the shipped bundles (construct tests load them, emulator tests run them).
project.testTask.prependSpawn(bundleTask);
project.testTask.spawn(typecheckLambda);
project.testTask.spawn(integSnapshot);

// jsii prints a banner on Node 20; the build itself is unaffected.
project.tasks.addEnvironment('JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION', '20');
project.tasks.addEnvironment('JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION', '1');
// ts-node keeps a V8 code cache in the temp folder (v8-compile-cache-lib) whose reads take no lock:
// integ-runner starts the six integ apps at once, and one that read the blob while another rewrote it
// died in V8's deserializer ("Fatal error ... unreachable code", exit 133) on a fresh CI machine.
project.tasks.addEnvironment('DISABLE_V8_COMPILE_CACHE', '1');

// ---- demo --------------------------------------------------------------------------------------
// One segment per construct (demo/segments/index.ts), all on one moto server; `npx projen demo -- <ConstructName>` runs one.
const demo = project.addTask('demo', {
  description: 'Run every construct (or those named: npx projen demo -- <ConstructName>) against a local moto fleet, print the results',
});
demo.spawn(bundleTask);
demo.exec('ts-node --project tsconfig.dev.json demo/run.ts', { receiveArgs: true });

// Everyday `build` packages npm only; Python, Java and Go are their own step (`package-all`),
// proven by the consumer apps in `test:consumers`.
project.packageTask.reset();
project.packageTask.spawn(project.tasks.tryFind('package:js')!);

// The Go module proxy is reachable from the build machines, its checksum database is not; and it
// refuses some of aws-cdk-go's dependencies. Those are generated by jsii-pacmak into .goproxy/ and
// served first (only the ones the proxy refuses).
const packageGo = project.tasks.tryFind('package:go')!;
packageGo.reset('node build-tools/go-local-proxy.cjs -- jsii-pacmak -v --target go');
packageGo.env('GOSUMDB', 'off');
project.gitignore.exclude('/.goproxy/');
project.addPackageIgnore('/.goproxy/');
project.addPackageIgnore('/build-tools/');

// Consumer apps in Python, Java and Go install the packages from dist/ and synthesize the same
// stack, checked by test/consumers/check-template.cjs.
const testConsumers = project.addTask('test:consumers', {
  description: 'Build every language package (package-all) and run the Python, Java and Go consumer apps against them',
});
testConsumers.spawn(project.compileTask);
testConsumers.spawn(project.tasks.tryFind('package-all')!);
testConsumers.exec('bash test/consumers/run-all.sh');

// ---- mutation testing: a command that prints scores and writes docs/MUTATION.md (never part of CI)
const mutation = project.addTask('mutation', {
  description: 'StrykerJS over lambda/ and src/ with the unit and construct tests; `npx projen mutation -- <glob>` mutates those files only; writes docs/MUTATION.md',
});
mutation.spawn(bundleTask);
mutation.exec('node build-tools/mutation.cjs', { receiveArgs: true });
project.gitignore.exclude('/reports/', '/.stryker-tmp/');

// ---- benchmarks: a command that prints numbers and writes docs/BENCHMARKS.md (never a timed test)
const bench = project.addTask('bench', {
  description: 'Bundle sizes, cold load, API calls per operation against moto, handler and synth time; writes docs/BENCHMARKS.md',
});
bench.spawn(bundleTask);
bench.exec('ts-node --project tsconfig.dev.json bench/run.ts');

project.synth();
