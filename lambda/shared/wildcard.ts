/**
 * EC2 filter wildcard semantics (`*` any run, `?` one character, `\` escapes), used to re-check
 * client-side what a server-side filter was asked for.
 */
export function wildcardToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      source += escapeRegExp(pattern[++i]);
    } else if (c === '*') {
      source += '[\\s\\S]*';
    } else if (c === '?') {
      source += '[\\s\\S]';
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export function matchesAny(value: string | undefined, patterns: readonly RegExp[]): boolean {
  return value !== undefined && patterns.some((p) => p.test(value));
}
