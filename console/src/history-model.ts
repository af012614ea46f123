/**
 * The pure part of "My history": event categories, one plain sentence per event, time buckets for
 * the chart, and the difference between two states (compare mode). No DOM, no fetch: unit-tested
 * in test/console/history-model.unit.test.ts.
 */

export interface AuditEvent {
  id: string;
  position: string;
  stream: string;
  revision: number;
  type: string;
  time: string;
  data: Record<string, unknown>;
  metadata: { ip: string | null; user_agent: string | null; request_id: string | null; actor_user_id: string | null };
}

export interface StateAt {
  user_id: string;
  at: string;
  profile: { email: string; name: string; email_verified: boolean; status: 'active' | 'disabled' | 'deleted'; source: string; registered_at: string; locked_until: string | null };
  roles: string[];
  sessions: Array<{ id: string; device_name: string | null; ip: string | null; user_agent: string | null; since: string; last_rotated_at: string | null; expires_at: string }>;
  api_keys: Array<{ id: string; name: string; prefix: string; features: '*' | string[]; issued_at: string; expires_at: string | null }>;
  features: string[];
  events_applied: number;
  last_event_at: string | null;
}

export interface Category { id: string; label: string; color: string }

export const CATEGORIES: Category[] = [
  { id: 'account', label: 'Account & profile', color: '#3b6fe0' },
  { id: 'sessions', label: 'Sign-ins & sessions', color: '#2f9e5b' },
  { id: 'security', label: 'Security', color: '#d0453a' },
  { id: 'keys', label: 'API keys', color: '#e0913b' },
  { id: 'roles', label: 'Roles & status', color: '#8a63d2' },
  { id: 'identities', label: 'Linked sign-ins', color: '#1f9bb3' },
  { id: 'other', label: 'Other', color: '#7a7a7a' },
];

const BY_TYPE: Record<string, string> = {
  UserRegistered: 'account', UserProfileUpdated: 'account', EmailVerified: 'account', EmailReserved: 'account', EmailReleased: 'account',
  EmailVerificationRequested: 'account', EmailTokenConsumed: 'account',
  SessionStarted: 'sessions', SessionRotated: 'sessions', SessionRevoked: 'sessions', SessionExpired: 'sessions', UserLoggedOut: 'sessions',
  LoginFailed: 'security', AccountLocked: 'security', AccountUnlocked: 'security', LoginFailuresCleared: 'security', PasswordChanged: 'security',
  PasswordReset: 'security', PasswordResetRequested: 'security', RefreshTokenReuseDetected: 'security', RefreshTokenRejected: 'security',
  RefreshFailureLimitReached: 'security', PasswordRehashed: 'security',
  ApiKeyIssued: 'keys', ApiKeyRevoked: 'keys', ApiKeyExpired: 'keys',
  RoleGranted: 'roles', RoleRevoked: 'roles', UserDisabled: 'roles', UserEnabled: 'roles', UserDeleted: 'roles',
  ExternalIdentityLinked: 'identities', ExternalIdentityUnlinked: 'identities', ExternalIdentityReserved: 'identities', ExternalIdentityReleased: 'identities',
  ProviderTokensStored: 'identities', ProviderTokensRefreshed: 'identities',
};

