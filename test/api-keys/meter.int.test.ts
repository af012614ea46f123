/**
 * The access meter's leases (src/queries/api-keys/meter.ts) under concurrent checks, against real
 * Redis: a process never holds more than one slice (what it leased and has not spent), tops its
 * holding up in the background so that steady checks are granted from memory, and never grants
 * more than the limit in a window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessMeter } from '../../src/queries/api-keys/meter';
import { testServices, type TestServices } from '../helpers/app';

describe('access meter', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await testServices('meter');
  });
  afterAll(async () => services?.close());

  // The window's counter grows by every lease asked for; what was granted is capped by the limit.
  const leased = async (keyId: string, limit: number) => Math.min(limit, Number(await services.redis.get(`${services.prefix}access:rl:${keyId}`)));

  it('holds at most one slice while checks run concurrently, mostly granting from memory; never more than the limit', async () => {
    const meter = new AccessMeter(services.redis, services.prefix, 2000); // slice: 2000 / 20 = 100
    try {
      let granted = 0;
      let fromMemory = 0;
      let refused = 0;
      for (let round = 0; round < 40; round++) {
        await Promise.all(Array.from({ length: 64 }, async () => {
          if (meter.grantNow('k1', 'f')) {
            fromMemory++;
            granted++;
            return;
          }
          const hit = await meter.hit('k1', 'f', true);
          if (hit.allowed) granted++;
          else refused++;
        }));
        // What Redis counted for this window minus what was granted is what this process holds.
        const held = await leased('k1', 2000) - granted;
        expect(held, `round ${round}`).toBeLessThanOrEqual(100);
        expect(held).toBeGreaterThanOrEqual(0);
      }
      expect(granted).toBe(2000);
      expect(refused).toBe(40 * 64 - 2000);
      // Top-ups start at half a slice: most checks found calls in memory.
      expect(fromMemory).toBeGreaterThan(granted / 2);
    } finally {
      await meter.close();
    }
  });
});
