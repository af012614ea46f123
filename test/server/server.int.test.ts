/** startAuthledger in-process: parts stop in order, and a part that hangs cannot hold the rest. */
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/services';
import { startAuthledger } from '../../src/server';
import { testConfig } from '../helpers/app';
import { createTestDatabase, testRedisPrefix, type TestDatabase } from '../helpers/db';
import { freePort, until } from './helpers';
import { portOpen } from './servers';

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.drop();
});

describe('startAuthledger', () => {
  it('a hanging part is left behind after its budget; the API and pools still close; stop reports unclean', async () => {
    const db = await createTestDatabase('skserver');
    dbs.push(db);
    const port = await freePort();
    const running = await startAuthledger(
      testConfig({ DATABASE_URL: db.url, REDIS_PREFIX: testRedisPrefix('skserver'), ROLES: 'api', PORT: String(port), HOST: '127.0.0.1' }),
      silentLogger(),
    );
    expect(running.parts.map((p) => p.name)).toEqual(['api']);
    expect(await portOpen(port)).toBe(true);
    await until('ready', async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200, 15_000);
    const order: string[] = [];
    running.parts.push({ name: 'worker', stop: () => new Promise(() => order.push('worker: never stops')) });
    running.parts.push({ name: 'realtime', stop: async () => void order.push('realtime stopped') });

    const started = Date.now();
    const clean = await running.stop(1000);
    const took = Date.now() - started;
    expect(clean).toBe(false);
    expect(took).toBeLessThan(3000);
    expect(order).toEqual(['worker: never stops', 'realtime stopped']);
    expect(await portOpen(port)).toBe(false);
    await expect(running.services.pool.query('SELECT 1')).rejects.toThrow();
  });

  it('a normal stop is clean', async () => {
    const db = await createTestDatabase('skserver2');
    dbs.push(db);
    const running = await startAuthledger(
      testConfig({ DATABASE_URL: db.url, REDIS_PREFIX: testRedisPrefix('skserver2'), ROLES: 'api', PORT: String(await freePort()), HOST: '127.0.0.1' }),
      silentLogger(),
    );
    expect(await running.stop()).toBe(true);
  });
});
