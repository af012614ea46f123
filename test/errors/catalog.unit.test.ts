import { describe, expect, it } from 'vitest';
import { AppError, CATALOG, DomainError, SHARED_PUBLIC_CODES, domainError, errors, isOAuthError, oauthError, type ErrorCode } from '../../src/errors';
import { headersOf, problemBody, statusOf } from '../../src/http/problem';
import { STATUS_OF_KIND } from '../../src/http/status';

const codes = Object.keys(CATALOG) as ErrorCode[];

describe('the error catalog', () => {
  it('gives every public code to one entry (the pinned shared codes aside, each listed)', () => {
    const byPublic = new Map<string, string[]>();
    for (const c of codes) {
      const pub = (CATALOG[c] as { publicCode?: string }).publicCode ?? c;
      byPublic.set(pub, [...(byPublic.get(pub) ?? []), c]);
    }
    const shared = [...byPublic].filter(([, ids]) => ids.length > 1);
    expect(Object.fromEntries(shared.map(([pub, ids]) => [pub, [...ids].sort()]))).toEqual(
      Object.fromEntries(Object.entries(SHARED_PUBLIC_CODES).map(([pub, ids]) => [pub, [...ids].sort()])),
    );
  });

  it('a shared public code still means one kind per entry, and the entries differ in kind', () => {
    for (const ids of Object.values(SHARED_PUBLIC_CODES)) {
      const kinds = ids.map((id) => CATALOG[id].kind);
      expect(new Set(kinds).size).toBe(ids.length);
    }
  });

  it('every code maps to a status through its kind, and problem bodies carry the public code', () => {
    for (const c of codes) {
      const err = domainError(c, 'm');
      expect(err).toBeInstanceOf(DomainError);
      expect(statusOf(err)).toBe(STATUS_OF_KIND[CATALOG[c].kind]);
      expect(err.status).toBe(statusOf(err)); // the deprecated getter agrees with the edge
      const body = problemBody(err, '/x', 'rid');
      expect(body.code).toBe(err.code);
      expect(body.status).toBe(statusOf(err));
    }
  });

  it('the mailed-link refusal keeps its pinned pairing (invalid_token, 400), the access-token one (invalid_token, 401)', () => {
    expect([domainError('email_token_invalid', 'm').code, statusOf(domainError('email_token_invalid', 'm'))]).toEqual(['invalid_token', 400]);
    expect([domainError('invalid_token', 'm').code, statusOf(domainError('invalid_token', 'm'))]).toEqual(['invalid_token', 401]);
  });

  it('only the edge adds headers: WWW-Authenticate for unauthenticated, Retry-After from retryAfterSeconds', () => {
    expect(headersOf(errors.unauthorized())).toEqual({ 'www-authenticate': 'Bearer' });
    expect(headersOf(errors.tooManyRequests(2.2))).toEqual({ 'retry-after': '3' });
    expect(headersOf(errors.tooManyRequests(0))).toEqual({ 'retry-after': '1' });
    expect(headersOf(errors.unavailable('pg'))).toEqual({ 'retry-after': '1' });
    expect(headersOf(errors.notFound())).toEqual({});
    expect(errors.unauthorized().headers).toBeUndefined();
  });

  it('the legacy AppError(code, status, …) form still builds a domain error with that status', () => {
    const legacy = new AppError('conflict', 409, 'x');
    expect([legacy.kind, statusOf(legacy)]).toEqual(['conflict', 409]);
    const odd = new AppError('method_not_allowed', 405, 'x');
    expect(statusOf(odd)).toBe(405);
    expect(legacy).toBeInstanceOf(DomainError);
  });

  it('5xx bodies never carry the private detail', () => {
    const body = problemBody(errors.internal('secret table'), '/x', 'rid');
    expect(JSON.stringify(body)).not.toContain('secret table');
    expect(body).toMatchObject({ status: 500, code: 'internal_error' });
  });

  it('the social sign-in codes live in the catalog with their pinned statuses and messages', () => {
    const pinned: Record<string, number> = {
      oauth_provider_unknown: 404, oauth_state_invalid: 400, oauth_state_mismatch: 400, oauth_access_denied: 401,
      oauth_provider_error: 502, oauth_invalid_grant: 401, oauth_client_rejected: 502, oauth_id_token_invalid: 401,
      oauth_subject_mismatch: 401, oauth_profile_invalid: 502, oauth_token_rejected: 401, oauth_refresh_unsupported: 400,
      oauth_refresh_rejected: 401, oauth_redirect_not_allowed: 400, oauth_provider_unavailable: 503, oauth_link_required: 409,
      oauth_identity_taken: 409, oauth_provider_already_linked: 409, oauth_identity_not_found: 404,
      oauth_last_sign_in_method: 409, oauth_account_unavailable: 403, reauth_required: 401,
    };
    const withMessage = codes.filter((c) => typeof (CATALOG[c] as { message?: string }).message === 'string');
    expect(withMessage.sort()).toEqual(Object.keys(pinned).sort());
    for (const [code, status] of Object.entries(pinned)) {
      const err = oauthError(code as never, 'private');
      expect([err.code, statusOf(err), isOAuthError(err)]).toEqual([code, status, true]);
      expect(problemBody(err, '/x', 'rid').detail).toBe((CATALOG as Record<string, { message?: string }>)[code]!.message);
      expect(headersOf(err)['www-authenticate']).toBe(status === 401 ? 'Bearer' : undefined);
    }
    expect(isOAuthError(errors.notFound())).toBe(false);
  });
});
