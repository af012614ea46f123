/**
 * Issue 20 §5, property-based: every route and parameter of the live OpenAPI document (GET
 * /openapi.json) gets hostile strings (NUL and other controls, lone surrogates, huge and odd
 * Unicode), numbers (negative, fractional, huge, not numbers), cursors (base64url JSON of
 * nonsense, out-of-range bigints, invalid dates) and instants (year 0000, far future, invalid days)
 * in its path, query and JSON body, as an admin and anonymously. Properties: no answer is a 5xx,
 * and no e-mail reservation is left without its user. Bounded: RUNS_PER_ROUTE runs per operation,
 * a fixed seed unless FC_SEED is set; a failure prints the seed and the shrunk request.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, type LoggedIn } from '../helpers/auth';

const RUNS_PER_ROUTE = Number(process.env.FC_RUNS ?? 25);
const SEED = Number(process.env.FC_SEED ?? 20_020_005);

const b64 = (s: string) => Buffer.from(s).toString('base64url');
/** Percent-encodes `s`; a lone surrogate as its CESU-8 bytes (what an attacker can send). */
const enc = (s: string) => [...s].map((ch) => {
  try { return encodeURIComponent(ch); } catch {
    const c = ch.charCodeAt(0);
    return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
  }
}).join('');

const nasty = fc.constantFrom('\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\ud800', '\udfff', '\ufeff', '\u202e', '\u2028', '%00', '%', '../', "'", '"', '\\', '${x}', '<x>', 'é', '🦊', ' ', '');
const hostileString = fc.oneof(
  fc.tuple(fc.string({ maxLength: 20 }), nasty, fc.string({ maxLength: 20 })).map(([a, n, b]) => a + n + b),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(nasty, { minLength: 1, maxLength: 8 }).map((xs) => xs.join('')),
  fc.constantFrom('a'.repeat(5000), '\u0000'.repeat(300), 'x'.repeat(101)),
);
const hostileNumber = fc.oneof(
  fc.integer().map(String), fc.double().map(String),
  fc.constantFrom('-1', '0', '1e308', '1e309', '-0', 'NaN', 'Infinity', '9223372036854775808', '99999999999999999999', '1.5', '0x10', ''),
);
const hostileInstant = fc.oneof(
  fc.constantFrom('0000-01-01T00:00:00Z', '0000-12-31T23:59:59+00:00', '-000001-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '2024-02-30T00:00:00Z', '2024-13-01T00:00:00Z', '1969-12-31T23:59:59Z', '9999-12-31T23:59:59Z', 'now'),
  fc.integer({ min: -8.64e15, max: 8.64e15 }).map((t) => new Date(t).toISOString()),
);
const cursorValue = fc.oneof(hostileString, hostileNumber, hostileInstant, fc.constant(null), fc.integer());
const hostileCursor = fc.oneof(
  fc.dictionary(fc.constantFrom('c', 'i', 'k', 'p', 'x'), cursorValue, { maxKeys: 4 }).map((o) => b64(JSON.stringify(o))),
  fc.record({ c: hostileNumber, p: hostileNumber }).map((o) => b64(JSON.stringify(o))),
  fc.record({ c: hostileInstant, i: hostileString, k: hostileString }).map((o) => b64(JSON.stringify(o))),
  hostileString.map(b64), hostileString,
);
/** A hostile value for a parameter, chosen by its name and schema. */
function hostileFor(name: string, schema: { type?: string; format?: string } = {}): fc.Arbitrary<string> {
  if (name === 'cursor') return hostileCursor;
  if (schema.format === 'date-time' || /^(from|to|at)$/.test(name)) return fc.oneof(hostileInstant, hostileString);
  if (schema.type === 'integer' || schema.type === 'number' || /limit|days/.test(name)) return fc.oneof(hostileNumber, hostileString);
  return fc.oneof(hostileString, hostileNumber, hostileCursor, hostileInstant);
}
const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, hostileString, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), hostileInstant,
    fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(hostileString, tie('value'), { maxKeys: 3 })),
})).value;

/** A valid value for a field or parameter, so that a hostile neighbour gets past the first check. */
function plausibleFor(name: string, adminId: () => string): fc.Arbitrary<unknown> {
  if (/email|username/.test(name)) return fc.integer({ min: 0, max: 2 ** 31 }).map((h) => `prop.${h.toString(16)}@example.test`);
  if (/password/.test(name)) return fc.constant('correct horse battery staple 42');
  if (/^(id|user_id|actor)$/.test(name)) return fc.oneof(fc.uuid(), fc.constant(adminId()));
  if (/features/.test(name)) return fc.constant('*');
  return fc.constantFrom('Eve', 'okname', 'x');
}

interface Operation { method: string; path: string; params: { name: string; in: string; schema?: { type?: string; format?: string } }[]; body?: { properties?: Record<string, unknown> } }

