/**
 * External identities (social sign-in, issue 13): an account at Google, Kakao, GitHub, Facebook,
 * Naver or an OpenID issuer, linked to a user. Three kinds of stream:
 * - `user-<id>`: `ExternalIdentityLinked` / `ExternalIdentityUnlinked` — which ways to sign in a
 *   user has is the user aggregate's business (the "last way to sign in" rule decides on it);
 * - `extid-<provider>:<subjectKey>`: `ExternalIdentityReserved` / `ExternalIdentityReleased` —
 *   (provider, subject) is unique on the write path, exactly like `email-<e-mail>` reservations;
 * - `providertokens-<identityId>`: `ProviderTokensStored` / `ProviderTokensRefreshed` — hot-ish
 *   (every refresh), so off the user stream. They carry **ciphertext only** (src/credentials/
 *   envelope.ts, `alc1.` format) under a data key kept outside the log: destroying that key
 *   (unlink, user deletion) shreds every token ever stored here.
 * Every event carries `userId` (the audit index and time travel rely on it).
 *
 * Registered in src/events/index.ts (`allEvents`).
 */
import { streams } from './streams';
import { z } from 'zod';
import { defineEvent } from './registry';
import { id, isoTime } from './common';

/** Provider ids: the built-in names and `oidc` / `oidc-<name>` for discovered issuers. */
export const providerId = z.string().regex(/^[a-z][a-z0-9-]{1,39}$/);
/** The provider's subject identifier (OIDC `sub`, GitHub/Kakao numeric id as a string…). */
export const subject = z.string().min(1).max(255);
/** An `alc1.` envelope ciphertext (never plaintext). */
export const envelopeCiphertext = z.string().regex(/^alc1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/).max(200_000);

export const ExternalIdentityLinked = defineEvent(
  'ExternalIdentityLinked',
  z.object({
    userId: id,
    identityId: id,
    provider: providerId,
    subject,
    /** The e-mail the provider gave at link time, and whether its trust rule accepted it. */
    email: z.string().max(320).optional(),
    emailVerified: z.boolean(),
    /** `signup`: the account was created by this sign-in; `verified_email`: linked automatically on a trusted e-mail; `explicit`: the signed-in user linked it. */
    via: z.enum(['signup', 'verified_email', 'explicit']),
    at: isoTime,
  }),
);
export const ExternalIdentityUnlinked = defineEvent(
  'ExternalIdentityUnlinked',
  z.object({
    userId: id,
    identityId: id,
    provider: providerId,
    subject,
    reason: z.enum(['user', 'admin', 'user_deleted']),
    at: isoTime,
  }),
);
export const ExternalIdentityReserved = defineEvent(
  'ExternalIdentityReserved',
  z.object({ userId: id, identityId: id, provider: providerId, subject }),
);
export const ExternalIdentityReleased = defineEvent(
  'ExternalIdentityReleased',
  z.object({ userId: id, identityId: id, provider: providerId, subject }),
);

const tokenFacts = {
  userId: id,
  identityId: id,
  provider: providerId,
  /** Envelope ciphertext of `{access_token, refresh_token?, id_token?, token_type}`. */
  ciphertext: envelopeCiphertext,
  /** The data key the ciphertext was made with (also readable from the ciphertext itself). */
  dataKeyId: z.string().min(1).max(64),
  /** When the access token expires, when the provider said so. Not secret. */
  accessTokenExpiresAt: isoTime.optional(),
  hasRefreshToken: z.boolean(),
  scope: z.string().max(2000).optional(),
  at: isoTime,
};
export const ProviderTokensStored = defineEvent('ProviderTokensStored', z.object(tokenFacts));
export const ProviderTokensRefreshed = defineEvent(
  'ProviderTokensRefreshed',
  z.object({
    ...tokenFacts,
    /** The provider sent no new refresh token (Kakao, Google): the previous one was kept inside the new ciphertext. */
    refreshTokenKept: z.boolean(),
  }),
);

export const externalIdentityEvents = [
  ExternalIdentityLinked, ExternalIdentityUnlinked, ExternalIdentityReserved, ExternalIdentityReleased,
  ProviderTokensStored, ProviderTokensRefreshed,
];

type Ev<D extends { type: string; schema: z.ZodType }> = { type: D['type']; data: z.infer<D['schema']> };
export type ExternalIdentityEvent =
  | Ev<typeof ExternalIdentityLinked> | Ev<typeof ExternalIdentityUnlinked>
  | Ev<typeof ExternalIdentityReserved> | Ev<typeof ExternalIdentityReleased>
  | Ev<typeof ProviderTokensStored> | Ev<typeof ProviderTokensRefreshed>;

/** Stream names live in src/events/streams.ts; re-exported for the oauth modules. */
export { subjectKey } from './streams';
export const externalIdentityStreams = {
  externalIdentity: streams.externalIdentity,
  providerTokens: streams.providerTokens,
} as const;
