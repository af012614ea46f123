/**
 * Credentials for the endpoints that are off the public surface (issue 20 §7): a METRICS_TOKEN
 * for /metrics and an HTTP Basic token client (TOKEN_CLIENTS) for /api/v1/tokens/verify|revoke.
 *   const t = await testApp('label', { ...METRICS_ENV, ...TOKEN_CLIENT_ENV });
 *   await t.app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth });
 */
import { createHash } from 'node:crypto';

export const METRICS_TEST_TOKEN = 'metrics-test-token-0123456789abcdef-0123456789';
export const METRICS_ENV = { METRICS_TOKEN: METRICS_TEST_TOKEN };
export const metricsAuth = { authorization: `Bearer ${METRICS_TEST_TOKEN}` };

export const TOKEN_CLIENT_ID = 'test-gateway';
export const TOKEN_CLIENT_SECRET = 'test-gateway-secret-0123456789abcdef0123456789';
export const TOKEN_CLIENT_ENV = { TOKEN_CLIENTS: `${TOKEN_CLIENT_ID}:${createHash('sha256').update(TOKEN_CLIENT_SECRET).digest('hex')}` };
export const basicAuth = (id = TOKEN_CLIENT_ID, secret = TOKEN_CLIENT_SECRET) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
export const tokenClientAuth = basicAuth();
