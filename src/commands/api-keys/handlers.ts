/**
 * API key command handlers: issue, revoke, revoke all of a user. Rules enforced here:
 * - the key is returned once and never stored, logged or evented (events carry its SHA-256 and
 *   its public prefix only);
 * - a key may only name features that exist (or `*`), and only an enabled, existing user gets one;
 * - the access state is applied inline (by the command runner), so a new key works (and a revoked
 *   key stops) at once on every API process.
 */
import type { Services } from '../../services';
import { errors } from '../../errors';
import { evolveFeature, initialFeatureState } from '../../events/feature';
import { streams } from '../../events/streams';
import { readStreams, type EventMetadata } from '../../events/store';
import { generateApiKey } from '../../credentials/api-key-format';
import { keyIdsOfUser } from '../../projections/access-state';
import { foldStream, runCommand } from '../decider';
import { userDecider } from '../users/decide';
import { mfaDecider } from '../mfa/decide';
import { requireStepUp } from '../mfa/step-up';
import { apiKeyDecider } from './decide';

/** The named features that are not registered (`*` and scopes are not features: names with ':' never are, src/http/token-clients.ts). */
function featureStreams(features: '*' | string[]): string[] {
  return features === '*' ? [] : [...new Set(features)].filter((f) => !f.includes(':'));
}

export interface IssueApiKeyInput {
  userId: string;
  name: string;
  features: '*' | string[];
  expiresInDays?: number;
  /** The caller, when this key needs its step-up (issue 17: a key for every feature). */
  stepUp?: { userId: string; sessionId: string };
}

/**
 * Issues a key for `userId`; returns the one-time key and its public description. Its
 * preconditions (the caller's step-up, the owner, the named features) are read in one read of
 * their streams and checked in that order; the new key's own stream is not read (a fresh id:
 * the append's NO_STREAM check stands in, see `assumeNew` in ../decider.ts).
 */
export async function issueApiKey(services: Services, input: IssueApiKeyInput, metadata: EventMetadata, now = new Date()) {
  const features = featureStreams(input.features);
  const names = [streams.user(input.userId), ...features.map((f) => streams.feature(f)), ...(input.stepUp ? [streams.mfa(input.stepUp.userId)] : [])];
  const read = await readStreams(services.store, names);
  if (input.stepUp) await requireStepUp(services, input.stepUp, now, foldStream(read.at(-1)!, mfaDecider));
  const owner = foldStream(read[0]!, userDecider);
  if (!owner.state.exists || owner.state.deleted) throw errors.notFound('No such user.', 'user_not_found');
  if (owner.state.disabled) throw errors.forbidden('This account is disabled.', 'account_disabled');
  const missing = features.filter((_, i) => foldStream(read[1 + i]!, { initialState: initialFeatureState, evolve: evolveFeature }).state.status !== 'active');
  if (missing.length) {
    throw errors.validation(missing.map((m) => ({ field: 'features', message: `unknown feature: ${m}` })), 'A named feature does not exist.');
  }
  const gen = generateApiKey();
  const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000).toISOString() : null;
  const result = await runCommand(services, { stream: streams.apiKey(gen.keyId), decider: apiKeyDecider, metadata, assumeNew: true, command: {
    type: 'IssueApiKey', keyId: gen.keyId, userId: input.userId, name: input.name, prefix: gen.prefix, secretHash: gen.secretHash,
    features: input.features, expiresAt,
  } });
  return {
    id: gen.keyId, name: input.name, prefix: gen.prefix, features: result.state.features!, created_at: now.toISOString(), expires_at: expiresAt, api_key: gen.key,
  };
}

export async function revokeApiKey(services: Services, keyId: string, actor: { userId: string; isAdmin: boolean }, metadata: EventMetadata, reason?: string): Promise<void> {
  await runCommand(services, { stream: streams.apiKey(keyId), decider: apiKeyDecider, metadata, command: {
    type: 'RevokeApiKey', actorUserId: actor.userId, actorIsAdmin: actor.isAdmin, reason,
  } });
}

/**
 * Revokes every active key of a user at once (user disabled or deleted). Keys are found through
 * the access state's per-user index, so no read model lag is involved. Returns how many were revoked.
 */
export async function revokeAllApiKeysOfUser(services: Services, userId: string, reason: string, metadata: EventMetadata): Promise<number> {
  const ids = await keyIdsOfUser(services.redis, services.prefix, userId);
  let revoked = 0;
  for (const keyId of ids) {
    const result = await runCommand(services, { stream: streams.apiKey(keyId), decider: apiKeyDecider, metadata, command: {
      type: 'RevokeApiKey', actorUserId: userId, actorIsAdmin: true, reason,
    } }).catch((err: { code?: string }) => {
      if (err.code === 'api_key_not_found') return undefined;
      throw err;
    });
    if (result?.appended.length) revoked++;
  }
  return revoked;
}

/**
 * Appends ApiKeyExpired for active keys whose expiry has passed (for a cleanup job; the access
 * check already refuses them by their expiry time, so this only makes it visible in the log and
 * read models). The read model only nominates candidates; each is decided on its own stream.
 */
export async function expireDueApiKeys(services: Pick<Services, 'config' | 'pool' | 'store' | 'redis' | 'prefix' | 'inline'>, now = new Date(), limit = 1000): Promise<number> {
  const { rows } = await services.pool.query<{ key_id: string }>(
    `SELECT key_id FROM api_keys WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
    [now, limit],
  );
  let expired = 0;
  for (const { key_id } of rows) {
    const result = await runCommand(services, { stream: streams.apiKey(key_id), decider: apiKeyDecider, metadata: { actorUserId: 'system' }, command: { type: 'ExpireApiKey', now } });
    if (result.appended.length) expired++;
  }
  return expired;
}
