/**
 * Helpers for benchmarks that drive servers from outside their process (issue 12).
 * Rules:
 * - the server under test is started the way users start it (`npm start` by default, i.e. the
 *   package.json start script), with its own fresh database, Redis prefix, data directory and free
 *   ports; the environment is a short allow-list plus what the caller sets, so a developer's
 *   LOG_LEVEL or NODE_ENV does not leak into the figures;
 * - its stdout (the log) goes to a file: a sink that never blocks, so what is measured is the
 *   server's own cost of logging; lines and bytes per request are reported;
 * - the load generator is wrk in its own process (installed with apt-get when missing), else
 *   autocannon run as a child process; never in the benchmark's own event loop;
 * - CPU time per request is read from /proc/<pid>/stat (utime + stime of every thread) of the
 *   process that serves, found below `npm` and tsx's wrapper process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_BASE = process.env.BENCH_DATABASE_BASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
export const WORK_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-bench-'));

/** Variables passed through to servers; everything else comes from the caller. */
const PASS_ENV = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMPDIR', 'SHELL'];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const median = (xs: number[]) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------ /proc

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
}

/**
 * Waits until every process is quiet (under `busy` of a core over each `windowMs`), at most `maxMs`:
 * work a server still does after an earlier load (a projector catching up, queued jobs) would
 * otherwise be counted against the next measurement's requests. Returns how long it waited and
 * whether all were quiet.
 */
export async function settle(pids: number[], opts: { maxMs?: number; windowMs?: number; busy?: number } = {}): Promise<{ waitedMs: number; quiet: boolean }> {
  const { maxMs = 30_000, windowMs = 500, busy = 0.05 } = opts;
  const start = Date.now();
  for (;;) {
    const before = pids.map(cpuSeconds);
    await sleep(windowMs);
    const loads = pids.map((pid, i) => (cpuSeconds(pid) - before[i]!) / (windowMs / 1000));
    if (loads.every((l) => l < busy)) return { waitedMs: Date.now() - start, quiet: true };
    if (Date.now() - start >= maxMs) return { waitedMs: Date.now() - start, quiet: false };
  }
}

/** Resident set size in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]!));
  return all;
}

const cmdline = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/**
 * The process that actually serves: `npm start` runs `sh -c "tsx src/main.ts"`, and tsx's CLI
 * runs the program in a child `node` process. The deepest node process of the tree wins.
 */
export function serverPid(rootPid: number): number | undefined {
  let best: { pid: number; depth: number } | undefined;
  const walk = (pid: number, depth: number) => {
    const cmd = cmdline(pid);
    if (/(^|\/)node\s/.test(cmd) && (!best || depth > best.depth)) best = { pid, depth };
    for (const c of children(pid)) walk(c, depth + 1);
  };
  walk(rootPid, 0);
  return best?.pid;
}

// ------------------------------------------------------------------ servers

export interface Server {
  label: string;
  base: string;
  port: number;
  /** The serving node process (CPU and memory are read here). */
  pid: number;
  /** The spawned process (npm), root of the tree. */
  rootPid: number;
  env: Record<string, string>;
  /** Milliseconds from spawn to the first 200 from /health (undefined for roles without HTTP). */
  startMs: number;
  /** CPU seconds (user + system) the whole process tree had used when it was ready. */
  startCpuSeconds: number;
  logFile: string;
  /** Where its stdout.log and stderr.log are. */
  dir: string;
  /** Lines and bytes the server has written to stdout so far. */
  logCounters(): { lines: number; bytes: number };
  stop(): Promise<void>;
}

export interface StartOptions {
  label: string;
  /** Extra environment (on top of the fresh database, prefix, ports and data directory). */
  env?: Record<string, string>;
  /** Command to run; default `npm start`. */
  command?: string[];
  /** Share another server's database and Redis prefix (a second process of one deployment). */
  shareWith?: Server;
  /** Wait for this stdout text instead of /health (roles without HTTP). */
  readyText?: string;
  /** Leave the database in place on stop (startup benchmarks reuse a migrated one). */
  keepDatabase?: boolean;
}

