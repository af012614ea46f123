/**
 * Identity read models.
 * - `users` (PostgreSQL): one row per user, for listing, search and admin screens;
 * - `sessions` (PostgreSQL): one row per session (device login), for listing and audit;
 * - `session_state` (Redis): the session hashes the token checks read (src/projections/session-state.ts);
 * - `user_profiles` (Redis): the profile /me reads.
 * Rules: each row carries the stream revision it reflects; rows only move forward (an event at
 * or below the stored revision changes nothing), so the commands' inline Redis writes and these
 * projections agree in any order, and a replayed batch is a no-op.
 */
import { sessionEvents } from '../events/session';
import type { RecordedEvent } from '../events/store';
import { normaliseEmail, userEvents } from '../events/user';
import { sessionStateProjection, userProfilesProjection, type SessionStateConfig } from './session-state';
import type { PgProjection, Projection } from './types';
import { tableLayout } from './columns';
import { applyFold, older, type RowFold } from './fold';

const USER_TYPES = userEvents.map((d) => d.type).filter((t) => t !== 'EmailReserved' && t !== 'EmailReleased');
const SESSION_TYPES = sessionEvents.map((d) => d.type);

type D = Record<string, unknown>;

export const sessionsTable = tableLayout(
  {
    id: 'text PRIMARY KEY',
    user_id: 'text NOT NULL',
    device_name: 'text',
    ip: 'text',
    user_agent: 'text',
    last_ip: 'text',
    last_user_agent: 'text',
    status: 'text NOT NULL',
    end_reason: 'text',
    created_at: 'timestamptz NOT NULL',
    last_rotated_at: 'timestamptz',
    expires_at: 'timestamptz NOT NULL',
    ended_at: 'timestamptz',
    rotations: 'integer NOT NULL DEFAULT 0',
    reuse_detected_at: 'timestamptz',
    revision: 'bigint NOT NULL',
  },
  { indexes: ['CREATE INDEX ON {{table}} (user_id, status)'] },
);

export const usersTable = tableLayout(
  {
    id: 'text PRIMARY KEY',
    email: 'text NOT NULL',
    email_normalized: 'text NOT NULL',
    name: 'text NOT NULL',
    roles: 'text[] NOT NULL DEFAULT \'{user}\'',
    email_verified: 'boolean NOT NULL DEFAULT false',
    disabled: 'boolean NOT NULL DEFAULT false',
    deleted: 'boolean NOT NULL DEFAULT false',
    source: 'text NOT NULL',
    failed_logins: 'integer NOT NULL DEFAULT 0',
    locked_until: 'timestamptz',
    password_changed_at: 'timestamptz',
    created_at: 'timestamptz NOT NULL',
    updated_at: 'timestamptz NOT NULL',
    revision: 'bigint NOT NULL',
  },
  { indexes: ['CREATE INDEX ON {{table}} (email_normalized)', 'CREATE INDEX ON {{table}} (created_at, id)'] },
);

export const usersProjection: PgProjection = {
  kind: 'postgres',
  name: 'users',
  version: 1,
  handles: USER_TYPES,
  tables: {
    users: usersTable.ddl,
  },
  apply(events: RecordedEvent[], ctx) {
    return applyFold(usersFold, events, ctx);
  },
};

/**
 * `users`, one batch at a time (see fold.ts): the rules of the former per-event statements —
 * `UserRegistered` inserts when absent; every other event updates an existing row whose
 * revision is older, setting `updated_at` and `revision` besides its own fields.
 */
