/** The event store's errors (every adapter throws these). */
/** `'no_stream'` is the one way to say "no stream" (commands use `NO_STREAM` from src/commands/decider.ts). */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export class WrongExpectedVersionError extends Error {
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    /** The stream's current revision, or 'no_stream'. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(`wrong expected version on ${streamName}: expected ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedVersionError';
  }
}

export class EventValidationError extends Error {
  constructor(
    readonly eventType: string,
    readonly issues: string,
  ) {
    super(`event ${eventType} does not match its schema: ${issues}`);
    this.name = 'EventValidationError';
  }
}

/**
 * Some, but not all, of the appended event ids are already in the stream: this is neither a safe
 * retry (all ids present → success, nothing stored) nor a new append. Nothing was stored.
 * A programming error (an id reused for a different batch), so it maps to 500, not 409.
 */
export class PartialDuplicateAppendError extends Error {
  constructor(
    readonly streamName: string,
    /** The stream's current revision, or 'no_stream'. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(`append to ${streamName} repeats some but not all of its event ids (a retry must resend the same batch)`);
    this.name = 'PartialDuplicateAppendError';
  }
}
