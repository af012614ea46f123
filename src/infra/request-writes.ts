/**
 * What the request being handled appended to the log: the command runner notes the position of
 * every append (src/commands/decider.ts), the HTTP edge answers it as `X-Log-Position` and
 * remembers it for the session (src/http/read-your-writes.ts). Keyed by the request's log
 * context (src/infra/logger.ts), so requests that append nothing pay nothing.
 * A request without a session of its own that starts or refreshes one (login, signup, OAuth
 * callback, refresh) names it with `noteSessionOf`, so that session's first query reads this write.
 */
import { comparePositions, type Position } from '../events/store';
import { logContext } from './logger';

const written = new WeakMap<object, Position>();
const sessions = new WeakMap<object, string>();

/** Records an append made while handling the current request (no-op outside a request). */
export function noteAppended(position: Position): void {
  const ctx = logContext.getStore();
  if (!ctx) return;
  const prev = written.get(ctx);
  if (!prev || comparePositions(position, prev) > 0) written.set(ctx, position);
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
