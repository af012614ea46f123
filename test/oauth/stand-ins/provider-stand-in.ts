/**
 * Local HTTP servers that speak the exact shapes of GitHub, Kakao, Naver and Facebook (and a small
 * OpenID issuer that can forge bad ID tokens on request). For the oauth tests, the app-level tests
 * and the console's browser test: start one on 127.0.0.1, point `OAUTH_<P>_*` at it with `env()`.
 *
 * Shapes reproduced (what the real providers do, and what the client must cope with):
 * - GitHub: token endpoint answers form-encoded unless `Accept: application/json`; errors as
 *   HTTP 200 {error, error_description, error_uri}; the API refuses requests without User-Agent
 *   (403); numeric `id`; /user/emails list with primary/verified flags; optional expiring tokens
 *   with rotating refresh tokens (GitHub Apps).
 * - Kakao: numeric `id`, nested `kakao_account` with is_email_valid / is_email_verified; a refresh
 *   answer without a new refresh token; OIDC mode (scope openid) with discovery, JWKS, ID tokens;
 *   errors {error, error_description, error_code: "KOE320"}.
 * - Naver: `state` required; no PKCE; token answers with string `expires_in`; errors as HTTP 200;
 *   profile wrapped in {resultcode, message, response}; refresh without a new refresh token.
 * - Facebook: Graph /me?fields=id,name,email,picture (fields absent → id and name only), nested
 *   picture.data.url, errors {error: {message, type: "OAuthException", code}}, appsecret_proof
 *   checked when sent (or required with `requireAppsecretProof`), no refresh grant.
 * - oidc: discovery, JWKS, RS256 ID tokens; `tamperIdToken` / `signWithWrongKey` forge bad ones.
 */
import http from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export type Flavor = 'github' | 'kakao' | 'naver' | 'facebook' | 'oidc';

export interface StandInUser {
  id: string | number;
  email?: string;
  emailVerified?: boolean;
  /** Kakao: is_email_valid (default true). */
  emailValid?: boolean;
  name?: string;
  login?: string;
  picture?: string;
}

export interface StandInOptions {
  clientId?: string;
  clientSecret?: string;
  user?: StandInUser;
  /** Show an approve/cancel page instead of answering at once (browser tests). */
  interactive?: boolean;
  /** GitHub: issue expiring tokens with refresh tokens (GitHub Apps). */
  expiringTokens?: boolean;
  requireAppsecretProof?: boolean;
}

interface CodeGrant {
  user: StandInUser;
  redirectUri: string;
  challenge?: string;
  nonce?: string;
  scope: string;
  used: boolean;
}

