/**
 * WebSocket passthrough for services with `websocket: true`. Handled on the HTTP server's
 * 'upgrade' event with node:http (reply-from does not do upgrades): the policy, the limits and the
 * header rules are the proxy's own (the same functions), the upstream sees nothing before the
 * caller is admitted, and no extra dependency is needed. Once the upstream answers 101, bytes are
 * piped both ways untouched; any other answer is relayed and the socket closed. Refusals answer
 * problem+json on the raw socket. Browsers cannot set Authorization on a WebSocket: such services
 * use `auth: none` (the upstream authenticates) or clients that send headers.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { domainError, errors } from '../errors';
import { isReservedServiceName } from '../events/service';
import { problemBody, statusOf, toDomainError, problemTitle } from '../http/problem';
import { upstreamHeaders, upstreamPath } from './headers';
import { gatewayRequests, gatewayUpstreamErrors } from './metrics';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function refuse(socket: Duplex, err: unknown, path: string, requestId: string): void {
  const e = toDomainError(err);
  const status = statusOf(e);
  const body = JSON.stringify(problemBody(e, path, requestId));
  socket.end(`HTTP/1.1 ${status} ${problemTitle(status)}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`);
}

export function attachWebSocketPassthrough(app: FastifyInstance, prefix: string): void {
  const gw = app.gateway;
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const raw = req.url ?? '/';
    if (!raw.startsWith(`${prefix}/`)) return; // someone else's upgrade (none today)
    socket.on('error', () => socket.destroy());
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && SANE_ID.test(given) ? given : randomUUID();
    const name = raw.slice(prefix.length + 1).split(/[/?]/)[0] ?? '';
    const path = raw.split('?')[0]!;
    void (async () => {
      const entry = isReservedServiceName(name) ? undefined : gw.service(name);
      if (!entry) throw errors.notFound(`No route GET ${prefix}/${name}.`, 'route_not_found');
      const { spec } = entry;
      if (!spec.websocket) throw errors.badRequest(`The service ${name} does not take WebSocket upgrades.`, 'bad_request');
      const identity = await gw.access.authorize(req.headers, spec);
      const ip = req.socket.remoteAddress ?? '';
      await gw.limit(spec, identity, ip);
      const target = await gw.pool(name)?.pick();
      if (!target) throw domainError('no_healthy_upstream', `No healthy upstream of the service ${name}; retry later.`, { retryAfterSeconds: 1 });
      const headers = upstreamHeaders(req.headers, spec, identity, {
        requestId, forwardedFor: ip, proto: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http', host: req.headers.host ?? '',
      });
      const url = new URL(`${target.base}${upstreamPath(raw, `${prefix}/${name}`, spec)}`);
      headers.host = url.host;
      headers.connection = 'Upgrade';
      headers.upgrade = req.headers.upgrade ?? 'websocket';
      const upstream = (url.protocol === 'https:' ? https : http).request(url, { method: 'GET', headers, timeout: spec.timeout_ms });
      target.inFlight++;
      let released = false;
      const release = () => {
        if (!released) {
          released = true;
          target.inFlight--;
        }
      };
      upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      upstream.on('error', (err: Error & { code?: string }) => {
        release();
        gatewayUpstreamErrors.inc({ service: name, kind: err.code === 'ETIMEDOUT' ? 'timeout' : 'refused' });
        if (err.code !== 'ETIMEDOUT') gw.pool(name)?.noteFailure(target, 'refused');
        gatewayRequests.inc({ service: name, status: err.code === 'ETIMEDOUT' ? '5xx' : '5xx' });
        refuse(socket, err.code === 'ETIMEDOUT'
          ? domainError('upstream_timeout', `The service ${name} did not answer within ${spec.timeout_ms} ms.`)
          : domainError('upstream_failed', `The service ${name} could not be reached.`), path, requestId);
      });
      upstream.on('response', (res) => {
        // Not upgraded: relay the answer as it is and close.
        release();
        gatewayRequests.inc({ service: name, status: `${Math.floor((res.statusCode ?? 502) / 100)}xx` });
        const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        res.pipe(socket);
      });
      upstream.on('upgrade', (res, upSocket, upHead) => {
        gatewayRequests.inc({ service: name, status: '1xx' });
        upstream.setTimeout(0);
        upSocket.setTimeout(0);
        const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (upHead.length) socket.write(upHead);
        if (head.length) upSocket.write(head);
        upSocket.pipe(socket).pipe(upSocket);
        const close = () => {
          release();
          upSocket.destroy();
          socket.destroy();
        };
        upSocket.on('error', close);
        upSocket.on('close', close);
        socket.on('close', close);
      });
      upstream.end();
    })().catch((err) => {
      gatewayRequests.inc({ service: name || '-', status: `${Math.floor(statusOf(toDomainError(err)) / 100)}xx` });
      refuse(socket, err, path, requestId);
    });
  };
  app.server.on('upgrade', onUpgrade);
  app.addHook('onClose', async () => {
    app.server.off('upgrade', onUpgrade);
  });
}
