/**
 * Social sign-in command handlers, through the one runner. Rules enforced here:
 * - the decision (decide.ts) is made on one state folded from every stream it reads: the
 *   identity's `extid-` reservation, the candidate user's stream and the e-mail's reservation;
 * - multi-stream appends go reservations first — `EmailReserved`, then `ExternalIdentityReserved`
 *   (expected revision of the extid stream), then the user stream — and when a later append fails
 *   the reservations taken are released before the error answers (nothing half-written stays held);
 * - provider tokens are stored encrypted (envelope.ts) under the (user, identity) data key, on
 *   `providertokens-<identityId>`, at every sign-in; plaintext never reaches an event.
 */
import { randomUUID } from 'node:crypto';
import type { EventMetadata, EventStore } from '../../events/store';
import { streams } from '../../events/streams';
import { normaliseEmail } from '../../events/user';
import { encryptJson, decryptJson, identityKeyScope, providerTokensContext } from '../../credentials/envelope';
import { NO_STREAM, runCommand, type CommandDeps, type Decider, type StreamRevision } from '../decider';
import { findUserIdByEmail, releaseEmail, reserveEmail } from '../users/email';
import { initialOAuthState, oauthDecider, streamOf, type OAuthAccountState, type OAuthCommand, type OAuthEvent } from './decide';
import type { DataKeyStore } from './data-keys';
import type { ProviderTokens } from './client';
import type { ProviderProfile } from './providers';
import { oauthError } from '../../errors';

export interface OAuthDeps extends CommandDeps {
  dataKeys: DataKeyStore;
}

interface Folded {
  state: OAuthAccountState;
  userRevision: StreamRevision;
  extidRevision: StreamRevision;
}

async function fold(store: EventStore, state: OAuthAccountState, stream: string): Promise<{ state: OAuthAccountState; revision: StreamRevision }> {
  const events = await store.readStream(stream);
  return { state: events.reduce((s, e) => oauthDecider.evolve(s, e as unknown as OAuthEvent), state), revision: events.at(-1)?.revision ?? NO_STREAM };
}

/** The state a decision about `profile` (or about `userId`'s identities) is made on. */
export async function loadAccount(store: EventStore, input: { profile?: ProviderProfile; userId?: string }): Promise<Folded> {
  let state = initialOAuthState();
  let extidRevision: StreamRevision = NO_STREAM;
  if (input.profile) ({ state, revision: extidRevision } = await fold(store, state, streams.externalIdentity(input.profile.provider, input.profile.subject)));
  let userId = input.userId ?? state.reservation?.userId;
  if (!userId && input.profile?.email) {
    const owner = await findUserIdByEmail(store, normaliseEmail(input.profile.email));
    if (owner) {
      state = { ...state, emailOwner: owner };
      userId = owner;
    }
  } else if (userId && input.profile?.email) {
    const owner = await findUserIdByEmail(store, normaliseEmail(input.profile.email));
    if (owner) state = { ...state, emailOwner: owner };
  }
  let userRevision: StreamRevision = NO_STREAM;
  if (userId) ({ state, revision: userRevision } = await fold(store, state, streams.user(userId)));
  return { state, userRevision, extidRevision };
}

/** A decider that appends exactly the events already decided (the runner still does the append, the revision check and the inline step). */
const decided = (events: OAuthEvent[]): Decider<null, null, OAuthEvent> => ({ initialState: () => null, evolve: (s) => s, decide: () => events });

async function appendDecided(deps: CommandDeps, stream: string, events: OAuthEvent[], revision: StreamRevision, metadata: EventMetadata) {
  if (!events.length) return;
  await runCommand(deps, { stream, decider: decided(events), command: null, metadata, expectedRevision: revision, load: async () => ({ state: null, revision }) });
}

/** Appends a decision across its streams in the safe order, releasing reservations when a later append fails. */
async function appendAcrossStreams(deps: CommandDeps, folded: Folded, events: OAuthEvent[], metadata: EventMetadata): Promise<void> {
  const email = events.filter((e) => streamOf(e) === 'emailReservation');
  const extid = events.filter((e) => streamOf(e) === 'externalIdentity');
  const user = events.filter((e) => streamOf(e) === 'user');
  const undo: (() => Promise<void>)[] = [];
  try {
    for (const e of email) {
      const d = e.data as { email: string; userId: string };
      if (e.type === 'EmailReserved') {
        await reserveEmail(deps, d.email, d.userId, metadata);
        undo.push(() => releaseEmail(deps, d.email, d.userId, metadata));
      }
    }
    if (extid.length) {
      const d = extid[0]!.data as { provider: string; subject: string };
      await appendDecided(deps, streams.externalIdentity(d.provider, d.subject), extid, folded.extidRevision, metadata);
      const reserved = extid.find((e) => e.type === 'ExternalIdentityReserved');
      if (reserved) {
        const r = reserved.data as { userId: string; identityId: string; provider: string; subject: string };
        undo.push(async () => {
          const loaded = await fold(deps.store, initialOAuthState(), streams.externalIdentity(r.provider, r.subject));
          await appendDecided(deps, streams.externalIdentity(r.provider, r.subject), [{ type: 'ExternalIdentityReleased', data: r }], loaded.revision, metadata);
        });
      }
    }
    if (user.length) {
      const userId = (user[0]!.data as { userId: string }).userId;
      await appendDecided(deps, streams.user(userId), user, folded.userRevision, metadata);
    }
  } catch (err) {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw err;
  }
}

