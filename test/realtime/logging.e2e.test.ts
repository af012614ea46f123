/**
 * Tickets and access tokens never reach the hub's logs, at any level (ASVS 7.1.1 / 14.2.1).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import pino from 'pino';
import { testServices, type TestServices } from '../helpers/app';
import { startRealtime } from '../../src/realtime/index';
import { accessToken, activeUser, connect, isRefused, open, ticket } from './helpers';

let t: TestServices;
let hub: Awaited<ReturnType<typeof startRealtime>>;
let logged = '';

beforeAll(async () => {
  t = await testServices('rtlog');
  const sink = new Writable({ write(chunk, _enc, cb) { logged += chunk.toString(); cb(); } });
  hub = await startRealtime({ ...t, log: pino({ level: 'trace' }, sink) }, { port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await hub?.stop();
  await t?.close();
});

it('logs connections and refusals without tickets or tokens', async () => {
  const user = await activeUser(t);
  const good = await ticket(t, user);
  const c = await open(`ws://127.0.0.1:${hub.port}/ws/logged/g?ticket=${good}`);
  const reused = await connect(`ws://127.0.0.1:${hub.port}/ws?ticket=${good}`);
  expect(isRefused(reused)).toBe(true);
  const token = await accessToken(t, user);
  const viaToken = await connect(`ws://127.0.0.1:${hub.port}/ws`, { protocols: ['authledger.v1', `bearer.${token}`] });
  if (isRefused(viaToken)) throw new Error('refused');
  const bad = await connect(`ws://127.0.0.1:${hub.port}/ws`, { protocols: ['authledger.v1', `bearer.${token}x`] });
  expect(isRefused(bad)).toBe(true);
  c.close();
  viaToken.close();
  await c.closed;
  expect(logged).toContain('realtime: connected');
  expect(logged).toContain('upgrade refused');
  expect(logged).not.toContain(good);
  expect(logged).not.toContain(token.split('.')[2]!);
  expect(logged).not.toContain(token.split('.')[1]!);
});
