/**
 * The one error type. Rules:
 * - every error a client can see has a stable `code`, an HTTP `status` and a public `message`;
 * - `detail` is private (logged, never sent) — 5xx bodies carry only a generic message;
 * - `fields` lists offending input fields for validation errors.
 * The HTTP layer maps it to application/problem+json (RFC 9457) in one place (src/http/problem.ts).
 */
export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly fields?: FieldError[];
  readonly detail?: string;
  readonly headers?: Record<string, string>;
  readonly extra?: Record<string, unknown>;

  constructor(
    code: string,
    status: number,
    message: string,
    opts: { detail?: string; fields?: FieldError[]; headers?: Record<string, string>; extra?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.fields = opts.fields;
    this.detail = opts.detail;
    this.headers = opts.headers;
    this.extra = opts.extra;
  }
}

export const errors = {
  validation: (fields: FieldError[], message = 'The request is not valid.') => new AppError('validation_failed', 400, message, { fields }),
  badRequest: (message: string, code = 'bad_request') => new AppError(code, 400, message),
  unauthorized: (message = 'Authentication is required or has failed.', code = 'unauthorized') =>
    new AppError(code, 401, message, { headers: { 'www-authenticate': 'Bearer' } }),
  forbidden: (message = 'You may not do this.', code = 'forbidden', extra?: Record<string, unknown>) => new AppError(code, 403, message, { extra }),
  notFound: (message = 'Not found.', code = 'not_found') => new AppError(code, 404, message),
  conflict: (message: string, code = 'conflict') => new AppError(code, 409, message),
  preconditionFailed: (message = 'The resource has changed; fetch it again.') => new AppError('precondition_failed', 412, message),
  tooManyRequests: (retryAfterSeconds: number, message = 'Too many requests.') =>
    new AppError('rate_limited', 429, message, { headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) } }),
  unavailable: (dependency: string, cause?: unknown) =>
    new AppError('service_unavailable', 503, 'A dependency is unavailable; try again shortly.', { detail: dependency, headers: { 'retry-after': '1' }, cause }),
  /** Read-your-writes: a projection the query reads has not reached the position in time. */
  projectionBehind: (projections: string[], retryAfterSeconds = 1) =>
    new AppError('projection_behind', 503, 'The data this query reads is not up to date yet; try again shortly.', {
      detail: projections.join(','), headers: { 'retry-after': String(retryAfterSeconds) }, extra: { projections },
    }),
  internal: (detail: string, cause?: unknown) => new AppError('internal_error', 500, 'Internal server error.', { detail, cause }),
};