describe('property: hostile input on every route of the OpenAPI document (§5)', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let admin: LoggedIn;
  let operations: Operation[] = [];

  beforeAll(async () => {
    t = await testApp('secc_prop', { READ_YOUR_WRITES: 'off', BCRYPT_COST: '4', RATE_LIMIT_AUTH_MAX: '1000000', RATE_LIMIT_MAX: '1000000' });
    admin = await adminLogin(t.app, t.services);
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { parameters?: Operation['params']; requestBody?: { content?: Record<string, { schema?: Operation['body'] }> } }>> };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        operations.push({ method: method.toUpperCase(), path, params: (op.parameters ?? []).filter((p) => p.in === 'path' || p.in === 'query'), body: op.requestBody?.content?.['application/json']?.schema });
      }
    }
    // The caller's own session must survive the run: its logout routes are tried anonymously.
    // /ready answers 503 by design while the read models are behind (no projector runs here).
    operations = operations.filter((o) => o.path !== '/openapi.json' && o.path !== '/ready');
  }, 120_000);
  afterAll(async () => t?.close());

  it('finds the routes', () => {
    expect(operations.length).toBeGreaterThan(40);
    expect(operations.some((o) => o.params.some((p) => p.name === 'cursor'))).toBe(true);
  });

  it('answers no hostile request with a 5xx, and leaves no e-mail reservation without its user', async () => {
    const started = Date.now();
    let requests = 0;
    const statuses = new Map<number, number>();
    for (const op of operations) {
      const fields = Object.keys(op.body?.properties ?? {});
      // Each run: one slot (a parameter or a body field) hostile, the others plausible or absent,
      // so the hostile value gets past its neighbours' checks; sometimes the whole body is hostile.
      const slots = [...op.params.map((p) => ({ name: p.name, schema: p.schema })), ...fields.map((f) => ({ name: f, schema: undefined }))];
      const arb = fc.record({
        k: fc.nat({ max: Math.max(0, slots.length - 1) }),
        hostile: fc.oneof(fc.constant(-1), fc.constant(-1), fc.constant(-1)).chain(() => fc.tuple(...slots.map((sl) => hostileFor(sl.name, sl.schema)))),
        plausible: fc.tuple(...slots.map((sl) => fc.option(plausibleFor(sl.name, () => admin.userId), { nil: undefined, freq: 6 }))),
        wholeBody: fc.option(hostileJson, { nil: undefined, freq: 5 }),
        asAdmin: fc.boolean(),
      }).map(({ k, hostile, plausible, wholeBody, asAdmin }) => {
        const value = (i: number) => (i === k ? hostile[i] : plausible[i]);
        const params = op.params.map((_, i) => (value(i) === undefined ? undefined : String(value(i))));
        const body = wholeBody ?? Object.fromEntries(fields.map((f, j) => [f, value(op.params.length + j)]).filter(([, v]) => v !== undefined));
        return { params, body, asAdmin };
      });
      const selfEnding = /logout|password$|sessions\/\{id\}/.test(op.path);
      await fc.assert(fc.asyncProperty(arb, async ({ params, body, asAdmin }) => {
        let url = op.path;
        const query: string[] = [];
        op.params.forEach((p, i) => {
          const v = params[i];
          if (p.in === 'path') url = url.replace(`{${p.name}}`, v === undefined ? 'x' : enc(v) || '%00');
          else if (v !== undefined) query.push(`${p.name}=${enc(v)}`);
        });
        if (query.length) url += `?${query.join('&')}`;
        const withBody = op.method !== 'GET' && op.method !== 'DELETE';
        requests++;
        const r = await t.app.inject({
          method: op.method as 'GET', url,
          headers: { ...(asAdmin && !selfEnding ? bearer(admin.accessToken) : {}), ...(withBody ? { 'content-type': 'application/json' } : {}) },
          payload: withBody ? JSON.stringify(body ?? {}) : undefined,
        });
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode >= 500) throw new Error(`${op.method} ${url} → ${r.statusCode} ${r.body.slice(0, 300)} body=${JSON.stringify(body).slice(0, 300)}`);
      }), { numRuns: RUNS_PER_ROUTE, seed: SEED, endOnFailure: true, verbose: 1 }).catch((err: Error) => {
        throw new Error(`${op.method} ${op.path}: ${err.message}\n${String((err as { cause?: unknown }).cause ?? '')}\n(reproduce: FC_SEED=${SEED} FC_RUNS=${RUNS_PER_ROUTE})`);
      });
    }
    console.log(`${operations.length} operations × ${RUNS_PER_ROUTE} runs: ${requests} hostile requests in ${Date.now() - started} ms, seed ${SEED}; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);

    // No reservation whose user was never written (a signup that failed half-way).
    const { rows } = await t.services.pool!.query<{ stream_name: string; holder: string }>(`
      SELECT e.stream_name, e.data->>'userId' AS holder FROM events e
      WHERE e.stream_name LIKE 'email-%' AND e.event_type = 'EmailReserved'
        AND e.revision = (SELECT max(revision) FROM events x WHERE x.stream_name = e.stream_name)
        AND NOT EXISTS (SELECT 1 FROM events u WHERE u.stream_name = 'user-' || (e.data->>'userId'))`);
    expect(rows).toEqual([]);
    // The admin's session survived (the run tried what it could as an admin).
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(admin.accessToken) })).statusCode).toBe(200);
  }, 240_000);
});
