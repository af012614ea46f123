// The load generator of bench/consistency.bench.ts, in a process of its own (never in the
// benchmark's or the server's event loop): N clients, each over one keep-alive connection, for
// `seconds`, in one mode:
//   write — POST /api/v1/api-keys only;
//   ryw   — the same POST, then GET /api/v1/api-keys/{id} with the same session (read-your-writes waits);
//   poll  — the same POST, then GET with another session of the same user (no wait) again and
//           again until it answers 200 (write-then-sleep-until-visible, without the sleep);
//   once  — the same POST, then one GET with the same session, not waiting (run against the server
//           with READ_YOUR_WRITES=off: the read's own latency under the same load, and how often
//           it sees the past — a 404 is counted in `stale`, not as an error).
// With `rate` (writes/s, all clients together) each client is paced: it starts a round trip
// every clients/rate seconds on a schedule of its own (first start at a random offset, so the
// clients do not fire together), later only when the previous one took longer; latency is taken
// from the actual send. Without it, closed loop: the next round trip starts when one ends.
// With `warmupMs`, the clients first run that long in the same mode without recording anything
// (a fresh process and fresh connections: the client's own JIT and the sockets' first round trips
// would otherwise be a round's slowest requests, and a p99 of a 5 s round is its ~5 slowest);
// `seconds` is then the measured window. Errors are counted in both.
// Prints one JSON line: per round trip the write's and the read's latency (ms) and, per write,
// its X-Log-Position and the wall-clock time its answer arrived (for the projection lag).
import http from 'node:http';

const { base, mode, seconds, writers, pollers, rate, warmupMs = 0 } = JSON.parse(process.argv[2]);
const url = new URL(base);

function client() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return (method, path, token, body) => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Bearer ${token}` };
    if (payload) headers['content-type'] = 'application/json';
    const r = http.request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    r.on('error', reject);
    r.end(payload);
  });
}

const out = { writeMs: [], readMs: [], totalMs: [], polls: [], writes: [], bad: 0, stale: 0, elapsedMs: 0, late: 0 };
const warmEnd = Date.now() + warmupMs;
const end = warmEnd + seconds * 1000;
const interval = rate ? (writers.length * 1000) / rate : 0;
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
let n = 0;

async function loop(i) {
  const w = client();
  const r = mode === 'poll' ? client() : w;
  let next = performance.now() + Math.random() * interval;
  while (Date.now() < end) {
    if (interval) {
      const wait = next - performance.now();
      if (wait > 0) await pause(wait);
      else if (wait < -1 && Date.now() >= warmEnd) out.late++; // the previous round trip outlasted the interval
      next = Math.max(next, performance.now() - 1) + interval;
      if (Date.now() >= end) break;
    }
    const t0 = performance.now();
    const measured = Date.now() >= warmEnd;
    const res = await w('POST', '/api/v1/api-keys', writers[i], { name: `b${i}-${n++}`, features: '*' });
    const t1 = performance.now();
    if (res.status !== 201) {
      out.bad++;
      continue;
    }
    if (measured) {
      out.writeMs.push(t1 - t0);
      out.writes.push([String(res.headers['x-log-position'] ?? ''), Date.now()]);
    }
    if (mode === 'write') continue;
    const id = JSON.parse(res.text).id;
    let tries = 0;
    for (;;) {
      tries++;
      const g = await r('GET', `/api/v1/api-keys/${id}`, mode === 'poll' ? pollers[i] : writers[i]);
      if (g.status === 200) break;
      if (mode === 'once' && g.status === 404) {
        if (measured) out.stale++;
        break;
      }
      if (mode === 'ryw' || mode === 'once' || g.status !== 404 || performance.now() - t1 > 10_000) {
        out.bad++;
        break;
      }
    }
    const t2 = performance.now();
    if (!measured) continue;
    out.readMs.push(t2 - t1);
    out.totalMs.push(t2 - t0);
    out.polls.push(tries);
  }
}

await Promise.all(writers.map((_, i) => loop(i)));
out.elapsedMs = Date.now() - warmEnd;
// Exit once the pipe took it all: an exit right after a large write cut it short (at 214 KiB).
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