export function categoryOf(type: string): string {
  if (BY_TYPE[type]) return BY_TYPE[type]!;
  // Second factors (MFA events of later issues) are security facts.
  if (/mfa|totp|passkey|webauthn|recovery/i.test(type)) return 'security';
  return 'other';
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

const REVOKE_REASONS: Record<string, string> = {
  logout: 'signed out', logout_all: 'signed out everywhere', user_revoked: 'ended from the sessions page', password_changed: 'ended by a password change',
  password_reset: 'ended by a password reset', admin: 'ended by an administrator', reuse_detected: 'ended: a stolen refresh token was replayed',
  user_disabled: 'ended: the account was disabled', user_deleted: 'ended: the account was deleted',
};

/** Names of API keys by id, from their ApiKeyIssued events (so "revoked" can name the key). */
export function keyNames(events: AuditEvent[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of events) if (e.type === 'ApiKeyIssued' && typeof e.data.keyId === 'string' && typeof e.data.name === 'string') m.set(e.data.keyId, e.data.name);
  return m;
}

/** One plain sentence for an event (what a person would say happened). */
export function describe(e: AuditEvent, names: Map<string, string> = new Map()): string {
  const keyRef = (id: unknown) => (typeof id === 'string' && names.has(id) ? `“${names.get(id)}”` : str(id) ?? '');
  const d = e.data;
  const client = (d.client ?? d) as Record<string, unknown>;
  const where = str(client.ip) ?? e.metadata.ip ?? undefined;
  const from = where ? ` from ${where}` : '';
  switch (e.type) {
    case 'UserRegistered': return `Account created (${str(d.source) ?? 'signup'}) as ${str(d.email) ?? 'you'}`;
    case 'EmailVerified': return `E-mail address ${str(d.email) ?? ''} confirmed`.replace('  ', ' ');
    case 'EmailVerificationRequested': return `Confirmation link mailed to ${str(d.email) ?? 'you'}`;
    case 'PasswordResetRequested': return `Password-reset link mailed to ${str(d.email) ?? 'you'}`;
    case 'EmailTokenConsumed': return 'A mailed link was used';
    case 'UserProfileUpdated': {
      const parts = [str(d.name) && `name → “${d.name}”`, str(d.email) && `e-mail ${str(d.previousEmail) ? `${d.previousEmail} → ` : '→ '}${d.email}`].filter(Boolean);
      return `Profile changed${parts.length ? `: ${parts.join(', ')}` : ''}`;
    }
    case 'SessionStarted': return `Signed in${str(d.deviceName) ? ` on ${d.deviceName}` : ''}${from}${str(d.method) && d.method !== 'password' ? ` (${d.method})` : ''}`;
    case 'SessionRotated': return `Session renewed${from}`;
    case 'SessionRevoked': return `Session ${REVOKE_REASONS[str(d.reason) ?? ''] ?? `ended (${str(d.reason) ?? 'revoked'})`}`;
    case 'SessionExpired': return `Session expired (${str(d.reason) ?? 'idle'})`;
    case 'UserLoggedOut': return 'Signed out';
    case 'LoginFailed': return `Failed sign-in (${(str(d.reason) ?? 'bad_password').replace('_', ' ')})${from}`;
    case 'AccountLocked': return `Account locked after ${String(d.failures ?? 'several')} failed sign-ins`;
    case 'AccountUnlocked': return 'Account unlocked';
    case 'LoginFailuresCleared': return 'Failed sign-in count reset';
    case 'PasswordChanged': return 'Password changed';
    case 'PasswordReset': return 'Password reset with a mailed link';
    case 'PasswordRehashed': return 'Password hash upgraded';
    case 'RefreshTokenReuseDetected': return 'A used refresh token was presented again: session ended';
    case 'RefreshTokenRejected': return 'A wrong refresh token was presented';
    case 'RefreshFailureLimitReached': return 'Too many wrong refresh tokens: refresh paused';
    case 'ApiKeyIssued': {
      const f = d.features === '*' ? 'all features' : Array.isArray(d.features) ? d.features.join(', ') : '';
      return `API key “${str(d.name) ?? ''}” created${f ? ` for ${f}` : ''}`;
    }
    case 'ApiKeyRevoked': return `API key ${keyRef(d.keyId)} revoked`;
    case 'ApiKeyExpired': return `API key ${keyRef(d.keyId)} expired`;
    case 'RoleGranted': return `Role ${str(d.role) ?? ''} granted`;
    case 'RoleRevoked': return `Role ${str(d.role) ?? ''} revoked`;
    case 'UserDisabled': return `Account disabled${str(d.reason) ? `: ${d.reason}` : ''}`;
    case 'UserEnabled': return 'Account enabled again';
    case 'UserDeleted': return 'Account deleted';
    case 'ExternalIdentityLinked': return `${str(d.provider) ?? 'Provider'} sign-in linked${str(d.email) ? ` (${d.email})` : ''}`;
    case 'ExternalIdentityUnlinked': return `${str(d.provider) ?? 'Provider'} sign-in unlinked`;
    default: return e.type.replace(/([a-z])([A-Z])/g, '$1 $2');
  }
}

const MIN_BUCKETS = 24;
const STEPS = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86_400, 7 * 86_400, 30 * 86_400];

