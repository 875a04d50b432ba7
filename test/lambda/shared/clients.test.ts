import { EC2Client } from '@aws-sdk/client-ec2';
import { clientConfig, USER_AGENT } from '../../../lambda/shared/clients';

describe('clientConfig', () => {
  test('standard retries with 5 attempts, and a user agent naming the library and the handler', async () => {
    const client = new EC2Client({ ...clientConfig('packer-cleaner'), region: 'us-east-1' });
    expect(USER_AGENT).toBe('cdk-fleet-janitor');
    expect(await client.config.retryStrategy()).toMatchObject({ mode: 'standard' });
    expect(await client.config.maxAttempts()).toBe(5);
    expect(client.config.customUserAgent).toEqual([['cdk-fleet-janitor/packer-cleaner']]);
    client.destroy();
  });

  test('standard retries even where the environment asks for adaptive ones (AWS_RETRY_MODE)', async () => {
    const saved = process.env.AWS_RETRY_MODE;
    process.env.AWS_RETRY_MODE = 'adaptive';
    try {
      const client = new EC2Client({ ...clientConfig('packer-cleaner'), region: 'us-east-1' });
      expect(await client.config.retryStrategy()).toMatchObject({ mode: 'standard' });
      client.destroy();
    } finally {
      if (saved === undefined) delete process.env.AWS_RETRY_MODE;
      else process.env.AWS_RETRY_MODE = saved;
    }
  });
});
