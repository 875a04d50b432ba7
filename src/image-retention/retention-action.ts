/** What ImageRetention does with the images (and task definition revisions) it proved unused. */
export enum RetentionAction {
  /** Report the candidates in the notification; change nothing. */
  REPORT = 'REPORT',
  /**
   * Delete the candidate images (and, with `taskDefinitions`, deregister or delete the candidate
   * revisions). A dry run reports them instead.
   */
  DELETE = 'DELETE',
}