/** A bucket size (seconds) giving at most `maxBuckets` buckets over [from, to] (seconds). */
export function bucketSize(fromSec: number, toSec: number, maxBuckets = 48): number {
  const span = Math.max(1, toSec - fromSec);
  return STEPS.find((s) => span / s <= maxBuckets) ?? STEPS.at(-1)!;
}

export interface Buckets {
  size: number;
  /** Bucket starts (seconds). */
  x: number[];
  /** Counts per category id, aligned with x. */
  counts: Record<string, number[]>;
}

/** Counts of events per category per time bucket (the chart's data). */
export function bucketize(events: AuditEvent[], nowMs = Date.now()): Buckets {
  const first = events.length ? Date.parse(events[0]!.time) / 1000 : nowMs / 1000 - 3600;
  const last = Math.max(nowMs / 1000, events.length ? Date.parse(events.at(-1)!.time) / 1000 : 0);
  const size = bucketSize(first, last);
  // At least MIN_BUCKETS bars wide, ending now: a young account's first minutes are not one huge bar.
  const start = Math.min(Math.floor(first / size) * size, (Math.floor(last / size) - (MIN_BUCKETS - 1)) * size);
  const n = Math.floor((last - start) / size) + 1;
  const x = Array.from({ length: n }, (_, i) => start + i * size);
  const counts: Record<string, number[]> = Object.fromEntries(CATEGORIES.map((c) => [c.id, new Array<number>(n).fill(0)]));
  for (const e of events) {
    const i = Math.floor((Date.parse(e.time) / 1000 - start) / size);
    if (i >= 0 && i < n) counts[categoryOf(e.type)]![i]!++;
  }
  return { size, x, counts };
}

/** How many events happened at or before `iso` (events in log order). */
export function eventsUpTo(events: AuditEvent[], atMs: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Date.parse(events[mid]!.time) <= atMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface Change {
  area: 'profile' | 'roles' | 'sessions' | 'api_keys' | 'features';
  kind: 'added' | 'removed' | 'changed';
  label: string;
}

const PROFILE_FIELDS: Array<[keyof StateAt['profile'], string]> = [
  ['email', 'E-mail'], ['name', 'Name'], ['email_verified', 'E-mail confirmed'], ['status', 'Status'], ['locked_until', 'Locked until'],
];

/** What changed from state `a` to state `b` (either may be null: no account at that moment). */
export function diffStates(a: StateAt | null, b: StateAt | null): Change[] {
  const out: Change[] = [];
  if (!a && b) out.push({ area: 'profile', kind: 'added', label: `Account created (${b.profile.email})` });
  if (a && !b) out.push({ area: 'profile', kind: 'removed', label: 'No account at the second moment' });
  if (a && b) {
    for (const [k, label] of PROFILE_FIELDS) {
      if (a.profile[k] !== b.profile[k]) out.push({ area: 'profile', kind: 'changed', label: `${label}: ${fmt(a.profile[k])} → ${fmt(b.profile[k])}` });
    }
  }
  const set = <T,>(xs: T[] | undefined, key: (x: T) => string) => new Map((xs ?? []).map((x) => [key(x), x]));
  const compare = <T,>(area: Change['area'], xa: T[] | undefined, xb: T[] | undefined, key: (x: T) => string, name: (x: T) => string, verbs: [string, string]) => {
    const ma = set(xa, key);
    const mb = set(xb, key);
    for (const [k, x] of mb) if (!ma.has(k)) out.push({ area, kind: 'added', label: `${verbs[0]} ${name(x)}` });
    for (const [k, x] of ma) if (!mb.has(k)) out.push({ area, kind: 'removed', label: `${verbs[1]} ${name(x)}` });
  };
  compare('roles', a?.roles, b?.roles, (r) => r, (r) => r, ['Role granted:', 'Role removed:']);
  compare('sessions', a?.sessions, b?.sessions, (s) => s.id, (s) => `${s.device_name ?? 'a device'}${s.ip ? ` (${s.ip})` : ''}`, ['Session started:', 'Session ended:']);
  compare('api_keys', a?.api_keys, b?.api_keys, (k) => k.id, (k) => `“${k.name}” (${k.prefix}…)`, ['API key created:', 'API key gone:']);
  compare('features', a?.features, b?.features, (f) => f, (f) => f, ['Feature reachable:', 'Feature no longer reachable:']);
  return out;
}

const fmt = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));
