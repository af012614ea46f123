/**
 * What the request being handled appended to the log: the command runner notes the position of
 * every append (src/commands/decider.ts), the HTTP edge answers it as `X-Log-Position` and
 * remembers it for the session (src/http/read-your-writes.ts). Keyed by the request's log
 * context (src/infra/logger.ts), so requests that append nothing pay nothing.
 * A request without a session of its own that starts or refreshes one (login, signup, OAuth
 * callback, refresh) names it with `noteSessionOf`, so that session's first query reads this write.
 * A request whose session is known before its command runs (`noteWriter`, from the read-your-writes
 * plugin after authentication) has each append's position remembered for that session as soon as
 * the append returns, beside the command's inline step instead of after it; the edge then awaits
 * that (`rememberedInRequest`) instead of remembering it again.
 */
import { comparePositions, type Position } from '../events/store';
import { logContext } from './logger';

const written = new WeakMap<object, Position>();
const sessions = new WeakMap<object, string>();

/** Remembers a position for a session; never rejects (failures are the caller's to log). */
export type RememberPosition = (sessionId: string, position: Position) => Promise<void>;
const writers = new WeakMap<object, { sessionId: string; remember: RememberPosition }>();
/** What was remembered early for a request: for which session, up to which position, done when. */
export interface Remembered {
  sessionId: string;
  position: Position;
  done: Promise<void>;
}
const remembered = new WeakMap<object, Remembered>();

/** The current request writes for this session: remember each of its appends at once (no-op outside a request). */
export function noteWriter(sessionId: string, remember: RememberPosition): void {
  const ctx = logContext.getStore();
  if (ctx) writers.set(ctx, { sessionId, remember });
}

/** What `noteWriter` made remember for the current request, if anything. */
export function rememberedInRequest(): Remembered | undefined {
  const ctx = logContext.getStore();
  return ctx && remembered.get(ctx);
}

/** Records an append made while handling the current request (no-op outside a request). */
export function noteAppended(position: Position): void {
  const ctx = logContext.getStore();
  if (!ctx) return;
  const prev = written.get(ctx);
  if (prev && comparePositions(position, prev) <= 0) return;
  written.set(ctx, position);
  const writer = writers.get(ctx);
  if (!writer) return;
  const before = remembered.get(ctx);
  const now = writer.remember(writer.sessionId, position);
  remembered.set(ctx, { sessionId: writer.sessionId, position, done: before ? Promise.all([before.done, now]).then(() => undefined) : now });
}

/** The newest position the current request appended, if any. */
export function appendedInRequest(): Position | undefined {
  const ctx = logContext.getStore();
  return ctx && written.get(ctx);
}

/** The current request acts for this session (it started or refreshed it; no-op outside a request). */
export function noteSessionOf(sessionId: string): void {
  const ctx = logContext.getStore();
  if (ctx) sessions.set(ctx, sessionId);
}

/** The session the current request started or refreshed, if any. */
export function sessionOfRequest(): string | undefined {
  const ctx = logContext.getStore();
  return ctx && sessions.get(ctx);
}
