/**
 * Tamper evidence that survives a database superuser (issue 20 §10): no ordinary setting turns
 * the append-only rule off; the cross-stream checkpoints catch a deleted stream, a truncated tail
 * and a re-chained stream that the per-stream walk alone accepts; a signed anchor kept outside
 * catches a rewrite of the whole database, checkpoints included; the CLI writes and checks anchors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { testServices, type TestServices } from '../helpers/app';
import { verifyLog } from '../../src/events/postgres/verify';
import { writeCheckpoint } from '../../src/events/postgres/checkpoints';
import { canonicalHash } from '../../src/events/postgres/verify';
import { checkAnchor, writeAnchor } from '../../src/ops/anchors';
import { anchorLog } from '../../workers/cleanup';

const run = promisify(execFile);

/** As a superuser doing maintenance: the only way past the trigger. */
async function superuser(t: TestServices, fn: (q: (sql: string, p?: unknown[]) => Promise<unknown>) => Promise<void>) {
  const c = await t.pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    await fn((sql, p) => c.query(sql, p));
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  } finally {
    c.release();
  }
}

async function history(t: TestServices, streams: number, each: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < streams; i++) {
    const name = `feature-tamper${i}-${randomUUID().slice(0, 6)}`;
    names.push(name);
    for (let j = 0; j < each; j++) {
      await t.store.appendToStream(name, [{ type: j === 0 ? 'FeatureRegistered' : 'FeatureUpdated', data: { name: name.slice(8), description: `v${j}` } }]);
    }
  }
  return names;
}

/** Rewrites a stream's hashes from revision `from` on, and its head record, so the per-stream walk holds. */
async function rechain(q: (sql: string, p?: unknown[]) => Promise<unknown>, stream: string) {
  const { rows } = (await q(`SELECT stream_name, revision::text AS revision, event_id::text AS event_id, event_type, schema_version::text AS schema_version,
      ((extract(epoch FROM created_at) * 1000000)::bigint)::text AS created_us, data::text AS data, metadata::text AS metadata, position
      FROM events WHERE stream_name = $1 ORDER BY revision`, [stream])) as { rows: Parameters<typeof canonicalHash>[1][] & { position: string }[] };
  let prev = '';
  let last: Buffer | undefined;
  for (const r of rows) {
    last = canonicalHash(prev, r);
    await q('UPDATE events SET hash = $1 WHERE position = $2', [last, r.position]);
    prev = last.toString('hex');
  }
  await q('UPDATE streams SET last_hash = $1, revision = $2 WHERE stream_name = $3', [last, rows.at(-1)!.revision, stream]);
}

