/**
 * The request's log context (src/infra/logger.ts `logContext`, an AsyncLocalStorage), switched on
 * only while a request that uses it is in flight. Rules:
 * - a request enters its context on arrival (src/http/edge.ts) and leaves it once its response is
 *   closed (finished or the connection gone), exactly once;
 * - when no request is in its context, the storage is disabled: Node then runs no async hook for
 *   every promise, timer and socket write of the process (an enabled AsyncLocalStorage cost a
 *   Fastify hello-world a quarter of its CPU per request, issue 12), so the fast path
 *   (./fast-path.ts) and routes without a context (`config.requestContext: 'off'`, ./edge.ts) run without them;
 * - work a request leaves running after its response sees no context once none is in flight
 *   (its log lines then carry no request_id): everything a response reports (X-Log-Position,
 *   src/infra/request-writes.ts) is done before it is sent.
 */
import type { ServerResponse } from 'node:http';
import { logContext } from '../infra/logger';


let inFlight = 0;

/** Requests in their context now (tests, diagnostics). */
export const requestsInContext = (): number => inFlight;

/** Runs `fn` inside the request's context; the context is left when `res` closes. */
export function runInRequestContext(requestId: string, res: ServerResponse, fn: () => void): void {
  inFlight++;
  res.once('close', leave);
  logContext.run({ request_id: requestId }, fn);
}

function leave(): void {
  if (--inFlight === 0) logContext.disable();
}
