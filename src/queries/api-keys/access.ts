/**
 * The access check: `POST /api/v1/features/{name}/access` and the seed-000 path
 * `POST /feature/access/{feature_name}`. Rules enforced here, in this order:
 * 1. a valid access token of an active session (Bearer or Access-Token), else 401 (auth plugin);
 * 2. an API key (X-API-Key or API-Key header; never from the URL) that is well-formed and passes
 *    its checksum (no lookup otherwise), is known, matches its stored SHA-256 in constant time,
 *    and is neither revoked nor expired — else 401;
 * 3. the key belongs to the token's user — else 403 {granted:false, reason:"key_owner_mismatch"};
 * 4. the feature exists — else 404; the key covers it (or "*") — else 403 "feature_not_in_key_scope";
 *    it is enabled — else 403 "feature_disabled";
 * 5. the key's per-minute budget is not spent — else 429 with Retry-After.
 * The hot path reads only the in-process cache (Redis on a miss) plus one Redis script for the
 * rate limit and usage counters: no event, no database row. The key is never logged. A presented
 * key is parsed and hashed once (src/credentials/presented-keys.ts: its id and digest only; the
 * record is checked on every request, so a revoked key is refused at once), and the fast path
 * answers without a promise when everything it needs is in memory.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { featureName } from '../../events/feature';
import { API_KEY_PREFIX } from '../../credentials/api-key-format';
import { PresentedKeys, type PresentedKey } from '../../credentials/presented-keys';
import { plainJsonSerializer, problems } from '../../http/schemas';
import { AccessStateCache, type FeatureRecord, type KeyRecord } from '../../projections/access-state';
import type { FastAnswer } from '../../http/fast-path';
import { AccessMeter, type HitResult } from './meter';
import { accessTokenFrom } from '../../http/auth';
import type { AuthContext } from '../../http/auth-types';
import { closeRedis, connectRedis } from '../../infra/redis';

/** Something shaped like a key (prefix + id) anywhere in the URL, path or query. */
const KEY_IN_URL = new RegExp(`${API_KEY_PREFIX}[0-9a-f]{16}_`);
const JSON_API_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
const granted = z.object({ granted: z.literal(true), feature: z.string(), user_id: z.string() });
const denied = (reason: string, message: string) => errors.forbidden(message, 'access_denied', { granted: false, reason });

function presentedKey(headers: IncomingHttpHeaders): string {
  const h = headers['x-api-key'] ?? headers['api-key'];
  if (h === undefined) throw errors.unauthorized('An API key is required (X-API-Key or API-Key header).', 'api_key_missing');
  if (typeof h !== 'string' || !h) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
  return h.trim();
}

/**
 * What the fast path's meter said about a request it then handed to Fastify (a spent budget, or
 * Redis down): the hit is counted once, so the Fastify handler answers from it.
 */
const METERED = Symbol('accessMetered');
type Metered = { hit: HitResult } | { error: unknown };

