import { isTransient } from './errors';
import { retryTransient, RetryOptions } from './retry';

/*
 * Walks an SDK v3 paginator to the end. If a page fails with a transient error after the SDK's own
 * retries, the paginator is re-created from the last token it returned, so the sweep resumes where
 * it stopped instead of starting over or giving up.
 */
export async function collectPages<Page, Item>(
  paginatorFrom: (startingToken: string | undefined) => AsyncIterable<Page>,
  nextTokenOf: (page: Page) => string | undefined,
  itemsOf: (page: Page) => Item[],
  retry: RetryOptions = {},
): Promise<{ items: Item[]; pages: number }> {
  const items: Item[] = [];
  let pages = 0;
  let token: string | undefined;
  let finished = false;
  while (!finished) {
    let progressed = false;
    try {
      // The attempt budget is per page: a long listing that keeps making progress is never abandoned.
      await retryTransient(async () => {
        for await (const page of paginatorFrom(token)) {
          pages++;
          progressed = true;
          items.push(...itemsOf(page));
          token = nextTokenOf(page);
        }
        finished = true;
      }, retry);
    } catch (error) {
      if (!progressed || !isTransient(error)) throw error;
    }
  }
  return { items, pages };
}

/**
 * The pages of a NextToken listing whose SDK client has no paginator (EventBridge's List* calls),
 * in the shape collectPages takes.
 */
export async function* tokenPages<Page extends { NextToken?: string }>(
  fetchPage: (token: string | undefined) => Promise<Page>,
  startingToken?: string,
): AsyncIterable<Page> {
  let token = startingToken;
  do {
    const page = await fetchPage(token);
    yield page;
    token = page.NextToken;
  } while (token);
}
