/** The start/stop of the append-driven loops (projection runners, the workers' consumer). */
import { describe, expect, it } from 'vitest';
import { AppendLoop } from '../../src/infra/append-loop';

/** An in-memory append source: `append()` calls the listeners as a store's append does. */
function source() {
  const listeners = new Set<() => void>();
  return {
    listeners,
    onAppended(l: () => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    append() {
      for (const l of listeners) l();
    },
  };
}

describe('AppendLoop', () => {
  it('runs the loop once, an append marks it dirty and ends its sleep, stop waits for it and unsubscribes', async () => {
    const s = source();
    const control = new AppendLoop(s);
    let runs = 0;
    let woke = 0;
    const loop = async () => {
      runs++;
      while (!control.stopped) {
        control.dirty = false;
        await control.waker.sleep(60_000);
        if (control.dirty) woke++;
      }
    };
    control.start(loop);
    control.start(loop);
    expect(runs).toBe(1);
    expect(s.listeners.size).toBe(1);
    await new Promise((r) => setImmediate(r));
    s.append();
    await new Promise((r) => setImmediate(r));
    expect(woke).toBe(1);
    const t0 = Date.now();
    await control.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.listeners.size).toBe(0);
    control.start(loop); // after a stop, start runs it again
    expect(runs).toBe(2);
    await control.stop();
  });

  it('a signal that comes while the loop is awake (between its read and its sleep) ends the next sleep at once', async () => {
    const s = source();
    const control = new AppendLoop(s);
    const reads: number[] = [];
    let release!: () => void;
    const gap = new Promise<void>((r) => (release = r));
    const loop = async () => {
      while (!control.stopped) {
        control.dirty = false;
        reads.push(Date.now()); // the read: finds nothing
        if (reads.length === 1) await gap; // an await after the read (a held-back check, a Redis call)
        await control.sleep(60_000);
      }
    };
    control.start(loop);
    await new Promise((r) => setImmediate(r));
    s.append(); // no sleep in progress: the waker alone would drop this
    release();
    for (let i = 0; i < 20 && reads.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(reads.length).toBe(2);
    await control.stop();
  });

  it('a loop that sleeps after stop() returns at once', async () => {
    const control = new AppendLoop(source());
    control.stopped = true;
    const t0 = Date.now();
    await control.sleep(60_000);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
