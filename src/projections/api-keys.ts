/** Read model `api_keys`: one row per key ever issued (never the key, not even its hash). */
import type { PgProjection } from './types';
import { tableLayout } from './columns';
import { applyFold, older, type RowFold } from './fold';

type D = Record<string, unknown>;

export const apiKeysTable = tableLayout(
  {
    key_id: 'text PRIMARY KEY',
    user_id: 'text NOT NULL',
    name: 'text NOT NULL',
    prefix: 'text NOT NULL',
    features: 'jsonb NOT NULL',
    created_at: 'timestamptz NOT NULL',
    expires_at: 'timestamptz',
    revoked_at: 'timestamptz',
    revoke_reason: 'text',
    expired_at: 'timestamptz',
    status: 'text NOT NULL',
    revision: 'bigint NOT NULL',
  },
  { indexes: ['CREATE INDEX {{table}}_user_idx ON {{table}} (user_id, created_at, key_id)', 'CREATE INDEX {{table}}_created_idx ON {{table}} (created_at, key_id)'] },
);

export const apiKeysProjection: PgProjection = {
  kind: 'postgres',
  name: 'api_keys',
  version: 1,
  handles: ['ApiKeyIssued', 'ApiKeyRevoked', 'ApiKeyExpired'],
  tables: {
    api_keys: apiKeysTable.ddl,
  },
  apply(events, ctx) {
    return applyFold(apiKeysFold, events, ctx);
  },
};

/**
 * One batch at a time (see fold.ts): `ApiKeyIssued` inserts when absent; a revocation updates a
 * row whose revision is older; an expiry only an active one.
 */
const apiKeysFold: RowFold = {
  table: 'api_keys',
  key: 'key_id',
  columns: apiKeysTable.columns,
  keyOf: (e) => (e.data as D).keyId as string | undefined,
  apply(row, e) {
    const d = e.data as D;
    switch (e.type) {
      case 'ApiKeyIssued':
        if (row) return undefined;
        return {
          key_id: d.keyId, user_id: d.userId, name: d.name, prefix: d.prefix, features: JSON.stringify(d.features), created_at: e.createdAt,
          expires_at: d.expiresAt ?? null, revoked_at: null, revoke_reason: null, expired_at: null, status: 'active', revision: e.revision,
        };
      case 'ApiKeyRevoked':
        if (!row || !older(row, e)) return undefined;
        row.status = 'revoked';
        row.revoked_at = e.createdAt;
        row.revoke_reason = d.reason ?? null;
        break;
      case 'ApiKeyExpired':
        if (!row || !older(row, e) || row.status !== 'active') return undefined;
        row.status = 'expired';
        row.expired_at = e.createdAt;
        break;
      default:
        return undefined;
    }
    row.revision = e.revision;
    return row;
  },
};
