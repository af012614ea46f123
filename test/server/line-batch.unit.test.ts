/** Log lines joined per turn of the event loop (src/infra/line-batch.ts): in order, handed over at 4 KiB, at the end of the turn, and on flush. */
import { describe, expect, it } from 'vitest';
import { LineBatch, type BatchedDestination } from '../../src/infra/line-batch';

function memory() {
  const writes: string[] = [];
  const calls: string[] = [];
  const dest: BatchedDestination = {
    write: (s: string) => {
      writes.push(s);
      return true;
    },
    flush: (cb) => {
      calls.push('flush');
      cb?.();
    },
    flushSync: () => void calls.push('flushSync'),
    end: () => void calls.push('end'),
  };
  return { dest, writes, calls };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('line batch', () => {
  it('hands the lines of one turn over as one write, in order, at the end of the turn', async () => {
    const m = memory();
    const batch = new LineBatch(m.dest);
    for (let i = 0; i < 5; i++) batch.write(`{"i":${i}}\n`);
    expect(m.writes).toEqual([]);
    await turn();
    expect(m.writes).toEqual(['{"i":0}\n{"i":1}\n{"i":2}\n{"i":3}\n{"i":4}\n']);
    batch.write('{"i":5}\n');
    await turn();
    expect(m.writes).toHaveLength(2);
    expect(m.writes.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l).i)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('hands over at once when 4 KiB wait, and before flush, flushSync and end', async () => {
    const m = memory();
    const batch = new LineBatch(m.dest);
    const line = `${JSON.stringify({ pad: 'x'.repeat(1000) })}\n`;
    for (let i = 0; i < 5; i++) batch.write(line);
    expect(m.writes).toEqual([line.repeat(5)]); // 4 lines are under 4 KiB, the 5th makes it
    batch.write('{"a":1}\n');
    batch.flushSync();
    expect(m.writes.at(-1)).toBe('{"a":1}\n');
    expect(m.calls).toEqual(['flushSync']);
    batch.write('{"b":2}\n');
    batch.flush();
    expect(m.writes.at(-1)).toBe('{"b":2}\n');
    batch.write('{"c":3}\n');
    batch.end();
    expect(m.writes.at(-1)).toBe('{"c":3}\n');
    expect(m.calls).toEqual(['flushSync', 'flush', 'end']);
    await turn();
    expect(m.writes.join('')).toBe(`${line.repeat(5)}{"a":1}\n{"b":2}\n{"c":3}\n`);
  });

  it('on exit, what waits is handed over and written synchronously', () => {
    const m = memory();
    const batch = new LineBatch(m.dest);
    batch.write('{"last":true}\n');
    batch.exitFlush();
    expect(m.writes).toEqual(['{"last":true}\n']);
    expect(m.calls).toEqual(['flushSync']);
    batch.exitFlush(); // nothing waiting: nothing more
    expect(m.calls).toEqual(['flushSync']);
  });
});
