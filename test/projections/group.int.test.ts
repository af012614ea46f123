/**
 * The group runner (src/projections/group.ts) against the real PostgreSQL: woken in-process
 * without NOTIFY and across processes by NOTIFY, a failing projection neither holds back nor moves
 * the others, a projection behind reads its own pages, the runner lock is shared with
 * ProjectionRunner, a process SIGKILLed mid-batch replays exactly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { ProjectionRunner, loadPgState } from '../../src/projections/engine';
import { PgGroupRunner } from '../../src/projections/group';
import { ensureProjections } from '../../src/projections/tables';
import { comparePositions, type Position } from '../../src/events/store';
import type { PgProjection } from '../../src/projections/types';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { sleep, testRegistry } from '../events/fixtures';
import { counterProjection } from './fixtures';

const here = path.dirname(fileURLToPath(import.meta.url));
let db: TestDatabase;
let pool: pg.Pool;
let store: PostgresEventStore;

beforeAll(async () => {
  db = await createTestDatabase('group');
  pool = createPool(db.url, 6, () => undefined);
  store = new PostgresEventStore(pool, testRegistry(), { pollIntervalMs: 100 });
});
afterAll(async () => {
  await store.close();
  await pool.end();
  await db.drop();
});

/** Projections at the current head (their batches then hold only this test's events). */
async function atHead(...ps: PgProjection[]): Promise<void> {
  await ensureProjections(pool, ps);
  const head = await store.headPosition();
  await pool.query('UPDATE projections SET commit_position = $1, prepare_position = $2 WHERE name = ANY($3)', [head.commit.toString(), head.prepare.toString(), ps.map((p) => p.name)]);
}

async function seed(tag: string, n: number, streams = 5): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i += 10) {
    const s = `${tag}-${(i / 10) % streams}`;
    await store.appendToStream(s, [...Array.from({ length: 10 }, (_, k) => ({ type: 'ThingHappened', data: { n: i + k } })), { type: 'ThingRenamed', data: { name: 'x' } }]);
    counts.set(s, (counts.get(s) ?? 0) + 10);
  }
  return counts;
}

async function counts(table: string): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ stream: string; count: number }>(`SELECT stream, count FROM ${table}`);
  return new Map(rows.map((r) => [r.stream, r.count]));
}

const position = async (name: string): Promise<Position> => (await loadPgState(pool, name))!.position;
const passed = async (name: string, at: Position) => comparePositions(await position(name), at) >= 0;

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (await check()) return true;
  return check();
}

const sorted = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b));

