/**
 * The API app with the gateway role on a real port, its projector, an admin and a user: what every
 * in-process gateway test starts with. `close` stops the projector and the app.
 */
import type { AddressInfo } from 'node:net';
import { testApp } from '../helpers/app';
import { eventually, newAdmin, newUser, runProjections } from '../helpers/users';

export async function startGatewayApp(label: string, env: Record<string, string> = {}) {
  const t = await testApp(label, { ROLES: 'api,gateway', ...env });
  const projector = runProjections(t.services);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  const admin = await newAdmin(t.app, t.services);
  const alice = await newUser(t.app, 'alice');
  return {
    app: t.app,
    services: t.services,
    projector,
    base,
    admin,
    alice,
    /** POST /api/v1/services as the admin. */
    register: (body: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/v1/services', headers: { authorization: `Bearer ${admin.token}` }, payload: body }),
    /** Until this process's gateway routes the service. */
    visible: (name: string) => eventually(async () => !!t.app.gateway.service(name), 5000),
    close: async () => {
      await projector.stop();
      await t.close();
    },
  };
}

export type GatewayApp = Awaited<ReturnType<typeof startGatewayApp>>;
