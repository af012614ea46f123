/**
 * `npm run bench consistency`: what read-your-writes costs (issue 11), measured from outside.
 * - Servers are started as users start them (`npm start`, all roles in one process, COMMON settings
 *   of bench/http-setup.ts), each on its own database: one with the feature on (the default), one
 *   with READ_YOUR_WRITES=off, for the hot-path ratio.
 * - Write-then-read (create key → get key) at 16 clients, each its own session over one keep-alive
 *   connection, driven by bench/consistency-client.mjs in a process of its own, in interleaved
 *   rounds of three modes: the write alone; write then read with the same session (waits for the
 *   api_keys projection); write then poll with another session until the key is visible. Printed:
 *   p50/p99 of the write, the read, the round trip; the read's added p99 over the write-alone run's
 *   write p99 is the figure the issue bounds (< 15 ms). A fourth mode runs against the server
 *   with the feature off: write, then one GET with the same session, not waiting — the read's own
 *   latency under the same load (so ryw read − that read is what the wait itself adds) and how
 *   often such a read sees the past.
 * - Paced: the same 16 clients, each starting a round trip on a schedule so that together they
 *   offer a fraction of the write-alone throughput measured (closed loop) in the same round (a half
 *   and a quarter; BENCH_PACED="0.5,0.25"): write alone and write-then-read there, so the feature's
 *   own cost shows apart from queueing on a saturated machine (the closed-loop rows above it are
 *   unchanged). A round trip is a write and a read, so at a half the machine can still be
 *   saturated (the late starts say so); a quarter leaves room.
 * - /api/v1/auth/verify and the access check: wrk (a process of its own), feature on vs off, in
 *   on/off/off/on runs per round (neither side always on the warmer machine); printed: ratio of
 *   the medians and the median of the ratios of adjacent on/off pairs (target ≥ 0.97), and the
 *   server's CPU µs per request (utime + stime from /proc/<pid>/stat over the run) on and off with
 *   their ratio (off/on: ≥ 0.97 means the feature costs the path at most 3 % CPU). Each round's
 *   comparison starts once both servers are quiet (under 5 % of a core over 500 ms, at most 60 s;
 *   the wait is printed): the feature-on server has taken ~10× the writes, and the work they leave
 *   behind was counted against its requests (two fresh servers, one just after 20k key creations:
 *   CPU per access check 48.5 vs 34.9 µs right after, 32.7 vs 35.6 once quiet, 14.5 s later).
 * - The server's own wait: its authledger_read_your_writes_wait_seconds histogram (/metrics; both
 *   servers get a METRICS_TOKEN) read before and after each ryw run: how many queries waited at all,
 *   and the bucket bounds of the wait's p50 / p99, apart from the client-side figures, which also
 *   carry the machine's queueing.
 * - Projection lag under 16 writers, closed loop and paced: this process LISTENs to the checkpoint
 *   notices (PostgreSQL NOTIFY and Redis PUBLISH, as the API's feed does) while the write-alone
 *   rounds run; per projection, the time from a write's answer to the first notice at or past its
 *   position, p50/p99 (a notice crosses one more process than the API's in-process wake).
 * - That comparison runs first on fresh servers, before any write load, each route warmed by
 *   unrecorded wrk runs (a fresh process's first runs were 20-35 % slower than its third): on this
 *   run's pair and on BENCH_PAIRS − 1 more pairs started for it alone, then printed over all pairs
 *   (the median of each pair's median ratio, and every pair's figure): four processes of one
 *   configuration, warmed, served the access check at 27.6-32.8k req/s, so a single pair's ratio
 *   is only good to about ±10 %.
 * Every client run starts with BENCH_WARMUP_MS (default 500) of round trips that are not recorded:
 * a fresh process on fresh connections, whose first requests were each round's slowest (all the
 * > 30 ms writes of a 100 writes/s run fell in its first 210 ms).
 * Environment: BENCH_QUICK=1 (one short round), BENCH_ROUNDS, BENCH_PAIRS (default 3), BENCH_SECONDS, BENCH_WARMUP_MS, BENCH_HOT_SECONDS
 * (each wrk run of the hot-path comparison; 4 per route and round).
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { QUICK } from './lib';
import { COMMON, prepare, ROUTES, type Prepared } from './http-setup';
import { api, fmt, load, median, ROOT, run, settle, startServer, stopAll, uptimeLine } from './outside';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 5));
const HOT_SECONDS = Number(process.env.BENCH_HOT_SECONDS ?? (QUICK ? 2 : 4));
const CLIENTS = 16;
/** Each client process's unrecorded start (bench/consistency-client.mjs): its JIT and fresh sockets. */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? (QUICK ? 200 : 500));
const PACED = (process.env.BENCH_PACED ?? '0.5,0.25').split(',').map(Number).filter((f) => f > 0 && f <= 1);
/** Fresh on/off server pairs compared before any write load: two processes of one configuration differ by up to ±10 % here. */
const PAIRS = Math.max(1, Number(process.env.BENCH_PAIRS ?? (QUICK ? 1 : 3)));
/** Unrecorded wrk seconds per route on a fresh server: its first runs are its slowest (JIT). */
const WARM_SECONDS = QUICK ? 1 : 2;

