import { RULE_ATTRIBUTES } from '../../src/tag-policy-engine/contract';
import {
  ALLOWED_VALUES_MAX,
  characters,
  compilePattern,
  ParsedRule,
  parseRuleItem,
  PATTERN_MAX,
  TAG_KEY_MAX,
  TAG_VALUE_MAX,
  tagKeyProblem,
  tagValueProblem,
  valueProblem,
} from '../../src/tag-policy-engine/rule-format';

/** The rule an item parses to (fails the test with the error when it does not parse). */
function ruleOf(item: Record<string, unknown>): ParsedRule {
  const result = parseRuleItem(item);
  if (!result.rule) throw new Error(`expected a rule, got error: ${result.error}`);
  expect(result.error).toBeUndefined();
  return result.rule;
}

/** The error an item gives (fails the test when it parses). */
function errorOf(item: Record<string, unknown>): string {
  const result = parseRuleItem(item);
  expect(result.rule).toBeUndefined();
  expect(typeof result.error).toBe('string');
  return result.error!;
}

const base = { RuleId: '9', TagKey: 'Team' };
/** An emoji is one character for EC2, two UTF-16 units for JavaScript. */
const EMOJI = '\u{1F600}';

describe('the seed\'s items (AWS Compute blog "serverless policy engine")', () => {
  test('UserLookup is the creator', () => {
    expect(ruleOf({ RuleId: '1', TagKey: 'Owner', Action: 'UserLookup', Required: 'true' })).toEqual({
      ruleId: '1', tagKey: 'Owner', required: true, defaultValue: { kind: 'creator' },
    });
  });

  test('Function today() is the launch date', () => {
    expect(ruleOf({ RuleId: '2', TagKey: 'LaunchDate', Action: 'Function', Default: 'today()', Required: 'true' })).toEqual({
      ruleId: '2', tagKey: 'LaunchDate', required: true, defaultValue: { kind: 'launchDate' },
    });
  });

  test('Update with a Default is a fixed value', () => {
    expect(ruleOf({ RuleId: '3', TagKey: 'CostCenter', Action: 'Update', Default: '1001', Required: 'false' })).toEqual({
      ruleId: '3', tagKey: 'CostCenter', required: false, defaultValue: { kind: 'fixed', value: '1001' },
    });
  });

  test('the parsed rule carries no key for what the item does not set', () => {
    const rule = ruleOf({ RuleId: '3', TagKey: 'CostCenter', Action: 'Update', Default: '1001', Required: 'false' });
    expect(Object.keys(rule).sort()).toEqual(['defaultValue', 'required', 'ruleId', 'tagKey']);
  });
});

