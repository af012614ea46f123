/**
 * Every environment variable authledger reads, in one zod schema.
 * Rules enforced here:
 * - each key carries a `.describe()`; `.env.example` and the README table are generated from it
 *   (`npm run cli -- config-doc`), and a unit test fails when they drift;
 * - `.env` is loaded when present (never overriding the real environment);
 * - unsafe defaults are listed by `unsafeDefaults()`; they warn in development and are refused
 *   when NODE_ENV=production.
 */
import 'dotenv/config';
import { z } from 'zod';
import { oauthConfigShape } from './commands/oauth/providers';
import { uploadConfigShape } from './infra/blobs/config';

const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', ''])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

/** "900", "900s", "15m", "2h", "14d" → seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+)\s*(s|m|h|d)?\s*$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { s: 1, m: 60, h: 3600, d: 86400 }[unit as 's' | 'm' | 'h' | 'd'];
}
const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    try {
      return parseDuration(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 900, 15m, 2h or 14d' });
      return z.NEVER;
    }
  });
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const ROLE_NAMES = ['api', 'projector', 'worker', 'realtime', 'gateway'] as const;
export type ProcessRole = (typeof ROLE_NAMES)[number];

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development')
    .describe('development | test | production. Production refuses unsafe defaults.'),
  HOST: z.string().default('0.0.0.0').describe('Interface the HTTP API binds to.'),
  PORT: int(0, 65535).default(8000).describe('HTTP API port.'),
  PUBLIC_URL: z.string().url().optional()
    .describe('Public base URL of the API, used in e-mailed links. Defaults to http://localhost:PORT.'),
  DATABASE_URL: z.string().default('postgres://postgres:postgres@127.0.0.1:5432/authledger')
    .describe('PostgreSQL URL for read models (and the event log with EVENT_STORE=postgres). The database is created when missing.'),
  DATABASE_POOL_SIZE: int(1, 200).default(20).describe('Maximum PostgreSQL connections per process.'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379/0')
    .describe('Redis URL for session state, rate limits, queues and realtime fan-out; its db index is honoured.'),
  REDIS_PREFIX: z.string().default('al:').describe('Prefix of every Redis key this process writes.'),
  EVENT_STORE: z.enum(['postgres', 'eventstoredb']).default('postgres')
    .describe('Event store adapter: postgres (default, no extra server) or eventstoredb (EventStoreDB/KurrentDB).'),
  EVENTSTORE_URL: z.string().optional()
    .describe('EventStoreDB/KurrentDB connection string, e.g. esdb://127.0.0.1:2113?tls=false. Required with EVENT_STORE=eventstoredb.'),
  ROLES: z.string().default('api,projector,worker,realtime')
    .transform((v, ctx) => {
      const roles = v.split(',').map((r) => r.trim()).filter(Boolean);
      const bad = roles.filter((r) => !(ROLE_NAMES as readonly string[]).includes(r));
      if (bad.length || roles.length === 0) {
        ctx.addIssue({ code: 'custom', message: `roles must be a non-empty subset of ${ROLE_NAMES.join(',')}` });
        return z.NEVER;
      }
      return new Set(roles as ProcessRole[]);
    })
    .describe('Which parts this process runs: any subset of api,projector,worker,realtime,gateway (the gateway is not in the default: add it to proxy GATEWAY_PREFIX/{service}/… to registered services).'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
    .describe('pino log level.'),
  LOG_DIR: z.string().optional().describe('When set, logs are also written to LOG_DIR/app.log and errors to LOG_DIR/error.log.'),
  LOG_REQUESTS: z.enum(['all', 'errors', 'off']).default('all')
    .describe('One access line per request, on completion (method, route pattern, status, duration, request id, user id): all (default); errors (4xx/5xx at info/error, the rest at debug); off (none; errors from the error handler still log).'),
  DATA_DIR: z.string().default('./var')
    .describe('Where development-only generated secrets (signing key, pepper) and files are kept.'),
  CORS_ORIGINS: z.string().default('*').describe('Allowed CORS origins: * or a comma-separated list. Also the WebSocket Origin allow-list.'),
  TRUST_PROXY: z.string().default('false')
    .describe('Fastify trustProxy: false, true, a hop count, or a comma-separated list of proxy addresses/CIDRs. Decides the client IP used by rate limits.'),
  BODY_LIMIT_BYTES: int(1024, 50 * 1024 * 1024).default(65536).describe('Maximum HTTP request body size in bytes; larger bodies get 413.'),
  HTTPS_ONLY: bool.optional()
    .describe('Send Strict-Transport-Security and the CSP upgrade-insecure-requests directive. Default: on when NODE_ENV=production, off otherwise (so /docs works over plain http).'),
  READY_MAX_PROJECTION_LAG: int(0, 100_000_000).default(10_000)
    .describe('GET /ready answers 503 while any projection is more than this many events behind the log.'),
  READ_YOUR_WRITES: z.enum(['on', 'off']).default('on')
    .describe('Read-your-writes on the PostgreSQL read models (X-Log-Position, per-session waits, X-Consistent-After). `off` only to compare costs: queries may then read a state older than the caller\'s own write.'),
  READ_YOUR_WRITES_TIMEOUT_MS: int(0, 60_000).default(2000)
    .describe('How long a query waits for the projections it reads to pass the position its session last wrote (or X-Consistent-After) before answering 503 projection_behind.'),
  READ_YOUR_WRITES_SESSION_TTL_SECONDS: int(1, 3600).default(60)
    .describe('How long the API remembers (in Redis) the log position a session last wrote, for read-your-writes on its next queries.'),
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(600).describe('Requests per minute per client IP on every route; 0 turns it off.'),
  RATE_LIMIT_AUTH_PER_MINUTE: int(0, 1_000_000).default(20)
    .describe('Requests per minute per client IP on login, signup, refresh and password-reset routes; 0 turns it off.'),

  JWT_ISSUER: z.string().default('authledger').describe('iss claim of access tokens.'),
  JWT_AUDIENCE: z.string().default('authledger').describe('aud claim of access tokens.'),
  JWT_ALG: z.enum(['EdDSA', 'ES256']).default('EdDSA').describe('Signing algorithm of access tokens.'),
  JWT_PRIVATE_KEYS: z.string().optional()
    .describe('Signing keys: a JSON array of private JWKs (each with kid; the first signs, all verify) or one PEM. Without it a dev key is generated once into DATA_DIR (refused in production).'),
  ACCESS_TOKEN_TTL: duration.default(900).describe('Access token lifetime (seconds, or 15m / 2h / 14d).'),
  REFRESH_TOKEN_TTL: duration.default(14 * 86400).describe('Absolute lifetime of a session / refresh token family.'),
  REFRESH_IDLE_TTL: duration.default(3 * 86400).describe('A session not refreshed for this long expires.'),
  REFRESH_REUSE_GRACE_SECONDS: int(0, 300).default(0)
    .describe('Window in which the just-rotated refresh token may be presented once more without being treated as reuse. 0 = strict (recommended).'),
  REAUTH_MAX_AGE_SECONDS: int(0, 86_400).default(300)
    .describe('Changing one\'s own e-mail without the current password is allowed only this long after the session\'s last login (its authentication, not the access token\'s issue time: refreshing does not count). 0 = always ask for the password.'),
  // Multi-factor sign-in (issue 17, docs/identity.md "MFA").
  STEP_UP_MAX_AGE_SECONDS: int(0, 86_400).default(300)
    .describe('Sensitive operations (e-mail/password change, removing a factor, new recovery codes, an API key with `*` features, admin role changes) by a user who has a second factor need one verified within this many seconds on the session (at its login or by POST /api/v1/auth/mfa/step-up), else 401 step_up_required.'),
  MFA_REQUIRED_FOR_ROLES: z.string().max(200).default('')
    .describe('Comma-separated roles (e.g. `admin`) whose users must enrol a second factor at their next password login before they get a session.'),
  MFA_TOKEN_TTL_SECONDS: int(30, 900).default(300)
    .describe('Lifetime of the mfa_token a password step answers with when a second factor is due (single use).'),
  WEBAUTHN_RP_ID: z.string().max(253).default('localhost')
    .describe('WebAuthn relying-party id: the registrable domain passkeys are bound to (e.g. example.com). Changing it orphans every registered passkey.'),
  WEBAUTHN_RP_NAME: z.string().max(100).default('authledger')
    .describe('Relying-party name shown by authenticators, and the issuer of TOTP otpauth URIs.'),
  WEBAUTHN_ORIGINS: z.string().max(2000).optional()
    .describe('Comma-separated origins WebAuthn ceremonies may come from (e.g. https://app.example.com). Default: the origin of PUBLIC_URL, or http://localhost:PORT.'),
  REFRESH_FAILURE_LIMIT: int(1, 1000).default(10)
    .describe('Refresh tokens of one session presented with a secret the session never issued (guesses; not reuse: the session is untouched) before more such guesses are refused with 429 for REFRESH_FAILURE_WINDOW_SECONDS.'),
  REFRESH_FAILURE_WINDOW_SECONDS: int(1, 86_400).default(900)
    .describe('Window in which REFRESH_FAILURE_LIMIT foreign refresh secrets per session are counted, and how long the refusal then lasts.'),
  REFRESH_COOKIE: bool.default(true).describe('Send the refresh token as an HttpOnly cookie (true) or only in the response body (false).'),
  COOKIE_SECURE: bool.default(true).describe('Mark the refresh cookie Secure. Turn off only for local plain-http development.'),
  COOKIE_SAMESITE: z.enum(['strict', 'lax', 'none']).default('strict')
    .describe('SameSite of the refresh cookie: strict (default); lax or none (a front end on another site, docs/security.md) only with COOKIE_SECURE=true. Cookie-authenticated routes also check Origin / Sec-Fetch-Site against the API origin and CORS_ORIGINS whatever this says.'),
  PASSWORD_MIN_LENGTH: int(8, 64).default(8).describe('Minimum password length (NIST 800-63B: 8, 15 when the password is the only factor).'),
  PASSWORD_MAX_LENGTH: int(64, 1024).default(256).describe('Maximum password length in characters.'),
  PASSWORD_PEPPER: z.string().min(32).optional()
    .describe('Server secret (≥32 chars) keying the HMAC-SHA-384 pre-hash before bcrypt. Generated into DATA_DIR when missing (refused in production).'),
  BCRYPT_COST: int(4, 15).default(12).describe('bcrypt cost factor.'),
  LOCKOUT_THRESHOLD: int(1, 100).default(10).describe('Consecutive failed logins that lock an account temporarily.'),
  LOCKOUT_MINUTES: int(1, 1440).default(15).describe('How long a lockout lasts.'),

  ADMIN_EMAIL: z.string().email().optional().describe('E-mail of the first admin, created at start only while no active admin exists; an existing account with this e-mail is never promoted (use `npm run cli -- grant-admin`).'),
  ADMIN_PASSWORD: z.string().optional().describe('Password of the first admin (must pass the password policy).'),
  TOKEN_CLIENTS: z.string().max(10_000).optional()
    .describe('HTTP Basic clients of POST /api/v1/tokens/verify and /revoke (RFC 7662/7009): comma-separated client_id:sha256hex, the SHA-256 (hex) of each client secret, e.g. `gateway:9f86…`; make the secret with `openssl rand -base64 32` and hash it with `printf %s "$SECRET" | sha256sum`. API keys with the tokens:introspect scope also authenticate there.'),
  METRICS_TOKEN: z.string().min(32).max(512).optional()
    .describe('Bearer token (≥32 chars) that GET /metrics requires on the API port, the realtime hub port and METRICS_PORT. Without it and without METRICS_PORT, /metrics answers 404 (off the public surface).'),
  METRICS_PORT: int(1, 65535).optional()
    .describe('When set, /metrics is served on its own listener (METRICS_HOST:METRICS_PORT) and not on the API or hub port. One per process: give each process its own port.'),
  METRICS_HOST: z.string().default('127.0.0.1').describe('Interface of the METRICS_PORT listener (loopback by default).'),
  API_KEY_RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(600).describe('Access checks per minute per API key; 0 turns it off.'),

  SMTP_URL: z.string().optional().describe('SMTP server, e.g. smtp://user:pass@127.0.0.1:1025. Without it, mail is written to MAIL_OUTBOX_DIR.'),
  MAIL_FROM: z.string().default('authledger <no-reply@localhost>').describe('From address of outgoing mail.'),
  MAIL_OUTBOX_DIR: z.string().default('./var/outbox').describe('Where .eml files go when SMTP_URL is not set.'),
  EMAIL_TOKEN_SECRET: z.string().min(32).optional()
    .describe('Server secret (≥32 chars) from which mailed verification/reset tokens are derived (HMAC). Defaults to a key derived from PASSWORD_PEPPER.'),
  EMAIL_VERIFICATION_TTL: duration.default(86400).describe('Lifetime of an e-mail verification token.'),
  PASSWORD_RESET_TTL: duration.default(1800).describe('Lifetime of a password-reset token (short: 30 min by default).'),
  EMAIL_CHANGE_TTL: duration.default(86400)
    .describe('Lifetime of the link mailed to the new address to confirm one\'s own e-mail change (the change stays pending until then).'),
  EMAIL_CHANGE_CANCEL_TTL: duration.default(7 * 86400)
    .describe('Lifetime of the cancel link mailed to the old address on an e-mail change; until then it can also revert a confirmed change, and the old address stays reserved.'),
  WORKER_CONCURRENCY: int(1, 1000).default(10).describe('Jobs each BullMQ worker (one per queue) runs at once in this process.'),
  WORKER_LOCK_DURATION_MS: int(1000, 600_000).default(30_000)
    .describe('BullMQ job lock: a job whose worker died is retried after about this long (stalled-job detection).'),
  CLEANUP_INTERVAL: duration.default(60).describe('How often the cleanup jobs (session/API-key expiry, usage fold, token pruning) run.'),
  // Issue 21: API-key usage lives only in Redis until folded; this interval bounds what losing Redis loses.
  USAGE_FOLD_INTERVAL: duration.default(10)
    .describe('How often API-key/feature usage counters are folded from Redis into PostgreSQL. Losing Redis loses at most the granted checks of the last USAGE_FOLD_INTERVAL + 1 s (docs/redis.md).'),

  // Issue 20 §10: tamper evidence beyond the database.
  ANCHOR_INTERVAL: duration.default(300)
    .describe('How often the worker writes a log checkpoint (the chain across streams that `verify` checks) and, with ANCHOR_DIR, a signed anchor file.'),
  ANCHOR_DIR: z.string().max(4096).optional()
    .describe('Directory for signed anchors of the log head (anchor-<time>.json), written every ANCHOR_INTERVAL; keep it on storage the database\'s administrators cannot rewrite. Check one with `npm run cli -- verify --against FILE`.'),

  REALTIME_PORT: int(0, 65535).default(8001).describe('Port of the uWebSockets.js realtime hub (/ws).'),
  REALTIME_MAX_MESSAGE_BYTES: int(64, 1024 * 1024).default(16 * 1024).describe('Largest WebSocket message accepted.'),
  REALTIME_MESSAGES_PER_SECOND: int(1, 10_000).default(20).describe('Per-connection message rate limit.'),
  REALTIME_IDLE_TIMEOUT_SECONDS: int(8, 960).default(60).describe('Idle timeout; the hub pings before closing.'),
  REALTIME_MAX_BACKPRESSURE_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024)
    .describe('Bytes buffered for a slow consumer before its connection is closed.'),

  // Read-model browser (issue 16): limits of the admins' read-only SQL box.
  READ_MODEL_SQL_TIMEOUT_MS: int(100, 60_000).default(5000)
    .describe('statement_timeout of a read-model browser query; the server also cancels the backend shortly after, whatever the statement did.'),
  READ_MODEL_SQL_MAX_ROWS: int(1, 100_000).default(1000).describe('Rows a read-model browser query returns at most (the rest is cut; the answer says so).'),
  READ_MODEL_SQL_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(2 * 1024 * 1024)
    .describe('Bytes of row data (PostgreSQL row size) a read-model browser query returns at most; measured in the database, so larger rows never leave it.'),
  // The gateway (issue 14): src/gateway, docs/gateway.md.
  GATEWAY_PREFIX: z.string().max(100).regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'empty or /segment[/segment…], no trailing slash').default('/api')
    .describe('Path under which the gateway role proxies /{service}/… to registered services (default /api: /api/orders/x goes to the service orders; /api/v1/… stays the API). Empty: at the root (only with GATEWAY_PORT).'),
  GATEWAY_PORT: int(0, 65535).optional()
    .describe('When set, the gateway role listens on its own port (HOST:GATEWAY_PORT) instead of sharing the API port.'),
  GATEWAY_CORS_ORIGINS: z.string().max(4096).optional()
    .describe('CORS of the gateway on its own port (GATEWAY_PORT, or a process without the api role): * or a comma-separated origin list. Unset: the gateway answers no CORS itself (preflights and CORS headers are the upstreams\'). On the API port the gateway routes follow CORS_ORIGINS.'),
  GATEWAY_SERVICES: z.string().max(4096).optional()
    .describe('Path of a JSON or YAML file of services ({services: [...]} or a list) applied to the registry at start, idempotently: unchanged services append nothing.'),
  GATEWAY_BODY_LIMIT_BYTES: int(0, 1024 * 1024 * 1024 * 1024).default(100 * 1024 * 1024)
    .describe('Largest request body the gateway streams to an upstream (bytes; 0 = no limit); larger ones get 413. Bodies are never buffered.'),
  GATEWAY_REGISTRY_POLL_MS: int(100, 600_000).default(5000)
    .describe('Gateway processes reload the service registry on every change notice (LISTEN) and, as a safety net, this often.'),
  GATEWAY_DNS_CACHE_SECONDS: int(0, 86_400).default(30)
    .describe('How long a dns+srv:// upstream\'s SRV answer is used before it is resolved again (resolveSrv gives no TTL).'),
  GATEWAY_DNS_SERVERS: z.string().max(1000).optional()
    .describe('DNS servers (comma-separated ip[:port], e.g. 127.0.0.1:8600 for Consul) for dns+srv:// upstreams; the SRV targets\' names are resolved there too (A, else AAAA). Default: the system resolver for both.'),
  GATEWAY_HEALTH_MARKS: bool.default(true)
    .describe('Record upstream health changes in the registry as UpstreamMarkedDown/Up events (audit trail); routing uses each process\'s own checks either way.'),

  // Social sign-in (issue 13): provider keys (src/commands/oauth/providers.ts) and the token key.
  ...oauthConfigShape,
  PROVIDER_TOKEN_KEY: z.string().max(2000).optional()
    .describe('Server key(s) wrapping the per-user data keys of provider tokens: 32 bytes as 64 hex digits or 43 base64url chars; several comma-separated for rotation (the first wraps, all unwrap). Without it a dev key is generated once into DATA_DIR (refused in production when a provider is configured).'),

  // File uploads (issue 15): limits, the blob store (disk or S3), share links.
  ...uploadConfigShape,
});

export type Config = z.infer<typeof configSchema>;

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const cross = crossFieldIssues(parsed.data);
  if (cross.length) throw new Error(`Invalid configuration:\n${cross.map((l) => `  ${l}`).join('\n')}`);
  return parsed.data;
}

/** Rules between keys (the schema checks each key alone). */
export function crossFieldIssues(config: Config): string[] {
  const out: string[] = [];
  // SameSite=None cookies are dropped by browsers unless Secure; Lax/None widen who gets the cookie, so never over plain http.
  if (config.COOKIE_SAMESITE !== 'strict' && !config.COOKIE_SECURE) out.push(`COOKIE_SAMESITE: ${config.COOKIE_SAMESITE} needs COOKIE_SECURE=true`);
  if (config.UPLOAD_STORE === 's3' && !config.S3_BUCKET) out.push('UPLOAD_STORE: s3 needs S3_BUCKET');
  if (!!config.S3_ACCESS_KEY_ID !== !!config.S3_SECRET_ACCESS_KEY) out.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together');
  if (config.TOKEN_CLIENTS !== undefined) {
    try {
      parseTokenClients(config.TOKEN_CLIENTS);
    } catch (err) {
      out.push(`TOKEN_CLIENTS: ${(err as Error).message}`);
    }
  }
  return out;
}

