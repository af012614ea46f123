/**
 * What the outside HTTP benchmarks (http.bench.ts, profile.ts) share: the settings every row
 * runs with, the production-like settings, the measured routes, and the setup done through the API
 * (a real signup and login, a feature registered by the admin, an API key issued by the user).
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { QUICK } from './lib';
import { api, sleep, type Server } from './outside';

/** Every row: one client IP, so the limiters are at their maximum (still running). */
export const COMMON: Record<string, string> = {
  // A smoke run only: cheaper hashes so that logins finish on a busy machine.
  ...(QUICK ? { BCRYPT_COST: '8' } : {}),
  RATE_LIMIT_PER_MINUTE: '1000000',
  RATE_LIMIT_AUTH_PER_MINUTE: '1000000',
  API_KEY_RATE_LIMIT_PER_MINUTE: '1000000',
  ADMIN_EMAIL: 'admin@bench.example.com',
  ADMIN_PASSWORD: `Admin-${randomBytes(8).toString('hex')}-Harbour!`,
};

export async function productionEnv(): Promise<Record<string, string>> {
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `bench-${randomBytes(4).toString('hex')}`, alg: 'EdDSA' };
  return {
    NODE_ENV: 'production',
    JWT_PRIVATE_KEYS: JSON.stringify([jwk]),
    PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
    CORS_ORIGINS: 'https://app.bench.example.com',
  };
}

export interface Row {
  id: string;
  title: string;
  server: Server;
  /** Other processes of the same deployment. */
  companions: Server[];
}

export interface Route {
  id: string;
  title: string;
  spec(row: Prepared): { url: string; method?: string; headers: Record<string, string> };
}

export interface Prepared extends Row {
  token: string;
  apiKey: string;
  email: string;
  password: string;
}

export const ROUTES: Route[] = [
  { id: 'verify', title: 'GET /api/v1/auth/verify', spec: (r) => ({ url: `${r.server.base}/api/v1/auth/verify`, headers: { authorization: `Bearer ${r.token}` } }) },
  { id: 'me', title: 'GET /api/v1/auth/me', spec: (r) => ({ url: `${r.server.base}/api/v1/auth/me`, headers: { authorization: `Bearer ${r.token}` } }) },
  {
    id: 'access',
    title: 'POST /api/v1/features/{name}/access',
    spec: (r) => ({ url: `${r.server.base}/api/v1/features/reports/access`, method: 'POST', headers: { authorization: `Bearer ${r.token}`, 'x-api-key': r.apiKey } }),
  },
];

/** A real user, feature and API key, all through the API. */
export async function prepare(row: Row): Promise<Prepared> {
  const base = row.server.base;
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  let admin: string | undefined;
  for (const deadline = Date.now() + 30_000; !admin;) {
    // The admin is created by a startup task; it may land just after /health answers.
    admin = await api(base, 'POST', '/api/v1/auth/login', { email: COMMON.ADMIN_EMAIL, password: COMMON.ADMIN_PASSWORD }).then((r) => r.access_token as string, (e) => {
      if (Date.now() > deadline) throw e;
      return undefined;
    });
    if (!admin) await sleep(200);
  }
  await api(base, 'POST', '/api/v1/features', { name: 'reports', description: 'bench' }, bearer(admin));
  const email = `bench.${randomBytes(4).toString('hex')}@example.com`;
  const password = `Bench-${randomBytes(6).toString('hex')}-Lantern!`;
  await api(base, 'POST', '/api/v1/auth/signup', { email, password, name: 'Bench' });
  const { access_token: token } = await api(base, 'POST', '/api/v1/auth/login', { email, password });
  const { api_key: apiKey } = await api(base, 'POST', '/api/v1/api-keys', { name: 'bench', features: ['reports'] }, bearer(token));
  const prepared = { ...row, token, apiKey, email, password };
  // Every route answers 200 before it is measured (the key reaches the access cache via the log).
  for (const route of ROUTES) {
    const s = route.spec(prepared);
    for (const deadline = Date.now() + 15_000; ;) {
      const res = await fetch(s.url, { method: s.method ?? 'GET', headers: s.headers });
      if (res.status === 200) break;
      if (Date.now() > deadline) throw new Error(`${row.id} ${route.title}: ${res.status} ${await res.text()}`);
      await sleep(200);
    }
  }
  return prepared;
}

