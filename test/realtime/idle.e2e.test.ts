/**
 * Idle timeout with ping/pong (REALTIME_IDLE_TIMEOUT_SECONDS): the hub pings a quiet peer; a peer
 * that answers stays, one that does not is closed. (Own file: it waits ~2 idle periods, so it
 * runs in parallel with the other files.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { startRealtime } from '../../src/realtime/index';
import { activeUser, open, ticket } from './helpers';

let t: TestServices;
let hub: Awaited<ReturnType<typeof startRealtime>>;

beforeAll(async () => {
  t = await testServices('rtidle', { REALTIME_IDLE_TIMEOUT_SECONDS: '8' });
  hub = await startRealtime(t, { port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await hub?.stop();
  await t?.close();
});
const url = async () => `ws://127.0.0.1:${hub.port}/ws?ticket=${await ticket(t, await activeUser(t))}`;

it('pings quiet peers; closes the one that never answers, keeps the one that does', async () => {
  const alive = await open(await url());
  const mute = await open(await url(), { autoPong: false });
  let pings = 0;
  alive.ws.on('ping', () => pings++);
  const started = Date.now();
  const closed = await mute.closed;
  const after = (closed.at - started) / 1000;
  expect(after).toBeGreaterThanOrEqual(5);
  expect(after).toBeLessThan(25);
  expect(pings).toBeGreaterThanOrEqual(1);
  expect(alive.ws.readyState).toBe(alive.ws.OPEN);
  alive.close();
}, 40_000);
