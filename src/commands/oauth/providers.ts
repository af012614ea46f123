/**
 * The one table of social sign-in providers, and their configuration. Rules enforced here:
 * - a provider is on when its client id is set; everything else has a default (the provider's
 *   real endpoints and scopes), and every endpoint can be overridden (tests point them at local
 *   stand-ins);
 * - endpoints must be https, except loopback http (127.0.0.1, ::1, localhost) for development and
 *   tests: a typo never sends a client secret over plain http to the internet;
 * - OIDC providers (google, generic `oidc` issuers, kakao when `openid` is among its scopes) are
 *   configured by discovery from their issuer and get nonce + full ID-token validation;
 * - PKCE S256 is sent to every provider that accepts it; `state` is always sent;
 * - whether a provider's e-mail can be trusted is decided here, per provider, from what the
 *   provider asserts (never from the mere presence of an e-mail):
 *     google / oidc: `email_verified === true` (a generic issuer can be told not to be trusted);
 *     github: the primary address of /user/emails, when it is verified;
 *     kakao: `kakao_account.is_email_valid && kakao_account.is_email_verified`;
 *     naver, facebook: never (they do not say).
 * Provider quirks (GitHub's 200 {error}, Naver's string expires_in and wrapper…) are data in this
 * table; client.ts holds the one protocol implementation that reads it.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';

export const BUILTIN_PROVIDERS = ['google', 'kakao', 'github', 'facebook', 'naver'] as const;
export type BuiltinProvider = (typeof BUILTIN_PROVIDERS)[number];
export type ProviderKind = 'oidc' | 'oauth2';

/** What every provider's sign-in is reduced to. `emailVerified` = the table's trust rule said yes. */
export interface ProviderProfile {
  provider: string;
  subject: string;
  email?: string;
  emailVerified: boolean;
  name?: string;
  picture?: string;
}

/** The raw documents a provider answered, handed to its profile mapping. */
export interface RawProfile {
  /** Validated ID-token claims (OIDC). */
  idToken?: Record<string, unknown>;
  /** The userinfo / profile API document, after unwrapping. */
  userinfo?: Record<string, unknown>;
  /** GitHub's /user/emails list. */
  emails?: unknown;
}
export type MappedProfile = Omit<ProviderProfile, 'provider'>;

export interface ProviderDefinition {
  /** Built-in name, or `oidc` for discovered issuers. */
  key: BuiltinProvider | 'oidc';
  displayName: string;
  /** `oauth2` providers may still turn to OIDC (kakao with the `openid` scope). */
  kind: ProviderKind;
  defaults: { issuer?: string; authorizationUrl?: string; tokenUrl?: string; userinfoUrl?: string; emailsUrl?: string; scopes: string[] };
  /** Whether the provider accepts PKCE S256 (RFC 7636). */
  pkce: boolean;
  /** How the client secret is sent to the token endpoint. */
  tokenAuth: 'client_secret_post' | 'client_secret_basic';
  /** Whether the provider can issue refresh tokens at all. */
  refresh: boolean;
  /** Extra authorization-request parameters. */
  authorizationParams?: Record<string, string>;
  /** Headers for the profile API (GitHub wants its media type and a User-Agent; every call sends one). */
  profileHeaders?: Record<string, string>;
  /** Query parameters of the profile call (Facebook's fields and appsecret_proof). */
  profileQuery?: (accessToken: string, clientSecret: string | undefined) => Record<string, string>;
  /** Turns a non-conforming token-endpoint answer into RFC 6749's shape before openid-client reads it. */
  tokenQuirks?: (status: number, body: unknown) => { status: number; body: unknown };
  /** Unwraps the profile document; returns an error code string when the provider reported a failure. */
  unwrapProfile?: (body: unknown) => Record<string, unknown> | { failed: string };
  profile: (raw: RawProfile, options: { trustEmail: boolean }) => MappedProfile;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
/** Numeric ids (GitHub, Kakao) become decimal strings; anything else that is not a string is refused. */
function subjectOf(v: unknown): string {
  if (typeof v === 'string' && v.length > 0 && v.length <= 255) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'bigint' && v >= 0n) return v.toString();
  throw new ProfileShapeError('The provider returned no usable subject identifier.');
}
export class ProfileShapeError extends Error {
  override name = 'ProfileShapeError';
}

