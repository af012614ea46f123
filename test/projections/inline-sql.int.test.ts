/**
 * inlineParams (src/projections/inline-sql.ts) against the real PostgreSQL: a statement with its
 * values inlined, sent over the simple protocol, returns exactly what the same statement returns
 * with the values as parameters (the extended protocol), for every kind of value the projections
 * write; a value holding `$1`, quotes or backslashes stays a value.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParams } from '../../src/projections/inline-sql';
import { PG_BASE } from '../helpers/db';

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

const SQL = `SELECT $1::text AS t, $2::text[] AS arr, $3::bigint[] AS big, $4::jsonb AS j, $5::timestamptz[] AS ts,
  $6::int AS n, $7::text AS nul, $8::bytea AS b, $9::text AS dollars, $2::text[] AS again`;
const VALUES = [
  "it's a \\ back'slash",
  ['a"b', 'c,d', null, '{x}', "q'uote"],
  ['9007199254740993', '-1'],
  JSON.stringify({ name: "O'Brien $1 \\n", nested: [1, 'x'] }),
  [new Date('2026-12-06T01:02:03.456Z').toISOString()],
  42,
  null,
  Buffer.from([0, 255, 39]),
  'costs $1 and $2; DROP TABLE x; --',
];

describe('inlineParams', () => {
  it('inlined over the simple protocol, a statement returns what it returns with parameters', async () => {
    const extended = await client.query(SQL, VALUES);
    const simple = await client.query(inlineParams(SQL, VALUES));
    expect(simple.rows).toEqual(extended.rows);
    expect(simple.rows[0].dollars).toBe('costs $1 and $2; DROP TABLE x; --');
    expect(simple.rows[0].arr).toEqual(['a"b', 'c,d', null, '{x}', "q'uote"]);
    expect(simple.rows[0].nul).toBeNull();
  });

  it('a placeholder without a value is an error, not an empty value', () => {
    expect(() => inlineParams('SELECT $1, $2', ['x'])).toThrow(/\$2/);
    expect(() => inlineParams('SELECT $0', ['x'])).toThrow(/\$0/);
  });
});
