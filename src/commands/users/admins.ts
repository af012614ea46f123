/**
 * Who the active admins are, decided from the event store (never from a read model). Rules:
 * - an active admin is a user whose stream says: exists, not deleted, not disabled, role `admin`;
 * - candidates are the users of every `RoleGranted{role: admin}` in the log (few: admin grants are
 *   rare), each then judged on its own stream;
 * - removing an admin (delete, disable, demote) is decided under one PostgreSQL advisory lock
 *   across processes, so two admins removing each other at once cannot both succeed and leave
 *   none (the loser sees the winner's removal and is refused `last_admin`).
 */
import type { Services } from '../../services';
import { START, type EventStore, type Position } from '../../events/store';
import type { UserState } from '../../events/user';
import { inTransaction } from '../../infra/db';
import { loadUser } from './stream';

export const isActiveAdmin = (s: UserState): boolean => s.exists && !s.deleted && !s.disabled && s.roles.includes('admin');

export async function activeAdminIds(store: EventStore): Promise<string[]> {
  const candidates = new Set<string>();
  let from: Position = START;
  for (;;) {
    const page = await store.readAll({ fromPosition: from, maxCount: 1000, filter: { eventTypes: ['RoleGranted'] } });
    for (const e of page) {
      const d = e.data as { userId?: string; role?: string };
      if (d.role === 'admin' && d.userId) candidates.add(d.userId);
    }
    if (page.length < 1000) break;
    from = page.at(-1)!.position;
  }
  const out: string[] = [];
  for (const id of candidates) if (isActiveAdmin((await loadUser(store, id)).state)) out.push(id);
  return out;
}

const ADMIN_REMOVAL_LOCK = [1095582037, 20];

/**
 * Runs `fn` with the number of *other* active admins when `userId` is an active admin now (under the
 * admin-removal lock), or with `undefined` when it is not one (nothing to protect, no lock).
 */
export async function guardAdminRemoval<T>(services: Services, userId: string, fn: (otherActiveAdmins: number | undefined) => Promise<T>): Promise<T> {
  if (!isActiveAdmin((await loadUser(services.store, userId)).state)) return fn(undefined);
  return inTransaction(services.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', ADMIN_REMOVAL_LOCK);
    const others = (await activeAdminIds(services.store)).filter((id) => id !== userId).length;
    return fn(others);
  });
}
