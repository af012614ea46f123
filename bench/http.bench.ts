/**
 * `npm run bench http`: the HTTP routes measured from outside, as users run the server (issue 12).
 * - Servers are started with `npm start` (the package.json start script, default configuration,
 *   all roles in one process, LOG_LEVEL=info, stdout to a file), each on its own fresh database,
 *   Redis prefix and free ports. Rows: the default start; LOG_REQUESTS=errors; ROLES=api with
 *   NODE_ENV=production (real keys and secrets, a second process running projector,worker,realtime
 *   beside it, as a production deployment splits them). Two settings differ from the defaults in
 *   every row, because all load comes from one IP: the per-IP and per-key rate limits are set to
 *   their maximum (1,000,000/min; the limiters still run, so their cost is measured), and
 *   ADMIN_EMAIL/ADMIN_PASSWORD create the admin that registers the feature.
 * - The baseline is a Fastify hello-world in its own process, measured in the same interleaved
 *   rounds (hello, then every row, per route and round); wrk -t1 -c64; median of the rounds.
 * - Printed: req/s, p99 at 64 connections, ratio to hello-world and issue 12's target for it
 *   (targets hold on a quiet machine: a loaded one tilts ratios against the heavier process),
 *   server CPU per request (/proc/<pid>/stat of the serving node process), log lines and bytes per request.
 * - Login: logins/s against raw bcrypt.compare/s at the same cost in a process of its own, the
 *   same number in flight (target ≥ 0.9). Refresh: rotations/s and p99 (wrk with a token pool).
 * Environment: BENCH_QUICK=1 (one short round), BENCH_ROUNDS, BENCH_SECONDS, BENCH_ROWS
 * (comma-separated row ids: default,errors,api), BENCH_ROUTES (verify,me,access), BENCH_SKIP_LOGIN=1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { QUICK } from './lib';
import { COMMON, prepare, productionEnv, ROUTES, type Prepared, type Row } from './http-setup';
import {
  api, cpuSeconds, fmt, load, loadTool, median, ROOT, run, startHelloWorld, startServer, stopAll, uptimeLine, WORK_DIR,
  type LoadResult,
} from './outside';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 1 : 4));
const CONNECTIONS = 64;
/** Issue 12's targets, ratio to hello-world: [default start, LOG_REQUESTS=errors or ROLES=api]. */
const TARGETS: Record<string, [number, number]> = { verify: [0.5, 0.65], me: [0.4, 0.5], access: [0.45, 0.55] };
const pick = (env: string | undefined, all: string[]) => (env ? env.split(',').map((s) => s.trim()).filter((s) => all.includes(s)) : all);

async function startRows(ids: string[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const id of ids) {
    if (id === 'default') {
      rows.push({ id, title: 'npm start (defaults, LOG_LEVEL=info)', server: await startServer({ label: 'default', env: COMMON }), companions: [] });
    } else if (id === 'errors') {
      rows.push({ id, title: 'npm start, LOG_REQUESTS=errors', server: await startServer({ label: 'errors', env: { ...COMMON, LOG_REQUESTS: 'errors' } }), companions: [] });
    } else if (id === 'api') {
      const prod = { ...COMMON, ...(await productionEnv()) };
      const server = await startServer({ label: 'api', env: { ...prod, ROLES: 'api' } });
      const rest = await startServer({ label: 'api-rest', env: { ...prod, ROLES: 'projector,worker,realtime' }, shareWith: server, readyText: 'authledger started' });
      rows.push({ id, title: 'ROLES=api, NODE_ENV=production', server, companions: [rest] });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ login and refresh

const BCRYPT_CHILD = `
const bcrypt = require('bcrypt');
const [cost, inflight, seconds] = process.argv.slice(1).map(Number);
(async () => {
  const pre = 'x'.repeat(64);
  const hash = await bcrypt.hash(pre, cost);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  let last = t0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (performance.now() < end) { await bcrypt.compare(pre, hash); n++; last = performance.now(); }
  }));
  console.log(JSON.stringify({ perSecond: (n * 1000) / (last - t0) }));
})();
`;

async function rawBcrypt(cost: number, inflight: number, seconds: number): Promise<number> {
  return (JSON.parse(await run(process.execPath, ['-e', BCRYPT_CHILD, String(cost), String(inflight), String(seconds)], { cwd: ROOT })) as { perSecond: number }).perSecond;
}

/**
 * `inflight` logins in a closed loop, started for `seconds`: completed logins over the time to the
 * last completion (the same accounting as the bcrypt child, fair when one login is a good part of
 * the window).
 */
async function logins(row: Prepared, inflight: number, seconds: number, tokens: string[]) {
  const start = performance.now();
  const end = start + seconds * 1000;
  const lat: number[] = [];
  let errors = 0;
  let last = start;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const r = await api(row.server.base, 'POST', '/api/v1/auth/login', { email: row.email, password: row.password, return_refresh_in_body: true });
        last = performance.now();
        lat.push(last - t0);
        tokens.push(r.refresh_token);
      } catch (err) {
        if (!errors) console.error(err);
        errors++;
      }
    }
  }));
  lat.sort((a, b) => a - b);
  return { perSecond: (lat.length * 1000) / (last - start), p99: lat[Math.max(0, Math.ceil(0.99 * lat.length) - 1)] ?? NaN, errors };
}

