/**
 * Saved queries of the read-model browser (stream `savedqueries-<userId>`, one per admin).
 * Why events and not a table: they are an admin's own actions on the auth server, so they show in
 * that admin's audit trail and `state?at=` like everything else, and no second storage path is
 * needed. They carry `userId` (the admin) so the audit index finds them.
 */
import { z } from 'zod';
import { defineEvent, type EventOf } from './registry';

export const SAVED_QUERY_MAX = 100;
export const savedQueryName = z.string().min(1).max(100);
export const SavedQueryStored = defineEvent('SavedQueryStored', z.object({
  userId: z.string(), queryId: z.string(), name: savedQueryName, sql: z.string().max(20_000),
}));
export const SavedQueryDeleted = defineEvent('SavedQueryDeleted', z.object({ userId: z.string(), queryId: z.string() }));
export const savedQueryEvents = [SavedQueryStored, SavedQueryDeleted];

export type SavedQueryEvent = EventOf<typeof SavedQueryStored> | EventOf<typeof SavedQueryDeleted>;

export interface SavedQuery { id: string; name: string; sql: string }
/** Insertion order is kept (a Map), so the list reads oldest first. */
export interface SavedQueriesState { queries: Map<string, SavedQuery> }

export const initialSavedQueriesState = (): SavedQueriesState => ({ queries: new Map() });

export function evolveSavedQueries(state: SavedQueriesState, event: SavedQueryEvent): SavedQueriesState {
  const queries = new Map(state.queries);
  switch (event.type) {
    case 'SavedQueryStored':
      queries.set(event.data.queryId, { id: event.data.queryId, name: event.data.name, sql: event.data.sql });
      return { queries };
    case 'SavedQueryDeleted':
      queries.delete(event.data.queryId);
      return { queries };
    default:
      return state;
  }
}
