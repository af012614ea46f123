/** Read model `features`: the registered features (deleted ones are removed). */
import type { PgProjection } from './types';
import { tableLayout } from './columns';
import { applyFold, older, type RowFold } from './fold';

type D = { name: string; description?: string };

export const featuresTable = tableLayout(
  {
    name: 'text PRIMARY KEY',
    description: 'text NOT NULL',
    enabled: 'boolean NOT NULL',
    created_at: 'timestamptz NOT NULL',
    updated_at: 'timestamptz NOT NULL',
    revision: 'bigint NOT NULL',
  },
  { },
);

export const featuresProjection: PgProjection = {
  kind: 'postgres',
  name: 'features',
  version: 1,
  handles: ['FeatureRegistered', 'FeatureUpdated', 'FeatureDisabled', 'FeatureEnabled', 'FeatureDeleted'],
  tables: {
    features: featuresTable.ddl,
  },
  apply(events, ctx) {
    return applyFold(featuresFold, events, ctx);
  },
};

/**
 * One batch at a time (see fold.ts): `FeatureRegistered` inserts, or replaces a row whose
 * revision is older; the other events change (or delete) a row whose revision is older.
 */
const featuresFold: RowFold = {
  table: 'features',
  key: 'name',
  columns: featuresTable.columns,
  keyOf: (e) => (e.data as D).name,
  apply(row, e) {
    const d = e.data as D;
    const at = e.createdAt;
    if (e.type === 'FeatureRegistered') {
      if (row && !older(row, e)) return undefined;
      return { name: d.name, description: d.description ?? '', enabled: true, created_at: at, updated_at: at, revision: e.revision };
    }
    if (!row || !older(row, e)) return undefined;
    switch (e.type) {
      case 'FeatureUpdated':
        row.description = d.description ?? '';
        break;
      case 'FeatureDisabled':
        row.enabled = false;
        break;
      case 'FeatureEnabled':
        row.enabled = true;
        break;
      case 'FeatureDeleted':
        return null;
      default:
        return undefined;
    }
    row.updated_at = at;
    row.revision = e.revision;
    return row;
  },
};
