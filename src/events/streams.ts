import { createHash } from 'node:crypto';

/**
 * The key of a (provider, subject) reservation: subjects are opaque and may be long or contain any
 * character, so the stream carries a digest.
 */
export function subjectKey(provider: string, sub: string): string {
  return `${provider}:${createHash('sha256').update(`${provider}\n${sub}`).digest('base64url').slice(0, 32)}`;
}

/** The one place stream names are made and parsed. Never type a stream name inline. */
export const streams = {
  user: (userId: string) => `user-${userId}`,
  session: (sessionId: string) => `session-${sessionId}`,
  /** Reservation of a normalised e-mail (uniqueness on the write path: appended with no_stream). */
  emailReservation: (normalisedEmail: string) => `email-${normalisedEmail}`,
  apiKey: (keyId: string) => `apikey-${keyId}`,
  feature: (name: string) => `feature-${name}`,
  /** Login failures and lockouts per normalised login name (also for unknown accounts, so nothing leaks). */
  loginGuard: (normalisedLogin: string) => `loginguard-${normalisedLogin}`,
  /** Foreign refresh secrets presented for a session (kept off the session's own stream: a guess changes nothing there). */
  refreshGuard: (sessionId: string) => `refreshguard-${sessionId}`,
  verification: (tokenId: string) => `verification-${tokenId}`,
  passwordReset: (tokenId: string) => `passwordreset-${tokenId}`,
  /** Reservation of a (provider, subject) pair: uniqueness of external identities (issue 13). */
  externalIdentity: (provider: string, sub: string) => `extid-${subjectKey(provider, sub)}`,
  /** Encrypted provider tokens of one linked identity (ciphertext only). */
  providerTokens: (identityId: string) => `providertokens-${identityId}`,
  /** Who may be in a realtime group (issue 20 §8). */
  realtimeGroup: (group: string) => `rtgroup-${group}`,
  /** Which user a realtime client id belongs to. */
  realtimeClient: (clientId: string) => `rtclient-${clientId}`,
  /** An admin's saved read-model browser queries (issue 16). */
  savedQueries: (userId: string) => `savedqueries-${userId}`,
  /** One owner's files: uploads and deletions, quota and dedupe decided here (issue 15). */
  userFiles: (userId: string) => `files-${userId}`,
  /** One share link of a file (created, and used when single-use). */
  fileLink: (linkId: string) => `filelink-${linkId}`,
  /** A user's second factors and their uses (issue 17). */
  mfa: (userId: string) => `mfa-${userId}`,
  /** A gateway service's registration and upstream health (issue 14). */
  service: (name: string) => `service-${name}`,
} as const;

export type StreamCategory = keyof typeof streams;

/** `user-123` → `{ category: 'user', id: '123' }`. */
export function parseStream(name: string): { category: string; id: string } {
  const i = name.indexOf('-');
  return i < 0 ? { category: name, id: '' } : { category: name.slice(0, i), id: name.slice(i + 1) };
}
