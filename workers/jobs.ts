/**
 * Which jobs an event gives rise to: the one routing table from the event log to the queues.
 * Rules:
 * - a job's id is derived from the id of the event that caused it (`<job name>-<event id>`), so
 *   enqueuing the same event twice (replay, restart, a second consumer) adds nothing;
 * - job data never holds a secret: mailed tokens are rebuilt by the worker from their tokenId;
 * - priorities: security notices, password resets and e-mail changes `high`, verification `default`, bulk `low`.
 */
import type { RecordedEvent } from '../src/events/store';
import type { QueueName } from './queues';

export type MailKind = 'verification' | 'password-reset' | 'new-device' | 'api-key-created' | 'refresh-reuse' | 'password-changed'
  | 'email-change-confirm' | 'email-change-notice' | 'email-changed' | 'email-changed-new'
  | 'mfa-changed';

export interface MailJobData {
  kind: MailKind;
  userId: string;
  /** The event that caused the mail; also the mail's idempotency key. */
  eventId: string;
  eventAt: string;
  /** Address fixed by the event (token mails); notices go to the user's current address. */
  to?: string;
  tokenId?: string;
  expiresAt?: string;
  ip?: string;
  userAgent?: string;
  deviceName?: string;
  keyName?: string;
  keyPrefix?: string;
  sessionId?: string;
  viaReset?: boolean;
  /** E-mail change notices: the new address, and whether an admin (not the user) changed it. */
  newEmail?: string;
  byAdmin?: boolean;
  /** mfa-changed (issue 17): what happened to which kind of factor. */
  mfaChange?: 'added' | 'removed' | 'reset' | 'recovery-used';
  factorKind?: string;
  factorName?: string;
  remaining?: number;
}

export interface IssueVerificationJobData {
  userId: string;
  email: string;
  eventId: string;
  reason: 'signup' | 'admin' | 'email_changed';
}

export type JobSpec =
  | { queue: QueueName; name: 'mail'; jobId: string; data: MailJobData }
  | { queue: QueueName; name: 'issue-verification'; jobId: string; data: IssueVerificationJobData };

/** Event types the consumer reads (and `routeEvent` maps to jobs). */
export const ROUTED_EVENTS = [
  'UserRegistered', 'UserProfileUpdated', 'EmailVerificationRequested', 'PasswordResetRequested', 'SessionStarted',
  'ApiKeyIssued', 'RefreshTokenReuseDetected', 'PasswordChanged', 'PasswordReset', 'EmailChangeRequested',
  'TotpEnrolled', 'PasskeyRegistered', 'SecondFactorRemoved', 'SecondFactorsReset', 'SecondFactorVerified',
] as const;

type D = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export const jobIdFor = (name: string, eventId: string) => `${name}-${eventId}`;

function mail(queue: QueueName, kind: MailKind, e: RecordedEvent, extra: Partial<MailJobData> = {}): JobSpec {
  const d = e.data as D;
  return {
    queue,
    name: 'mail',
    jobId: jobIdFor(`mail-${kind}`, e.id),
    data: { kind, userId: String(d.userId), eventId: e.id, eventAt: e.createdAt.toISOString(), ...extra },
  };
}

/**
 * A changed address (issue 20 §2): the old address is always told; when someone other than the
 * user (an admin) changed it, the new one is told too (its verification mail follows separately).
 */
function emailChangedNotices(e: RecordedEvent, newEmail: string): JobSpec[] {
  const d = e.data as D;
  const actor = e.metadata.actorUserId;
  const byAdmin = actor !== undefined && actor !== d.userId;
  const previous = str(d.previousEmail);
  return [
    ...(previous ? [mail('high', 'email-changed', e, { to: previous, newEmail, byAdmin })] : []),
    ...(byAdmin ? [mail('high', 'email-changed-new', e, { to: newEmail, newEmail, byAdmin })] : []),
  ];
}