async function loginAndRefresh(row: Prepared) {
  const cost = Number(row.server.env.BCRYPT_COST ?? 12);
  const inflight = 8; // libuv's 4 threads, twice over: both sides keep the pool busy
  const seconds = QUICK ? 3 : 6;
  const tokens: string[] = [];
  const raw: number[] = [];
  const srv: Awaited<ReturnType<typeof logins>>[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    raw.push(await rawBcrypt(cost, inflight, seconds));
    const c0 = cpuSeconds(row.server.pid);
    const before = tokens.length;
    srv.push(await logins(row, inflight, seconds, tokens));
    cpu.push(((cpuSeconds(row.server.pid) - c0) * 1000) / Math.max(1, tokens.length - before));
  }
  const ratio = median(srv.map((s, i) => s.perSecond / raw[i]!));
  console.log(`[bench] raw bcrypt.compare at cost ${cost} (own process, ${inflight} in flight): ${fmt(median(raw), 2)}/s`);
  console.log(`[bench] POST /api/v1/auth/login (${row.id}): ${fmt(median(srv.map((s) => s.perSecond)), 2)}/s p99=${fmt(median(srv.map((s) => s.p99)))}ms cpu=${fmt(median(cpu), 1)}ms/login errors=${srv.reduce((n, s) => n + s.errors, 0)} round_ratios=${srv.map((s, i) => (s.perSecond / raw[i]!).toFixed(2)).join('/')} ratio=${fmt(ratio, 2)} (target ≥ 0.9)`);

  // Refresh: each round gets its own share of the sessions (a token is used once; the rotated one
  // returns to wrk's pool). More tokens than connections, so no request waits for a token.
  const perRound = Math.floor(tokens.length / ROUNDS);
  const connections = Math.max(1, Math.min(16, perRound - 4));
  const ref: LoadResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const file = path.join(WORK_DIR, `refresh-${i}.txt`);
    fs.writeFileSync(file, tokens.slice(i * perRound, (i + 1) * perRound).join('\n'));
    ref.push(await load({
      url: `${row.server.base}/api/v1/auth/refresh`, script: path.join(ROOT, 'bench', 'lua', 'refresh.lua'), scriptArgs: [file],
      connections, seconds: SECONDS, pid: row.server.pid, server: row.server,
    }));
  }
  const bad = ref.reduce((n, r) => n + r.bad, 0);
  console.log(`[bench] POST /api/v1/auth/refresh (${row.id}, rotation, ${connections} connections): ${fmt(median(ref.map((r) => r.rps)))}/s p99=${fmt(median(ref.map((r) => r.p99ms)), 2)}ms cpu=${fmt(median(ref.map((r) => r.cpuUsPerReq)))}µs/req log_lines/req=${fmt(median(ref.map((r) => r.logLinesPerReq)), 2)} bad=${bad}`);
  return { cost, loginPerSecond: median(srv.map((s) => s.perSecond)), rawPerSecond: median(raw), ratio, refresh: ref, connections, bad };
}

// ------------------------------------------------------------------ main

