/**
 * The error catalog: every error a client can see, as a transport-free domain error. Rules:
 * - an error says *what* went wrong: a `kind` (the class of failure) and a stable `code` from
 *   CATALOG below; codes are unique across the project (test/errors/catalog.unit.test.ts checks it);
 * - nothing here knows HTTP: only src/http/problem.ts maps a kind to a status and adds the headers
 *   (Retry-After from `retryAfterSeconds`, WWW-Authenticate for `unauthenticated`);
 * - `message` is public; `detail` is private (logged, never sent) — 5xx bodies carry only a generic message;
 * - `fields` lists offending input fields for validation errors; `extra` adds public members to 4xx bodies.
 * Throw `domainError(code, message?)` or one of the `errors.*` factories (kept for every call site).
 */

import { STATUS_OF_KIND } from './http/status';

export interface FieldError {
  field: string;
  message: string;
}

/** The classes of failure (ZITADEL's zerrors kinds). src/http/problem.ts gives each its status. */
export type ErrorKind =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'too_large'
  | 'unsupported_media_type'
  | 'resource_exhausted'
  | 'unavailable'
  /** A dependency we called (e.g. a sign-in provider) answered with an error or nonsense. */
  | 'upstream'
  /** A dependency we proxy to did not answer in time (the gateway: 504). */
  | 'upstream_timeout'
  | 'internal';

interface Entry {
  kind: ErrorKind;
  /**
   * The code clients see, when a pinned contract gave this error a code another entry also
   * uses (listed in SHARED_PUBLIC_CODES). The entry's key stays the unique code inside the project.
   */
  publicCode?: string;
  /** The default public message, for codes thrown from many places with one wording (social sign-in). */
  message?: string;
}

