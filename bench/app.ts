/**
 * The full app on an ephemeral port for HTTP benchmarks: every plugin and hook, real PostgreSQL
 * and Redis, logging and IP rate limits off (their cost is not what is measured), a private Redis
 * prefix. The caller owns the database.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config';
import { createServices, silentLogger, type Services } from '../src/services';
import { runStartup } from '../src/compose';
import { buildApp } from '../src/compose';

export interface BenchApp {
  services: Services;
  app: FastifyInstance;
  base: string;
  /** POST JSON; throws on a non-2xx answer. */
  post(url: string, body: unknown, headers?: Record<string, string>): Promise<Record<string, any>>;
  close(): Promise<void>;
}

export async function startBenchApp(label: string, databaseUrl: string, env: Record<string, string> = {}): Promise<BenchApp> {
  const prefix = `bench:${label}:${randomBytes(4).toString('hex')}:`;
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl, REDIS_PREFIX: prefix, BCRYPT_COST: '4',
    RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_AUTH_PER_MINUTE: '0',
    PASSWORD_PEPPER: 'bench-pepper-bench-pepper-bench-pepper-0123', DATA_DIR: `/tmp/authledger-bench/${prefix.replaceAll(':', '_')}`,
    ADMIN_EMAIL: '', ADMIN_PASSWORD: '',
    ...env,
  });
  const services = await createServices(config, { log: silentLogger(), migrate: false });
  await runStartup(services);
  const app = await buildApp(services);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    services,
    app,
    base,
    async post(url, body, headers = {}) {
      const res = await fetch(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<Record<string, any>>;
    },
    async close() {
      await app.close();
      const keys = await services.redis.keys(`${prefix}*`).catch(() => [] as string[]);
      if (keys.length) await services.redis.del(...keys).catch(() => undefined);
      await services.close();
    },
  };
}
