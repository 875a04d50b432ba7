/** What PackerCleaner does with a Packer instance that ran longer than `maxAge`. */
export enum PackerCleanerAction {
  /** Report it in the notification; change nothing. */
  NOTIFY = 'NOTIFY',
  /** Stop it (its volumes are kept and still billed); stopped ones are reported. */
  STOP = 'STOP',
  /** Terminate it, running or stopped. */
  TERMINATE = 'TERMINATE',
}
