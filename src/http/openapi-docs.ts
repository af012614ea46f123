/**
 * Finishing touches on the generated OpenAPI document (issue 12), applied once when it is built:
 * - error responses (4xx/5xx) are declared as `application/problem+json`, the media type the
 *   server really sends (src/http/problem.ts), with a realistic `status` (the response's own code
 *   instead of zod's ±2^53 integer bounds) and example;
 * - forward auth (`GET /api/v1/auth/verify`) documents what a 200 really carries: the body
 *   `null` and the identity in the X-User-* / X-Session-Id headers;
 * - zod's safe-integer bounds are dropped (they showed as `-9007199254740991` examples).
 */
type Json = Record<string, unknown>;
type Doc = { paths?: Record<string, Record<string, { responses?: Record<string, Json> }>> };

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

const FORWARD_AUTH_HEADERS: Json = {
  'X-User-Id': { description: 'The user the access token belongs to', schema: { type: 'string', format: 'uuid' } },
  'X-Session-Id': { description: 'The session the access token was issued for', schema: { type: 'string', format: 'uuid' } },
  'X-User-Roles': { description: 'Comma-separated roles, e.g. `user,admin`', schema: { type: 'string', example: 'user' } },
};

function problemContent(content: Json, status: number): Json {
  const entry = (content['application/json'] ?? content[PROBLEM_MEDIA_TYPE]) as { schema?: Json } | undefined;
  if (!entry) return content;
  const schema = { ...(entry.schema ?? {}) };
  const properties = { ...((schema.properties as Json | undefined) ?? {}) };
  properties.status = { type: 'integer', minimum: 400, maximum: 599, example: status, description: 'The HTTP status code of this response' };
  schema.properties = properties;
  const rest = Object.fromEntries(Object.entries(content).filter(([k]) => k !== 'application/json'));
  return { ...rest, [PROBLEM_MEDIA_TYPE]: { ...entry, schema } };
}

/** zod's int() documents ±(2^53−1) bounds that Swagger UI shows as examples: drop them. */
function dropSafeIntegerBounds(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(dropSafeIntegerBounds);
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  if (o.minimum === Number.MIN_SAFE_INTEGER) delete o.minimum;
  if (o.maximum === Number.MAX_SAFE_INTEGER) delete o.maximum;
  for (const v of Object.values(o)) dropSafeIntegerBounds(v);
}

export function finishOpenApi<T>(doc: T): T {
  dropSafeIntegerBounds(doc);
  const paths = (doc as Doc).paths ?? {};
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const responses = op?.responses;
      if (!responses) continue;
      for (const [code, response] of Object.entries(responses)) {
        const status = Number(code);
        if (status >= 400 && response.content) response.content = problemContent(response.content as Json, status);
      }
      if (path === '/api/v1/auth/verify' && method === 'get' && responses['200']) {
        const ok = responses['200'];
        ok.description = 'Valid access token of an active session. The body is the JSON literal `null`; the identity is in the headers.';
        ok.headers = { ...((ok.headers as Json | undefined) ?? {}), ...FORWARD_AUTH_HEADERS };
        const json = (ok.content as Json | undefined)?.['application/json'] as { schema?: Json } | undefined;
        if (json) json.schema = { type: 'null', example: null };
      }
    }
  }
  return doc;
}
