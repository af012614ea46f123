/**
 * Who may pass the gateway to a service: the service's auth policy, with the same checks as
 * forward auth (/api/v1/auth/verify) and the access check (POST /features/{name}/access). Rules:
 * - `none`: anyone; no identity is forwarded;
 * - `token`: an access token of an active session (Bearer or Access-Token; a logged-out session is
 *   refused at once: the session gate), else 401;
 * - `api_key`: an API key (X-API-Key or API-Key) that is well-formed, known, matches in constant
 *   time and is neither revoked nor expired, else 401; the user is the key's owner;
 * - `token_or_api_key`: either; when both come, both must check out and belong to one user (403);
 * - `roles`: the user must have at least one of them (403 role_required); an API key's user's
 *   roles come from the profile read model;
 * - `feature`: it must exist and be enabled (403); a key must cover it (403); key checks are
 *   metered (per-key limit API_KEY_RATE_LIMIT_PER_MINUTE, usage counts) like the access check.
 * The API key is never logged, never forwarded.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { errors } from '../errors';
import type { ServiceSpec } from '../events/service';
import { apiKeyMatches, parseApiKey } from '../credentials/api-key-format';
import { accessTokenFrom } from '../http/auth';
import { invalidToken } from '../credentials/access-tokens';
import { closeRedis, connectRedis } from '../infra/redis';
import { AccessStateCache } from '../projections/access-state';
import { parseUserProfile, userProfileKey } from '../projections/session-state';
import { AccessMeter } from '../queries/api-keys/meter';

export interface Identity {
  readonly userId: string;
  readonly roles: readonly string[];
  readonly sessionId?: string;
  readonly apiKeyId?: string;
}

const denied = (reason: string, message: string) => errors.forbidden(message, 'access_denied', { granted: false, reason });

function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const h = headers['x-api-key'] ?? headers['api-key'];
  if (h === undefined) return undefined;
  if (typeof h !== 'string' || !h.trim()) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
  return h.trim();
}

export class GatewayAccess {
  private hot: Redis | undefined;
  private cache: AccessStateCache | undefined;
  private meter: AccessMeter | undefined;
  private starting: Promise<void> | undefined;

  constructor(private readonly app: FastifyInstance) {}

  /** Connects lazily: an API process that never sees a gateway request opens nothing. */
  private ensure(): Promise<void> {
    this.starting ??= (async () => {
      const { app } = this;
      const hot = app.redis.duplicate({ enableAutoPipelining: true });
      hot.on('error', () => undefined);
      await connectRedis(hot, 3000).catch(() => undefined);
      this.hot = hot;
      this.cache = await AccessStateCache.start(hot, app.redisPrefix, app.inlineProjections.localCaches);
      this.meter = new AccessMeter(hot, app.redisPrefix, app.config.API_KEY_RATE_LIMIT_PER_MINUTE);
    })();
    return this.starting;
  }

  async close(): Promise<void> {
    if (!this.starting) return;
    await this.starting.catch(() => undefined);
    await this.meter?.close();
    await this.cache?.close();
    if (this.hot) await closeRedis(this.hot);
  }

  /** The caller's identity under the service's policy (undefined for `none`), or a 401/403/429. */
  authorize(headers: IncomingHttpHeaders, spec: Pick<ServiceSpec, 'auth' | 'feature' | 'roles'>): Promise<Identity | undefined> {
    // The common case, a token and nothing else to check: the verifier's answer as it is (its
    // cached, frozen context has the identity's fields), no promise of our own on top.
    if (spec.auth === 'token' && !spec.roles?.length && !spec.feature) {
      const token = accessTokenFrom({ headers } as FastifyRequest);
      return token ? this.app.verifyAccessToken(token) : Promise.reject(invalidToken());
    }
    return this.check(headers, spec);
  }

  private async check(headers: IncomingHttpHeaders, spec: Pick<ServiceSpec, 'auth' | 'feature' | 'roles'>): Promise<Identity | undefined> {
    if (spec.auth === 'none') return undefined;
    const token = spec.auth === 'api_key' ? undefined : accessTokenFrom({ headers } as FastifyRequest);
    const key = spec.auth === 'token' ? undefined : presentedKey(headers);
    if (!token && !key) {
      if (spec.auth === 'api_key') throw errors.unauthorized('An API key is required (X-API-Key or API-Key header).', 'api_key_missing');
      if (spec.auth === 'token') throw invalidToken();
      throw errors.unauthorized('An access token or an API key is required.', 'unauthorized');
    }
    let identity: { userId: string; roles: readonly string[]; sessionId?: string; apiKeyId?: string } | undefined;
    if (token) {
      const auth = await this.app.verifyAccessToken(token);
      identity = { userId: auth.userId, roles: auth.roles, sessionId: auth.sessionId };
    }
    let keyId: string | undefined;
    let features: '*' | ReadonlySet<string> = '*';
    if (key) {
      await this.ensure();
      const parsed = parseApiKey(key);
      if (!parsed.ok) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
      const rec = await this.cache!.key(parsed.keyId);
      if (!rec || !apiKeyMatches(key, rec.hash)) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
      if (rec.status === 'revoked') throw errors.unauthorized('The API key has been revoked.', 'api_key_revoked');
      if (rec.status === 'expired' || (rec.expiresAt !== null && rec.expiresAt <= Date.now())) throw errors.unauthorized('The API key has expired.', 'api_key_expired');
      if (identity && rec.userId !== identity.userId) throw denied('key_owner_mismatch', 'The API key belongs to another user.');
      keyId = parsed.keyId;
      features = rec.features;
      identity ??= { userId: rec.userId, roles: await this.rolesOf(rec.userId) };
      identity.apiKeyId = keyId;
    }
    const id = identity!;
    if (spec.roles?.length && !spec.roles.some((r) => id.roles.includes(r))) {
      throw errors.forbidden(`This service needs one of the roles: ${spec.roles.join(', ')}.`, 'role_required');
    }
    if (spec.feature) {
      await this.ensure();
      const f = await this.cache!.feature(spec.feature);
      let refusal: Error | undefined;
      if (!f.exists || !f.enabled) refusal = denied('feature_disabled', 'The feature of this service is disabled.');
      else if (keyId && features !== '*' && !features.has(spec.feature)) refusal = denied('feature_not_in_key_scope', 'The API key does not cover this service\'s feature.');
      if (keyId) {
        const hit = await this.meter!.hit(keyId, spec.feature, !refusal);
        if (!hit.allowed) throw errors.tooManyRequests(hit.retryAfterSeconds, 'This API key’s rate limit is spent; retry later.');
      }
      if (refusal) throw refusal;
    }
    return id;
  }

  /** A key's user's roles (the profile read model); a disabled or deleted user passes nothing. */
  private async rolesOf(userId: string): Promise<string[]> {
    const profile = parseUserProfile(await this.hot!.hgetall(userProfileKey(this.app.redisPrefix, userId)));
    if (profile && (profile.disabled || profile.deleted)) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
    return profile?.roles ?? [];
  }
}
