/**
 * Realtime hub (issue 8) against a bare uWebSockets.js pub/sub server, measured in the same run:
 * one group of N connected clients (spread over child processes), M messages published by one more
 * socket as fast as it can send; every client must receive every message.
 * Figures: delivered messages/s, p50/p99 delivery latency, server CPU time per delivered message
 * (process.cpuUsage() inside the server process), memory (RSS) per idle connection.
 * Ratios: throughput hub/bare (target ≥ 0.8), p99 bare/hub (target ≥ 0.8), CPU hub/bare (target ≤ 1.25).
 * The hub runs with its production code path: ticket auth, presence in Redis, Redis pub/sub fan-out.
 * BENCH_QUICK=1: 200 clients × 200 messages. Needs `ulimit -n` ≥ 2·N + 100.
 */
import { execSync, fork, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { percentile, report, round, scale } from './lib';
import { testServices } from '../test/helpers/app';
import { activeUser } from '../test/realtime/helpers';
import { RealtimeState } from '../src/realtime/state';

const dir = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_RT_CLIENTS ?? scale(1000, 200));
const M = Number(process.env.BENCH_RT_MESSAGES ?? scale(1000, 200));
const PROCS = 4;
const ROUNDS = Number(process.env.BENCH_RT_ROUNDS ?? scale(3, 1));
const GROUP = 'bench';
const now = () => performance.timeOrigin + performance.now();

const nofile = Number(execSync('ulimit -n', { shell: '/bin/bash' }).toString().trim());
if (nofile < 2 * N + 100) {
  console.error(`[bench] realtime: ulimit -n is ${nofile}; ${2 * N + 100} file descriptors are needed (run \`ulimit -n 65536\` first).`);
  process.exit(1);
}

type Usage = { cpu: NodeJS.CpuUsage; mem: NodeJS.MemoryUsage };
function ask(child: ChildProcess, what: 'cpu' | 'mem' = 'cpu'): Promise<Usage> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (m && typeof m === 'object' && 'cpu' in m) {
        child.off('message', on);
        resolve(m as Usage);
      }
    };
    child.on('message', on);
    child.send(what);
  });
}

function startServer(file: string, env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => resolve({ port: (JSON.parse(line) as { port: number }).port, child }));
  });
}

function waitFor(child: ChildProcess, kind: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`timeout waiting for ${kind}`));
    }, timeoutMs);
    const on = (m: Record<string, unknown>) => {
      if (m.kind === 'error') {
        clearTimeout(t);
        child.off('message', on);
        reject(new Error(String(m.message)));
      } else if (m.kind === kind) {
        clearTimeout(t);
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
  });
}

interface Result {
  throughput: number;
  p50: number;
  p99: number;
  cpuUsPerMsg: number;
  memPerConnKiB: number;
  heapPerConnKiB: number;
  lost: number;
  seconds: number;
  cpuSplit: { userUs: number; systemUs: number };
}