describe('PgGroupRunner', () => {
  it('an append made in this process wakes it at once, with no NOTIFY (its LISTEN cannot connect)', async () => {
    const tag = `wake${randomUUID().slice(0, 6)}`;
    const a = counterProjection({ name: `wa_${tag}`, base: `wa_${tag}` });
    const b = counterProjection({ name: `wb_${tag}`, base: `wb_${tag}` });
    await atHead(a, b);
    // LISTEN goes to a closed port: only the local append signal can wake it before the 60 s idle wait.
    const deaf = new PostgresEventStore(pool, testRegistry(), { listenConfig: { host: '127.0.0.1', port: 1, connectionTimeoutMillis: 500 } });
    const group = new PgGroupRunner({ pool, store: deaf, idleWaitMs: 60_000, standbyRetryMs: 60_000 }, [a, b]);
    group.start();
    try {
      expect(await until(async () => group.active.length === 2 && group.positions.size === 2, 20_000)).toBe(true);
      await sleep(100); // asleep now, for the idle wait
      const { position: at } = await deaf.appendToStream(`${tag}-1`, [{ type: 'ThingHappened', data: { n: 1 } }]);
      expect(await until(async () => (await passed(a.name, at)) && (await passed(b.name, at)), 3000)).toBe(true);
      expect(await counts(a.name)).toEqual(new Map([[`${tag}-1`, 1]]));
    } finally {
      await group.stop();
      await deaf.close();
    }
  }, 60_000);

  it('an append made by another process wakes it through NOTIFY', async () => {
    const tag = `notify${randomUUID().slice(0, 6)}`;
    const a = counterProjection({ name: `na_${tag}`, base: `na_${tag}` });
    await atHead(a);
    const otherPool = createPool(db.url, 2, () => undefined);
    const other = new PostgresEventStore(otherPool, testRegistry());
    const group = new PgGroupRunner({ pool, store, idleWaitMs: 60_000 }, [a]);
    group.start();
    try {
      expect(await until(async () => group.positions.size === 1, 10_000)).toBe(true);
      await sleep(100);
      const { position: at } = await other.appendToStream(`${tag}-1`, [{ type: 'ThingHappened', data: { n: 1 } }]);
      expect(await until(() => passed(a.name, at), 3000)).toBe(true);
    } finally {
      await group.stop();
      await other.close();
      await otherPool.end();
    }
  });

  it('a wake reads its page on the runner\u2019s own connection: with every pool connection taken, an append from elsewhere is still projected', async () => {
    const tag = `pool${randomUUID().slice(0, 6)}`;
    const a = counterProjection({ name: `pa_${tag}`, base: `pa_${tag}` });
    await atHead(a);
    const small = createPool(db.url, 2, () => undefined);
    const mine = new PostgresEventStore(small, testRegistry());
    const otherPool = createPool(db.url, 2, () => undefined);
    const other = new PostgresEventStore(otherPool, testRegistry());
    const group = new PgGroupRunner({ pool: small, store: mine, idleWaitMs: 60_000 }, [a]);
    group.start();
    const held: pg.PoolClient[] = [];
    try {
      expect(await until(async () => group.positions.size === 1, 10_000)).toBe(true);
      await sleep(100);
      // Requests holding every connection of the runner's pool (a busy API process).
      held.push(await small.connect(), await small.connect());
      const batches = group.batches;
      const { position: at } = await other.appendToStream(`${tag}-1`, [{ type: 'ThingHappened', data: { n: 1 } }]);
      // Within the pool's 3 s connection timeout: a read through the pool would still be waiting.
      expect(await until(() => passed(a.name, at), 2000)).toBe(true);
      expect(group.batches).toBe(batches + 1);
      expect(await counts(a.name)).toEqual(new Map([[`${tag}-1`, 1]]));
    } finally {
      for (const c of held) c.release();
      await group.stop();
      await mine.close();
      await other.close();
      await Promise.all([small.end(), otherPool.end()]);
    }
  });

  it('an older transaction of this database holds an append back (never skipped): short sleeps while it runs, at once past it when it ends', async () => {
    const tag = `held${randomUUID().slice(0, 6)}`;
    const a = counterProjection({ name: `ha_${tag}`, base: `ha_${tag}` });
    await atHead(a);
    const otherPool = createPool(db.url, 2, () => undefined);
    const other = new PostgresEventStore(otherPool, testRegistry());
    const group = new PgGroupRunner({ pool, store, idleWaitMs: 60_000 }, [a]);
    group.start();
    const older = await otherPool.connect();
    try {
      expect(await until(async () => group.positions.size === 1, 10_000)).toBe(true);
      // A transaction with an xid, older than the append, that appends nothing (and never notifies).
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      const { position: at } = await other.appendToStream(`${tag}-1`, [{ type: 'ThingHappened', data: { n: 1 } }]);
      await sleep(300);
      expect(await passed(a.name, at)).toBe(false);
      // The empty pages said so themselves: the runner looks again every few ms (up to 32 ms), not after the idle wait.
      const sleeps = group.heldBackSleeps;
      expect(sleeps).toBeGreaterThan(5);
      await older.query('COMMIT');
      expect(await until(() => passed(a.name, at), 1000)).toBe(true);
      expect(await counts(a.name)).toEqual(new Map([[`${tag}-1`, 1]]));
      // Caught up and nothing held back: it sleeps until the next append.
      await sleep(200);
      const idle = group.heldBackSleeps;
      await sleep(200);
      expect(group.heldBackSleeps).toBe(idle);
    } finally {
      await older.query('ROLLBACK').catch(() => undefined);
      older.release();
      await group.stop();
      await other.close();
      await otherPool.end();
    }
  });

  it('a projection whose writes fail moves no checkpoint; the others advance; it catches up exactly once healed', async () => {
    const tag = `fail${randomUUID().slice(0, 6)}`;
    const good = counterProjection({ name: `fg_${tag}`, base: `fg_${tag}` });
    const inner = counterProjection({ name: `fb_${tag}`, base: `fb_${tag}` });
    let failing = true;
    const bad: PgProjection = {
      ...inner,
      async apply(events, ctx) {
        await inner.apply(events, ctx); // written, then rolled back
        if (failing) throw new Error('boom');
      },
    };
    await atHead(good, bad);
    const start = await position(bad.name);
    const expected = await seed(tag, 60);
    const group = new PgGroupRunner({ pool, store, batchSize: 1000 }, [good, bad]);
    expect(await group.step()).toBe(true);
    const head = await store.headPosition();
    expect(await position(good.name)).toEqual(head);
    expect(sorted(await counts(good.name))).toEqual(sorted(expected));
    expect(await position(bad.name)).toEqual(start);
    expect((await counts(bad.name)).size).toBe(0);
    // Backing off: the next steps run the good one alone.
    const more = await seed(tag, 20);
    await group.drain();
    expect(await position(good.name)).toEqual(await store.headPosition());
    expect(await position(bad.name)).toEqual(start);
    failing = false;
    const end = await store.headPosition();
    // Once past its backoff (400 ms, more if retried meanwhile) it runs again.
    expect(await until(async () => {
      await group.drain();
      return passed(bad.name, end);
    }, 10_000)).toBe(true);
    for (const [s, n] of more) expected.set(s, (expected.get(s) ?? 0) + n);
    expect(sorted(await counts(bad.name))).toEqual(sorted(expected));
    expect(sorted(await counts(good.name))).toEqual(sorted(expected));
    await group.stop();
  });

  it('writes held by ctx.write commit with the checkpoints: a batch is the page, each ctx.client statement (the first carrying BEGIN and the compare-and-set) and the held writes with COMMIT; a later projection failing leaves none of them', async () => {
    const tag = `held${randomUUID().slice(0, 6)}`;
    const held = counterProjection({ name: `hh_${tag}`, base: `hh_${tag}`, held: true });
    const plain = counterProjection({ name: `hp_${tag}`, base: `hp_${tag}` });
    await atHead(held, plain);
    const expected = await seed(tag, 40);
    const group = new PgGroupRunner({ pool, store, batchSize: 1000 }, [held, plain]);
    try {
      await group.step(); // takes the locks and loads the checkpoints
      const more = await seed(tag, 20);
      for (const [s, n] of more) expected.set(s, (expected.get(s) ?? 0) + n);
      const runnerClient = (group as unknown as { client: pg.Client }).client;
      const sent: string[] = [];
      const original = pg.Client.prototype.query;
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        if (this === runnerClient) sent.push(String(typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text).trim().slice(0, 40));
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original;
      try {
        expect(await group.step()).toBe(true);
      } finally {
        pg.Client.prototype.query = original;
      }
      // The page; BEGIN with the compare-and-set and the held projection's read; the plain one's
      // upsert (through ctx.client, in the transaction); the held upsert with COMMIT.
      expect(sent).toHaveLength(4);
      expect(sent[1]).toMatch(/^BEGIN;/);
      expect(sent[2]).toMatch(/^INSERT INTO/);
      const head = await store.headPosition();
      for (const p of [held, plain]) {
        expect(await position(p.name)).toEqual(head);
        expect(sorted(await counts(p.name))).toEqual(sorted(expected));
      }
    } finally {
      await group.stop();
    }

    // A projection after the held one fails: the held writes never reach the table.
    const tag2 = `${tag}b`;
    const held2 = counterProjection({ name: `hh_${tag2}`, base: `hh_${tag2}`, held: true });
    const failing: PgProjection = { ...counterProjection({ name: `hf_${tag2}`, base: `hf_${tag2}` }), apply: async () => { throw new Error('boom'); } };
    await atHead(held2, failing);
    const start = await position(held2.name);
    const expected2 = await seed(tag2, 30);
    let seenEmpty = false;
    // The held projection's one-at-a-time retry (applyPgBatch) commits on its own: look before
    // it, from a hook on the failing projection's first call.
    let calls = 0;
    failing.apply = async () => {
      if (calls++ === 0) seenEmpty = (await counts(held2.name)).size === 0 && comparePositions(await position(held2.name), start) === 0;
      throw new Error('boom');
    };
    const group2 = new PgGroupRunner({ pool, store, batchSize: 1000 }, [held2, failing]);
    try {
      expect(await group2.step()).toBe(true);
      expect(seenEmpty).toBe(true);
      // Then the retry, one projection per transaction: the held one advances, the failing one does not.
      expect(await position(held2.name)).toEqual(await store.headPosition());
      expect(sorted(await counts(held2.name))).toEqual(sorted(expected2));
      expect(await position(failing.name)).toEqual(start);
    } finally {
      await group2.stop();
    }
  });

  it('a checkpoint moved by someone else (a rebuild\u2019s switch) fails the shared transaction: that projection writes nothing, the other advances', async () => {
    const tag = `moved${randomUUID().slice(0, 6)}`;
    const a = counterProjection({ name: `ma_${tag}`, base: `ma_${tag}`, held: true });
    const b = counterProjection({ name: `mb_${tag}`, base: `mb_${tag}` });
    await atHead(a, b);
    const first = await seed(tag, 30);
    const group = new PgGroupRunner({ pool, store, batchSize: 1000 }, [a, b]);
    try {
      await group.drain();
      const second = await seed(tag, 20);
      const head = await store.headPosition();
      await pool.query('UPDATE projections SET commit_position = $1, prepare_position = $2 WHERE name = $3', [head.commit.toString(), head.prepare.toString(), b.name]);
      await group.drain();
      const both = new Map(first);
      for (const [s, n] of second) both.set(s, n + (both.get(s) ?? 0));
      expect(await position(a.name)).toEqual(head);
      expect(sorted(await counts(a.name))).toEqual(sorted(both));
      expect(await position(b.name)).toEqual(head);
      expect(sorted(await counts(b.name))).toEqual(sorted(first));
    } finally {
      await group.stop();
    }
  });

  it('a projection behind reads its own pages: the one at the head still gets each new event in the same step', async () => {
    const tag = `behind${randomUUID().slice(0, 6)}`;
    const lead = counterProjection({ name: `bl_${tag}`, base: `bl_${tag}` });
    const late = counterProjection({ name: `bb_${tag}`, base: `bb_${tag}` });
    await atHead(lead, late);
    await seed(tag, 300); // 330 log events
    const group = new PgGroupRunner({ pool, store, batchSize: 50 }, [lead]);
    await group.drain();
    await group.stop(); // frees the lead's lock
    const { position: at } = await store.appendToStream(`${tag}-x`, [{ type: 'ThingHappened', data: { n: 0 } }]);
    const both = new PgGroupRunner({ pool, store, batchSize: 50 }, [lead, late]);
    // One step reads a page for the late one and the rest for the lead. (Another transaction
    // running in this database can hide the new event from a read for a moment: step again then.)
    for (let i = 0; i < 3 && comparePositions(await position(lead.name), at) < 0; i++) expect(await both.step()).toBe(true);
    expect(await position(lead.name)).toEqual(at);
    expect(comparePositions(await position(late.name), at)).toBeLessThan(0); // 7 pages to read
    await both.drain();
    await both.stop();
    expect(sorted(await counts(late.name))).toEqual(sorted(await counts(lead.name)));
  });

  it('shares the runner lock with ProjectionRunner: a projection held elsewhere is left alone until freed', async () => {
    const tag = `lock${randomUUID().slice(0, 6)}`;
    const a = counterProjection({ name: `la_${tag}`, base: `la_${tag}` });
    const b = counterProjection({ name: `lb_${tag}`, base: `lb_${tag}` });
    await atHead(a, b);
    const single = new ProjectionRunner({ pool, store, idleWaitMs: 50 }, b);
    single.start();
    expect(await until(async () => single.active, 10_000)).toBe(true);
    const group = new PgGroupRunner({ pool, store, idleWaitMs: 50, standbyRetryMs: 100 }, [a, b]);
    group.start();
    try {
      expect(await until(async () => group.active.length === 1, 10_000)).toBe(true);
      expect(group.active).toEqual([a.name]);
      await single.stop();
      expect(await until(async () => group.active.length === 2, 10_000)).toBe(true);
      const expected = await seed(tag, 40);
      const head = await store.headPosition();
      expect(await until(async () => (await passed(a.name, head)) && (await passed(b.name, head)), 10_000)).toBe(true);
      expect(sorted(await counts(b.name))).toEqual(sorted(expected));
    } finally {
      await single.stop();
      await group.stop();
    }
  });

  it('crash test: a group SIGKILLed mid-batch, restarted, ends with both read models exact', async () => {
    const tag = `crash${randomUUID().slice(0, 6)}`;
    const name = `gc_${tag}`;
    const partner = `gp_${tag}`;
    await atHead(counterProjection({ name, base: name }), counterProjection({ name: partner, base: partner }));
    const start = await position(name);
    const expected = await seed(tag, 600, 6);
    const runChild = (env: Record<string, string>) => {
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'crash-child.ts')], {
        env: { ...process.env, DB_URL: db.url, PROJECTION: name, BASE: name, GROUP: partner, BATCH_SIZE: '110', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += String(d)));
      child.stderr!.on('data', (d) => (err += String(d)));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      const waitFor = async (text: string, ms: number) => {
        for (let i = 0; i < ms / 50; i++) {
          if (out.includes(text)) return;
          if (child.exitCode !== null) throw new Error(`child exited early: ${err}`);
          await sleep(50);
        }
        throw new Error(`child never printed ${text}: ${out} ${err}`);
      };
      return { child, exited, waitFor };
    };
    const first = runChild({ PAUSE_AT_BATCH: '3' });
    await first.waitFor('MID 3', 30_000);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // Two batches of 110 log events committed, for both projections together; the third not at all.
    const applied = await store.readAll({ fromPosition: start, maxCount: 220 });
    expect(await position(name)).toEqual(applied[219]!.position);
    expect(await position(partner)).toEqual(applied[219]!.position);
    const partial = [...(await counts(name)).values()].reduce((a, b) => a + b, 0);
    expect(partial).toBe(applied.filter((e) => e.type === 'ThingHappened').length);
    const second = runChild({});
    await second.waitFor('DONE', 60_000);
    expect((await second.exited).code).toBe(0);
    expect(sorted(await counts(name))).toEqual(sorted(expected));
    expect(sorted(await counts(partner))).toEqual(sorted(expected));
  }, 120_000);
});