describe('parseRuleItem reads', () => {
  test('a numeric RuleId (a DynamoDB number) as its string', () => {
    expect(ruleOf({ ...base, RuleId: 7 }).ruleId).toBe('7');
    expect(ruleOf({ ...base, RuleId: 0 }).ruleId).toBe('0');
  });

  test('a RuleId of exactly 256 characters', () => {
    expect(ruleOf({ ...base, RuleId: 'r'.repeat(256) }).ruleId).toHaveLength(256);
  });

  test.each([
    ['true', true], ['false', false], ['TRUE', true], ['False', false], [' true ', true], [true, true], [false, false],
    [undefined, false], [null, false],
  ])('Required %j as %s', (required, expected) => {
    expect(ruleOf({ ...base, Required: required }).required).toBe(expected);
  });

  test('a rule with no Action only checks', () => {
    const rule = ruleOf({ ...base, Required: 'true' });
    expect(rule.defaultValue).toBeUndefined();
    expect('defaultValue' in rule).toBe(false);
  });

  test.each([[''], [undefined], [null]])('Update with Default %j only checks', (value) => {
    expect(ruleOf({ ...base, Action: 'Update', Default: value }).defaultValue).toBeUndefined();
  });

  test('Update keeps the Default as written, spaces included', () => {
    expect(ruleOf({ ...base, Action: 'Update', Default: ' a b ' }).defaultValue).toEqual({ kind: 'fixed', value: ' a b ' });
  });

  test('UserLookup ignores a Default', () => {
    expect(ruleOf({ ...base, Action: 'UserLookup', Default: 'whatever' }).defaultValue).toEqual({ kind: 'creator' });
  });

  test('Function accepts today() with spaces around it', () => {
    expect(ruleOf({ ...base, Action: 'Function', Default: '  today() ' }).defaultValue).toEqual({ kind: 'launchDate' });
  });

  test('FromTag reads the other key from Default', () => {
    expect(ruleOf({ ...base, Action: 'FromTag', Default: 'Project' }).defaultValue).toEqual({ kind: 'fromTag', tagKey: 'Project' });
  });

  test('FromTag may read an AWS tag (the source is only read, never written)', () => {
    expect(ruleOf({ ...base, Action: 'FromTag', Default: 'aws:cloudformation:stack-name' }).defaultValue)
      .toEqual({ kind: 'fromTag', tagKey: 'aws:cloudformation:stack-name' });
  });

  test('AllowedValues as a list and as a string set', () => {
    expect(ruleOf({ ...base, AllowedValues: ['a', 'b'] }).allowedValues).toEqual(['a', 'b']);
    expect(ruleOf({ ...base, AllowedValues: new Set(['a', 'b']) }).allowedValues).toEqual(['a', 'b']);
  });

  test(`AllowedValues of exactly ${ALLOWED_VALUES_MAX} values, each up to ${TAG_VALUE_MAX} characters`, () => {
    const values = Array.from({ length: ALLOWED_VALUES_MAX }, (_, i) => `${i}`.padEnd(TAG_VALUE_MAX, 'x'));
    expect(ruleOf({ ...base, AllowedValues: values }).allowedValues).toHaveLength(ALLOWED_VALUES_MAX);
  });

  test('Pattern, OnViolation and ManagedBy', () => {
    expect(ruleOf({ ...base, Pattern: '^(dev|prod)$', OnViolation: 'STOP', ManagedBy: 'stack/Tags' })).toEqual({
      ruleId: '9', tagKey: 'Team', required: false, pattern: '^(dev|prod)$', onViolation: 'STOP', managedBy: 'stack/Tags',
    });
  });

  test.each(['NOTIFY', 'MARK', 'STOP', 'TERMINATE'])('OnViolation %s', (action) => {
    expect(ruleOf({ ...base, OnViolation: action }).onViolation).toBe(action);
  });

  test('a ManagedBy that is not a string is left out', () => {
    expect('managedBy' in ruleOf({ ...base, ManagedBy: 5 })).toBe(false);
  });

  test(`a Pattern of exactly ${PATTERN_MAX} characters`, () => {
    expect(ruleOf({ ...base, Pattern: 'a'.repeat(PATTERN_MAX) }).pattern).toHaveLength(PATTERN_MAX);
  });

  test('a fixed Default that obeys AllowedValues and Pattern', () => {
    const rule = ruleOf({ ...base, Action: 'Update', Default: '1002', AllowedValues: ['1001', '1002'], Pattern: '\\d{4}' });
    expect(rule.defaultValue).toEqual({ kind: 'fixed', value: '1002' });
  });

  test('a creator or launch date default is not checked against the pattern at parse (it is only known per instance)', () => {
    expect(ruleOf({ ...base, Action: 'UserLookup', Pattern: 'nobody' }).defaultValue).toEqual({ kind: 'creator' });
    expect(ruleOf({ ...base, Action: 'Function', Default: 'today()', AllowedValues: ['x'] }).defaultValue).toEqual({ kind: 'launchDate' });
  });

  test(`keys and values at the limit: ${TAG_KEY_MAX} and ${TAG_VALUE_MAX} characters, counted as EC2 counts them`, () => {
    expect(ruleOf({ ...base, TagKey: 'k'.repeat(TAG_KEY_MAX) }).tagKey).toHaveLength(TAG_KEY_MAX);
    expect(ruleOf({ ...base, TagKey: EMOJI.repeat(TAG_KEY_MAX) }).tagKey).toHaveLength(2 * TAG_KEY_MAX);
    expect(ruleOf({ ...base, Action: 'Update', Default: EMOJI.repeat(TAG_VALUE_MAX) }).defaultValue).toEqual({ kind: 'fixed', value: EMOJI.repeat(TAG_VALUE_MAX) });
  });
});

