/**
 * Job processors. Each is idempotent, because jobs run at least once:
 * - `issue-verification` appends the token event with ids derived from the causing event, so a
 *   retry re-appends the same event and the store stores nothing;
 * - `mail` sends through `deliverOnce` keyed by `<kind>-<event id>`;
 * - every handler re-reads the write side (event streams) before acting and skips what no longer
 *   applies (user deleted, address already verified, token consumed or expired).
 */
import { createHash } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../src/config';
import type { InlineProjections } from '../src/projections/inline';
import type { EventStore } from '../src/events/store';
import { streams } from '../src/events/streams';
import type { UserState } from '../src/events/user';
import type { EmailTokenKind } from '../src/events/email-token';
import { loadStream, runCommand } from '../src/commands/decider';
import { emailTokenDecider } from '../src/commands/email/decide';
import { loadUser as loadUserStream } from '../src/commands/users/stream';
import { emailChangeToken, emailToken, emailTokenKey, hashEmailToken } from '../src/credentials/email-tokens';
import { pendingEmailChange } from '../src/events/email-change';
import type { IssueVerificationJobData, MailJobData } from './jobs';
import { deliverOnce } from './mail/deliver';
import type { Mailer } from './mail/mailer';
import { templates, type RenderedMail } from './mail/templates';

export interface HandlerDeps {
  config: Config;
  log: Logger;
  store: EventStore;
  redis: Redis;
  prefix: string;
  /** The inline projections of the commands the jobs run (`services.inline`). */
  inline: InlineProjections;
  mailer: Mailer;
}

