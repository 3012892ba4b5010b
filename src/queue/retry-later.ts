/** A passing condition: the message is retried after `delaySeconds`, not counted as a fault. */
export class RetryLater extends Error {
  constructor(
    reason: string,
    readonly delaySeconds = 5,
  ) {
    super(reason);
    this.name = "RetryLater";
  }
}