const usersFold: RowFold = {
  table: 'users',
  key: 'id',
  columns: usersTable.columns,
  keyOf: (e) => (e.data as D).userId as string | undefined,
  apply(row, e) {
    const d = e.data as D;
    const at = e.createdAt;
    if (e.type === 'UserRegistered') {
      if (row) return undefined;
      return {
        id: d.userId, email: d.email, email_normalized: normaliseEmail(String(d.email)), name: d.name, roles: ['user'],
        email_verified: false, disabled: false, deleted: false, source: d.source, failed_logins: 0, locked_until: null,
        password_changed_at: null, created_at: at, updated_at: at, revision: e.revision,
      };
    }
    if (!row || !older(row, e)) return undefined;
    switch (e.type) {
      case 'UserProfileUpdated': {
        const norm = typeof d.email === 'string' ? normaliseEmail(d.email) : null;
        // As in SQL, every right-hand side sees the row before this event.
        if (norm !== null && norm !== row.email_normalized) row.email_verified = false;
        if (d.name !== undefined && d.name !== null) row.name = d.name;
        if (d.email !== undefined && d.email !== null) row.email = d.email;
        if (norm !== null) row.email_normalized = norm;
        break;
      }
      case 'EmailVerified':
        row.email_verified = true;
        break;
      case 'PasswordChanged':
      case 'PasswordReset':
        row.password_changed_at = at;
        row.failed_logins = 0;
        row.locked_until = null;
        break;
      case 'UserDisabled':
        row.disabled = true;
        break;
      case 'UserEnabled':
        row.disabled = false;
        break;
      case 'UserDeleted':
        row.deleted = true;
        break;
      case 'RoleGranted':
        row.roles = [...(row.roles as string[]).filter((r) => r !== d.role), d.role];
        break;
      case 'RoleRevoked':
        row.roles = (row.roles as string[]).filter((r) => r !== d.role);
        break;
      case 'LoginFailed':
        row.failed_logins = d.consecutiveFailures;
        break;
      case 'AccountLocked':
        row.locked_until = d.until;
        row.failed_logins = d.failures;
        break;
      case 'AccountUnlocked':
      case 'LoginFailuresCleared':
        row.failed_logins = 0;
        row.locked_until = null;
        break;
    }
    row.updated_at = at;
    row.revision = e.revision;
    return row;
  },
};

export const sessionsProjection: PgProjection = {
  kind: 'postgres',
  name: 'sessions',
  version: 1,
  handles: SESSION_TYPES,
  tables: {
    sessions: sessionsTable.ddl,
  },
  apply(events: RecordedEvent[], ctx) {
    return applyFold(sessionsFold, events, ctx);
  },
};

/**
 * `sessions`, one batch at a time (see fold.ts): `SessionStarted` inserts when absent; rotation,
 * reuse detection and the end of a session update an existing row whose revision is older (the
 * last rotation wins; `rotations` counts them).
 */
const sessionsFold: RowFold = {
  table: 'sessions',
  key: 'id',
  columns: sessionsTable.columns,
  keyOf: (e) => (e.data as D).sessionId as string | undefined,
  apply(row, e) {
    const d = e.data as D;
    const at = e.createdAt;
    switch (e.type) {
      case 'SessionStarted':
        if (row) return undefined;
        return {
          id: d.sessionId, user_id: d.userId, device_name: d.deviceName ?? null, ip: d.ip ?? null, user_agent: d.userAgent ?? null,
          last_ip: d.ip ?? null, last_user_agent: d.userAgent ?? null, status: 'active', end_reason: null, created_at: d.startedAt ?? at,
          last_rotated_at: null, expires_at: d.expiresAt, ended_at: null, rotations: 0, reuse_detected_at: null, revision: e.revision,
        };
      case 'SessionRotated':
        if (!row || !older(row, e)) return undefined;
        row.last_rotated_at = d.rotatedAt ?? at;
        row.last_ip = d.ip ?? null;
        row.last_user_agent = d.userAgent ?? null;
        row.rotations = (row.rotations as number) + 1;
        break;
      case 'RefreshTokenReuseDetected':
        if (!row || !older(row, e)) return undefined;
        row.reuse_detected_at = at;
        break;
      case 'SessionRevoked':
      case 'SessionExpired':
        if (!row || !older(row, e)) return undefined;
        row.status = e.type === 'SessionRevoked' ? 'revoked' : 'expired';
        row.end_reason = d.reason ?? null;
        row.ended_at = at;
        break;
      default:
        return undefined;
    }
    row.revision = e.revision;
    return row;
  },
};

/** Every identity projection: the PostgreSQL tables here, the Redis state in session-state.ts. */
export const identityProjections = (config: SessionStateConfig): Projection[] => [
  usersProjection, sessionsProjection, sessionStateProjection(config), userProfilesProjection,
];
