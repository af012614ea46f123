/**
 * Issue 21, item 3: the Redis read models' revision guards skip stale FIELD writes, never
 * membership or creation facts. Every order of a stream's events, and every interleaving of a
 * replay from position 0 with the inline writes made after Redis was lost, ends equal (field by
 * field, set membership included) to applying the log once in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { RecordedEvent } from '../../src/events/store';
import { createInlineProjections } from '../../src/projections/inline';
import { REDIS_BASE, testRedisPrefix } from '../helpers/db';
import { testConfig } from '../helpers/app';

const config = testConfig();
const redis = new Redis(REDIS_BASE);
const base = testRedisPrefix('replay-order');
let run = 0;

const t0 = Date.parse('2026-01-01T00:00:00.000Z');
const future = new Date(Date.now() + 7 * 86400_000).toISOString();
const ev = (stream: string, type: string, revision: number, data: Record<string, unknown>): RecordedEvent =>
  ({ id: `${stream}-${revision}`, type, data, metadata: {}, streamName: stream, revision: BigInt(revision), position: { commit: BigInt(revision), prepare: 0n }, createdAt: new Date(t0 + revision * 1000), schemaVersion: 1 }) as unknown as RecordedEvent;

const sid = 's1';
const uid = 'u1';
const scenarios: Record<string, RecordedEvent[]> = {
  'session: started, rotated twice, revoked': [
    ev('session-s1', 'SessionStarted', 0, { sessionId: sid, userId: uid, refreshTokenHash: 'h0', expiresAt: future, deviceName: 'phone', ip: '10.0.0.1', userAgent: 'ua0' }),
    ev('session-s1', 'SessionRotated', 1, { sessionId: sid, userId: uid, refreshTokenHash: 'h1', previousTokenHash: 'h0', ip: '10.0.0.2', userAgent: 'ua1' }),
    ev('session-s1', 'SessionRotated', 2, { sessionId: sid, userId: uid, refreshTokenHash: 'h2', previousTokenHash: 'h1', ip: '10.0.0.3', userAgent: 'ua2' }),
    ev('session-s1', 'SessionRevoked', 3, { sessionId: sid, userId: uid, reason: 'logout' }),
  ],
  'session: started, rotated twice (still active)': [
    ev('session-s1', 'SessionStarted', 0, { sessionId: sid, userId: uid, refreshTokenHash: 'h0', expiresAt: future, deviceName: 'phone', ip: '10.0.0.1', userAgent: 'ua0' }),
    ev('session-s1', 'SessionRotated', 1, { sessionId: sid, userId: uid, refreshTokenHash: 'h1', previousTokenHash: 'h0', ip: '10.0.0.2', userAgent: 'ua1' }),
    ev('session-s1', 'SessionRotated', 2, { sessionId: sid, userId: uid, refreshTokenHash: 'h2', previousTokenHash: 'h1', ip: '10.0.0.3', userAgent: 'ua2' }),
  ],
  'user: registered, renamed, role granted, disabled, role revoked': [
    ev('user-u1', 'UserRegistered', 0, { userId: uid, email: 'a@example.com', name: 'A', source: 'signup' }),
    ev('user-u1', 'UserProfileUpdated', 1, { userId: uid, name: 'B', email: 'b@example.com' }),
    ev('user-u1', 'RoleGranted', 2, { userId: uid, role: 'admin' }),
    ev('user-u1', 'UserDisabled', 3, { userId: uid }),
    ev('user-u1', 'RoleRevoked', 4, { userId: uid, role: 'admin' }),
  ],
  'api key: issued, revoked': [
    ev('apikey-k1', 'ApiKeyIssued', 0, { keyId: 'k1', userId: uid, secretHash: 'x'.repeat(64), features: ['f1'], expiresAt: null }),
    ev('apikey-k1', 'ApiKeyRevoked', 1, { keyId: 'k1', userId: uid }),
  ],
  'feature: registered, disabled, enabled, disabled': [
    ev('feature-f1', 'FeatureRegistered', 0, { name: 'f1' }),
    ev('feature-f1', 'FeatureDisabled', 1, { name: 'f1' }),
    ev('feature-f1', 'FeatureEnabled', 2, { name: 'f1' }),
    ev('feature-f1', 'FeatureDisabled', 3, { name: 'f1' }),
  ],
};

const inline = createInlineProjections(config);

async function apply(prefix: string, e: RecordedEvent): Promise<void> {
  for (const p of inline.projections) {
    if (p.handles.includes(e.type)) await p.applyInline({ config, redis, prefix, inline }, [e]);
  }
}

/** Every key under the prefix: hashes without `appliedAt` (the arrival clock, bookkeeping), sets sorted. */
async function snapshot(prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys(`${prefix}*`)).sort()) {
    const type = await redis.type(key);
    if (type === 'hash') {
      const h = await redis.hgetall(key);
      delete h.appliedAt;
      out[key.slice(prefix.length)] = h;
    } else if (type === 'set') out[key.slice(prefix.length)] = (await redis.smembers(key)).sort();
  }
  return out;
}