async function run(kind: 'bare' | 'hub', server: { port: number; child: ChildProcess }, urlFor: (i: number) => Promise<string>, publisherUrl: string): Promise<Result> {
  const clients = Array.from({ length: PROCS }, () => fork(path.join(dir, 'realtime', 'client.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const before = (await ask(server.child, 'mem')).mem;
    const urls: string[][] = clients.map(() => []);
    for (let i = 0; i < N; i++) urls[i % PROCS]!.push(await urlFor(i));
    await Promise.all(clients.map((c, i) => {
      const p = waitFor(c, 'connected', 120_000);
      c.send({ kind: 'connect', urls: urls[i], expect: M });
      return p;
    }));
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await ask(server.child, 'mem')).mem;

    const pub = new WebSocket(publisherUrl);
    await new Promise<void>((resolve, reject) => {
      pub.once('error', reject);
      pub.once('unexpected-response', (_q, res) => reject(new Error(`publisher refused ${res.statusCode}`)));
      if (kind === 'hub') pub.on('message', function first(d) {
        if (d.toString().includes('"welcome"')) {
          pub.off('message', first);
          resolve();
        }
      });
      else pub.once('open', () => resolve());
    });
    const done = Promise.all(clients.map((c) => waitFor(c, 'done', 120_000).then(() => now()).catch(() => now())));
    const cpu0 = (await ask(server.child)).cpu;
    const t0 = now();
    for (let i = 0; i < M; i++) pub.send(`/group @${i}:${now()}@`);
    const ends = await done;
    const t1 = Math.max(...ends);
    const cpu1 = (await ask(server.child)).cpu;
    pub.terminate();

    const lat: number[] = [];
    let received = 0;
    for (const c of clients) {
      const p = waitFor(c, 'report', 60_000);
      c.send({ kind: 'report' });
      const r = await p;
      received += Number(r.received);
      const buf = Buffer.from(String(r.latencies), 'base64');
      const arr = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
      for (const v of arr) lat.push(v);
    }
    lat.sort((a, b) => a - b);
    const cpuUs = cpu1.user - cpu0.user + (cpu1.system - cpu0.system);
    return {
      throughput: received / ((t1 - t0) / 1000),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      cpuUsPerMsg: cpuUs / received,
      memPerConnKiB: (after.rss - before.rss) / N / 1024,
      heapPerConnKiB: (after.heapUsed + after.external - before.heapUsed - before.external) / N / 1024,
      lost: N * M - received,
      seconds: (t1 - t0) / 1000,
      cpuSplit: { userUs: cpu1.user - cpu0.user, systemUs: cpu1.system - cpu0.system },
    };
  } finally {
    for (const c of clients) {
      c.send({ kind: 'close' });
    }
  }
}

async function main() {
  const t = await testServices('rtbench', { REALTIME_MESSAGES_PER_SECOND: '10000' });
  const state = new RealtimeState(t.redis, t.prefix);
  const user = await activeUser(t, ['user']);
  const results: Record<'bare' | 'hub', Result[]> = { bare: [], hub: [] };
  try {
    const runBare = async () => {
      const bare = await startServer(path.join(dir, 'realtime', 'bare-server.ts'), {});
      try {
        results.bare.push(await run('bare', bare, async () => `ws://127.0.0.1:${bare.port}/ws`, `ws://127.0.0.1:${bare.port}/ws`));
      } finally {
        bare.child.kill();
      }
    };
    const runHub = async (round: number) => {
      const hub = await startServer(path.join(dir, '..', 'test', 'realtime', 'fixtures', 'hub-process.ts'), {
        DATABASE_URL: t.config.DATABASE_URL,
        REDIS_PREFIX: t.prefix,
        DATA_DIR: t.config.DATA_DIR,
        REALTIME_MESSAGES_PER_SECOND: '10000',
        REALTIME_MAX_BACKPRESSURE_BYTES: String(64 * 1024 * 1024),
        REALTIME_IDLE_TIMEOUT_SECONDS: '120',
      });
      try {
        const tk = async () => (await state.issueTicket(user)).ticket;
        results.hub.push(await run('hub', hub, async (i) => `ws://127.0.0.1:${hub.port}/ws/b${round}-${i}/${GROUP}?ticket=${await tk()}`,
          `ws://127.0.0.1:${hub.port}/ws/pub${round}/${GROUP}?ticket=${await tk()}`));
      } finally {
        hub.child.stdin?.end();
        await new Promise((r) => hub.child.once('exit', r));
      }
    };
    // Alternate which server goes first, so neither always gets the colder machine.
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await runBare();
        await runHub(round);
      } else {
        await runHub(round);
        await runBare();
      }
    }
  } finally {
    await t.close();
  }
  const best = (rs: Result[]): Result => ({
    throughput: Math.max(...rs.map((r) => r.throughput)),
    p50: Math.min(...rs.map((r) => r.p50)),
    p99: Math.min(...rs.map((r) => r.p99)),
    cpuUsPerMsg: Math.min(...rs.map((r) => r.cpuUsPerMsg)),
    memPerConnKiB: Math.min(...rs.map((r) => r.memPerConnKiB)),
    heapPerConnKiB: Math.min(...rs.map((r) => r.heapPerConnKiB)),
    lost: Math.max(...rs.map((r) => r.lost)),
    seconds: Math.min(...rs.map((r) => r.seconds)),
    cpuSplit: rs[0]!.cpuSplit,
  });
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const median = (rs: Result[]) => ({ throughput: med(rs.map((r) => r.throughput)), p99: med(rs.map((r) => r.p99)), cpuUsPerMsg: med(rs.map((r) => r.cpuUsPerMsg)) });
  const b = best(results.bare);
  const h = best(results.hub);
  const bm = median(results.bare);
  const hm = median(results.hub);
  const label = `${N} clients × ${M} messages (best of ${ROUNDS})`;
  report(`realtime bare uWS ${label}`, { msgs_per_s: b.throughput, p50_ms: b.p50, p99_ms: b.p99, cpu_us_per_msg: b.cpuUsPerMsg, rss_kib_per_conn: b.memPerConnKiB, lost: b.lost });
  report(`realtime hub ${label}`, { msgs_per_s: h.throughput, p50_ms: h.p50, p99_ms: h.p99, cpu_us_per_msg: h.cpuUsPerMsg, rss_kib_per_conn: h.memPerConnKiB, lost: h.lost });
  report('realtime throughput hub/bare', { hub: h.throughput, bare: b.throughput }, { value: h.throughput / b.throughput, target: '>= 0.8' });
  report('realtime p99 latency bare/hub', { hub_ms: h.p99, bare_ms: b.p99 }, { value: b.p99 / h.p99, target: '>= 0.8' });
  report('realtime CPU per delivered message hub/bare', { hub_us: h.cpuUsPerMsg, bare_us: b.cpuUsPerMsg }, { value: h.cpuUsPerMsg / b.cpuUsPerMsg, target: '<= 1.25' });
  if (process.env.BENCH_VERBOSE) console.log(JSON.stringify({ bare: results.bare.map((r) => r.cpuSplit), hub: results.hub.map((r) => r.cpuSplit) }));
  if (ROUNDS > 1) {
    report(`realtime medians of ${ROUNDS} (hub/bare; p99 bare/hub)`, {
      throughput_ratio: hm.throughput / bm.throughput, p99_ratio: bm.p99 / hm.p99, cpu_ratio: hm.cpuUsPerMsg / bm.cpuUsPerMsg,
      hub_cpu_us: hm.cpuUsPerMsg, bare_cpu_us: bm.cpuUsPerMsg,
    });
  }
  report('realtime memory per idle connection (RSS; JS heap+external)', { hub_rss_kib: h.memPerConnKiB, bare_rss_kib: b.memPerConnKiB, hub_heap_kib: h.heapPerConnKiB, bare_heap_kib: b.heapPerConnKiB });
  if (process.env.BENCH_VERBOSE) console.log(JSON.stringify({ results }, null, 1), round(0));
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
