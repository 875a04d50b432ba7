import { EventShapeError } from './errors';

/** What a scheduled sweep accepts: the Scheduler's payload, or a manual invoke that forces a dry run. */
export interface SweepEvent {
  readonly source?: string;
  readonly dryRun?: boolean;
}

const SWEEP_KEYS = new Set(['source', 'dryRun']);
const MAX_SOURCE_LENGTH = 256;

/**
 * Rejects anything but a small plain object with known keys. A manual invoke may ask for a dry run
 * (`{"dryRun": true}`) but can never turn a configured dry run into a real one.
 */
export function parseSweepEvent(event: unknown): SweepEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new EventShapeError(`expected a JSON object such as {"source":"cdk-fleet-janitor.schedule"}, got ${describe(event)}`);
  }
  const record = event as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !SWEEP_KEYS.has(k));
  if (unknown.length > 0) {
    throw new EventShapeError(`unexpected field(s) ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}; accepted fields are "source" and "dryRun"`);
  }
  if (record.source !== undefined && (typeof record.source !== 'string' || record.source.length > MAX_SOURCE_LENGTH)) {
    throw new EventShapeError(`"source" must be a string of at most ${MAX_SOURCE_LENGTH} characters, got ${describe(record.source)}`);
  }
  if (record.dryRun !== undefined && typeof record.dryRun !== 'boolean') {
    throw new EventShapeError(`"dryRun" must be true or false, got ${describe(record.dryRun)}`);
  }
  return { source: record.source as string | undefined, dryRun: record.dryRun as boolean | undefined };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return typeof value;
}
