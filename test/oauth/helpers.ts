/** Drives a redirect flow against a stand-in: begin → provider → the callback URL (not fetched). */
import { expect } from 'vitest';
import { configuredProviders, callbackUrl } from '../../src/commands/oauth/providers';
import { createOAuthClient, memoryTransactionStore, type OAuthClient } from '../../src/commands/oauth/client';

export const PUBLIC_URL = 'http://127.0.0.1:9';

export function clientFor(env: Record<string, string>) {
  const store = memoryTransactionStore();
  const client = createOAuthClient(configuredProviders(env), { store, timeoutSeconds: 5 });
  return { client, store };
}

/** Follows the provider's redirects (no cookies needed for the stand-ins) until it points at our callback. */
export async function authorizeAtStandIn(client: OAuthClient, provider: string, data: Record<string, string> = {}) {
  const redirectUri = callbackUrl(PUBLIC_URL, provider);
  const started = await client.begin(provider, { redirectUri, data });
  const res = await fetch(started.url, { redirect: 'manual' });
  expect(res.status, await res.clone().text()).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
  return { ...started, redirectUri, authorizeUrl: new URL(started.url), params: location.searchParams };
}

export async function codeOf<T>(p: Promise<T>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? `uncoded: ${String(err)}`;
  }
  return 'no error';
}
