/**
 * What ImageRetention does with ECS task definition revisions. Revisions are changed only with
 * `RetentionAction.DELETE` and not in a dry run, like images; otherwise they are reported. A revision
 * that something uses (a service's deployment, a task that is not stopped, a rule's or a schedule's
 * target), in this account or a consumer account, or that carries the protection tag, is never changed.
 */
export interface TaskDefinitionRetention {
  /**
   * The newest ACTIVE revisions of each family that are always kept, used or not.
   * @default 5
   */
  readonly keepNewestRevisions?: number;

  /**
   * Deregister the ACTIVE revisions older than the newest `keepNewestRevisions` of their family that
   * nothing uses (they become INACTIVE and can no longer start tasks).
   * @default true
   */
  readonly deregisterUnused?: boolean;

  /**
   * Delete the INACTIVE revisions that nothing uses (DeleteTaskDefinitions). Deletion is permanent:
   * a deleted revision cannot be registered again under its number.
   * @default false
   */
  readonly deleteInactive?: boolean;
}
