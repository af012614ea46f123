/**
 * The HTTP latency histogram's observations kept in plain per-label-set counters and folded into
 * the prom-client histogram when it is collected (each scrape), instead of `observe` per request
 * (issue 12: prom-client validates and hashes the labels and looks its bucket up on every call,
 * 2–3 % of a hot route's CPU). Rules:
 * - the scrape output is the one prom-client gives for the same observations: same series, bucket
 *   counts, `_count` and `_sum` (the sum is added in the same order, so it is the same float);
 * - a label set appears once it is first observed, as with prom-client;
 * - a value that is not a finite number throws the TypeError prom-client's `observe` throws.
 * test/http/metrics-latency.unit.test.ts compares the output with prom-client's own.
 */
import client from 'prom-client';

interface Series {
  /** Observations per bucket (not cumulative), by the index of its upper bound. */
  buckets: number[];
  count: number;
  sum: number;
  /** prom-client's own entry for the label set: its values are set from ours at collect. */
  entry: { bucketValues: Record<string, number>; count: number; sum: number };
}

interface HistogramInternals {
  hashMap: Record<string, Series['entry'] & { labels: object }>;
}

export type LatencyObserver = (method: string, route: string, status: number, seconds: number) => void;

export function localLatencyHistogram(registry: client.Registry, name: string, help: string, buckets: readonly number[]): LatencyObserver {
  const bounds = [...buckets];
  const series = new Map<string, Series>();
  const all: Series[] = [];
  const histogram = new client.Histogram({
    name,
    help,
    labelNames: ['method', 'route', 'status'] as const,
    buckets: bounds,
    registers: [registry],
    collect() {
      for (const s of all) {
        s.entry.count = s.count;
        s.entry.sum = s.sum;
        for (let i = 0; i < bounds.length; i++) s.entry.bucketValues[bounds[i]!] = s.buckets[i]!;
      }
    },
  });
  const internals = histogram as unknown as HistogramInternals;

  const open = (key: string, method: string, route: string, status: number): Series => {
    const labels = { method, route, status: String(status) };
    histogram.zero(labels);
    const entry = Object.values(internals.hashMap).find((e) => e.labels === labels);
    if (!entry) throw new Error('metrics: prom-client histogram layout not as expected');
    const s: Series = { buckets: bounds.map(() => 0), count: 0, sum: 0, entry };
    series.set(key, s);
    all.push(s);
    return s;
  };

  return (method, route, status, seconds) => {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${String(seconds)}`);
    const key = `${method} ${status} ${route}`;
    const s = series.get(key) ?? open(key, method, route, status);
    s.sum += seconds;
    s.count++;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        s.buckets[i]!++;
        break;
      }
    }
  };
}
