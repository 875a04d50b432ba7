import { RULE_ATTRIBUTES as A, TODAY_FUNCTION } from './contract';

/** What a TagPolicyEngine writes when a rule's tag is missing or empty. */
export class TagValue {
  /** Always this value. */
  public static fixed(value: string): TagValue {
    return new TagValue('Update', value, `fixed(${JSON.stringify(value)})`);
  }

  /**
   * Who launched the instance, from CloudTrail: an IAM user's name, `<role>/<session>` for an
   * assumed role (the person behind an IAM Identity Center session), `autoscaling:<group>` for an
   * Auto Scaling launch, `root`, or the AWS service. Written when the launch happens
   * (`captureCreators`) and found later for older instances (`backfillCreators`).
   */
  public static creator(): TagValue {
    return new TagValue('UserLookup', undefined, 'creator()');
  }

  /**
   * The date the instance was first launched, ISO `YYYY-MM-DD` (UTC): the seed's `today()`, but the
   * launch's date rather than the day the engine ran. A stop and start does not change it.
   */
  public static launchDate(): TagValue {
    return new TagValue('Function', TODAY_FUNCTION, 'launchDate()');
  }

  /** The value of another tag of the same instance (after this run's own defaults are filled in). */
  public static fromTag(tagKey: string): TagValue {
    return new TagValue('FromTag', tagKey, `fromTag(${JSON.stringify(tagKey)})`);
  }

  private constructor(
    /** The rule item's `Action`, in the seed's vocabulary. */
    private readonly action: string,
    /** The rule item's `Default`. */
    private readonly value: string | undefined,
    private readonly description: string,
  ) {}

  /** The rule item attributes this value is written as. @internal */
  public _toItem(): Record<string, string> {
    return this.value === undefined ? { [A.action]: this.action } : { [A.action]: this.action, [A.defaultValue]: this.value };
  }

  /** How the value reads in an error message. */
  public toString(): string {
    return this.description;
  }
}
