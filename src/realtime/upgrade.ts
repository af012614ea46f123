/**
 * The hub's HTTP side: its side routes (/health, /metrics, 404) and the WebSocket upgrade.
 * Rules: an upgrade is refused (problem+json from the shared mapping, src/http/problem.ts, no
 * socket) unless the Origin, when sent, is allowed; a ticket or a bearer subprotocol is valid; the
 * session has not ended; the client id is free or the caller's.
 */
import { randomBytes } from 'node:crypto';
import uWS from 'uWebSockets.js';
import { DomainError, domainError, errors } from '../errors';
import { headersOf, problemBody, statusOf } from '../http/problem';
import { processMetrics } from '../infra/metrics';
import { publicMetricsVerdict } from '../http/metrics-access';
import { realtimeMetrics } from './metrics';
import { BEARER_PROTOCOL_PREFIX, SUBPROTOCOL, isName } from './protocol';
import { newConnId, type TicketClaims } from './state';
import { STATUS_TEXT, safeDecode, type Conn, type UserData } from './conn';
import type { Hub } from './hub';
import { message } from './commands';
import { subscriptionChanged } from './fanout';
import { claimClientId, mayBeInGroup } from './access';


export function mountRoutes(hub: Hub) {
  const behavior: uWS.WebSocketBehavior<UserData> = {
    compression: uWS.DISABLED,
    // Twice the accepted size: between the two an error frame, beyond it uWS drops the socket.
    maxPayloadLength: hub.limits.maxBytes * 2,
    idleTimeout: hub.limits.idle,
    sendPingsAutomatically: true,
    maxBackpressure: hub.limits.backpressure,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, ctx) => upgrade(hub, res, req, ctx),
    open: (ws) => hub.open(ws),
    message: (ws, msg, isBinary) => message(hub, ws, msg, isBinary),
    close: (ws, code) => hub.closed(ws, code),
    subscription: (_ws, topic, newCount, oldCount) => subscriptionChanged(hub, Buffer.from(topic).toString(), newCount, oldCount),
  };
  hub.app.ws('/ws', behavior);
  hub.app.ws('/ws/:client', behavior);
  hub.app.ws('/ws/:client/:group', behavior);
  hub.app.get('/health', (res) => {
    res.writeHeader('content-type', 'application/json').end(JSON.stringify({ status: 'ok', hub: hub.hubId, connections: hub.connections }));
  });
  hub.app.get('/metrics', (res, req) => {
    // Off the public surface unless METRICS_TOKEN is presented (src/http/metrics-access.ts).
    const verdict = publicMetricsVerdict(hub.o.config, req.getHeader('authorization') || undefined);
    if (verdict === 'not_found') return notFound(res);
    if (verdict === 'unauthorized') {
      res.writeStatus('401 Unauthorized').writeHeader('content-type', 'application/problem+json').writeHeader('www-authenticate', 'Bearer')
        .end(JSON.stringify({ type: 'https://authledger.dev/problems/metrics_token_required', title: 'Unauthorized', status: 401, code: 'metrics_token_required', detail: 'Send Authorization: Bearer <METRICS_TOKEN>.' }));
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void processMetrics.metrics().then((body) => {
      if (!aborted) res.cork(() => res.writeHeader('content-type', processMetrics.contentType).end(body));
    });
  });
  hub.app.any('/*', (res) => notFound(res));
}

function notFound(res: uWS.HttpResponse) {
  res.writeStatus('404 Not Found').writeHeader('content-type', 'application/problem+json')
    .end(JSON.stringify({ type: 'https://authledger.dev/problems/route_not_found', title: 'Not Found', status: 404, code: 'route_not_found', detail: 'WebSocket paths: /ws, /ws/{client_id}, /ws/{client_id}/{group}.' }));
}

export function upgrade(hub: Hub, res: uWS.HttpResponse, req: uWS.HttpRequest, ctx: uWS.us_socket_context_t) {
  // The request object is only valid synchronously: read everything now.
  const url = req.getUrl();
  const parts = url.split('/').filter(Boolean); // ['ws', client?, group?]
  const clientParam = parts[1] ? safeDecode(parts[1]) : undefined;
  const groupParam = parts[2] ? safeDecode(parts[2]) : undefined;
  const ticket = req.getQuery('ticket') ?? '';
  const origin = req.getHeader('origin');
  const key = req.getHeader('sec-websocket-key');
  const protocols = req.getHeader('sec-websocket-protocol');
  const extensions = req.getHeader('sec-websocket-extensions');
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  authorize(hub, { clientParam, groupParam, ticket, origin, protocols })
    .then(({ conn, protocol }) => {
      if (aborted) return;
      res.cork(() => res.upgrade<UserData>({ c: conn }, key, protocol, extensions, ctx));
    })
    .catch((err: unknown) => {
      if (aborted) return;
      const r = err instanceof DomainError ? err : errors.unavailable('realtime upgrade', err);
      if (!(err instanceof DomainError)) hub.o.log.error({ err }, 'realtime: upgrade failed');
      else hub.o.log.info({ code: r.code, status: statusOf(r) }, 'realtime: upgrade refused');
      realtimeMetrics.refused.inc({ code: r.code });
      res.cork(() => writeProblem(res, r, url));
    });
}

