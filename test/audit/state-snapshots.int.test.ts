/**
 * Point-in-time state with snapshots: the answer is the same with and without them, at many
 * moments, for a user with a long history; snapshots are written only where it is safe.
 * On both adapters (EventStoreDB when EVENTSTORE_URL is set; skipped otherwise, with the reason
 * in its name): the snapshots are a PostgreSQL cache either way.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { streams } from '../../src/events/streams';
import { userStateAt, SNAPSHOT_EVERY } from '../../src/queries/audit/state';
import { rebuildAll } from '../../src/ops/event-log-cli';

const esdbUrl = process.env.EVENTSTORE_URL;
const adapters = [
  { name: 'PostgreSQL', label: 'auditsnap', overrides: {} as Record<string, string>, skip: false, postgres: true },
  {
    name: `EventStoreDB${esdbUrl ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
    label: 'auditsnapesdb',
    overrides: { EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: esdbUrl ?? '' },
    skip: !esdbUrl,
    postgres: false,
  },
];

for (const adapter of adapters) describe.skipIf(adapter.skip)(`state?at= with snapshots on ${adapter.name}`, () => {
  let t: TestServices;
  const userId = randomUUID();
  const base = Date.now() - 2 * 86400_000;
  const moments: Date[] = [];

  beforeAll(async () => {
    t = await testServices(adapter.label, adapter.overrides);
    const expires = new Date(Date.now() + 86400_000).toISOString();
    let ms = base;
    const next = () => new Date((ms += 1000));
    await t.store.appendToStream(streams.user(userId), [{ type: 'UserRegistered', data: { userId, email: 'snap@example.com', name: 'S', passwordHash: 'h', source: 'signup' } }], { createdAt: [next()] });
    // 30 sessions × 100 events; every 7th session still open at the end; one key in the middle.
    for (let s = 0; s < 30; s++) {
      const sessionId = randomUUID();
      const evs = [{ type: 'SessionStarted', data: { sessionId, userId, refreshTokenHash: 'h', expiresAt: expires, deviceName: `d${s}` } }];
      for (let i = 0; i < 98; i++) evs.push({ type: 'SessionRotated', data: { sessionId, userId, refreshTokenHash: `h${i}`, previousTokenHash: 'p' } as never });
      if (s % 7) evs.push({ type: 'SessionRevoked', data: { sessionId, userId, reason: 'logout' } as never });
      // Several events within one millisecond, as one append stores them.
      const created = evs.map((_, i) => (i % 3 === 0 ? next() : new Date(ms)));
      await t.store.appendToStream(streams.session(sessionId), evs, { createdAt: created });
      if (s === 12) {
        const keyId = randomUUID();
        await t.store.appendToStream(streams.apiKey(keyId), [{ type: 'ApiKeyIssued', data: { keyId, userId, name: 'k', prefix: 'alk_k', secretHash: 'x', features: '*', expiresAt: null } }], { createdAt: [next()] });
      }
      moments.push(new Date(ms + 500));
    }
    await rebuildAll(t.pool, t.store, [], { quiet: true });
  });
  afterAll(async () => t.close());

  it('gives the same answer with and without snapshots, and writes snapshots', async () => {
    const now = new Date();
    const plainEnd = await userStateAt(t.pool, t.store, userId, now, { snapshots: false });
    expect(plainEnd!.events_applied).toBeGreaterThan(2 * SNAPSHOT_EVERY);
    expect(plainEnd!.sessions.map((s) => s.device_name).sort()).toEqual(['d0', 'd14', 'd21', 'd28', 'd7']);
    // Rotations are read slim (ids only) but still move "last rotated".
    for (const s of plainEnd!.sessions) expect(Date.parse(s.last_rotated_at!)).toBeGreaterThan(Date.parse(s.since));
    // First call writes snapshots; later calls start from them.
    expect(await userStateAt(t.pool, t.store, userId, now)).toEqual(plainEnd);
    const { rows } = await t.pool.query('SELECT count(*)::int AS n FROM audit_snapshots WHERE user_id = $1', [userId]);
    expect(rows[0].n).toBeGreaterThanOrEqual(2);
    // EventStoreDB reads whole streams per call (no time window on the server): every 6th moment there.
    for (const at of adapter.postgres ? moments : moments.filter((_, i) => i % 6 === 0)) {
      const withSnap = await userStateAt(t.pool, t.store, userId, at);
      const without = await userStateAt(t.pool, t.store, userId, at, { snapshots: false });
      expect(withSnap, at.toISOString()).toEqual(without);
    }
  }, 120_000);

  it.skipIf(!adapter.postgres)('never cuts a snapshot where a running transaction could still add events', async () => {
    const other = randomUUID();
    await t.store.appendToStream(streams.user(other), [{ type: 'UserRegistered', data: { userId: other, email: 'o@example.com', name: 'O', passwordHash: 'h', source: 'signup' } }]);
    for (let i = 0; i < 3; i++) {
      await t.store.appendToStream(streams.user(other), Array.from({ length: 500 }, () => ({ type: 'RoleGranted', data: { userId: other, role: 'user' } })));
    }
    await userStateAt(t.pool, t.store, other, new Date());
    const { rows } = await t.pool.query('SELECT count(*)::int AS n FROM audit_snapshots WHERE user_id = $1', [other]);
    expect(rows[0].n).toBe(0); // these events are seconds old: inside the safety window
  });
});
