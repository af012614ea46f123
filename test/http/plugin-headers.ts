/**
 * The headers a Fastify plugin adds to a plain 200 (without the ones every answer has): what the
 * precomputed header sets (security headers, CORS without Origin) are compared against.
 */
import Fastify, { type FastifyInstance } from 'fastify';

export async function pluginHeaders(register: (app: FastifyInstance) => PromiseLike<unknown>): Promise<{ status: number; headers: Record<string, string> }> {
  const app = Fastify();
  await register(app);
  app.get('/', async () => ({ ok: true }));
  const res = await app.inject({ method: 'GET', url: '/' });
  await app.close();
  const headers = Object.fromEntries(Object.entries(res.headers)
    .filter(([k]) => !['content-type', 'content-length', 'date', 'connection'].includes(k))
    .map(([k, v]) => [k, String(v)]));
  return { status: res.statusCode, headers };
}
