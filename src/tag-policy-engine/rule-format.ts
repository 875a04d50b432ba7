import { RULE_ACTIONS, RULE_ATTRIBUTES as A, TODAY_FUNCTION, VIOLATION_ACTIONS } from './contract';

/*
 * One reading of a rule item, for both sides: the construct checks the rules of its props with it at
 * synth, the handler reads every item of the table with it at run time (items edited by hand
 * included). Plain code with no imports beyond the contract, so that the handler bundle stays free
 * of aws-cdk-lib.
 */

export type ViolationActionName = typeof VIOLATION_ACTIONS[number];

/** Where a missing tag's value comes from. */
export type DefaultSpec =
  | { readonly kind: 'fixed'; readonly value: string }
  | { readonly kind: 'creator' }
  | { readonly kind: 'launchDate' }
  | { readonly kind: 'fromTag'; readonly tagKey: string };

export interface ParsedRule {
  readonly ruleId: string;
  readonly tagKey: string;
  readonly required: boolean;
  readonly defaultValue?: DefaultSpec;
  readonly allowedValues?: readonly string[];
  /** The pattern as written; `matches` anchors it to the whole value. */
  readonly pattern?: string;
  readonly onViolation?: ViolationActionName;
  readonly managedBy?: string;
}

export const TAG_KEY_MAX = 128;
export const TAG_VALUE_MAX = 256;
export const PATTERN_MAX = 1_024;
export const ALLOWED_VALUES_MAX = 1_000;
const RULE_ID_MAX = 256;

