/**
 * Benchmark helpers. Every benchmark prints its figures *and* a ratio against a baseline measured
 * in the same run on the same machine (never absolute targets in tests).
 * BENCH_QUICK=1 shrinks every workload (for smoke runs while developing).
 */
import Fastify from 'fastify';
import autocannon from 'autocannon';

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

/** autocannon against one URL; durations in seconds. */
export async function load(opts: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ connections: 50, duration: scale(10, 3), ...opts });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}
