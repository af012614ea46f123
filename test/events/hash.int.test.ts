/**
 * The canonical encoding is the same on every adapter: `jsonbText` renders JSON exactly as
 * PostgreSQL renders `jsonb::text` (what `event_hash()` hashes), over the shapes events carry and
 * the awkward corners (key order by byte length, escapes, non-ASCII, exponents, nesting).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoToMicros, jsonbText, microsToIso } from '../../src/events/hash';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

describe('canonical hash encoding', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('esdbhash');
    pool = new pg.Pool({ connectionString: db.url, max: 1 });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const samples: unknown[] = [
    { userId: 'u-1', email: 'a@example.com', name: 'Ada', passwordHash: '$2b$04$abc', source: 'signup' },
    { b: 1, aa: 2, a: 3, ccc: [1, 2, { z: null, y: true }], é: 'ü', '': 0 },
    { text: 'line\nbreak\t"quoted" \\ back \u0001 ctl \u001f \u007f 😀 日本' },
    { n: 1.5, m: -0.25, big: 1e21, small: 1e-7, neg: -3e-10, int: 12345678901234, zero: 0, frac: 0.1 },
    [],
    {},
    { nested: { deeper: { deepest: [[], {}, [null]] } } },
    'plain',
    42,
    false,
    null,
  ];

  it('renders JSON as PostgreSQL renders jsonb', async () => {
    for (const s of samples) {
      const { rows } = await pool.query<{ t: string }>('SELECT ($1::text)::jsonb::text AS t', [JSON.stringify(s)]);
      expect(jsonbText(s), JSON.stringify(s)).toBe(rows[0]!.t);
    }
  });

  it('converts times to epoch microseconds and back, as PostgreSQL does', async () => {
    for (const t of ['2026-12-02T07:00:00Z', '2026-12-02T07:00:00.1Z', '2026-12-02T07:00:00.123456Z', '1999-01-01T00:00:00.000001Z']) {
      const { rows } = await pool.query<{ us: string }>(`SELECT ((extract(epoch FROM $1::timestamptz) * 1000000)::bigint)::text AS us`, [t]);
      expect(isoToMicros(t).toString(), t).toBe(rows[0]!.us);
    }
    expect(microsToIso(isoToMicros('2026-12-02T07:00:00.123456Z'))).toBe('2026-12-02T07:00:00.123456Z');
    expect(isoToMicros(new Date('2026-12-02T07:00:00.123Z'))).toBe(isoToMicros('2026-12-02T07:00:00.123Z'));
  });
});
