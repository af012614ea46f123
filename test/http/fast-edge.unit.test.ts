/**
 * The CORS headers the fast path sends (src/http/fast-edge.ts, from `corsHeadersWithoutOrigin` in
 * src/http/edge.ts) are exactly the ones @fastify/cors sends a request without Origin, for every
 * shape of CORS_ORIGINS (the fast path answers only such requests; the int test covers one list).
 */
import { describe, expect, it } from 'vitest';
import { pluginHeaders } from './plugin-headers';
import cors from '@fastify/cors';
import { corsHeadersWithoutOrigin, corsOptions } from '../../src/http/edge';

describe('CORS headers without Origin', () => {
  for (const origins of ['*', ' * ', 'https://app.example.com', 'https://a.example, https://b.example', 'https://a.example,*']) {
    it(`match @fastify/cors (CORS_ORIGINS=${JSON.stringify(origins)})`, async () => {
      const { status, headers: fromPlugin } = await pluginHeaders((app) => app.register(cors, corsOptions(origins)));
      expect(status).toBe(200);
      expect(corsHeadersWithoutOrigin(origins)).toEqual(fromPlugin);
      expect(fromPlugin['access-control-expose-headers']).toContain('x-ratelimit-remaining');
    });
  }
});
