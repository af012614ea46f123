/**
 * A user as of a moment, folded from the events up to it (pure: no I/O, `at` passed in).
 * Rules:
 * - before `UserRegistered` there is no user (`undefined`);
 * - a session is active from `SessionStarted` until revoked, expired, or past its absolute
 *   expiry; an API key from `ApiKeyIssued` until revoked, expired or past `expiresAt`;
 * - a disabled or deleted user has no active session or key and can reach no feature;
 * - a feature is reachable when it exists and is enabled at `at` and an active key covers it
 *   (by name or `*`);
 * - secrets never enter the state (no hashes are copied).
 */
import type { RecordedEvent } from '../../events/store';

export interface SessionAt {
  id: string;
  deviceName: string | null;
  ip: string | null;
  userAgent: string | null;
  startedAt: string;
  lastRotatedAt: string | null;
  rotations: number;
  expiresAt: string;
}

export interface ApiKeyAt {
  id: string;
  name: string;
  prefix: string;
  features: '*' | string[];
  issuedAt: string;
  expiresAt: string | null;
}

/** A second factor (issue 17): kind, name and dates only (never a secret, hash or key). */
export interface FactorAt {
  id: string;
  method: 'totp' | 'passkey' | 'recovery_code';
  name: string;
  addedAt: string;
  lastUsedAt: string | null;
}

/** A file the user owned at that moment (issue 15): metadata only, never the blob. */
export interface FileAt {
  id: string;
  name: string;
  category: string;
  contentType: string;
  size: number;
  sha256: string;
  uploadedAt: string;
}

export interface UserAt {
  userId: string;
  email: string;
  name: string;
  emailVerified: boolean;
  source: string;
  status: 'active' | 'disabled' | 'deleted';
  registeredAt: string;
  lockedUntil: string | null;
  roles: string[];
  sessions: Map<string, SessionAt>;
  apiKeys: Map<string, ApiKeyAt>;
  factors: FactorAt[];
  files: Map<string, FileAt>;
  eventsApplied: number;
  lastEventAt: string | null;
}

export interface FeatureAt {
  name: string;
  description: string;
  enabled: boolean;
}

/** Bump when the meaning of the fold changes: older snapshots are then ignored. */
export const FOLD_VERSION = 3; // 2: second factors (issue 17); 3: files (issue 15)

/**
 * Applies one event to the accumulated state (undefined before registration). Time-based ends
 * (expiry) are not applied here but by `viewAt`, so an accumulated state can be snapshotted
 * and continued later.
 */
export function applyEvent(u: UserAt | undefined, e: RecordedEvent): UserAt | undefined {
  const d = e.data as Record<string, unknown>;
  const when = e.createdAt.toISOString();
  if (e.type === 'UserRegistered') {
    u = {
      userId: String(d.userId),
      email: String(d.email),
      name: String(d.name),
      emailVerified: false,
      source: String(d.source ?? 'signup'),
      status: 'active',
      registeredAt: when,
      lockedUntil: null,
      roles: [],
      sessions: new Map(),
      apiKeys: new Map(),
      factors: [],
      files: new Map(),
      eventsApplied: 0,
      lastEventAt: null,
    };
  }
  if (!u) return u;
  u.eventsApplied++;
  u.lastEventAt = when;
  switch (e.type) {
    case 'UserProfileUpdated':
      if (typeof d.name === 'string') u.name = d.name;
      if (typeof d.email === 'string' && d.email !== u.email) {
        u.email = d.email;
        u.emailVerified = false;
      }
      break;
    case 'EmailVerified':
      if (d.email === undefined || d.email === u.email) u.emailVerified = true;
      break;
    case 'UserDisabled':
      u.status = 'disabled';
      break;
    case 'UserEnabled':
      if (u.status === 'disabled') u.status = 'active';
      break;
    case 'UserDeleted':
      u.status = 'deleted';
      break;
    case 'RoleGranted':
      if (!u.roles.includes(String(d.role))) u.roles.push(String(d.role));
      break;
    case 'RoleRevoked':
      u.roles = u.roles.filter((r) => r !== d.role);
      break;
    case 'AccountLocked':
      u.lockedUntil = String(d.until);
      break;
    case 'AccountUnlocked':
    case 'LoginFailuresCleared':
      u.lockedUntil = null;
      break;
    case 'SessionStarted':
      u.sessions.set(String(d.sessionId), {
        id: String(d.sessionId),
        deviceName: (d.deviceName as string | undefined) ?? null,
        ip: (d.ip as string | undefined) ?? e.metadata.ip ?? null,
        userAgent: (d.userAgent as string | undefined) ?? e.metadata.userAgent ?? null,
        startedAt: when,
        lastRotatedAt: null,
        rotations: 0,
        expiresAt: String(d.expiresAt),
      });
      break;
    case 'SessionRotated': {
      const s = u.sessions.get(String(d.sessionId));
      if (s) {
        s.lastRotatedAt = when;
        s.rotations++;
      }
      break;
    }
    case 'SessionRevoked':
    case 'SessionExpired':
    case 'RefreshTokenReuseDetected':
      // Reuse detection revokes the whole family (a SessionRevoked follows; be safe anyway).
      u.sessions.delete(String(d.sessionId));
      break;
    case 'ApiKeyIssued':
      u.apiKeys.set(String(d.keyId), {
        id: String(d.keyId),
        name: String(d.name),
        prefix: String(d.prefix),
        features: d.features as '*' | string[],
        issuedAt: when,
        expiresAt: (d.expiresAt as string | null) ?? null,
      });
      break;
    case 'ApiKeyRevoked':
    case 'ApiKeyExpired':
      u.apiKeys.delete(String(d.keyId));
      break;
    case 'TotpEnrolled':
    case 'PasskeyRegistered':
      u.factors = [...(u.factors ?? []).filter((f) => f.id !== d.factorId),
        { id: String(d.factorId), method: e.type === 'TotpEnrolled' ? 'totp' : 'passkey', name: String(d.name), addedAt: when, lastUsedAt: null }];
      break;
    case 'RecoveryCodesGenerated':
      u.factors = [...(u.factors ?? []).filter((f) => f.method !== 'recovery_code'),
        { id: String(d.setId), method: 'recovery_code', name: 'Recovery codes', addedAt: when, lastUsedAt: null }];
      break;
    case 'SecondFactorRemoved':
      u.factors = (u.factors ?? []).filter((f) => f.id !== d.factorId);
      break;
    case 'SecondFactorsReset':
      u.factors = [];
      break;
    case 'SecondFactorVerified':
      u.factors = (u.factors ?? []).map((f) => (f.id === d.factorId ? { ...f, lastUsedAt: when } : f));
      break;
    case 'FileUploaded':
      u.files.set(String(d.fileId), {
        id: String(d.fileId), name: String(d.name), category: String(d.category), contentType: String(d.contentType),
        size: Number(d.size), sha256: String(d.sha256), uploadedAt: when,
      });
      break;
    case 'FileDeleted':
      u.files.delete(String(d.fileId));
      break;
    default:
      break;
  }
  return u;
}

