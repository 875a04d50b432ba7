import { ConfigError } from './errors';

/*
 * Configuration arrives in environment variables set by the construct. Each reader validates one
 * variable and names it in the error, so a bad deploy fails at cold start before anything is changed.
 */
type Env = Record<string, string | undefined>;

export function requireString(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(name, value, 'a non-empty value is required');
  return value;
}

export function optionalString(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(name, value, 'expected "true" or "false"');
}

export function readInteger(env: Env, name: string, opts: { min: number; max?: number; fallback?: number }): number {
  const value = env[name];
  if (value === undefined || value === '') {
    if (opts.fallback !== undefined) return opts.fallback;
    throw new ConfigError(name, value, 'an integer is required');
  }
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(name, value, 'expected an integer');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < opts.min || (opts.max !== undefined && n > opts.max)) {
    throw new ConfigError(name, value, `expected an integer from ${opts.min}${opts.max !== undefined ? ` to ${opts.max}` : ''}`);
  }
  return n;
}

export function optionalInteger(env: Env, name: string, opts: { min: number; max?: number }): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  return readInteger(env, name, opts);
}

export function readEnum<T extends string>(env: Env, name: string, allowed: readonly T[], fallback?: T): T {
  const value = env[name];
  if ((value === undefined || value === '') && fallback !== undefined) return fallback;
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(name, value, `expected one of ${allowed.join(', ')}`);
}

function parseJson(name: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError(name, value, 'expected JSON');
  }
}

export function readStringList(env: Env, name: string, opts: { fallback?: string[]; minItems?: number } = {}): string[] {
  const value = env[name];
  if (value === undefined || value === '') {
    if (opts.fallback) return opts.fallback;
    throw new ConfigError(name, value, 'a JSON array of strings is required');
  }
  const parsed = parseJson(name, value);
  if (!Array.isArray(parsed) || parsed.some((item) => typeof item !== 'string' || item.length === 0)) {
    throw new ConfigError(name, value, 'expected a JSON array of non-empty strings');
  }
  if (opts.minItems !== undefined && parsed.length < opts.minItems) {
    throw new ConfigError(name, value, `expected at least ${opts.minItems} item(s)`);
  }
  return parsed as string[];
}

export function readStringMap(env: Env, name: string): Record<string, string> {
  const value = env[name];
  if (value === undefined || value === '') return {};
  const parsed = parseJson(name, value);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)
    || Object.entries(parsed).some(([k, v]) => k.length === 0 || typeof v !== 'string')) {
    throw new ConfigError(name, value, 'expected a JSON object of string keys to string values');
  }
  return parsed as Record<string, string>;
}
