/**
 * RecentWrites (src/http/read-your-writes.ts): the positions this process answered per session,
 * the head start of a session's next query. It keeps the newest of out-of-order answers, forgets
 * an entry after the session TTL and holds at most `max` sessions (the oldest goes first).
 */
import { describe, expect, it } from 'vitest';
import { RecentWrites } from '../../src/http/read-your-writes';
import { sleep } from '../events/fixtures';

const at = (commit: number, prepare = 0) => ({ commit: BigInt(commit), prepare: BigInt(prepare) });

describe('RecentWrites', () => {
  it('keeps the newest position of a session, whatever order the answers come in', () => {
    const r = new RecentWrites(60_000);
    r.remember('s', at(10, 5));
    r.remember('s', at(10, 3));
    expect(r.get('s')).toEqual(at(10, 5));
    r.remember('s', at(11, 1));
    expect(r.get('s')).toEqual(at(11, 1));
    expect(r.get('other')).toBeUndefined();
  });

  it('forgets a session after the TTL', async () => {
    const r = new RecentWrites(50);
    r.remember('s', at(1));
    expect(r.get('s')).toEqual(at(1));
    await sleep(80);
    expect(r.get('s')).toBeUndefined();
  });

  it('holds at most max sessions; the least recently written goes first', () => {
    const r = new RecentWrites(60_000, 2);
    r.remember('a', at(1));
    r.remember('b', at(2));
    r.remember('a', at(3)); // written again: now the newest entry
    r.remember('c', at(4));
    expect(r.get('b')).toBeUndefined();
    expect(r.get('a')).toEqual(at(3));
    expect(r.get('c')).toEqual(at(4));
  });
});
