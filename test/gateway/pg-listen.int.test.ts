/**
 * src/infra/pg-listen.ts, the LISTEN connection shared by the gateway's service directory and the
 * checkpoint feed, against a real PostgreSQL: notices arrive; a killed backend is noticed (live
 * false), reconnected (live true, onReconnect) and notices arrive again; after stop nothing does.
 * And the directory built on it follows a registry change after its connection was killed, with
 * the safety-net poll far away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, type TestServices } from '../helpers/app';
import { PgListener } from '../../src/infra/pg-listen';
import { bearer, eventually, newAdmin, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { sleep } from '../server/helpers';

const killListeners = async (s: TestServices, channel: string) => (await s.pool.query<{ n: string }>(
  `SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE datname = current_database() AND query = $1`,
  [`LISTEN ${channel}`],
)).rows[0]!.n;

describe('PgListener', () => {
  let app: FastifyInstance;
  let s: TestServices;
  let close: () => Promise<void>;
  let projector: ProjectorHandle;
  let admin: TestUser;

  beforeAll(async () => {
    ({ app, services: s, close } = await testApp('gateway-pglisten', { ROLES: 'api,gateway', GATEWAY_REGISTRY_POLL_MS: '600000' }));
    projector = runProjections(s);
    admin = await newAdmin(app, s);
  });
  afterAll(async () => {
    await projector?.stop();
    await close();
  });

  it('delivers notices, comes back after its backend is killed, and is silent after stop', async () => {
    const notices: string[] = [];
    const live: boolean[] = [];
    let reconnects = 0;
    const l = new PgListener({
      pool: s.pool, channel: 'pglisten_test', label: 'test', retryMs: 100,
      onNotice: (p) => notices.push(p ?? ''), onLive: (v) => live.push(v), onReconnect: () => reconnects++,
    });
    await l.start();
    expect(l.live).toBe(true);
    await s.pool.query(`NOTIFY pglisten_test, 'one'`);
    await eventually(async () => notices.includes('one'), 5000);

    expect(await killListeners(s, 'pglisten_test')).toBe('1');
    await eventually(async () => reconnects === 1 && l.live, 5000);
    expect(live).toEqual([true, false, true]);
    await s.pool.query(`NOTIFY pglisten_test, 'two'`);
    await eventually(async () => notices.includes('two'), 5000);

    await l.stop();
    expect(l.live).toBe(false);
    await s.pool.query(`NOTIFY pglisten_test, 'three'`);
    await sleep(300);
    expect(notices).toEqual(['one', 'two']);
    expect(await killListeners(s, 'pglisten_test')).toBe('0');
  });

  it('the service directory follows a change after its LISTEN connection was killed (poll at 10 min)', async () => {
    await app.gateway.ready({ health: false });
    expect(await killListeners(s, 'authledger_services')).toBe('1');
    await sleep(1000); // reconnected by now (every 500 ms)
    const r = await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(admin.token), payload: { name: 'after', upstreams: ['http://127.0.0.1:9'] } });
    expect(r.statusCode).toBe(201);
    await eventually(async () => !!app.gateway.service('after'), 3000);
  });
});
