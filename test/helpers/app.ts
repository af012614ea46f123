/**
 * Test services and apps on a private database and Redis key prefix.
 * `const t = await testServices('auth'); … await t.close();`
 */
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config';
import { createServices, silentLogger, type Services } from '../../src/services';
import { runStartup } from '../../src/compose';
import { buildApp } from '../../src/compose';
import { createTestDatabase, testRedisPrefix, REDIS_BASE, type TestDatabase } from './db';

export interface TestServices extends Services {
  db: TestDatabase;
}

/** Test defaults: fast bcrypt, no rate limits, http cookies; override per test. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    BCRYPT_COST: '4',
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    COOKIE_SECURE: 'false',
    PASSWORD_PEPPER: 'test-pepper-test-pepper-test-pepper-0123456789',
    REDIS_URL: REDIS_BASE,
    ...overrides,
  });
}

export async function testServices(label: string, overrides: Record<string, string> = {}): Promise<TestServices> {
  const db = await createTestDatabase(label);
  const config = testConfig({ DATABASE_URL: db.url, REDIS_PREFIX: testRedisPrefix(label), DATA_DIR: `/tmp/authledger-test/${db.name}`, ...overrides });
  const services = await createServices(config, { log: silentLogger(), migrate: false });
  await runStartup(services);
  return {
    ...services,
    db,
    async close() {
      const keys = await services.redis.keys(`${services.prefix}*`).catch(() => [] as string[]);
      if (keys.length) await services.redis.del(...keys).catch(() => undefined);
      await services.close();
      await db.drop();
    },
  };
}

export async function testApp(label: string, overrides: Record<string, string> = {}): Promise<{ app: FastifyInstance; services: TestServices; close(): Promise<void> }> {
  const services = await testServices(label, overrides);
  const app = await buildApp(services);
  await app.ready();
  return {
    app,
    services,
    async close() {
      await app.close();
      await services.close();
    },
  };
}
