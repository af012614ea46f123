/**
 * A read-model table's columns, declared once. Rules:
 * - each PostgreSQL read model declares its columns here-style (`name: 'type constraints'`); the
 *   table's DDL is derived from that declaration (`ddl`), and so is the fold's column list
 *   (`columns`: name → type), so the two cannot disagree;
 * - the first word of a declaration is its type (one of COLUMN_TYPES, checked when the module
 *   loads); the rest (NOT NULL, DEFAULT, PRIMARY KEY) goes into the DDL as written;
 * - test/projections/columns.int.test.ts checks every declaration against the live table
 *   (information_schema), so a hand edit of the DDL path cannot drift either.
 */
export const COLUMN_TYPES = ['text', 'text[]', 'boolean', 'integer', 'bigint', 'timestamptz', 'jsonb'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export interface TableLayout {
  /** Every column with its type, in declaration order. */
  columns: Record<string, ColumnType>;
  /** `CREATE TABLE {{table}} (…)` plus the indexes, with `{{table}}` where the physical name goes. */
  ddl: string;
}

export function tableLayout(decls: Record<string, string>, opts: { constraints?: string[]; indexes?: string[] } = {}): TableLayout {
  const columns: Record<string, ColumnType> = {};
  const lines: string[] = [];
  for (const [name, decl] of Object.entries(decls)) {
    const type = decl.trim().split(/\s+/)[0] as ColumnType;
    if (!COLUMN_TYPES.includes(type)) throw new Error(`column ${name}: unknown type in "${decl}"`);
    columns[name] = type;
    lines.push(`${name} ${decl.trim()}`);
  }
  lines.push(...(opts.constraints ?? []));
  const ddl = [`CREATE TABLE {{table}} (\n  ${lines.join(',\n  ')}\n)`, ...(opts.indexes ?? [])].join(';\n');
  return { columns, ddl };
}
