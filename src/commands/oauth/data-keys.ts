/**
 * The key table of crypto-shredding (docs/oauth.md): wrapped data keys, one per (user, scope),
 * kept OUTSIDE the append-only log. Rules enforced here:
 * - the table holds only wrapped keys (`alk1.`); the server key ring stays in process memory;
 * - a key is created before any ciphertext under it is appended (`ensure` is idempotent per
 *   (user, scope), so a retried link reuses its key);
 * - shredding is a DELETE of the rows (unlink: one scope; user deletion: every scope), idempotent;
 *   nothing can bring a deleted key back — it is not a projection and is never rebuilt;
 * - a row unwraps only for the user and scope it was made for (AAD, envelope.ts).
 * The table is created by migrations/1732200060000_user-data-keys.sql.
 */
import type pg from 'pg';
import { EnvelopeError, newDataKey, rewrapDataKey, unwrapDataKey, wrapDataKey, type DataKey, type ServerKeyRing } from '../../credentials/envelope';

type Db = Pick<pg.Pool, 'query'>;
interface Row {
  key_id: string;
  user_id: string;
  scope: string;
  wrapped_key: string;
}

export interface DataKeyStore {
  /** The data key of (user, scope), created when missing. */
  ensure(userId: string, scope: string): Promise<DataKey>;
  /** The data key a ciphertext names, when it still exists and belongs to this user. */
  load(keyId: string, userId: string): Promise<DataKey | undefined>;
  shredScope(userId: string, scope: string): Promise<number>;
  shredUser(userId: string): Promise<number>;
  /**
   * Re-wraps every key not wrapped by the ring's current key (server-key rotation). Rows wrapped
   * by a key the ring does not hold are left alone and counted: drop an old key only at 0.
   */
  rewrapAll(): Promise<{ rewrapped: number; unknownServerKey: number }>;
}

/** Shreds every data key of a user (needs no server key: it only deletes rows). Idempotent. */
export async function shredUserDataKeys(db: Db, userId: string): Promise<number> {
  return (await db.query('DELETE FROM user_data_keys WHERE user_id = $1', [userId])).rowCount ?? 0;
}

export function dataKeyStore(db: Db, ring: ServerKeyRing): DataKeyStore {
  const unwrap = (r: Row) => unwrapDataKey(ring, { dataKeyId: r.key_id, userId: r.user_id, scope: r.scope, wrapped: r.wrapped_key });
  return {
    async ensure(userId, scope) {
      const fresh = wrapDataKey(ring, newDataKey(), { userId, scope });
      await db.query(
        `INSERT INTO user_data_keys (key_id, user_id, scope, wrapped_key, server_key_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, scope) DO NOTHING`,
        [fresh.dataKeyId, userId, scope, fresh.wrapped, ring.wrapping.id],
      );
      const { rows } = await db.query<Row>('SELECT key_id, user_id, scope, wrapped_key FROM user_data_keys WHERE user_id = $1 AND scope = $2', [userId, scope]);
      return unwrap(rows[0]!);
    },
    async load(keyId, userId) {
      const { rows } = await db.query<Row>('SELECT key_id, user_id, scope, wrapped_key FROM user_data_keys WHERE key_id = $1 AND user_id = $2', [keyId, userId]);
      return rows[0] ? unwrap(rows[0]) : undefined;
    },
    async shredScope(userId, scope) {
      return (await db.query('DELETE FROM user_data_keys WHERE user_id = $1 AND scope = $2', [userId, scope])).rowCount ?? 0;
    },
    shredUser: (userId) => shredUserDataKeys(db, userId),
    async rewrapAll() {
      const { rows } = await db.query<Row>('SELECT key_id, user_id, scope, wrapped_key FROM user_data_keys WHERE server_key_id <> $1', [ring.wrapping.id]);
      let n = 0;
      let unknown = 0;
      for (const r of rows) {
        let again;
        try {
          again = rewrapDataKey(ring, { dataKeyId: r.key_id, userId: r.user_id, scope: r.scope, wrapped: r.wrapped_key });
        } catch (err) {
          if (err instanceof EnvelopeError && err.code === 'envelope_server_key_unknown') {
            unknown++;
            continue;
          }
          throw err;
        }
        // Compare-and-set on the old wrapping: a concurrent shred or rewrap wins.
        const res = await db.query('UPDATE user_data_keys SET wrapped_key = $1, server_key_id = $2 WHERE key_id = $3 AND wrapped_key = $4', [again.wrapped, ring.wrapping.id, r.key_id, r.wrapped_key]);
        n += res.rowCount ?? 0;
      }
      return { rewrapped: n, unknownServerKey: unknown };
    },
  };
}
