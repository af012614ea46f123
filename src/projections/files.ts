/**
 * Read model `files`: one row per live file (issue 15); a deleted file's row is removed. Also the
 * readers of the query routes and of the blob sweeper, so the columns are named in one module.
 */
import type pg from 'pg';
import type { PgProjection } from './types';
import { tableLayout } from './columns';
import { applyFold, type RowFold } from './fold';

type D = Record<string, unknown>;

export const filesTable = tableLayout(
  {
    file_id: 'text PRIMARY KEY',
    user_id: 'text NOT NULL',
    name: 'text NOT NULL',
    category: 'text NOT NULL',
    content_type: 'text NOT NULL',
    size: 'bigint NOT NULL',
    sha256: 'text NOT NULL',
    storage_key: 'text NOT NULL',
    created_at: 'timestamptz NOT NULL',
    revision: 'bigint NOT NULL',
  },
  {
    indexes: [
      'CREATE INDEX {{table}}_user_idx ON {{table}} (user_id, created_at DESC, file_id DESC)',
      'CREATE INDEX {{table}}_created_idx ON {{table}} (created_at DESC, file_id DESC)',
      'CREATE INDEX {{table}}_key_idx ON {{table}} (storage_key)',
    ],
  },
);

export const filesProjection: PgProjection = {
  kind: 'postgres',
  name: 'files',
  version: 1,
  handles: ['FileUploaded', 'FileDeleted'],
  tables: { files: filesTable.ddl },
  apply(events, ctx) {
    return applyFold(filesFold, events, ctx);
  },
};

/** FileUploaded inserts when absent; FileDeleted removes the row. */
const filesFold: RowFold = {
  table: 'files',
  key: 'file_id',
  columns: filesTable.columns,
  keyOf: (e) => (e.data as D).fileId as string | undefined,
  apply(row, e) {
    const d = e.data as D;
    if (e.type === 'FileUploaded') {
      if (row) return undefined;
      return {
        file_id: d.fileId, user_id: d.userId, name: d.name, category: d.category, content_type: d.contentType,
        size: BigInt(d.size as number), sha256: d.sha256, storage_key: d.storageKey, created_at: e.createdAt, revision: e.revision,
      };
    }
    if (e.type === 'FileDeleted') return row ? null : undefined;
    return undefined;
  },
};

export interface FileRow {
  file_id: string;
  user_id: string;
  name: string;
  category: 'images' | 'documents' | 'files';
  content_type: string;
  size: number;
  sha256: string;
  storage_key: string;
  created_at: Date;
}

const COLS = 'file_id, user_id, name, category, content_type, size::float8 AS size, sha256, storage_key, created_at';

export async function fileById(db: pg.Pool | pg.ClientBase, fileId: string): Promise<FileRow | undefined> {
  const { rows } = await db.query<FileRow>(`SELECT ${COLS} FROM files WHERE file_id = $1`, [fileId]);
  return rows[0];
}

/** The live files whose blob is `storageKey` (several only when one owner uploaded the same bytes twice). */
export async function filesByStorageKey(db: pg.Pool | pg.ClientBase, storageKey: string): Promise<FileRow[]> {
  const { rows } = await db.query<FileRow>(`SELECT ${COLS} FROM files WHERE storage_key = $1 ORDER BY created_at, file_id LIMIT 100`, [storageKey]);
  return rows;
}

export interface FileListQuery {
  userId?: string;
  category?: string;
  /** Newest first; the page after (created_at, file_id). */
  after?: { createdAt: string; fileId: string };
  limit: number;
}

export async function listFiles(db: pg.Pool | pg.ClientBase, q: FileListQuery): Promise<FileRow[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.userId) where.push(`user_id = $${args.push(q.userId)}`);
  if (q.category) where.push(`category = $${args.push(q.category)}`);
  if (q.after) where.push(`(created_at, file_id) < ($${args.push(q.after.createdAt)}::timestamptz, $${args.push(q.after.fileId)})`);
  const { rows } = await db.query<FileRow>(
    `SELECT ${COLS} FROM files ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, file_id DESC LIMIT $${args.push(q.limit)}`,
    args,
  );
  return rows;
}

/** Every blob key a live file claims (the sweeper keeps exactly these). */
export async function claimedStorageKeys(db: pg.Pool | pg.ClientBase): Promise<Set<string>> {
  const { rows } = await db.query<{ storage_key: string }>('SELECT DISTINCT storage_key FROM files');
  return new Set(rows.map((r) => r.storage_key));
}
