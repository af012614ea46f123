/**
 * Identity (issue 4), against the full app (every plugin and hook, real PostgreSQL and Redis):
 * - GET /api/v1/auth/verify with a valid token, ratio to a Fastify hello-world (target ≥ 0.6);
 * - GET /api/v1/auth/me, same baseline (target ≥ 0.4);
 * - POST /api/v1/auth/login, ratio to raw bcrypt compares/s at the same cost (target ≥ 0.9);
 * - POST /api/v1/auth/refresh (every request rotates, so each worker carries its own session):
 *   req/s and p99, beside the raw single-row INSERT rate of the same database.
 * Baselines and subjects are interleaved in short rounds (the machine is shared); medians reported.
 * IN-PROCESS server: the app runs in this process and logs nothing (bench/app.ts), so the ratios
 * are higher than users get (autocannon itself runs as a child process, bench/lib.ts `load`); the figures users get are
 * `npm run bench http` (wrk from outside against `npm start`, docs/performance.md).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import bcrypt from 'bcrypt';
import pg from 'pg';
import { helloWorld, load, percentile, report, scale, QUICK, type LoadResult } from './lib';
import { startBenchApp } from './app';
import { benchDatabase } from './pg-bench-db';
import { hashPassword } from '../src/commands/identity/passwords';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * `workers` loops running `op` for `seconds`; returns ops/s and latency percentiles (ms). Only
 * operations completed inside the window count (the same accounting for every subject and
 * baseline, which matters when one operation takes a good part of the window, as bcrypt does).
 */
async function closedLoop(workers: number, seconds: number, op: (worker: number) => Promise<void>) {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let errors = 0;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await op(w);
        const t1 = performance.now();
        if (t1 <= end) latencies.push(t1 - t0);
      } catch (err) {
        if (!errors && process.env.BENCH_DEBUG) console.error(err);
        errors++;
      }
    }
  }));
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

const ONLY = (process.env.BENCH_IDENTITY_ONLY ?? '').split(',').filter(Boolean);
const want = (part: string) => !ONLY.length || ONLY.includes(part);

