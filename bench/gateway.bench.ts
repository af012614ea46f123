/**
 * `npm run bench gateway` (issue 14): the gateway measured from outside, each server a process of
 * its own, load from wrk in its own process (-t1 -c64), rows in the same interleaved rounds:
 * - direct: wrk → the upstream (the Fastify hello-world, bench/hello-world.mjs);
 * - gateway: wrk → authledger as users start it (`npm start`, default configuration plus the gateway
 *   role: ROLES=api,projector,worker,realtime,gateway, LOG_REQUESTS=all, i.e. one access line per
 *   request) at /api/hello/ → upstream, a service registered by REST with the `token` policy (Bearer
 *   checked, session active, identity headers injected);
 * - gateway, LOG_REQUESTS=errors: a second such server whose 2xx access lines are not written;
 * - gateway on its own port: the same roles with GATEWAY_PORT set, so the gateway is its own lean
 *   Fastify app (src/gateway/app.ts: the edge rules, none of the API's hooks) in the same process,
 *   with the default logging (and with LOG_REQUESTS=errors when BENCH_GATEWAY_OWN_ERRORS=1);
 * - http-proxy: wrk → @fastify/http-proxy (bench/http-proxy.mjs, no auth, no logging) → upstream;
 * - nginx: wrk → nginx (one worker) `auth_request` → authledger /api/v1/auth/verify → upstream, the
 *   configuration of docs/gateway.md plus keep-alive upstream pools (as one would run it).
 * Printed: req/s, p50/p99, server CPU per request, log lines per request, each server's idle CPU
 * (what it burns with no traffic: on a loaded machine at low req/s it inflates CPU per request), the
 * ratio of each gateway row to the unauthenticated proxy (target ≥ 0.8) and p99 added latency
 * against direct. The upstream (hello-world) and the proxy baseline log nothing.
 * Environment: BENCH_QUICK=1 (one short round), BENCH_ROUNDS, BENCH_SECONDS, NGINX_BIN, BENCH_GATEWAY_OWN_ERRORS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { QUICK } from './lib';
import { COMMON, prepare } from './http-setup';
import { api, cpuSeconds, fmt, freePort, load, loadTool, median, processTree, sleep, startScript, startServer, stopAll, uptimeLine, WORK_DIR, type LoadResult, type Server } from './outside';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 5));
const CONNECTIONS = 64;
const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
/** BENCH_GATEWAY_OWN_ERRORS=1: also the own-port gateway with LOG_REQUESTS=errors (a fourth server). */
const OWN_ERRORS = process.env.BENCH_GATEWAY_OWN_ERRORS === '1';

interface Proc { url: string; pid: number; stop(): Promise<void> }

