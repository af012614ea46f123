/**
 * User administration command handlers. Rules enforced here:
 * - every change is decided on the user's stream and appended at the revision it was decided on;
 *   a PATCH with `If-Match: <revision>` is decided only on that revision (else 412);
 * - the identity Redis profile is updated inline (read-your-writes for /me and the users list);
 * - disabling or deleting a user ends all its sessions (its access tokens stop on the next
 *   request, on every process) and revokes all its API keys, at once (ASVS 7.4.2);
 * - revoking the admin role ends the user's sessions too: roles live in access tokens, and a
 *   demoted admin must not keep admin tokens until they expire;
 * - deleting, disabling or demoting an active admin is decided under the admin-removal lock with
 *   the count of the other active admins (admins.ts): never the last one, never oneself;
 * - an admin's e-mail change moves the uniqueness reservation (new one first; released if the change
 *   fails); the owner's own change is a pending request (src/commands/email/change.ts).
 */
import { requireStepUp } from '../mfa/step-up';
import type { Services } from '../../services';
import { domainError, errors } from '../../errors';
import type { Role } from '../../events/common';
import { WrongExpectedVersionError, type EventMetadata } from '../../events/store';
import { normaliseEmail, type UserEvent, type UserState } from '../../events/user';
import { revokeAllApiKeysOfUser } from '../api-keys/handlers';
import { loadSession, signup } from '../identity/service';
import { verifyPassword } from '../identity/passwords';
import { NO_STREAM } from '../decider';
import type { UserCommand } from './decide';
import { releaseEmail, reserveEmail } from './email';
import { loadUser as loadUserStream, runUserCommand as runOnUserStream } from './stream';
import { endAllSessionsOfUser, type Gate } from './sessions';
import { unlinkAllForDeletion } from '../oauth/handlers';
import { shredUserDataKeys } from '../oauth/data-keys';
import { guardAdminRemoval } from './admins';
import { emailChangeRequest } from '../email/change';
import { deleteAllFilesOfUser } from '../files/handlers';
import { blobStoreFor } from '../../infra/blobs/store';

export interface UserResult {
  state: UserState;
  revision: bigint;
}

const revisionOf = (r: bigint | typeof NO_STREAM): bigint => (r === NO_STREAM ? -1n : r);

export async function runUserCommand(services: Services, userId: string, command: UserCommand, metadata: EventMetadata): Promise<UserResult & { appended: UserEvent[] }> {
  const result = await runOnUserStream(services, userId, command, metadata, { attempts: 3 });
  return { state: result.state, revision: revisionOf(result.nextExpectedRevision), appended: result.appended };
}

/** The user (404 when missing or deleted) and its stream revision (the ETag). */
export async function loadUser(services: Services, userId: string): Promise<UserResult> {
  const { state, revision } = await loadUserStream(services.store, userId);
  if (!state.exists || state.deleted) throw errors.notFound('No such user.', 'user_not_found');
  return { state, revision: revisionOf(revision) };
}

/** Ends every session and revokes every API key of the user. */
export async function killAllAccess(services: Services, userId: string, reason: 'user_disabled' | 'user_deleted' | 'admin', metadata: EventMetadata, gate?: Gate): Promise<void> {
  await endAllSessionsOfUser(services, userId, reason, metadata, gate);
  await revokeAllApiKeysOfUser(services, userId, reason, metadata);
}

export interface NewUser {
  email: string;
  name: string;
  password: string;
  source: 'admin' | 'bootstrap';
  roles?: Role[];
}

/** Creates a user (admin or bootstrap) through identity's signup (policy, reservation), then grants roles. */
export async function createUser(services: Services, input: NewUser, metadata: EventMetadata): Promise<UserResult> {
  const user = await signup(services, { email: input.email, password: input.password, name: input.name, source: input.source }, metadata);
  for (const role of input.roles ?? []) {
    if (role !== 'user') await runUserCommand(services, user.id, { type: 'GrantRole', role }, metadata);
  }
  return loadUser(services, user.id);
}

/**
 * Re-authentication for a change of one's own e-mail (issue 20 §2): the current password, or a
 * session whose last authentication (its SessionStarted, not the access token's issue time: a
 * refresh does not authenticate anyone) is at most REAUTH_MAX_AGE_SECONDS old.
 */
export interface Reauth {
  sessionId: string;
  currentPassword?: string;
}

export async function checkReauth(services: Services, state: UserState, reauth: Reauth, now = new Date()): Promise<void> {
  if (reauth.currentPassword !== undefined) {
    if (!(await verifyPassword(services.config, reauth.currentPassword, state.passwordHash))) {
      throw errors.forbidden('The current password is incorrect.', 'wrong_password');
    }
    return;
  }
  const { state: session } = await loadSession(services.store, reauth.sessionId);
  const authenticatedAt = Date.parse(session.startedAt);
  if (session.status !== 'active' || session.userId !== state.userId || !(now.getTime() - authenticatedAt <= services.config.REAUTH_MAX_AGE_SECONDS * 1000)) {
    throw domainError('reauth_required', 'Confirm with your current password (current_password), or log in again, to change this.');
  }
}