export interface StandIn {
  flavor: Flavor;
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who signs in next (change it between flows). */
  user: StandInUser;
  /** The next authorization request is refused with error=access_denied. */
  denyNext: boolean;
  /** Rewrites ID-token claims before signing (aud, iss, nonce, exp attacks). */
  tamperIdToken?: (claims: Record<string, unknown>) => Record<string, unknown>;
  signWithWrongKey: boolean;
  /** The profile API refuses every token (as for a revoked one), in the provider's own error shape. */
  failProfile: boolean;
  /** Rewrites the profile API's user (e.g. a different subject than the token's). */
  profileUser?: (u: StandInUser) => StandInUser;
  /** Requests seen, for assertions (headers lower-cased). */
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[];
  /** Revokes every access and refresh token issued so far. */
  revokeAll(): void;
  /** Env vars that point the provider's config at this stand-in. `prefix` e.g. GOOGLE, OIDC_ACME. */
  env(prefix?: string, extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

const PATHS: Record<Flavor, { authorize: string; token: string; userinfo: string; emails?: string }> = {
  github: { authorize: '/login/oauth/authorize', token: '/login/oauth/access_token', userinfo: '/user', emails: '/user/emails' },
  kakao: { authorize: '/oauth/authorize', token: '/oauth/token', userinfo: '/v2/user/me' },
  naver: { authorize: '/oauth2.0/authorize', token: '/oauth2.0/token', userinfo: '/v1/nid/me' },
  facebook: { authorize: '/v21.0/dialog/oauth', token: '/v21.0/oauth/access_token', userinfo: '/v21.0/me' },
  oidc: { authorize: '/authorize', token: '/token', userinfo: '/userinfo' },
};
const PKCE: Record<Flavor, boolean> = { github: true, kakao: true, naver: false, facebook: true, oidc: true };
const tokenPrefix: Record<Flavor, string> = { github: 'gho_', kakao: 'kakao_', naver: 'AAAAN', facebook: 'EAAB', oidc: 'at_' };

const rand = (n = 24) => randomBytes(n).toString('base64url');
const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

export async function startStandIn(flavor: Flavor, options: StandInOptions = {}): Promise<StandIn> {
  const paths = PATHS[flavor];
  const codes = new Map<string, CodeGrant>();
  const access = new Map<string, { user: StandInUser; scope: string }>();
  const refresh = new Map<string, { user: StandInUser; scope: string }>();
  // RSA keys only where ID tokens are issued (generating them costs CPU on a shared machine).
  const signs = flavor === 'oidc' || flavor === 'kakao';
  const { privateKey, publicKey } = signs ? await generateKeyPair('RS256') : ({} as { privateKey: CryptoKey; publicKey: CryptoKey });
  const wrong = signs ? await generateKeyPair('RS256') : undefined;
  const jwk: JWK | undefined = signs ? { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' } : undefined;
  let base = '';

  const standIn: StandIn = {
    flavor,
    url: '',
    clientId: options.clientId ?? `${flavor}-client`,
    clientSecret: options.clientSecret ?? `${flavor}-secret-${rand(8)}`,
    user: options.user ?? { id: flavor === 'naver' || flavor === 'oidc' ? 'sub-1' : 1001, email: 'user@example.test', emailVerified: true, name: 'Test User' },
    denyNext: false,
    signWithWrongKey: false,
    failProfile: false,
    requests: [],
    revokeAll() {
      access.clear();
      refresh.clear();
    },
    env(prefix = flavor.toUpperCase(), extra = {}) {
      const e: Record<string, string> = { [`OAUTH_${prefix}_CLIENT_ID`]: standIn.clientId, [`OAUTH_${prefix}_CLIENT_SECRET`]: standIn.clientSecret };
      if (flavor === 'oidc' || (flavor === 'kakao' && (extra[`OAUTH_${prefix}_SCOPES`] ?? '').includes('openid'))) e[`OAUTH_${prefix}_ISSUER`] = base;
      if (flavor !== 'oidc') {
        e[`OAUTH_${prefix}_AUTHORIZATION_URL`] = base + paths.authorize;
        e[`OAUTH_${prefix}_TOKEN_URL`] = base + paths.token;
        e[`OAUTH_${prefix}_USERINFO_URL`] = base + paths.userinfo;
      }
      if (paths.emails) e[`OAUTH_${prefix}_EMAILS_URL`] = base + paths.emails;
      return { ...e, ...extra };
    },
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };

  async function idToken(user: StandInUser, nonce: string | undefined, scope: string): Promise<string> {
    let claims: Record<string, unknown> = {
      iss: base, aud: standIn.clientId, sub: String(user.id), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600,
      auth_time: Math.floor(Date.now() / 1000), ...(nonce ? { nonce } : {}),
    };
    if (flavor === 'kakao') claims = { ...claims, nickname: user.name, picture: user.picture, ...(scope.includes('account_email') ? { email: user.email } : {}) };
    else if (scope.includes('email')) claims = { ...claims, email: user.email, email_verified: user.emailVerified ?? false };
    if (standIn.tamperIdToken) claims = standIn.tamperIdToken(claims);
    const key: CryptoKey = standIn.signWithWrongKey ? wrong!.privateKey : privateKey;
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }).sign(key);
  }

  function tokenError(res: http.ServerResponse, error: string, description: string) {
    switch (flavor) {
      case 'github':
        return send(res, 200, { error: error === 'invalid_grant' ? 'bad_verification_code' : error, error_description: description, error_uri: 'https://docs.github.com/apps/troubleshooting' });
      case 'naver':
        return send(res, 200, { error: 'invalid_request', error_description: description });
      case 'facebook':
        return send(res, 400, { error: { message: description, type: 'OAuthException', code: error === 'invalid_client' ? 101 : 100, error_subcode: 36009, fbtrace_id: rand(8) } });
      case 'kakao':
        return send(res, error === 'invalid_client' ? 401 : 400, { error, error_description: description, error_code: error === 'invalid_client' ? 'KOE010' : 'KOE320' });
      default:
        return send(res, error === 'invalid_client' ? 401 : 400, { error, error_description: description });
    }
  }

  async function tokenAnswer(res: http.ServerResponse, req: http.IncomingMessage, user: StandInUser, scope: string, nonce: string | undefined, isRefresh: boolean) {
    const at = tokenPrefix[flavor] + rand();
    access.set(at, { user, scope });
    const newRefresh = () => {
      const rt = `rt_${rand()}`;
      refresh.set(rt, { user, scope });
      return rt;
    };
    switch (flavor) {
      case 'github': {
        const body: Record<string, unknown> = { access_token: at, token_type: 'bearer', scope: scope.replace(/ /g, ',') };
        if (options.expiringTokens) Object.assign(body, { expires_in: 28800, refresh_token: newRefresh(), refresh_token_expires_in: 15897600 });
        if (!String(req.headers.accept ?? '').includes('application/json')) {
          return send(res, 200, new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, String(v)])).toString(), 'application/x-www-form-urlencoded; charset=utf-8');
        }
        return send(res, 200, body);
      }
      case 'kakao': {
        const body: Record<string, unknown> = { token_type: 'bearer', access_token: at, expires_in: 21599 };
        if (scope.split(' ').includes('openid')) body.id_token = await idToken(user, isRefresh ? undefined : nonce, scope);
        // Kakao sends a new refresh token only at sign-in (or within a month of its expiry).
        if (!isRefresh) Object.assign(body, { refresh_token: newRefresh(), refresh_token_expires_in: 5183999, scope });
        return send(res, 200, body);
      }
      case 'naver': {
        const body: Record<string, unknown> = { access_token: at, token_type: 'bearer', expires_in: '3600' };
        if (!isRefresh) body.refresh_token = newRefresh();
        return send(res, 200, body);
      }
      case 'facebook':
        return send(res, 200, { access_token: at, token_type: 'bearer', expires_in: 5183944 });
      case 'oidc': {
        const body: Record<string, unknown> = { access_token: at, token_type: 'Bearer', expires_in: 3600, scope, id_token: await idToken(user, isRefresh ? undefined : nonce, scope) };
        if (scope.split(' ').includes('offline_access') || isRefresh) body.refresh_token = newRefresh();
        return send(res, 200, body);
      }
    }
  }

  function profileOf(u0: StandInUser, scope: string, url: URL, token: string, res: http.ServerResponse) {
    const u = standIn.profileUser ? standIn.profileUser(u0) : u0;
    switch (flavor) {
      case 'github':
        return send(res, 200, {
          login: u.login ?? 'octo', id: u.id, node_id: `U_${u.id}`, avatar_url: u.picture ?? 'https://avatars.example.test/u/1', name: u.name ?? null,
          email: null, type: 'User', site_admin: false, created_at: '2020-01-01T00:00:00Z',
        });
      case 'kakao': {
        const hasEmail = scope.includes('account_email') && !!u.email;
        return send(res, 200, {
          id: u.id,
          connected_at: '2024-01-01T00:00:00Z',
          properties: { nickname: u.name, profile_image: u.picture, thumbnail_image: u.picture },
          kakao_account: {
            profile_nickname_needs_agreement: false,
            profile_image_needs_agreement: false,
            profile: { nickname: u.name, thumbnail_image_url: u.picture, profile_image_url: u.picture, is_default_image: !u.picture },
            has_email: !!u.email,
            email_needs_agreement: !hasEmail,
            ...(hasEmail ? { is_email_valid: u.emailValid ?? true, is_email_verified: u.emailVerified ?? false, email: u.email } : {}),
          },
        });
      }
      case 'naver':
        return send(res, 200, {
          resultcode: '00', message: 'success',
          response: { id: String(u.id), nickname: u.name, name: u.name, email: u.email, profile_image: u.picture, age: '30-39', gender: 'U', mobile: '010-0000-0000' },
        });
      case 'facebook': {
        const proof = url.searchParams.get('appsecret_proof');
        const expected = createHmac('sha256', standIn.clientSecret).update(token).digest('hex');
        if ((proof !== null && proof !== expected) || (proof === null && options.requireAppsecretProof)) {
          return send(res, 400, { error: { message: 'Invalid appsecret_proof provided in the API argument', type: 'GraphMethodException', code: 100, fbtrace_id: rand(8) } });
        }
        const fields = (url.searchParams.get('fields') ?? 'id,name').split(',');
        const all: Record<string, unknown> = {
          id: String(u.id), name: u.name, email: scope.includes('email') ? u.email : undefined,
          picture: { data: { height: 50, is_silhouette: !u.picture, url: u.picture ?? 'https://platform-lookaside.example.test/p.jpg', width: 50 } },
        };
        return send(res, 200, Object.fromEntries(fields.filter((f) => all[f] !== undefined).map((f) => [f, all[f]])));
      }
      case 'oidc':
        return send(res, 200, { sub: String(u.id), name: u.name, picture: u.picture, ...(scope.includes('email') ? { email: u.email, email_verified: u.emailVerified ?? false } : {}) });
    }
  }

  function unauthorizedProfile(res: http.ServerResponse) {
    switch (flavor) {
      case 'github': return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      case 'kakao': return send(res, 401, { msg: 'this access token does not exist', code: -401 });
      case 'naver': return send(res, 401, { resultcode: '024', message: 'Authentication failed' });
      case 'facebook': return send(res, 400, { error: { message: 'Invalid OAuth access token data.', type: 'OAuthException', code: 190, fbtrace_id: rand(8) } });
      default: res.setHeader('www-authenticate', 'Bearer error="invalid_token"'); return send(res, 401, { error: 'invalid_token' });
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', base);
    standIn.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body });
    if (url.pathname === '/.well-known/openid-configuration' && (flavor === 'oidc' || flavor === 'kakao')) {
      return send(res, 200, {
        issuer: base, authorization_endpoint: base + paths.authorize, token_endpoint: base + paths.token,
        userinfo_endpoint: flavor === 'oidc' ? base + paths.userinfo : undefined, jwks_uri: `${base}/.well-known/jwks.json`,
        response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'], token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        scopes_supported: ['openid', 'email', 'profile', 'offline_access'],
      });
    }
    if (url.pathname === '/.well-known/jwks.json' && jwk) return send(res, 200, { keys: [jwk] });

    if (url.pathname === paths.authorize && req.method === 'GET') {
      const q = url.searchParams;
      const redirect = q.get('redirect_uri');
      if (q.get('client_id') !== standIn.clientId || !redirect) return send(res, 400, 'invalid client_id or redirect_uri', 'text/plain');
      const back = new URL(redirect);
      const state = q.get('state');
      if (flavor === 'naver' && !state) return send(res, 400, 'state is required', 'text/plain');
      if (options.interactive && !q.has('approve')) {
        const yes = new URL(url);
        yes.searchParams.set('approve', '1');
        const no = new URL(url);
        no.searchParams.set('approve', '0');
        return send(res, 200, `<!doctype html><title>${flavor} stand-in</title><h1>Sign in to ${flavor} (stand-in)</h1><p>Continue as ${standIn.user.name ?? standIn.user.id}?</p><a id="approve" href="${yes.pathname}${yes.search}">Continue</a> <a id="deny" href="${no.pathname}${no.search}">Cancel</a>`, 'text/html; charset=utf-8');
      }
      if (standIn.denyNext || q.get('approve') === '0') {
        standIn.denyNext = false;
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_description', 'The user denied the request.');
      } else {
        const code = rand();
        codes.set(code, {
          user: { ...standIn.user }, redirectUri: redirect, scope: (q.get('scope') ?? '').replace(/,/g, ' '), used: false,
          nonce: q.get('nonce') ?? undefined,
          challenge: PKCE[flavor] && q.get('code_challenge') ? q.get('code_challenge')! : undefined,
        });
        back.searchParams.set('code', code);
      }
      if (state !== null) back.searchParams.set('state', state);
      res.writeHead(302, { location: back.href });
      return res.end();
    }

    if (url.pathname === paths.token && req.method === 'POST') {
      const form = new URLSearchParams(body);
      let id = form.get('client_id');
      let secret = form.get('client_secret');
      const basic = /^Basic (.+)$/i.exec(String(req.headers.authorization ?? ''));
      if (basic) {
        const [u, p] = Buffer.from(basic[1]!, 'base64').toString().split(':');
        id = decodeURIComponent(u ?? '');
        secret = decodeURIComponent(p ?? '');
      }
      if (id !== standIn.clientId || secret !== standIn.clientSecret) return tokenError(res, 'invalid_client', 'Client authentication failed.');
      const grant = form.get('grant_type');
      if (grant === 'authorization_code') {
        const c = codes.get(form.get('code') ?? '');
        if (!c || c.used) return tokenError(res, 'invalid_grant', 'The code passed is incorrect or expired.');
        c.used = true;
        if (form.get('redirect_uri') !== c.redirectUri) return tokenError(res, 'invalid_grant', 'redirect_uri mismatch.');
        if (c.challenge) {
          const verifier = form.get('code_verifier');
          if (!verifier || s256(verifier) !== c.challenge) return tokenError(res, 'invalid_grant', 'PKCE verification failed.');
        }
        return tokenAnswer(res, req, c.user, c.scope, c.nonce, false);
      }
      if (grant === 'refresh_token' && flavor !== 'facebook') {
        const rt = form.get('refresh_token') ?? '';
        const r = refresh.get(rt);
        if (!r) return tokenError(res, 'invalid_grant', 'invalid refresh_token');
        // GitHub and the OIDC issuer rotate refresh tokens; Kakao and Naver keep them.
        if (flavor === 'github' || flavor === 'oidc') refresh.delete(rt);
        return tokenAnswer(res, req, r.user, r.scope, undefined, true);
      }
      return tokenError(res, 'unsupported_grant_type', 'unsupported grant_type');
    }

    if ((url.pathname === paths.userinfo || url.pathname === paths.emails) && (req.method === 'GET' || req.method === 'POST')) {
      if (flavor === 'github' && !req.headers['user-agent']) {
        return send(res, 403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.', 'text/plain');
      }
      const m = /^(?:Bearer|token) (.+)$/i.exec(String(req.headers.authorization ?? ''));
      const a = m ? access.get(m[1]!) : undefined;
      if (!a || standIn.failProfile) return unauthorizedProfile(res);
      if (url.pathname === paths.emails) {
        if (!a.scope.includes('user:email')) return send(res, 404, { message: 'Not Found' });
        const u = a.user;
        return send(res, 200, [
          ...(u.email ? [{ email: u.email, primary: true, verified: u.emailVerified ?? false, visibility: 'private' }] : []),
          { email: `${u.id}+noreply@users.noreply.example.test`, primary: false, verified: true, visibility: null },
        ]);
      }
      return profileOf(a.user, a.scope, url, m![1]!, res);
    }
    send(res, 404, { error: 'not_found' });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString()).catch((err) => send(res, 500, { error: 'server_error', detail: String(err) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standIn.url = base;
  return standIn;
}