export async function accessRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // A connection of its own with auto-pipelining: concurrent checks share round trips. The
  // meter's lease (EVAL, one per slice of a key's budget) goes out at once: a pipeline of its own
  // for a lone command cost more CPU than the command.
  const hot = services.redis.duplicate({ enableAutoPipelining: true, autoPipeliningIgnoredCommands: ['eval'] });
  hot.on('error', () => undefined);
  // Bounded: with Redis down the app still starts; checks answer 503 until it is back (fail closed).
  await connectRedis(hot, 3000).catch(() => undefined);
  const cache = await AccessStateCache.start(hot, services.prefix, services.inline.localCaches);
  const meter = new AccessMeter(hot, services.prefix, services.config.API_KEY_RATE_LIMIT_PER_MINUTE);
  const presentedKeys = new PresentedKeys();
  /** Feature names the route's params schema accepted (the fast path checks each name once). */
  const validNames = new Set<string>();
  function validFeatureName(name: string): boolean {
    if (validNames.has(name)) return true;
    if (!featureName.safeParse(name).success) return false;
    if (validNames.size >= 10_000) validNames.clear();
    validNames.add(name);
    return true;
  }
  app.addHook('onClose', async () => {
    await meter.close();
    await cache.close();
    await closeRedis(hot);
  });

  // Rules 2–4 (no side effect) in three steps, so that the fast path can take them without a
  // promise when both records are in memory (examineNow) and the route awaits them (examine).

  /** Rule 2's checks before any lookup: the presented key, parsed and hashed (or remembered). */
  function presentedOf(url: string, headers: IncomingHttpHeaders, auth: AuthContext | undefined) {
    if (KEY_IN_URL.test(url)) throw errors.badRequest('API keys are never accepted in a URL; send the X-API-Key header.', 'api_key_in_url');
    if (!auth) throw errors.unauthorized();
    const key = presentedKey(headers);
    const presented = presentedKeys.check(key);
    if (!presented.ok) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
    return { auth, key, presented };
  }

  /** Rules 2 and 3 on the key's record. */
  function checkKey(key: string, presented: PresentedKey, rec: KeyRecord | null, auth: AuthContext): KeyRecord {
    if (!rec || !presentedKeys.matches(key, presented, rec.hashBytes)) throw errors.unauthorized('The API key is not valid.', 'api_key_invalid');
    if (rec.status === 'revoked') throw errors.unauthorized('The API key has been revoked.', 'api_key_revoked');
    if (rec.status === 'expired' || (rec.expiresAt !== null && rec.expiresAt <= Date.now())) {
      throw errors.unauthorized('The API key has expired.', 'api_key_expired');
    }
    if (rec.userId !== auth.userId) throw denied('key_owner_mismatch', 'The API key belongs to another user.');
    return rec;
  }

  /** Rule 4: the refusal that the meter still counts, if any. */
  function refusalOf(rec: KeyRecord, f: FeatureRecord, feature: string): Error | undefined {
    if (!f.exists) return errors.notFound(`No feature ${feature}.`, 'feature_not_found');
    if (rec.features !== '*' && !rec.features.has(feature)) return denied('feature_not_in_key_scope', 'The API key does not cover this feature.');
    if (!f.enabled) return denied('feature_disabled', 'The feature is disabled.');
    return undefined;
  }

  /** Rules 2–4: the key's id, and the refusal that the meter still counts, if any. */
  async function examine(url: string, headers: IncomingHttpHeaders, auth: AuthContext | undefined, feature: string) {
    const p = presentedOf(url, headers, auth);
    const rec = checkKey(p.key, p.presented, await cache.key(p.presented.keyId), p.auth);
    return { keyId: p.presented.keyId, refusal: refusalOf(rec, await cache.feature(feature), feature) };
  }

  /** `examine` from the records in memory, or undefined when one must be read. */
  function examineNow(url: string, headers: IncomingHttpHeaders, auth: AuthContext, feature: string) {
    const p = presentedOf(url, headers, auth);
    const cached = cache.keyNow(p.presented.keyId);
    if (cached === undefined) return undefined;
    const rec = checkKey(p.key, p.presented, cached, p.auth);
    const f = cache.featureNow(feature);
    return f ? { keyId: p.presented.keyId, refusal: refusalOf(rec, f, feature) } : undefined;
  }

  async function check(request: FastifyRequest, reply: FastifyReply, feature: string) {
    const auth = request.auth;
    const { keyId, refusal } = await examine(request.url, request.headers, auth, feature);
    const metered = (request.raw as unknown as Record<symbol, Metered | undefined>)[METERED];
    if (metered && 'error' in metered) throw metered.error;
    const hit = metered ? metered.hit : await meter.hit(keyId, feature, !refusal);
    if (!hit.allowed) throw errors.tooManyRequests(hit.retryAfterSeconds, 'This API key’s rate limit is spent; retry later.');
    if (refusal) throw refusal;
    reply.headers(JSON_API_HEADERS);
    return { granted: true as const, feature, user_id: auth!.userId };
  }

  // The plain 200 before Fastify routes (src/http/fast-path.ts): the same rules; anything but a
  // grant goes to the route below (after a meter hit, with what the meter said: counted once).
  // The answer is given at once (no promise) when the token, both records and the key's leased
  // budget are all in memory — the usual case; else after the reads it needs.
  app.fastPath.add('POST', '/api/v1/features/:name/access', (req, params) => {
    const feature = params.name!;
    const token = validFeatureName(feature) ? accessTokenFrom(req) : undefined;
    if (!token) return undefined;
    const auth = app.accessTokens.verifiedNow(token);
    const now = auth && examineNow(req.url ?? '', req.headers, auth, feature);
    if (now) return now.refusal ? undefined : grantOrMeter(req, now.keyId, feature, auth);
    return (async () => {
      const verified = auth ?? await app.verifyAccessToken(token);
      const { keyId, refusal } = await examine(req.url ?? '', req.headers, verified, feature);
      return refusal ? undefined : grantOrMeter(req, keyId, feature, verified);
    })();
  });

  /** The grant when the meter allows it (from memory when it can); else what it said, for the route. */
  function grantOrMeter(req: IncomingMessage, keyId: string, feature: string, auth: AuthContext): FastAnswer | Promise<FastAnswer | undefined> {
    const grant: FastAnswer = { headers: JSON_API_HEADERS, body: `{"granted":true,"feature":${JSON.stringify(feature)},"user_id":${JSON.stringify(auth.userId)}}`, userId: auth.userId };
    if (meter.grantNow(keyId, feature)) return grant;
    return meter.hit(keyId, feature, true).then(
      (hit) => (hit.allowed ? grant : handOn(req, { hit })),
      (error: unknown) => handOn(req, { error }),
    );
  }

  function handOn(req: IncomingMessage, metered: Metered): undefined {
    (req as unknown as Record<symbol, Metered>)[METERED] = metered;
    return undefined;
  }

  // Like GET /api/v1/auth/verify, this is called by servers (a backend asking whether its caller
  // may use a feature) and answers JSON: no CORS (API keys do not belong in browsers; same-origin
  // calls are unaffected), and the per-IP limit gives way to the per-key one. The browser-document
  // headers (CSP, frame options…) come on refusals only; the 200 carries the two that matter for a
  // JSON answer, set by hand. The 200 body is built here from checked values: plain JSON.stringify
  // (the zod schema still documents it); problem bodies have the error handler's own serializer.
  const hotRoute = {
    config: { rateLimit: false, cors: false, securityHeaders: 'errors', consistency: 'inline' },
    serializerCompiler: plainJsonSerializer,
  } as const;
  const responses = { 200: granted, ...problems(400, 401, 403, 404, 429) };
  const description = 'Access token: `Authorization: Bearer` or `Access-Token`. API key: `X-API-Key` or `API-Key`. ' +
    '200 only when token, key (owned by the token’s user, covering the feature) and an enabled feature all check out; ' +
    '401 bad or missing credentials, 403 `{granted:false, reason}`, 404 unknown feature, 429 with Retry-After.';

  r.post('/api/v1/features/:name/access', {
    preHandler: app.authenticate,
    schema: {
      tags: ['access'],
      summary: 'Check access to a feature with an access token and an API key',
      description,
      security: [{ bearer: [], apiKey: [] }, { accessTokenHeader: [], apiKey: [] }],
      params: z.object({ name: featureName }),
      response: responses,
    },
    ...hotRoute,
  }, async (request, reply) => check(request, reply, request.params.name));

  r.post('/feature/access/:feature_name', {
    preHandler: app.authenticate,
    schema: {
      tags: ['access', 'seed-000'],
      summary: 'Check access to a feature (seed-000 path)',
      description,
      security: [{ accessTokenHeader: [], apiKey: [] }, { bearer: [], apiKey: [] }],
      params: z.object({ feature_name: featureName }),
      response: responses,
    },
    ...hotRoute,
  }, async (request, reply) => check(request, reply, request.params.feature_name));
}