describe('parseRuleItem rejects, naming the attribute', () => {
  test.each<[string, Record<string, unknown>, string, RegExp]>([
    ['no RuleId', { TagKey: 'Team' }, 'RuleId', /RuleId must be a string or a number/],
    ['a boolean RuleId', { ...base, RuleId: true }, 'RuleId', /RuleId must be a string or a number/],
    ['an empty RuleId', { ...base, RuleId: '' }, 'RuleId', /RuleId must have 1 to 256 characters/],
    ['a RuleId of 257 characters', { ...base, RuleId: 'r'.repeat(257) }, 'RuleId', /RuleId must have 1 to 256 characters/],
    ['no TagKey', { RuleId: '1' }, 'TagKey', /TagKey must be a string/],
    ['a numeric TagKey', { RuleId: '1', TagKey: 5 }, 'TagKey', /TagKey must be a string/],
    ['an empty TagKey', { RuleId: '1', TagKey: '' }, 'TagKey', /TagKey "": a tag key must have 1 to 128 characters/],
    ['a blank TagKey', { RuleId: '1', TagKey: '   ' }, 'TagKey', /a tag key must have 1 to 128 characters/],
    ['a TagKey of 129 characters', { RuleId: '1', TagKey: 'k'.repeat(129) }, 'TagKey', /a tag key must have 1 to 128 characters/],
    ['an aws: TagKey', { RuleId: '1', TagKey: 'aws:createdBy' }, 'TagKey', /TagKey "aws:createdBy": tag keys starting with "aws:" are reserved/],
    ['an AWS: TagKey (any case)', { RuleId: '1', TagKey: 'AWS:x' }, 'TagKey', /reserved for AWS/],
    ['Required "yes"', { ...base, Required: 'yes' }, 'Required', /Required must be "true" or "false", got "yes"/],
    ['Required 1', { ...base, Required: 1 }, 'Required', /Required must be "true" or "false", got 1/],
    ['Required ""', { ...base, Required: '' }, 'Required', /Required must be "true" or "false", got ""/],
    ['Required "trueish"', { ...base, Required: 'trueish' }, 'Required', /Required must be "true" or "false", got "trueish"/],
    ['Required "not false"', { ...base, Required: 'not false' }, 'Required', /Required must be "true" or "false", got "not false"/],
    ['an unknown Action', { ...base, Action: 'Delete' }, 'Action', /Action must be one of Update, UserLookup, Function, FromTag, got "Delete"/],
    ['a lower-case action', { ...base, Action: 'update' }, 'Action', /Action must be one of/],
    ['a numeric Action', { ...base, Action: 3 }, 'Action', /Action must be one of .*, got 3/],
    ['a Default without an Action', { ...base, Default: '1001' }, 'Default', /Default needs an Action \(Update, UserLookup, Function, FromTag\)/],
    ['a numeric Default', { ...base, Action: 'Update', Default: 1001 }, 'Default', /Default must be a string, got 1001/],
    ['a list Default', { ...base, Action: 'Update', Default: ['a'] }, 'Default', /Default must be a string, got a list of 1/],
    ['a blank fixed Default', { ...base, Action: 'Update', Default: '   ' }, 'Default', /Default must not be blank/],
    ['a fixed Default of 257 characters', { ...base, Action: 'Update', Default: 'v'.repeat(257) }, 'Default', /Default: a tag value must have at most 256/],
    ['Function without a Default', { ...base, Action: 'Function' }, 'Default', /Action Function needs Default "today\(\)".*got undefined/],
    ['Function now()', { ...base, Action: 'Function', Default: 'now()' }, 'Default', /Action Function needs Default "today\(\)".*got "now\(\)"/],
    ['Function TODAY()', { ...base, Action: 'Function', Default: 'TODAY()' }, 'Default', /needs Default "today\(\)"/],
    ['FromTag without a Default', { ...base, Action: 'FromTag' }, 'Default', /FromTag needs the other tag's key in Default: missing/],
    ['FromTag with an empty Default', { ...base, Action: 'FromTag', Default: '' }, 'Default', /FromTag needs the other tag's key in Default: a tag key must/],
    ['FromTag with a key too long', { ...base, Action: 'FromTag', Default: 'k'.repeat(129) }, 'Default', /in Default: a tag key must have 1 to 128/],
    ['FromTag from itself', { ...base, Action: 'FromTag', Default: 'Team' }, 'TagKey', /FromTag cannot copy TagKey "Team" from itself/],
    ['an empty AllowedValues', { ...base, AllowedValues: [] }, 'AllowedValues', /AllowedValues must be a list or string set of 1 to 1000 strings, got a list of 0/],
    ['an empty string set', { ...base, AllowedValues: new Set() }, 'AllowedValues', /AllowedValues must be a list or string set .*, got a set of 0/],
    ['a string AllowedValues', { ...base, AllowedValues: 'a,b' }, 'AllowedValues', /AllowedValues must be a list or string set .*, got "a,b"/],
    ['an object AllowedValues', { ...base, AllowedValues: { a: 1 } }, 'AllowedValues', /AllowedValues must be a list .*, got object/],
    ['1001 AllowedValues', { ...base, AllowedValues: Array.from({ length: 1001 }, (_, i) => `${i}`) }, 'AllowedValues', /got a list of 1001/],
    ['a number set (a DynamoDB NS)', { ...base, AllowedValues: new Set([1, 2]) }, 'AllowedValues', /AllowedValues must hold strings of at most 256 characters, got 1/],
    ['a number in the list', { ...base, AllowedValues: ['a', 2] }, 'AllowedValues', /AllowedValues must hold strings .*, got 2/],
    ['an allowed value of 257 characters', { ...base, AllowedValues: ['v'.repeat(257)] }, 'AllowedValues', /AllowedValues must hold strings of at most 256/],
    ['an empty Pattern', { ...base, Pattern: '' }, 'Pattern', /Pattern must be a regular expression of 1 to 1024 characters, got ""/],
    ['a numeric Pattern', { ...base, Pattern: 5 }, 'Pattern', /Pattern must be a regular expression .*, got 5/],
    ['a Pattern too long', { ...base, Pattern: 'a'.repeat(1025) }, 'Pattern', /Pattern must be a regular expression of 1 to 1024/],
    ['an unclosed group', { ...base, Pattern: '(dev' }, 'Pattern', /Pattern "\(dev" is not a valid regular expression: .*Unterminated group/],
    ['an unclosed class', { ...base, Pattern: '[a-' }, 'Pattern', /Pattern "\[a-" is not a valid regular expression/],
    ['a nothing-to-repeat', { ...base, Pattern: '*x' }, 'Pattern', /Pattern "\*x" is not a valid regular expression/],
    ['a pattern that only compiles inside the anchoring group', { ...base, Pattern: 'dev)|(prod' }, 'Pattern', /Pattern "dev\)\|\(prod" is not a valid regular expression/],
    ['OnViolation lower case', { ...base, OnViolation: 'stop' }, 'OnViolation', /OnViolation must be one of NOTIFY, MARK, STOP, TERMINATE, got "stop"/],
    ['OnViolation DELETE', { ...base, OnViolation: 'DELETE' }, 'OnViolation', /OnViolation must be one of .*, got "DELETE"/],
    ['OnViolation true', { ...base, OnViolation: true }, 'OnViolation', /OnViolation must be one of .*, got true/],
    ['a fixed Default not among AllowedValues', { ...base, Action: 'Update', Default: '9999', AllowedValues: ['1001', '1002'] }, 'AllowedValues',
      /Default breaks the rule's own AllowedValues: value "9999" is not one of the allowed values "1001", "1002"/],
    ['a fixed Default against the Pattern', { ...base, Action: 'Update', Default: 'qa', Pattern: 'dev|prod' }, 'Pattern',
      /Default breaks the rule's own Pattern: value "qa" does not match the pattern "dev\|prod"/],
    ['an allowed fixed Default against the Pattern', { ...base, Action: 'Update', Default: 'qa', AllowedValues: ['qa'], Pattern: 'dev|prod' }, 'Pattern',
      /Default breaks the rule's own Pattern: value "qa" does not match/],
  ])('%s', (_label, item, attribute, message) => {
    const error = errorOf(item);
    expect(error).toContain(attribute);
    expect(error).toMatch(message);
  });

  test('null attributes count as absent, not as invalid', () => {
    expect(ruleOf({ ...base, Action: null, Default: null, AllowedValues: null, Pattern: null, OnViolation: null, Required: null })).toEqual({
      ruleId: '9', tagKey: 'Team', required: false,
    });
  });

  test('a long bad value is shortened in the message', () => {
    const error = errorOf({ ...base, Required: 'x'.repeat(500) });
    expect(error).toContain(`"${'x'.repeat(61)}..."`);
    expect(error.length).toBeLessThan(150);
  });

  test('null in AllowedValues is described as null', () => {
    expect(errorOf({ ...base, AllowedValues: [null] })).toMatch(/got null$/);
  });

  test('the first problem is the one reported: RuleId before TagKey before the rest', () => {
    expect(errorOf({ TagKey: 'aws:x', Required: 'maybe' })).toMatch(/^RuleId/);
    expect(errorOf({ RuleId: '1', TagKey: 'aws:x', Required: 'maybe' })).toMatch(/^TagKey/);
  });

  test('never throws, whatever the item', () => {
    for (const item of [{}, { RuleId: {} }, { RuleId: '1', TagKey: 'k', AllowedValues: [{}] }, { RuleId: '1', TagKey: 'k', Pattern: '(?<a>x)(?<a>y)' }]) {
      expect(() => parseRuleItem(item)).not.toThrow();
      expect(parseRuleItem(item).error).toEqual(expect.any(String));
    }
  });

  test('the attribute names are the contract\'s', () => {
    expect(RULE_ATTRIBUTES).toMatchObject({
      ruleId: 'RuleId',
      tagKey: 'TagKey',
      action: 'Action',
      required: 'Required',
      defaultValue: 'Default',
      allowedValues: 'AllowedValues',
      pattern: 'Pattern',
      onViolation: 'OnViolation',
    });
  });
});

describe('tagKeyProblem and tagValueProblem', () => {
  test('keys: 1 to 128 characters, not aws:', () => {
    expect(tagKeyProblem('k')).toBeUndefined();
    expect(tagKeyProblem('k'.repeat(128))).toBeUndefined();
    expect(tagKeyProblem('k'.repeat(129))).toBe('a tag key must have 1 to 128 characters');
    expect(tagKeyProblem('')).toBe('a tag key must have 1 to 128 characters');
    expect(tagKeyProblem(' ')).toBe('a tag key must have 1 to 128 characters');
    expect(tagKeyProblem('aws:x')).toBe('tag keys starting with "aws:" are reserved for AWS');
    expect(tagKeyProblem('Aws:x')).toBe('tag keys starting with "aws:" are reserved for AWS');
    expect(tagKeyProblem('aws-x')).toBeUndefined();
    expect(tagKeyProblem('x:aws:y')).toBeUndefined();
  });

  test('values: at most 256 characters, empty allowed', () => {
    expect(tagValueProblem('')).toBeUndefined();
    expect(tagValueProblem('v'.repeat(256))).toBeUndefined();
    expect(tagValueProblem('v'.repeat(257))).toBe('a tag value must have at most 256 characters');
  });

  test('lengths count characters (code points), as EC2 does, not UTF-16 units', () => {
    expect(characters(EMOJI)).toBe(1);
    expect(characters(`a${EMOJI}b`)).toBe(3);
    expect(tagKeyProblem(EMOJI.repeat(128))).toBeUndefined();
    expect(tagKeyProblem(EMOJI.repeat(129))).toBeDefined();
    expect(tagValueProblem(EMOJI.repeat(256))).toBeUndefined();
    expect(tagValueProblem(EMOJI.repeat(257))).toBeDefined();
  });
});

describe('compilePattern', () => {
  test('matches the whole value only', () => {
    const re = compilePattern('dev|prod');
    expect(re.test('dev')).toBe(true);
    expect(re.test('prod')).toBe(true);
    expect(re.test('development')).toBe(false);
    expect(re.test('preprod')).toBe(false);
    expect(re.test('')).toBe(false);
  });

  test('anchors written by the user are harmless', () => {
    expect(compilePattern('^(dev|prod)$').test('dev')).toBe(true);
    expect(compilePattern('^(dev|prod)$').test('devx')).toBe(false);
  });

  test('backreferences keep their numbers (the anchoring group does not capture)', () => {
    expect(compilePattern('(a)\\1').test('aa')).toBe(true);
    expect(compilePattern('(a)\\1').test('ab')).toBe(false);
  });

  test('is case sensitive, as tag values are', () => {
    expect(compilePattern('prod').test('PROD')).toBe(false);
  });

  test.each(['(', '[', 'a)|(b', 'x)(?:y', '+'])('throws a SyntaxError for %j', (pattern) => {
    expect(() => compilePattern(pattern)).toThrow(SyntaxError);
  });
});

describe('valueProblem', () => {
  test('no constraints: every value is fine', () => {
    expect(valueProblem({}, 'anything')).toBeUndefined();
  });

  test('allowed values, exact and case sensitive', () => {
    const rule = { allowedValues: ['1001', '1002'] };
    expect(valueProblem(rule, '1001')).toBeUndefined();
    expect(valueProblem(rule, '1003')).toBe('value "1003" is not one of the allowed values "1001", "1002"');
    expect(valueProblem({ allowedValues: ['Prod'] }, 'prod')).toBeDefined();
    expect(valueProblem(rule, ' 1001')).toBeDefined();
  });

  test('lists 10 allowed values at most, then "..."', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `v${i}`);
    expect(valueProblem({ allowedValues: ten }, 'x')).toBe(`value "x" is not one of the allowed values ${ten.map((v) => `"${v}"`).join(', ')}`);
    const eleven = [...ten, 'v10'];
    expect(valueProblem({ allowedValues: eleven }, 'x')).toBe(`value "x" is not one of the allowed values ${ten.map((v) => `"${v}"`).join(', ')}, ...`);
  });

  test('the pattern, compiled on the spot or given compiled', () => {
    expect(valueProblem({ pattern: 'dev|prod' }, 'dev')).toBeUndefined();
    expect(valueProblem({ pattern: 'dev|prod' }, 'qa')).toBe('value "qa" does not match the pattern "dev|prod"');
    // A compiled pattern given is the one used.
    expect(valueProblem({ pattern: 'dev|prod' }, 'qa', /^qa$/)).toBeUndefined();
  });

  test('allowed values are checked before the pattern', () => {
    expect(valueProblem({ allowedValues: ['a'], pattern: 'b' }, 'c')).toMatch(/not one of the allowed values/);
    expect(valueProblem({ allowedValues: ['a'], pattern: 'b' }, 'a')).toMatch(/does not match the pattern "b"/);
  });

  test('long values are shortened in the reason', () => {
    expect(valueProblem({ allowedValues: ['a'] }, 'x'.repeat(100))).toContain(`"${'x'.repeat(61)}..."`);
    expect(valueProblem({ allowedValues: ['a'] }, 'x'.repeat(64))).toContain(`"${'x'.repeat(64)}"`);
  });
});
