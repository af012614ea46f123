/**
 * Who may call the token endpoints, `POST /api/v1/tokens/verify` (RFC 7662 introspection) and
 * `POST /api/v1/tokens/revoke` (RFC 7009) — issue 20 §7. Rules enforced here:
 * - a client authenticates with HTTP Basic (`client_id:client_secret`, each form-urlencoded as
 *   RFC 6749 §2.3.1 says) against TOKEN_CLIENTS, which holds only the SHA-256 of each secret,
 *   compared in constant time (an unknown id costs the same comparison);
 * - or with an API key (X-API-Key / API-Key header) that is active, unexpired, matches its stored
 *   hash, and carries the `tokens:introspect` scope (a key's scopes are kept beside its feature
 *   names; feature names cannot contain `:`, so a scope never grants a feature, nor `*` a scope);
 * - presented client credentials that fail are 401 `client_auth_required` (with
 *   `WWW-Authenticate: Basic`), an API key without the scope 403 `introspect_scope_required`;
 *   no client credential at all is `undefined` here: introspection then answers 401, revocation
 *   accepts the token's holder instead (a Bearer access token of the same user).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { parseTokenClients } from '../config';
import { errors } from '../errors';
import { apiKeyMatches, parseApiKey } from '../credentials/api-key-format';
import { loadKeyRecord } from '../projections/access-state';

export const INTROSPECT_SCOPE = 'tokens:introspect';
/** GET /api/v1/auth/identities/{id}/token for the key's own user (issue 13): provider tokens for back ends. */
export const IDENTITIES_TOKEN_SCOPE = 'identities:token';
/** Every API-key scope there is (stored among the key's features). */
export const API_KEY_SCOPES = [INTROSPECT_SCOPE, IDENTITIES_TOKEN_SCOPE] as const;

export type TokenClient = { kind: 'basic'; clientId: string } | { kind: 'api_key'; keyId: string; userId: string };

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();
/** Compared against when the client id is unknown, so timing does not tell ids apart. */
const DUMMY = sha256('no such client');

const clientsByConfig = new WeakMap<object, Map<string, Buffer>>();
function clientsOf(config: FastifyRequest['server']['config']): Map<string, Buffer> {
  let m = clientsByConfig.get(config);
  if (!m) {
    m = new Map([...parseTokenClients(config.TOKEN_CLIENTS)].map(([id, hex]) => [id, Buffer.from(hex, 'hex')]));
    clientsByConfig.set(config, m);
  }
  return m;
}

// WWW-Authenticate: Basic is added by src/http/problem.ts for this code.
const badClient = () => errors.unauthorized('Client authentication failed: send HTTP Basic client credentials (TOKEN_CLIENTS) or an API key with the tokens:introspect scope.', 'client_auth_required');

function formDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function basicClient(request: FastifyRequest, header: string): TokenClient {
  const m = /^Basic[ ]+([A-Za-z0-9+/=]{1,1024})[ ]*$/i.exec(header);
  if (!m) throw badClient();
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const id = colon > 0 ? formDecode(decoded.slice(0, colon)) : undefined;
  const secret = colon > 0 ? formDecode(decoded.slice(colon + 1)) : undefined;
  const stored = id !== undefined ? clientsOf(request.server.config).get(id) : undefined;
  const presented = sha256(secret ?? '');
  const ok = timingSafeEqual(presented, stored ?? DUMMY) && stored !== undefined && id !== undefined && secret !== undefined;
  if (!ok) throw badClient();
  return { kind: 'basic', clientId: id };
}

async function apiKeyClient(request: FastifyRequest, key: string): Promise<TokenClient> {
  const parsed = parseApiKey(key.trim());
  if (!parsed.ok) throw badClient();
  const rec = await loadKeyRecord(request.server.redis, request.server.redisPrefix, parsed.keyId);
  if (!rec || !apiKeyMatches(key.trim(), rec.hash) || rec.status !== 'active' || (rec.expiresAt !== null && rec.expiresAt <= Date.now())) throw badClient();
  if (rec.features === '*' || !rec.features.has(INTROSPECT_SCOPE)) {
    throw errors.forbidden('This API key lacks the tokens:introspect scope.', 'introspect_scope_required');
  }
  return { kind: 'api_key', keyId: parsed.keyId, userId: rec.userId };
}

/** The authenticated client of a token-endpoint request, or undefined when it presents none. */
export async function tokenClientOf(request: FastifyRequest): Promise<TokenClient | undefined> {
  const key = request.headers['x-api-key'] ?? request.headers['api-key'];
  if (key !== undefined) {
    if (typeof key !== 'string' || !key) throw badClient();
    return apiKeyClient(request, key);
  }
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && /^Basic\b/i.test(auth)) return basicClient(request, auth);
  return undefined;
}

/** Like tokenClientOf, but 401 when no client credential is presented. */
export async function requireTokenClient(request: FastifyRequest): Promise<TokenClient> {
  const client = await tokenClientOf(request);
  if (!client) throw badClient();
  return client;
}

/**
 * The user of a request's API key (X-API-Key / API-Key) when that key is valid and carries the
 * `identities:token` scope; undefined when no key is presented. 401 api_key_invalid for a bad key,
 * 403 identities_token_scope_required for a key without the scope.
 */
export async function identitiesTokenKeyOwner(request: FastifyRequest): Promise<{ keyId: string; userId: string } | undefined> {
  const key = request.headers['x-api-key'] ?? request.headers['api-key'];
  if (key === undefined) return undefined;
  const invalid = () => errors.unauthorized('The API key is not valid.', 'api_key_invalid');
  if (typeof key !== 'string' || !key) throw invalid();
  const parsed = parseApiKey(key.trim());
  if (!parsed.ok) throw invalid();
  const rec = await loadKeyRecord(request.server.redis, request.server.redisPrefix, parsed.keyId);
  if (!rec || !apiKeyMatches(key.trim(), rec.hash) || rec.status !== 'active' || (rec.expiresAt !== null && rec.expiresAt <= Date.now())) throw invalid();
  if (rec.features === '*' || !rec.features.has(IDENTITIES_TOKEN_SCOPE)) {
    throw errors.forbidden('This API key lacks the identities:token scope.', 'identities_token_scope_required');
  }
  return { keyId: parsed.keyId, userId: rec.userId };
}