async function main() {
  const db = await benchDatabase('identity');
  const cost = Number(process.env.BENCH_BCRYPT_COST ?? (QUICK ? 10 : 12));
  const { services, app, base, post, close } = await startBenchApp('identity', db.url, { BCRYPT_COST: String(cost), LOCKOUT_THRESHOLD: '100' });
  const config = services.config;
  const hello = await helloWorld();
  const raw = new pg.Pool({ connectionString: db.url, max: 16 });
  try {
    const email = `bench.${randomBytes(4).toString('hex')}@example.com`;
    const password = `Bench-${randomBytes(6).toString('hex')}-Lantern!`;
    await post('/api/v1/auth/signup', { email, password, name: 'Bench' });
    const { access_token: token } = await post('/api/v1/auth/login', { email, password });
    const auth = { authorization: `Bearer ${token}` };

    // node:http with keep-alive (much lighter than fetch, which shares this process's CPU).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const { port } = app.server.address() as { port: number };
    const postJson = (path: string, payload: unknown) =>
      new Promise<Record<string, any>>((resolve, reject) => {
        const body = JSON.stringify(payload);
        const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) reject(new Error(`${path} ${res.statusCode} ${text}`));
            else resolve(JSON.parse(text) as Record<string, any>);
          });
        });
        req.on('error', reject);
        req.end(body);
      });

    // ---------------------------------------------------------- /verify and /me vs hello-world
    if (want('verify')) {
    const verifyUrl = `${base}/api/v1/auth/verify`;
    const meUrl = `${base}/api/v1/auth/me`;
    await load({ url: hello.url, duration: 1 });
    await load({ url: verifyUrl, headers: auth, duration: 1 });
    await load({ url: meUrl, headers: auth, duration: 1 });
    const rounds = scale(5, 2);
    const duration = scale(4, 2);
    const hw: LoadResult[] = [];
    const ver: LoadResult[] = [];
    const me: LoadResult[] = [];
    const floor: LoadResult[] = [];
    for (let i = 0; i < rounds; i++) {
      hw.push(await load({ url: hello.url, duration }));
      floor.push(await load({ url: `${base}/health`, duration }));
      ver.push(await load({ url: verifyUrl, headers: auth, duration }));
      me.push(await load({ url: meUrl, headers: auth, duration }));
    }
    for (const [name, rs] of [['verify', ver], ['me', me]] as const) {
      const bad = rs.reduce((n, r) => n + r.non2xx + r.errors, 0);
      if (bad) throw new Error(`${name}: ${bad} non-2xx or errors`);
    }
    report('in-process: hello-world (baseline)', { rps: median(hw.map((r) => r.rps)), p99_ms: median(hw.map((r) => r.p99)) });
    report('in-process: full app GET /health (the app’s own floor)', { rps: median(floor.map((r) => r.rps)), p99_ms: median(floor.map((r) => r.p99)) }, {
      value: median(floor.map((r, i) => r.rps / hw[i]!.rps)), target: 'context',
    });
    report('in-process: GET /api/v1/auth/verify', {
      rps: median(ver.map((r) => r.rps)), p50_ms: median(ver.map((r) => r.p50)), p99_ms: median(ver.map((r) => r.p99)),
      round_ratios: ver.map((r, i) => (r.rps / hw[i]!.rps).toFixed(2)).join('/'),
    }, { value: median(ver.map((r, i) => r.rps / hw[i]!.rps)), target: '≥ 0.6' });
    report('in-process: GET /api/v1/auth/me', {
      rps: median(me.map((r) => r.rps)), p50_ms: median(me.map((r) => r.p50)), p99_ms: median(me.map((r) => r.p99)),
      round_ratios: me.map((r, i) => (r.rps / hw[i]!.rps).toFixed(2)).join('/'),
    }, { value: median(me.map((r, i) => r.rps / hw[i]!.rps)), target: '≥ 0.4' });

    }

    // ---------------------------------------------------------- login vs raw bcrypt
    if (want('login')) {
    // Both saturate libuv's thread pool (bcrypt runs there): the same number of requests in flight.
    const inflight = Number(process.env.BENCH_LOGIN_INFLIGHT ?? Number(process.env.UV_THREADPOOL_SIZE ?? 4) * 2);
    const stored = (await hashPassword(config, password)).slice('hmac-sha384-bcrypt$'.length);
    const pre = 'x'.repeat(64);
    const bcryptRounds: number[] = [];
    const loginRounds: Awaited<ReturnType<typeof closedLoop>>[] = [];
    const loginSeconds = scale(15, 5);
    for (let i = 0; i < scale(3, 1); i++) {
      bcryptRounds.push((await closedLoop(inflight, loginSeconds, () => bcrypt.compare(pre, stored).then(() => undefined))).rps);
      loginRounds.push(await closedLoop(inflight, loginSeconds, async () => {
        await postJson('/api/v1/auth/login', { email, password });
      }));
    }
    if (loginRounds.some((r) => r.errors)) throw new Error('login: errors');
    report(`in-process: raw bcrypt.compare at cost ${cost} (baseline)`, { per_s: median(bcryptRounds), in_flight: inflight });
    report('in-process: POST /api/v1/auth/login', {
      rps: median(loginRounds.map((r) => r.rps)), p99_ms: median(loginRounds.map((r) => r.p99)), cost,
    }, { value: median(loginRounds.map((r, i) => r.rps / bcryptRounds[i]!)), target: '≥ 0.9' });

    }

    // ---------------------------------------------------------- refresh vs raw single-row insert
    if (want('refresh')) {
    const workers = 16;
    const tokens: string[] = [];
    for (let w = 0; w < workers; w++) {
      tokens.push((await post('/api/v1/auth/login', { email, password, return_refresh_in_body: true, device_name: `w${w}` })).refresh_token);
    }
    await raw.query('CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');
    const refreshSeconds = scale(8, 3);
    const refreshRounds: Awaited<ReturnType<typeof closedLoop>>[] = [];
    const insertRounds: Awaited<ReturnType<typeof closedLoop>>[] = [];
    for (let i = 0; i < scale(3, 1); i++) {
      insertRounds.push(await closedLoop(workers, refreshSeconds, async () => {
        await raw.query('INSERT INTO bench_insert (payload) VALUES ($1)', [JSON.stringify({ sessionId: 'x', hash: randomBytes(32).toString('hex') })]);
      }));
      refreshRounds.push(await closedLoop(workers, refreshSeconds, async (w) => {
        tokens[w] = (await postJson('/api/v1/auth/refresh', { refresh_token: tokens[w] })).refresh_token as string;
      }));
    }
    if (refreshRounds.some((r) => r.errors)) throw new Error(`refresh: ${refreshRounds.map((r) => r.errors).join('/')} errors`);
    report('in-process: raw single-row INSERT (baseline)', { per_s: median(insertRounds.map((r) => r.rps)), p99_ms: median(insertRounds.map((r) => r.p99)), workers });
    report('in-process: POST /api/v1/auth/refresh (rotation)', {
      rps: median(refreshRounds.map((r) => r.rps)), p50_ms: median(refreshRounds.map((r) => r.p50)), p99_ms: median(refreshRounds.map((r) => r.p99)), workers,
    }, { value: median(refreshRounds.map((r, i) => r.rps / insertRounds[i]!.rps)), target: 'report (vs raw insert)' });
    }
    agent.destroy();
  } finally {
    await raw.end();
    await hello.close();
    await close();
    await db.drop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
