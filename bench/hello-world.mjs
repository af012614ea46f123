// The HTTP baseline of the outside benchmarks: a Fastify hello-world in a process of its own
// (plain JavaScript, no loader), logging off. Prints `{"port":N}` on stdout once it listens.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
