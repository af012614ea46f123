/**
 * Identity read models.
 * - `users` (PostgreSQL): one row per user, for listing, search and admin screens;
 * - `sessions` (PostgreSQL): one row per session (device login), for listing and audit;
 * - `session_state` (Redis): the session hashes the token checks read (src/infra/session-state.ts);
 * - `user_profiles` (Redis): the profile /me reads.
 * Rules: each row carries the stream revision it reflects; rows only move forward (an event at
 * or below the stored revision changes nothing), so the commands' inline Redis writes and these
 * projections agree in any order, and a replayed batch is a no-op.
 */
import { sessionEvents } from '../events/session';
import type { RecordedEvent } from '../events/store';
import { normaliseEmail, userEvents } from '../events/user';
import { queueApply, sessionEventEval, userEventEval } from '../infra/session-state';
import type { PgProjection, RedisProjection } from './types';

const USER_TYPES = userEvents.map((d) => d.type).filter((t) => t !== 'EmailReserved' && t !== 'EmailReleased');
const SESSION_TYPES = sessionEvents.map((d) => d.type);

type D = Record<string, unknown>;

export const usersProjection: PgProjection = {
  kind: 'postgres',
  name: 'users',
  version: 1,
  handles: USER_TYPES,
  tables: {
    users: `CREATE TABLE {{table}} (
      id                  text PRIMARY KEY,
      email               text NOT NULL,
      email_normalized    text NOT NULL,
      name                text NOT NULL,
      roles               text[] NOT NULL DEFAULT '{user}',
      email_verified      boolean NOT NULL DEFAULT false,
      disabled            boolean NOT NULL DEFAULT false,
      deleted             boolean NOT NULL DEFAULT false,
      source              text NOT NULL,
      failed_logins       integer NOT NULL DEFAULT 0,
      locked_until        timestamptz,
      password_changed_at timestamptz,
      created_at          timestamptz NOT NULL,
      updated_at          timestamptz NOT NULL,
      revision            bigint NOT NULL
    );
    CREATE INDEX ON {{table}} (email_normalized);
    CREATE INDEX ON {{table}} (created_at, id);`,
  },
  async apply(events: RecordedEvent[], ctx) {
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
  },
};

export const sessionsProjection: PgProjection = {
  kind: 'postgres',
  name: 'sessions',
  version: 1,
  handles: SESSION_TYPES,
  tables: {
    sessions: `CREATE TABLE {{table}} (
      id                text PRIMARY KEY,
      user_id           text NOT NULL,
      device_name       text,
      ip                text,
      user_agent        text,
      last_ip           text,
      last_user_agent   text,
      status            text NOT NULL,
      end_reason        text,
      created_at        timestamptz NOT NULL,
      last_rotated_at   timestamptz,
      expires_at        timestamptz NOT NULL,
      ended_at          timestamptz,
      rotations         integer NOT NULL DEFAULT 0,
      reuse_detected_at timestamptz,
      revision          bigint NOT NULL
    );
    CREATE INDEX ON {{table}} (user_id, status);`,
  },
  async apply(events: RecordedEvent[], ctx) {
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
  },
};

/** Upper bound of an access token's life for tombstones written by the projection (it has no config). */
const PROJECTION_TOMBSTONE_SECONDS = 86_400;

export const sessionStateProjection: RedisProjection = {
  kind: 'redis',
  name: 'session_state',
  handles: SESSION_TYPES,
  async apply(events, ctx) {
    const prefix = ctx.key('');
    for (const e of events) {
      queueApply(ctx.multi, sessionEventEval(prefix, { type: e.type, data: e.data as D, revision: e.revision, createdAt: e.createdAt }, { accessTokenTtl: PROJECTION_TOMBSTONE_SECONDS }));
    }
  },
};

export const userProfilesProjection: RedisProjection = {
  kind: 'redis',
  name: 'user_profiles',
  handles: USER_TYPES,
  async apply(events, ctx) {
    const prefix = ctx.key('');
    for (const e of events) {
      queueApply(ctx.multi, userEventEval(prefix, { type: e.type, data: e.data as D, revision: e.revision, createdAt: e.createdAt }));
    }
  },
};

export const identityProjections = [usersProjection, sessionsProjection, sessionStateProjection, userProfilesProjection];
