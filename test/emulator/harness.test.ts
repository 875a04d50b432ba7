/**
 * The emulator harness itself: moto starts and stops, the launcher's patches give real-EC2
 * behaviour, SNS reaches the subscribed queue, and a bundle runs in a fresh process.
 */
import * as path from 'path';
import { DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, CreateSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { PublishCommand } from '@aws-sdk/client-sns';
import {
  createInstances,
  createTopicWithQueue,
  describeAllInstances,
  describeAllKeyPairs,
  EmulatorClients,
  emulatorClients,
  readNotifications,
} from './fleet';
import { MotoServer, startMoto } from './moto';
import { runBundle } from './run-bundle';
import { functionEnvironmentFromTemplate } from './stack-env';

let moto: MotoServer;
let aws: EmulatorClients;

beforeAll(async () => {
  moto = await startMoto();
  aws = emulatorClients(moto.endpoint);
}, 300_000); // first run on a fresh machine installs moto into .venv-moto

afterAll(async () => {
  await moto?.stop();
});

const HOUR = 3_600_000;

test('moto listens on 127.0.0.1 only', () => {
  expect(moto.endpoint).toBe(`http://127.0.0.1:${moto.port}`);
});

test('key-name filters take EC2 wildcards (instances, key pairs) and group-name too', async () => {
  const [packer, web] = await createInstances(aws.ec2, [{ keyName: 'packer_abc' }, { keyName: 'web' }]);

  const out = await aws.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'key-name', Values: ['packer_*'] }] }));
  const ids = out.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId));
  expect(ids).toEqual([packer.instanceId]);
  expect(ids).not.toContain(web.instanceId);

  const keyNames = async (pattern: string) => (await aws.ec2.send(new DescribeKeyPairsCommand({
    Filters: [{ Name: 'key-name', Values: [pattern] }],
  }))).KeyPairs!.map((k) => k.KeyName);
  expect(await keyNames('packer_a?c')).toEqual(['packer_abc']);
  expect(await keyNames('packer_[a]bc')).toEqual([]); // no [...] classes in EC2

  await aws.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'packer_abc', Description: 'packer' }));
  const groupNames = async (pattern: string) => (await aws.ec2.send(new DescribeSecurityGroupsCommand({
    Filters: [{ Name: 'group-name', Values: [pattern] }],
  }))).SecurityGroups!.map((g) => g.GroupName);
  expect(await groupNames('packer_a?c')).toEqual(['packer_abc']);
  expect(await groupNames('packer.abc')).toEqual([]); // only * and ? are special, as in EC2
  expect(await groupNames('packer_abc?')).toEqual([]); // ? is exactly one character
});

test('fixture tags set launch time, stop time and key pair create time, and are not visible', async () => {
  const launchTime = new Date(Date.now() - 72 * HOUR);
  const stoppedAt = new Date(Date.now() - 30 * HOUR);
  launchTime.setMilliseconds(0);
  stoppedAt.setMilliseconds(0);
  const [instance] = await createInstances(aws.ec2, [
    { keyName: 'packer_old', name: 'Packer Builder', launchTime, state: 'stopped', stoppedAt },
  ]);

  const view = (await describeAllInstances(aws.ec2)).get(instance.instanceId)!;
  expect(view.launchTime).toEqual(launchTime);
  expect(view.state).toBe('stopped');
  expect(view.stateTransitionReason).toBe(`User initiated (${stoppedAt.toISOString().slice(0, 19).replace('T', ' ')} GMT)`);
  expect(view.tags).toEqual({ Name: 'Packer Builder' });

  const keyPair = (await describeAllKeyPairs(aws.ec2)).get('packer_old')!;
  expect(keyPair.createTime!.getTime()).toBe(launchTime.getTime() - 5_000);
  expect(keyPair.tags).toEqual({});
});

test('SNS delivers to the subscribed queue', async () => {
  const { topicArn, queueUrl } = await createTopicWithQueue(aws, 'harness-topic');
  await aws.sns.send(new PublishCommand({ TopicArn: topicArn, Subject: 'hello', Message: 'body text' }));

  expect(await readNotifications(aws.sqs, queueUrl)).toEqual([{ Subject: 'hello', Message: 'body text' }]);
  expect(await readNotifications(aws.sqs, queueUrl)).toEqual([]);
});

test('runBundle calls the handler in a fresh process configured by env and returns its result', async () => {
  const bundlePath = path.join(__dirname, '__fixtures__', 'describe-handler.js');
  const env = functionEnvironmentFromTemplate({
    Resources: {
      Topic: { Type: 'AWS::SNS::Topic' },
      Fn: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: { GREETING: 'hi', TOPIC_ARN: { Ref: 'Topic' } } } } },
    },
  }, { resolveRefs: { 'AWS::SNS::Topic': 'arn:aws:sns:us-east-1:123456789012:t' } });
  expect(env).toEqual({ GREETING: 'hi', TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:t' });

  const [packer] = await createInstances(aws.ec2, [{ keyName: 'packer_bundle' }]);

  const ok = await runBundle({ bundlePath, env, event: {}, endpoint: moto.endpoint });
  expect(ok.error).toBeUndefined();
  expect(ok.result.greeting).toBe('hi');
  expect(ok.result.ids).toContain(packer.instanceId);
  expect(ok.logs[0]).toMatchObject({ message: 'describing' });

  const failed = await runBundle({ bundlePath, env, event: { fail: true }, endpoint: moto.endpoint });
  expect(failed.error?.message).toBe('asked to fail by hi');
  expect(failed.exitCode).toBe(1);
});

test('stop() ends the server', async () => {
  await moto.stop();
  await expect(fetch(`${moto.endpoint}/moto-api/`)).rejects.toThrow();
});