async function main() {
  const rowIds = pick(process.env.BENCH_ROWS, ['default', 'errors', 'api']);
  const routes = ROUTES.filter((r) => pick(process.env.BENCH_ROUTES, ROUTES.map((x) => x.id)).includes(r.id));
  const commit = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).then((out) => out.trim() || 'unknown', () => 'unknown');
  console.log(`[bench] ${new Date().toISOString()} commit ${commit}; ${uptimeLine()}; load generator: ${loadTool()} -t1 -c${CONNECTIONS}, ${SECONDS} s runs, ${ROUNDS} interleaved round(s), median`);
  const hello = await startHelloWorld();
  try {
    const rows = await startRows(rowIds);
    for (const row of rows) console.log(`[bench] started ${row.id}: ${row.title}; serving pid ${row.server.pid}; first /health after ${fmt(row.server.startMs)} ms`);
    const prepared: Prepared[] = [];
    for (const row of rows) prepared.push(await prepare(row));

    // Warm-up (JIT, caches, connection pools), not counted.
    await load({ url: hello.url, seconds: 1 });
    for (const route of routes) for (const row of prepared) await load({ ...route.spec(row), seconds: 1 });

    const hw = new Map<string, LoadResult[]>();
    const res = new Map<string, LoadResult[]>();
    const push = (m: Map<string, LoadResult[]>, k: string, r: LoadResult) => m.set(k, [...(m.get(k) ?? []), r]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const route of routes) {
        push(hw, route.id, await load({ url: hello.url, seconds: SECONDS, connections: CONNECTIONS, pid: hello.pid }));
        for (const row of prepared) {
          push(res, `${route.id}/${row.id}`, await load({ ...route.spec(row), seconds: SECONDS, connections: CONNECTIONS, pid: row.server.pid, server: row.server }));
        }
      }
      console.log(`[bench] round ${round + 1}/${ROUNDS} done; ${uptimeLine()}`);
    }

    // ---------------------------------------------------------------- the table
    const lines: string[] = [];
    lines.push('| route | server | req/s | p99 ms | ratio to hello-world (rounds) | target (quiet machine) | server CPU µs/req | log lines/req | log bytes/req | non-2xx |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const route of routes) {
      const h = hw.get(route.id)!;
      lines.push(`| ${route.title} | hello-world (own process) | ${fmt(median(h.map((r) => r.rps)))} | ${fmt(median(h.map((r) => r.p99ms)), 2)} | 1 | – | ${fmt(median(h.map((r) => r.cpuUsPerReq)))} | – | – | ${h.reduce((n, r) => n + r.bad, 0)} |`);
      for (const row of prepared) {
        const rs = res.get(`${route.id}/${row.id}`)!;
        const ratios = rs.map((r, i) => r.rps / h[i]!.rps);
        const target = TARGETS[route.id]?.[row.id === 'default' ? 0 : 1];
        const met = target === undefined ? '–' : `≥ ${target} ${median(ratios) >= target ? 'met' : 'not met'}`;
        lines.push(`| ${route.title} | ${row.title} | ${fmt(median(rs.map((r) => r.rps)))} | ${fmt(median(rs.map((r) => r.p99ms)), 2)} | **${fmt(median(ratios), 2)}** (${ratios.map((x) => x.toFixed(2)).join(' / ')}) | ${met} | ${fmt(median(rs.map((r) => r.cpuUsPerReq)))} | ${fmt(median(rs.map((r) => r.logLinesPerReq)), 2)} | ${fmt(median(rs.map((r) => r.logBytesPerReq)))} | ${rs.reduce((n, r) => n + r.bad, 0)} |`);
      }
    }
    console.log(`\n${lines.join('\n')}\n`);
    const bad = [...res.values()].flat().reduce((n, r) => n + r.bad, 0);

    let loginBad = 0;
    if (process.env.BENCH_SKIP_LOGIN !== '1') {
      const row = prepared.find((r) => r.id === 'default') ?? prepared[0]!;
      const lr = await loginAndRefresh(row);
      loginBad = lr.bad;
    }
    console.log(`[bench] finished; ${uptimeLine()}`);
    if (bad || loginBad) throw new Error(`${bad + loginBad} non-2xx answers or socket errors: the figures above are not valid`);
  } finally {
    await hello.stop();
    await stopAll();
    fs.rmSync(WORK_DIR, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), async (err) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