const started = new Set<Server>();
/** Scripts (the hello-world) still running: killed with the servers if the bench ends early. */
const scripts = new Set<ChildProcess>();
// However the bench ends (an uncaught throw included), no server it started outlives it: they
// run detached, in process groups of their own, and would skew whatever runs next.
process.once('exit', () => {
  for (const s of started) {
    try {
      process.kill(-s.rootPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const c of scripts) c.kill('SIGKILL');
});

export async function startServer(opts: StartOptions): Promise<Server> {
  const id = `${opts.label.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(3).toString('hex')}`;
  const dir = path.join(WORK_DIR, id);
  fs.mkdirSync(dir, { recursive: true });
  const [port, realtimePort] = [await freePort(), await freePort()];
  const database = opts.shareWith?.env.DATABASE_URL ?? `${PG_BASE}/al_bench_${id.toLowerCase()}`;
  const env: Record<string, string> = {
    ...Object.fromEntries(PASS_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!])),
    HOST: '127.0.0.1',
    PORT: String(port),
    REALTIME_PORT: String(realtimePort),
    DATABASE_URL: database,
    REDIS_URL,
    REDIS_PREFIX: opts.shareWith?.env.REDIS_PREFIX ?? `bench:${id}:`,
    DATA_DIR: path.join(dir, 'var'),
    MAIL_OUTBOX_DIR: path.join(dir, 'var', 'outbox'),
    ...opts.env,
  };
  const logFile = path.join(dir, 'stdout.log');
  const out = fs.openSync(logFile, 'w');
  const err = fs.openSync(path.join(dir, 'stderr.log'), 'w');
  const [cmd, ...args] = opts.command ?? ['npm', 'start'];
  const t0 = performance.now();
  const child: ChildProcess = spawn(cmd!, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const base = `http://127.0.0.1:${port}`;
  const fail = (why: string) => {
    const tail = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-15).join('\n');
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    return new Error(`${opts.label}: ${why}\n--- stdout\n${tail('stdout.log')}\n--- stderr\n${tail('stderr.log')}`);
  };
  let startMs = NaN;
  for (const deadline = Date.now() + 90_000; ;) {
    if (exited !== undefined) throw fail(`exited with ${exited} before it was ready`);
    if (Date.now() > deadline) throw fail('not ready within 90 s');
    if (opts.readyText) {
      if (fs.readFileSync(logFile, 'utf8').includes(opts.readyText)) break;
    } else {
      const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
      if (ok) {
        startMs = performance.now() - t0;
        break;
      }
    }
    await sleep(25);
  }
  const pid = serverPid(child.pid!);
  const counted = { lines: 0, bytes: 0 };
  const startCpuSeconds = processTree(child.pid!).reduce((n, p) => {
    try {
      return n + cpuSeconds(p);
    } catch {
      return n;
    }
  }, 0);
  if (!pid) throw fail('no node process found below the spawned command');
  const server: Server = {
    label: opts.label,
    base,
    port,
    pid,
    rootPid: child.pid!,
    env,
    startMs,
    startCpuSeconds,
    logFile,
    dir,
    logCounters() {
      // Counts only what was appended since the last call.
      const size = fs.statSync(logFile).size;
      if (size > counted.bytes) {
        const fd = fs.openSync(logFile, 'r');
        const buf = Buffer.alloc(size - counted.bytes);
        fs.readSync(fd, buf, 0, buf.length, counted.bytes);
        fs.closeSync(fd);
        for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) counted.lines++;
        counted.bytes = size;
      }
      return { ...counted };
    },
    async stop() {
      started.delete(server);
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 150 && exited === undefined; i++) await sleep(100);
      if (exited === undefined) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (!opts.shareWith && !opts.keepDatabase) await dropBenchState(env.DATABASE_URL!, env.REDIS_PREFIX!).catch((e) => console.error(`cleanup ${opts.label}:`, e));
    },
  };
  started.add(server);
  return server;
}

