/** Helpers for the server's process-level tests (test/server, also used by test/http and test/redis): free ports, child processes, polling. */
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Every descendant of `pid` (Linux /proc), deepest last. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: string[] = [];
    try {
      kids = fs.readdirSync(`/proc/${p}/task`).flatMap((t) => fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    } catch { /* exited */ }
    for (const k of kids) { out.push(Number(k)); walk(Number(k)); }
  };
  walk(pid);
  return out;
}

/** Spawns a command in the repository root with `env` on top of a clean copy of process.env. */
export function run(cmd: string, args: string[], env: Record<string, string>, opts: { detached?: boolean; cwd?: string } = {}): Proc {
  const clean = { ...process.env };
  // The test runner's own variables must not leak into the child (vitest sets NODE_ENV=test, VITEST…).
  for (const k of Object.keys(clean)) if (k.startsWith('VITEST') || k === 'NODE_ENV') delete clean[k];
  const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      until(`output ${pattern} (got: ${out.slice(-2000)})`, () => {
        if (child.exitCode !== null && !pattern.test(out)) throw new Error(`process exited ${child.exitCode}: ${out.slice(-2000)}`);
        return pattern.test(out) ? out : undefined;
      }, timeoutMs),
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (opts.detached && child.pid) process.kill(-child.pid, signal);
      else {
        // SIGKILL cannot be relayed: tsx's wrapper would die and leave the server it runs behind.
        if (signal === 'SIGKILL' && child.pid) for (const pid of descendantsOf(child.pid)) try { process.kill(pid, signal); } catch { /* gone */ }
        child.kill(signal);
      }
    },
  };
}

/** A pino destination collecting parsed JSON lines. */
export function captureStream(): { stream: Writable; lines: Array<Record<string, unknown>>; raw: string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        raw.push(line);
        lines.push(JSON.parse(line));
      }
      cb();
    },
  });
  return { stream, lines, raw };
}

/** `tsx` runs the program in a child node process: the server is the deepest descendant. */
export function serverPid(pid: number): number {
  for (;;) {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (!kids.length) return pid;
    pid = Number(kids[0]);
  }
}

/** Resident memory of a process, in bytes (0 when it is gone). */
export const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
};
