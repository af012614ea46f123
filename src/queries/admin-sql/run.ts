/**
 * Runs one checked statement as the browser role. Rules:
 * - a fresh connection as the role (role.ts), `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`,
 *   `SET LOCAL statement_timeout`, then ROLLBACK and the connection is closed;
 * - the statement is sent wrapped as a subquery (`SELECT * FROM (<sql>) q LIMIT n`) over the
 *   extended protocol, which PostgreSQL accepts for exactly one query: no second statement, no
 *   DML, whatever the check missed;
 * - limits are measured in the database: a first pass reads the size of each row
 *   (`pg_column_size`) of the first MAX_ROWS + 1, the second returns only the rows that fit in
 *   MAX_BYTES (same snapshot), so an oversized value never leaves PostgreSQL;
 * - a watchdog cancels the backend (as the owner) shortly after the timeout, and drops the
 *   connection if that does not end it, so no statement outlives its budget (even one that
 *   found a way to change its own statement_timeout);
 * - database errors of the statement are the caller's: 400 `sql_failed` with PostgreSQL's
 *   message and SQLSTATE, 400 `sql_timeout` on a cancel.
 */
import type pg from 'pg';
import type { Config } from '../../config';
import { domainError } from '../../errors';
import { connectAsBrowser } from './role';

export interface SqlColumn { name: string; type: string }
export interface SqlResult {
  columns: SqlColumn[];
  rows: unknown[][];
  row_count: number;
  truncated: null | 'rows' | 'bytes';
  elapsed_ms: number;
}

export interface SqlLimits { timeoutMs: number; maxRows: number; maxBytes: number }

export const limitsOf = (config: Config): SqlLimits => ({
  timeoutMs: config.READ_MODEL_SQL_TIMEOUT_MS, maxRows: config.READ_MODEL_SQL_MAX_ROWS, maxBytes: config.READ_MODEL_SQL_MAX_BYTES,
});

function asDomainError(err: unknown) {
  const e = err as { code?: string; message?: string };
  if (e.code === '57014') return domainError('sql_timeout', 'The statement was cancelled: it ran past the time limit.');
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    return domainError('sql_failed', `PostgreSQL refused the statement: ${e.message ?? 'error'}`, { extra: { sqlstate: e.code } });
  }
  return undefined;
}

/** A value as JSON can carry it (bytea as \x hex; dates as ISO text). */
function jsonValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  return v;
}

export async function runBrowserQuery(
  config: Config,
  owner: pg.Pool,
  sql: string,
  limits: SqlLimits,
): Promise<SqlResult> {
  const started = Date.now();
  let client: pg.Client;
  try {
    client = await connectAsBrowser(config);
  } catch (err) {
    throw domainError('read_model_browser_unavailable', 'The read-model browser cannot connect to the database.', { detail: (err as Error).message, cause: err });
  }
  const pid = (client as unknown as { processID?: number }).processID;
  let cancelled = false;
  const watchdog = setTimeout(() => {
    cancelled = true;
    if (pid) void owner.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    setTimeout(() => (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy(), 2000).unref();
  }, limits.timeoutMs + 500);
  watchdog.unref();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${Math.floor(limits.timeoutMs)}`);
    const sizes = await client.query<{ s: number | null }>({
      text: `SELECT pg_column_size(q.*) AS s FROM (SELECT * FROM (${sql}\n) q LIMIT ${limits.maxRows + 1}) q`,
      queryMode: 'extended',
    } as pg.QueryConfig);
    let fit = 0;
    let bytes = 0;
    for (const r of sizes.rows.slice(0, limits.maxRows)) {
      if (bytes + (r.s ?? 0) > limits.maxBytes) break;
      bytes += r.s ?? 0;
      fit++;
    }
    if (fit === 0 && sizes.rows.length > 0) {
      throw domainError('sql_row_too_large', `The first row is larger than the ${limits.maxBytes}-byte result limit.`);
    }
    const truncated = fit < Math.min(sizes.rows.length, limits.maxRows) ? 'bytes' : sizes.rows.length > limits.maxRows ? 'rows' : null;
    const result = await client.query({
      text: `SELECT * FROM (${sql}\n) q LIMIT ${fit}`,
      rowMode: 'array',
      queryMode: 'extended',
    } as pg.QueryConfig);
    const oids = [...new Set(result.fields.map((f) => f.dataTypeID))];
    const types = new Map<number, string>();
    if (oids.length) {
      const t = await client.query<{ oid: number; typname: string }>('SELECT oid::int AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])', [oids]);
      for (const r of t.rows) types.set(r.oid, r.typname);
    }
    await client.query('ROLLBACK');
    return {
      columns: result.fields.map((f) => ({ name: f.name, type: types.get(f.dataTypeID) ?? String(f.dataTypeID) })),
      rows: (result.rows as unknown as unknown[][]).map((row) => row.map(jsonValue)),
      row_count: result.rows.length,
      truncated,
      elapsed_ms: Date.now() - started,
    };
  } catch (err) {
    if (cancelled) throw domainError('sql_timeout', 'The statement was cancelled: it ran past the time limit.');
    throw asDomainError(err) ?? err;
  } finally {
    clearTimeout(watchdog);
    await client.end().catch(() => undefined);
  }
}
