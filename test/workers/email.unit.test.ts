/** Pure parts of the e-mail work: token derivation, token-use decisions, routing, templates. */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { emailToken, emailTokenKey, hashEmailToken, parseEmailToken, tokenMatches } from '../../src/credentials/email-tokens';
import { decideReset, decideTokenUse, decideVerify } from '../../src/commands/email/decide';
import { initialUserState, type UserState } from '../../src/events/user';
import { evolveEmailToken, initialEmailTokenState, type EmailTokenState } from '../../src/events/email-token';
import { routeEvent } from '../../workers/jobs';
import { templates } from '../../workers/mail/templates';
import type { RecordedEvent } from '../../src/events/store';

const key = emailTokenKey({ PASSWORD_PEPPER: 'p'.repeat(40), DATA_DIR: '/tmp/unused' });
const now = new Date('2026-01-01T12:00:00Z');
const userId = randomUUID();
const tokenId = randomUUID();
const token = emailToken(key, 'verification', tokenId);
const user: UserState = { ...initialUserState(), exists: true, userId, email: 'a@example.test', name: 'A' };

function given(events: { type: string; data: unknown; createdAt?: Date; revision?: bigint }[]): EmailTokenState {
  return events.reduce(evolveEmailToken, initialEmailTokenState());
}
const requested = (over: Record<string, unknown> = {}) => ({
  type: 'EmailVerificationRequested',
  data: { tokenId, userId, email: 'a@example.test', tokenHash: hashEmailToken(token), expiresAt: '2026-01-02T00:00:00Z', reason: 'signup', ...over },
  revision: 0n,
});

describe('e-mail tokens', () => {
  it('are derived from the tokenId with the server key, parse back, and differ by kind', () => {
    expect(parseEmailToken(token)).toBe(tokenId);
    expect(emailToken(key, 'verification', tokenId)).toBe(token);
    expect(emailToken(key, 'reset', tokenId)).not.toBe(token);
    expect(emailToken(emailTokenKey({ PASSWORD_PEPPER: 'q'.repeat(40), DATA_DIR: '/tmp/unused' }), 'verification', tokenId)).not.toBe(token);
    expect(parseEmailToken('garbage')).toBeUndefined();
    expect(parseEmailToken(`${token}x`)).toBeUndefined();
    expect(tokenMatches(token, hashEmailToken(token))).toBe(true);
    expect(tokenMatches(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), hashEmailToken(token))).toBe(false);
  });
});

describe('deciding a token use (given / when / then)', () => {
  it('given a requested token, when the right token is presented, then it is spent and the address verified', () => {
    const use = decideTokenUse('verification', token, given([requested()]), user, now);
    expect(decideVerify(use, user)).toEqual({
      token: [{ type: 'EmailTokenConsumed', data: { tokenId, userId } }],
      user: [{ type: 'EmailVerified', data: { userId, email: 'a@example.test' } }],
    });
  });
  it('given an already verified user, then only the token is spent', () => {
    const use = decideTokenUse('verification', token, given([requested()]), { ...user, emailVerified: true }, now);
    expect(decideVerify(use, { ...user, emailVerified: true }).user).toEqual([]);
  });
  it('a reset carries the new hash and the token id', () => {
    const use = { tokenId, userId, email: 'a@example.test' };
    expect(decideReset(use, 'H').user).toEqual([{ type: 'PasswordReset', data: { userId, passwordHash: 'H', tokenId } }]);
  });
  const refusals: [string, () => unknown][] = [
    ['no such token', () => decideTokenUse('verification', token, given([]), user, now)],
    ['wrong token', () => decideTokenUse('verification', emailToken(key, 'verification', randomUUID()), given([requested()]), user, now)],
    ['consumed', () => decideTokenUse('verification', token, given([requested(), { type: 'EmailTokenConsumed', data: { tokenId, userId } }]), user, now)],
    ['expired', () => decideTokenUse('verification', token, given([requested({ expiresAt: '2026-01-01T11:59:59Z' })]), user, now)],
    ['address changed since', () => decideTokenUse('verification', token, given([requested()]), { ...user, email: 'b@example.test' }, now)],
    ['user deleted', () => decideTokenUse('verification', token, given([requested()]), { ...user, deleted: true }, now)],
    ['reset for a disabled user', () => decideTokenUse('reset', token, given([requested()]), { ...user, disabled: true }, now)],
  ];
  for (const [name, run] of refusals) {
    it(`refuses: ${name} → invalid_token`, () => {
      expect(run).toThrowError(expect.objectContaining({ code: 'invalid_token', status: 400 }));
    });
  }
});

describe('routing events to jobs', () => {
  const ev = (type: string, data: Record<string, unknown>): RecordedEvent => ({
    type, data, id: randomUUID(), position: { commit: 1n, prepare: 1n }, streamName: 's', revision: 0n, schemaVersion: 1, metadata: {}, createdAt: now,
  });
  it('derives job ids from event ids and picks the priority queue', () => {
    const e = ev('PasswordResetRequested', { userId, tokenId, email: 'a@x', expiresAt: 'z' });
    const [job] = routeEvent(e);
    expect(job).toMatchObject({ queue: 'high', name: 'mail', jobId: `mail-password-reset-${e.id}` });
    expect(JSON.stringify(job!.data)).not.toMatch(/tokenHash/);
    expect(routeEvent(ev('EmailVerificationRequested', { userId, tokenId }))[0]!.queue).toBe('default');
    expect(routeEvent(ev('UserRegistered', { userId, email: 'a@x', source: 'signup' }))[0]!.name).toBe('issue-verification');
    expect(routeEvent(ev('UserRegistered', { userId, email: 'a@x', source: 'bootstrap' }))).toEqual([]);
    for (const t of ['ApiKeyIssued', 'RefreshTokenReuseDetected', 'PasswordChanged', 'SessionStarted']) expect(routeEvent(ev(t, { userId }))[0]!.queue).toBe('high');
    expect(routeEvent(ev('FeatureRegistered', { name: 'x' }))).toEqual([]);
  });
});

describe('templates', () => {
  it('escape user input in HTML and put the token only in the link fragment', () => {
    const m = templates.verification({ baseUrl: 'https://auth.example', name: '<script>x</script>' }, { token, expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(m.html).not.toContain('<script>x');
    expect(m.html).toContain('&lt;script&gt;');
    expect(m.text).toContain(`https://auth.example/api/v1/auth/verify-email#token=${token}`);
    const n = templates.newDevice({ baseUrl: 'x' }, { when: 'now', userAgent: '"><img src=x>' });
    expect(n.html).not.toContain('<img src=x>');
  });
});