interface ClientOut {
  writeMs: number[];
  readMs: number[];
  totalMs: number[];
  polls: number[];
  writes: [string, number][];
  bad: number;
  stale: number;
  elapsedMs: number;
  /** Paced runs: starts that came later than their schedule (the previous round trip outlasted the interval). */
  late: number;
}

async function runClient(base: string, mode: string, writers: string[], pollers: string[], rate?: number): Promise<ClientOut> {
  const out = await run(process.execPath, [path.join(ROOT, 'bench', 'consistency-client.mjs'), JSON.stringify({ base, mode, seconds: SECONDS, writers, pollers, rate, warmupMs: WARMUP_MS })]);
  try {
    return JSON.parse(out) as ClientOut;
  } catch (err) {
    throw new Error(`consistency client printed no JSON (${out.length} bytes): ${(err as Error).message}`);
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

/** The consistency bench's servers expose /metrics (both alike): the wait histogram is read around each run. */
const METRICS_TOKEN = randomBytes(24).toString('hex');
const ENV = { ...COMMON, METRICS_TOKEN };
type Buckets = Map<number, number>;
/** The cumulative buckets (le in ms → count) of the server's read-your-writes wait histogram. */
async function waitBuckets(base: string): Promise<Buckets> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const out: Buckets = new Map();
  for (const m of text.matchAll(/^authledger_read_your_writes_wait_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]) * 1000, Number(m[2]));
  return out;
}
/** Waits recorded between two readings: how many, how many waited at all, and the bucket bounds of p50 / p99. */
function waitFigures(runs: { before: Buckets; after: Buckets }[]) {
  const les = [...(runs[0]?.after.keys() ?? [])].sort((a, b) => a - b);
  const cum = les.map((le) => runs.reduce((n, r) => n + (r.after.get(le) ?? 0) - (r.before.get(le) ?? 0), 0));
  const n = cum.at(-1) ?? 0;
  const at = (q: number) => les[cum.findIndex((c) => c >= q * n)] ?? NaN;
  const zero = cum[0] ?? 0; // the lowest bucket holds the queries that found their position passed
  return { n, waitedPct: n ? (100 * (n - zero)) / n : NaN, p50: at(0.5), p99: at(0.99), lowest: les[0] ?? NaN };
}

async function sessions(base: string, email: string, password: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await api(base, 'POST', '/api/v1/auth/login', { email, password })).access_token as string);
  return out;
}

/** Checkpoint notices of one deployment, with the wall-clock time each arrived. */
async function listenCheckpoints(env: Record<string, string>) {
  const notices: { name: string; c: bigint; p: bigint; at: number }[] = [];
  const onText = (text: string) => {
    const m = /^(\S+) (\d+) (\d+)$/.exec(text);
    if (m) notices.push({ name: m[1]!, c: BigInt(m[2]!), p: BigInt(m[3]!), at: Date.now() });
  };
  const client = new pg.Client({ connectionString: env.DATABASE_URL });
  // An error path's cleanup drops the database under it: an error then, not a crash.
  client.on('error', () => undefined);
  await client.connect();
  client.on('notification', (msg) => msg.payload && onText(msg.payload));
  await client.query('LISTEN authledger_checkpoints');
  const sub = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  await sub.subscribe(`${env.REDIS_PREFIX ?? ''}checkpoints`);
  sub.on('message', (_ch: string, text: string) => onText(text));
  return {
    notices,
    async close() {
      await client.end();
      sub.disconnect();
    },
  };
}