/** OIDC claims: the ID token first, the userinfo document may fill the gaps (same `sub` checked by the client). */
function oidcProfile(raw: RawProfile, { trustEmail }: { trustEmail: boolean }): MappedProfile {
  const id = obj(raw.idToken);
  const ui = obj(raw.userinfo);
  const pick = (k: string) => (id[k] !== undefined ? id[k] : ui[k]);
  const email = str(pick('email'));
  // Only a boolean true counts: some issuers send "true" strings, which we read as not asserted.
  const verified = pick('email_verified') === true;
  return { subject: subjectOf(id.sub ?? ui.sub), email, emailVerified: trustEmail && !!email && verified, name: str(pick('name')), picture: str(pick('picture')) };
}

/** RFC 6749 §5.2 shape for an error a provider sent with status 200 or as an object. */
function oauthErrorBody(error: unknown, description?: unknown) {
  return { error: typeof error === 'string' ? error : 'invalid_request', ...(typeof description === 'string' ? { error_description: description } : {}) };
}

export const PROVIDERS: Record<BuiltinProvider | 'oidc', ProviderDefinition> = {
  google: {
    key: 'google',
    displayName: 'Google',
    kind: 'oidc',
    defaults: { issuer: 'https://accounts.google.com', scopes: ['openid', 'email', 'profile'] },
    pkce: true,
    tokenAuth: 'client_secret_post',
    refresh: true,
    // Google issues refresh tokens for access_type=offline (it ignores offline_access).
    authorizationParams: { access_type: 'offline' },
    profile: oidcProfile,
  },
  oidc: {
    key: 'oidc',
    displayName: 'OpenID Connect',
    kind: 'oidc',
    defaults: { scopes: ['openid', 'email', 'profile'] },
    pkce: true,
    tokenAuth: 'client_secret_basic',
    refresh: true,
    profile: oidcProfile,
  },
  kakao: {
    key: 'kakao',
    displayName: 'Kakao',
    kind: 'oauth2',
    defaults: {
      issuer: 'https://kauth.kakao.com',
      authorizationUrl: 'https://kauth.kakao.com/oauth/authorize',
      tokenUrl: 'https://kauth.kakao.com/oauth/token',
      userinfoUrl: 'https://kapi.kakao.com/v2/user/me',
      scopes: ['profile_nickname', 'profile_image', 'account_email'],
    },
    pkce: true,
    tokenAuth: 'client_secret_post',
    refresh: true,
    profileHeaders: { accept: 'application/json' },
    profile: (raw) => {
      // The profile API is authoritative for e-mail trust even in OIDC mode (the ID token has no email_verified).
      const ui = obj(raw.userinfo);
      const account = obj(ui.kakao_account);
      const profile = obj(account.profile);
      const props = obj(ui.properties);
      const email = str(account.email);
      return {
        subject: subjectOf(ui.id ?? obj(raw.idToken).sub),
        email,
        emailVerified: !!email && account.is_email_valid === true && account.is_email_verified === true,
        name: str(profile.nickname) ?? str(props.nickname) ?? str(obj(raw.idToken).nickname),
        picture: str(profile.profile_image_url) ?? str(props.profile_image) ?? str(obj(raw.idToken).picture),
      };
    },
  },
  github: {
    key: 'github',
    displayName: 'GitHub',
    kind: 'oauth2',
    defaults: {
      authorizationUrl: 'https://github.com/login/oauth/authorize',
      tokenUrl: 'https://github.com/login/oauth/access_token',
      userinfoUrl: 'https://api.github.com/user',
      emailsUrl: 'https://api.github.com/user/emails',
      scopes: ['read:user', 'user:email'],
    },
    pkce: true,
    tokenAuth: 'client_secret_post',
    // Only GitHub Apps with expiring user tokens get refresh tokens; OAuth apps' tokens do not expire.
    refresh: true,
    profileHeaders: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
    // GitHub answers token errors as HTTP 200 {error, error_description, error_uri}.
    tokenQuirks: (status, body) => {
      const b = obj(body);
      if (typeof b.error === 'string') {
        // Its names for RFC 6749's invalid_grant: a bad, used or expired code / refresh token.
        const error = b.error === 'bad_verification_code' || b.error === 'bad_refresh_token' ? 'invalid_grant' : b.error;
        return { status: status >= 400 ? status : 400, body: oauthErrorBody(error, b.error_description) };
      }
      return { status, body };
    },
    profile: (raw) => {
      const ui = obj(raw.userinfo);
      const list = Array.isArray(raw.emails) ? raw.emails.map(obj) : [];
      const primary = list.find((e) => e.primary === true && typeof e.email === 'string');
      // Only the primary address, and only when GitHub says it is verified; the public profile e-mail is not trusted.
      const email = str(primary?.email) ?? str(ui.email);
      return {
        subject: subjectOf(ui.id),
        email,
        emailVerified: !!primary && primary.verified === true && email === primary.email,
        name: str(ui.name) ?? str(ui.login),
        picture: str(ui.avatar_url),
      };
    },
  },
  facebook: {
    key: 'facebook',
    displayName: 'Facebook',
    kind: 'oauth2',
    defaults: {
      authorizationUrl: 'https://www.facebook.com/v21.0/dialog/oauth',
      tokenUrl: 'https://graph.facebook.com/v21.0/oauth/access_token',
      userinfoUrl: 'https://graph.facebook.com/v21.0/me',
      scopes: ['email', 'public_profile'],
    },
    pkce: true,
    tokenAuth: 'client_secret_post',
    // Facebook has no refresh grant (long-lived tokens are a separate exchange).
    refresh: false,
    profileQuery: (accessToken, secret) => ({
      fields: 'id,name,email,picture',
      // Graph API "appsecret_proof": proves the call comes from the app's server.
      ...(secret ? { appsecret_proof: createHmac('sha256', secret).update(accessToken).digest('hex') } : {}),
    }),
    // Graph errors are {error: {message, type, code}}: an object where RFC 6749 wants a string.
    tokenQuirks: (status, body) => {
      const e = obj(body).error;
      if (e && typeof e === 'object') {
        const fb = obj(e);
        return { status: status >= 400 ? status : 400, body: oauthErrorBody(fb.code === 100 || fb.code === 190 ? 'invalid_grant' : 'invalid_request', fb.message) };
      }
      return { status, body };
    },
    profile: (raw) => {
      const ui = obj(raw.userinfo);
      return {
        subject: subjectOf(ui.id),
        email: str(ui.email),
        emailVerified: false,
        name: str(ui.name),
        picture: str(obj(obj(ui.picture).data).url),
      };
    },
  },
  naver: {
    key: 'naver',
    displayName: 'Naver',
    kind: 'oauth2',
    defaults: {
      authorizationUrl: 'https://nid.naver.com/oauth2.0/authorize',
      tokenUrl: 'https://nid.naver.com/oauth2.0/token',
      userinfoUrl: 'https://openapi.naver.com/v1/nid/me',
      // Naver's scopes are chosen in its developer console, not in the request.
      scopes: [],
    },
    pkce: false,
    tokenAuth: 'client_secret_post',
    refresh: true,
    // Naver: errors as HTTP 200 {error, error_description}; expires_in as a string ("3600").
    tokenQuirks: (status, body) => {
      const b = obj(body);
      // Naver reports a bad, used or expired code or refresh token as invalid_request (our requests are well-formed).
      if (typeof b.error === 'string' && b.error !== '') {
        return { status: status >= 400 ? status : 400, body: oauthErrorBody(b.error === 'invalid_request' ? 'invalid_grant' : b.error, b.error_description) };
      }
      if (typeof b.expires_in === 'string' && /^\d{1,10}$/.test(b.expires_in)) return { status, body: { ...b, expires_in: Number(b.expires_in) } };
      return { status, body };
    },
    // Naver wraps the profile: {resultcode: "00", message: "success", response: {...}}.
    unwrapProfile: (body) => {
      const b = obj(body);
      if (b.resultcode !== '00') return { failed: typeof b.resultcode === 'string' ? `naver_${b.resultcode}` : 'naver_profile_failed' };
      return obj(b.response);
    },
    profile: (raw) => {
      const ui = obj(raw.userinfo);
      return { subject: subjectOf(ui.id), email: str(ui.email), emailVerified: false, name: str(ui.name) ?? str(ui.nickname), picture: str(ui.profile_image) };
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Configuration (a zod fragment in the style of src/config.ts; merged into configSchema later)
// ---------------------------------------------------------------------------------------------

const url = z.string().url();
const scopes = z.string().max(2000);
const trueFalse = z.enum(['true', 'false']);

function providerKeys<P extends string>(p: P, name: string, withIssuer: boolean, withUrls: boolean, withEmails = false) {
  const keys: Record<string, z.ZodType> = {
    [`OAUTH_${p}_CLIENT_ID`]: z.string().min(1).max(500).optional().describe(`${name} sign-in: OAuth client id. Setting it turns ${name} sign-in on.`),
    [`OAUTH_${p}_CLIENT_SECRET`]: z.string().min(1).max(1000).optional().describe(`${name} sign-in: OAuth client secret (never logged).`),
    [`OAUTH_${p}_SCOPES`]: scopes.optional().describe(`${name} sign-in: space-separated scopes. Default: ${PROVIDERS[p.toLowerCase() as BuiltinProvider | 'oidc'].defaults.scopes.join(' ') || '(none: chosen in the provider console)'}.`),
  };
  const def = PROVIDERS[p.toLowerCase() as BuiltinProvider | 'oidc'].defaults;
  if (withIssuer) keys[`OAUTH_${p}_ISSUER`] = url.optional().describe(`${name} sign-in: OpenID issuer (discovery at /.well-known/openid-configuration). Default: ${def.issuer ?? '(required)'}.`);
  if (withUrls) {
    keys[`OAUTH_${p}_AUTHORIZATION_URL`] = url.optional().describe(`${name} sign-in: authorization endpoint. Default: ${def.authorizationUrl}.`);
    keys[`OAUTH_${p}_TOKEN_URL`] = url.optional().describe(`${name} sign-in: token endpoint. Default: ${def.tokenUrl}.`);
    keys[`OAUTH_${p}_USERINFO_URL`] = url.optional().describe(`${name} sign-in: profile API. Default: ${def.userinfoUrl}.`);
  }
  if (withEmails) keys[`OAUTH_${p}_EMAILS_URL`] = url.optional().describe(`${name} sign-in: e-mail list API. Default: ${def.emailsUrl}.`);
  return keys;
}

/** Static keys, to be spread into `configSchema` (src/config.ts) at integration. */
export const oauthConfigShape = {
  ...providerKeys('GOOGLE', 'Google', true, false),
  ...providerKeys('KAKAO', 'Kakao', true, true),
  ...providerKeys('GITHUB', 'GitHub', false, true, true),
  ...providerKeys('FACEBOOK', 'Facebook', false, true),
  ...providerKeys('NAVER', 'Naver', false, true),
  ...providerKeys('OIDC', 'Generic OpenID Connect', true, false),
  OAUTH_OIDC_DISPLAY_NAME: z.string().min(1).max(100).optional()
    .describe('Generic OpenID Connect sign-in: the button label. Default: OpenID Connect.'),
  OAUTH_OIDC_TRUST_EMAIL: trueFalse.default('true')
    .describe('Generic OpenID Connect sign-in: trust the issuer\'s email_verified claim for automatic linking (false: always link explicitly).'),
  OAUTH_REDIRECT_ALLOWLIST: z.string().max(10_000).optional()
    .describe('Where social sign-in may send the browser back to (redirect_to): comma-separated absolute URLs, matched by exact origin and path prefix. Default: PUBLIC_URL/console/ and PUBLIC_URL/.'),
  OAUTH_ERROR_REDIRECT: url.optional()
    .describe('Where a failed browser sign-in is redirected, with ?error=<code>. Default: PUBLIC_URL/console/.'),
  OAUTH_HTTP_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(60).default(10)
    .describe('Timeout of each call to a sign-in provider (token, userinfo, discovery).'),
} satisfies Record<string, z.ZodType>;

export const oauthConfigSchema = z.object(oauthConfigShape);
export type OAuthConfig = z.infer<typeof oauthConfigSchema>;

/**
 * Named generic issuers: `OAUTH_OIDC_<NAME>_ISSUER` (NAME: letters and digits) and its siblings.
 * Not static keys, so the config table documents them as a pattern (`namedOidcKeyDocs`).
 */
export const namedOidcShape = {
  ISSUER: url.describe('OpenID issuer of the named provider `oidc-<name>` (discovery). Turns it on together with CLIENT_ID.'),
  CLIENT_ID: z.string().min(1).max(500).describe('Client id at that issuer.'),
  CLIENT_SECRET: z.string().min(1).max(1000).optional().describe('Client secret at that issuer (never logged).'),
  SCOPES: scopes.optional().describe('Space-separated scopes. Default: openid email profile.'),
  DISPLAY_NAME: z.string().min(1).max(100).optional().describe('The button label. Default: the name.'),
  TRUST_EMAIL: trueFalse.default('true').describe('Trust its email_verified claim for automatic linking.'),
};
const namedOidcSchema = z.object(namedOidcShape);
export const namedOidcKeyDocs = Object.entries(namedOidcShape).map(([suffix, s]) => ({
  name: `OAUTH_OIDC_<NAME>_${suffix}`,
  description: (s as z.ZodType).description ?? '',
}));

const NAMED_SUFFIXES = Object.keys(namedOidcShape);
const NAMED_KEY = new RegExp(`^OAUTH_OIDC_([A-Z0-9]+)_(${NAMED_SUFFIXES.join('|')})$`);

export class OAuthConfigError extends Error {
  override name = 'OAuthConfigError';
  constructor(readonly issues: string[]) {
    super(`Invalid social sign-in configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`);
  }
}

/** A provider ready to use: its table row plus its resolved configuration. */
export interface ConfiguredProvider {
  /** The URL segment: `google`, `kakao`, …, `oidc`, `oidc-<name>`. */
  name: string;
  displayName: string;
  /** Effective kind: kakao is `oidc` when its scopes include `openid`. */
  kind: ProviderKind;
  definition: ProviderDefinition;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  emailsUrl?: string;
  pkce: boolean;
  trustEmail: boolean;
}

export function isLoopbackHttp(u: URL): boolean {
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}
function checkEndpoint(name: string, value: string | undefined, issues: string[]) {
  if (value === undefined) return;
  const u = new URL(value);
  if (u.protocol !== 'https:' && !isLoopbackHttp(u)) issues.push(`${name}: must be https (http only on a loopback address)`);
  if (u.username || u.password) issues.push(`${name}: must not carry credentials`);
}

const splitScopes = (s: string | undefined, fallback: string[]) => (s === undefined ? fallback : s.split(/[\s,]+/).filter(Boolean));

/**
 * The configured providers, in table order then named issuers by name, from the environment
 * (static keys through `oauthConfigSchema`, named issuers by pattern). Throws OAuthConfigError
 * listing every problem, so a start with a half-configured provider fails loudly.
 */
export function configuredProviders(env: Record<string, string | undefined>): ConfiguredProvider[] {
  const input: Record<string, string> = {};
  for (const k of Object.keys(oauthConfigShape)) if (env[k] !== undefined && env[k] !== '') input[k] = env[k]!;
  const parsed = oauthConfigSchema.safeParse(input);
  if (!parsed.success) throw new OAuthConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const c = parsed.data as unknown as Record<string, string | undefined>;
  const issues: string[] = [];
  const out: ConfiguredProvider[] = [];

  for (const key of [...BUILTIN_PROVIDERS, 'oidc'] as const) {
    const P = key.toUpperCase();
    const clientId = c[`OAUTH_${P}_CLIENT_ID`];
    if (!clientId) continue;
    const def = PROVIDERS[key];
    const scopesList = splitScopes(c[`OAUTH_${P}_SCOPES`], def.defaults.scopes);
    const kind: ProviderKind = def.kind === 'oidc' || (key === 'kakao' && scopesList.includes('openid')) ? 'oidc' : 'oauth2';
    const p: ConfiguredProvider = {
      name: key,
      displayName: key === 'oidc' ? (c.OAUTH_OIDC_DISPLAY_NAME ?? def.displayName) : def.displayName,
      kind,
      definition: def,
      clientId,
      clientSecret: c[`OAUTH_${P}_CLIENT_SECRET`],
      scopes: scopesList,
      issuer: c[`OAUTH_${P}_ISSUER`] ?? def.defaults.issuer,
      authorizationUrl: c[`OAUTH_${P}_AUTHORIZATION_URL`] ?? def.defaults.authorizationUrl,
      tokenUrl: c[`OAUTH_${P}_TOKEN_URL`] ?? def.defaults.tokenUrl,
      userinfoUrl: c[`OAUTH_${P}_USERINFO_URL`] ?? def.defaults.userinfoUrl,
      emailsUrl: c[`OAUTH_${P}_EMAILS_URL`] ?? def.defaults.emailsUrl,
      pkce: def.pkce,
      trustEmail: key === 'oidc' ? c.OAUTH_OIDC_TRUST_EMAIL !== 'false' : true,
    };
    if (kind === 'oidc' && !p.issuer) issues.push(`OAUTH_${P}_ISSUER: required when OAUTH_${P}_CLIENT_ID is set`);
    if (!p.clientSecret && key !== 'oidc') issues.push(`OAUTH_${P}_CLIENT_SECRET: required when OAUTH_${P}_CLIENT_ID is set`);
    for (const k of ['ISSUER', 'AUTHORIZATION_URL', 'TOKEN_URL', 'USERINFO_URL', 'EMAILS_URL']) checkEndpoint(`OAUTH_${P}_${k}`, c[`OAUTH_${P}_${k}`], issues);
    out.push(p);
  }

  const named = new Map<string, Record<string, string>>();
  for (const [k, v] of Object.entries(env)) {
    const m = NAMED_KEY.exec(k);
    if (!m || v === undefined || v === '') continue;
    const entry = named.get(m[1]!) ?? {};
    entry[m[2]!] = v;
    named.set(m[1]!, entry);
  }
  for (const [NAME, values] of [...named.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (!values.ISSUER && !values.CLIENT_ID) continue;
    const r = namedOidcSchema.safeParse(values);
    if (!r.success) {
      for (const i of r.error.issues) issues.push(`OAUTH_OIDC_${NAME}_${i.path.join('.')}: ${i.message}`);
      continue;
    }
    checkEndpoint(`OAUTH_OIDC_${NAME}_ISSUER`, r.data.ISSUER, issues);
    const name = `oidc-${NAME.toLowerCase()}`;
    if (name.length > 40) issues.push(`OAUTH_OIDC_${NAME}_ISSUER: the name is too long (at most 35 characters)`);
    out.push({
      name,
      displayName: r.data.DISPLAY_NAME ?? NAME.charAt(0) + NAME.slice(1).toLowerCase(),
      kind: 'oidc',
      definition: PROVIDERS.oidc,
      clientId: r.data.CLIENT_ID,
      clientSecret: r.data.CLIENT_SECRET,
      scopes: splitScopes(r.data.SCOPES, PROVIDERS.oidc.defaults.scopes),
      issuer: r.data.ISSUER,
      pkce: true,
      trustEmail: r.data.TRUST_EMAIL !== 'false',
    });
  }
  if (issues.length) throw new OAuthConfigError(issues);
  return out;
}

/** `GET /api/v1/auth/oauth/providers` items. */
export function publicProviderList(providers: ConfiguredProvider[]) {
  return providers.map((p) => ({ name: p.name, display_name: p.displayName, kind: p.kind }));
}

/** The redirect URI registered at every provider: `{PUBLIC_URL}/api/v1/auth/oauth/{provider}/callback`. */
export function callbackUrl(publicUrl: string, provider: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/api/v1/auth/oauth/${encodeURIComponent(provider)}/callback`;
}
