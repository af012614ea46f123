/**
 * The protocol side of social sign-in, on openid-client v6, for every provider of the table in
 * providers.ts. Rules enforced here:
 * - every authorization request carries a fresh `state`; PKCE S256 where the provider accepts it;
 *   a `nonce` for OIDC. They live in a single-use, 10-minute transaction stored server-side under
 *   a random id that the caller binds to the browser (an HttpOnly cookie): a callback without
 *   this browser's transaction (login CSRF), with another state, or a second time (replay) fails
 *   before any call to the provider;
 * - OIDC: discovery, then full ID-token validation (signature against the issuer's JWKS,
 *   iss, aud, azp, exp, iat, nonce), and the userinfo `sub` must equal the ID token's;
 *   a refresh that returns an ID token must name the same subject;
 * - OAuth 2.0 providers: the table's quirks turn their answers into RFC 6749 shapes before
 *   openid-client reads them (GitHub/Naver errors sent as 200, Naver's string expires_in,
 *   Facebook's error objects); profiles are fetched with the table's headers and query;
 * - every call has a timeout and a response-size cap; network failures, timeouts and 5xx are
 *   `oauth_provider_unavailable`; everything else is a social sign-in DomainError (src/errors.ts) with a stable code;
 * - tokens and secrets never appear in error messages or details.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import { isLoopbackHttp, type ConfiguredProvider, type ProviderProfile, type RawProfile, ProfileShapeError } from './providers';
import { isOAuthError, oauthError, type DomainError } from '../../errors';

export const TRANSACTION_TTL_SECONDS = 600;
export const MAX_PROVIDER_RESPONSE_BYTES = 1024 * 1024;
const USER_AGENT = 'authledger-oauth/1';

/** What the callback needs again: stored server-side, single use. */
export interface AuthorizationTransaction {
  provider: string;
  state: string;
  codeVerifier?: string;
  nonce?: string;
  redirectUri: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The caller's own data carried through the redirect (mode, userId, redirect_to…). */
  data: Record<string, string>;
}

/** Single-use storage of transactions. `take` must be atomic (Redis GETDEL in production). */
export interface TransactionStore {
  put(id: string, tx: AuthorizationTransaction, ttlSeconds: number): Promise<void>;
  take(id: string): Promise<AuthorizationTransaction | undefined>;
}

/** In-process store (tests, single-process development). */
export function memoryTransactionStore(now: () => number = Date.now): TransactionStore & { size(): number } {
  const map = new Map<string, AuthorizationTransaction>();
  return {
    async put(id, tx) {
      map.set(id, tx);
    },
    async take(id) {
      const tx = map.get(id);
      map.delete(id);
      return tx && tx.expiresAt > now() ? tx : undefined;
    },
    size: () => map.size,
  };
}

/** Provider tokens as we keep them (encrypted, see src/credentials/envelope.ts). */
export interface ProviderTokens {
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch milliseconds, when the provider said. */
  expiresAt?: number;
  scope?: string;
}

export interface SignInResult {
  profile: ProviderProfile;
  tokens: ProviderTokens;
}

export interface OAuthClientOptions {
  store: TransactionStore;
  timeoutSeconds?: number;
  now?: () => number;
}

