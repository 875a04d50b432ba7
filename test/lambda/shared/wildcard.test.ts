import { matchesAny, wildcardToRegExp } from '../../../lambda/shared/wildcard';

const matches = (pattern: string, value: string) => wildcardToRegExp(pattern).test(value);

describe('wildcardToRegExp (EC2 filter semantics)', () => {
  test('packer_* matches Packer key names and nothing else', () => {
    expect(matches('packer_*', 'packer_6650f3a2-1c2b-4a5e-9f00-0123456789ab')).toBe(true);
    expect(matches('packer_*', 'packer_')).toBe(true);
    expect(matches('packer_*', 'mypacker_x')).toBe(false);
    expect(matches('packer_*', 'packer-x')).toBe(false);
    expect(matches('packer_*', 'Packer_x')).toBe(false);
    expect(matches('packer_*', 'packer')).toBe(false);
  });

  test('the legacy "packer *" pattern needs the literal space', () => {
    expect(matches('packer *', 'packer 6650f3a2-1c2b-4a5e-9f00-0123456789ab')).toBe(true);
    expect(matches('packer *', 'packer_6650f3a2')).toBe(false);
    expect(matches('packer *', 'packerx')).toBe(false);
  });

  test('* matches any run, including newlines and nothing', () => {
    expect(matches('a*b', 'ab')).toBe(true);
    expect(matches('a*b', 'a\nx\nb')).toBe(true);
    expect(matches('a*b', 'a-b-c')).toBe(false);
    expect(matches('*-key', 'prod-key')).toBe(true);
  });

  test('? matches exactly one character', () => {
    expect(matches('packer_?', 'packer_a')).toBe(true);
    expect(matches('packer_?', 'packer_')).toBe(false);
    expect(matches('packer_?', 'packer_ab')).toBe(false);
    expect(matches('k??', 'k\n1')).toBe(true);
  });

  test('the pattern is anchored at both ends', () => {
    expect(matches('packer', 'xpacker')).toBe(false);
    expect(matches('packer', 'packerx')).toBe(false);
    expect(matches('packer', 'packer')).toBe(true);
  });

  test('backslash escapes make *, ? and \\ literal', () => {
    expect(matches('a\\*b', 'a*b')).toBe(true);
    expect(matches('a\\*b', 'axb')).toBe(false);
    expect(matches('a\\?b', 'a?b')).toBe(true);
    expect(matches('a\\?b', 'axb')).toBe(false);
    expect(matches('a\\\\b', 'a\\b')).toBe(true);
    expect(matches('a\\\\*', 'a\\anything')).toBe(true);
    expect(matches('a\\x', 'ax')).toBe(true);
  });

  test('a trailing backslash is a literal backslash', () => {
    expect(matches('key\\', 'key\\')).toBe(true);
    expect(matches('key\\', 'key')).toBe(false);
  });

  test.each([
    ['build.(1)+[x]', 'build.(1)+[x]', 'buildX(1)+[x]'],
    ['a.b', 'a.b', 'aXb'],
    ['x+', 'x+', 'xx'],
    ['^start$', '^start$', 'start'],
    ['a|b', 'a|b', 'a'],
    ['{1,2}', '{1,2}', '1'],
    ['a/b-c', 'a/b-c', 'a/bc'],
  ])('regular-expression metacharacters in %j are literal', (pattern, same, other) => {
    expect(matches(pattern, same)).toBe(true);
    expect(matches(pattern, other)).toBe(false);
  });

  test('metacharacters mixed with wildcards', () => {
    expect(matches('packer.(*)', 'packer.(build 7)')).toBe(true);
    expect(matches('packer.(*)', 'packerX(build 7)')).toBe(false);
  });
});

describe('matchesAny', () => {
  const patterns = ['packer_*', 'packer *'].map(wildcardToRegExp);

  test('true when any pattern matches', () => {
    expect(matchesAny('packer_1', patterns)).toBe(true);
    expect(matchesAny('packer 1', patterns)).toBe(true);
    expect(matchesAny('prod-key', patterns)).toBe(false);
  });

  test('an absent value never matches, even a catch-all', () => {
    expect(matchesAny(undefined, [wildcardToRegExp('*')])).toBe(false);
    expect(matchesAny('', [wildcardToRegExp('*')])).toBe(true);
  });

  test('no patterns match nothing', () => {
    expect(matchesAny('packer_1', [])).toBe(false);
  });
});
