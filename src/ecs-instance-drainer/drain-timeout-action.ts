/**
 * What the drainer sends when `maxDrainTime` passes with tasks still running. On a termination
 * lifecycle hook both let Auto Scaling terminate the instance: CONTINUE lets the group's other
 * termination hooks run first, ABANDON skips them. (A group whose instance lifecycle policy retains
 * instances on an abandoned termination hook keeps the instance, Retained, after ABANDON.)
 */
export enum DrainTimeoutAction {
  /** Complete the lifecycle action with CONTINUE: the other hooks go on, then the instance terminates. */
  CONTINUE = 'CONTINUE',
  /** Complete the lifecycle action with ABANDON: the instance terminates without the other hooks. */
  ABANDON = 'ABANDON',
}
