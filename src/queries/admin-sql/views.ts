/**
 * The read-model views as the browser role sees them: columns, row count, a few sample rows.
 * Read through the role itself (one READ ONLY connection), so the list shows exactly what the SQL
 * box can read — a relation the role may not read is not listed.
 */
import type { Config } from '../../config';
import { domainError } from '../../errors';
import { browsableRelations, connectAsBrowser } from './role';

export interface ViewInfo {
  name: string;
  columns: { name: string; type: string }[];
  row_count: number;
  sample: unknown[][];
}

const SAMPLE_ROWS = 5;

export async function listViews(config: Config): Promise<ViewInfo[]> {
  let client;
  try {
    client = await connectAsBrowser(config);
  } catch (err) {
    throw domainError('read_model_browser_unavailable', 'The read-model browser cannot connect to the database.', { detail: (err as Error).message, cause: err });
  }
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${Math.floor(config.READ_MODEL_SQL_TIMEOUT_MS)}`);
    const readable = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname = ANY($1) AND has_table_privilege(c.oid, 'SELECT') ORDER BY c.relname`,
      [browsableRelations()],
    );
    const out: ViewInfo[] = [];
    for (const { name } of readable.rows) {
      const cols = await client.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [name],
      );
      const ident = `"${name.replaceAll('"', '""')}"`;
      const count = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${ident}`);
      const sample = await client.query({ text: `SELECT * FROM ${ident} LIMIT ${SAMPLE_ROWS}`, rowMode: 'array' });
      out.push({
        name,
        columns: cols.rows,
        row_count: Number(count.rows[0]!.n),
        sample: (sample.rows as unknown as unknown[][]).map((r) => r.map((v) => (v instanceof Date ? v.toISOString() : v))),
      });
    }
    await client.query('ROLLBACK');
    return out;
  } finally {
    await client.end().catch(() => undefined);
  }
}
