/**
 * The first admin: from ADMIN_EMAIL / ADMIN_PASSWORD at start (a startup task) or from
 * `npm run cli -- create-admin`. Rules enforced here:
 * - there are never default credentials: without both settings nothing is created;
 * - idempotent: an existing account with that e-mail is made admin (its password is left alone);
 *   a new one is created with source `bootstrap`, its password checked by the password policy;
 * - two processes starting together create one account (the e-mail reservation decides; the
 *   loser finds the winner's account and grants the role, which is idempotent).
 */
import type { Services } from '../../services';
import { errors } from '../../errors';
import { normaliseEmail } from '../../events/user';
import type { EventMetadata } from '../../events/store';
import { findUserIdByEmail, signup } from '../identity/service';
import { grantRole, loadUser } from './handlers';

export interface EnsureAdminResult {
  userId: string;
  created: boolean;
  granted: boolean;
  /** The account exists but is disabled: bootstrap does not re-enable it (another admin disabled it). */
  disabled: boolean;
}

export async function ensureAdmin(services: Services, input: { email: string; password: string; name?: string }, metadata: EventMetadata = { actorUserId: 'system' }): Promise<EnsureAdminResult> {
  const normalised = normaliseEmail(input.email);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await findUserIdByEmail(services.store, normalised);
    if (existing) {
      const { state } = await loadUser(services, existing);
      const had = state.roles.includes('admin');
      if (!had) await grantRole(services, existing, 'admin', metadata);
      return { userId: existing, created: false, granted: !had, disabled: state.disabled };
    }
    try {
      const user = await signup(services, { email: input.email, password: input.password, name: input.name ?? 'Administrator', source: 'bootstrap' }, metadata);
      await grantRole(services, user.id, 'admin', metadata);
      return { userId: user.id, created: true, granted: true, disabled: false };
    } catch (err) {
      if ((err as { code?: string }).code !== 'email_taken') throw err;
    }
  }
  throw errors.conflict('Could not create the admin account; retry.', 'admin_bootstrap_conflict');
}

/** Startup task: ensure the configured admin exists. */
export async function bootstrapAdminFromConfig(services: Services): Promise<void> {
  const { ADMIN_EMAIL, ADMIN_PASSWORD } = services.config;
  if (!ADMIN_EMAIL && !ADMIN_PASSWORD) return;
  if (!ADMIN_EMAIL || !ADMIN_PASSWORD) {
    services.log.warn('ADMIN_EMAIL and ADMIN_PASSWORD must be set together; no admin bootstrapped.');
    return;
  }
  try {
    const r = await ensureAdmin(services, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    if (r.created || r.granted) services.log.info({ userId: r.userId, created: r.created }, 'admin account ensured from ADMIN_EMAIL');
    if (r.disabled) services.log.warn({ userId: r.userId }, 'the ADMIN_EMAIL account is disabled; it is not re-enabled automatically');
  } catch (err) {
    if ((err as { code?: string }).code === 'weak_password') {
      throw new Error(`ADMIN_PASSWORD does not pass the password policy: ${(err as Error).message}`);
    }
    throw err;
  }
}
