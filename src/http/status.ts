/**
 * The HTTP status of each error kind: the edge's table (src/http/problem.ts reads it; the catalog's
 * deprecated `status` getter too, so the two cannot disagree). Nothing but HTTP code should need it.
 */
import type { ErrorKind } from '../errors';

export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  too_large: 413,
  unsupported_media_type: 415,
  resource_exhausted: 429,
  unavailable: 503,
  upstream: 502,
  upstream_timeout: 504,
  internal: 500,
};
