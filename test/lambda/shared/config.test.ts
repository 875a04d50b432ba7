import {
  optionalInteger,
  optionalString,
  readBoolean,
  readEnum,
  readInteger,
  readStringList,
  readStringMap,
  requireString,
} from '../../../lambda/shared/config';
import { ConfigError } from '../../../lambda/shared/errors';

/** Runs `read` and returns the ConfigError it throws (fails the test if it throws anything else or nothing). */
function configErrorOf(read: () => unknown): ConfigError {
  let thrown: unknown;
  try {
    read();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

/**
 * The error names the variable and shows the offending value, quoted, so a bad deploy is easy to
 * trace, and ends with what was expected (the whole message when `reason` is given).
 */
function expectNamesVariableAndValue(error: ConfigError, name: string, value: string | undefined, reason?: string): void {
  expect(error.variable).toBe(name);
  expect(error.value).toBe(value);
  expect(error.message).toContain(`environment variable ${name}=`);
  expect(error.message).toContain(value === undefined ? '(unset)' : JSON.stringify(value));
  if (reason !== undefined) {
    expect(error.message).toBe(`Invalid configuration: environment variable ${name}=${value === undefined ? '(unset)' : JSON.stringify(value)}: ${reason}`);
  }
}

describe('requireString', () => {
  test('returns the value as given', () => {
    expect(requireString({ TOPIC_ARN: 'arn:aws:sns:eu-west-1:111122223333:t' }, 'TOPIC_ARN')).toBe('arn:aws:sns:eu-west-1:111122223333:t');
  });

  test.each([
    ['unset', undefined],
    ['empty', ''],
    ['blank', '   '],
  ])('rejects a %s value, naming the variable', (_label, value) => {
    const error = configErrorOf(() => requireString({ TOPIC_ARN: value }, 'TOPIC_ARN'));
    expectNamesVariableAndValue(error, 'TOPIC_ARN', value, 'a non-empty value is required');
  });
});

describe('optionalString', () => {
  test('unset and empty read as undefined, anything else as is', () => {
    expect(optionalString({}, 'X')).toBeUndefined();
    expect(optionalString({ X: '' }, 'X')).toBeUndefined();
    expect(optionalString({ X: ' a ' }, 'X')).toBe(' a ');
  });
});

describe('readBoolean', () => {
  test('reads exactly "true" and "false"', () => {
    expect(readBoolean({ DRY_RUN: 'true' }, 'DRY_RUN', false)).toBe(true);
    expect(readBoolean({ DRY_RUN: 'false' }, 'DRY_RUN', true)).toBe(false);
  });

  test('falls back when unset or empty', () => {
    expect(readBoolean({}, 'DRY_RUN', true)).toBe(true);
    expect(readBoolean({ DRY_RUN: '' }, 'DRY_RUN', false)).toBe(false);
  });

  test.each(['TRUE', 'yes', '1', 'true '])('rejects %j', (value) => {
    const error = configErrorOf(() => readBoolean({ DRY_RUN: value }, 'DRY_RUN', false));
    expectNamesVariableAndValue(error, 'DRY_RUN', value, 'expected "true" or "false"');
  });
});

describe('readInteger', () => {
  const opts = { min: 60, max: 86_400 };

  test('reads integers within bounds, inclusive', () => {
    expect(readInteger({ N: '60' }, 'N', opts)).toBe(60);
    expect(readInteger({ N: '86400' }, 'N', opts)).toBe(86_400);
    expect(readInteger({ N: ' 3600 ' }, 'N', opts)).toBe(3_600);
  });

  test('uses the fallback only when unset or empty', () => {
    expect(readInteger({}, 'N', { ...opts, fallback: 7_200 })).toBe(7_200);
    expect(readInteger({ N: '' }, 'N', { ...opts, fallback: 7_200 })).toBe(7_200);
    expect(readInteger({ N: '120' }, 'N', { ...opts, fallback: 7_200 })).toBe(120);
  });

  test('unset without fallback is an error', () => {
    expectNamesVariableAndValue(configErrorOf(() => readInteger({}, 'N', opts)), 'N', undefined, 'an integer is required');
  });

  test.each(['1.5', '2h', 'abc', '1e3', '0x10', '--1', ' '])('rejects non-integer %j', (value) => {
    const error = configErrorOf(() => readInteger({ MAX_AGE_SECONDS: value }, 'MAX_AGE_SECONDS', opts));
    expectNamesVariableAndValue(error, 'MAX_AGE_SECONDS', value, 'expected an integer');
  });

  test.each(['59', '86401', '-60', '99999999999999999999'])('rejects out-of-range %j and states the range', (value) => {
    const error = configErrorOf(() => readInteger({ MAX_AGE_SECONDS: value }, 'MAX_AGE_SECONDS', opts));
    expectNamesVariableAndValue(error, 'MAX_AGE_SECONDS', value, 'expected an integer from 60 to 86400');
  });

  test('without a max, only the minimum applies', () => {
    expect(readInteger({ N: '100000000' }, 'N', { min: 0 })).toBe(100_000_000);
    expectNamesVariableAndValue(configErrorOf(() => readInteger({ N: '-1' }, 'N', { min: 0 })), 'N', '-1', 'expected an integer from 0');
  });
});

describe('optionalInteger', () => {
  test('undefined when unset or empty, validated otherwise', () => {
    expect(optionalInteger({}, 'T', { min: 60 })).toBeUndefined();
    expect(optionalInteger({ T: '' }, 'T', { min: 60 })).toBeUndefined();
    expect(optionalInteger({ T: '600' }, 'T', { min: 60 })).toBe(600);
    expectNamesVariableAndValue(configErrorOf(() => optionalInteger({ T: '30' }, 'T', { min: 60 })), 'T', '30', 'expected an integer from 60');
  });
});

describe('readEnum', () => {
  const actions = ['NOTIFY', 'STOP', 'TERMINATE'] as const;

  test('accepts allowed values exactly', () => {
    expect(readEnum({ ACTION: 'STOP' }, 'ACTION', actions)).toBe('STOP');
    expect(readEnum({ ACTION: 'TERMINATE' }, 'ACTION', actions, 'NOTIFY')).toBe('TERMINATE');
  });

  test('falls back when unset or empty', () => {
    expect(readEnum({}, 'ACTION', actions, 'NOTIFY')).toBe('NOTIFY');
    expect(readEnum({ ACTION: '' }, 'ACTION', actions, 'NOTIFY')).toBe('NOTIFY');
  });

  test.each(['terminate', 'DELETE', ' STOP'])('rejects %j and lists the allowed values', (value) => {
    const error = configErrorOf(() => readEnum({ ACTION: value }, 'ACTION', actions, 'NOTIFY'));
    expectNamesVariableAndValue(error, 'ACTION', value, 'expected one of NOTIFY, STOP, TERMINATE');
  });

  test('unset without a fallback is an error', () => {
    expectNamesVariableAndValue(configErrorOf(() => readEnum({}, 'ACTION', actions)), 'ACTION', undefined, 'expected one of NOTIFY, STOP, TERMINATE');
  });
});

describe('readStringList', () => {
  test('parses a JSON array of strings', () => {
    expect(readStringList({ P: '["packer_*","packer *"]' }, 'P')).toEqual(['packer_*', 'packer *']);
  });

  test('falls back when unset or empty; without a fallback that is an error', () => {
    expect(readStringList({}, 'P', { fallback: ['a'] })).toEqual(['a']);
    expect(readStringList({ P: '' }, 'P', { fallback: ['a'] })).toEqual(['a']);
    expectNamesVariableAndValue(configErrorOf(() => readStringList({}, 'P')), 'P', undefined, 'a JSON array of strings is required');
  });

  test.each([
    ['not JSON', '[packer_*]', 'expected JSON'],
    ['an object', '{"a":"b"}', 'expected a JSON array of non-empty strings'],
    ['a bare string', '"packer_*"', 'expected a JSON array of non-empty strings'],
    ['a number item', '["packer_*",1]', 'expected a JSON array of non-empty strings'],
    ['an empty item', '["packer_*",""]', 'expected a JSON array of non-empty strings'],
  ])('rejects %s', (_label, value, reason) => {
    const error = configErrorOf(() => readStringList({ KEY_NAME_PATTERNS: value }, 'KEY_NAME_PATTERNS'));
    expectNamesVariableAndValue(error, 'KEY_NAME_PATTERNS', value, reason);
  });

  test('enforces minItems', () => {
    const error = configErrorOf(() => readStringList({ P: '[]' }, 'P', { minItems: 1 }));
    expectNamesVariableAndValue(error, 'P', '[]', 'expected at least 1 item(s)');
    expect(readStringList({ P: '[]' }, 'P')).toEqual([]);
  });
});

describe('readStringMap', () => {
  test('parses a JSON object of strings; unset or empty is {}', () => {
    expect(readStringMap({ T: '{"team":"images","env":"ci"}' }, 'T')).toEqual({ team: 'images', env: 'ci' });
    expect(readStringMap({}, 'T')).toEqual({});
    expect(readStringMap({ T: '' }, 'T')).toEqual({});
  });

  test.each([
    ['not JSON', '{team:images}', 'expected JSON'],
    ['null', 'null', 'expected a JSON object of string keys to string values'],
    ['an array', '["a"]', 'expected a JSON object of string keys to string values'],
    ['a string', '"team"', 'expected a JSON object of string keys to string values'],
    ['a number', '1', 'expected a JSON object of string keys to string values'],
    ['a non-string value', '{"n":1}', 'expected a JSON object of string keys to string values'],
    ['an empty key', '{"":"x"}', 'expected a JSON object of string keys to string values'],
  ])('rejects %s', (_label, value, reason) => {
    expectNamesVariableAndValue(configErrorOf(() => readStringMap({ TAG_SELECTOR: value }, 'TAG_SELECTOR')), 'TAG_SELECTOR', value, reason);
  });
});
