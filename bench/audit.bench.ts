/**
 * Audit and event-log operations (issue 6), on a private database seeded with SQL COPY:
 * - rebuild every PostgreSQL projection from a log of 1,000,000 events (target ≥ 50,000 events/s),
 *   beside a raw `SELECT` scan of the same rows through the same driver;
 * - verify (hash chain recomputed in Node), export (NDJSON) and import (chain-checked) rates,
 *   beside `COPY … TO` / `COPY … FROM` of the same rows;
 * - `state?at=` for a user with 10,000 events: the cold fold (no snapshot), then p50/p99 of the
 *   real HTTP route at random moments (target p99 < 100 ms), beside a raw `SELECT` of that user's rows.
 * BENCH_QUICK=1: 100,000 events.
 */
import { createHash, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { percentile, report, scale } from './lib';
import { startBenchApp } from './app';
import { createPool, ensureDatabase, migrate } from '../src/infra/db';
import { createRegistry } from '../src/events/index';
import { PostgresEventStore } from '../src/events/postgres/store';
import { streams } from '../src/events/streams';
import { verifyLog } from '../src/events/postgres/verify';
import { exportToFile, importFromFile } from '../src/events/postgres/ndjson';
import { rebuildAll } from '../src/ops/event-log-cli';
import { userStateAt } from '../src/queries/audit/state';
import { grantRole } from '../src/commands/users/handlers';

const BASE = process.env.TEST_DATABASE_BASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432';
const TOTAL = scale(1_000_000, 100_000);
const HEAVY = 10_000;

/** jsonb's text rendering of a flat object: keys by length then bytes, `": "` and `", "`. */
function jsonbText(o: Record<string, unknown>): string {
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${render(o[k])}`).join(', ')}}`;
}
function render(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(render).join(', ')}]`;
  if (v && typeof v === 'object') return jsonbText(v as Record<string, unknown>);
  return JSON.stringify(v);
}

interface Seeded {
  heavyUser: string;
  heavyFirst: Date;
  heavyLast: Date;
  events: number;
}

/** Writes COPY text files for `events` and `streams` with valid hash chains, then loads them. */
function seed(dbUrl: string, dir: string): Seeded {
  const eventsFile = path.join(dir, 'events.tsv');
  const out = fs.openSync(eventsFile, 'w');
  const heads = new Map<string, { rev: number; hash: Buffer }>();
  let buf: string[] = [];
  let count = 0;
  // In the past (snapshots are only cut where no late commit can land), 37 µs apart.
  let clock = (Date.now() - 30 * 86400_000) * 1000; // microseconds
  const append = (stream: string, type: string, version: number, data: Record<string, unknown>, meta: Record<string, unknown>) => {
    const head = heads.get(stream);
    const rev = head ? head.rev + 1 : 0;
    const id = randomUUID();
    clock += 37;
    const us = String(clock);
    const d = jsonbText(data);
    const m = jsonbText(meta);
    const text = [head ? head.hash.toString('hex') : '', stream, String(rev), id, type, String(version), us, d, m].join('\n');
    const hash = createHash('sha256').update(text, 'utf8').digest();
    heads.set(stream, { rev, hash });
    const created = new Date(Math.floor(clock / 1000)).toISOString().replace(/\.\d+Z$/, `.${String(clock % 1_000_000).padStart(6, '0')}+00`);
    buf.push(`${stream}\t${rev}\t${id}\t${type}\t${version}\t${d}\t${m}\t${created}\t\\\\x${hash.toString('hex')}`);
    count++;
    if (buf.length >= 20_000) {
      fs.writeSync(out, buf.join('\n') + '\n');
      buf = [];
    }
  };
  const expires = new Date(Date.now() + 365 * 86400_000).toISOString();
  const user = (events: number, heavy = false) => {
    const userId = randomUUID();
    const meta = { ip: '198.51.100.4', userAgent: 'bench/1.0', requestId: randomUUID().slice(0, 8), actorUserId: userId };
    // Every tenth user was stored by an early build: v1 UserRegistered, upcast on read.
    if (count % 10 === 0) append(streams.user(userId), 'UserRegistered', 1, { userId, email: `${userId}@bench.test`, name: 'Bench', passwordHash: '$2b$12$x' }, meta);
    else append(streams.user(userId), 'UserRegistered', 2, { userId, email: `${userId}@bench.test`, name: 'Bench', passwordHash: '$2b$12$x', source: 'signup' }, meta);
    const keyId = randomUUID();
    append(streams.apiKey(keyId), 'ApiKeyIssued', 1, { keyId, userId, name: 'k', prefix: `alk_${keyId.slice(0, 8)}`, secretHash: 'h', features: ['reports'], expiresAt: null }, meta);
    let left = events - 2;
    const perSession = heavy ? 200 : 20;
    while (left > 0) {
      const sessionId = randomUUID();
      const n = Math.min(left, perSession);
      append(streams.session(sessionId), 'SessionStarted', 1, { sessionId, userId, refreshTokenHash: 'h', expiresAt: expires, deviceName: 'bench' }, meta);
      for (let i = 1; i < n - 1; i++) append(streams.session(sessionId), 'SessionRotated', 1, { sessionId, userId, refreshTokenHash: 'h2', previousTokenHash: 'h1' }, meta);
      if (n > 1) append(streams.session(sessionId), 'SessionRevoked', 1, { sessionId, userId, reason: 'logout' }, meta);
      left -= n;
    }
    return userId;
  };
  append(streams.feature('reports'), 'FeatureRegistered', 1, { name: 'reports', description: 'Reports' }, {});
  const heavyFirst = new Date(Math.floor(clock / 1000) + 1);
  const heavyUser = user(HEAVY, true);
  const heavyLast = new Date(Math.floor(clock / 1000));
  while (count < TOTAL) user(Math.min(100, TOTAL - count + 2 > 3 ? 100 : 3));
  fs.writeSync(out, buf.join('\n') + (buf.length ? '\n' : ''));
  fs.closeSync(out);
  const streamsFile = path.join(dir, 'streams.tsv');
  fs.writeFileSync(streamsFile, [...heads].map(([s, h]) => `${s}\t${h.rev}\t\\\\x${h.hash.toString('hex')}`).join('\n') + '\n');
  psql(dbUrl, `\\copy events (stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at, hash) FROM '${eventsFile}'`);
  psql(dbUrl, `\\copy streams (stream_name, revision, last_hash) FROM '${streamsFile}'`);
  psql(dbUrl, 'VACUUM ANALYZE events');
  return { heavyUser, heavyFirst, heavyLast, events: count };
}

function psql(dbUrl: string, command: string) {
  execFileSync('psql', [dbUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

/** Reads every row like a projection batch would, with nothing done to them. */
async function rawScan(pool: pg.Pool): Promise<number> {
  const c = await pool.connect();
  let n = 0;
  try {
    await c.query('BEGIN');
    await c.query('DECLARE s NO SCROLL CURSOR FOR SELECT * FROM events ORDER BY transaction_id, position');
    for (;;) {
      const { rows } = await c.query('FETCH 5000 FROM s');
      n += rows.length;
      if (rows.length < 5000) break;
    }
    await c.query('COMMIT');
  } finally {
    c.release();
  }
  return n;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-bench-audit-'));
  const name = `al_bench_audit_${randomUUID().slice(0, 8)}`;
  const target = `al_bench_audit_${randomUUID().slice(0, 8)}`;
  const url = `${BASE}/${name}`;
  const targetUrl = `${BASE}/${target}`;
  const admin = new pg.Client({ connectionString: `${BASE}/postgres` });
  await admin.connect();
  try {
    await ensureDatabase(url);
    await migrate(url);
    const seeded = await timed(() => seed(url, dir));
    report('seed (Node hash chain + COPY)', { events: seeded.value.events, seconds: seeded.seconds, events_per_s: seeded.value.events / seeded.seconds });
    const pool = createPool(url, 6);
    const store = new PostgresEventStore(pool, createRegistry());
    const N = seeded.value.events;

    // Verify: every hash recomputed in Node.
    const v = await timed(() => verifyLog(pool));
    report('verify (hash chain)', { events: v.value.events, ok: String(v.value.ok), events_per_s: v.value.events / v.seconds });
    if (!v.value.ok) throw new Error(`seeded log does not verify: ${JSON.stringify(v.value.firstBroken)}`);

    // Rebuild all projections vs a raw scan of the same rows.
    const raw = await timed(() => rawScan(pool));
    // AUDIT_BENCH_PROJECTIONS=a,b rebuilds only those (while iterating); default: all of them.
    const only = process.env.AUDIT_BENCH_PROJECTIONS?.split(',').filter(Boolean) ?? [];
    const rb = await timed(() => rebuildAll(pool, store, only, { quiet: true }));
    const per = Object.fromEntries(rb.value.map((r) => [`${r.projection}_s`, r.seconds]));
    const rebuildRate = N / rb.seconds;
    report('rebuild all projections', { events: N, projections: rb.value.length, seconds: rb.seconds, events_per_s: rebuildRate, raw_scan_events_per_s: N / raw.seconds, ...per });
    report('rebuild all projections: vs target 50,000 events/s', { events_per_s: rebuildRate }, { value: rebuildRate / 50_000, target: '>= 1' });
    report('rebuild all projections: vs raw SELECT scan (one pass)', { events_per_s: rebuildRate }, { value: rebuildRate / (N / raw.seconds), target: 'informational; one pass for all projections' });

    // Export vs COPY TO.
    const file = path.join(dir, 'export.ndjson');
    const ex = await timed(() => exportToFile(pool, file));
    const copyTo = await timed(() => psql(url, `\\copy (SELECT * FROM events ORDER BY transaction_id, position) TO '${path.join(dir, 'copy.tsv')}'`));
    report('export NDJSON', { events: ex.value.events, mib: fs.statSync(file).size / 1048576, events_per_s: ex.value.events / ex.seconds, copy_to_events_per_s: N / copyTo.seconds },
      { value: (ex.value.events / ex.seconds) / (N / copyTo.seconds), target: 'vs COPY TO of the same rows' });

    // Import into an empty store vs COPY FROM of the same rows into an empty table.
    await ensureDatabase(targetUrl);
    await migrate(targetUrl);
    const tpool = createPool(targetUrl, 4);
    const im = await timed(() => importFromFile(tpool, store.registry, file));
    await tpool.query('CREATE TABLE copy_baseline (LIKE events INCLUDING INDEXES)');
    const copyFrom = await timed(() => psql(targetUrl, `\\copy copy_baseline FROM '${path.join(dir, 'copy.tsv')}'`));
    report('import NDJSON (chain-checked)', { events: im.value.imported, events_per_s: im.value.imported / im.seconds, copy_from_events_per_s: N / copyFrom.seconds },
      { value: (im.value.imported / im.seconds) / (N / copyFrom.seconds), target: 'vs COPY FROM of the same rows' });
    const v2 = await verifyLog(tpool);
    report('verify after import', { ok: String(v2.ok), events: v2.events });
    await tpool.end();

    // state?at= for the user with 10,000 events: the cold fold (no snapshot yet), then the HTTP route.
    const { heavyUser, heavyFirst, heavyLast } = seeded.value;
    const span = heavyLast.getTime() - heavyFirst.getTime();
    const endAt = new Date(heavyLast.getTime() + 1000);
    const cold = await timed(() => userStateAt(pool, store, heavyUser, endAt));
    const nosnap: number[] = [];
    for (let i = 0; i < scale(20, 5); i++) {
      const t0 = performance.now();
      await userStateAt(pool, store, heavyUser, endAt, { snapshots: false });
      nosnap.push(performance.now() - t0);
    }
    nosnap.sort((a, b) => a - b);
    report('state fold without snapshots (10,000 events)', { first_call_ms: cold.seconds * 1000, events_folded: cold.value!.events_applied, p50_ms: percentile(nosnap, 50), p99_ms: percentile(nosnap, 99) });

    const { services, base, post, close } = await startBenchApp('audit', url);
    try {
      const password = `Bench-${randomUUID().slice(0, 12)}-Lantern!`;
      const admin = await post('/api/v1/auth/signup', { email: 'audit-bench@example.com', password, name: 'Bench' });
      await grantRole(services, admin.user.id, 'admin', { actorUserId: 'bench' });
      const { access_token: token } = await post('/api/v1/auth/login', { email: 'audit-bench@example.com', password });
      const headers = { authorization: `Bearer ${token}` };
      // Warm-up (JIT, connection pool, token cache): not timed.
      for (let i = 0; i < 5; i++) await (await fetch(`${base}/api/v1/audit/users/${heavyUser}/state`, { headers })).text();
      const samples: number[] = [];
      const runs = scale(400, 100);
      let applied = 0;
      for (let i = 0; i < runs; i++) {
        // Half the probes after the whole history (all 10,000 events), half anywhere in it.
        const at = i % 2 ? endAt : new Date(heavyFirst.getTime() + Math.random() * span);
        const t0 = performance.now();
        const res = await fetch(`${base}/api/v1/audit/users/${heavyUser}/state?at=${encodeURIComponent(at.toISOString())}`, { headers });
        const body = (await res.json()) as { events_applied: number };
        samples.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`state answered ${res.status}`);
        if (i % 2) applied = body.events_applied;
      }
      const rawSamples: number[] = [];
      for (let i = 0; i < scale(100, 30); i++) {
        const t0 = performance.now();
        await pool.query(`SELECT * FROM events WHERE stream_name IN (SELECT stream_name FROM user_streams WHERE user_id = $1)`, [heavyUser]);
        rawSamples.push(performance.now() - t0);
      }
      samples.sort((a, b) => a - b);
      rawSamples.sort((a, b) => a - b);
      const p99 = percentile(samples, 99);
      report('GET state?at= over HTTP (10,000-event user, snapshots)', { requests: runs, events_folded_at_end: applied, p50_ms: percentile(samples, 50), p99_ms: p99, raw_select_all_rows_p99_ms: percentile(rawSamples, 99) },
        { value: p99 / 100, target: '<= 1 (p99 under 100 ms)' });
    } finally {
      await close();
    }

    await store.close();
    await pool.end();
  } finally {
    for (const db of [name, target]) await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