export async function dropBenchState(databaseUrl: string, prefix: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const c = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Stops every server still running (on error paths). */
export async function stopAll(): Promise<void> {
  // Newest first: a deployment's second process stops before the one owning the database.
  for (const s of [...started].reverse()) await s.stop();
}

/** A bench/*.mjs script in a node process of its own that prints {"port":N} when it listens. */
export async function startScript(file: string, env: Record<string, string> = {}): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench', file)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  scripts.add(child);
  child.once('exit', () => scripts.delete(child));
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const m = /\{"port":(\d+)\}/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

/** The Fastify hello-world baseline in a process of its own. */
export async function startHelloWorld(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const hello = await startScript('hello-world.mjs');
  return { ...hello, url: `${hello.url}/` };
}

// ------------------------------------------------------------------ HTTP from the bench

export async function api(base: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// ------------------------------------------------------------------ load generator

export interface LoadSpec {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A wrk Lua script to use instead of the generated one (wrk only). */
  script?: string;
  /** Extra arguments to the script (after `--`). */
  scriptArgs?: string[];
  connections?: number;
  seconds: number;
  /** Process whose CPU time is measured over the run. */
  pid?: number;
  /** Server whose log output is counted over the run. */
  server?: Server;
}

export interface LoadResult {
  rps: number;
  requests: number;
  p50ms: number;
  p99ms: number;
  /** Non-2xx/3xx answers plus socket errors and timeouts. */
  bad: number;
  /** Server CPU (user + system) per request, microseconds. */
  cpuUsPerReq: number;
  logLinesPerReq: number;
  logBytesPerReq: number;
}

let tool: 'wrk' | 'autocannon' | undefined;

/** wrk when present; otherwise apt-get install wrk (as root); otherwise autocannon as a child. */
export function loadTool(): 'wrk' | 'autocannon' {
  if (tool) return tool;
  const has = () => spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined;
  if (!has() && process.getuid?.() === 0 && process.env.BENCH_NO_APT !== '1') {
    console.log('[bench] wrk missing: apt-get install -y wrk');
    spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'wrk'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  tool = has() ? 'wrk' : 'autocannon';
  if (tool === 'autocannon') console.log('[bench] wrk not available: autocannon runs as a child process instead');
  return tool;
}

const lua = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
let scriptN = 0;

function wrkScript(spec: LoadSpec): string {
  const lines = [`wrk.method = ${lua(spec.method ?? 'GET')}`];
  if (spec.body !== undefined) lines.push(`wrk.body = ${lua(spec.body)}`);
  for (const [k, v] of Object.entries(spec.headers ?? {})) lines.push(`wrk.headers[${lua(k)}] = ${lua(v)}`);
  const file = path.join(WORK_DIR, `load-${scriptN++}.lua`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const toMs = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? NaN);

/**
 * A command's whole stdout, once it has ended and its pipes are drained ('close', not 'exit', which
 * can come first); rejects with its stderr when it fails.
 */
export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err || out}`))));
  });
}

/**
 * The server's log counters once its output has caught up: lines still in the server's batch
 * (up to LOG_BATCH's 100 ms) or in the pipe when wrk stops are counted, not taken for lost.
 */
async function settledLogCounters(server: { logCounters(): { lines: number; bytes: number } }): Promise<{ lines: number; bytes: number }> {
  let last = server.logCounters();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const now = server.logCounters();
    if (now.lines === last.lines) return now;
    last = now;
  }
  return last;
}

export async function load(spec: LoadSpec): Promise<LoadResult> {
  const connections = spec.connections ?? 64;
  const cpu0 = spec.pid ? cpuSeconds(spec.pid) : NaN;
  const log0 = spec.server?.logCounters();
  let r: Omit<LoadResult, 'cpuUsPerReq' | 'logLinesPerReq' | 'logBytesPerReq'>;
  if (loadTool() === 'wrk') {
    const script = spec.script ?? wrkScript(spec);
    const out = await run('wrk', ['-t1', `-c${connections}`, `-d${spec.seconds}s`, '--latency', '--timeout', '10s', '-s', script, spec.url, ...(spec.scriptArgs ? ['--', ...spec.scriptArgs] : [])]);
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
    const lat = (p: string) => {
      const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
      return m ? toMs(m[1]!, m[2]!) : NaN;
    };
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const requests = num(/(\d+) requests in/);
    r = {
      rps: num(/Requests\/sec:\s+([\d.]+)/),
      requests,
      p50ms: lat('50'),
      p99ms: lat('99'),
      bad: (num(/Non-2xx or 3xx responses: (\d+)/) || 0) + (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
    };
  } else {
    if (spec.script) throw new Error('this benchmark needs wrk (a Lua script): apt-get install wrk');
    const bin = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
    const args = [bin, '-c', String(connections), '-d', String(spec.seconds), '-j', '-m', spec.method ?? 'GET'];
    for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}=${v}`);
    if (spec.body !== undefined) args.push('-b', spec.body);
    const j = JSON.parse(await run(process.execPath, [...args, spec.url]));
    r = { rps: j.requests.average, requests: j.requests.total, p50ms: j.latency.p50, p99ms: j.latency.p99, bad: j.non2xx + j.errors + j.timeouts };
  }
  const cpu = spec.pid ? cpuSeconds(spec.pid) - cpu0 : NaN;
  const log1 = spec.server ? await settledLogCounters(spec.server) : undefined;
  const per = (x: number) => (r.requests > 0 ? x / r.requests : NaN);
  return {
    ...r,
    cpuUsPerReq: per(cpu * 1e6),
    logLinesPerReq: log0 && log1 ? per(log1.lines - log0.lines) : NaN,
    logBytesPerReq: log0 && log1 ? per(log1.bytes - log0.bytes) : NaN,
  };
}

export function uptimeLine(): string {
  const [a, b, c] = os.loadavg().map((x) => x.toFixed(2));
  return `load average ${a}, ${b}, ${c} (${os.cpus().length} cores)`;
}

export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
