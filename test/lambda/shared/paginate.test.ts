import { DescribeInstancesCommand, DescribeInstancesCommandOutput, EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { collectPages, tokenPages } from '../../../lambda/shared/paginate';
import { ec2Error, instantRetry } from '../helpers';

interface FakePage {
  readonly items: string[];
  readonly next?: string;
}

/**
 * A fake service of `pageCount` pages of 3 items each; `failOnce` maps a page's starting token to the
 * error thrown the first time that page is requested. Records every starting token asked for.
 */
function fakeService(pageCount: number, failOnce: Record<string, Error> = {}) {
  const tokenOf = (page: number) => (page < pageCount - 1 ? `t${page + 1}` : undefined);
  const requestedTokens: Array<string | undefined> = [];
  const paginatorStarts: Array<string | undefined> = [];
  const pending = new Map(Object.entries(failOnce));
  function paginatorFrom(startingToken: string | undefined): AsyncIterable<FakePage> {
    paginatorStarts.push(startingToken);
    return (async function* walk() {
      let token = startingToken;
      for (;;) {
        requestedTokens.push(token);
        const key = token ?? 'start';
        const failure = pending.get(key);
        if (failure) {
          pending.delete(key);
          throw failure;
        }
        const page = token === undefined ? 0 : Number(token.slice(1));
        const next = tokenOf(page);
        yield { items: [0, 1, 2].map((i) => `p${page}-${i}`), next };
        if (next === undefined) return;
        token = next;
      }
    })();
  }
  return { paginatorFrom, requestedTokens, paginatorStarts };
}

const allItems = (pages: number) => Array.from({ length: pages }, (_, p) => [0, 1, 2].map((i) => `p${p}-${i}`)).flat();

describe('collectPages', () => {
  test('walks every page in order', async () => {
    const svc = fakeService(5);
    const { items, pages } = await collectPages(svc.paginatorFrom, (p) => p.next, (p) => p.items, instantRetry().options);
    expect(pages).toBe(5);
    expect(items).toEqual(allItems(5));
    expect(svc.paginatorStarts).toEqual([undefined]);
  });

  test('after a ThrottlingException mid-way it resumes from the last token, without duplicates', async () => {
    const svc = fakeService(5, { t3: ec2Error('ThrottlingException') });
    const retry = instantRetry();
    const { items, pages } = await collectPages(svc.paginatorFrom, (p) => p.next, (p) => p.items, retry.options);
    expect(items).toEqual(allItems(5));
    expect(new Set(items).size).toBe(items.length);
    expect(pages).toBe(5);
    // first walk got pages 0-2, failed asking for t3; the second walk started at t3, not at the beginning
    expect(svc.paginatorStarts).toEqual([undefined, 't3']);
    expect(svc.requestedTokens).toEqual([undefined, 't1', 't2', 't3', 't3', 't4']);
    expect(retry.delays).toHaveLength(1);
  });

  test('a failure on the first page restarts from the beginning', async () => {
    const svc = fakeService(2, { start: ec2Error('RequestLimitExceeded') });
    const { items } = await collectPages(svc.paginatorFrom, (p) => p.next, (p) => p.items, instantRetry().options);
    expect(items).toEqual(allItems(2));
    expect(svc.paginatorStarts).toEqual([undefined, undefined]);
  });

  test('a non-transient error stops the walk at once', async () => {
    const svc = fakeService(5, { t2: ec2Error('UnauthorizedOperation', 403) });
    const retry = instantRetry();
    await expect(collectPages(svc.paginatorFrom, (p) => p.next, (p) => p.items, retry.options)).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(svc.paginatorStarts).toEqual([undefined]);
    expect(retry.delays).toEqual([]);
  });

  test('persistent throttling gives up after the retry attempts', async () => {
    let starts = 0;
    const paginatorFrom = () => {
      starts++;
      return (async function* failing(): AsyncGenerator<FakePage> {
        throw ec2Error('ThrottlingException');
      })();
    };
    await expect(collectPages(paginatorFrom, (p: FakePage) => p.next, (p) => p.items, instantRetry(3).options)).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(starts).toBe(3);
  });

  test('the retry budget is per page: scattered throttles over a long listing never abandon it', async () => {
    // Three attempts allowed; every other page throttles once, five throttles in all.
    const svc = fakeService(10, {
      t1: ec2Error('ThrottlingException'),
      t3: ec2Error('ThrottlingException'),
      t5: ec2Error('RequestLimitExceeded'),
      t7: ec2Error('ThrottlingException'),
      t9: ec2Error('ThrottlingException'),
    });
    const { items, pages } = await collectPages(svc.paginatorFrom, (p) => p.next, (p) => p.items, instantRetry(3).options);
    expect(items).toEqual(allItems(10));
    expect(pages).toBe(10);
    expect(svc.paginatorStarts).toEqual([undefined, 't1', 't3', 't5', 't7', 't9']);
  });

  test('with the real SDK paginator, the resumed request carries the last NextToken', async () => {
    const ec2Mock = mockClient(EC2Client);
    try {
      const page = (id: string, NextToken?: string): DescribeInstancesCommandOutput =>
        ({ $metadata: {}, Reservations: [{ Instances: [{ InstanceId: id }] }], NextToken });
      // The paginator reuses (and mutates) one input object, so note each request's token as it is sent.
      const tokens: Array<string | undefined> = [];
      const replies: Array<DescribeInstancesCommandOutput | Error> = [
        page('i-1', 'tok-a'), page('i-2', 'tok-b'), ec2Error('ThrottlingException'), page('i-3', 'tok-c'), page('i-4'),
      ];
      ec2Mock.on(DescribeInstancesCommand).callsFake(async (input) => {
        tokens.push(input.NextToken);
        const reply = replies.shift();
        if (!reply) throw new Error('unexpected extra DescribeInstances call');
        if (reply instanceof Error) throw reply;
        return reply;
      });
      const client = new EC2Client({ region: 'eu-west-1' });
      const { items, pages } = await collectPages(
        (startingToken) => paginateDescribeInstances({ client, pageSize: 1000, startingToken }, {}),
        (p) => p.NextToken,
        (p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId),
        instantRetry().options,
      );
      expect(items).toEqual(['i-1', 'i-2', 'i-3', 'i-4']);
      expect(pages).toBe(4);
      expect(tokens).toEqual([undefined, 'tok-a', 'tok-b', 'tok-b', 'tok-c']);
    } finally {
      ec2Mock.restore();
    }
  });
});

describe('tokenPages', () => {
  test('follows NextToken from the starting token until a page has none, and resumes through collectPages after a transient failure', async () => {
    const asked: Array<string | undefined> = [];
    let failOnce = true;
    const fetchPage = async (token: string | undefined) => {
      asked.push(token);
      if (token === 'b' && failOnce) {
        failOnce = false;
        throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
      }
      const next: Record<string, string | undefined> = { start: 'a', a: 'b', b: undefined };
      return { Items: [token], NextToken: next[token ?? 'start'] };
    };
    const { items, pages } = await collectPages(
      (startingToken) => tokenPages(fetchPage, startingToken),
      (page) => page.NextToken,
      (page) => page.Items,
      instantRetry().options,
    );
    expect(items).toEqual([undefined, 'a', 'b']);
    expect(pages).toBe(3);
    expect(asked).toEqual([undefined, 'a', 'b', 'b']);
  });
});
