/*
 * Guards every destructive plan goes through, whatever the construct: the protection tag always
 * wins, and at most `maxActions` changes are made per run (the rest are reported, not acted on).
 */
export function isProtected(tags: Readonly<Record<string, string>>, protectionTagKey: string): boolean {
  return Object.prototype.hasOwnProperty.call(tags, protectionTagKey);
}

/** Keeps the first `maxActions` items that `isAction` selects; returns the ones over the cap. */
export function splitAtCap<T>(items: readonly T[], isAction: (item: T) => boolean, maxActions: number): { within: Set<T>; over: Set<T> } {
  const within = new Set<T>();
  const over = new Set<T>();
  for (const item of items) {
    if (!isAction(item)) continue;
    if (within.size < maxActions) within.add(item);
    else over.add(item);
  }
  return { within, over };
}
