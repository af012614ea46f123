/**
 * Event-log operations against real PostgreSQL: the audit index, hash-chain verification and
 * tampering, NDJSON export/import round trip (idempotent, chain-checked), event upcasting on
 * read, and the same operations through the CLI.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createPool } from '../../src/infra/db';
import { exportEvents, exportToFile, importEvents, importFromFile, ImportError, latestBackup, backupFileName, parseSince } from '../../src/events/postgres/ndjson';
import { verifyLog } from '../../src/events/postgres/verify';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { streams } from '../../src/events/streams';
import { createRegistry } from '../../src/events/index';
import { ensureProjections } from '../../src/projections/tables';
import { pgProjections } from '../../src/projections/index';
import { rebuildAll } from '../../src/ops/event-log-cli';
import { readUserEvents, resolveUser } from '../../src/queries/audit/log';
import { userStateAt } from '../../src/queries/audit/state';
import { scriptHistory, type History } from './history';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

function cli(args: string[], databaseUrl: string, input?: string) {
  const p = run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' },
    timeout: 60_000,
  });
  if (input !== undefined) {
    p.child.stdin?.end(input);
  } else p.child.stdin?.end();
  return p.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

async function tamper(t: TestServices, sql: string, params: unknown[] = []) {
  const c = await t.pool.connect();
  try {
    await c.query('BEGIN');
    // Only a superuser can turn the append-only trigger off (issue 20 §10).
    await c.query("SET LOCAL session_replication_role = replica");
    await c.query(sql, params);
    await c.query('COMMIT');
  } finally {
    c.release();
  }
}

describe('event-log operations', () => {
  let t: TestServices;
  let h: History;
  let other: TestDatabase;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-audit-'));

  beforeAll(async () => {
    t = await testServices('auditops');
    other = await createTestDatabase('auditops2');
    h = await scriptHistory(t.store);
    // A v1 UserRegistered as early builds stored it (no `source`), through the real append path.
    await t.pool.query(
      `SELECT * FROM append_to_stream($1, 'no_stream', ARRAY[$2::uuid], ARRAY['UserRegistered'], ARRAY[1], ARRAY[$3::jsonb], ARRAY['{}'::jsonb], ARRAY[NULL::timestamptz])`,
      [streams.user('legacy-1'), randomUUID(), JSON.stringify({ userId: 'legacy-1', email: 'old@example.com', name: 'Old', passwordHash: 'x' })],
    );
    await rebuildAll(t.pool, t.store as PostgresEventStore, [], { quiet: true });
  });
  afterAll(async () => {
    await t.close();
    await other.drop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('indexes every stream of the user and reads the history in log order', async () => {
    const { rows } = await t.pool.query('SELECT stream_name, events::int FROM user_streams WHERE user_id = $1 ORDER BY stream_name', [h.userId]);
    expect(rows.map((r) => r.stream_name).sort()).toEqual(
      [streams.apiKey(h.keyId), streams.emailReservation(h.email), streams.session(h.sessionA), streams.session(h.sessionB), streams.user(h.userId)].sort(),
    );
    const events = await readUserEvents(t.pool, t.store, h.userId);
    expect(events.map((e) => e.type)).toEqual([
      'EmailReserved', 'UserRegistered', 'LoginFailed', 'SessionStarted', 'SessionRotated', 'ApiKeyIssued', 'SessionStarted',
      'SessionRevoked', 'ApiKeyRevoked', 'RoleGranted', 'UserProfileUpdated',
    ]);
    // Events past the index checkpoint are found too (a lagging projection hides nothing).
    await t.store.appendToStream(streams.user(h.userId), [{ type: 'EmailVerified', data: { userId: h.userId, email: h.email } }]);
    const again = await readUserEvents(t.pool, t.store, h.userId);
    expect(again.at(-1)!.type).toBe('EmailVerified');
  });

  it('rebuild --dry-run reports what would change; a real rebuild switches generations and repairs it', async () => {
    const { rows: [g] } = await t.pool.query(`SELECT generation FROM projections WHERE name = 'user_streams'`);
    await t.pool.query(`DELETE FROM user_streams_v${g.generation} WHERE user_id = $1 AND stream_name = $2`, [h.userId, streams.apiKey(h.keyId)]);
    const [dry] = await rebuildAll(t.pool, t.store as PostgresEventStore, ['user_streams'], { dryRun: true, quiet: true });
    expect(dry!.switched).toBe(false);
    expect(dry!.tables.user_streams!.differing).toBe(1);
    expect(dry!.tables.user_streams!.rebuilt - dry!.tables.user_streams!.live).toBe(1);
    const [real] = await rebuildAll(t.pool, t.store as PostgresEventStore, ['user_streams'], { quiet: true });
    expect(real!.switched).toBe(true);
    expect(real!.toGeneration).toBe(g.generation + 1);
    const { rowCount } = await t.pool.query('SELECT 1 FROM user_streams WHERE user_id = $1 AND stream_name = $2', [h.userId, streams.apiKey(h.keyId)]);
    expect(rowCount).toBe(1);
    await expect(rebuildAll(t.pool, t.store as PostgresEventStore, ['nope'], { quiet: true })).rejects.toThrow(/unknown projection/);
  });

  it('resolves a user by e-mail for replay', async () => {
    expect(await resolveUser(t.store, h.email.toUpperCase())).toBe(h.userId);
    expect(await resolveUser(t.store, h.userId)).toBe(h.userId);
    expect(await resolveUser(t.store, 'nobody@example.com')).toBeUndefined();
  });

  it('reads an old v1 UserRegistered in the v2 shape and never rewrites it', async () => {
    const [e] = await readUserEvents(t.pool, t.store, 'legacy-1');
    expect(e!.schemaVersion).toBe(1);
    expect(e!.data).toMatchObject({ userId: 'legacy-1', source: 'signup' });
    const { rows } = await t.pool.query(`SELECT schema_version, data FROM events WHERE stream_name = $1`, [streams.user('legacy-1')]);
    expect(rows[0].schema_version).toBe(1);
    expect(rows[0].data).not.toHaveProperty('source');
    const state = await userStateAt(t.pool, t.store, 'legacy-1', new Date());
    expect(state!.profile.source).toBe('signup');
  });

  it('an untouched log verifies clean', async () => {
    const r = await verifyLog(t.pool);
    expect(r).toMatchObject({ ok: true, brokenCount: 0 });
    expect(r.events).toBe(15);
  });

  it('exports, then imports into an empty store: same hashes, chain verified, idempotent, projections rebuilt', async () => {
    const file = path.join(tmp, 'backup.ndjson');
    const exported = await exportToFile(t.pool, file);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(exported.events);
    // Exported as stored: the v1 event stays v1, without `source`.
    const legacy = JSON.parse(lines.find((l) => l.includes('"legacy-1"'))!);
    expect(legacy).toMatchObject({ type: 'UserRegistered', version: 1 });
    expect(legacy.data).not.toHaveProperty('source');

    const pool = createPool(other.url, 4);
    const store = new PostgresEventStore(pool, createRegistry());
    try {
      const dry = await importFromFile(pool, store.registry, file, { dryRun: true });
      expect(dry).toMatchObject({ imported: exported.events, skipped: 0, dryRun: true });
      expect((await pool.query('SELECT count(*)::int AS n FROM events')).rows[0].n).toBe(0);

      const r = await importFromFile(pool, store.registry, file);
      expect(r).toMatchObject({ read: exported.events, imported: exported.events, skipped: 0, storeEventsBefore: 0 });
      const a = await t.pool.query(`SELECT event_id, encode(hash,'hex') AS h, created_at FROM events ORDER BY transaction_id, position`);
      const b = await pool.query(`SELECT event_id, encode(hash,'hex') AS h, created_at FROM events ORDER BY transaction_id, position`);
      expect(b.rows).toEqual(a.rows);
      expect((await verifyLog(pool)).ok).toBe(true);

      // Idempotent by event id: the same file again stores nothing.
      const again = await importFromFile(pool, store.registry, file);
      expect(again).toMatchObject({ imported: 0, skipped: exported.events });

      await ensureProjections(pool, pgProjections());
      await rebuildAll(pool, store, [], { quiet: true });
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM user_streams WHERE user_id = $1', [h.userId]);
      expect(rows[0].n).toBe(5);
      const state = await userStateAt(pool, store, h.userId, h.t.afterLoginB);
      expect(state!.sessions).toHaveLength(2);
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('import refuses an altered file, a gap, or a conflicting event, and stores nothing', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c) => chunks.push(String(c)));
    await exportEvents(t.pool, out);
    const lines = chunks.join('').trim().split('\n');
    const target = await createTestDatabase('auditops3');
    const pool = createPool(target.url, 2);
    const registry = createRegistry();
    const feed = (ls: string[]) => {
      const s = new PassThrough();
      s.end(ls.join('\n') + '\n');
      return s;
    };
    try {
      const altered = lines.map((l) => (l.includes('"UserProfileUpdated"') ? l.replace('Ada L.', 'Mallory') : l));
      await expect(importEvents(pool, registry, feed(altered))).rejects.toThrow(/hash chain broken at user-/);
      // Small batches: the failing batch is in flight while later lines are parsed.
      await expect(importEvents(pool, registry, feed(altered), { batchSize: 2 })).rejects.toThrow(/hash chain broken at user-/);
      const gap = lines.filter((l) => !l.includes('"SessionRotated"'));
      await expect(importEvents(pool, registry, feed(gap))).rejects.toThrow(ImportError);
      await expect(importEvents(pool, registry, feed(gap), { batchSize: 3 })).rejects.toThrow(/does not continue the stream/);
      await expect(importEvents(pool, registry, feed(['{"nope":1}']))).rejects.toThrow(/line 1/);
      expect((await pool.query('SELECT count(*)::int AS n FROM events')).rows[0].n).toBe(0);
      // A store holding a different event at the same place: conflict.
      await new PostgresEventStore(pool, registry).appendToStream(streams.feature('reports'), [{ type: 'FeatureRegistered', data: { name: 'reports', description: 'other' } }]);
      await expect(importEvents(pool, registry, feed(lines))).rejects.toThrow(/different event at feature-reports revision 0/);
    } finally {
      await pool.end();
      await target.drop();
    }
  });

  it('exports incrementally (--since position or time) and an incremental file continues a restore', async () => {
    const full = new PassThrough();
    const chunks: string[] = [];
    full.on('data', (c) => chunks.push(String(c)));
    await exportEvents(t.pool, full);
    const lines = chunks.join('').trim().split('\n');
    const mid = Math.floor(lines.length / 2);
    const cutPosition = JSON.parse(lines[mid - 1]!).position as string;
    const collect = async (since: Parameters<typeof exportEvents>[2]) => {
      const out = new PassThrough();
      const got: string[] = [];
      out.on('data', (c) => got.push(String(c)));
      const r = await exportEvents(t.pool, out, since);
      return { r, lines: got.join('').trim().split('\n').filter(Boolean) };
    };
    const inc = await collect({ since: parseSince(cutPosition) });
    expect(inc.lines).toEqual(lines.slice(mid));
    expect(inc.r.lastPosition).toBe(JSON.parse(lines.at(-1)!).position);
    const byTime = await collect({ since: parseSince(h.t.afterLogoutA.toISOString()) });
    expect(byTime.lines.map((l) => JSON.parse(l).type)).toEqual(expect.arrayContaining(['ApiKeyRevoked', 'RoleGranted', 'UserProfileUpdated']));
    expect(byTime.lines.map((l) => JSON.parse(l).type)).not.toContain('UserRegistered');
    expect(() => parseSince('last tuesday-ish')).toThrow(/--since/);

    // Restore the first half, then the incremental on top: the same log as the source.
    const target = await createTestDatabase('auditops5');
    const pool = createPool(target.url, 2);
    const feed = (ls: string[]) => {
      const st = new PassThrough();
      st.end(ls.join('\n') + '\n');
      return st;
    };
    try {
      await importEvents(pool, t.store.registry, feed(lines.slice(0, mid)));
      const r = await importEvents(pool, t.store.registry, feed(inc.lines));
      expect(r).toMatchObject({ imported: lines.length - mid, skipped: 0 });
      expect((await verifyLog(pool)).ok).toBe(true);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM events`);
      expect(rows[0].n).toBe(lines.length);
      // An incremental file on an empty store cannot start mid-stream.
      const empty = await createTestDatabase('auditops6');
      const p2 = createPool(empty.url, 2);
      try {
        await expect(importEvents(p2, t.store.registry, feed(inc.lines))).rejects.toThrow(/does not continue the stream/);
      } finally {
        await p2.end();
        await empty.drop();
      }
    } finally {
      await pool.end();
      await target.drop();
    }
  });

  it('names backups by time and finds the newest', async () => {
    const dir = path.join(tmp, 'backups');
    fs.mkdirSync(dir);
    expect(backupFileName(dir, new Date('2030-01-02T03:04:05.678Z'))).toBe(`${dir}/authledger-events-20300102T030405Z.ndjson`);
    fs.writeFileSync(path.join(dir, 'a.ndjson'), '');
    fs.utimesSync(path.join(dir, 'a.ndjson'), new Date(1000), new Date(1000));
    fs.writeFileSync(path.join(dir, 'b.ndjson'), '');
    expect(latestBackup(dir)).toBe(path.join(dir, 'b.ndjson'));
    expect(latestBackup(path.join(tmp, 'none'))).toBeUndefined();
  });

  it('CLI: --help on each command, verify, export, import refusing without a TTY, dry run, replay', async () => {
    for (const cmd of ['rebuild', 'export', 'import', 'verify', 'replay']) {
      const r = await cli([cmd, '--help'], t.db.url);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toContain(`Usage: authledger ${cmd}`);
    }
    const v = await cli(['verify'], t.db.url);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/verified: \d+ events/);

    const file = path.join(tmp, 'cli.ndjson');
    const e = await cli(['export', '--out', file], t.db.url);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/exported \d+ events/);

    const target = await createTestDatabase('auditops4');
    try {
      const refused = await cli(['import', file], target.url);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/--yes/);
      const dir = path.join(tmp, 'cli-backups');
      fs.mkdirSync(dir);
      fs.copyFileSync(file, path.join(dir, 'authledger-events-20300101T000000Z.ndjson'));
      const latest = await cli(['import', '--dir', dir, '--dry-run'], target.url);
      expect(latest.code, latest.stderr).toBe(0);
      expect(latest.stderr).toContain('the newest backup found');
      expect(latest.stdout).toMatch(/would import \d+ events/);
      const dry = await cli(['import', file, '--dry-run'], target.url);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/would import \d+ events/);
      const ok = await cli(['import', file, '--yes'], target.url);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/imported \d+ events/);
      expect(ok.stdout).toContain('user_streams');
      const v2 = await cli(['verify'], target.url);
      expect(v2.code).toBe(0);
      const replay = await cli(['replay', '--user', h.email], target.url);
      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout).toContain('SessionRevoked');
      expect(replay.stdout).toContain('reason=logout');
      expect(replay.stdout).not.toContain('rt-hash');
      expect(replay.stdout).not.toContain('secretsecret');
      const rebuild = await cli(['rebuild', '--dry-run'], target.url);
      expect(rebuild.code, rebuild.stderr).toBe(0);
      expect(rebuild.stdout).toMatch(/user_streams: \d+ events read in [\d.]+ s; would switch/);
      expect(rebuild.stdout).toMatch(/0 differing/);
    } finally {
      await target.drop();
    }
  }, 180_000); // a dozen CLI processes (tsx start-up each) on a shared machine

  it('a row altered with plain SQL makes verify fail and names the first broken link', async () => {
    const { rows } = await t.pool.query(`SELECT position::text AS p, revision::text AS r FROM events WHERE stream_name = $1 AND event_type = 'RoleGranted'`, [streams.user(h.userId)]);
    await tamper(t, `UPDATE events SET data = jsonb_set(data, '{role}', '"user"') WHERE position = $1`, [rows[0].p]);
    const r = await verifyLog(t.pool);
    expect(r.ok).toBe(false);
    expect(r.firstBroken).toMatchObject({ stream: streams.user(h.userId), revision: rows[0].r, position: rows[0].p, reason: 'hash_mismatch' });
    const c = await cli(['verify'], t.db.url);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(`first at stream ${streams.user(h.userId)} revision ${rows[0].r} position ${rows[0].p}`);
  }, 60_000);

  it('a deleted event breaks the chain too', async () => {
    const { rows } = await t.pool.query(`SELECT position::text AS p FROM events WHERE stream_name = $1 AND event_type = 'SessionRotated'`, [streams.session(h.sessionA)]);
    await tamper(t, `DELETE FROM events WHERE position = $1`, [rows[0].p]);
    const r = await verifyLog(t.pool);
    expect(r.ok).toBe(false);
    expect(r.brokenCount).toBeGreaterThanOrEqual(2);
  });
});
