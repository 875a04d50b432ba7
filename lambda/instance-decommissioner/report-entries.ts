import type { KeptRecord, PlannedChange } from './dns-plan';
import type { Outcome, ReportEntry } from '../shared/report';

/*
 * The report's rows for each kind of thing a decommission touches: the instance, a record, an
 * alarm, a hook. One shape, so that the notification and the log lines read the same everywhere.
 */

export function instanceEntry(instanceId: string, action: string, outcome: Outcome, reason: string, code?: string, source?: string): ReportEntry {
  return { resourceType: 'instance', id: instanceId, action, outcome, reason, errorCode: code, details: source ? [['snapshot', source]] : [] };
}

export function recordEntry(change: PlannedChange, outcome: Outcome, code?: string, alreadyGone?: boolean): ReportEntry {
  const values = change.removed.map((r) => r.value).join(',');
  return {
    resourceType: 'dns-record',
    id: `${change.name} ${change.type}${change.setIdentifier !== undefined ? ` [${change.setIdentifier}]` : ''}`,
    action: change.kind === 'DELETE' ? 'DELETE' : 'REMOVE_VALUES',
    outcome,
    errorCode: code,
    reason: alreadyGone ? 'already gone' : change.kind === 'DELETE' ? 'every value was the instance\'s' : 'the other values stay',
    details: [['instance', change.instanceIds.join(' ')], ['zone', change.zoneId], ['values', values]],
  };
}

export function keptRecordEntry(kept: KeptRecord): ReportEntry {
  return {
    resourceType: 'dns-record',
    id: `${kept.name} ${kept.type}${kept.setIdentifier !== undefined ? ` [${kept.setIdentifier}]` : ''}`,
    action: 'NONE',
    outcome: 'REPORTED',
    reason: kept.reason,
    details: [['instance', kept.instanceId], ['zone', kept.zoneId], ['values', kept.value]],
  };
}

export function alarmEntry(name: string, instanceIds: string, outcome: Outcome, reason: string, code?: string): ReportEntry {
  // A kept alarm was never going to be deleted; one skipped (protected, over the cap) would have been.
  return { resourceType: 'alarm', id: name, action: outcome === 'KEPT' ? 'NONE' : 'DELETE', outcome, reason, errorCode: code, details: [['instance', instanceIds]] };
}

export function hookEntry(hook: string, instanceId: string, outcome: Outcome, reason: string, code?: string): ReportEntry {
  return { resourceType: 'hook', id: hook, action: 'INVOKE', outcome, reason, errorCode: code, details: [['instance', instanceId]] };
}
