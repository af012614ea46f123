/**
 * Dependency outages, against PostgreSQL and Redis servers this test starts itself on free
 * ports (the shared ones are never touched): while a dependency is down, requests that need it
 * get 503 problem+json quickly, /ready says which one is down, nothing crashes; when it returns,
 * everything recovers by itself — both in-process (with the projector running) and for the real
 * process started from src/main.ts.
 */
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/compose';
import { createServices, silentLogger, type Services } from '../../src/services';
import { runStartup } from '../../src/compose';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { testConfig } from '../helpers/app';
import { ROOT, TSX, freePort, run, until, type Proc } from './helpers';
import { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from './servers';

const QUICK_MS = 2000; // "quickly": well under any client timeout

let pgServer: PrivatePostgres;
let redisServer: PrivateRedis;

beforeAll(async () => {
  [pgServer, redisServer] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
}, 90_000);

afterAll(async () => {
  await redisServer?.destroy();
  await pgServer?.destroy();
}, 60_000);

async function timedInject(app: FastifyInstance, url: string) {
  const started = Date.now();
  const res = await app.inject({ method: 'GET', url });
  return { res, ms: Date.now() - started };
}

describe('outages, in-process (API + projector)', () => {
  let services: Services;
  let app: FastifyInstance;
  let projector: ProjectorHandle;

  beforeAll(async () => {
    const config = testConfig({ DATABASE_URL: pgServer.url('authledger_outage'), REDIS_URL: redisServer.url, REDIS_PREFIX: 'outage:' });
    services = await createServices(config, { log: silentLogger() });
    await runStartup(services);
    app = await buildApp(services);
    app.get('/__probe/pg', async () => (await services.pool.query('SELECT 1 AS one')).rows[0]);
    app.get('/__probe/redis', async () => ({ pong: await services.redis.ping() }));
    app.get('/__probe/store', async () => ({ head: String((await services.store.headPosition()).prepare) }));
    await app.ready();
    projector = startProjector(services);
  }, 60_000);

  afterAll(async () => {
    await projector?.stop();
    await app?.close();
    await services?.close();
  }, 30_000);

  it('everything answers while both dependencies are up', async () => {
    for (const url of ['/__probe/pg', '/__probe/redis', '/__probe/store', '/ready']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
  });

  it('PostgreSQL down: 503 problem+json quickly, /ready names it, Redis routes still work; then recovers', async () => {
    await pgServer.stop('immediate');
    for (const url of ['/__probe/pg', '/__probe/store']) {
      const { res, ms } = await timedInject(app, url);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(503);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|terminat/);
      expect(ms).toBeLessThan(QUICK_MS);
    }
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.postgres.ok).toBe(false);
    expect(ready.json().checks.redis.ok).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/__probe/redis' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    // stays down for a while: still no crash, still quick answers
    await new Promise((r) => setTimeout(r, 1500));
    expect((await timedInject(app, '/__probe/pg')).ms).toBeLessThan(QUICK_MS);

    await pgServer.start();
    await until('PostgreSQL route recovers', async () => (await app.inject({ method: 'GET', url: '/__probe/pg' })).statusCode === 200, 20_000, 200);
    await until('/ready recovers', async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode === 200, 20_000, 200);
    expect((await app.inject({ method: 'GET', url: '/__probe/store' })).statusCode).toBe(200);
  }, 90_000);

  it('Redis down: 503 problem+json quickly, /ready names it, PostgreSQL routes still work; then recovers', async () => {
    await redisServer.stop();
    const { res, ms } = await timedInject(app, '/__probe/redis');
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
    expect(ms).toBeLessThan(QUICK_MS);
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.redis.ok).toBe(false);
    expect(ready.json().checks.postgres.ok).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/__probe/pg' })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await timedInject(app, '/__probe/redis')).ms).toBeLessThan(QUICK_MS);

    await redisServer.start();
    await until('Redis route recovers', async () => (await app.inject({ method: 'GET', url: '/__probe/redis' })).statusCode === 200, 20_000, 200);
    await until('/ready recovers', async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode === 200, 20_000, 200);
  }, 90_000);
});

describe('outages, the real process (all roles)', () => {
  let proc: Proc;
  let base: string;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-outage-'));

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    proc = run(TSX, [path.join(ROOT, 'src/main.ts')], {
      DATABASE_URL: pgServer.url('authledger_outage_proc'),
      REDIS_URL: redisServer.url,
      REDIS_PREFIX: 'outageproc:',
      PORT: String(port),
      REALTIME_PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      MAIL_OUTBOX_DIR: path.join(dataDir, 'outbox'),
      LOG_LEVEL: 'info',
    });
    await proc.waitFor(/authledger is running/, 90_000);
    await until('ready', async () => (await fetch(`${base}/ready`)).status === 200, 30_000, 200);
  }, 120_000);

  afterAll(async () => {
    proc?.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async (url: string) => {
    const started = Date.now();
    const res = await fetch(`${base}${url}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '', ms: Date.now() - started };
  };

  it('survives PostgreSQL and Redis going down together, and recovers by itself', async () => {
    await Promise.all([pgServer.stop('immediate'), redisServer.stop()]);
    // let every background part (projector, workers, hub, subscriptions) hit the outage
    await new Promise((r) => setTimeout(r, 4000));
    expect(proc.child.exitCode, proc.output().slice(-3000)).toBeNull();
    expect((await get('/health')).status).toBe(200);
    const ready = await get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(3000);
    const checks = JSON.parse(ready.body).checks;
    expect(checks.postgres.ok).toBe(false);
    expect(checks.redis.ok).toBe(false);
    const missing = await get('/no/such/route');
    expect(missing.status).toBe(404); // routing itself needs no dependency

    await Promise.all([pgServer.start(), redisServer.start()]);
    await until('the process becomes ready again', async () => (await get('/ready')).status === 200, 40_000, 250);
    expect(proc.child.exitCode).toBeNull();
    expect(proc.output()).not.toMatch(/unhandled rejection|uncaught/i);
  }, 120_000);

  it('shuts down cleanly after the outage', async () => {
    // Let background clients finish reconnecting first (BullMQ's own connections back off
    // separately; a SIGTERM in the middle of their reconnect is a different test).
    await until('no new dependency errors for 2 s', async () => {
      const before = proc.output().length;
      await new Promise((r) => setTimeout(r, 2000));
      return !/ECONNREFUSED|ECONNRESET/.test(proc.output().slice(before));
    }, 20_000, 0);
    proc.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code, proc.output().split('\n').filter((l) => /stop|shut|error|warn/i.test(l)).slice(-40).join('\n')).toBe(0);
  }, 30_000);
});
