/**
 * The read-model browser and projection status (admins only; issue 16):
 * - GET  /api/v1/admin/read-models                 — the views the browser role may read: columns, row count, sample rows;
 * - POST /api/v1/admin/read-models/query           — one read-only statement (check.ts, then run.ts as the role);
 * - GET  /api/v1/admin/read-models/saved-queries   — the caller's saved queries (folded from their stream);
 * - GET  /api/v1/admin/projections                 — every projection's lag (events after its checkpoint).
 * Rules: 401 without a token, 403 for non-admins, 400 problem+json for a refused or failing
 * statement, 503 when the role is missing. Saving and deleting queries are commands
 * (src/commands/saved-queries).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problems } from '../../http/schemas';
import { text } from '../../http/input';
import { domainError } from '../../errors';
import { streams } from '../../events/streams';
import { evolveSavedQueries, initialSavedQueriesState, type SavedQueryEvent } from '../../events/saved-query';
import { pgProjections, projectionsFor } from '../../projections/index';
import { lagByProjection } from '../../projections/runtime';
import type { Services } from '../../services';
import { checkReadOnlySql } from './check';
import { browserRoleExists, browserRoleName, databaseOf, ensureBrowserGrants } from './role';
import { limitsOf, runBrowserQuery } from './run';
import { listViews } from './views';

const column = z.object({ name: z.string(), type: z.string() });
const security: Record<string, string[]>[] = [{ bearer: [] }, { accessTokenHeader: [] }];

export async function adminSqlRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const role = browserRoleName(databaseOf(services.config.DATABASE_URL));

  /** The role exists and holds its grants (a rebuild may have recreated a view since). */
  async function ready(): Promise<void> {
    if (!(await browserRoleExists(services.pool, role))) {
      throw domainError('read_model_browser_unavailable', 'The read-model browser is not set up on this database (its role is missing).');
    }
    await ensureBrowserGrants(services.pool, role);
  }

  r.get('/api/v1/admin/read-models', {
    // Read through the browser role's own connection (views.ts), waiting for every PostgreSQL read model.
    config: { readModels: pgProjections().map((p) => p.name) },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Read-model views the SQL box may read: columns, row counts, sample rows (admin)',
      security,
      response: {
        200: z.object({
          views: z.array(z.object({ name: z.string(), columns: z.array(column), row_count: z.number().int(), sample: z.array(z.array(z.unknown())) })),
          limits: z.object({ timeout_ms: z.number().int(), max_rows: z.number().int(), max_bytes: z.number().int() }),
        }),
        ...problems(401, 403, 503),
      },
    },
  }, async () => {
    await ready();
    const l = limitsOf(services.config);
    return { views: await listViews(services.config), limits: { timeout_ms: l.timeoutMs, max_rows: l.maxRows, max_bytes: l.maxBytes } };
  });

  r.post('/api/v1/admin/read-models/query', {
    // Any view, through the browser role's own connection: waits for every PostgreSQL read model.
    config: { readModels: pgProjections().map((p) => p.name) },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Run one read-only SQL query over the read-model views (admin)',
      description: 'SELECT / WITH / VALUES / TABLE only, one statement, run in a READ ONLY transaction with a statement timeout as a role that can only read the read-model views. Anything else is 400 `sql_refused`; a statement PostgreSQL refuses is 400 `sql_failed` (with `sqlstate`).',
      security,
      // Free text as typed: newlines and tabs allowed, other control characters refused (input.ts).
      body: z.object({ sql: text(20_000).min(1) }),
      response: {
        200: z.object({
          columns: z.array(column),
          rows: z.array(z.array(z.unknown())),
          row_count: z.number().int(),
          truncated: z.enum(['rows', 'bytes']).nullable().describe('Why rows are missing: the row or the byte limit'),
          elapsed_ms: z.number().int(),
        }),
        ...problems(400, 401, 403, 503),
      },
    },
  }, async (request) => {
    const checked = checkReadOnlySql(request.body.sql);
    await ready();
    return runBrowserQuery(services.config, services.pool, checked.sql, limitsOf(services.config));
  });

  r.get('/api/v1/admin/read-models/saved-queries', {
    // The caller's own stream (the write side's source of truth): no read model to wait for.
    config: { consistency: 'stream' },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'My saved read-model queries (admin)',
      security,
      response: { 200: z.object({ queries: z.array(z.object({ id: z.string(), name: z.string(), sql: z.string() })) }), ...problems(401, 403) },
    },
  }, async (request) => {
    const events = await services.store.readStream(streams.savedQueries(request.auth!.userId));
    const state = events.reduce((s, e) => evolveSavedQueries(s, e as unknown as SavedQueryEvent), initialSavedQueriesState());
    return { queries: [...state.queries.values()] };
  });

  r.get('/api/v1/admin/projections', {
    // Checkpoints only (the projections table and Redis): no read model's rows.
    config: { consistency: 'none' },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Projection status: events behind the log per projection (admin)',
      security,
      response: {
        200: z.object({
          projections: z.array(z.object({ name: z.string(), kind: z.enum(['postgres', 'redis']), version: z.number().int(), lag_events: z.number().int() })),
          max_lag_events: z.number().int().describe('/ready fails when a projection is further behind'),
        }),
        ...problems(401, 403),
      },
    },
  }, async () => {
    const list = projectionsFor(services.config);
    const lag = await lagByProjection(services, list);
    return {
      projections: list.map((p) => ({ name: p.name, kind: p.kind, version: 'version' in p ? p.version : 1, lag_events: lag[p.name] ?? 0 })),
      max_lag_events: services.config.READY_MAX_PROJECTION_LAG,
    };
  });
}
