/**
 * The hash chain's canonical encoding, one for every adapter, so an export from one store
 * verifies and imports on the other:
 *   hex(previous hash) \n stream \n revision \n event id \n type \n schema version \n
 *   created_at as epoch microseconds \n data as text \n metadata as text      → SHA-256
 * "As text" is PostgreSQL's jsonb text rendering (the PostgreSQL adapter's `event_hash()` hashes
 * `data::text`): keys sorted by byte length then bytes, `", "` and `": "` separators, numbers in
 * plain decimal. `jsonbText` reproduces it for adapters that are not PostgreSQL (EventStoreDB
 * stores the hash in the event's metadata); test/events/hash.int.test.ts checks it against
 * PostgreSQL's own rendering.
 */
import { createHash } from 'node:crypto';

export interface ChainLink {
  stream: string;
  revision: bigint | string;
  id: string;
  type: string;
  version: number | string;
  /** Epoch microseconds. */
  createdUs: bigint | string;
  /** Data and metadata as text (jsonb rendering). */
  data: string;
  metadata: string;
}

/** SHA-256 of the canonical encoding, chained on `prevHex` ('' for a stream's first event). */
export function chainHash(prevHex: string, l: ChainLink): Buffer {
  const text = [prevHex, l.stream, String(l.revision), l.id, l.type, String(l.version), String(l.createdUs), l.data, l.metadata].join('\n');
  return createHash('sha256').update(text, 'utf8').digest();
}

function escapeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** A JS number as PostgreSQL's numeric prints it: plain decimal, never an exponent. */
function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a JSON number: ${n}`);
  const s = String(n);
  if (!/e/i.test(s)) return s;
  const [mant, expPart] = s.split(/e/i) as [string, string];
  const exp = Number(expPart);
  const neg = mant.startsWith('-');
  const [int, frac = ''] = (neg ? mant.slice(1) : mant).split('.') as [string, string?];
  const digits = int + frac;
  const point = int.length + exp;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (neg ? '-' : '') + out;
}

const keyOrder = (a: string, b: string) => {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ba.length - bb.length || Buffer.compare(ba, bb);
};

/** `value` rendered as PostgreSQL renders `value::jsonb::text`. */
export function jsonbText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return numberText(value);
  if (typeof value === 'string') return escapeString(value);
  if (Array.isArray(value)) return `[${value.map((v) => jsonbText(v === undefined ? null : v)).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    // jsonb keeps the last of duplicate keys; an object here has none.
    entries.sort(([a], [b]) => keyOrder(a, b));
    return `{${entries.map(([k, v]) => `${escapeString(k)}: ${jsonbText(v)}`).join(', ')}}`;
  }
  throw new Error(`not JSON: ${typeof value}`);
}

/** `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (or a Date) → epoch microseconds. */
export function isoToMicros(t: string | Date): bigint {
  if (t instanceof Date) return BigInt(t.getTime()) * 1000n;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(t);
  if (!m) throw new Error(`not a UTC ISO-8601 time: ${t}`);
  const secondsMs = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(secondsMs)) throw new Error(`not a UTC ISO-8601 time: ${t}`);
  return BigInt(secondsMs) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** Epoch microseconds → `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function microsToIso(us: bigint): string {
  const ms = us / 1000n;
  const base = new Date(Number(ms)).toISOString(); // ...SS.mmmZ
  return `${base.slice(0, -1)}${(us % 1000n).toString().padStart(3, '0')}Z`;
}