/** Every code, once. Add yours here (one line, in its block). */
export const CATALOG = {
  // generic (the factories' defaults and the edge)
  validation_failed: { kind: 'invalid_argument' },
  bad_request: { kind: 'invalid_argument' },
  invalid_json: { kind: 'invalid_argument' },
  bad_content_length: { kind: 'invalid_argument' },
  bad_url: { kind: 'invalid_argument' },
  body_too_large: { kind: 'too_large' },
  unsupported_media_type: { kind: 'unsupported_media_type' },
  unauthorized: { kind: 'unauthenticated' },
  forbidden: { kind: 'permission_denied' },
  not_found: { kind: 'not_found' },
  route_not_found: { kind: 'not_found' },
  conflict: { kind: 'conflict' },
  already_exists: { kind: 'conflict' },
  concurrent_modification: { kind: 'conflict' },
  precondition_failed: { kind: 'precondition_failed' },
  invalid_if_match: { kind: 'invalid_argument' },
  invalid_cursor: { kind: 'invalid_argument' },
  invalid_log_position: { kind: 'invalid_argument' },
  rate_limited: { kind: 'resource_exhausted' },
  service_unavailable: { kind: 'unavailable' },
  projection_behind: { kind: 'unavailable' },
  console_not_built: { kind: 'unavailable' },
  internal_error: { kind: 'internal' },

  // identity: credentials, sessions, tokens
  invalid_credentials: { kind: 'unauthenticated' },
  invalid_token: { kind: 'unauthenticated' },
  invalid_refresh_token: { kind: 'unauthenticated' },
  session_ended: { kind: 'unauthenticated' },
  session_exists: { kind: 'conflict' },
  session_not_found: { kind: 'not_found' },
  login_locked: { kind: 'resource_exhausted' },
  refresh_failures_exceeded: { kind: 'resource_exhausted' },
  weak_password: { kind: 'invalid_argument' },
  password_check_unavailable: { kind: 'unavailable' },
  wrong_password: { kind: 'permission_denied' },
  account_disabled: { kind: 'permission_denied' },
  admin_required: { kind: 'permission_denied' },

  // users
  user_exists: { kind: 'conflict' },
  user_not_found: { kind: 'not_found' },
  email_taken: { kind: 'conflict' },
  role_not_revocable: { kind: 'invalid_argument' },
  cannot_target_self: { kind: 'conflict' },
  last_admin: { kind: 'conflict' },
  admin_bootstrap_conflict: { kind: 'conflict' },

  // mailed tokens (verification, reset)
  already_verified: { kind: 'conflict' },
  email_token_invalid: { kind: 'invalid_argument', publicCode: 'invalid_token' },

  // API keys and features
  api_key_missing: { kind: 'unauthenticated' },
  api_key_invalid: { kind: 'unauthenticated' },
  api_key_expired: { kind: 'unauthenticated' },
  api_key_revoked: { kind: 'unauthenticated' },
  api_key_exists: { kind: 'conflict' },
  api_key_not_found: { kind: 'not_found' },
  api_key_in_url: { kind: 'invalid_argument' },
  access_denied: { kind: 'permission_denied' },
  feature_exists: { kind: 'conflict' },
  feature_not_found: { kind: 'not_found' },

  // the gateway (issue 14): registry and proxy
  service_exists: { kind: 'conflict' },
  service_not_found: { kind: 'not_found' },
  service_name_reserved: { kind: 'invalid_argument' },
  no_healthy_upstream: { kind: 'unavailable' },
  upstream_failed: { kind: 'upstream' },
  upstream_timeout: { kind: 'upstream_timeout' },
  role_required: { kind: 'permission_denied' },

  // audit
  audit_forbidden: { kind: 'permission_denied' },

  // read-model browser (issue 16): refused statements, failed statements, saved queries
  sql_refused: { kind: 'invalid_argument' },
  sql_failed: { kind: 'invalid_argument' },
  sql_timeout: { kind: 'invalid_argument' },
  sql_row_too_large: { kind: 'invalid_argument' },
  read_model_browser_unavailable: { kind: 'unavailable' },
  saved_query_not_found: { kind: 'not_found' },
  saved_queries_full: { kind: 'conflict' },

  // file uploads (issue 15)
  content_mismatch: { kind: 'unsupported_media_type' },
  file_too_large: { kind: 'too_large' },
  too_many_files: { kind: 'too_large' },
  quota_exceeded: { kind: 'too_large' },
  upload_empty: { kind: 'invalid_argument' },
  file_not_found: { kind: 'not_found' },
  file_link_invalid: { kind: 'not_found' },

  // the http edge (issue 20)
  cross_origin_request: { kind: 'permission_denied' },
  client_closed_request: { kind: 'invalid_argument' },
  credentials_in_url: { kind: 'invalid_argument' },
  client_auth_required: { kind: 'unauthenticated' },
  introspect_scope_required: { kind: 'permission_denied' },
  identities_token_scope_required: { kind: 'permission_denied' },
  not_token_holder: { kind: 'permission_denied' },
  metrics_token_required: { kind: 'unauthenticated' },

  // realtime
  shutting_down: { kind: 'unavailable' },
  origin_not_allowed: { kind: 'permission_denied' },
  bad_client_id: { kind: 'invalid_argument' },
  bad_group: { kind: 'invalid_argument' },
  bad_subprotocol: { kind: 'invalid_argument' },
  invalid_ticket: { kind: 'unauthenticated' },
  bearer_not_supported: { kind: 'unauthenticated' },
  ticket_required: { kind: 'unauthenticated' },
  client_id_taken: { kind: 'permission_denied' },
  client_not_connected: { kind: 'not_found' },
  group_not_found: { kind: 'not_found' },
  not_a_member: { kind: 'permission_denied' },
  group_private: { kind: 'permission_denied' },
  group_exists: { kind: 'conflict' },
  client_id_not_yours: { kind: 'permission_denied' },
  client_id_not_claimed: { kind: 'not_found' },

  // social sign-in (src/commands/oauth): `oauthError(code, detail?)` uses the message below.
  // `detail` is private: it may name the provider's own error text, never a token or secret.
  oauth_provider_unknown: { kind: 'not_found', message: 'This sign-in provider is not configured.' },
  /** No transaction for this browser: expired, already used (replay), or never started here (login CSRF). */
  oauth_state_invalid: { kind: 'invalid_argument', message: 'The sign-in attempt is unknown or has expired; start again.' },
  oauth_state_mismatch: { kind: 'invalid_argument', message: 'The sign-in response does not belong to this attempt.' },
  oauth_access_denied: { kind: 'unauthenticated', message: 'The sign-in was cancelled at the provider.' },
  oauth_provider_error: { kind: 'upstream', message: 'The sign-in provider answered with an error.' },
  oauth_invalid_grant: { kind: 'unauthenticated', message: 'The authorization code was refused by the provider.' },
  oauth_client_rejected: { kind: 'upstream', message: 'The sign-in provider refused this server\'s credentials.' },
  oauth_id_token_invalid: { kind: 'unauthenticated', message: 'The provider\'s ID token is not valid for this sign-in.' },
  oauth_subject_mismatch: { kind: 'unauthenticated', message: 'The provider identified a different account.' },
  oauth_profile_invalid: { kind: 'upstream', message: 'The provider\'s profile could not be read.' },
  oauth_token_rejected: { kind: 'unauthenticated', message: 'The provider no longer accepts this access token.' },
  oauth_refresh_unsupported: { kind: 'invalid_argument', message: 'This provider issued no refresh token.' },
  oauth_refresh_rejected: { kind: 'unauthenticated', message: 'The provider refused the refresh token; link the account again.' },
  oauth_redirect_not_allowed: { kind: 'invalid_argument', message: 'redirect_to is not an allowed destination.' },
  oauth_provider_unavailable: { kind: 'unavailable', message: 'The sign-in provider cannot be reached; try again shortly.' },
  // the social sign-in decider's (src/commands/oauth/decide.ts) refusals
  oauth_link_required: { kind: 'conflict', message: 'An account with this e-mail exists; sign in to it and link this provider.' },
  oauth_identity_taken: { kind: 'conflict', message: 'This provider account is linked to another user.' },
  oauth_provider_already_linked: { kind: 'conflict', message: 'Another account of this provider is already linked.' },
  oauth_identity_not_found: { kind: 'not_found', message: 'No such linked identity.' },
  oauth_last_sign_in_method: { kind: 'conflict', message: 'This is the last way to sign in to the account; set a password or link another provider first.' },
  oauth_account_unavailable: { kind: 'permission_denied', message: 'This account cannot sign in.' },
  /** Shared with issue 20 (e-mail / password changes): same code on purpose. */
  reauth_required: { kind: 'unauthenticated', message: 'Confirm your password or sign in again to do this.' },
  // multi-factor sign-in (issue 17)
  mfa_token_invalid: { kind: 'unauthenticated' },
  mfa_code_invalid: { kind: 'unauthenticated' },
  step_up_required: { kind: 'unauthenticated' },
  mfa_locked: { kind: 'resource_exhausted' },
  totp_already_enrolled: { kind: 'conflict' },
  totp_enrolment_not_found: { kind: 'not_found' },
  factor_not_found: { kind: 'not_found' },
  webauthn_challenge_invalid: { kind: 'invalid_argument' },
  webauthn_verification_failed: { kind: 'invalid_argument' },
  passkey_already_registered: { kind: 'conflict' },
  mfa_enrolment_required: { kind: 'permission_denied' },
  no_second_factor: { kind: 'conflict' },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof CATALOG;
/** The codes of one kind (so `errors.notFound(msg, 'user_exists')` does not compile). */
export type CodeOf<K extends ErrorKind> = { [C in ErrorCode]: (typeof CATALOG)[C]['kind'] extends K ? C : never }[ErrorCode];

/**
 * Public codes that two entries share because tests and clients already depend on both pairings
 * (the mailed-link `invalid_token` answers 400, the access-token `invalid_token` 401). Nothing new goes here.
 */
export const SHARED_PUBLIC_CODES: Readonly<Record<string, readonly ErrorCode[]>> = {
  invalid_token: ['invalid_token', 'email_token_invalid'],
};

export interface DomainErrorOptions {
  detail?: string;
  fields?: FieldError[];
  extra?: Record<string, unknown>;
  /** When the client may try again (the edge sends Retry-After). */
  retryAfterSeconds?: number;
  cause?: unknown;
  /** @deprecated transport headers belong to src/http/problem.ts; kept so older call sites compile. */
  headers?: Record<string, string>;
}

/** Legacy: the status an `AppError(code, status, …)` was built with → its kind. */
const KIND_OF_STATUS = new Map(Object.entries(STATUS_OF_KIND).map(([kind, status]) => [status, kind as ErrorKind]));

/** The one error type (exported as `AppError` too). */
export class DomainError extends Error {
  /** The code clients see (the catalog key, or its `publicCode`). */
  readonly code: string;
  /** The catalog key: unique across the project. */
  readonly id: string;
  readonly kind: ErrorKind;
  readonly fields?: FieldError[];
  readonly detail?: string;
  readonly extra?: Record<string, unknown>;
  readonly retryAfterSeconds?: number;
  /** @deprecated see DomainErrorOptions.headers */
  readonly headers?: Record<string, string>;
  /** @deprecated only set by the legacy `new AppError(code, status, …)` form (and the edge for framework errors). */
  readonly legacyStatus?: number;

  /**
   * `new DomainError(code, kind, message)`; the older `new AppError(code, status, message)` still
   * works (the status is turned into a kind) so in-flight call sites compile — prefer `domainError`.
   */
  constructor(code: string, kind: ErrorKind | number, message: string, opts: DomainErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DomainError';
    const entry = (CATALOG as Record<string, Entry>)[code];
    this.id = code;
    this.code = entry?.publicCode ?? code;
    if (typeof kind === 'number') {
      this.kind = KIND_OF_STATUS.get(kind) ?? (kind >= 500 ? 'internal' : 'invalid_argument');
      if (!KIND_OF_STATUS.has(kind)) this.legacyStatus = kind;
    } else {
      this.kind = kind;
    }
    this.fields = opts.fields;
    this.detail = opts.detail;
    this.extra = opts.extra;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.headers = opts.headers;
  }

  /**
   * @deprecated the HTTP status is the edge's business (src/http/problem.ts `statusOf`); kept
   * for code and tests that read `err.status`. Same table (src/http/status.ts), so both always agree.
   */
  get status(): number {
    return this.legacyStatus ?? STATUS_OF_KIND[this.kind];
  }
}

/** @deprecated name kept for in-flight code: the same class as DomainError. */
export const AppError = DomainError;
export type AppError = DomainError;

/** A catalog error: its kind comes from the catalog. */
export function domainError(code: ErrorCode, message: string, opts: DomainErrorOptions = {}): DomainError {
  return new DomainError(code, CATALOG[code].kind, message, opts);
}

/** The codes whose entry carries a default message (the social sign-in codes). */
export type OAuthErrorCode = { [C in ErrorCode]: (typeof CATALOG)[C] extends { message: string } ? C : never }[ErrorCode];

/** A social sign-in error: the catalog's message; `detail` private (never a token or secret). */
export const oauthError = (code: OAuthErrorCode, detail?: string, cause?: unknown): DomainError =>
  domainError(code, CATALOG[code].message, { detail, cause });

/** Whether an error is one of the social sign-in codes (so a wrapped one is passed through unchanged). */
export const isOAuthError = (err: unknown): err is DomainError =>
  err instanceof DomainError && typeof (CATALOG as Record<string, Entry>)[err.id]?.message === 'string';

export const errors = {
  validation: (fields: FieldError[], message = 'The request is not valid.') => domainError('validation_failed', message, { fields }),
  badRequest: (message: string, code: CodeOf<'invalid_argument'> = 'bad_request') => domainError(code, message),
  unauthorized: (message = 'Authentication is required or has failed.', code: CodeOf<'unauthenticated'> = 'unauthorized') => domainError(code, message),
  forbidden: (message = 'You may not do this.', code: CodeOf<'permission_denied'> = 'forbidden', extra?: Record<string, unknown>) =>
    domainError(code, message, { extra }),
  notFound: (message = 'Not found.', code: CodeOf<'not_found'> = 'not_found') => domainError(code, message),
  conflict: (message: string, code: CodeOf<'conflict'> = 'conflict') => domainError(code, message),
  preconditionFailed: (message = 'The resource has changed; fetch it again.') => domainError('precondition_failed', message),
  tooManyRequests: (retryAfterSeconds: number, message = 'Too many requests.', code: CodeOf<'resource_exhausted'> = 'rate_limited') =>
    domainError(code, message, { retryAfterSeconds }),
  unavailable: (dependency: string, cause?: unknown) =>
    domainError('service_unavailable', 'A dependency is unavailable; try again shortly.', { detail: dependency, retryAfterSeconds: 1, cause }),
  /** Read-your-writes: a projection the query reads has not reached the position in time. */
  projectionBehind: (projections: string[], retryAfterSeconds = 1) =>
    domainError('projection_behind', 'The data this query reads is not up to date yet; try again shortly.', {
      detail: projections.join(','), retryAfterSeconds, extra: { projections },
    }),
  internal: (detail: string, cause?: unknown) => domainError('internal_error', 'Internal server error.', { detail, cause }),
};
