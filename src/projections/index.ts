/** Every projection the projector role runs. Add new ones here. */
import type { Projection, PgProjection } from './types';
import { apiKeysProjection } from './api-keys';
import { featuresProjection } from './features';
import { accessStateProjection } from './access-state';
import { userStreamsProjection } from './user-streams';
import { identityProjections } from './identity';

export const projections: Projection[] = [
  ...identityProjections,
  apiKeysProjection,
  featuresProjection,
  accessStateProjection,
  userStreamsProjection,
];

export const pgProjections = (): PgProjection[] => projections.filter((p): p is PgProjection => p.kind === 'postgres');
