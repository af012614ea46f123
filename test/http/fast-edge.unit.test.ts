/**
 * The CORS headers the fast path sends (src/http/fast-edge.ts, from `corsHeadersWithoutOrigin` in
 * src/http/edge.ts) are exactly the ones @fastify/cors sends a request without Origin, for every
 * shape of CORS_ORIGINS (the fast path answers only such requests; the int test covers one list).
 */
import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import cors from '@fastify/cors';
import { corsHeadersWithoutOrigin, corsOptions } from '../../src/http/edge';

describe('CORS headers without Origin', () => {
  for (const origins of ['*', ' * ', 'https://app.example.com', 'https://a.example, https://b.example', 'https://a.example,*']) {
    it(`match @fastify/cors (CORS_ORIGINS=${JSON.stringify(origins)})`, async () => {
      const app = Fastify();
      await app.register(cors, corsOptions(origins));
      app.get('/', async () => ({ ok: true }));
      const res = await app.inject({ method: 'GET', url: '/' });
      await app.close();
      const fromPlugin = Object.fromEntries(Object.entries(res.headers)
        .filter(([k]) => !['content-type', 'content-length', 'date', 'connection'].includes(k))
        .map(([k, v]) => [k, String(v)]));
      expect(res.statusCode).toBe(200);
      expect(corsHeadersWithoutOrigin(origins)).toEqual(fromPlugin);
      expect(fromPlugin['access-control-expose-headers']).toContain('x-ratelimit-remaining');
    });
  }
});
