/**
 * "What was this user at time T": the user's events up to T (through the index), folded in time
 * order, continued from the newest snapshot at or before T when there is one.
 * Rules:
 * - a snapshot at `cut` holds the fold of every one of the user's events with created_at <= cut;
 *   the fold goes on from it with the events after `cut`, so the answer is the same with or
 *   without snapshots (tests check both);
 * - snapshots are written while folding, every SNAPSHOT_EVERY (250) events, only at a cut that later
 *   events cannot fall before: older than SNAPSHOT_SAFETY and than every running transaction
 *   (so a late commit cannot land behind it), and on a millisecond boundary between events;
 * - a snapshot of another fold version is ignored; `cli import` clears them.
 */
import type pg from 'pg';
import type { EventStore } from '../../events/store';
import { accessibleFeatures, applyEvent, deserialize, FOLD_VERSION, foldFeatures, serialize, viewAt, type UserAt } from './fold';
import { readFeatureEvents, readUserEvents } from './log';

export const SNAPSHOT_EVERY = 250;
/** Hot events whose payload the fold does not need beyond ids (see `applyEvent`). */
const SLIM_TYPES = ['SessionRotated'];
const SNAPSHOT_SAFETY_SECONDS = 60;

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
  /** Second factors at that moment (issue 17): kinds, names, dates. */
  factors: { id: string; method: 'totp' | 'passkey' | 'recovery_code'; name: string; added_at: string; last_used_at: string | null }[];
  /** Files the user owned at that moment (issue 15): uploaded and not yet deleted. */
  files: { id: string; name: string; category: string; content_type: string; size: number; sha256: string; uploaded_at: string }[];
  events_applied: number;
  last_event_at: string | null;
}

interface Snapshot {
  cut: string;
  events: number;
  state: unknown;
}

async function latestSnapshot(db: pg.Pool | pg.ClientBase, userId: string, at: Date): Promise<Snapshot | undefined> {
  const { rows } = await db.query<Snapshot>(
    `SELECT to_char(cut AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cut, events, state FROM audit_snapshots
      WHERE user_id = $1 AND cut <= $2 AND fold_version = $3 ORDER BY cut DESC LIMIT 1`,
    [userId, at.toISOString(), FOLD_VERSION],
  );
  return rows[0];
}

/** The latest moment a snapshot may be cut at: no event can still be appended at or before it. */
async function safeCut(db: pg.Pool | pg.ClientBase): Promise<number> {
  const { rows } = await db.query<{ safe: Date }>(
    `SELECT least(now() - make_interval(secs => $1),
                  (SELECT min(xact_start) FROM pg_stat_activity WHERE backend_xid IS NOT NULL)) AS safe`,
    [SNAPSHOT_SAFETY_SECONDS],
  );
  return rows[0]!.safe.getTime() - 1;
}

/** The accumulated (not yet time-pruned) fold up to `at`, snapshotting on the way. */
export async function accumulateUser(db: pg.Pool | pg.ClientBase, store: EventStore, userId: string, at: Date, opts: { snapshots?: boolean } = {}): Promise<UserAt | undefined> {
  const useSnapshots = opts.snapshots !== false;
  const snap = useSnapshots ? await latestSnapshot(db, userId, at) : undefined;
  const events = await readUserEvents(db, store, userId, { afterTime: snap?.cut, to: at, order: 'time', slim: SLIM_TYPES });
  // Only a long fold can write a snapshot: ask for the safe cut only then.
  const safe = useSnapshots && events.length >= SNAPSHOT_EVERY ? await safeCut(db) : 0;
  let u: UserAt | undefined = snap ? deserialize(snap.state) : undefined;
  let sinceSnapshot = 0;
  const toWrite: { cut: string; events: number; state: unknown }[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    u = applyEvent(u, e);
    sinceSnapshot++;
    if (!useSnapshots || !u || sinceSnapshot < SNAPSHOT_EVERY) continue;
    const ms = e.createdAt.getTime();
    const next = events[i + 1];
    // Cut at the end of this millisecond, when every event of it is folded and it is safe.
    if (ms <= safe && (!next || next.createdAt.getTime() > ms)) {
      toWrite.push({ cut: `${e.createdAt.toISOString().slice(0, -1)}999Z`, events: u.eventsApplied, state: serialize(u) });
      sinceSnapshot = 0;
    }
  }
  if (toWrite.length) {
    await db.query(
      `INSERT INTO audit_snapshots (user_id, cut, events, state, fold_version)
       SELECT $1, u.cut, u.events, u.state, $5 FROM unnest($2::timestamptz[], $3::int[], $4::jsonb[]) AS u(cut, events, state)
       ON CONFLICT (user_id, cut) DO NOTHING`,
      [userId, toWrite.map((w) => w.cut), toWrite.map((w) => w.events), toWrite.map((w) => JSON.stringify(w.state)), FOLD_VERSION],
    ).catch(() => undefined); // a cache: never fail the read for it
  }
  return u;
}

export async function userStateAt(db: pg.Pool | pg.ClientBase, store: EventStore, userId: string, at: Date, opts: { snapshots?: boolean } = {}): Promise<UserStateDto | undefined> {
  const [acc, featureEvents] = await Promise.all([
    accumulateUser(db, store, userId, at, opts),
    readFeatureEvents(store, at),
  ]);
  if (!acc) return undefined;
  const u = viewAt(acc, at);
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
    factors: u.factors.map((f) => ({ id: f.id, method: f.method, name: f.name, added_at: f.addedAt, last_used_at: f.lastUsedAt })),
    files: [...u.files.values()].map((f) => ({ id: f.id, name: f.name, category: f.category, content_type: f.contentType, size: f.size, sha256: f.sha256, uploaded_at: f.uploadedAt })),
    events_applied: u.eventsApplied,
    last_event_at: u.lastEventAt,
  };
}
