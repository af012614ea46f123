/** Every projection the projector role runs. Add new ones here. */
import type { Projection, PgProjection } from './types';

export const projections: Projection[] = [];

export const pgProjections = (): PgProjection[] => projections.filter((p): p is PgProjection => p.kind === 'postgres');
