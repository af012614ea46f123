/**
 * The projection engine against the real PostgreSQL and Redis: compare-and-set checkpoints,
 * Redis idempotency, one active runner, fencing, a real process killed mid-batch, lag reporting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { createRedis, connectRedis } from '../../src/infra/redis';
import { PostgresEventStore } from '../../src/events/postgres/store';
import type { Redis } from 'ioredis';
import { ProjectionRunner, applyPgBatch, applyRedisBatch, loadPgState, loadRedisPosition, projectionLag, readBatch } from '../../src/projections/engine';
import { ensureProjections } from '../../src/projections/tables';
import { registerProjectionHealth } from '../../src/projections/health';
import { metricsPlugin } from '../../src/http/plugins/metrics';
import type { Services } from '../../src/services';
import { START } from '../../src/events/store';
import { createTestDatabase, testRedisPrefix, REDIS_BASE, type TestDatabase } from '../helpers/db';
import { sleep, testRegistry } from '../events/fixtures';
import { counterProjection, redisCounterProjection } from './fixtures';

const here = path.dirname(fileURLToPath(import.meta.url));
let db: TestDatabase;
let pool: pg.Pool;
let store: PostgresEventStore;
let redis: Redis;
const prefix = testRedisPrefix('engine');

beforeAll(async () => {
  db = await createTestDatabase('engine');
  pool = createPool(db.url, 8, () => undefined);
  store = new PostgresEventStore(pool, testRegistry(), { pollIntervalMs: 100 });
  redis = createRedis(REDIS_BASE);
  await connectRedis(redis);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await store.close();
  await pool.end();
  await db.drop();
});

/** Appends `n` ThingHappened events over `streams` streams; returns the expected per-stream counts. */
async function seed(tag: string, n: number, streams = 10, batch = 10) {
  const expected = new Map<string, { count: number; total: number }>();
  for (let i = 0; i < n; i += batch) {
    const s = `${tag}-${(i / batch) % streams}`;
    const events = Array.from({ length: Math.min(batch, n - i) }, (_, k) => ({ type: 'ThingHappened', data: { n: i + k } }));
    await store.appendToStream(s, [...events, { type: 'ThingRenamed', data: { name: 'ignored' } }]);
    const cur = expected.get(s) ?? { count: 0, total: 0 };
    for (const e of events) {
      cur.count++;
      cur.total += e.data.n;
    }
    expected.set(s, cur);
  }
  return expected;
}

async function counters(table: string, tag: string) {
  const { rows } = await pool.query<{ stream: string; count: number; total: string }>(
    `SELECT stream, count, total::text FROM ${table} WHERE stream LIKE $1 ORDER BY stream`,
    [`${tag}-%`],
  );
  return new Map(rows.map((r) => [r.stream, { count: r.count, total: Number(r.total) }]));
}

const sorted = (m: Map<string, unknown>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));

