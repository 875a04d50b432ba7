import { Duration, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { JanitorCommonProps, JanitorFunctionProps } from './common-props';
import { COMMON_ENV_LIMITS, EnvLimit } from './env-limits';

/*
 * Prop checks run first thing in a constructor, before any resource exists. Unresolved tokens are
 * skipped: their value is only known at deploy time.
 */
export function fail(construct: string, prop: string, value: unknown, reason: string): never {
  throw new Error(`${construct}: invalid ${prop} ${describeValue(value)}: ${reason}`);
}

function describeValue(value: unknown): string {
  if (value instanceof Duration) {
    // toHumanString drops fractions of a second, which is exactly what checkDuration rejects.
    const seconds = value.toSeconds({ integral: false });
    return Number.isInteger(seconds) ? `(${value.toHumanString()})` : `(${seconds} seconds)`;
  }
  return `(${JSON.stringify(value)})`;
}

export function checkDuration(construct: string, prop: string, value: Duration | undefined, bounds: { min?: Duration; max?: Duration }): void {
  if (value === undefined || value.isUnresolved()) return;
  const seconds = value.toSeconds({ integral: false });
  if (bounds.min && seconds < bounds.min.toSeconds()) fail(construct, prop, value, `must be at least ${bounds.min.toHumanString()}`);
  if (bounds.max && seconds > bounds.max.toSeconds()) fail(construct, prop, value, `must be at most ${bounds.max.toHumanString()}`);
  if (!Number.isInteger(seconds)) fail(construct, prop, value, 'must be a whole number of seconds');
}

export function checkInteger(construct: string, prop: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) fail(construct, prop, value, `must be an integer from ${min} to ${max}`);
}

export function checkTagKey(construct: string, prop: string, value: string | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (value.trim().length === 0 || value.length > 128) fail(construct, prop, value, 'a tag key must have 1 to 128 characters');
}

export function checkTagMap(construct: string, prop: string, value: { [key: string]: string } | undefined): void {
  if (value === undefined) return;
  for (const [key, tagValue] of Object.entries(value)) {
    checkTagKey(construct, `${prop} key`, key);
    if (typeof tagValue !== 'string' || tagValue.length > 256) fail(construct, `${prop}["${key}"]`, tagValue, 'a tag value must be a string of at most 256 characters');
  }
}

/** Refuses the first value of a list prop given more than once (a token counts as its own string). */
export function checkUnique(construct: string, prop: string, values: readonly string[]): void {
  const duplicate = values.find((value, i) => values.indexOf(value) !== i);
  if (duplicate !== undefined) fail(construct, prop, duplicate, 'is given more than once');
}

/** The checks of `JanitorCommonProps` every construct runs before its own. */
export function checkCommonProps(construct: string, props: JanitorCommonProps): void {
  checkDuration(construct, 'timeout', props.timeout, { min: Duration.seconds(10), max: Duration.minutes(15) });
  const maxActions = COMMON_ENV_LIMITS.MAX_ACTIONS_PER_RUN;
  checkInteger(construct, 'maxActionsPerRun', props.maxActionsPerRun, maxActions.min, maxActions.max);
  checkTagKey(construct, 'protectionTagKey', props.protectionTagKey);
  checkFunctionProps(construct, props);
}

/** The checks of `JanitorFunctionProps`: memory, tracing and networking of the handler. */
export function checkFunctionProps(construct: string, props: JanitorFunctionProps): void {
  checkInteger(construct, 'memorySize', props.memorySize, 128, 10_240);
  if (props.tracing !== undefined && !Object.values(lambda.Tracing).includes(props.tracing)) {
    fail(construct, 'tracing', props.tracing, `must be one of ${Object.values(lambda.Tracing).join(', ')}`);
  }
  if (!props.vpc && props.vpcSubnets) fail(construct, 'vpcSubnets', '(set)', 'needs the vpc prop');
  if (!props.vpc && props.securityGroups) fail(construct, 'securityGroups', props.securityGroups.map((g) => g.node.path), 'needs the vpc prop');
  if (props.securityGroups && props.securityGroups.length === 0) fail(construct, 'securityGroups', [], 'give at least one security group, or leave it out for a new one');
}

/** The bounds of a Duration prop whose value the handler reads as a number of seconds. */
export function secondsBounds(limit: EnvLimit): { min: Duration; max: Duration } {
  return { min: Duration.seconds(limit.min), max: Duration.seconds(limit.max) };
}