/** The accumulated state as seen at `at`: what had expired by then is gone (a copy). */
export function viewAt(acc: UserAt, at: Date): UserAt {
  const limit = at.getTime();
  const u: UserAt = { ...acc, roles: [...acc.roles], sessions: new Map(acc.sessions), apiKeys: new Map(acc.apiKeys), factors: (acc.factors ?? []).map((f) => ({ ...f })), files: new Map(acc.files) };
  for (const [id, s] of u.sessions) if (Date.parse(s.expiresAt) <= limit) u.sessions.delete(id);
  for (const [id, k] of u.apiKeys) if (k.expiresAt && Date.parse(k.expiresAt) <= limit) u.apiKeys.delete(id);
  if (u.lockedUntil && Date.parse(u.lockedUntil) <= limit) u.lockedUntil = null;
  if (u.status !== 'active') {
    u.sessions.clear();
    u.apiKeys.clear();
  }
  return u;
}

/** Folds the user's own events (in time order). Events after `at` are ignored. */
export function foldUser(events: Iterable<RecordedEvent>, at: Date): UserAt | undefined {
  let u: UserAt | undefined;
  const limit = at.getTime();
  for (const e of events) if (e.createdAt.getTime() <= limit) u = applyEvent(u, e);
  return u && viewAt(u, at);
}

/** JSON form of an accumulated state (for snapshots). */
export function serialize(u: UserAt): unknown {
  return { ...u, sessions: [...u.sessions.values()], apiKeys: [...u.apiKeys.values()], files: [...u.files.values()] };
}

export function deserialize(json: unknown): UserAt {
  const j = json as Omit<UserAt, 'sessions' | 'apiKeys' | 'files'> & { sessions: SessionAt[]; apiKeys: ApiKeyAt[]; files?: FileAt[] };
  return {
    ...j, roles: [...j.roles], sessions: new Map(j.sessions.map((s) => [s.id, { ...s }])), apiKeys: new Map(j.apiKeys.map((k) => [k.id, { ...k }])),
    factors: (j.factors ?? []).map((f) => ({ ...f })),
    files: new Map((j.files ?? []).map((f) => [f.id, { ...f }])),
  };
}

/** Folds feature events (log order) up to `at`: the features that exist then. */
export function foldFeatures(events: Iterable<RecordedEvent>, at: Date): Map<string, FeatureAt> {
  const out = new Map<string, FeatureAt>();
  const limit = at.getTime();
  for (const e of events) {
    if (e.createdAt.getTime() > limit) continue;
    const d = e.data as { name: string; description?: string };
    switch (e.type) {
      case 'FeatureRegistered':
        out.set(d.name, { name: d.name, description: d.description ?? '', enabled: true });
        break;
      case 'FeatureUpdated': {
        const f = out.get(d.name);
        if (f && d.description !== undefined) f.description = d.description;
        break;
      }
      case 'FeatureDisabled': {
        const f = out.get(d.name);
        if (f) f.enabled = false;
        break;
      }
      case 'FeatureEnabled': {
        const f = out.get(d.name);
        if (f) f.enabled = true;
        break;
      }
      case 'FeatureDeleted':
        out.delete(d.name);
        break;
      default:
        break;
    }
  }
  return out;
}

/** Features the user could reach at that moment through an active key. */
export function accessibleFeatures(user: UserAt, features: Map<string, FeatureAt>): string[] {
  if (user.status !== 'active') return [];
  const names = new Set<string>();
  for (const k of user.apiKeys.values()) {
    for (const f of features.values()) {
      if (f.enabled && (k.features === '*' || k.features.includes(f.name))) names.add(f.name);
    }
  }
  return [...names].sort();
}