describe('PostgreSQL projections', () => {
  it('the checkpoint is a compare-and-set: replaying a batch changes nothing', async () => {
    const tag = `cas${randomUUID().slice(0, 6)}`;
    const p = counterProjection({ name: `cas_${tag}`, base: `cas_${tag}` });
    await ensureProjections(pool, [p]);
    const expected = await seed(tag, 40, 4);
    const state = (await loadPgState(pool, p.name))!;
    const batch = await readBatch(store, p.handles, state.position, 1000);
    expect(batch.events).toHaveLength(40);
    expect(batch.count).toBe(44); // the ThingRenamed events are read (they move the checkpoint) but not decoded
    expect(await applyPgBatch(pool, p, state, batch.events, batch.last!)).toBe(true);
    const after = await counters(p.name, tag);
    expect(sorted(after)).toEqual(sorted(expected));
    // The same batch again (a crashed runner's retry, or a second runner): refused, nothing changes.
    expect(await applyPgBatch(pool, p, state, batch.events, batch.last!)).toBe(false);
    expect(sorted(await counters(p.name, tag))).toEqual(sorted(expected));
    expect((await loadPgState(pool, p.name))!.position).toEqual(batch.last);
  });

  it('one projection\u2019s batch holds its ctx.write writes for COMMIT: two queries for a batch with one read; a moved checkpoint writes nothing', async () => {
    const tag = `one${randomUUID().slice(0, 6)}`;
    const p = counterProjection({ name: `one_${tag}`, base: `one_${tag}`, held: true });
    await ensureProjections(pool, [p]);
    const expected = await seed(tag, 30, 3);
    const state = (await loadPgState(pool, p.name))!;
    const batch = await readBatch(store, p.handles, state.position, 1000);
    const client = await pool.connect();
    const sent: string[] = [];
    const original = client.query.bind(client);
    (client as unknown as { query: unknown }).query = (text: unknown, ...rest: unknown[]) => {
      sent.push(String(text).trim().slice(0, 30));
      return (original as (...a: unknown[]) => unknown)(text, ...rest);
    };
    try {
      expect(await applyPgBatch(client, p, state, batch.events, batch.last!)).toBe(true);
      expect(sent).toHaveLength(2);
      expect(sent[0]).toMatch(/^BEGIN;/);
      expect(sorted(await counters(p.name, tag))).toEqual(sorted(expected));
      // Again from the old checkpoint: the compare-and-set fails with the first query, nothing is written.
      expect(await applyPgBatch(client, p, state, batch.events, batch.last!)).toBe(false);
      expect(sent).toHaveLength(4); // the failed opening and its ROLLBACK
      expect(sorted(await counters(p.name, tag))).toEqual(sorted(expected));
    } finally {
      client.release();
    }
  });

  it('a failing handler rolls back its batch and leaves the checkpoint where it was', async () => {
    const tag = `fail${randomUUID().slice(0, 6)}`;
    const good = counterProjection({ name: `f_${tag}`, base: `f_${tag}` });
    await ensureProjections(pool, [good]);
    await seed(tag, 10, 2);
    const state = (await loadPgState(pool, good.name))!;
    const batch = await readBatch(store, good.handles, state.position, 1000);
    const bad = { ...good, apply: async (...args: Parameters<typeof good.apply>) => { await good.apply(...args); throw new Error('boom'); } };
    await expect(applyPgBatch(pool, bad, state, batch.events, batch.last!)).rejects.toThrow('boom');
    expect((await loadPgState(pool, good.name))!.position).toEqual(START);
    expect((await counters(good.name, tag)).size).toBe(0);
  });

  it('at most one runner is active; a standby takes over when it stops; nothing is applied twice', async () => {
    const tag = `one${randomUUID().slice(0, 6)}`;
    const p = counterProjection({ name: `one_${tag}`, base: `one_${tag}` });
    await ensureProjections(pool, [p]);
    // Two "processes": separate pools, separate stores, separate lock connections.
    const pools = [createPool(db.url, 3, () => undefined), createPool(db.url, 3, () => undefined)];
    const stores = pools.map((pl) => new PostgresEventStore(pl, testRegistry()));
    const runners = pools.map((pl, i) => new ProjectionRunner({ pool: pl, store: stores[i]!, batchSize: 50, idleWaitMs: 50, standbyRetryMs: 100 }, p));
    for (const r of runners) r.start();
    try {
      const expected = await seed(tag, 300, 5);
      for (let i = 0; i < 200 && !runners.some((r) => r.active); i++) await sleep(50);
      let bothActive = 0;
      for (let i = 0; i < 30; i++) {
        if (runners.every((r) => r.active)) bothActive++;
        await sleep(20);
      }
      expect(bothActive).toBe(0);
      const first = runners.find((r) => r.active)!;
      expect(first).toBeDefined();
      const other = runners.find((r) => r !== first)!;
      await first.stop();
      const more = await seed(tag, 200, 5);
      for (const [s, v] of more) {
        const cur = expected.get(s)!;
        cur.count += v.count;
        cur.total += v.total;
      }
      for (let i = 0; i < 400 && (!other.active || (await projectionLag({ pool, store }, p)) > 0); i++) await sleep(50);
      expect(other.active).toBe(true);
      expect(sorted(await counters(p.name, tag))).toEqual(sorted(expected));
    } finally {
      for (const r of runners) await r.stop();
      for (const s of stores) await s.close();
      for (const pl of pools) await pl.end();
    }
  });

  it('a standby retries its lock on its schedule (or once per wake), never in a loop while appends come', async () => {
    const tag = `sb${randomUUID().slice(0, 6)}`;
    const p = counterProjection({ name: `sb_${tag}`, base: `sb_${tag}` });
    await ensureProjections(pool, [p]);
    const active = new ProjectionRunner({ pool, store, idleWaitMs: 50 }, p);
    active.start();
    const standbyPool = createPool(db.url, 2, () => undefined);
    const standbyStore = new PostgresEventStore(standbyPool, testRegistry());
    const standby = new ProjectionRunner({ pool: standbyPool, store: standbyStore, standbyRetryMs: 60_000 }, p);
    try {
      for (let i = 0; i < 200 && !active.active; i++) await sleep(50);
      standby.start();
      for (let i = 0; i < 100 && standby.lockAttempts < 1; i++) await sleep(20);
      for (let i = 0; i < 5; i++) await standbyStore.appendToStream(`${tag}-${i}`, [{ type: 'ThingHappened', data: { n: i } }]);
      await sleep(1000);
      expect(standby.active).toBe(false);
      // One try at start, at most one per append signal (local and NOTIFY); a loop makes hundreds.
      expect(standby.lockAttempts).toBeLessThanOrEqual(11);
    } finally {
      await standby.stop();
      await active.stop();
      await standbyStore.close();
      await standbyPool.end();
    }
  });

  it('fencing: a runner whose lock connection is killed cannot commit; the other takes over exactly', async () => {
    const tag = `fen${randomUUID().slice(0, 6)}`;
    const p = counterProjection({ name: `fen_${tag}`, base: `fen_${tag}` });
    await ensureProjections(pool, [p]);
    const pools = [createPool(db.url, 3, () => undefined), createPool(db.url, 3, () => undefined)];
    const stores = pools.map((pl) => new PostgresEventStore(pl, testRegistry()));
    const runners = pools.map((pl, i) => new ProjectionRunner({ pool: pl, store: stores[i]!, batchSize: 20, idleWaitMs: 20, standbyRetryMs: 50 }, p));
    for (const r of runners) r.start();
    try {
      const expected = await seed(tag, 400, 8);
      let killed = 0;
      for (let kill = 0; kill < 3; kill++) {
        await sleep(100);
        // Kill whichever session holds the runner lock (as a network partition or a DBA would).
        const { rowCount } = await pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1095582038 AND objid = hashtext($1)::oid`,
          [p.name],
        );
        killed += rowCount ?? 0;
      }
      expect(killed).toBeGreaterThan(0);
      for (let i = 0; i < 600 && (await projectionLag({ pool, store }, p)) > 0; i++) await sleep(50);
      expect(sorted(await counters(p.name, tag))).toEqual(sorted(expected));
    } finally {
      for (const r of runners) await r.stop();
      for (const s of stores) await s.close();
      for (const pl of pools) await pl.end();
    }
  });

  it('crash test: a projector process SIGKILLed mid-batch, restarted, ends with the same read model as an uncrashed build', async () => {
    const tag = `crash${randomUUID().slice(0, 6)}`;
    const name = `crash_${tag}`;
    const p = counterProjection({ name, base: name, perEvent: true });
    const reference = counterProjection({ name: `ref_${tag}`, base: `ref_${tag}` });
    await ensureProjections(pool, [p, reference]);
    // Both start at the current head, so their batches hold only this test's events.
    const head = await store.headPosition();
    await pool.query('UPDATE projections SET commit_position = $1, prepare_position = $2 WHERE name = ANY($3)', [head.commit.toString(), head.prepare.toString(), [name, reference.name]]);
    const expected = await seed(tag, 1200, 12, 20);

    const runChild = (env: Record<string, string>) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'crash-child.ts')], {
        env: { ...process.env, DB_URL: db.url, PROJECTION: name, BASE: name, BATCH_SIZE: '200', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += String(d)));
      child.stderr!.on('data', (d) => (err += String(d)));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      return { child, exited, output: () => out, errors: () => err };
    };
    const waitFor = async (c: { output(): string; errors(): string; child: ChildProcess }, text: string, ms: number) => {
      for (let i = 0; i < ms / 50; i++) {
        if (c.output().includes(text)) return;
        if (c.child.exitCode !== null) throw new Error(`child exited early: ${c.errors()}`);
        await sleep(50);
      }
      throw new Error(`child never printed ${text}: ${c.output()} ${c.errors()}`);
    };

    // 1. Run until half-way through batch 3, then kill -9: no exit handler, no rollback sent.
    const first = runChild({ PAUSE_AT_BATCH: '3' });
    await waitFor(first, 'MID 3', 30_000);
    // The half batch is written but uncommitted in the killed process's transaction.
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    // The checkpoint is at a batch boundary (2 batches) and the read model matches it exactly.
    const state = (await loadPgState(pool, name))!;
    const applied = await store.readAll({ fromPosition: head, maxCount: 400 });
    expect(applied.every((e) => e.streamName.startsWith(`${tag}-`))).toBe(true);
    expect(state.position).toEqual(applied[399]!.position); // batch = 200 log events; 2 batches
    const partial = await counters(name, tag);
    const partialCount = [...partial.values()].reduce((a, v) => a + v.count, 0);
    expect(partialCount).toBe(applied.filter((e) => e.type === 'ThingHappened').length);
    expect(partialCount).toBeGreaterThan(300);

    // 2. Restart: it resumes from the checkpoint and finishes.
    const second = runChild({});
    await waitFor(second, 'DONE', 60_000);
    expect((await second.exited).code).toBe(0);

    // 3. The uncrashed reference build, in this process.
    const ref = new ProjectionRunner({ pool, store, batchSize: 500 }, reference);
    await ref.drain();
    const crashed = await counters(name, tag);
    expect(sorted(crashed)).toEqual(sorted(await counters(reference.name, tag)));
    expect(sorted(crashed)).toEqual(sorted(expected));
    const { rows } = await pool.query(
      `SELECT stream, last_revision FROM ${name} EXCEPT SELECT stream, last_revision FROM ${reference.name}`,
    );
    expect(rows).toEqual([]);
  }, 120_000);

  it('lag is readable: per projection, for /ready and as a Prometheus gauge', async () => {
    const tag = `lag${randomUUID().slice(0, 6)}`;
    const p = counterProjection({ name: `lag_${tag}`, base: `lag_${tag}` });
    const r = redisCounterProjection(`rlag_${tag}`);
    await ensureProjections(pool, [p]);
    const deps = { pool, store, redis, redisPrefix: prefix };
    const head = await projectionLag(deps, p);
    await seed(tag, 30, 3);
    expect(await projectionLag(deps, p)).toBe(head + 33);
    const app = Fastify();
    await app.register(metricsPlugin);
    app.decorate('readinessChecks', new Map());
    const services = { pool, store, redis, prefix, config: {} } as unknown as Services;
    registerProjectionHealth(app, services, { projections: [p, r], maxLagEvents: 5 });
    await app.ready();
    const notReady = await app.readinessChecks.get('projections')!();
    expect(notReady.ok).toBe(false);
    expect(notReady.detail).toMatchObject({ lag_events: { [p.name]: head + 33 }, behind: [p.name, r.name] });
    expect(await app.metrics.metrics()).toContain(`projection_lag_events{projection="${p.name}"} ${head + 33}`);
    await new ProjectionRunner(deps, p).drain();
    await new ProjectionRunner(deps, r).drain();
    const ready = await app.readinessChecks.get('projections')!();
    expect(ready).toMatchObject({ ok: true, detail: { lag_events: { [p.name]: 0, [r.name]: 0 } } });
    expect(await app.metrics.metrics()).toContain(`projection_lag_events{projection="${r.name}"} 0`);
    await app.close();
  });
});

describe('Redis projections', () => {
  it('applying a batch twice leaves the same state (checkpoint in the same WATCHed MULTI)', async () => {
    const tag = `rds${randomUUID().slice(0, 6)}`;
    const p = redisCounterProjection(`r_${tag}`);
    await seed(tag, 50, 5);
    const from = await loadRedisPosition(redis, prefix, p.name);
    const batch = await readBatch(store, p.handles, from, 100_000);
    expect(await applyRedisBatch(redis, prefix, p, from, batch.events, batch.last!)).toBe(true);
    const snapshot = async () => [await redis.hgetall(`${prefix}${p.name}:count`), await redis.hgetall(`${prefix}${p.name}:total`)];
    const once = await snapshot();
    expect(Object.values(once[0]!).reduce((a, v) => a + Number(v), 0)).toBe(await countThings());
    expect(await applyRedisBatch(redis, prefix, p, from, batch.events, batch.last!)).toBe(false);
    expect(await snapshot()).toEqual(once);
    expect(await loadRedisPosition(redis, prefix, p.name)).toEqual(batch.last);
  });

  it('a runner drains a Redis projection exactly once even with two runners racing', async () => {
    const tag = `rr${randomUUID().slice(0, 6)}`;
    const p = redisCounterProjection(`rr_${tag}`);
    await seed(tag, 120, 4);
    const deps = { pool, store, redis, redisPrefix: prefix, batchSize: 7 };
    // Bypass the lock on purpose (step() directly): only WATCH stands between them and double counting.
    const a = new ProjectionRunner(deps, p);
    const b = new ProjectionRunner(deps, p);
    await Promise.all([a.drain(), b.drain()]);
    const counts = await redis.hgetall(`${prefix}${p.name}:count`);
    expect(Object.values(counts).reduce((x, v) => x + Number(v), 0)).toBe(await countThings());
    await a.stop();
    await b.stop();
  });
});

async function countThings(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE event_type = 'ThingHappened'`);
  return rows[0]!.n;
}