export async function authorize(hub: Hub, a: { clientParam?: string; groupParam?: string; ticket: string; origin: string; protocols: string }): Promise<{ conn: Conn; protocol: string }> {
  if (hub.stopping) throw domainError('shutting_down', 'The hub is shutting down.');
  if (a.origin && hub.origins && !hub.origins.has(a.origin.replace(/\/$/, ''))) {
    throw domainError('origin_not_allowed', 'This Origin may not open realtime connections.');
  }
  if (a.clientParam !== undefined && !isName(a.clientParam)) throw domainError('bad_client_id', 'Client ids are 1-64 characters of A-Z a-z 0-9 _ . -');
  if (a.groupParam !== undefined && !isName(a.groupParam)) throw domainError('bad_group', 'Group names are 1-64 characters of A-Z a-z 0-9 _ . -');

  const offered = a.protocols ? a.protocols.split(',').map((p) => p.trim()).filter(Boolean) : [];
  const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  if (offered.length && !offered.includes(SUBPROTOCOL)) {
    throw domainError('bad_subprotocol', `Offer the "${SUBPROTOCOL}" subprotocol (beside "bearer.<access token>" when you use one).`);
  }
  let claims: TicketClaims | undefined;
  if (a.ticket) {
    claims = await hub.state.consumeTicket(a.ticket);
    if (!claims) throw domainError('invalid_ticket', 'The ticket is unknown, used or expired. Get a new one from POST /api/v1/realtime/ticket.');
  } else if (bearer) {
    if (!hub.o.verifyAccessToken) throw domainError('bearer_not_supported', 'Use a ticket from POST /api/v1/realtime/ticket.');
    claims = await hub.o.verifyAccessToken(bearer.slice(BEARER_PROTOCOL_PREFIX.length)).catch(() => undefined);
    if (!claims) throw domainError('invalid_token', 'The access token is not valid.');
  } else {
    throw domainError('ticket_required', 'Present ?ticket= from POST /api/v1/realtime/ticket (or an access token in Sec-WebSocket-Protocol).');
  }
  if (hub.endedSessions.has(claims.sessionId) || hub.endedUsers.has(claims.userId)) throw domainError('session_ended', 'The session has ended.');
  if (hub.o.isSessionActive && !(await hub.o.isSessionActive(claims.sessionId, claims.userId))) {
    throw domainError('session_ended', 'The session has ended.');
  }
  const clientId = a.clientParam ?? `c-${randomBytes(6).toString('hex')}`;
  // A chosen client id is the user's in the event log until released (issue 20 §8); generated
  // ones are bound in Redis only (CLIENT_BINDING_TTL_SECONDS).
  if (a.clientParam !== undefined) await claimClientId(hub.o, clientId, claims.userId);
  const claim = await hub.state.claimClientId(clientId, claims.userId, a.clientParam !== undefined);
  if (!claim.ok) throw domainError('client_id_taken', 'This client id belongs to another user.');
  const actor = { userId: claims.userId, roles: claims.roles };
  if (a.groupParam !== undefined && !(await mayBeInGroup(hub.o, a.groupParam, actor))) {
    throw domainError('group_private', `Group ${a.groupParam} is private: you need an invitation or one of its roles.`);
  }
  // A remembered group the user may no longer be in is forgotten, not an error.
  const remembered = claim.rememberedGroup && (await mayBeInGroup(hub.o, claim.rememberedGroup, actor)) ? claim.rememberedGroup : null;
  const conn: Conn = {
    conn: newConnId(),
    clientId,
    userId: claims.userId,
    sessionId: claims.sessionId,
    roles: claims.roles,
    group: a.groupParam ?? remembered,
    closed: false,
    tokens: hub.limits.rate,
    refilledAt: Date.now(),
    dropped: 0,
    lastErrorAt: 0,
  };
  return { conn, protocol: offered.length ? SUBPROTOCOL : '' };
}

/** An HTTP problem+json answer from the shared mapping (src/http/problem.ts). */
function writeProblem(res: uWS.HttpResponse, err: DomainError, instance: string): void {
  const status = statusOf(err);
  res.writeStatus(STATUS_TEXT[status] ?? `${status} Error`).writeHeader('content-type', 'application/problem+json');
  for (const [k, v] of Object.entries(headersOf(err))) res.writeHeader(k, v);
  res.end(JSON.stringify(problemBody(err, instance, `ws-${randomBytes(8).toString('hex')}`)));
}
