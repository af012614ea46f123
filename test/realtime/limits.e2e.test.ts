/**
 * The hub's limits, from config: message size, per-connection message rate, and the backpressure
 * policy for slow consumers (close, never unbounded buffering). Idle timeout: idle.e2e.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { testServices, type TestServices } from '../helpers/app';
import { startRealtime } from '../../src/realtime/index';
import { activeUser, open, sleep, ticket } from './helpers';

let t: TestServices;
let hub: Awaited<ReturnType<typeof startRealtime>>;
const s = randomUUID().slice(0, 6);

beforeAll(async () => {
  t = await testServices('rtlimits', {
    REALTIME_MAX_MESSAGE_BYTES: '1024',
    REALTIME_MESSAGES_PER_SECOND: '5',
    REALTIME_MAX_BACKPRESSURE_BYTES: '65536',
  });
  hub = await startRealtime(t, { port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await hub?.stop();
  await t?.close();
});
const url = async (path: string) => `ws://127.0.0.1:${hub.port}${path}?ticket=${await ticket(t, await activeUser(t))}`;

describe('message size', () => {
  it('up to the limit passes; above it an error frame; above twice the limit the socket is dropped', async () => {
    const c = await open(await url(`/ws/size-${s}/sz-${s}`));
    const prefix = '/group ';
    c.send(prefix + 'x'.repeat(1024 - prefix.length));
    expect(await c.next('group_message')).toMatchObject({ group: `sz-${s}` });
    c.send(prefix + 'x'.repeat(1025 - prefix.length));
    expect(await c.next('error')).toMatchObject({ code: 'message_too_large' });
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    await sleep(1100); // refill the rate bucket
    c.send('x'.repeat(2049));
    expect((await c.closed).code).toBe(1006);
  });
});

describe('message rate', () => {
  it('excess messages are dropped with one rate_limited error per second; the socket stays', async () => {
    const c = await open(await url(`/ws/rate-${s}/rt-${s}`));
    for (let i = 0; i < 15; i++) c.send(`/group m${i}`);
    expect(await c.next('error')).toMatchObject({ code: 'rate_limited' });
    await sleep(300);
    const delivered = c.frames.filter((f) => f.type === 'group_message').length;
    expect(delivered).toBeGreaterThanOrEqual(4);
    expect(delivered).toBeLessThanOrEqual(6);
    expect(c.frames.filter((f) => f.type === 'error')).toEqual([]); // one error frame per second at most
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    await sleep(1100);
    c.frames.length = 0;
    c.send('/group after the pause');
    expect(await c.next('group_message')).toMatchObject({ text: 'after the pause' });
    c.close();
  });

  it('a flood closes the socket with 1008', async () => {
    const c = await open(await url(`/ws/flood-${s}`));
    for (let i = 0; i < 100; i++) c.send({ type: 'ping' });
    expect((await c.closed).code).toBe(1008);
  });
});

describe('backpressure', () => {
  it('a consumer that stops reading is closed once its buffer passes the limit; the hub buffers no more', async () => {
    const slow = await open(await url(`/ws/slow-${s}/bp-${s}`));
    const fast = await open(await url(`/ws/fast-${s}/bp-${s}`));
    slow.ws.pause(); // stop reading: the kernel buffers fill, then uWS's
    const frame = JSON.stringify({ type: 'group_message', group: `bp-${s}`, from: null, via: 'api', text: 'y'.repeat(16_000) });
    const total = 4000; // ~64 MB: far beyond socket buffers + 64 KiB
    let fastGot = 0;
    let wake: (() => void) | undefined;
    fast.ws.on('message', () => {
      fastGot++;
      wake?.();
    });
    // Paced by the fast reader (it must never pass the limit itself) until the slow one is dropped.
    let sent = 0;
    while (sent < total && hub.hub.connections === 2) {
      hub.hub.publishLocal(`g:bp-${s}`, frame);
      hub.hub.publishLocal(`g:bp-${s}`, frame);
      sent += 2;
      while (fastGot < sent) await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    }
    expect(hub.hub.connections).toBe(1);
    // The fast reader kept receiving, the slow one is gone from the hub.
    await sleep(200);
    const p = await hub.hub.state.client(`slow-${s}`);
    expect(p).toBeNull();
    slow.ws.resume();
    const closed = await slow.closed;
    expect(closed.code).not.toBe(1000);
    const received = slow.frames.filter((f) => f.type === 'group_message').length;
    expect(received).toBeLessThan(sent);
    expect(fastGot).toBe(sent);
    expect(sent).toBeLessThan(total);
    fast.close();
  }, 60_000);
});