async function main(): Promise<void> {
  console.log(`[consistency] ${ROUNDS} round(s) of ${SECONDS}s (each after ${WARMUP_MS} ms of unrecorded warm-up), ${CLIENTS} clients; servers: npm start (all roles), feature on and READ_YOUR_WRITES=off`);
  const on = await startServer({ label: 'ryw-on', env: ENV });
  const off = await startServer({ label: 'ryw-off', env: { ...ENV, READ_YOUR_WRITES: 'off' } });
  const rows: Prepared[] = [];
  for (const server of [on, off]) rows.push(await prepare({ id: server.label, title: server.label, server, companions: [] }));
  const [pOn, pOff] = rows as [Prepared, Prepared];
  const writers = await sessions(on.base, pOn.email, pOn.password, CLIENTS);
  const pollers = await sessions(on.base, pOn.email, pOn.password, CLIENTS);
  const offWriters = await sessions(off.base, pOff.email, pOff.password, CLIENTS);
  const feed = await listenCheckpoints(on.env);

  const acc: Record<string, ClientOut[]> = { write: [], ryw: [], poll: [], once: [] };
  for (const f of PACED) {
    acc[`pacedWrite@${f}`] = [];
    acc[`pacedRyw@${f}`] = [];
  }
  const rates: number[] = [];
  /** The server's own wait histogram around each ryw run. */
  const waits: Record<string, { before: Buckets; after: Buckets }[]> = { ryw: [], ...Object.fromEntries(PACED.map((f) => [`pacedRyw@${f}`, []])) };
  const measuredWaits = async (body: () => Promise<void>) => {
    const before = await waitBuckets(on.base);
    await body();
    return { before, after: await waitBuckets(on.base) };
  };
  const waitLine = (mode: string) => {
    const w = waitFigures(waits[mode]!);
    console.log(`the server's own wait (authledger_read_your_writes_wait_seconds, bucket bounds): ${w.n} queries, ${fmt(w.waitedPct, 1)} % waited more than ${fmt(w.lowest, 1)} ms; p50 ≤ ${fmt(w.p50, 1)} ms, p99 ≤ ${fmt(w.p99, 1)} ms`);
  };
  type Run = { rps: number; p99: number; cpu: number };
  type Hot = Record<string, { on: Run[]; off: Run[]; pairs: { rps: number; cpu: number }[] }>;
  /** One on/off/off/on comparison of each hot path (neither side always first). */
  const hotRound = async (into: Hot, [xOn, xOff]: [Prepared, Prepared] = [pOn, pOff]) => {
    for (const route of ROUTES.filter((r) => r.id !== 'me')) {
      const h = (into[route.id] ??= { on: [], off: [], pairs: [] });
      const s = { on: route.spec(xOn), off: route.spec(xOff) };
      const run = async (which: 'on' | 'off'): Promise<Run> => {
        const r = await load({ url: s[which].url, method: s[which].method, headers: s[which].headers, seconds: HOT_SECONDS, connections: 64, pid: (which === 'on' ? xOn : xOff).server.pid });
        const out = { rps: r.rps, p99: r.p99ms, cpu: r.cpuUsPerReq };
        h[which].push(out);
        return out;
      };
      for (const order of [['on', 'off'], ['off', 'on']] as const) {
        const a = await run(order[0]);
        const b = await run(order[1]);
        const [x, y] = order[0] === 'on' ? [a, b] : [b, a];
        h.pairs.push({ rps: x.rps / y.rps, cpu: y.cpu / x.cpu });
      }
    }
  };
  /** Unrecorded runs of each hot path: a fresh process's first runs are its slowest. */
  const warm = async (p: Prepared) => {
    for (const route of ROUTES.filter((r) => r.id !== 'me')) {
      const s = route.spec(p);
      await load({ url: s.url, method: s.method, headers: s.headers, seconds: WARM_SECONDS, connections: 64 });
    }
  };
  // First with servers as they started (same history: setup only, warmed): this run's pair and
  // PAIRS − 1 more started for it alone (which one starts first alternates), since one pair of
  // processes cannot tell a few per cent of difference from the spread between processes. Then
  // this run's pair after each round's writes, which the feature-on server takes ~10x more of.
  const fresh: Hot[] = [];
  for (let i = 0; i < PAIRS; i++) {
    let pair = [pOn, pOff] as [Prepared, Prepared];
    if (i > 0) {
      const servers = [];
      for (const which of i % 2 ? ['off', 'on'] : ['on', 'off']) {
        const server = await startServer({ label: `ryw-${which}-pair${i}`, env: which === 'on' ? ENV : { ...ENV, READ_YOUR_WRITES: 'off' } });
        servers.push({ which, prepared: await prepare({ id: server.label, title: server.label, server, companions: [] }) });
      }
      pair = [servers.find((x) => x.which === 'on')!.prepared, servers.find((x) => x.which === 'off')!.prepared];
    }
    await settle([pair[0].server.pid, pair[1].server.pid], { maxMs: 30_000 });
    for (const p of pair) await warm(p);
    const h: Hot = {};
    await hotRound(h, pair);
    fresh.push(h);
    if (i > 0) for (const p of pair) await p.server.stop();
  }
  const hot: Hot = {};
  console.log(`[consistency] start: ${uptimeLine()}`);
  for (let round = 0; round < ROUNDS; round++) {
    const write = await runClient(on.base, 'write', writers, pollers);
    acc.write!.push(write);
    waits.ryw!.push(await measuredWaits(() => runClient(on.base, 'ryw', writers, pollers).then((o) => void acc.ryw!.push(o))));
    acc.poll!.push(await runClient(on.base, 'poll', writers, pollers));
    acc.once!.push(await runClient(off.base, 'once', offWriters, offWriters));
    // Paced at fractions of this round's closed-loop write-alone throughput.
    const closed = write.writeMs.length / (write.elapsedMs / 1000);
    rates.push(closed);
    for (const f of PACED) {
      acc[`pacedWrite@${f}`]!.push(await runClient(on.base, 'write', writers, pollers, closed * f));
      waits[`pacedRyw@${f}`]!.push(await measuredWaits(() => runClient(on.base, 'ryw', writers, pollers, closed * f).then((o) => void acc[`pacedRyw@${f}`]!.push(o))));
    }
    // The feature-on server has just taken ~10× the other's writes: let both finish what those left
    // (the projector's tail, queued jobs), or that work is counted against the on server's requests.
    const settled = await settle([pOn.server.pid, pOff.server.pid], { maxMs: 60_000 });
    console.log(`[consistency] round ${round + 1}: servers quiet after ${fmt(settled.waitedMs)} ms${settled.quiet ? '' : ' (NOT quiet: the hot-path figures of this round carry background work)'}`);
    await hotRound(hot);
  }
  await feed.close();
  console.log(`[consistency] end: ${uptimeLine()}`);

  const all = (mode: string, k: 'writeMs' | 'readMs' | 'totalMs' | 'polls') => acc[mode]!.flatMap((o) => o[k]);
  const bad = (mode: string) => acc[mode]!.reduce((n, o) => n + o.bad, 0);
  console.log(`\nWrite-then-read, create key → get key, ${CLIENTS} clients (ms; all rounds pooled)`);
  console.log('mode                                   n      write p50/p99     read p50/p99    round trip p50/p99   bad');
  const line = (title: string, mode: string) => console.log(
    `${title.padEnd(38)} ${String(all(mode, 'writeMs').length).padStart(6)}   ${fmt(pct(all(mode, 'writeMs'), 50), 1).padStart(6)} / ${fmt(pct(all(mode, 'writeMs'), 99), 1).padStart(6)}`
    + `   ${fmt(pct(all(mode, 'readMs'), 50), 1).padStart(6)} / ${fmt(pct(all(mode, 'readMs'), 99), 1).padStart(6)}   ${fmt(pct(all(mode, 'totalMs'), 50), 1).padStart(6)} / ${fmt(pct(all(mode, 'totalMs'), 99), 1).padStart(6)}   ${bad(mode)}`,
  );
  line('write alone', 'write');
  line('write, read same session (waits)', 'ryw');
  line('write, poll other session until seen', 'poll');
  line('feature off: write, read once (no wait)', 'once');
  const polls = all('poll', 'polls');
  console.log(`polling: ${fmt(polls.reduce((a, b) => a + b, 0) / Math.max(1, polls.length), 2)} GETs per write on average (a 404 until the projection has it)`);
  const addedP99 = pct(all('ryw', 'totalMs'), 99) - pct(all('write', 'writeMs'), 99);
  console.log(`added read latency p99 (ryw round trip p99 − write-alone p99): ${fmt(addedP99, 1)} ms (target < 15); ryw read p99 / poll read p99 = ${fmt(pct(all('ryw', 'readMs'), 99) / pct(all('poll', 'readMs'), 99), 2)}`);
  waitLine('ryw');
  const stale = acc.once!.reduce((n, o) => n + o.stale, 0);
  const waitP99 = pct(all('ryw', 'readMs'), 99) - pct(all('once', 'readMs'), 99);
  console.log(`the wait's own cost: ryw read p99 − no-wait read p99 (feature off, same load): ${fmt(waitP99, 1)} ms; p50 ${fmt(pct(all('ryw', 'readMs'), 50) - pct(all('once', 'readMs'), 50), 1)} ms; without the feature ${stale} of ${all('once', 'readMs').length} reads (${fmt((100 * stale) / Math.max(1, all('once', 'readMs').length), 1)} %) saw the past`);

  // Paced: the same clients at fractions of the closed-loop write rate.
  const achieved = (mode: string) => acc[mode]!.reduce((n, o) => n + o.writeMs.length, 0) / acc[mode]!.reduce((t, o) => t + o.elapsedMs / 1000, 0);
  const late = (mode: string) => acc[mode]!.reduce((n, o) => n + o.late, 0);
  const closedMean = rates.reduce((a, r) => a + r, 0) / Math.max(1, rates.length);
  for (const f of PACED) {
    console.log(`\nPaced: the same ${CLIENTS} clients offering ${fmt(100 * f)} % of the write-alone throughput of the same round (closed loop ${rates.map((r) => fmt(r)).join(' / ')} writes/s; offered ${fmt(closedMean * f)}/s in all)`);
    console.log('mode                                   n  writes/s      write p50/p99     read p50/p99    round trip p50/p99   bad  late starts');
    const pacedLine = (title: string, mode: string) => console.log(
      `${title.padEnd(34)} ${String(all(mode, 'writeMs').length).padStart(6)}  ${fmt(achieved(mode)).padStart(8)}   ${fmt(pct(all(mode, 'writeMs'), 50), 1).padStart(6)} / ${fmt(pct(all(mode, 'writeMs'), 99), 1).padStart(6)}`
      + `   ${fmt(pct(all(mode, 'readMs'), 50), 1).padStart(6)} / ${fmt(pct(all(mode, 'readMs'), 99), 1).padStart(6)}   ${fmt(pct(all(mode, 'totalMs'), 50), 1).padStart(6)} / ${fmt(pct(all(mode, 'totalMs'), 99), 1).padStart(6)}   ${String(bad(mode)).padStart(3)}  ${late(mode)}`,
    );
    pacedLine('paced: write alone', `pacedWrite@${f}`);
    pacedLine('paced: write, read same session', `pacedRyw@${f}`);
    const pAdd = (p: number) => pct(all(`pacedRyw@${f}`, 'totalMs'), p) - pct(all(`pacedWrite@${f}`, 'writeMs'), p);
    console.log(`paced ${fmt(100 * f)} %: added read latency (ryw round trip − write alone): p50 ${fmt(pAdd(50), 1)} ms, p99 ${fmt(pAdd(99), 1)} ms (target < 15 at p99)`);
    waitLine(`pacedRyw@${f}`);
  }

  const printHot = (title: string, h0: Hot, rounds: number) => {
    console.log(`\nHot paths with the feature on vs off, ${title} (wrk -c64, ${HOT_SECONDS}s runs, on/off/off/on per round, ${rounds} round(s); CPU = the server's utime + stime per request)`);
    for (const route of ROUTES.filter((r) => r.id !== 'me')) {
      const h = h0[route.id]!;
      const m = (xs: Run[], k: keyof Run) => median(xs.map((x) => x[k]));
      console.log(`${route.title.padEnd(40)} req/s on ${fmt(m(h.on, 'rps')).padStart(6)}  off ${fmt(m(h.off, 'rps')).padStart(6)}  ratio of medians ${fmt(m(h.on, 'rps') / m(h.off, 'rps'), 3)}, median of pair ratios ${fmt(median(h.pairs.map((x) => x.rps)), 3)} (${h.pairs.map((x) => x.rps.toFixed(2)).join(' ')}) (target ≥ 0.97)`);
      console.log(`${''.padEnd(40)} CPU µs/req on ${fmt(m(h.on, 'cpu'), 1)}  off ${fmt(m(h.off, 'cpu'), 1)}  off/on ${fmt(m(h.off, 'cpu') / m(h.on, 'cpu'), 3)}, median of pair ratios ${fmt(median(h.pairs.map((x) => x.cpu)), 3)} (${h.pairs.map((x) => x.cpu.toFixed(2)).join(' ')});  p99 on/off ${fmt(m(h.on, 'p99'), 1)}/${fmt(m(h.off, 'p99'), 1)} ms`);
    }
  };
  fresh.forEach((h, i) => printHot(`fresh pair ${i + 1} of ${PAIRS}${i ? ' (started for this comparison alone)' : ' (this run\'s servers)'}: setup only, warmed, before any write load`, h, 1));
  if (PAIRS > 1) {
    console.log(`\nHot paths, feature on vs off over the ${PAIRS} fresh pairs (each pair's median of its on/off pair ratios; the spread is what two processes of this machine differ by)`);
    for (const route of ROUTES.filter((r) => r.id !== 'me')) {
      const per = fresh.map((h) => median(h[route.id]!.pairs.map((x) => x.rps)));
      const cpu = fresh.map((h) => median(h[route.id]!.pairs.map((x) => x.cpu)));
      console.log(`${route.title.padEnd(40)} req/s on/off: median ${fmt(median(per), 3)} (${per.map((x) => x.toFixed(3)).join(' ')}; target ≥ 0.97)   CPU off/on: median ${fmt(median(cpu), 3)} (${cpu.map((x) => x.toFixed(3)).join(' ')})`);
    }
  }
  printHot('after each round\'s writes (the on server took ~10x the off server\'s)', hot, ROUNDS);

  // Lag: from a write's answer (its append committed before it) to the first notice at or past it.
  const byName = new Map<string, { c: bigint; p: bigint; at: number }[]>();
  for (const n of feed.notices) (byName.get(n.name) ?? byName.set(n.name, []).get(n.name)!).push(n);
  for (const list of byName.values()) list.sort((x, y) => x.at - y.at);
  for (const [mode, title] of [['write', `under ${CLIENTS} writers (closed loop)`], ...PACED.map((f) => [`pacedWrite@${f}`, `under ${CLIENTS} writers paced at ${fmt(100 * f)} %`] as const)] as const) {
    const writes = acc[mode]!.flatMap((o) => o.writes).map(([pos, at]) => {
      const [c, p] = pos.split('.');
      return { c: BigInt(c ?? 0), p: BigInt(p ?? 0), at };
    }).filter((w) => w.c > 0n);
    console.log(`\nProjection lag ${title} (ms from the write's answer to the checkpoint notice past it; ${writes.length} writes)`);
    for (const [name, list] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      const lags: number[] = [];
      for (const w of writes) {
        const n = list.find((x) => (x.c > w.c || (x.c === w.c && x.p >= w.p)) && x.at >= w.at - 1000);
        if (n) lags.push(Math.max(0, n.at - w.at));
      }
      console.log(`${name.padEnd(16)} p50 ${fmt(pct(lags, 50), 1).padStart(6)}  p99 ${fmt(pct(lags, 99), 1).padStart(6)}  (${lags.length} writes matched)`);
    }
  }
}

main().then(
  async () => {
    await stopAll();
    process.exit(0);
  },
  async (err) => {
    console.error(err);
    await stopAll();
    process.exit(1);
  },
);
