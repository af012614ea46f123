/**
 * Input types shared by every route's params, query and body (issue 20 §5: bad input never
 * reaches PostgreSQL as a 500). Rules:
 * - `text`: every free-text field (names, e-mails, search terms, descriptions, reasons). Refuses
 *   NUL and the other C0/C1 control characters (tab, LF and CR allowed) and unpaired UTF-16
 *   surrogates: PostgreSQL stores neither a NUL nor a lone surrogate (text and jsonb are UTF-8), and
 *   a control character in a name is never meant;
 * - `secret`: passwords and tokens: any character but NUL and unpaired surrogates (a lone
 *   surrogate has no UTF-8 encoding, so two different passwords would hash alike);
 * - `id`: ids in paths and fields (uuids and the ids of imported accounts): 1–100 characters of
 *   `[A-Za-z0-9._:@-]`; `streamName`: a stream name or prefix (printable ASCII, no spaces);
 * - `instant`: an ISO-8601 instant with offset, a real calendar date, between 1970 and 9999
 *   (no year 0000, no 30 February: PostgreSQL refuses those with an error);
 * - cursors: base64url text (`cursorQuery`), decoded and checked field by field with
 *   `cursorInstant`, `cursorBigint` (a non-negative int8) and `id`; anything else is
 *   400 `invalid_cursor`;
 * - as a net for anything a schema misses, `unsafeInputPath` finds NUL / lone surrogates anywhere
 *   in a request's params, query or body (src/http/app.ts refuses the request with 400).
 */
import { z } from 'zod';

/** Code units a text field may not carry: C0 controls but tab/LF/CR, DEL, C1 controls. */
const CONTROL = '\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f';
const SURROGATE_PAIR = '[\\ud800-\\udbff][\\udc00-\\udfff]';
/** Linear: the alternatives are disjoint. */
const SAFE_TEXT = new RegExp(`^(?:[^${CONTROL}\\ud800-\\udfff]|${SURROGATE_PAIR})*$`);
const SAFE_SECRET = new RegExp(`^(?:[^\\u0000\\ud800-\\udfff]|${SURROGATE_PAIR})*$`);

export const TEXT_MESSAGE = 'must not contain control characters or unpaired surrogates';

/** The `text` rule as a predicate, for input that does not go through zod (realtime frames). */
export const isSafeText = (s: string): boolean => SAFE_TEXT.test(s);

/** Free text of at most `max` UTF-16 code units: no control characters, no unpaired surrogates. */
export const text = (max: number) => z.string().max(max).regex(SAFE_TEXT, TEXT_MESSAGE);

/** A password or token of at most `max` code units: no NUL, no unpaired surrogates. */
export const secret = (max: number) => z.string().max(max).regex(SAFE_SECRET, 'must not contain NUL or unpaired surrogates');

/** An id (uuid, or an imported account's id). */
export const id = z.string().min(1).max(100).regex(/^[A-Za-z0-9._:@-]+$/, 'an id: letters, digits and . _ : @ -');

/** A stream name or prefix (e.g. `user-<id>`, `session-`). */
export const streamName = z.string().min(1).max(300).regex(/^[\x21-\x7e]+$/, 'a stream name: printable ASCII, no spaces');

/** Earliest and latest instant accepted anywhere (PostgreSQL and JavaScript both hold them). */
export const MIN_INSTANT = Date.UTC(1970, 0, 1);
export const MAX_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** True when `s` (ISO-8601) names a real calendar day and time within [MIN_INSTANT, MAX_INSTANT]. */
export function isSaneInstant(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59) return false;
  const t = Date.parse(s);
  return Number.isFinite(t) && t >= MIN_INSTANT && t <= MAX_INSTANT;
}

/** An ISO-8601 instant with offset, e.g. `2024-05-01T12:00:00Z`, between 1970 and 9999. */
export const instant = z.iso
  .datetime({ offset: true })
  .refine(isSaneInstant, 'an instant between 1970-01-01 and 9999-12-31 on a real calendar day');

/** Inside a decoded cursor: an instant as the server wrote it (toISOString). */
export const cursorInstant = z.string().max(40).refine(isSaneInstant);

const INT8_MAX = 9223372036854775807n;
/** Inside a decoded cursor: a non-negative PostgreSQL bigint, as decimal digits. */
export const cursorBigint = z.string().regex(/^\d{1,19}$/).refine((s) => BigInt(s) <= INT8_MAX);

/** The `cursor` and `limit` query of a paged route (the cursor is base64url, decoded by the route). */
export const cursorQuery = z.object({
  cursor: z.string().max(500).regex(/^[A-Za-z0-9_-]*$/, 'an opaque cursor from the previous page').optional().describe('Opaque cursor from the previous page'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

// eslint-disable-next-line no-control-regex -- finding NUL is the point
const UNSAFE_ANYWHERE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The path (`body.name`, `params.id`…) of the first string holding a NUL or an unpaired surrogate
 * in `value` (keys too), or undefined. Depth and breadth are bounded by the body limit.
 */
export function unsafeInputPath(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return UNSAFE_ANYWHERE.test(value) ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > 32) return undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = `${path}.${k}`;
    if (UNSAFE_ANYWHERE.test(k)) return p;
    const found = unsafeInputPath(v, p, depth + 1);
    if (found) return found;
  }
  return undefined;
}
