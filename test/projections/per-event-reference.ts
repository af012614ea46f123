/**
 * The per-event statements the identity, api_keys and features projections used before they
 * folded batches in memory (copied from commit 3802f5c): the reference the batched versions must
 * match row for row (test/projections/batching.int.test.ts).
 */
import type { RecordedEvent } from '../../src/events/store';
import { normaliseEmail } from '../../src/events/user';
import { byType, type PgProjectionContext } from '../../src/projections/types';

type D = Record<string, unknown>;
type F = { name: string; description?: string };

export async function usersPerEvent(events: RecordedEvent[], ctx: PgProjectionContext): Promise<void> {
  const t = ctx.table('users');
  for (const e of events) {
    const d = e.data as D;
    const rev = e.revision.toString();
    const at = e.createdAt;
    const update = async (set: string, params: unknown[] = []) => {
      await ctx.client.query(
        `UPDATE ${t} SET ${set ? `${set}, ` : ''}updated_at = $2, revision = $3 WHERE id = $1 AND revision < $3`,
        [d.userId, at, rev, ...params],
      );
    };
    switch (e.type) {
      case 'UserRegistered':
        await ctx.client.query(
          `INSERT INTO ${t} (id, email, email_normalized, name, source, created_at, updated_at, revision)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (id) DO NOTHING`,
          [d.userId, d.email, normaliseEmail(String(d.email)), d.name, d.source, at, rev],
        );
        break;
      case 'UserProfileUpdated':
        await update(
          `name = coalesce($4, name), email = coalesce($5, email), email_normalized = coalesce($6, email_normalized),
           email_verified = CASE WHEN $6::text IS NOT NULL AND $6 <> email_normalized THEN false ELSE email_verified END`,
          [d.name ?? null, d.email ?? null, typeof d.email === 'string' ? normaliseEmail(d.email) : null],
        );
        break;
      case 'EmailVerified':
        await update('email_verified = true');
        break;
      case 'PasswordChanged':
      case 'PasswordReset':
        await update('password_changed_at = $2, failed_logins = 0, locked_until = NULL');
        break;
      case 'UserDisabled':
        await update('disabled = true');
        break;
      case 'UserEnabled':
        await update('disabled = false');
        break;
      case 'UserDeleted':
        await update('deleted = true');
        break;
      case 'RoleGranted':
        await update('roles = array_append(array_remove(roles, $4::text), $4::text)', [d.role]);
        break;
      case 'RoleRevoked':
        await update('roles = array_remove(roles, $4::text)', [d.role]);
        break;
      case 'LoginFailed':
        await update('failed_logins = $4', [d.consecutiveFailures]);
        break;
      case 'AccountLocked':
        await update('locked_until = $4, failed_logins = $5', [d.until, d.failures]);
        break;
      case 'AccountUnlocked':
      case 'LoginFailuresCleared':
        await update('failed_logins = 0, locked_until = NULL');
        break;
      default:
        await update('');
    }
  }
}

export async function sessionsPerEvent(events: RecordedEvent[], ctx: PgProjectionContext): Promise<void> {
  const t = ctx.table('sessions');
  for (const e of events) {
    const d = e.data as D;
    const rev = e.revision.toString();
    const at = e.createdAt;
    switch (e.type) {
      case 'SessionStarted':
        await ctx.client.query(
          `INSERT INTO ${t} (id, user_id, device_name, ip, user_agent, last_ip, last_user_agent, status, created_at, expires_at, revision)
           VALUES ($1, $2, $3, $4, $5, $4, $5, 'active', $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
          [d.sessionId, d.userId, d.deviceName ?? null, d.ip ?? null, d.userAgent ?? null, d.startedAt ?? at, d.expiresAt, rev],
        );
        break;
      case 'SessionRotated':
        await ctx.client.query(
          `UPDATE ${t} SET last_rotated_at = $2, last_ip = $3, last_user_agent = $4, rotations = rotations + 1, revision = $5
            WHERE id = $1 AND revision < $5`,
          [d.sessionId, d.rotatedAt ?? at, d.ip ?? null, d.userAgent ?? null, rev],
        );
        break;
      case 'RefreshTokenReuseDetected':
        await ctx.client.query(`UPDATE ${t} SET reuse_detected_at = $2, revision = $3 WHERE id = $1 AND revision < $3`, [d.sessionId, at, rev]);
        break;
      case 'SessionRevoked':
      case 'SessionExpired':
        await ctx.client.query(
          `UPDATE ${t} SET status = $2, end_reason = $3, ended_at = $4, revision = $5 WHERE id = $1 AND revision < $5`,
          [d.sessionId, e.type === 'SessionRevoked' ? 'revoked' : 'expired', d.reason, at, rev],
        );
        break;
    }
  }
}

export const apiKeysPerEvent = byType<PgProjectionContext>({
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
});

export const featuresPerEvent = byType<PgProjectionContext>({
  async FeatureRegistered(e, { client, table }) {
    const d = e.data as F;
    await client.query(
      `INSERT INTO ${table('features')} (name, description, enabled, created_at, updated_at, revision) VALUES ($1, $2, true, $3, $3, $4)
       ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, enabled = true, created_at = EXCLUDED.created_at,
         updated_at = EXCLUDED.updated_at, revision = EXCLUDED.revision WHERE ${table('features')}.revision < EXCLUDED.revision`,
      [d.name, d.description ?? '', e.createdAt, e.revision.toString()],
    );
  },
  async FeatureUpdated(e, { client, table }) {
    const d = e.data as F;
    await client.query(`UPDATE ${table('features')} SET description = $2, updated_at = $3, revision = $4 WHERE name = $1 AND revision < $4`, [
      d.name, d.description ?? '', e.createdAt, e.revision.toString(),
    ]);
  },
  async FeatureDisabled(e, { client, table }) {
    await client.query(`UPDATE ${table('features')} SET enabled = false, updated_at = $2, revision = $3 WHERE name = $1 AND revision < $3`, [
      (e.data as F).name, e.createdAt, e.revision.toString(),
    ]);
  },
  async FeatureEnabled(e, { client, table }) {
    await client.query(`UPDATE ${table('features')} SET enabled = true, updated_at = $2, revision = $3 WHERE name = $1 AND revision < $3`, [
      (e.data as F).name, e.createdAt, e.revision.toString(),
    ]);
  },
  async FeatureDeleted(e, { client, table }) {
    await client.query(`DELETE FROM ${table('features')} WHERE name = $1 AND revision < $2`, [(e.data as F).name, e.revision.toString()]);
  },
});
