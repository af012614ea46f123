/** Read model `features`: the registered features (deleted ones are removed). */
import type { PgProjection, PgProjectionContext } from './types';
import { byType } from './types';

type D = { name: string; description?: string };

export const featuresProjection: PgProjection = {
  kind: 'postgres',
  name: 'features',
  version: 1,
  handles: ['FeatureRegistered', 'FeatureUpdated', 'FeatureDisabled', 'FeatureEnabled', 'FeatureDeleted'],
  tables: {
    features: `CREATE TABLE {{table}} (
      name        text PRIMARY KEY,
      description text NOT NULL,
      enabled     boolean NOT NULL,
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      revision    bigint NOT NULL
    );`,
  },
  apply: byType<PgProjectionContext>({
    async FeatureRegistered(e, { client, table }) {
      const d = e.data as D;
      await client.query(
        `INSERT INTO ${table('features')} (name, description, enabled, created_at, updated_at, revision) VALUES ($1, $2, true, $3, $3, $4)
         ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, enabled = true, created_at = EXCLUDED.created_at,
           updated_at = EXCLUDED.updated_at, revision = EXCLUDED.revision WHERE ${table('features')}.revision < EXCLUDED.revision`,
        [d.name, d.description ?? '', e.createdAt, e.revision.toString()],
      );
    },
    async FeatureUpdated(e, { client, table }) {
      const d = e.data as D;
      await client.query(`UPDATE ${table('features')} SET description = $2, updated_at = $3, revision = $4 WHERE name = $1 AND revision < $4`, [
        d.name, d.description ?? '', e.createdAt, e.revision.toString(),
      ]);
    },
    async FeatureDisabled(e, { client, table }) {
      await client.query(`UPDATE ${table('features')} SET enabled = false, updated_at = $2, revision = $3 WHERE name = $1 AND revision < $3`, [
        (e.data as D).name, e.createdAt, e.revision.toString(),
      ]);
    },
    async FeatureEnabled(e, { client, table }) {
      await client.query(`UPDATE ${table('features')} SET enabled = true, updated_at = $2, revision = $3 WHERE name = $1 AND revision < $3`, [
        (e.data as D).name, e.createdAt, e.revision.toString(),
      ]);
    },
    async FeatureDeleted(e, { client, table }) {
      await client.query(`DELETE FROM ${table('features')} WHERE name = $1 AND revision < $2`, [(e.data as D).name, e.revision.toString()]);
    },
  }),
};