/** A UUID-shaped id derived from a name (so retries derive the same ids). */
export function derivedId(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const baseUrl = (config: Pick<Config, 'PUBLIC_URL' | 'PORT'>) => (config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/+$/, '');

const loadUser = async (store: EventStore, userId: string): Promise<UserState> => (await loadUserStream(store, userId)).state;

async function loadToken(store: EventStore, kind: EmailTokenKind, tokenId: string) {
  const stream = kind === 'reset' ? streams.passwordReset(tokenId) : streams.verification(tokenId);
  return (await loadStream(store, stream, emailTokenDecider)).state;
}

export async function issueVerification(deps: HandlerDeps, data: IssueVerificationJobData): Promise<string> {
  const user = await loadUser(deps.store, data.userId);
  if (!user.exists || user.deleted || user.emailVerified || user.email !== data.email) return 'skipped';
  const tokenId = derivedId(`verification-token|${data.eventId}`);
  const token = emailToken(emailTokenKey(deps.config), 'verification', tokenId);
  // A retry decides on the stream it already wrote: nothing is appended twice (derived ids).
  await runCommand(deps, {
    stream: streams.verification(tokenId),
    decider: emailTokenDecider,
    command: {
      type: 'RequestToken',
      event: {
        id: derivedId(`verification-event|${data.eventId}`),
        type: 'EmailVerificationRequested',
        data: {
          tokenId, userId: data.userId, email: data.email, tokenHash: hashEmailToken(token), reason: data.reason ?? 'signup',
          expiresAt: new Date(Date.now() + deps.config.EMAIL_VERIFICATION_TTL * 1000).toISOString(),
        },
      },
    },
    metadata: { causationId: data.eventId, correlationId: data.eventId },
  });
  return 'issued';
}

const DEVICE_TTL_SECONDS = 400 * 24 * 3600;
/**
 * KEYS[1] hash of a user's known devices; ARGV[1] device fingerprint, ARGV[2] event id, ARGV[3] ttl.
 * 'first' (the user's first device: no notice), 'new' (notify) or 'known'. A retry of the same
 * event finds its own id and gets the same answer.
 */
const SEEN_DEVICE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  if v == ARGV[2] then return 'new' elseif v == ARGV[2] .. '|first' then return 'first' else return 'known' end
end
local first = redis.call('HLEN', KEYS[1]) == 0
redis.call('HSET', KEYS[1], ARGV[1], first and (ARGV[2] .. '|first') or ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if first then return 'first' else return 'new' end
`;

export const devicesKey = (prefix: string, userId: string) => `${prefix}mail:devices:${userId}`;

export async function sendMail(deps: HandlerDeps, data: MailJobData): Promise<string> {
  if (data.kind === 'new-device') {
    // Every login makes this job: a known device costs one Redis call, no stream read.
    const fingerprint = createHash('sha256').update(`${data.userAgent ?? ''}\n${data.deviceName ?? ''}`).digest('base64url');
    const seen = (await deps.redis.eval(SEEN_DEVICE, 1, devicesKey(deps.prefix, data.userId), fingerprint, data.eventId, DEVICE_TTL_SECONDS)) as string;
    if (seen !== 'new') return `skipped: ${seen} device`;
  }
  const user = await loadUser(deps.store, data.userId);
  if (!user.exists || user.deleted) return 'skipped: no such user';
  const ctx = { baseUrl: baseUrl(deps.config), name: user.name || undefined };
  const when = new Date(data.eventAt).toUTCString();
  let to = user.email;
  let mail: RenderedMail;
  switch (data.kind) {
    case 'verification':
    case 'password-reset': {
      const kind: EmailTokenKind = data.kind === 'verification' ? 'verification' : 'reset';
      const t = await loadToken(deps.store, kind, data.tokenId!);
      if (!t.requested) return 'skipped: no such token';
      if (t.consumed) return 'skipped: token already used';
      if (Date.parse(t.requested.expiresAt) <= Date.now()) return 'skipped: token expired';
      if (kind === 'verification' && user.email !== t.requested.email) return 'skipped: address changed since';
      if (kind === 'verification' && user.emailVerified) return 'skipped: already verified';
      if (user.disabled && kind === 'reset') return 'skipped: user disabled';
      to = t.requested.email;
      const token = emailToken(emailTokenKey(deps.config), kind, t.requested.tokenId);
      mail = kind === 'verification'
        ? templates.verification(ctx, { token, expiresAt: t.requested.expiresAt })
        : templates.passwordReset(ctx, { token, expiresAt: t.requested.expiresAt });
      break;
    }
    case 'new-device':
      mail = templates.newDevice(ctx, { when, ip: data.ip, userAgent: data.userAgent, deviceName: data.deviceName });
      break;
    case 'api-key-created':
      mail = templates.apiKeyCreated(ctx, { when, keyName: data.keyName, keyPrefix: data.keyPrefix, ip: data.ip });
      break;
    case 'refresh-reuse':
      mail = templates.refreshReuse(ctx, { when, ip: data.ip, userAgent: data.userAgent });
      break;
    case 'password-changed':
      mail = templates.passwordChanged(ctx, { when, viaReset: data.viaReset, ip: data.ip });
      break;
    case 'email-change-confirm':
    case 'email-change-notice': {
      const r = user.emailChange.requests.find((x) => x.requestId === data.tokenId);
      if (!r) return 'skipped: no such request';
      const key = emailTokenKey(deps.config);
      if (data.kind === 'email-change-confirm') {
        // Only the newest pending request can be confirmed: no link for a superseded one.
        if (pendingEmailChange(user.emailChange) !== r) return 'skipped: request no longer pending';
        if (Date.parse(r.expiresAt) <= Date.now()) return 'skipped: request expired';
        to = r.email;
        mail = templates.emailChangeConfirm(ctx, { token: emailChangeToken(key, 'email-change-confirm', r.requestId, data.userId), expiresAt: r.expiresAt });
      } else {
        // Always sent while its link works, whatever happened since: the owner must hear of it.
        if (r.cancelUsed || Date.parse(r.cancelUntil) <= Date.now()) return 'skipped: cancel link spent or expired';
        to = r.previousEmail;
        mail = templates.emailChangeNotice(ctx, { token: emailChangeToken(key, 'email-change-cancel', r.requestId, data.userId), newEmail: r.email, when, ip: data.ip, cancelUntil: r.cancelUntil });
      }
      break;
    }
    case 'email-changed':
    case 'email-changed-new':
      to = data.to ?? '';
      mail = templates.emailChanged(ctx, { when, newEmail: data.newEmail ?? '', byAdmin: data.byAdmin, toNew: data.kind === 'email-changed-new' });
      break;
    case 'mfa-changed':
      mail = templates.mfaChanged(ctx, { when, change: data.mfaChange ?? 'added', factorKind: data.factorKind, factorName: data.factorName, remaining: data.remaining, ip: data.ip });
      break;
  }
  if (!to) return 'skipped: no address';
  const result = await deliverOnce(
    { redis: deps.redis, prefix: deps.prefix, mailer: deps.mailer, claimTtlMs: deps.config.WORKER_LOCK_DURATION_MS },
    `${data.kind}-${data.eventId}`,
    { to, ...mail },
  );
  return result;
}

/** The processor of the mail queues: dispatch on the job name. */
export function mailProcessor(deps: HandlerDeps) {
  return async (job: Job): Promise<string> => {
    switch (job.name) {
      case 'issue-verification':
        return issueVerification(deps, job.data as IssueVerificationJobData);
      case 'mail':
        return sendMail(deps, job.data as MailJobData);
      default:
        throw new Error(`unknown job ${job.name}`);
    }
  };
}
