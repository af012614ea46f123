/**
 * Columns declared once (src/projections/columns.ts): every PostgreSQL read model's declaration —
 * which its DDL and its fold's column list are derived from — matches the live table the engine
 * created (information_schema: names in order, types, nullability), and every read-model table has one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { projectionsFor } from '../../src/projections/index';
import { ensureProjections, physicalTable } from '../../src/projections/tables';
import type { PgProjection } from '../../src/projections/types';
import type { ColumnType, TableLayout } from '../../src/projections/columns';
import { tableLayout } from '../../src/projections/columns';
import { apiKeysTable } from '../../src/projections/api-keys';
import { featuresTable } from '../../src/projections/features';
import { sessionsTable, usersTable } from '../../src/projections/identity';
import { userStreamsTable } from '../../src/projections/user-streams';
import { filesTable } from '../../src/projections/files';
import { servicesTable } from '../../src/projections/services';

const LAYOUTS: Record<string, TableLayout> = {
  api_keys: apiKeysTable, features: featuresTable, users: usersTable, sessions: sessionsTable, user_streams: userStreamsTable, files: filesTable, services: servicesTable,
};
const UDT: Record<string, ColumnType> = { text: 'text', _text: 'text[]', bool: 'boolean', int4: 'integer', int8: 'bigint', timestamptz: 'timestamptz', jsonb: 'jsonb' };

let s: TestServices;
let pg: PgProjection[];
beforeAll(async () => {
  s = await testServices('struct-columns');
  pg = projectionsFor(s.config).filter((p): p is PgProjection => p.kind === 'postgres');
  await ensureProjections(s.pool, pg);
});
afterAll(async () => s?.close());

describe('read-model columns, declared once', () => {
  it('every PostgreSQL read-model table has a declaration, and its DDL is the derived one', () => {
    const tables = pg.flatMap((p) => Object.entries(p.tables));
    expect(tables.map(([base]) => base).sort()).toEqual(Object.keys(LAYOUTS).sort());
    for (const [base, ddl] of tables) expect(ddl).toBe(LAYOUTS[base]!.ddl);
  });

  it('each declaration matches the live table (names in order, types, NOT NULL)', async () => {
    for (const p of pg) {
      const { rows: gen } = await s.pool.query<{ generation: number }>('SELECT generation FROM projections WHERE name = $1', [p.name]);
      for (const base of Object.keys(p.tables)) {
        const { rows } = await s.pool.query<{ column_name: string; udt_name: string; is_nullable: string }>(
          `SELECT column_name, udt_name, is_nullable FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
          [physicalTable(base, gen[0]!.generation)],
        );
        const live = rows.map((r) => [r.column_name, UDT[r.udt_name] ?? r.udt_name, r.is_nullable === 'NO']);
        const ddl = LAYOUTS[base]!.ddl;
        const declared = Object.entries(LAYOUTS[base]!.columns).map(([name, type]) => {
          const line = ddl.split('\n').find((l) => l.trim().startsWith(`${name} `))!;
          const pk = new RegExp(`PRIMARY KEY \\([^)]*\\b${name}\\b`).test(ddl);
          return [name, type, /NOT NULL|PRIMARY KEY/.test(line) || pk];
        });
        expect(live, base).toEqual(declared);
      }
    }
  });

  it('a declaration with an unknown type is refused when it is made', () => {
    expect(() => tableLayout({ id: 'uuid PRIMARY KEY' })).toThrow(/unknown type/);
    expect(tableLayout({ id: 'text PRIMARY KEY', n: 'integer NOT NULL DEFAULT 0' }, { indexes: ['CREATE INDEX ON {{table}} (n)'] })).toEqual({
      columns: { id: 'text', n: 'integer' },
      ddl: 'CREATE TABLE {{table}} (\n  id text PRIMARY KEY,\n  n integer NOT NULL DEFAULT 0\n);\nCREATE INDEX ON {{table}} (n)',
    });
  });
});