/** TOKEN_CLIENTS → client id → SHA-256 hex of its secret. */
export function parseTokenClients(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of (value ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9._~-]{1,100}):([0-9a-fA-F]{64})$/.exec(entry);
    if (!m) throw new Error('expected comma-separated client_id:sha256hex entries (64 hex digits after the colon)');
    out.set(m[1]!, m[2]!.toLowerCase());
  }
  return out;
}

/** Unsafe defaults in force: a warning in development, a refusal in production. */
export function unsafeDefaults(config: Config): string[] {
  const out: string[] = [];
  if (!config.JWT_PRIVATE_KEYS) out.push('JWT_PRIVATE_KEYS is not set: a generated development signing key is used. Set JWT_PRIVATE_KEYS.');
  if (!config.PASSWORD_PEPPER) out.push('PASSWORD_PEPPER is not set: a generated development pepper is used. Set PASSWORD_PEPPER (≥32 random chars).');
  if (config.CORS_ORIGINS.trim() === '*') out.push('CORS_ORIGINS is *: any origin may call the API. Set CORS_ORIGINS to your front-end origins.');
  if (!config.ADMIN_EMAIL || !config.ADMIN_PASSWORD) out.push('No admin configured: set ADMIN_EMAIL and ADMIN_PASSWORD (or run `npm run cli -- create-admin`).');
  if (!config.COOKIE_SECURE) out.push('COOKIE_SECURE=false: refresh cookies travel over plain http.');
  if (!config.PROVIDER_TOKEN_KEY && Object.keys(config).some((k) => /^OAUTH_[A-Z0-9_]+_CLIENT_ID$/.test(k) && config[k as keyof Config])) {
    out.push('PROVIDER_TOKEN_KEY is not set: provider tokens are encrypted under a generated development key. Set PROVIDER_TOKEN_KEY.');
  }
  return out;
}
