/** Saved read-model queries: given / when / then. */
import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { savedQueryDecider } from '../../src/commands/saved-queries/decide';
import { SAVED_QUERY_MAX, type SavedQueryEvent } from '../../src/events/saved-query';

const stored = (queryId: string, name: string, sql: string): SavedQueryEvent => ({ type: 'SavedQueryStored', data: { userId: 'u1', queryId, name, sql } });
const save = (name: string, sql: string) => ({ type: 'SaveQuery' as const, userId: 'u1', newId: 'new', name, sql });

describe('saved queries decider', () => {
  it('stores a new query under a new id', () => {
    spec(savedQueryDecider).given([]).when(save('a', 'SELECT 1')).then([stored('new', 'a', 'SELECT 1')]);
  });
  it('replaces a query saved under the same name (same id)', () => {
    spec(savedQueryDecider).given([stored('q1', 'a', 'SELECT 1')]).when(save('a', 'SELECT 2')).then([stored('q1', 'a', 'SELECT 2')]);
  });
  it('saving the same text again changes nothing', () => {
    spec(savedQueryDecider).given([stored('q1', 'a', 'SELECT 1')]).when(save('a', 'SELECT 1')).then([]);
  });
  it('refuses more than the maximum', () => {
    const full = Array.from({ length: SAVED_QUERY_MAX }, (_, i) => stored(`q${i}`, `n${i}`, 'SELECT 1'));
    spec(savedQueryDecider).given(full).when(save('another', 'SELECT 1')).thenThrows('saved_queries_full');
    spec(savedQueryDecider).given(full).when(save('n3', 'SELECT 3')).then([stored('q3', 'n3', 'SELECT 3')]);
  });
  it('deletes an existing query; a missing one is 404', () => {
    spec(savedQueryDecider).given([stored('q1', 'a', 'SELECT 1')]).when({ type: 'DeleteSavedQuery', userId: 'u1', queryId: 'q1' })
      .then([{ type: 'SavedQueryDeleted', data: { userId: 'u1', queryId: 'q1' } }]);
    spec(savedQueryDecider).given([stored('q1', 'a', 'SELECT 1'), { type: 'SavedQueryDeleted', data: { userId: 'u1', queryId: 'q1' } }])
      .when({ type: 'DeleteSavedQuery', userId: 'u1', queryId: 'q1' }).thenThrows('saved_query_not_found');
  });
});
