/**
 * Batch-aware projections (load, fold in memory, one multi-row upsert) give exactly the rows the
 * former per-event statements gave (test/projections/per-event-reference.ts), however the events
 * are cut into batches: one batch, one event per batch, or uneven splits (rows then come back
 * from the table between batches, with their microseconds). And `rebuildProjections` (one pass
 * over the log for several projections) ends with the same read models as one rebuild each.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { createRegistry } from '../../src/events/index';
import { PostgresEventStore } from '../../src/events/postgres/store';
import type { RecordedEvent } from '../../src/events/store';
import { streams } from '../../src/events/streams';
import { sessionsProjection, usersProjection } from '../../src/projections/identity';
import { apiKeysProjection } from '../../src/projections/api-keys';
import { featuresProjection } from '../../src/projections/features';
import { userStreamsProjection } from '../../src/projections/user-streams';
import { loadPgState } from '../../src/projections/engine';
import { RebuildInProgressError, rebuildProjection, rebuildProjections } from '../../src/projections/rebuild';
import { createGeneration, ensureProjections, pgContext, physicalTable } from '../../src/projections/tables';
import type { PgProjection, PgProjectionContext } from '../../src/projections/types';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { apiKeysPerEvent, featuresPerEvent, sessionsPerEvent, usersPerEvent } from './per-event-reference';

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('batching');
  pool = createPool(db.url, 8, () => undefined);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

let position = 0n;
const t0 = Date.parse('2026-03-01T10:00:00.000Z');
function ev(streamName: string, revision: number, type: string, data: Record<string, unknown>, offsetMs = revision * 1000): RecordedEvent {
  position++;
  return {
    position: { commit: 1000n + position, prepare: position },
    streamName,
    revision: BigInt(revision),
    id: randomUUID(),
    type,
    schemaVersion: 1,
    data,
    metadata: {},
    createdAt: new Date(t0 + offsetMs),
  };
}

type Apply = (events: RecordedEvent[], ctx: PgProjectionContext) => Promise<void>;

/** Applies `batches` in one transaction each (as the engine does) into generation `gen`. */
async function applyInto(projection: PgProjection, apply: Apply, gen: number, batches: RecordedEvent[][]) {
  const client = await pool.connect();
  try {
    await createGeneration(client, projection, gen);
    for (const batch of batches) {
      await client.query('BEGIN');
      await apply(batch, pgContext(client, gen));
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
}

/** Every row of a generation's table, every column in full precision, ordered by key. */
async function dump(projection: PgProjection, gen: number): Promise<string[]> {
  const base = Object.keys(projection.tables)[0]!;
  const { rows } = await pool.query<{ j: string }>(`SELECT to_jsonb(x)::text AS j FROM ${pg.escapeIdentifier(physicalTable(base, gen))} x ORDER BY 1`);
  return rows.map((r) => r.j);
}

const splits = (events: RecordedEvent[]) => ({
  whole: [events],
  oneByOne: events.map((e) => [e]),
  uneven: [events.slice(0, 2), events.slice(2, 3), events.slice(3, 7), events.slice(7)].filter((b) => b.length),
});

/** Reference (per event, one batch) vs the projection under every split: identical rows. */
async function expectSameAsPerEvent(projection: PgProjection, reference: Apply, events: RecordedEvent[]): Promise<string[]> {
  let gen = 100 + Math.floor(Math.random() * 100_000) * 10;
  await applyInto(projection, reference, gen, [events]);
  const expected = await dump(projection, gen);
  expect(expected.length).toBeGreaterThan(0);
  for (const [how, batches] of Object.entries(splits(events))) {
    gen++;
    await applyInto(projection, (b, c) => projection.apply(b, c), gen, batches);
    expect(await dump(projection, gen), how).toEqual(expected);
  }
  return expected;
}

describe('batch-aware projections match the per-event statements', () => {
  it('sessions: start + rotations + reuse + revoke of one session in one batch = one by one', async () => {
    const s1 = randomUUID();
    const s2 = randomUUID();
    const u = randomUUID();
    const st = (id: string) => streams.session(id);
    const expires = '2026-04-01T10:00:00.123456+00:00';
    const events = [
      ev(st(s1), 0, 'SessionStarted', { sessionId: s1, userId: u, refreshTokenHash: 'h0', expiresAt: expires, deviceName: 'phone', ip: '10.0.0.1', userAgent: 'ua1', startedAt: '2026-03-01T10:00:00.000001+00:00' }),
      ev(st(s2), 0, 'SessionStarted', { sessionId: s2, userId: u, refreshTokenHash: 'x0', expiresAt: expires }),
      ev(st(s1), 1, 'SessionRotated', { sessionId: s1, userId: u, refreshTokenHash: 'h1', previousTokenHash: 'h0', ip: '10.0.0.2', rotatedAt: '2026-03-01T10:00:01.654321+00:00' }),
      ev(st(s1), 2, 'SessionRotated', { sessionId: s1, userId: u, refreshTokenHash: 'h2', previousTokenHash: 'h1', userAgent: 'ua2' }),
      ev(st(s2), 1, 'SessionRotated', { sessionId: s2, userId: u, refreshTokenHash: 'x1', previousTokenHash: 'x0' }),
      ev(st(s1), 3, 'SessionRotated', { sessionId: s1, userId: u, refreshTokenHash: 'h3', previousTokenHash: 'h2', ip: '10.0.0.3', userAgent: 'ua3', rotatedAt: '2026-03-01T10:00:03.999999+00:00' }),
      // Replayed (revision not newer): changes nothing.
      ev(st(s1), 2, 'SessionRotated', { sessionId: s1, userId: u, refreshTokenHash: 'h2', previousTokenHash: 'h1', ip: '192.0.2.9' }),
      ev(st(s1), 4, 'RefreshTokenReuseDetected', { sessionId: s1, userId: u, presentedTokenHash: 'h1', presenter: {}, rotatedBy: {} }),
      ev(st(s1), 5, 'SessionRevoked', { sessionId: s1, userId: u, reason: 'reuse_detected' }),
      // A duplicate start never overwrites; an event for an unknown session changes nothing.
      ev(st(s1), 0, 'SessionStarted', { sessionId: s1, userId: u, refreshTokenHash: 'zz', expiresAt: expires, deviceName: 'other' }),
      ev(st('nope'), 3, 'SessionRotated', { sessionId: 'nope', userId: u, refreshTokenHash: 'a', previousTokenHash: 'b' }),
      ev(st(s2), 2, 'SessionExpired', { sessionId: s2, userId: u, reason: 'idle' }),
      ev(st(s2), 3, 'SessionRotated', { sessionId: s2, userId: u, refreshTokenHash: 'x2', previousTokenHash: 'x1' }),
    ];
    const rows = (await expectSameAsPerEvent(sessionsProjection, sessionsPerEvent, events)).map((j) => JSON.parse(j) as Record<string, unknown>);
    expect(rows.find((r) => r.id === s1)).toMatchObject({
      status: 'revoked', end_reason: 'reuse_detected', rotations: 3, last_ip: '10.0.0.3', last_user_agent: 'ua3', device_name: 'phone',
      created_at: '2026-03-01T10:00:00.000001+00:00', last_rotated_at: '2026-03-01T10:00:03.999999+00:00', revision: 5,
    });
    expect(rows.find((r) => r.id === s2)).toMatchObject({ status: 'expired', end_reason: 'idle', rotations: 2, revision: 3 });
  });

  it('users: registration, profile and e-mail changes, roles, lockout, password, disable/delete', async () => {
    const u1 = randomUUID();
    const u2 = randomUUID();
    const st = (id: string) => streams.user(id);
    const events = [
      ev(st(u1), 0, 'UserRegistered', { userId: u1, email: 'Ada@Example.com', name: 'Ada', passwordHash: 'x', source: 'signup' }),
      ev(st(u1), 1, 'EmailVerified', { userId: u1, email: 'ada@example.com' }),
      ev(st(u2), 0, 'UserRegistered', { userId: u2, email: 'bob@example.com', name: 'Bob', passwordHash: 'x', source: 'admin' }),
      ev(st(u1), 2, 'UserProfileUpdated', { userId: u1, name: 'Ada L.' }),
      ev(st(u1), 3, 'RoleGranted', { userId: u1, role: 'admin' }),
      ev(st(u1), 4, 'RoleGranted', { userId: u1, role: 'user' }),
      ev(st(u1), 5, 'LoginFailed', { userId: u1, reason: 'bad_password', consecutiveFailures: 3 }),
      ev(st(u1), 6, 'AccountLocked', { userId: u1, until: '2026-03-01T11:00:00.000042+00:00', failures: 5 }),
      ev(st(u2), 1, 'EmailVerified', { userId: u2, email: 'bob@example.com' }),
      ev(st(u2), 2, 'UserProfileUpdated', { userId: u2, email: 'BOB@example.com' }), // same normalised e-mail: stays verified
      ev(st(u1), 7, 'UserProfileUpdated', { userId: u1, email: 'ada@new.example' }), // new e-mail: not verified any more
      ev(st(u1), 8, 'AccountUnlocked', { userId: u1 }),
      ev(st(u1), 9, 'PasswordChanged', { userId: u1, passwordHash: 'y' }),
      ev(st(u1), 5, 'LoginFailed', { userId: u1, reason: 'bad_password', consecutiveFailures: 9 }), // replayed: nothing
      ev(st(u1), 10, 'RoleRevoked', { userId: u1, role: 'admin' }),
      ev(st(u1), 11, 'PasswordRehashed', { userId: u1, passwordHash: 'z' }),
      ev(st(u2), 3, 'UserDisabled', { userId: u2 }),
      ev(st(u2), 4, 'UserEnabled', { userId: u2 }),
      ev(st(u2), 5, 'LoginFailed', { userId: u2, reason: 'bad_password', consecutiveFailures: 1 }),
      ev(st(u2), 6, 'LoginFailuresCleared', { userId: u2 }),
      ev(st(u2), 7, 'UserDeleted', { userId: u2 }),
      ev(st(u2), 0, 'UserRegistered', { userId: u2, email: 'again@example.com', name: 'B2', passwordHash: 'x', source: 'signup' }),
    ];
    const rows = (await expectSameAsPerEvent(usersProjection, usersPerEvent, events)).map((j) => JSON.parse(j) as Record<string, unknown>);
    expect(rows.find((r) => r.id === u1)).toMatchObject({ name: 'Ada L.', email: 'ada@new.example', email_verified: false, roles: ['user'], failed_logins: 0, locked_until: null, revision: 11 });
    expect(rows.find((r) => r.id === u2)).toMatchObject({ email: 'BOB@example.com', email_verified: true, disabled: false, deleted: true, failed_logins: 0, revision: 7 });
  });

  it('api keys: issue, revoke, expire (only an active key expires)', async () => {
    const k1 = randomUUID();
    const k2 = randomUUID();
    const u = randomUUID();
    const st = (id: string) => streams.apiKey(id);
    const events = [
      ev(st(k1), 0, 'ApiKeyIssued', { keyId: k1, userId: u, name: 'ci', prefix: 'alk_1', secretHash: 'h', features: ['reports', 'b'], expiresAt: '2026-05-01T00:00:00.000007+00:00' }),
      ev(st(k2), 0, 'ApiKeyIssued', { keyId: k2, userId: u, name: 'ops', prefix: 'alk_2', secretHash: 'h', features: [], expiresAt: null }),
      ev(st(k1), 1, 'ApiKeyExpired', { keyId: k1, userId: u }),
      ev(st(k2), 1, 'ApiKeyRevoked', { keyId: k2, userId: u, reason: 'leaked' }),
      ev(st(k2), 2, 'ApiKeyExpired', { keyId: k2, userId: u }), // revoked: stays revoked
      ev(st(k1), 2, 'ApiKeyRevoked', { keyId: k1, userId: u }),
    ];
    const rows = (await expectSameAsPerEvent(apiKeysProjection, apiKeysPerEvent, events)).map((j) => JSON.parse(j) as Record<string, unknown>);
    expect(rows.find((r) => r.key_id === k2)).toMatchObject({ status: 'revoked', revoke_reason: 'leaked', expired_at: null, revision: 1 });
    expect(rows.find((r) => r.key_id === k1)).toMatchObject({ status: 'revoked', features: ['reports', 'b'], revision: 2 });
  });

  it('features: register, update, disable, delete, register again, enable', async () => {
    const name = `f${randomUUID().slice(0, 6)}`;
    const other = `g${randomUUID().slice(0, 6)}`;
    const st = streams.feature(name);
    const events = [
      ev(st, 0, 'FeatureRegistered', { name, description: 'one' }),
      ev(streams.feature(other), 0, 'FeatureRegistered', { name: other, description: 'other' }),
      ev(st, 1, 'FeatureUpdated', { name, description: 'two' }),
      ev(st, 2, 'FeatureDisabled', { name }),
      ev(st, 3, 'FeatureDeleted', { name }),
      ev(st, 4, 'FeatureRegistered', { name, description: 'three' }),
      ev(st, 5, 'FeatureDisabled', { name }),
      ev(st, 6, 'FeatureEnabled', { name }),
      ev(streams.feature(other), 1, 'FeatureDisabled', { name: other }),
      ev(streams.feature(other), 2, 'FeatureDeleted', { name: other }),
      ev(st, 4, 'FeatureRegistered', { name, description: 'replayed' }), // not newer: nothing
    ];
    const expected = await expectSameAsPerEvent(featuresProjection, featuresPerEvent, events);
    const rows = expected.map((j) => JSON.parse(j) as Record<string, unknown>);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name, description: 'three', enabled: true, revision: 6 });
    // A row deleted in a later batch than the one that wrote it goes away too.
    const gen = 9_000_000 + Math.floor(Math.random() * 100_000);
    await applyInto(featuresProjection, (b, c) => featuresProjection.apply(b, c), gen, [events.slice(0, 2), events.slice(2, 4), events.slice(4)]);
    expect(await dump(featuresProjection, gen)).toEqual(expected);
  });
});