/** nginx in the foreground, one worker, everything in a directory of its own. */
async function startNginx(appPort: number, upstreamPort: number): Promise<Proc> {
  if (!fs.existsSync(NGINX)) throw new Error(`nginx is not installed at ${NGINX} (apt-get install nginx)`);
  const dir = path.join(WORK_DIR, 'nginx');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(WORK_DIR, 0o755);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream authledger { server 127.0.0.1:${appPort}; keepalive 64; }
  upstream hello_upstream { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /hello/ {
      auth_request /_auth;
      auth_request_set $user_id $upstream_http_x_user_id;
      auth_request_set $user_roles $upstream_http_x_user_roles;
      proxy_set_header X-User-Id $user_id;
      proxy_set_header X-User-Roles $user_roles;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://hello_upstream/;
    }
    location = /_auth {
      internal;
      proxy_pass http://authledger/api/v1/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Uri $request_uri;
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`);
  const args = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')];
  const child: ChildProcess = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 10_000; ;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode} (see ${dir}/error.log)`);
    if (await fetch(`${url}/nothing`).then(() => true, () => false)) break;
    if (Date.now() > deadline) throw new Error('nginx did not listen within 10 s');
    await sleep(50);
  }
  const worker = processTree(child.pid!).find((p) => p !== child.pid) ?? child.pid!;
  return {
    url,
    pid: worker,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}

async function main() {
  console.log(`[bench] ${new Date().toISOString()}; ${uptimeLine()}; load generator: ${loadTool()} -t1 -c${CONNECTIONS}, ${SECONDS} s runs, ${ROUNDS} interleaved round(s), median`);
  const procs: Proc[] = [];
  try {
    const upstream = await startScript('hello-world.mjs');
    procs.push(upstream);
    // The default roles plus the gateway; LOG_REQUESTS left at its default (all) on the first.
    const ROLES = 'api,projector,worker,realtime,gateway';
    // Four servers on one PostgreSQL (max_connections 100, shared with other work): 10 connections
    // each instead of the default 20 (the proxied path uses none per request).
    const POOL = { DATABASE_POOL_SIZE: '10' };
    const server = await startServer({ label: 'gateway', env: { ...COMMON, ...POOL, ROLES } });
    const quiet = await startServer({ label: 'gateway-errors', env: { ...COMMON, ...POOL, ROLES, LOG_REQUESTS: 'errors' } });
    const [ownPort, ownQuietPort] = [await freePort(), await freePort()];
    const own = await startServer({ label: 'gateway-own', env: { ...COMMON, ...POOL, ROLES, GATEWAY_PORT: String(ownPort) } });
    // A fourth server only when asked: with other work on the machine, four exhaust PostgreSQL's connections.
    const ownQuiet = OWN_ERRORS ? await startServer({ label: 'gateway-own-errors', env: { ...COMMON, ...POOL, ROLES, GATEWAY_PORT: String(ownQuietPort), LOG_REQUESTS: 'errors' } }) : undefined;
    const setUp = async (srv: Server) => {
      // /health answers before the read models are live: commands may answer 503 until /ready does.
      for (const deadline = Date.now() + 60_000; ;) {
        const ready = await fetch(`${srv.base}/ready`).catch(() => undefined);
        if (ready?.status === 200) break;
        if (Date.now() > deadline) throw new Error(`${srv.label}: not ready within 60 s: ${await ready?.text()}`);
        await sleep(250);
      }
      const prepared = await prepare({ id: srv.label, title: srv.label, server: srv, companions: [] });
      const admin = (await api(srv.base, 'POST', '/api/v1/auth/login', { email: COMMON.ADMIN_EMAIL, password: COMMON.ADMIN_PASSWORD })).access_token as string;
      await api(srv.base, 'POST', '/api/v1/services', { name: 'hello', upstreams: [upstream.url], auth: 'token' }, { authorization: `Bearer ${admin}` });
      return prepared;
    };
    const row = await setUp(server);
    const quietRow = await setUp(quiet);
    const ownRow = await setUp(own);
    const ownQuietRow = ownQuiet ? await setUp(ownQuiet) : undefined;
    const proxy = await startScript('http-proxy.mjs', { UPSTREAM: upstream.url, PREFIX: '/hello' });
    procs.push(proxy);
    const nginx = await startNginx(server.port, Number(new URL(upstream.url).port));
    procs.push(nginx);

    const auth = { authorization: `Bearer ${row.token}` };
    const rows: { id: string; title: string; url: string; pid: number; server?: Server; headers?: Record<string, string> }[] = [
      { id: 'direct', title: 'direct to the upstream (hello-world, logs nothing)', url: `${upstream.url}/`, pid: upstream.pid },
      { id: 'gateway', title: 'authledger gateway, token policy (npm start defaults: logs every request)', url: `${server.base}/api/hello/`, pid: server.pid, server },
      { id: 'gateway-errors', title: 'authledger gateway, token policy, LOG_REQUESTS=errors (no 2xx lines)', url: `${quiet.base}/api/hello/`, pid: quiet.pid, server: quiet, headers: { authorization: `Bearer ${quietRow.token}` } },
      { id: 'gateway-own', title: 'authledger gateway on its own port (GATEWAY_PORT: lean app), token policy, logs every request', url: `http://127.0.0.1:${ownPort}/api/hello/`, pid: own.pid, server: own, headers: { authorization: `Bearer ${ownRow.token}` } },
      ...(ownQuiet && ownQuietRow ? [{ id: 'gateway-own-errors', title: 'authledger gateway on its own port (GATEWAY_PORT: lean app), token policy, LOG_REQUESTS=errors', url: `http://127.0.0.1:${ownQuietPort}/api/hello/`, pid: ownQuiet.pid, server: ownQuiet, headers: { authorization: `Bearer ${ownQuietRow.token}` } }] : []),
      { id: 'http-proxy', title: '@fastify/http-proxy, no auth (logs nothing)', url: `${proxy.url}/hello/`, pid: proxy.pid },
      { id: 'nginx', title: 'nginx auth_request → /verify → upstream (access_log off; /verify on the first server)', url: `${nginx.url}/hello/`, pid: nginx.pid },
    ];
    // Every row answers 200 before it is measured (the service reaches the directory via the log).
    for (const r of rows) {
      for (const deadline = Date.now() + 15_000; ;) {
        const res = await fetch(r.url, { headers: r.headers ?? auth });
        if (res.status === 200) break;
        if (Date.now() > deadline) throw new Error(`${r.id}: ${res.status} ${await res.text()}`);
        await sleep(200);
      }
    }
    for (const url of [`${server.base}/api/hello/`, `http://127.0.0.1:${ownPort}/api/hello/`]) {
      const noToken = await fetch(url);
      if (noToken.status !== 401) throw new Error(`gateway without a token answered ${noToken.status}, not 401 (${url})`);
    }
    if ((await fetch(`${nginx.url}/hello/`)).status !== 401) throw new Error('nginx without a token did not answer 401');

    for (const r of rows) await load({ url: r.url, headers: r.headers ?? auth, seconds: 1, connections: CONNECTIONS }); // warm-up
    // What each process burns with no traffic (projector, workers, timers): part of CPU per request.
    const idle = new Map<string, number>();
    const cpu0 = rows.map((r) => cpuSeconds(r.pid));
    await sleep(3000);
    rows.forEach((r, i) => idle.set(r.id, ((cpuSeconds(r.pid) - cpu0[i]!) * 1000) / 3));
    const res = new Map<string, LoadResult[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of rows) {
        const x = await load({ url: r.url, headers: r.headers ?? auth, seconds: SECONDS, connections: CONNECTIONS, pid: r.pid, server: r.server });
        res.set(r.id, [...(res.get(r.id) ?? []), x]);
      }
      console.log(`[bench] round ${round + 1}/${ROUNDS} done; ${uptimeLine()}`);
    }

    const m = (id: string, f: (x: LoadResult) => number) => median(res.get(id)!.map(f));
    const lines = [
      '| row | req/s | p50 ms | p99 ms | p99 added vs direct ms | serving process CPU µs/req | idle CPU ms/s | CPU µs/req net of idle | log lines/req | non-2xx |',
      '|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const r of rows) {
      const rs = res.get(r.id)!;
      lines.push(`| ${r.title} | ${fmt(m(r.id, (x) => x.rps))} | ${fmt(m(r.id, (x) => x.p50ms), 2)} | ${fmt(m(r.id, (x) => x.p99ms), 2)} | ${r.id === 'direct' ? '–' : fmt(m(r.id, (x) => x.p99ms) - m('direct', (x) => x.p99ms), 2)} | ${fmt(m(r.id, (x) => x.cpuUsPerReq))} | ${fmt(idle.get(r.id)!, 1)} | ${fmt(m(r.id, (x) => x.cpuUsPerReq - (idle.get(r.id)! * 1000) / x.rps))} | ${r.server ? fmt(m(r.id, (x) => x.logLinesPerReq), 2) : '0'} | ${rs.reduce((n, x) => n + x.bad, 0)} |`);
    }
    const ratiosOf = (id: string) => res.get(id)!.map((g, i) => g.rps / res.get('http-proxy')![i]!.rps);
    const ratios = ratiosOf('gateway');
    const quietRatios = ratiosOf('gateway-errors');
    const ownRatios = ratiosOf('gateway-own');
    const nginxRatios = ratiosOf('nginx');
    const cpuRatio = (id: string) => m('http-proxy', (x) => x.cpuUsPerReq) / m(id, (x) => x.cpuUsPerReq);
    console.log(`\n${lines.join('\n')}\n`);
    console.log(`[bench] gateway (token policy, logs every request) / @fastify/http-proxy (no auth, no logging): ratio=${fmt(median(ratios), 2)} (rounds ${ratios.map((x) => x.toFixed(2)).join(' / ')}; target ≥ 0.8); CPU per request proxy/gateway ${fmt(cpuRatio('gateway'), 2)}`);
    console.log(`[bench] gateway with LOG_REQUESTS=errors / @fastify/http-proxy: ratio=${fmt(median(quietRatios), 2)} (rounds ${quietRatios.map((x) => x.toFixed(2)).join(' / ')}); CPU per request proxy/gateway ${fmt(cpuRatio('gateway-errors'), 2)}`);
    console.log(`[bench] gateway on its own port (lean app, logs every request) / @fastify/http-proxy: ratio=${fmt(median(ownRatios), 2)} (rounds ${ownRatios.map((x) => x.toFixed(2)).join(' / ')}); CPU per request proxy/gateway ${fmt(cpuRatio('gateway-own'), 2)}`);
    if (res.has('gateway-own-errors')) {
      const r = ratiosOf('gateway-own-errors');
      console.log(`[bench] gateway on its own port (lean app), LOG_REQUESTS=errors / @fastify/http-proxy: ratio=${fmt(median(r), 2)} (rounds ${r.map((x) => x.toFixed(2)).join(' / ')}); CPU per request proxy/gateway ${fmt(cpuRatio('gateway-own-errors'), 2)}`);
    }
    console.log(`[bench] nginx auth_request / @fastify/http-proxy: ratio=${fmt(median(nginxRatios), 2)}; gateway p99 added vs direct ${fmt(m('gateway', (x) => x.p99ms) - m('direct', (x) => x.p99ms), 2)} ms, nginx ${fmt(m('nginx', (x) => x.p99ms) - m('direct', (x) => x.p99ms), 2)} ms`);
    console.log(`[bench] finished; ${uptimeLine()}`);
    const bad = [...res.values()].flat().reduce((n, x) => n + x.bad, 0);
    if (bad) throw new Error(`${bad} non-2xx answers or socket errors: the figures above are not valid`);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await stopAll();
    fs.rmSync(WORK_DIR, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), async (err) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
