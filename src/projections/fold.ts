/**
 * Batch folding for row-per-entity PostgreSQL projections: instead of one statement per event,
 * a batch is applied in three round trips at most:
 * 1. load the rows the batch touches (one `SELECT … WHERE key = ANY`);
 * 2. fold every event into those rows in memory, in log order, with exactly the rules the
 *    per-event statements had (revision guards, "insert if absent", increments, array edits);
 * 3. write the rows that changed with one multi-row upsert (`jsonb_to_recordset`), and delete
 *    the ones that went away with one `DELETE … WHERE key = ANY`.
 * Values the fold never inspects are carried opaquely: timestamps and jsonb are loaded as text
 * and written back as text, so a row that is written again keeps its exact stored values
 * (microseconds included). The projection's runner (or rebuild) is the only writer of its
 * tables, inside the checkpoint's transaction, so load-fold-write sees no concurrent change.
 */
import pg from 'pg';
import type { RecordedEvent } from '../events/store';
import type { PgProjectionContext } from './types';

import type { ColumnType } from './columns';
export type { ColumnType } from './columns';

/** A row in memory: bigint columns as bigint, timestamptz as Date or text, jsonb as JSON text. */
export type Row = Record<string, unknown>;

export interface RowFold {
  /** Base table name (the physical one comes from ctx.table). */
  table: string;
  /** Primary key column (text). */
  key: string;
  /** Every column of the table, key included, with its type (the table's `tableLayout(…).columns`). */
  columns: Record<string, ColumnType>;
  /** The row an event is about (undefined: the event touches no row). */
  keyOf(e: RecordedEvent): string | undefined;
  /**
   * Applies one event to the row's current state (null: no such row). Returns the new state —
   * a row (the same object, changed, or a new one) or null (deleted) — or undefined when the
   * event changes nothing. Must not mutate `row` when it returns undefined.
   */
  apply(row: Row | null, e: RecordedEvent): Row | null | undefined;
}

interface Slot {
  row: Row | null;
  existed: boolean;
  dirty: boolean;
}

export async function applyFold(fold: RowFold, events: RecordedEvent[], ctx: PgProjectionContext): Promise<void> {
  const keyed: { key: string; e: RecordedEvent }[] = [];
  const keys = new Set<string>();
  for (const e of events) {
    const key = fold.keyOf(e);
    if (typeof key !== 'string') continue;
    keyed.push({ key, e });
    keys.add(key);
  }
  if (!keyed.length) return;
  const t = pg.escapeIdentifier(ctx.table(fold.table));
  const cols = Object.entries(fold.columns);
  const keyCol = pg.escapeIdentifier(fold.key);

  // 1. Load.
  const select = cols
    .map(([c, type]) => (type === 'timestamptz' || type === 'jsonb' ? `${pg.escapeIdentifier(c)}::text AS ${pg.escapeIdentifier(c)}` : pg.escapeIdentifier(c)))
    .join(', ');
  const { rows } = await ctx.client.query<Row>(`SELECT ${select} FROM ${t} WHERE ${keyCol} = ANY($1::text[])`, [[...keys]]);
  const slots = new Map<string, Slot>();
  for (const r of rows) {
    for (const [c, type] of cols) if (type === 'bigint' && r[c] !== null) r[c] = BigInt(r[c] as string);
    slots.set(r[fold.key] as string, { row: r, existed: true, dirty: false });
  }

  // 2. Fold, in log order.
  for (const { key, e } of keyed) {
    let slot = slots.get(key);
    if (!slot) slots.set(key, (slot = { row: null, existed: false, dirty: false }));
    const next = fold.apply(slot.row, e);
    if (next === undefined) continue;
    slot.row = next;
    slot.dirty = true;
  }

  // 3. Write.
  const upserts: Record<string, unknown>[] = [];
  const deletes: string[] = [];
  for (const [key, s] of slots) {
    if (!s.dirty) continue;
    if (s.row) upserts.push(toJson(s.row, cols));
    else if (s.existed) deletes.push(key);
  }
  if (deletes.length) await ctx.write(`DELETE FROM ${t} WHERE ${keyCol} = ANY($1::text[])`, [deletes]);
  if (upserts.length) {
    const names = cols.map(([c]) => pg.escapeIdentifier(c));
    // timestamptz and jsonb travel as text (exact); everything else in its own type.
    const recordType = cols.map(([c, type]) => `${pg.escapeIdentifier(c)} ${type === 'timestamptz' || type === 'jsonb' ? 'text' : type}`).join(', ');
    const values = cols.map(([c, type]) => (type === 'timestamptz' || type === 'jsonb' ? `x.${pg.escapeIdentifier(c)}::${type}` : `x.${pg.escapeIdentifier(c)}`)).join(', ');
    const set = cols.filter(([c]) => c !== fold.key).map(([c]) => `${pg.escapeIdentifier(c)} = EXCLUDED.${pg.escapeIdentifier(c)}`).join(', ');
    await ctx.write(
      `INSERT INTO ${t} (${names.join(', ')}) SELECT ${values} FROM jsonb_to_recordset($1::jsonb) AS x(${recordType})
       ON CONFLICT (${keyCol}) DO UPDATE SET ${set}`,
      [JSON.stringify(upserts)],
    );
  }
}

function toJson(row: Row, cols: [string, ColumnType][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [c, type] of cols) {
    const v = row[c];
    if (v === undefined || v === null) o[c] = null;
    else if (type === 'bigint') o[c] = v.toString();
    else if (type === 'timestamptz') o[c] = v instanceof Date ? v.toISOString() : String(v);
    else o[c] = v;
  }
  return o;
}

/** Compares a stored revision (bigint) with an event's: the per-event statements' `revision < $rev`. */
export const older = (row: Row, e: RecordedEvent) => (row.revision as bigint) < e.revision;
