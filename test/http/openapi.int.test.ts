/**
 * Every route registered on the full app (including those other modules add through
 * src/compose.ts) appears in the OpenAPI document with its request and response schemas.
 * Hidden routes (`schema.hide`) and Fastify's automatic HEAD routes are the only exceptions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteOptions } from 'fastify';
import { testApp } from '../helpers/app';

type Spec = { paths: Record<string, Record<string, Operation>> };
type Operation = {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
};

/** A zod schema for "no body" (z.null(), z.void()…): the spec then has a description and no content. */
const isEmptyBody = (schema: unknown) => ['null', 'void', 'undefined', 'never'].includes((schema as { _zod?: { def?: { type?: string } } } | undefined)?._zod?.def?.type ?? '');

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/(.)\/$/, '$1');

describe('OpenAPI covers every route', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let spec: Spec;
  let routes: Array<{ method: string; url: string; route: RouteOptions }>;

  beforeAll(async () => {
    t = await testApp('skopenapi');
    spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    routes = t.app.routeCatalog
      .filter((r) => !(r.schema as { hide?: boolean } | undefined)?.hide)
      .flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((m) => ({ method: m.toLowerCase(), url: r.url, route: r })))
      .filter((r) => r.method !== 'head' && r.method !== 'options');
  });
  afterAll(async () => t?.close());

  it('finds the routes (sanity: the catalog sees the system routes)', () => {
    const urls = routes.map((r) => `${r.method} ${r.url}`);
    expect(urls).toEqual(expect.arrayContaining(['get /', 'get /health', 'get /ready', 'get /metrics']));
  });

  it('every visible route is in the spec with a tag, a summary and a 2xx response schema', () => {
    const problems: string[] = [];
    for (const { method, url, route } of routes) {
      const where = `${method.toUpperCase()} ${url}`;
      const op = spec.paths[toOpenApiPath(url)]?.[method];
      if (!op) {
        problems.push(`${where}: missing from /openapi.json`);
        continue;
      }
      const schema = (route.schema ?? {}) as { tags?: string[]; summary?: string; response?: Record<string, unknown>; body?: unknown; querystring?: unknown; params?: unknown };
      if (!schema.tags?.length) problems.push(`${where}: no tags`);
      if (!schema.summary) problems.push(`${where}: no summary`);
      const codes = Object.keys(schema.response ?? {});
      const ok = codes.filter((c) => /^2/.test(c));
      if (!ok.length) problems.push(`${where}: no 2xx response schema`);
      for (const code of codes) {
        const res = op.responses?.[code];
        if (!res) problems.push(`${where}: response ${code} missing from spec`);
        else if (code !== '204' && !isEmptyBody(schema.response?.[code]) && !Object.values(res.content ?? {}).some((c) => c.schema)) problems.push(`${where}: response ${code} has no schema in spec`);
      }
      if (schema.body && !Object.values(op.requestBody?.content ?? {}).some((c) => c.schema)) problems.push(`${where}: body schema missing from spec`);
      if (schema.querystring && !(op.parameters ?? []).some((p) => p.in === 'query')) problems.push(`${where}: query schema missing from spec`);
      const pathParams = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
      for (const p of pathParams) {
        if (!(op.parameters ?? []).some((x) => x.in === 'path' && x.name === p)) problems.push(`${where}: path parameter ${p} not described (give the route a params schema)`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('the spec is OpenAPI 3.1 and lists no route that does not exist', () => {
    expect(spec.paths).toBeTypeOf('object');
    expect((spec as unknown as { openapi: string }).openapi).toBe('3.1.0');
    const known = new Set(routes.map((r) => `${r.method} ${toOpenApiPath(r.url)}`));
    for (const [p, ops] of Object.entries(spec.paths)) {
      for (const m of Object.keys(ops)) if (m !== 'parameters') expect(known.has(`${m} ${p}`), `${m} ${p}`).toBe(true);
    }
  });
});
