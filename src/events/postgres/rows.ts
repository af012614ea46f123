/** The events table's row shape and its decoding, shared by the adapter's readers. */
import type { EventRegistry } from '../registry';
import type { Position, RecordedEvent } from '../store';

/** The LISTEN/NOTIFY channel appends are announced on. */
export const NOTIFY_CHANNEL = 'authledger_events';

/** The event columns as every reader selects them; `alias` qualifies them for joins (`e` → `e.position`). */
export function eventColumns(alias?: string): string {
  const a = alias ? `${alias}.` : '';
  return `${a}position::text AS prepare, ${a}transaction_id::text AS commit, ${a}stream_name, ${a}revision::text AS revision,
  ${a}event_id::text AS event_id, ${a}event_type, ${a}schema_version, ${a}data, ${a}metadata, ${a}created_at`;
}

export interface EventRow {
  prepare: string;
  commit: string;
  stream_name: string;
  revision: string;
  event_id: string;
  event_type: string;
  schema_version: number;
  /** null only in rows read by readTypedRows for a type the reader did not ask for. */
  data: unknown;
  metadata: Record<string, string>;
  created_at: Date;
}

export const rowPosition = (r: { commit: string; prepare: string }): Position => ({ commit: BigInt(r.commit), prepare: BigInt(r.prepare) });

/**
 * A stored row as a RecordedEvent: data upcast to the current version and validated, unless its
 * type is in `raw` (readers that only pass such data through, e.g. redacted audit views).
 */
export function decodeRow(registry: EventRegistry, r: EventRow, raw?: ReadonlySet<string>): RecordedEvent {
  return {
    position: rowPosition(r),
    streamName: r.stream_name,
    revision: BigInt(r.revision),
    id: r.event_id,
    type: r.event_type,
    schemaVersion: r.schema_version,
    data: raw?.has(r.event_type) ? r.data : registry.decode(r.event_type, r.schema_version, r.data),
    metadata: r.metadata ?? {},
    createdAt: r.created_at,
  };
}