const b64id = () => randomBytes(32).toString('base64url');
function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads a body with a size cap (a hostile provider cannot make us buffer gigabytes). */
async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_PROVIDER_RESPONSE_BYTES) {
      await reader.cancel().catch(() => {});
      throw oauthError('oauth_provider_error', `response over ${MAX_PROVIDER_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const urlKey = (u: string) => {
  const x = new URL(u);
  return `${x.origin}${x.pathname}`;
};

/** The fetch every call to a provider goes through: User-Agent, cap, quirks, unavailability. */
function providerFetch(p: ConfiguredProvider, tokenEndpoint: () => string | undefined): oidc.CustomFetch {
  return async (url, init) => {
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers: { ...init.headers, 'user-agent': USER_AGENT } } as RequestInit);
    } catch (err) {
      throw oauthError('oauth_provider_unavailable', `${p.name}: ${(err as Error).name}`, err);
    }
    if (res.status >= 500) {
      await res.body?.cancel().catch(() => {});
      throw oauthError('oauth_provider_unavailable', `${p.name}: HTTP ${res.status}`);
    }
    let text = await readCapped(res);
    let status = res.status;
    const headers = new Headers();
    res.headers.forEach((v, k) => {
      if (!['content-length', 'content-encoding', 'transfer-encoding'].includes(k)) headers.set(k, v);
    });
    const te = tokenEndpoint();
    if (te && urlKey(url) === urlKey(te)) {
      const body = parseJson(text);
      if (body !== undefined) {
        const fixed = p.definition.tokenQuirks ? p.definition.tokenQuirks(status, body) : { status, body };
        status = fixed.status;
        text = JSON.stringify(fixed.body);
        headers.set('content-type', 'application/json');
      }
    }
    return new Response(status === 204 || status === 304 ? null : text, { status, headers });
  };
}

function findOAuthError(err: unknown): DomainError | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur; i++) {
    if (isOAuthError(cur)) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function causeChain(err: unknown): { code?: unknown; attribute?: unknown; claim?: unknown; message?: unknown }[] {
  const out: { code?: unknown; attribute?: unknown; claim?: unknown; message?: unknown }[] = [];
  let cur: unknown = err;
  for (let i = 0; i < 6 && cur && typeof cur === 'object'; i++) {
    out.push(cur as never);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

type Phase = 'discovery' | 'callback' | 'token' | 'refresh' | 'profile';

/** Maps whatever openid-client (or fetch) threw to one social sign-in error (src/errors.ts). */
export function toOAuthError(err: unknown, phase: Phase, provider: string): DomainError {
  const own = findOAuthError(err);
  if (own) return own;
  const e = err as { name?: string; code?: string; error?: string; status?: number; cause?: { attribute?: string; claim?: string } };
  if (err instanceof oidc.AuthorizationResponseError) {
    return oauthError(e.error === 'access_denied' ? 'oauth_access_denied' : 'oauth_provider_error', `${provider}: authorization error ${e.error}`);
  }
  if (err instanceof oidc.ResponseBodyError) {
    if ((e.status ?? 0) >= 500) return oauthError('oauth_provider_unavailable', `${provider}: HTTP ${e.status}`);
    if (e.error === 'invalid_grant') return oauthError(phase === 'refresh' ? 'oauth_refresh_rejected' : 'oauth_invalid_grant', `${provider}: invalid_grant`);
    if (e.error === 'invalid_client' || e.error === 'unauthorized_client') return oauthError('oauth_client_rejected', `${provider}: ${e.error}`);
    return oauthError('oauth_provider_error', `${provider}: ${e.error}`);
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) return oauthError('oauth_token_rejected', `${provider}: WWW-Authenticate challenge`);
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return oauthError('oauth_provider_unavailable', `${provider}: timeout`, err);
  // openid-client wraps oauth4webapi's OperationProcessingError (whose own cause says which attribute or claim failed).
  const chain = causeChain(err);
  const codes = chain.map((c) => c.code).filter((c): c is string => typeof c === 'string');
  const attribute = chain.map((c) => c.attribute).find((a) => typeof a === 'string');
  const claim = chain.map((c) => c.claim).find((a) => typeof a === 'string');
  const jwtProblem = chain.some((c) => typeof c.message === 'string' && /\bJWT\b|ID Token/.test(c.message));
  if (codes.includes('OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') && attribute === 'sub') return oauthError('oauth_subject_mismatch', `${provider}: userinfo sub`);
  if (codes.includes('OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') && attribute === 'issuer') return oauthError('oauth_provider_error', `${provider}: discovery issuer mismatch`);
  if (codes.some((c) => c === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || c === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' || c === 'OAUTH_KEY_SELECTION_FAILED' || c.startsWith('ERR_JW'))
    || ((phase === 'token' || phase === 'refresh') && jwtProblem)) {
    return oauthError('oauth_id_token_invalid', `${provider}: ${codes.join(',')}${claim ? ` (${claim})` : ''}`);
  }
  if (phase === 'discovery' || e.name === 'TypeError') return oauthError('oauth_provider_unavailable', `${provider}: ${phase} ${e.code ?? e.name}`, err);
  return oauthError('oauth_provider_error', `${provider}: ${phase} ${e.code ?? e.name ?? 'error'}`, err);
}

export interface OAuthClient {
  readonly providers: readonly ConfiguredProvider[];
  get(name: string): ConfiguredProvider;
  /** Starts a sign-in: returns the provider URL to redirect to and the transaction id to bind to the browser. */
  begin(name: string, input: { redirectUri: string; data?: Record<string, string>; loginHint?: string }): Promise<{ url: string; transactionId: string; expiresAt: number }>;
  /** Finishes a browser sign-in from the callback's query parameters. */
  complete(name: string, input: { transactionId: string | undefined; params: URLSearchParams; expectedSubject?: string }): Promise<SignInResult & { data: Record<string, string> }>;
  /** Native/mobile apps that ran the redirect themselves (`POST /oauth/{provider}/token`). */
  exchangeCode(name: string, input: { code: string; codeVerifier?: string; redirectUri: string; nonce?: string; expectedSubject?: string }): Promise<SignInResult>;
  /** Refresh grant; keeps the old refresh token when the provider sends none (Kakao, Google). */
  refresh(name: string, input: { refreshToken: string; expectedSubject: string }): Promise<ProviderTokens & { refreshTokenKept: boolean }>;
}

export function createOAuthClient(providers: ConfiguredProvider[], options: OAuthClientOptions): OAuthClient {
  const now = options.now ?? Date.now;
  const timeout = options.timeoutSeconds ?? 10;
  const byName = new Map(providers.map((p) => [p.name, p]));
  const configs = new Map<string, Promise<oidc.Configuration>>();

  const get = (name: string) => {
    const p = byName.get(name);
    if (!p) throw oauthError('oauth_provider_unknown', name);
    return p;
  };

  function clientAuth(p: ConfiguredProvider): oidc.ClientAuth {
    if (!p.clientSecret) return oidc.None();
    return p.definition.tokenAuth === 'client_secret_basic' ? oidc.ClientSecretBasic(p.clientSecret) : oidc.ClientSecretPost(p.clientSecret);
  }

  async function build(p: ConfiguredProvider): Promise<oidc.Configuration> {
    let config: oidc.Configuration | undefined;
    const fetchFn = providerFetch(p, () => config?.serverMetadata().token_endpoint);
    const endpoints = [p.issuer, p.authorizationUrl, p.tokenUrl, p.userinfoUrl].filter((u): u is string => !!u);
    const insecure = endpoints.some((u) => isLoopbackHttp(new URL(u)));
    const metadata: Partial<oidc.ClientMetadata> = { client_secret: p.clientSecret };
    if (p.kind === 'oidc') {
      try {
        config = await oidc.discovery(new URL(p.issuer!), p.clientId, metadata, clientAuth(p), {
          [oidc.customFetch]: fetchFn,
          timeout,
          // Verify ID-token signatures too (not only TLS): "full ID-token validation", also for
          // codes native apps bring to POST /token.
          execute: [...(insecure ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks],
        });
      } catch (err) {
        throw toOAuthError(err, 'discovery', p.name);
      }
    } else {
      config = new oidc.Configuration(
        { issuer: new URL(p.authorizationUrl!).origin, authorization_endpoint: p.authorizationUrl, token_endpoint: p.tokenUrl },
        p.clientId,
        metadata,
        clientAuth(p),
      );
      config[oidc.customFetch] = fetchFn;
      config.timeout = timeout;
      if (insecure) oidc.allowInsecureRequests(config);
    }
    return config;
  }

  function configOf(p: ConfiguredProvider): Promise<oidc.Configuration> {
    let c = configs.get(p.name);
    if (!c) {
      c = build(p);
      configs.set(p.name, c);
      // A failed discovery is retried on the next sign-in, not cached forever.
      c.catch(() => configs.delete(p.name));
    }
    return c;
  }

  function tokensOf(t: oidc.TokenEndpointResponse): ProviderTokens {
    return {
      accessToken: t.access_token,
      tokenType: (t.token_type ?? 'bearer').toLowerCase(),
      ...(t.refresh_token ? { refreshToken: t.refresh_token } : {}),
      ...(t.id_token ? { idToken: t.id_token } : {}),
      ...(typeof t.expires_in === 'number' ? { expiresAt: now() + t.expires_in * 1000 } : {}),
      ...(typeof t.scope === 'string' ? { scope: t.scope } : {}),
    };
  }

  async function getJson(p: ConfiguredProvider, config: oidc.Configuration, accessToken: string, url: string, query?: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const u = new URL(url);
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    const headers = new Headers({ accept: 'application/json', ...p.definition.profileHeaders });
    let res: Response;
    try {
      res = await oidc.fetchProtectedResource(config, accessToken, u, 'GET', undefined, headers);
    } catch (err) {
      throw toOAuthError(err, 'profile', p.name);
    }
    const text = await readCapped(res);
    return { status: res.status, body: parseJson(text) };
  }

  async function profileOf(p: ConfiguredProvider, config: oidc.Configuration, t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, expectedSubject?: string): Promise<ProviderProfile> {
    const raw: RawProfile = {};
    const claims = t.claims();
    if (claims) raw.idToken = claims as Record<string, unknown>;
    if (p.kind === 'oidc' && !claims) throw oauthError('oauth_id_token_invalid', `${p.name}: no ID token`);
    const isDiscoveredOidc = p.kind === 'oidc' && p.definition.kind === 'oidc';
    if (isDiscoveredOidc) {
      if (config.serverMetadata().userinfo_endpoint) {
        try {
          raw.userinfo = (await oidc.fetchUserInfo(config, t.access_token, claims!.sub)) as Record<string, unknown>;
        } catch (err) {
          throw toOAuthError(err, 'profile', p.name);
        }
      }
    } else {
      const url = p.userinfoUrl;
      if (!url) throw oauthError('oauth_profile_invalid', `${p.name}: no profile URL`);
      const r = await getJson(p, config, t.access_token, url, p.definition.profileQuery?.(t.access_token, p.clientSecret));
      // 400 too: Facebook answers an invalid token with 400 {error: {code: 190}}.
      if (r.status === 400 || r.status === 401 || r.status === 403) throw oauthError('oauth_token_rejected', `${p.name}: profile HTTP ${r.status}`);
      if (r.status !== 200 || !r.body || typeof r.body !== 'object') throw oauthError('oauth_profile_invalid', `${p.name}: profile HTTP ${r.status}`);
      const unwrapped = p.definition.unwrapProfile ? p.definition.unwrapProfile(r.body) : (r.body as Record<string, unknown>);
      if ('failed' in unwrapped && typeof unwrapped.failed === 'string') throw oauthError('oauth_profile_invalid', `${p.name}: ${unwrapped.failed}`);
      raw.userinfo = unwrapped;
      if (p.emailsUrl) {
        const e = await getJson(p, config, t.access_token, p.emailsUrl);
        // Without the user:email scope GitHub answers 403/404: no trusted address then.
        raw.emails = e.status === 200 && Array.isArray(e.body) ? e.body : [];
      }
    }
    let mapped;
    try {
      mapped = p.definition.profile(raw, { trustEmail: p.trustEmail });
    } catch (err) {
      if (err instanceof ProfileShapeError) throw oauthError('oauth_profile_invalid', `${p.name}: ${err.message}`);
      throw err;
    }
    // Kakao in OIDC mode: the profile API must describe the ID token's subject.
    if (claims && mapped.subject !== claims.sub) throw oauthError('oauth_subject_mismatch', `${p.name}: profile id differs from ID token sub`);
    if (expectedSubject !== undefined && !sameString(mapped.subject, expectedSubject)) throw oauthError('oauth_subject_mismatch', `${p.name}: not the linked subject`);
    if (mapped.email && mapped.email.length > 320) mapped.email = undefined;
    return { provider: p.name, ...mapped };
  }

  return {
    providers,
    get,

    async begin(name, input) {
      const p = get(name);
      const config = await configOf(p);
      const state = oidc.randomState();
      const codeVerifier = p.pkce ? oidc.randomPKCECodeVerifier() : undefined;
      const nonce = p.kind === 'oidc' ? oidc.randomNonce() : undefined;
      const params: Record<string, string> = { redirect_uri: input.redirectUri, state, response_type: 'code', ...p.definition.authorizationParams };
      if (p.scopes.length) params.scope = p.scopes.join(' ');
      // OIDC Core §11: a refresh token for offline_access needs prompt=consent.
      if (p.scopes.includes('offline_access')) params.prompt = 'consent';
      if (codeVerifier) {
        params.code_challenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
        params.code_challenge_method = 'S256';
      }
      if (nonce) params.nonce = nonce;
      if (input.loginHint) params.login_hint = input.loginHint;
      const url = oidc.buildAuthorizationUrl(config, params).href;
      const transactionId = b64id();
      const expiresAt = now() + TRANSACTION_TTL_SECONDS * 1000;
      await options.store.put(transactionId, { provider: p.name, state, codeVerifier, nonce, redirectUri: input.redirectUri, expiresAt, data: input.data ?? {} }, TRANSACTION_TTL_SECONDS);
      return { url, transactionId, expiresAt };
    },

    async complete(name, input) {
      const p = get(name);
      // Taken (deleted) first: whatever happens next, this transaction can never be used again.
      const tx = input.transactionId ? await options.store.take(input.transactionId) : undefined;
      if (!tx || tx.provider !== p.name || tx.expiresAt <= now()) throw oauthError('oauth_state_invalid', tx ? 'wrong provider or expired' : 'no transaction for this browser');
      const returned = input.params.get('state');
      if (returned === null || !sameString(returned, tx.state)) throw oauthError('oauth_state_mismatch');
      const config = await configOf(p);
      const current = new URL(tx.redirectUri);
      for (const [k, v] of input.params) current.searchParams.append(k, v);
      let t;
      try {
        t = await oidc.authorizationCodeGrant(config, current, {
          expectedState: tx.state,
          pkceCodeVerifier: tx.codeVerifier,
          ...(tx.nonce ? { expectedNonce: tx.nonce, idTokenExpected: true } : {}),
        });
      } catch (err) {
        throw toOAuthError(err, input.params.has('error') ? 'callback' : 'token', p.name);
      }
      const profile = await profileOf(p, config, t, input.expectedSubject);
      return { profile, tokens: tokensOf(t), data: tx.data };
    },

    async exchangeCode(name, input) {
      const p = get(name);
      const config = await configOf(p);
      const current = new URL(input.redirectUri);
      current.searchParams.set('code', input.code);
      // RFC 9207: the app checked `iss` on its own redirect; the response we rebuild names the configured issuer.
      if (config.serverMetadata().authorization_response_iss_parameter_supported) current.searchParams.set('iss', config.serverMetadata().issuer);
      let t;
      try {
        t = await oidc.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: input.codeVerifier,
          ...(p.kind === 'oidc' ? (input.nonce ? { expectedNonce: input.nonce } : { idTokenExpected: true }) : {}),
        });
      } catch (err) {
        throw toOAuthError(err, 'token', p.name);
      }
      return { profile: await profileOf(p, config, t, input.expectedSubject), tokens: tokensOf(t) };
    },

    async refresh(name, input) {
      const p = get(name);
      if (!p.definition.refresh) throw oauthError('oauth_refresh_unsupported', p.name);
      const config = await configOf(p);
      let t;
      try {
        t = await oidc.refreshTokenGrant(config, input.refreshToken);
      } catch (err) {
        throw toOAuthError(err, 'refresh', p.name);
      }
      const claims = t.claims();
      if (claims && !sameString(claims.sub, input.expectedSubject)) throw oauthError('oauth_subject_mismatch', `${p.name}: refreshed ID token names another subject`);
      const tokens = tokensOf(t);
      const refreshTokenKept = !tokens.refreshToken;
      return { ...tokens, refreshToken: tokens.refreshToken ?? input.refreshToken, refreshTokenKept };
    },
  };
}
