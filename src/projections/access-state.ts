/**
 * Redis projection `access-state`: the state the access check reads (src/infra/access-state.ts),
 * with an invalidation message per change in the same MULTI as the checkpoint. Commands also
 * apply the same state inline (read-your-writes); revisions keep the two idempotent.
 */
import type { RedisProjection } from './types';
import { ACCESS_STATE_EVENTS, accessWritesFor, queueAccessWrites, type AccessStateWrite } from '../infra/access-state';

export const accessStateProjection: RedisProjection = {
  kind: 'redis',
  name: 'access-state',
  handles: ACCESS_STATE_EVENTS,
  async apply(events, { multi, key }) {
    const writes = events.map(accessWritesFor).filter((w): w is AccessStateWrite => !!w);
    queueAccessWrites(multi, key(''), writes);
  },
};