async function applyAll(events: RecordedEvent[]): Promise<Record<string, unknown>> {
  const prefix = `${base}${run++}:`;
  for (const e of events) await apply(prefix, e);
  const snap = await snapshot(prefix);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  return snap;
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** Every merge of two sequences keeping each one's order. */
function interleavings<T>(a: T[], b: T[]): T[][] {
  if (!a.length) return [b];
  if (!b.length) return [a];
  return [...interleavings(a.slice(1), b).map((r) => [a[0]!, ...r]), ...interleavings(a, b.slice(1)).map((r) => [b[0]!, ...r])];
}

beforeAll(async () => {
  await redis.ping();
});
afterAll(async () => {
  const keys = await redis.keys(`${base}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('Redis read models converge whatever the order', () => {
  for (const [name, events] of Object.entries(scenarios)) {
    it(`${name}: every permutation equals the log order`, { timeout: 180_000 }, async () => {
      const expected = await applyAll(events);
      expect(Object.keys(expected).length).toBeGreaterThan(0);
      let checked = 0;
      for (const order of permutations(events)) {
        expect(await applyAll(order), order.map((e) => `${e.type}@${e.revision}`).join(' ')).toEqual(expected);
        checked++;
      }
      expect(checked).toBe(permutations(events).length);
    });

    it(`${name}: a replay from 0 interleaved with the inline writes after a loss equals the log order`, { timeout: 180_000 }, async () => {
      const expected = await applyAll(events);
      let checked = 0;
      for (let lostAfter = 0; lostAfter < events.length; lostAfter++) {
        // Redis came back empty after event `lostAfter - 1`: later events are written inline, the projector replays all.
        const inline = events.slice(lostAfter);
        for (const order of interleavings(inline, events)) {
          expect(await applyAll(order), `lost after ${lostAfter}: ${order.map((e) => `${e.type}@${e.revision}`).join(' ')}`).toEqual(expected);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(events.length);
    });
  }

  it('a replayed SessionStarted behind an inline refresh still lists the session', async () => {
    const [started, rotated] = scenarios['session: started, rotated twice (still active)']!;
    const prefix = `${base}${run++}:`;
    await apply(prefix, rotated!); // inline refresh right after Redis came back empty
    expect(await redis.smembers(`${prefix}user-sessions:${uid}`)).toEqual([]);
    await apply(prefix, started!); // the projector's replay from position 0
    expect(await redis.smembers(`${prefix}user-sessions:${uid}`)).toEqual([sid]);
    const h = await redis.hgetall(`${prefix}session:${sid}`);
    expect(h).toMatchObject({ status: 'active', tokenHash: 'h1', deviceName: 'phone', startedAt: new Date(t0).toISOString(), rev: '1' });
  });
});
