/**
 * The access check (issue 5): `POST /api/v1/features/{name}/access` with a valid access token and
 * API key, against the full app (every plugin and hook, real PostgreSQL and Redis), as a ratio to
 * a Fastify hello-world measured in the same run. Target ≥ 0.5.
 * The hot path: cached token verification (identity) + cached key/feature state (invalidated by
 * pub/sub) + the per-key limiter (budget slices leased from Redis, spent in memory) + usage counted
 * in memory and flushed to Redis each second. No event, no database row.
 * IN-PROCESS server: the app runs in this process and logs nothing (bench/app.ts), so the ratios
 * are higher than users get (autocannon itself runs as a child process, bench/lib.ts `load`); the figures users get are
 * `npm run bench http` (wrk from outside against `npm start`, docs/performance.md).
 */
import { randomBytes } from 'node:crypto';
import { helloWorld, load, report, scale, type LoadResult } from './lib';
import { startBenchApp } from './app';
import { benchDatabase } from './pg-bench-db';
import { grantRole } from '../src/commands/users/handlers';

async function main() {
  const db = await benchDatabase('access');
  // The per-key limiter stays on (at its maximum, so the run is not refused): its cost is measured.
  const { services, base, post, close } = await startBenchApp('access', db.url, { API_KEY_RATE_LIMIT_PER_MINUTE: '1000000' });
  const hello = await helloWorld();
  try {
    const email = 'bench@example.com';
    const password = `Bench-${randomBytes(6).toString('hex')}-Lantern!`;
    const user = await post('/api/v1/auth/signup', { email, password, name: 'Bench' });
    await grantRole(services, user.user.id, 'admin', { actorUserId: 'bench' });
    const { access_token: token } = await post('/api/v1/auth/login', { email, password });
    await post('/api/v1/features', { name: 'reports', description: 'bench' }, { authorization: `Bearer ${token}` });
    const { api_key: key } = await post('/api/v1/api-keys', { name: 'bench', features: ['reports'] }, { authorization: `Bearer ${token}` });
    const url = `${base}/api/v1/features/reports/access`;
    const headers = { authorization: `Bearer ${token}`, 'x-api-key': key };
    const check = await fetch(url, { method: 'POST', headers });
    if (check.status !== 200) throw new Error(`access check answered ${check.status}: ${await check.text()}`);

    // Warm up, then interleave short rounds of the baseline and the access check (the machine is
    // shared: interleaving keeps a load spike from landing on one side only); median of the rounds.
    await load({ url: hello.url, duration: 1 });
    await load({ url, method: 'POST', headers, duration: 1 });
    const rounds = scale(5, 2);
    const duration = scale(4, 2);
    const hw: LoadResult[] = [];
    const ac: LoadResult[] = [];
    const floor: LoadResult[] = [];
    for (let i = 0; i < rounds; i++) {
      hw.push(await load({ url: hello.url, duration }));
      ac.push(await load({ url, method: 'POST', headers, duration }));
      floor.push(await load({ url: `${base}/health`, duration }));
    }
    const bad = ac.reduce((n, r) => n + r.non2xx + r.errors, 0);
    if (bad) throw new Error(`access check: ${bad} non-2xx or errors`);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratios = ac.map((r, i) => r.rps / hw[i]!.rps);
    const events = await services.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    report('in-process: hello-world (baseline)', { rps: median(hw.map((r) => r.rps)), p99_ms: median(hw.map((r) => r.p99)) });
    report('in-process: full app GET /health (the app’s own floor)', { rps: median(floor.map((r) => r.rps)), p99_ms: median(floor.map((r) => r.p99)) }, {
      value: median(floor.map((r, i) => r.rps / hw[i]!.rps)),
      target: 'context',
    });
    report('in-process: access check (token + API key)', {
      rps: median(ac.map((r) => r.rps)), p50_ms: median(ac.map((r) => r.p50)), p99_ms: median(ac.map((r) => r.p99)),
      rounds, round_ratios: ratios.map((x) => x.toFixed(2)).join('/'), events_in_log: events.rows[0]!.n,
    }, { value: median(ratios), target: '≥ 0.5' });
  } finally {
    await hello.close();
    await close();
    await db.drop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