/** Length in Unicode characters (code points), the unit of EC2's tag limits; `.length` counts UTF-16 units. */
export function characters(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/** Why a tag key cannot be written by EC2's CreateTags; undefined when it can. */
export function tagKeyProblem(key: string): string | undefined {
  return tagKeyLengthProblem(key) ?? (key.toLowerCase().startsWith('aws:') ? 'tag keys starting with "aws:" are reserved for AWS' : undefined);
}

/** Why a string cannot be a tag key at all (written or only read); undefined when it can. */
function tagKeyLengthProblem(key: string): string | undefined {
  return key.trim().length === 0 || characters(key) > TAG_KEY_MAX ? `a tag key must have 1 to ${TAG_KEY_MAX} characters` : undefined;
}

export function tagValueProblem(value: string): string | undefined {
  return characters(value) > TAG_VALUE_MAX ? `a tag value must have at most ${TAG_VALUE_MAX} characters` : undefined;
}

/**
 * Compiles a rule's pattern to match the whole value; throws SyntaxError for a bad one. The pattern
 * is compiled on its own first: wrapped only, `a)|(b` would compile (to `^(?:a)|(b)$`, which matches
 * any value starting with "a") instead of being refused.
 */
export function compilePattern(pattern: string): RegExp {
  new RegExp(pattern);
  return new RegExp(`^(?:${pattern})$`);
}

/** Whether a present value obeys the rule's allowed values and pattern; the reason when not. */
export function valueProblem(rule: Pick<ParsedRule, 'allowedValues' | 'pattern'>, value: string, compiled?: RegExp): string | undefined {
  if (rule.allowedValues && !rule.allowedValues.includes(value)) {
    return `value ${quote(value)} is not one of the allowed values ${rule.allowedValues.slice(0, 10).map(quote).join(', ')}${rule.allowedValues.length > 10 ? ', ...' : ''}`;
  }
  if (rule.pattern !== undefined && !(compiled ?? compilePattern(rule.pattern)).test(value)) {
    return `value ${quote(value)} does not match the pattern ${quote(rule.pattern)}`;
  }
  return undefined;
}

export type RuleItemResult = { readonly rule: ParsedRule; readonly error?: undefined } | { readonly rule?: undefined; readonly error: string };

/**
 * Reads one table item (attribute values already unmarshalled: strings, booleans, lists, sets).
 * Never throws: an invalid item comes back with the reason, naming the attribute.
 */
export function parseRuleItem(item: Readonly<Record<string, unknown>>): RuleItemResult {
  try {
    return { rule: readRule(item) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function readRule(item: Readonly<Record<string, unknown>>): ParsedRule {
  const ruleId = item[A.ruleId];
  if (typeof ruleId !== 'string' && typeof ruleId !== 'number') throw new Error(`${A.ruleId} must be a string or a number`);
  if (String(ruleId).length === 0 || String(ruleId).length > RULE_ID_MAX) throw new Error(`${A.ruleId} must have 1 to ${RULE_ID_MAX} characters`);

  const tagKey = item[A.tagKey];
  if (typeof tagKey !== 'string') throw new Error(`${A.tagKey} must be a string`);
  const keyProblem = tagKeyProblem(tagKey);
  if (keyProblem) throw new Error(`${A.tagKey} ${quote(tagKey)}: ${keyProblem}`);

  const required = readRequired(item[A.required]);
  const allowedValues = readAllowedValues(item[A.allowedValues]);
  const pattern = readPattern(item[A.pattern]);
  const onViolation = readOnViolation(item[A.onViolation]);
  const defaultValue = readDefault(item[A.action], item[A.defaultValue], tagKey);
  const managedBy = item[A.managedBy];

  const rule: ParsedRule = {
    ruleId: String(ruleId),
    tagKey,
    required,
    ...(defaultValue ? { defaultValue } : {}),
    ...(allowedValues ? { allowedValues } : {}),
    ...(pattern !== undefined ? { pattern } : {}),
    ...(onViolation ? { onViolation } : {}),
    ...(typeof managedBy === 'string' ? { managedBy } : {}),
  };
  if (defaultValue?.kind === 'fixed') {
    const problem = valueProblem(rule, defaultValue.value);
    // Name the check that failed: a value among the allowed ones can still break the pattern.
    const broken = rule.allowedValues && !rule.allowedValues.includes(defaultValue.value) ? A.allowedValues : A.pattern;
    if (problem) throw new Error(`${A.defaultValue} breaks the rule's own ${broken}: ${problem}`);
  }
  return rule;
}

function readRequired(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
  throw new Error(`${A.required} must be "true" or "false", got ${describe(value)}`);
}

function readAllowedValues(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const values = value instanceof Set ? [...value] : value;
  if (!Array.isArray(values) || values.length === 0 || values.length > ALLOWED_VALUES_MAX) {
    throw new Error(`${A.allowedValues} must be a list or string set of 1 to ${ALLOWED_VALUES_MAX} strings, got ${describe(value)}`);
  }
  for (const v of values) {
    if (typeof v !== 'string' || tagValueProblem(v)) throw new Error(`${A.allowedValues} must hold strings of at most ${TAG_VALUE_MAX} characters, got ${describe(v)}`);
  }
  return values as string[];
}

function readPattern(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > PATTERN_MAX) {
    throw new Error(`${A.pattern} must be a regular expression of 1 to ${PATTERN_MAX} characters, got ${describe(value)}`);
  }
  try {
    compilePattern(value);
  } catch (error) {
    throw new Error(`${A.pattern} ${quote(value)} is not a valid regular expression: ${(error as Error).message}`);
  }
  return value;
}

function readOnViolation(value: unknown): ViolationActionName | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && (VIOLATION_ACTIONS as readonly string[]).includes(value)) return value as ViolationActionName;
  throw new Error(`${A.onViolation} must be one of ${VIOLATION_ACTIONS.join(', ')}, got ${describe(value)}`);
}

function readDefault(action: unknown, value: unknown, tagKey: string): DefaultSpec | undefined {
  if (action === undefined || action === null) {
    if (value !== undefined && value !== null) throw new Error(`${A.defaultValue} needs an ${A.action} (${RULE_ACTIONS.join(', ')})`);
    return undefined;
  }
  if (typeof action !== 'string' || !(RULE_ACTIONS as readonly string[]).includes(action)) {
    throw new Error(`${A.action} must be one of ${RULE_ACTIONS.join(', ')}, got ${describe(action)}`);
  }
  if (value !== undefined && value !== null && typeof value !== 'string') throw new Error(`${A.defaultValue} must be a string, got ${describe(value)}`);
  const text = value as string | undefined | null;
  switch (action) {
    case 'UserLookup':
      return { kind: 'creator' };
    case 'Function':
      if (text?.trim() !== TODAY_FUNCTION) throw new Error(`${A.action} Function needs ${A.defaultValue} "${TODAY_FUNCTION}", the only function there is, got ${describe(value)}`);
      return { kind: 'launchDate' };
    case 'FromTag': {
      // The source is only read: an AWS tag (aws:cloudformation:stack-name, ...) is a valid one.
      const keyProblem = typeof text === 'string' ? tagKeyLengthProblem(text) : 'missing';
      if (keyProblem) throw new Error(`${A.action} FromTag needs the other tag's key in ${A.defaultValue}: ${keyProblem}`);
      if (text === tagKey) throw new Error(`${A.action} FromTag cannot copy ${A.tagKey} ${quote(tagKey)} from itself`);
      return { kind: 'fromTag', tagKey: text! };
    }
    default: {
      // Update: the seed writes Default as the value to set; an Update without one only checks.
      if (text === undefined || text === null || text === '') return undefined;
      // A blank value counts as missing: written, it would be "fixed" again on every run.
      if (text.trim() === '') throw new Error(`${A.defaultValue} must not be blank: a blank tag value counts as missing`);
      const problem = tagValueProblem(text);
      if (problem) throw new Error(`${A.defaultValue}: ${problem}`);
      return { kind: 'fixed', value: text };
    }
  }
}

function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 61)}...` : value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Set) return `a set of ${value.size}`;
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
