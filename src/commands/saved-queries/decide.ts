/**
 * Saved read-model queries of one admin (stream `savedqueries-<userId>`). Rules:
 * - saving under a name the admin already uses replaces that query (same id), so a name is unique;
 * - at most SAVED_QUERY_MAX queries per admin (409 `saved_queries_full`);
 * - saving the same name and text again changes nothing (no event);
 * - deleting needs an existing query (404 `saved_query_not_found`).
 * The text is not checked here: it is checked each time it runs (src/queries/admin-sql/check.ts).
 */
import { domainError } from '../../errors';
import {
  SAVED_QUERY_MAX, evolveSavedQueries, initialSavedQueriesState, type SavedQueriesState, type SavedQueryEvent,
} from '../../events/saved-query';

export type SavedQueryCommand =
  | { type: 'SaveQuery'; userId: string; newId: string; name: string; sql: string }
  | { type: 'DeleteSavedQuery'; userId: string; queryId: string };

export function decideSavedQuery(command: SavedQueryCommand, state: SavedQueriesState): SavedQueryEvent[] {
  switch (command.type) {
    case 'SaveQuery': {
      const same = [...state.queries.values()].find((q) => q.name === command.name);
      if (same && same.sql === command.sql) return [];
      if (!same && state.queries.size >= SAVED_QUERY_MAX) throw domainError('saved_queries_full', `At most ${SAVED_QUERY_MAX} saved queries; delete one first.`);
      return [{ type: 'SavedQueryStored', data: { userId: command.userId, queryId: same?.id ?? command.newId, name: command.name, sql: command.sql } }];
    }
    case 'DeleteSavedQuery':
      if (!state.queries.has(command.queryId)) throw domainError('saved_query_not_found', 'No such saved query.');
      return [{ type: 'SavedQueryDeleted', data: { userId: command.userId, queryId: command.queryId } }];
  }
}

export const savedQueryDecider = { initialState: initialSavedQueriesState, evolve: evolveSavedQueries, decide: decideSavedQuery };
