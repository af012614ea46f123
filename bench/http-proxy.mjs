// The unauthenticated proxy baseline of `npm run bench gateway`: @fastify/http-proxy (undici,
// keep-alive) in a process of its own, logging off, no auth. UPSTREAM=http://host:port, PREFIX
// (default /hello) is stripped. Prints `{"port":N}` on stdout once it listens.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const app = Fastify({ logger: false });
// The same undici pool settings as the gateway's reply-from (src/gateway/proxy.ts).
await app.register(proxy, {
  upstream: process.env.UPSTREAM,
  prefix: process.env.PREFIX ?? '/hello',
  http2: false,
  undici: { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 },
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
