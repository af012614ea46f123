/**
 * The first admin (issue 20 §1): from ADMIN_EMAIL / ADMIN_PASSWORD at start (a startup task), or
 * from `npm run cli -- create-admin`; promoting an existing account is `grant-admin` (cli.ts).
 * Rules enforced here:
 * - there are never default credentials: without both settings nothing is created;
 * - the start task acts only when **no active admin exists**: then it creates the account with
 *   source `bootstrap` (password checked by the policy) and grants it admin; an account with that
 *   address that the start task did not create (any other source) is never promoted, whoever holds
 *   the address now (it may have been freed and taken by anyone);
 * - an account the start task did create (source `bootstrap`) regains admin when no admin exists
 *   (e.g. a start that created it and stopped before the grant);
 * - the start task never fails because of the state of that address (taken by another account,
 *   reserved by a half-finished signup, disabled): it logs what it found and goes on; only a
 *   configuration error (ADMIN_PASSWORD refused by the policy, checked at every start) stops it;
 * - two processes starting together create one account (the e-mail reservation decides).
 */
import type { Services } from '../../services';
import { errors } from '../../errors';
import { normaliseEmail } from '../../events/user';
import type { EventMetadata } from '../../events/store';
import { findUserIdByEmail, signup } from '../identity/service';
import { checkPasswordPolicy } from '../identity/passwords';
import { activeAdminIds } from './admins';
import { loadUser as loadUserStream } from './stream';
import { grantRole, loadUser } from './handlers';

export type FirstAdminOutcome =
  /** An active admin exists: nothing done. */
  | 'admin_exists'
  /** Created with source `bootstrap` and made admin. */
  | 'created'
  /** The start task's own account (source `bootstrap`) made admin again. */
  | 'granted'
  /** The address belongs to an account the start task did not create: not promoted. */
  | 'address_taken'
  /** The address is reserved without a registered account (a half-finished signup): nothing created. */
  | 'address_reserved'
  /** The start task's own account is disabled: not re-enabled (an admin disabled it). */
  | 'disabled';

export interface FirstAdminResult {
  outcome: FirstAdminOutcome;
  userId?: string;
}

export async function ensureFirstAdmin(services: Services, input: { email: string; password: string; name?: string }, metadata: EventMetadata = { actorUserId: 'system' }): Promise<FirstAdminResult> {
  const normalised = normaliseEmail(input.email);
  for (let attempt = 0; attempt < 3; attempt++) {
    if ((await activeAdminIds(services.store)).length) return { outcome: 'admin_exists' };
    const existing = await findUserIdByEmail(services.store, normalised);
    if (existing) {
      const { state } = await loadUserStream(services.store, existing);
      if (!state.exists || state.deleted) return { outcome: 'address_reserved', userId: existing };
      if (state.source !== 'bootstrap') return { outcome: 'address_taken', userId: existing };
      if (state.disabled) return { outcome: 'disabled', userId: existing };
      await grantRole(services, existing, 'admin', metadata);
      return { outcome: 'granted', userId: existing };
    }
    try {
      const user = await signup(services, { email: input.email, password: input.password, name: input.name ?? 'Administrator', source: 'bootstrap' }, metadata);
      await grantRole(services, user.id, 'admin', metadata);
      return { outcome: 'created', userId: user.id };
    } catch (err) {
      if ((err as { code?: string }).code !== 'email_taken') throw err;
    }
  }
  throw errors.conflict('Could not create the admin account; retry.', 'admin_bootstrap_conflict');
}

export interface EnsureAdminResult {
  userId: string;
  created: boolean;
  /** Whether the account already was an admin. */
  admin: boolean;
  disabled: boolean;
}

/**
 * `create-admin`: creates a new admin account; an existing account is left as it is (promoting one
 * is the explicit `grant-admin`), and the result says whether it is an admin.
 */
export async function ensureAdmin(services: Services, input: { email: string; password: string; name?: string }, metadata: EventMetadata): Promise<EnsureAdminResult> {
  const normalised = normaliseEmail(input.email);
  const existing = await findUserIdByEmail(services.store, normalised);
  if (existing) {
    const { state } = await loadUser(services, existing);
    return { userId: existing, created: false, admin: state.roles.includes('admin'), disabled: state.disabled };
  }
  const user = await signup(services, { email: input.email, password: input.password, name: input.name ?? 'Administrator', source: 'bootstrap' }, metadata);
  await grantRole(services, user.id, 'admin', metadata);
  return { userId: user.id, created: true, admin: true, disabled: false };
}

/**
 * `grant-admin <email>`: the explicit, audited promotion of an existing account (RoleGranted with
 * the operator as the actor in its metadata). Returns whether the role was granted now.
 */
export async function grantAdminByEmail(services: Services, email: string, operator: string): Promise<{ userId: string; granted: boolean; disabled: boolean }> {
  const userId = await findUserIdByEmail(services.store, normaliseEmail(email));
  if (!userId) throw errors.notFound(`No account with the e-mail ${email}.`, 'user_not_found');
  const { state, revision } = await loadUser(services, userId);
  const after = await grantRole(services, userId, 'admin', { actorUserId: `operator:${operator}` });
  return { userId, granted: after.revision !== revision, disabled: state.disabled };
}

/** Startup task: the first admin, only when there is none. Never fails because of the address's state. */
export async function bootstrapAdminFromConfig(services: Services): Promise<void> {
  const { ADMIN_EMAIL, ADMIN_PASSWORD } = services.config;
  if (!ADMIN_EMAIL && !ADMIN_PASSWORD) return;
  if (!ADMIN_EMAIL || !ADMIN_PASSWORD) {
    services.log.warn('ADMIN_EMAIL and ADMIN_PASSWORD must be set together; no admin bootstrapped.');
    return;
  }
  try {
    // A configuration error, whatever the state: refused at every start, not only the first.
    await checkPasswordPolicy(services.config, ADMIN_PASSWORD, [normaliseEmail(ADMIN_EMAIL), 'Administrator']);
  } catch (err) {
    if ((err as { code?: string }).code === 'weak_password') throw new Error(`ADMIN_PASSWORD does not pass the password policy: ${(err as Error).message}`);
    throw err;
  }
  let r: FirstAdminResult;
  try {
    r = await ensureFirstAdmin(services, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  } catch (err) {
    services.log.error({ err: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code }, 'first admin from ADMIN_EMAIL: not created (start goes on); fix the cause or run `npm run cli -- create-admin`');
    return;
  }
  const { outcome, userId } = r;
  switch (outcome) {
    case 'admin_exists':
      services.log.debug('an active admin exists; ADMIN_EMAIL / ADMIN_PASSWORD are not used');
      return;
    case 'created':
    case 'granted':
      services.log.info({ userId, outcome }, 'first admin ensured from ADMIN_EMAIL');
      return;
    case 'address_taken':
      services.log.warn({ userId }, 'no active admin, and ADMIN_EMAIL belongs to an account the start task did not create: it is NOT promoted. Promote it explicitly with `npm run cli -- grant-admin <email>` if it is yours, or set another ADMIN_EMAIL.');
      return;
    case 'address_reserved':
      services.log.warn({ userId }, 'no active admin, and ADMIN_EMAIL is reserved by an unfinished registration: no admin created. Set another ADMIN_EMAIL or run `npm run cli -- create-admin`.');
      return;
    case 'disabled':
      services.log.warn({ userId }, 'no active admin, and the ADMIN_EMAIL account (created by the start task) is disabled: it is not re-enabled automatically; use `npm run cli -- grant-admin` after enabling it, or another ADMIN_EMAIL.');
      return;
  }
}