export function routeEvent(e: RecordedEvent): JobSpec[] {
  const d = e.data as D;
  switch (e.type) {
    case 'UserRegistered':
      // Bootstrap admins and imports are trusted addresses: no verification mail.
      if (d.source !== 'signup' && d.source !== 'admin') return [];
      return [{
        queue: 'default', name: 'issue-verification', jobId: jobIdFor('issue-verification', e.id),
        data: { userId: String(d.userId), email: String(d.email), eventId: e.id, reason: d.source === 'admin' ? 'admin' : 'signup' },
      }];
    case 'UserProfileUpdated':
      // A new address must be verified again.
      if (typeof d.email !== 'string' || d.email === d.previousEmail) return [];
      return [
        { queue: 'default', name: 'issue-verification', jobId: jobIdFor('issue-verification', e.id), data: { userId: String(d.userId), email: d.email, eventId: e.id, reason: 'email_changed' } },
        ...emailChangedNotices(e, d.email),
      ];
    case 'EmailChangeRequested':
      // The new address confirms; the old one is told, with a link that cancels and signs out everywhere.
      return [
        mail('high', 'email-change-confirm', e, { to: str(d.email), tokenId: str(d.requestId), expiresAt: str(d.expiresAt) }),
        mail('high', 'email-change-notice', e, { to: str(d.previousEmail), tokenId: str(d.requestId), newEmail: str(d.email), expiresAt: str(d.cancelUntil), ip: e.metadata.ip, userAgent: e.metadata.userAgent }),
      ];
    case 'EmailVerificationRequested':
      return [mail('default', 'verification', e, { to: str(d.email), tokenId: str(d.tokenId), expiresAt: str(d.expiresAt) })];
    case 'PasswordResetRequested':
      return [mail('high', 'password-reset', e, { to: str(d.email), tokenId: str(d.tokenId), expiresAt: str(d.expiresAt) })];
    case 'SessionStarted':
      return [mail('high', 'new-device', e, { sessionId: str(d.sessionId), ip: str(d.ip), userAgent: str(d.userAgent), deviceName: str(d.deviceName) })];
    case 'ApiKeyIssued':
      return [mail('high', 'api-key-created', e, { keyName: str(d.name), keyPrefix: str(d.prefix), ip: e.metadata.ip, userAgent: e.metadata.userAgent })];
    case 'RefreshTokenReuseDetected': {
      const presenter = (d.presenter ?? {}) as D;
      return [mail('high', 'refresh-reuse', e, { sessionId: str(d.sessionId), ip: str(presenter.ip), userAgent: str(presenter.userAgent) })];
    }
    case 'PasswordChanged':
      return [mail('high', 'password-changed', e, { ip: e.metadata.ip, userAgent: e.metadata.userAgent })];
    case 'PasswordReset':
      return [mail('high', 'password-changed', e, { viaReset: true, ip: e.metadata.ip, userAgent: e.metadata.userAgent })];
    // Security notices of issue 17: a factor added or removed, an admin reset, a recovery code used.
    case 'TotpEnrolled':
      return [mail('high', 'mfa-changed', e, { mfaChange: 'added', factorKind: 'authenticator app', factorName: str(d.name), ip: e.metadata.ip })];
    case 'PasskeyRegistered':
      return [mail('high', 'mfa-changed', e, { mfaChange: 'added', factorKind: 'passkey', factorName: str(d.name), ip: e.metadata.ip })];
    case 'SecondFactorRemoved':
      // Recovery codes removed with the last factor are part of that removal's notice.
      if (d.method === 'recovery_code') return [];
      return [mail('high', 'mfa-changed', e, { mfaChange: 'removed', factorKind: d.method === 'totp' ? 'authenticator app' : 'passkey', ip: e.metadata.ip })];
    case 'SecondFactorsReset':
      return [mail('high', 'mfa-changed', e, { mfaChange: 'reset', ip: e.metadata.ip })];
    case 'SecondFactorVerified':
      if (d.method !== 'recovery_code') return [];
      return [mail('high', 'mfa-changed', e, { mfaChange: 'recovery-used', remaining: typeof d.remainingRecoveryCodes === 'number' ? d.remainingRecoveryCodes : undefined, ip: str(d.ip) ?? e.metadata.ip })];
    default:
      return [];
  }
}