describe('tamper evidence', () => {
  let t: TestServices;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-anchor-'));
  beforeAll(async () => {
    t = await testServices('tamper');
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('no setting an ordinary role can change allows UPDATE, DELETE or TRUNCATE of events or checkpoints', async () => {
    await history(t, 1, 2);
    await writeCheckpoint(t.pool, { waitForHeadMs: 10_000 });
    for (const sql of ["UPDATE events SET data = '{}'", 'DELETE FROM events', 'TRUNCATE events CASCADE', 'DELETE FROM log_checkpoints', 'TRUNCATE log_checkpoints']) {
      const c = await t.pool.connect();
      try {
        await c.query('BEGIN');
        await c.query("SET LOCAL authledger.allow_rewrite = on");
        await expect(c.query(sql), sql).rejects.toThrow(/append-only/);
      } finally {
        await c.query('ROLLBACK');
        c.release();
      }
    }
  });

  it('a deleted stream, a truncated tail and a re-chained stream pass the per-stream walk but break verify at the checkpoint', async () => {
    const [gone] = await history(t, 3, 3);
    const cp = await writeCheckpoint(t.pool, { waitForHeadMs: 10_000 });
    expect(cp && Number(cp.events)).toBeGreaterThan(9);
    expect((await verifyLog(t.pool)).ok).toBe(true);

    // 1. a whole stream, events and head record.
    await superuser(t, async (q) => {
      await q('DELETE FROM events WHERE stream_name = $1', [gone]);
      await q('DELETE FROM streams WHERE stream_name = $1', [gone]);
    });
    const r1 = await verifyLog(t.pool);
    expect(r1.ok).toBe(false);
    expect(r1.firstBroken?.reason).toBe('checkpoint_mismatch');
    // The per-stream rules alone would have accepted it: no other kind of break is reported.
    expect(r1.brokenCount).toBe(1);
  });

  it('a truncated tail and a re-chained stream each break verify at the checkpoint', async () => {
    const t2 = await testServices('tamper2');
    try {
      const [cut] = await history(t2, 2, 3);
      await writeCheckpoint(t2.pool, { waitForHeadMs: 10_000 });
      await superuser(t2, async (q) => {
        await q('DELETE FROM events WHERE stream_name = $1 AND revision = 2', [cut]);
        await q("UPDATE streams SET revision = 1, last_hash = (SELECT hash FROM events WHERE stream_name = $1 AND revision = 1) WHERE stream_name = $1", [cut]);
      });
      const r1 = await verifyLog(t2.pool);
      expect([r1.ok, r1.firstBroken?.reason]).toEqual([false, 'checkpoint_mismatch']);

      const t3 = await testServices('tamper3');
      try {
        const [, victim] = await history(t3, 2, 3);
        await writeCheckpoint(t3.pool, { waitForHeadMs: 10_000 });
        await superuser(t3, async (q) => {
          await q(`UPDATE events SET data = jsonb_set(data, '{description}', '"forged"') WHERE stream_name = $1 AND revision = 1`, [victim]);
          await rechain(q, victim!);
        });
        const r2 = await verifyLog(t3.pool);
        expect([r2.ok, r2.firstBroken?.reason]).toEqual([false, 'checkpoint_mismatch']);
      } finally {
        await t3.close();
      }
    } finally {
      await t2.close();
    }
  });

  it('a signed anchor outside the database catches a rewrite of everything, checkpoints included; a forged anchor is refused', async () => {
    const t4 = await testServices('tamper4');
    try {
      const [victim] = await history(t4, 2, 2);
      const file = path.join(tmp, 'anchor.json');
      const a = await writeAnchor(t4.pool, t4.config, file);
      expect(a.jws.split('.')).toHaveLength(3);
      expect(await checkAnchor(t4.pool, t4.config, file)).toMatchObject({ ok: true });
      // Later appends do not disturb an earlier anchor.
      await history(t4, 1, 1);
      expect((await checkAnchor(t4.pool, t4.config, file)).ok).toBe(true);

      // A forged anchor: the readable copy edited, or the signed payload swapped.
      const forged = JSON.parse(fs.readFileSync(file, 'utf8'));
      const [h, , sig] = forged.jws.split('.');
      const payload = Buffer.from(JSON.stringify({ ...forged.anchor, events: '1' })).toString('base64url');
      fs.writeFileSync(path.join(tmp, 'forged.json'), JSON.stringify({ ...forged, jws: `${h}.${payload}.${sig}` }));
      expect(await checkAnchor(t4.pool, t4.config, path.join(tmp, 'forged.json'))).toMatchObject({ ok: false, reason: 'bad_signature' });
      fs.writeFileSync(path.join(tmp, 'junk.json'), '{"format":"x"}');
      expect(await checkAnchor(t4.pool, t4.config, path.join(tmp, 'junk.json'))).toMatchObject({ ok: false, reason: 'bad_file' });

      // The whole database rewritten consistently: a stream deleted and the checkpoints with it.
      await superuser(t4, async (q) => {
        await q('DELETE FROM events WHERE stream_name = $1', [victim]);
        await q('DELETE FROM streams WHERE stream_name = $1', [victim]);
        await q('DELETE FROM log_checkpoints');
      });
      expect((await verifyLog(t4.pool)).ok).toBe(true); // nothing inside the database shows it
      expect(await checkAnchor(t4.pool, t4.config, file)).toMatchObject({ ok: false, reason: 'anchor_mismatch' });
    } finally {
      await t4.close();
    }
  });

  it('the worker job writes checkpoints, and anchors into ANCHOR_DIR that check out', async () => {
    const t5 = await testServices('tamper5');
    try {
      const dir = path.join(tmp, 'scheduled');
      await history(t5, 1, 2);
      const deps = { config: t5.config, log: t5.log, pool: t5.pool, redis: t5.redis, prefix: t5.prefix, store: t5.store };
      expect((await anchorLog(deps as never)).checkpoint).toBe('1');
      await history(t5, 1, 1);
      const r = await anchorLog({ ...deps, config: { ...t5.config, ANCHOR_DIR: dir } } as never);
      expect(r.anchor).toMatch(/anchor-.*\.json$/);
      expect(fs.readdirSync(dir)).toHaveLength(1);
      expect(await checkAnchor(t5.pool, t5.config, r.anchor!)).toMatchObject({ ok: true, anchor: { seq: '2', events: '3' } });

      // The CLI: verify --anchor writes one, verify --against checks it (exit 0), and after a
      // superuser's rewrite of everything exits 1 naming the anchor.
      const cli = (args: string[]) => run('npx', ['tsx', 'src/cli.ts', 'verify', ...args], {
        env: { ...process.env, DATABASE_URL: t5.db.url, DATA_DIR: t5.config.DATA_DIR, LOG_LEVEL: 'silent' }, timeout: 60_000,
      }).then((x) => ({ code: 0, out: x.stdout + x.stderr }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
      const file = path.join(tmp, 'cli-anchor.json');
      const w = await cli(['--anchor', file]);
      expect([w.code, w.out]).toEqual([0, expect.stringContaining('anchor written')]);
      expect(await cli(['--against', file])).toMatchObject({ code: 0, out: expect.stringContaining('anchor holds') });
      await superuser(t5, async (q) => {
        await q('DELETE FROM events WHERE position = (SELECT min(position) FROM events)');
        await q('DELETE FROM log_checkpoints');
        await q('DELETE FROM streams');
        await q(`INSERT INTO streams (stream_name, revision, last_hash)
          SELECT DISTINCT ON (stream_name) stream_name, revision, hash FROM events ORDER BY stream_name, revision DESC`);
      });
      const broken = await cli(['--against', file]);
      expect([broken.code, broken.out]).toEqual([1, expect.stringContaining('ANCHOR BROKEN (anchor_mismatch)')]);
    } finally {
      await t5.close();
    }
  });
});
