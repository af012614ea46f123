/**
 * The audit index: which streams hold events about which user (table `user_streams`).
 * Rules:
 * - every event whose data carries `userId` (CONTRACTS: every event about a user does) puts its
 *   stream in that user's index; the list of handled types is derived from the registry, so
 *   events added later are indexed without touching this file;
 * - a row keeps the first and last log position and time and the number of the user's events in
 *   that stream, so audit queries scan only the streams that can hold events in their window;
 * - a batch is folded in memory first and written with one upsert (rebuilds stay fast).
 */
import { allEvents } from '../events/index';
import type { RecordedEvent } from '../events/store';
import type { PgProjection } from './types';
import { tableLayout } from './columns';

export const userStreamsTable = tableLayout(
  {
    user_id: 'text NOT NULL',
    stream_name: 'text NOT NULL',
    first_commit: 'bigint NOT NULL',
    first_prepare: 'bigint NOT NULL',
    last_commit: 'bigint NOT NULL',
    last_prepare: 'bigint NOT NULL',
    // created_at of the first and last of these events, widened to whole milliseconds (the
    // precision the projection sees) so the window always covers them.
    first_at: 'timestamptz NOT NULL',
    last_at: 'timestamptz NOT NULL',
    events: 'bigint NOT NULL',
  },
  { constraints: ['PRIMARY KEY (user_id, stream_name)'] },
);

/** Event types whose data has a `userId` field. */
export const userEventTypes: readonly string[] = allEvents
  .filter((d) => {
    const shape = (d.schema as unknown as { shape?: Record<string, unknown> }).shape;
    return !!shape && 'userId' in shape;
  })
  .map((d) => d.type);

interface Entry {
  userId: string;
  stream: string;
  firstCommit: bigint;
  firstPrepare: bigint;
  lastCommit: bigint;
  lastPrepare: bigint;
  firstAt: Date;
  lastAt: Date;
  events: number;
}

export const userStreamsProjection: PgProjection = {
  kind: 'postgres',
  name: 'user_streams',
  version: 2,
  handles: userEventTypes,
  tables: {
    user_streams: userStreamsTable.ddl,
  },
  async apply(events: RecordedEvent[], ctx) {
    const byKey = new Map<string, Entry>();
    for (const e of events) {
      const userId = (e.data as { userId?: unknown }).userId;
      if (typeof userId !== 'string') continue;
      const key = `${userId}\u0000${e.streamName}`;
      const cur = byKey.get(key);
      if (cur) {
        cur.lastCommit = e.position.commit;
        cur.lastPrepare = e.position.prepare;
        if (e.createdAt > cur.lastAt) cur.lastAt = e.createdAt;
        if (e.createdAt < cur.firstAt) cur.firstAt = e.createdAt;
        cur.events++;
      } else {
        byKey.set(key, {
          userId,
          stream: e.streamName,
          firstCommit: e.position.commit,
          firstPrepare: e.position.prepare,
          lastCommit: e.position.commit,
          lastPrepare: e.position.prepare,
          firstAt: e.createdAt,
          lastAt: e.createdAt,
          events: 1,
        });
      }
    }
    if (!byKey.size) return;
    const rows = [...byKey.values()];
    const t = ctx.table('user_streams');
    await ctx.write(
      `INSERT INTO ${t} AS t (user_id, stream_name, first_commit, first_prepare, last_commit, last_prepare, first_at, last_at, events)
       SELECT u.a, u.b, u.c, u.d, u.e, u.f, u.g, u.h + interval '999 microseconds', u.i
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::timestamptz[], $8::timestamptz[], $9::bigint[])
              AS u(a, b, c, d, e, f, g, h, i)
       ON CONFLICT (user_id, stream_name) DO UPDATE
         SET last_commit = EXCLUDED.last_commit, last_prepare = EXCLUDED.last_prepare, events = t.events + EXCLUDED.events,
             first_at = least(t.first_at, EXCLUDED.first_at), last_at = greatest(t.last_at, EXCLUDED.last_at)`,
      [
        rows.map((r) => r.userId),
        rows.map((r) => r.stream),
        rows.map((r) => r.firstCommit.toString()),
        rows.map((r) => r.firstPrepare.toString()),
        rows.map((r) => r.lastCommit.toString()),
        rows.map((r) => r.lastPrepare.toString()),
        rows.map((r) => r.firstAt.toISOString()),
        rows.map((r) => r.lastAt.toISOString()),
        rows.map((r) => r.events),
      ],
    );
  },
};
