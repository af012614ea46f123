/**
 * What audit output may show of an event's data.
 * Rule: no password hash, token hash, key secret hash or sealed token ever leaves the server
 * through the audit API or the replay timeline; such fields keep their key with a fixed marker,
 * so a reader still sees that, say, a password hash was set.
 */
export const REDACTED = '[redacted]';

/** Field names that hold secrets or their hashes (matched case-insensitively, at any depth). */
const SECRET_KEY = /(hash|secret|sealed|password|^token$)/i;

export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v);
    return out;
  }
  return value;
}