/** Unlink events go user stream first (the user loses the way in), then the release. */
async function appendUnlink(deps: CommandDeps, folded: Folded, events: OAuthEvent[], metadata: EventMetadata) {
  const user = events.filter((e) => streamOf(e) === 'user');
  if (user.length) await appendDecided(deps, streams.user((user[0]!.data as { userId: string }).userId), user, folded.userRevision, metadata);
  for (const e of events.filter((x) => streamOf(x) === 'externalIdentity')) {
    const d = e.data as { provider: string; subject: string };
    const s = streams.externalIdentity(d.provider, d.subject);
    const loaded = await fold(deps.store, initialOAuthState(), s);
    await appendDecided(deps, s, [e], loaded.revision, metadata);
  }
}

export interface SignedIn {
  userId: string;
  identityId: string;
  created: boolean;
}

/** Sign-in (or link, with `linkUserId`) with a provider profile; stores its tokens. */
export async function signInWithProvider(
  deps: OAuthDeps,
  input: { profile: ProviderProfile; tokens: ProviderTokens; linkUserId?: string },
  metadata: EventMetadata,
): Promise<SignedIn> {
  for (let attempt = 1; ; attempt++) {
    const folded = await loadAccount(deps.store, { profile: input.profile, userId: input.linkUserId });
    const now = new Date().toISOString();
    const command: OAuthCommand = input.linkUserId
      ? { type: 'LinkIdentity', profile: input.profile, now, newIdentityId: randomUUID() }
      : { type: 'SignInWithProvider', profile: input.profile, now, newUserId: randomUUID(), newIdentityId: randomUUID() };
    const events = oauthDecider.decide(command, folded.state);
    try {
      await appendAcrossStreams(deps, folded, events, metadata);
    } catch (err) {
      // A concurrent sign-in of the same identity: decide again once.
      if (attempt < 2 && (err as { name?: string }).name === 'WrongExpectedVersionError') continue;
      throw err;
    }
    const linked = events.find((e) => e.type === 'ExternalIdentityLinked')?.data as { userId: string; identityId: string } | undefined;
    const userId = linked?.userId ?? folded.state.reservation!.userId;
    const identityId = linked?.identityId ?? folded.state.reservation!.identityId;
    await storeTokens(deps, { userId, identityId, subject: input.profile.subject, tokens: input.tokens }, metadata);
    return { userId, identityId, created: events.some((e) => e.type === 'UserRegistered') };
  }
}

/** Encrypts and appends provider tokens (fresh at every sign-in, or a refresh). */
export async function storeTokens(
  deps: OAuthDeps,
  input: { userId: string; identityId: string; subject: string; tokens: ProviderTokens; refresh?: { refreshTokenKept: boolean } },
  metadata: EventMetadata,
): Promise<void> {
  const { state } = await loadAccount(deps.store, { userId: input.userId });
  const key = await deps.dataKeys.ensure(input.userId, identityKeyScope(input.identityId));
  const ciphertext = encryptJson(key, input.tokens, providerTokensContext(input.userId, input.identityId));
  const stream = streams.providerTokens(input.identityId);
  const [last] = await deps.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  const events = oauthDecider.decide({
    type: 'StoreProviderTokens', identityId: input.identityId, subject: input.subject, ciphertext, dataKeyId: key.id,
    accessTokenExpiresAt: input.tokens.expiresAt ? new Date(input.tokens.expiresAt).toISOString() : undefined,
    hasRefreshToken: !!input.tokens.refreshToken, scope: input.tokens.scope, refresh: input.refresh, now: new Date().toISOString(),
  }, state);
  await appendDecided(deps, stream, events, last ? last.revision : NO_STREAM, metadata);
}

/** The last stored tokens of an identity, decrypted (undefined when shredded or never stored). */
export async function loadTokens(deps: OAuthDeps, userId: string, identityId: string): Promise<ProviderTokens | undefined> {
  const [last] = await deps.store.readStream(streams.providerTokens(identityId), { direction: 'backwards', maxCount: 1 });
  if (!last) return undefined;
  const d = last.data as { ciphertext: string; dataKeyId: string; userId: string };
  if (d.userId !== userId) return undefined;
  const key = await deps.dataKeys.load(d.dataKeyId, userId);
  return key ? decryptJson<ProviderTokens>(key, d.ciphertext, providerTokensContext(userId, identityId)) : undefined;
}

/** Unlinks one identity (refused when it is the last way in), then shreds its data key. */
export async function unlinkIdentity(deps: OAuthDeps, userId: string, identityId: string, metadata: EventMetadata): Promise<void> {
  const folded = await loadAccount(deps.store, { userId });
  const events = oauthDecider.decide({ type: 'UnlinkIdentity', identityId, reason: 'user', now: new Date().toISOString() }, folded.state);
  await appendUnlink(deps, folded, events, metadata);
  await deps.dataKeys.shredScope(userId, identityKeyScope(identityId));
}

/** At user deletion: unlink every identity and shred every data key of the user. */
export async function unlinkAllForDeletion(deps: CommandDeps & { dataKeys: Pick<DataKeyStore, 'shredUser'> }, userId: string, metadata: EventMetadata): Promise<void> {
  const folded = await loadAccount(deps.store, { userId });
  const events = oauthDecider.decide({ type: 'UnlinkAllForDeletion', now: new Date().toISOString() }, folded.state);
  await appendUnlink(deps, folded, events, metadata);
  await deps.dataKeys.shredUser(userId);
}

export { oauthError };