describe('rebuildProjections: one pass over the log', () => {
  const pgs = [usersProjection, sessionsProjection, apiKeysProjection, featuresProjection, userStreamsProjection];
  let store: PostgresEventStore;

  beforeAll(async () => {
    store = new PostgresEventStore(pool, createRegistry(), { pollIntervalMs: 100 });
    await ensureProjections(pool, pgs);
    // A few users with sessions, keys and a feature, through the store (real log positions).
    await store.appendToStream(streams.feature('reports'), [{ type: 'FeatureRegistered', data: { name: 'reports', description: 'Reports' } }]);
    for (let i = 0; i < 12; i++) {
      const userId = randomUUID();
      await store.appendToStream(streams.user(userId), [{ type: 'UserRegistered', data: { userId, email: `u${i}@example.com`, name: `U${i}`, passwordHash: 'x', source: 'signup' } }]);
      const keyId = randomUUID();
      await store.appendToStream(streams.apiKey(keyId), [{ type: 'ApiKeyIssued', data: { keyId, userId, name: 'k', prefix: `alk_${i}`, secretHash: 'h', features: ['reports'], expiresAt: null } }]);
      const sessionId = randomUUID();
      await store.appendToStream(streams.session(sessionId), [
        { type: 'SessionStarted', data: { sessionId, userId, refreshTokenHash: 'h', expiresAt: '2027-01-01T00:00:00.000Z', deviceName: 'd' } },
        ...Array.from({ length: i }, (_, k) => ({ type: 'SessionRotated', data: { sessionId, userId, refreshTokenHash: `h${k + 1}`, previousTokenHash: `h${k}` } })),
        ...(i % 3 ? [{ type: 'SessionRevoked', data: { sessionId, userId, reason: 'logout' } }] : []),
      ]);
      if (i % 4 === 0) await store.appendToStream(streams.user(userId), [{ type: 'RoleGranted', data: { userId, role: 'admin' } }]);
    }
  });
  afterAll(async () => store.close());

  const snapshot = async () => {
    const out: Record<string, string[]> = {};
    for (const p of pgs) {
      const base = Object.keys(p.tables)[0]!;
      out[base] = (await pool.query<{ j: string }>(`SELECT to_jsonb(x)::text AS j FROM ${pg.escapeIdentifier(base)} x ORDER BY 1`)).rows.map((r) => r.j);
    }
    return out;
  };

  it('gives the same read models as one rebuild per projection; dry run reports no difference; locks still apply', async () => {
    for (const p of pgs) await rebuildProjection(pool, store, p, { batchSize: 7 });
    const separately = await snapshot();
    expect(separately.sessions).toHaveLength(12);
    const before = await Promise.all(pgs.map((p) => loadPgState(pool, p.name)));

    const dry = await rebuildProjections(pool, store, pgs, { dryRun: true, batchSize: 5 });
    expect(dry.map((r) => r.projection)).toEqual(pgs.map((p) => p.name));
    for (const r of dry) {
      expect(r.switched).toBe(false);
      for (const t of Object.values(r.tables)) expect(t.differing).toBe(0);
    }

    let progress = 0;
    const reports = await rebuildProjections(pool, store, pgs, { batchSize: 5, onProgress: (n) => (progress = n) });
    expect(progress).toBeGreaterThan(0);
    expect(reports.every((r) => r.switched)).toBe(true);
    const after = await Promise.all(pgs.map((p) => loadPgState(pool, p.name)));
    after.forEach((s, i) => {
      expect(s!.generation).toBe(before[i]!.generation + 1);
      expect(s!.position).toEqual(before[i]!.position);
    });
    expect(await snapshot()).toEqual(separately);

    // One rebuild per projection at a time, also across a multi-projection rebuild.
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const atGate = new Promise<void>((r) => (reached = r));
    const first = rebuildProjections(pool, store, pgs, { dryRun: true, beforeSwitch: () => { reached(); return gate; } });
    await atGate;
    await expect(rebuildProjection(pool, store, sessionsProjection, { dryRun: true })).rejects.toBeInstanceOf(RebuildInProgressError);
    release();
    expect((await first).every((r) => !r.switched)).toBe(true);
  });
});
