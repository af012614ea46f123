/**
 * src/infra/request-writes.ts: a request that named its writer (`noteWriter`) has each newer
 * append remembered at once; the edge awaits what was remembered (`rememberedInRequest`).
 */
import { describe, expect, it } from 'vitest';
import { logContext } from '../../src/infra/logger';
import { appendedInRequest, noteAppended, noteWriter, rememberedInRequest } from '../../src/infra/request-writes';
import type { Position } from '../../src/events/store';

const at = (commit: number, prepare: number): Position => ({ commit: BigInt(commit), prepare: BigInt(prepare) });

describe('request writes', () => {
  it('remembers each newer append for the noted session as it is noted, and settles once all are remembered', async () => {
    const calls: [string, Position][] = [];
    const releases: (() => void)[] = [];
    const remember = (sid: string, p: Position) => {
      calls.push([sid, p]);
      return new Promise<void>((r) => releases.push(r));
    };
    await logContext.run({ request_id: 'r1' }, async () => {
      noteAppended(at(1, 1)); // before the writer is known: not remembered early
      expect(rememberedInRequest()).toBeUndefined();
      noteWriter('s1', remember);
      noteAppended(at(2, 5));
      noteAppended(at(2, 4)); // older: ignored
      noteAppended(at(3, 1));
      expect(calls).toEqual([['s1', at(2, 5)], ['s1', at(3, 1)]]);
      expect(appendedInRequest()).toEqual(at(3, 1));
      const r = rememberedInRequest()!;
      expect(r.sessionId).toBe('s1');
      expect(r.position).toEqual(at(3, 1));
      let settled = false;
      void r.done.then(() => (settled = true));
      releases[1]!();
      await new Promise((x) => setImmediate(x));
      expect(settled).toBe(false); // the first one is still in flight
      releases[0]!();
      await new Promise((x) => setImmediate(x));
      expect(settled).toBe(true);
    });
  });

  it('outside a request, or without a writer, nothing is remembered early', async () => {
    const calls: Position[] = [];
    noteWriter('s', async (_s, p) => void calls.push(p));
    noteAppended(at(1, 1));
    expect(rememberedInRequest()).toBeUndefined();
    await logContext.run({ request_id: 'r2' }, async () => {
      noteAppended(at(1, 1));
      expect(rememberedInRequest()).toBeUndefined();
    });
    expect(calls).toEqual([]);
  });
});
