/**
 * Social sign-in errors: one class, stable codes, a kind (what went wrong, not how HTTP says it).
 * The edge (src/http/problem.ts after issue 18) maps kind → status; `status` below is the proposed
 * mapping, kept next to the code so the catalog merge is mechanical. `detail` is private: it may
 * name the provider's own error text, never a token or secret.
 */
import { AppError } from '../../errors';

export type OAuthErrorKind = 'validation' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'unavailable' | 'upstream';

export const OAUTH_ERRORS = {
  oauth_provider_unknown: { kind: 'not_found', status: 404, message: 'This sign-in provider is not configured.' },
  /** No transaction for this browser: expired, already used (replay), or never started here (login CSRF). */
  oauth_state_invalid: { kind: 'validation', status: 400, message: 'The sign-in attempt is unknown or has expired; start again.' },
  oauth_state_mismatch: { kind: 'validation', status: 400, message: 'The sign-in response does not belong to this attempt.' },
  oauth_access_denied: { kind: 'unauthorized', status: 401, message: 'The sign-in was cancelled at the provider.' },
  oauth_provider_error: { kind: 'upstream', status: 502, message: 'The sign-in provider answered with an error.' },
  oauth_invalid_grant: { kind: 'unauthorized', status: 401, message: 'The authorization code was refused by the provider.' },
  oauth_client_rejected: { kind: 'upstream', status: 502, message: 'The sign-in provider refused this server\'s credentials.' },
  oauth_id_token_invalid: { kind: 'unauthorized', status: 401, message: 'The provider\'s ID token is not valid for this sign-in.' },
  oauth_subject_mismatch: { kind: 'unauthorized', status: 401, message: 'The provider identified a different account.' },
  oauth_profile_invalid: { kind: 'upstream', status: 502, message: 'The provider\'s profile could not be read.' },
  oauth_token_rejected: { kind: 'unauthorized', status: 401, message: 'The provider no longer accepts this access token.' },
  oauth_refresh_unsupported: { kind: 'validation', status: 400, message: 'This provider issued no refresh token.' },
  oauth_refresh_rejected: { kind: 'unauthorized', status: 401, message: 'The provider refused the refresh token; link the account again.' },
  oauth_redirect_not_allowed: { kind: 'validation', status: 400, message: 'redirect_to is not an allowed destination.' },
  oauth_provider_unavailable: { kind: 'unavailable', status: 503, message: 'The sign-in provider cannot be reached; try again shortly.' },
  // Decider (decide.ts) refusals:
  oauth_link_required: { kind: 'conflict', status: 409, message: 'An account with this e-mail exists; sign in to it and link this provider.' },
  oauth_identity_taken: { kind: 'conflict', status: 409, message: 'This provider account is linked to another user.' },
  oauth_provider_already_linked: { kind: 'conflict', status: 409, message: 'Another account of this provider is already linked.' },
  oauth_identity_not_found: { kind: 'not_found', status: 404, message: 'No such linked identity.' },
  oauth_last_sign_in_method: { kind: 'conflict', status: 409, message: 'This is the last way to sign in to the account; set a password or link another provider first.' },
  oauth_account_unavailable: { kind: 'forbidden', status: 403, message: 'This account cannot sign in.' },
  /** Shared with issue 20 (e-mail / password changes): same code on purpose. */
  reauth_required: { kind: 'unauthorized', status: 401, message: 'Confirm your password or sign in again to do this.' },
} as const satisfies Record<string, { kind: OAuthErrorKind; status: number; message: string }>;

export type OAuthErrorCode = keyof typeof OAUTH_ERRORS;

/** An AppError (the one error type: src/http/problem.ts maps it to problem+json) with a kind. */
export class OAuthError extends AppError {
  /** The social sign-in class of failure; the catalog kind (`kind`) follows from the status. */
  readonly oauthKind: OAuthErrorKind;
  declare readonly code: OAuthErrorCode;
  constructor(code: OAuthErrorCode, opts: { detail?: string; cause?: unknown } = {}) {
    super(code, OAUTH_ERRORS[code].status, OAUTH_ERRORS[code].message, {
      detail: opts.detail, cause: opts.cause,
      ...(OAUTH_ERRORS[code].status === 401 ? { headers: { 'www-authenticate': 'Bearer' } } : {}),
    });
    this.name = 'OAuthError';
    this.oauthKind = OAUTH_ERRORS[code].kind;
  }
}

export const oauthError = (code: OAuthErrorCode, detail?: string, cause?: unknown) => new OAuthError(code, { detail, cause });
