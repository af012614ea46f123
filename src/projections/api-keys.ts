/** Read model `api_keys`: one row per key ever issued (never the key, not even its hash). */
import type { PgProjection } from './types';
import { byType } from './types';
import type { PgProjectionContext } from './types';

type D = Record<string, unknown>;

export const apiKeysProjection: PgProjection = {
  kind: 'postgres',
  name: 'api_keys',
  version: 1,
  handles: ['ApiKeyIssued', 'ApiKeyRevoked', 'ApiKeyExpired'],
  tables: {
    api_keys: `CREATE TABLE {{table}} (
      key_id        text PRIMARY KEY,
      user_id       text NOT NULL,
      name          text NOT NULL,
      prefix        text NOT NULL,
      features      jsonb NOT NULL,
      created_at    timestamptz NOT NULL,
      expires_at    timestamptz,
      revoked_at    timestamptz,
      revoke_reason text,
      expired_at    timestamptz,
      status        text NOT NULL,
      revision      bigint NOT NULL
    );
    CREATE INDEX {{table}}_user_idx ON {{table}} (user_id, created_at, key_id);
    CREATE INDEX {{table}}_created_idx ON {{table}} (created_at, key_id);`,
  },
  apply: byType<PgProjectionContext>({
    async ApiKeyIssued(e, { client, table }) {
      const d = e.data as D;
      await client.query(
        `INSERT INTO ${table('api_keys')} (key_id, user_id, name, prefix, features, created_at, expires_at, status, revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8) ON CONFLICT (key_id) DO NOTHING`,
        [d.keyId, d.userId, d.name, d.prefix, JSON.stringify(d.features), e.createdAt, d.expiresAt ?? null, e.revision.toString()],
      );
    },
    async ApiKeyRevoked(e, { client, table }) {
      const d = e.data as D;
      await client.query(
        `UPDATE ${table('api_keys')} SET status = 'revoked', revoked_at = $2, revoke_reason = $3, revision = $4 WHERE key_id = $1 AND revision < $4`,
        [d.keyId, e.createdAt, d.reason ?? null, e.revision.toString()],
      );
    },
    async ApiKeyExpired(e, { client, table }) {
      const d = e.data as D;
      await client.query(
        `UPDATE ${table('api_keys')} SET status = 'expired', expired_at = $2, revision = $3 WHERE key_id = $1 AND revision < $3 AND status = 'active'`,
        [d.keyId, e.createdAt, e.revision.toString()],
      );
    },
  }),
};
