/** What a TagPolicyEngine does with an instance that breaks a rule no default can fix. */
export enum ViolationAction {
  /** Report it in the notification; change nothing. */
  NOTIFY = 'NOTIFY',
  /** Tag it `fleet-janitor:violation` (when, and which rules), and report it; nothing further. */
  MARK = 'MARK',
  /** Mark it, then stop it once `gracePeriod` has passed if it is still in violation. */
  STOP = 'STOP',
  /** Mark it, then terminate it once `gracePeriod` has passed if it is still in violation. */
  TERMINATE = 'TERMINATE',
}
