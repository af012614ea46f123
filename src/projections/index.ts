/** Every projection the projector role runs, built for a configuration. Add new ones here. */
import type { Config } from '../config';
import type { Projection, PgProjection } from './types';
import { apiKeysProjection } from './api-keys';
import { featuresProjection } from './features';
import { accessStateProjection } from './access-state';
import { userStreamsProjection } from './user-streams';
import { identityProjections } from './identity';
import { filesProjection } from './files';
import { servicesProjection } from './services';

export const projectionsFor = (config: Pick<Config, 'ACCESS_TOKEN_TTL'>): Projection[] => [
  ...identityProjections(config),
  apiKeysProjection,
  featuresProjection,
  accessStateProjection,
  userStreamsProjection,
  filesProjection,
  servicesProjection,
];

/** The PostgreSQL ones (their tables do not depend on configuration). */
export const pgProjections = (): PgProjection[] =>
  projectionsFor({ ACCESS_TOKEN_TTL: 0 }).filter((p): p is PgProjection => p.kind === 'postgres');
