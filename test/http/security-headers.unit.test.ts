/**
 * The precomputed security headers (src/http/security-headers.ts) are exactly the ones
 * @fastify/helmet sends with the same options, in both deployment modes.
 */
import { describe, expect, it } from 'vitest';
import { pluginHeaders } from './plugin-headers';
import helmet from '@fastify/helmet';
import { helmetOptions, securityHeaders } from '../../src/http/security-headers';

describe('security headers', () => {
  for (const httpsOnly of [false, true]) {
    it(`match @fastify/helmet (httpsOnly=${httpsOnly})`, async () => {
      const { status, headers: fromPlugin } = await pluginHeaders((app) => app.register(helmet, helmetOptions({ httpsOnly })));
      expect(status).toBe(200);
      const mine = securityHeaders({ httpsOnly });
      expect(mine).toEqual(fromPlugin);
      expect(Object.keys(mine).length).toBeGreaterThanOrEqual(10);
      if (httpsOnly) {
        expect(mine['strict-transport-security']).toMatch(/max-age=31536000/);
        expect(mine['content-security-policy']).toContain('upgrade-insecure-requests');
      } else {
        expect(mine['strict-transport-security']).toBeUndefined();
        expect(mine['content-security-policy']).not.toContain('upgrade-insecure-requests');
      }
    });
  }
});
