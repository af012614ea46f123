/** Ending all of a user's sessions, through the identity stream's revocation (one place for it). */
import type { Services } from '../../services';
import type { EventMetadata } from '../../events/store';
import type { SessionRevokedReason } from '../../events/session';
import { revokeUserSessions } from '../identity/service';

/** This process's session gate, when there is one (told first, before the pub/sub message). */
export type Gate = { markEnded(sessionId: string): void } | undefined;

export async function endAllSessionsOfUser(services: Services, userId: string, reason: SessionRevokedReason, metadata: EventMetadata, gate?: Gate): Promise<number> {
  return revokeUserSessions(
    { config: services.config, store: services.store, redis: services.redis, prefix: services.prefix, inline: services.inline, pool: services.pool, gate },
    userId, reason, undefined, metadata,
  );
}