/**
 * PATCH: name and/or e-mail, optionally only on revision `ifMatch` (412 otherwise). With `reauth`
 * (the owner editing itself), an e-mail change needs a re-authentication; an admin editing someone
 * else passes none (the event carries the admin as actor).
 */
export async function updateUserProfile(
  services: Services, userId: string, changes: { name?: string; email?: string }, ifMatch: bigint | undefined, metadata: EventMetadata, reauth?: Reauth,
): Promise<UserResult> {
  const { state, revision } = await loadUser(services, userId);
  if (ifMatch !== undefined && ifMatch !== revision) throw errors.preconditionFailed();
  const email = changes.email?.trim();
  const emailChanges = email !== undefined && normaliseEmail(email) !== normaliseEmail(state.email);
  if (emailChanges && reauth) {
    await checkReauth(services, state, reauth);
    await requireStepUp(services, { userId, sessionId: reauth.sessionId }); // issue 17
  }
  // The owner's own change is only requested: pending until the new address confirms it (issue 20 §2).
  const pending = emailChanges && reauth !== undefined;
  const command: UserCommand = pending
    ? await emailChangeRequest(services, state, email!, changes.name)
    : { type: 'UpdateProfile', name: changes.name, email: email !== undefined && (emailChanges || email !== state.email) ? email : undefined };
  const moves = emailChanges && !pending;
  if (moves) await reserveEmail(services, email!, userId, metadata);
  let result;
  try {
    // Decided on the revision just read (the If-Match one, when given): a concurrent change is a 409/412.
    result = await runOnUserStream(services, userId, command, metadata, { expectedRevision: revision });
  } catch (err) {
    if (moves) await releaseEmail(services, email!, userId, metadata).catch(() => undefined);
    if (err instanceof WrongExpectedVersionError) {
      if (ifMatch !== undefined) throw errors.preconditionFailed();
      throw errors.conflict('The user was changed concurrently; retry.', 'concurrent_modification');
    }
    throw err;
  }
  if (!result.appended.length) {
    if (moves) await releaseEmail(services, email!, userId, metadata).catch(() => undefined);
    return { state, revision };
  }
  if (moves) await releaseEmail(services, state.email, userId, metadata);
  return { state: result.state, revision: revisionOf(result.nextExpectedRevision) };
}

export async function disableUser(services: Services, userId: string, reason: string | undefined, metadata: EventMetadata, gate?: Gate): Promise<UserResult> {
  const r = await guardAdminRemoval(services, userId, (otherActiveAdmins) =>
    runUserCommand(services, userId, { type: 'DisableUser', reason, actorUserId: metadata.actorUserId, otherActiveAdmins }, metadata));
  // Also when already disabled: a retry after a partial failure finishes the job.
  await killAllAccess(services, userId, 'user_disabled', metadata, gate);
  return r;
}

export async function enableUser(services: Services, userId: string, metadata: EventMetadata): Promise<UserResult> {
  return runUserCommand(services, userId, { type: 'EnableUser' }, metadata);
}

export async function deleteUser(services: Services, userId: string, metadata: EventMetadata, gate?: Gate): Promise<void> {
  const { state } = await guardAdminRemoval(services, userId, (otherActiveAdmins) =>
    runUserCommand(services, userId, { type: 'DeleteUser', actorUserId: metadata.actorUserId, otherActiveAdmins }, metadata));
  await killAllAccess(services, userId, 'user_deleted', metadata, gate);
  // Crypto-shredding (issue 13): linked identities are unlinked and every data key of the user is
  // destroyed, so the provider tokens in the log (ciphertext only) can never be read again.
  await unlinkAllForDeletion({ ...services, dataKeys: { shredUser: (u) => shredUserDataKeys(services.pool, u) } }, userId, metadata);
  // Issue 15: the user's files go too (FileDeleted each, blobs removed; the sweeper is the backstop).
  await deleteAllFilesOfUser(services, blobStoreFor(services.config), userId, metadata);
  await releaseEmail(services, state.email, userId, metadata);
}

export async function grantRole(services: Services, userId: string, role: Role, metadata: EventMetadata): Promise<UserResult> {
  return runUserCommand(services, userId, { type: 'GrantRole', role }, metadata);
}

export async function revokeRole(services: Services, userId: string, role: Role, metadata: EventMetadata, gate?: Gate): Promise<UserResult> {
  const r = role === 'admin'
    ? await guardAdminRemoval(services, userId, (otherActiveAdmins) =>
      runUserCommand(services, userId, { type: 'RevokeRole', role, actorUserId: metadata.actorUserId, otherActiveAdmins }, metadata))
    : await runUserCommand(services, userId, { type: 'RevokeRole', role }, metadata);
  if (r.appended.length) await endAllSessionsOfUser(services, userId, 'admin', metadata, gate);
  return r;
}
