/**
 * The real process over real sockets: `npm start` on a missing database, graceful shutdown with
 * an in-flight request, the production refusal, and ROLES subsets.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_BASE, REDIS_BASE } from '../helpers/db';
import { ROOT, TSX, freePort, run, until, type Proc } from './helpers';

const databases: string[] = [];
const procs: Proc[] = [];
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-e2e-'));

async function adminQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

type Env = Record<string, string> & { DATABASE_URL: string; PORT: string; REALTIME_PORT: string };

async function baseEnv(label: string): Promise<Env> {
  const db = `al_skproc_${label}_${randomBytes(4).toString('hex')}`;
  databases.push(db);
  return {
    DATABASE_URL: `${PG_BASE}/${db}`,
    REDIS_URL: REDIS_BASE,
    REDIS_PREFIX: `test:skproc:${randomBytes(4).toString('hex')}:`,
    PORT: String(await freePort()),
    REALTIME_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    DATA_DIR: path.join(dataDir, label),
    MAIL_OUTBOX_DIR: path.join(dataDir, label, 'outbox'),
    LOG_LEVEL: 'info',
    BCRYPT_COST: '4',
  };
}

function startMain(env: Record<string, string>): Proc {
  const p = run(TSX, [path.join(ROOT, 'src/main.ts')], env);
  procs.push(p);
  return p;
}

/** The structured "authledger started" log line. */
function startedLine(out: string): { roles: string[]; parts: string[] } {
  const line = out.split('\n').find((l) => l.includes('"authledger started"'));
  if (!line) throw new Error(`no start line in: ${out.slice(-2000)}`);
  return JSON.parse(line);
}

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const db of databases) await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`).catch(() => undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('the authledger process', () => {
  it('`npm start` creates a missing database, migrates it, serves, and prints the URLs', async () => {
    const env = await baseEnv('npmstart');
    const name = new URL(env.DATABASE_URL).pathname.slice(1);
    expect(await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name])).toHaveLength(0);
    const p = run('npm', ['start'], env, { detached: true });
    procs.push(p);
    const out = await p.waitFor(/authledger is running/, 90_000);
    expect(out).toContain(`http://localhost:${env.PORT}/docs`);
    expect(out).toContain(`http://localhost:${env.PORT}/redoc`);
    expect(await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name])).toHaveLength(1);
    const ready = await until('ready', async () => {
      const r = await fetch(`http://127.0.0.1:${env.PORT}/ready`);
      return r.status === 200 ? r : undefined;
    }, 20_000);
    expect(((await ready.json()) as { status: string }).status).toBe('ready');
    const root = await (await fetch(`http://127.0.0.1:${env.PORT}/`)).json();
    expect(root).toMatchObject({ status: 'ready', name: 'authledger', docs: '/docs' });
    p.kill('SIGTERM');
    await p.exited;
  }, 120_000);

  it('SIGTERM: stops accepting, finishes the in-flight request, exits 0 within 10 s', async () => {
    const env = { ...(await baseEnv('graceful')), NODE_ENV: 'test' };
    const p = startMain(env);
    await p.waitFor(/authledger is running/, 90_000);
    const base = `http://127.0.0.1:${env.PORT}`;
    expect((await fetch(`${base}/health`)).status).toBe(200);

    const inflight = fetch(`${base}/__test/sleep?ms=2000`).then(async (r) => ({ status: r.status, body: await r.json() }));
    // Signal only once the server has the request in hand (a fixed delay is not enough on a loaded machine).
    await p.waitFor(/"ms":2000,"msg":"test sleep started"/, 20_000);
    await new Promise((r) => setTimeout(r, 100));
    const signalledAt = Date.now();
    p.kill('SIGTERM');

    // new connections are refused soon after the signal
    await until('listener closed', async () => {
      try {
        await fetch(`${base}/health`, { signal: AbortSignal.timeout(500) });
        return false;
      } catch {
        return true;
      }
    }, 5000, 50);

    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ slept_ms: 2000 });
    const exit = await p.exited;
    const took = Date.now() - signalledAt;
    expect(exit.code, p.output().slice(-4000)).toBe(0);
    expect(took).toBeLessThan(10_000);
    expect(took).toBeGreaterThanOrEqual(1400); // it did wait for the request
    expect(p.output()).toMatch(/"msg":"stopped"/);
  }, 120_000);

  it('NODE_ENV=production with unsafe defaults exits non-zero naming what to set, before touching the database', async () => {
    const env = { ...(await baseEnv('prod')), NODE_ENV: 'production', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/never' };
    const p = startMain(env);
    const exit = await p.exited;
    const out = p.output();
    expect(exit.code).toBe(2);
    expect(out).toMatch(/refuses to start/);
    for (const key of ['JWT_PRIVATE_KEYS', 'PASSWORD_PEPPER', 'CORS_ORIGINS', 'ADMIN_EMAIL']) expect(out).toContain(key);
    expect(out).not.toMatch(/ECONNREFUSED/);
  }, 60_000);

  it('.env in the working directory is loaded; the real environment wins over it', async () => {
    const dir = path.join(dataDir, 'dotenv');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.env'), 'PORT=4321\nHOST=10.9.9.9\nLOG_LEVEL=debug\n');
    const script = path.join(dir, 'print-config.ts');
    fs.writeFileSync(script, `import { loadConfig } from ${JSON.stringify(path.join(ROOT, 'src/config.ts'))};\nconst c = loadConfig();\nconsole.log('CONFIG ' + JSON.stringify({ port: c.PORT, host: c.HOST, level: c.LOG_LEVEL }));\n`);
    const p = run(TSX, [script], { HOST: '127.0.0.2' }, { cwd: dir });
    procs.push(p);
    expect((await p.exited).code, p.output()).toBe(0);
    const line = p.output().split('\n').find((l) => l.startsWith('CONFIG '))!;
    expect(JSON.parse(line.slice(7))).toEqual({ port: 4321, host: '127.0.0.2', level: 'debug' });
  }, 60_000);

  it('an invalid configuration exits 2 naming the key', async () => {
    const p = startMain({ ...(await baseEnv('badcfg')), PORT: 'not-a-port' });
    const exit = await p.exited;
    expect(exit.code).toBe(2);
    expect(p.output()).toMatch(/PORT/);
  }, 60_000);

  it('ROLES=api runs only the API (no projector, worker or hub); ROLES=worker runs no HTTP server', async () => {
    const apiEnv = { ...(await baseEnv('roleapi')), ROLES: 'api' };
    const api = startMain(apiEnv);
    // The banner is written at once, the JSON start line through pino's asynchronous destination: wait for both.
    await api.waitFor(/authledger is running/, 90_000);
    const apiOut = await api.waitFor(/"authledger started"/, 30_000);
    expect(startedLine(apiOut).parts).toEqual(['api']);
    expect((await fetch(`http://127.0.0.1:${apiEnv.PORT}/health`)).status).toBe(200);
    expect(apiOut).not.toContain('Realtime:');

    const workerEnv = { ...(await baseEnv('roleworker')), ROLES: 'worker' };
    const worker = startMain(workerEnv);
    await worker.waitFor(/authledger is running/, 90_000);
    const workerOut = await worker.waitFor(/"authledger started"/, 30_000);
    expect(startedLine(workerOut).parts).toEqual(['worker']);
    await expect(fetch(`http://127.0.0.1:${workerEnv.PORT}/health`)).rejects.toThrow();

    api.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect((await api.exited).code).toBe(0);
    expect((await worker.exited).code).toBe(0);
  }, 120_000);
});
