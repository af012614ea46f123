/**
 * Benchmark helpers. Every benchmark prints its figures *and* a ratio against a baseline measured
 * in the same run on the same machine (never absolute targets in tests).
 * BENCH_QUICK=1 shrinks every workload (for smoke runs while developing).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';

export const QUICK = process.env.BENCH_QUICK === '1';
export const scale = (full: number, quick: number) => (QUICK ? quick : full);

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function report(name: string, figures: Record<string, number | string>, ratio?: { value: number; target: string }) {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`);
  const r = ratio ? `  ratio=${round(ratio.value)} (target ${ratio.target})` : '';
  console.log(`[bench] ${name}: ${parts.join(' ')}${r}`);
}

export const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000);

/** A Fastify hello-world on an ephemeral port: the HTTP baseline. */
export async function helloWorld(): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}/`, close: () => app.close() };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export interface LoadOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  /** Seconds. */
  duration?: number;
}

const AUTOCANNON = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'autocannon', 'autocannon.js');

/**
 * autocannon against one URL, run as a CHILD PROCESS (its JSON report parsed): the load
 * generator never shares the event loop of the server or baseline under test.
 */
export async function load(opts: LoadOptions): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(opts.connections ?? 50), '-d', String(opts.duration ?? scale(10, 3)), '-m', opts.method ?? 'GET'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (opts.body !== undefined) args.push('-b', opts.body);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [...args, opts.url], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
  const r = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; errors: number; timeouts: number; non2xx: number };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}
