/** "What was this user at time T": reads the user's events up to T through the index and folds. */
import type pg from 'pg';
import type { EventRegistry } from '../../events/registry';
import { accessibleFeatures, foldFeatures, foldUser } from './fold';
import { readFeatureEvents, readUserEvents } from './log';

export interface UserStateDto {
  user_id: string;
  at: string;
  profile: {
    email: string;
    name: string;
    email_verified: boolean;
    status: 'active' | 'disabled' | 'deleted';
    source: string;
    registered_at: string;
    locked_until: string | null;
  };
  roles: string[];
  sessions: { id: string; device_name: string | null; ip: string | null; user_agent: string | null; since: string; last_rotated_at: string | null; expires_at: string }[];
  api_keys: { id: string; name: string; prefix: string; features: '*' | string[]; issued_at: string; expires_at: string | null }[];
  features: string[];
  events_applied: number;
  last_event_at: string | null;
}

export async function userStateAt(db: pg.Pool | pg.ClientBase, registry: EventRegistry, userId: string, at: Date): Promise<UserStateDto | undefined> {
  const [events, featureEvents] = await Promise.all([
    readUserEvents(db, registry, userId, { to: at }),
    readFeatureEvents(db, registry, at),
  ]);
  const u = foldUser(events, at);
  if (!u) return undefined;
  const features = foldFeatures(featureEvents, at);
  return {
    user_id: u.userId,
    at: at.toISOString(),
    profile: {
      email: u.email,
      name: u.name,
      email_verified: u.emailVerified,
      status: u.status,
      source: u.source,
      registered_at: u.registeredAt,
      locked_until: u.lockedUntil,
    },
    roles: [...u.roles].sort(),
    sessions: [...u.sessions.values()].map((s) => ({
      id: s.id,
      device_name: s.deviceName,
      ip: s.ip,
      user_agent: s.userAgent,
      since: s.startedAt,
      last_rotated_at: s.lastRotatedAt,
      expires_at: s.expiresAt,
    })),
    api_keys: [...u.apiKeys.values()].map((k) => ({
      id: k.id,
      name: k.name,
      prefix: k.prefix,
      features: k.features,
      issued_at: k.issuedAt,
      expires_at: k.expiresAt,
    })),
    features: accessibleFeatures(u, features),
    events_applied: u.eventsApplied,
    last_event_at: u.lastEventAt,
  };
}
