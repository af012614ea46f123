/** Every projection the projector role runs. Add new ones here. */
import type { Projection, PgProjection } from './types';
import { apiKeysProjection } from './api-keys';
import { featuresProjection } from './features';
import { accessStateProjection } from './access-state';

export const projections: Projection[] = [
  apiKeysProjection,
  featuresProjection,
  accessStateProjection,
];

export const pgProjections = (): PgProjection[] => projections.filter((p): p is PgProjection => p.kind === 'postgres');
