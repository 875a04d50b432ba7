/** Human age such as "3d 4h", "2h 05m", "45m", "30s" for reports. */
export function formatAge(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'unknown';
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

export function ageSeconds(since: Date | undefined, now: Date): number {
  if (!since || Number.isNaN(since.getTime())) return Number.NaN;
  return (now.getTime() - since.getTime()) / 1000;
}
