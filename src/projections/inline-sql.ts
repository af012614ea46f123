/**
 * A parameterised statement as one self-contained SQL text, for a simple-protocol query of several
 * statements (which takes no parameters): each `$n` becomes its value as a quoted literal, converted
 * exactly as node-postgres converts a parameter (arrays to array literals, dates, JSON, NULL).
 * The placeholders are replaced in one pass over the statement's own text, so a value that
 * contains `$1` is never read again. A quoted literal is untyped, as a parameter is: the casts
 * the statement already writes (`$1::text[]`) type it the same way.
 */
import pg from 'pg';
import { createRequire } from 'node:module';

const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue(v: unknown): string | Buffer | null };

export function inlineParams(text: string, values: readonly unknown[] = []): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= values.length) throw new Error(`statement refers to $${n}; ${values.length} value(s) given`);
    const v = prepareValue(values[i]);
    if (v === null) return 'NULL';
    if (Buffer.isBuffer(v)) return `'\\x${v.toString('hex')}'::bytea`;
    return pg.escapeLiteral(v);
  });
}
