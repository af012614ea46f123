/**
 * Read model `services`: the gateway's service registry (issue 14) — its layout, its writer and
 * its readers. Rules:
 * - one row per registered service: the whole definition (`spec`, as the last ServiceRegistered /
 *   ServiceUpdated said) and the upstreams last marked down; deregistered services are removed;
 * - a batch that changed anything NOTIFYs `SERVICES_CHANNEL` inside its transaction (delivered on
 *   commit, never for a rolled-back batch), so every gateway process reloads within milliseconds.
 */
import type pg from 'pg';
import type { PgProjection } from './types';
import { tableLayout } from './columns';
import { applyFold, older, type RowFold } from './fold';
import { SERVICE_EVENT_TYPES, type ServiceSpec } from '../events/service';

export const SERVICES_CHANNEL = 'authledger_services';

export const servicesTable = tableLayout({
  name: 'text PRIMARY KEY',
  spec: 'jsonb NOT NULL',
  down: 'text[] NOT NULL',
  created_at: 'timestamptz NOT NULL',
  updated_at: 'timestamptz NOT NULL',
  revision: 'bigint NOT NULL',
});

export const servicesProjection: PgProjection = {
  kind: 'postgres',
  name: 'services',
  version: 1,
  handles: SERVICE_EVENT_TYPES,
  tables: { services: servicesTable.ddl },
  async apply(events, ctx) {
    await applyFold(servicesFold, events, ctx);
    if (events.length) await ctx.write('SELECT pg_notify($1, $2)', [SERVICES_CHANNEL, String(events.length)]);
  },
};

type D = { name: string; upstream?: string };

const servicesFold: RowFold = {
  table: 'services',
  key: 'name',
  columns: servicesTable.columns,
  keyOf: (e) => (e.data as D).name,
  apply(row, e) {
    const d = e.data as D;
    const at = e.createdAt;
    if (e.type === 'ServiceRegistered') {
      if (row && !older(row, e)) return undefined;
      return { name: d.name, spec: JSON.stringify(e.data), down: [], created_at: at, updated_at: at, revision: e.revision };
    }
    if (!row || !older(row, e)) return undefined;
    const down = (row.down as string[]) ?? [];
    switch (e.type) {
      case 'ServiceUpdated': {
        const spec = e.data as ServiceSpec;
        row.spec = JSON.stringify(spec);
        row.down = down.filter((u) => spec.upstreams.includes(u));
        break;
      }
      case 'ServiceDeregistered':
        return null;
      case 'UpstreamMarkedDown':
        row.down = down.includes(d.upstream!) ? down : [...down, d.upstream!];
        break;
      case 'UpstreamMarkedUp':
        row.down = down.filter((u) => u !== d.upstream);
        break;
      default:
        return undefined;
    }
    row.updated_at = at;
    row.revision = e.revision;
    return row;
  },
};

export interface ServiceRow {
  spec: ServiceSpec;
  down: string[];
  created_at: Date;
  updated_at: Date;
  revision: string;
}

const SELECT = 'SELECT spec, down, created_at, updated_at, revision::text AS revision FROM services';

/** Every registered service, by name. */
export async function listServices(db: Pick<pg.Pool, 'query'>): Promise<ServiceRow[]> {
  const { rows } = await db.query<ServiceRow>(`${SELECT} ORDER BY name LIMIT 10000`);
  return rows;
}

export async function findService(db: Pick<pg.Pool, 'query'>, name: string): Promise<ServiceRow | undefined> {
  const { rows } = await db.query<ServiceRow>(`${SELECT} WHERE name = $1`, [name]);
  return rows[0];
}
