/**
 * Social sign-in passes the same second-factor gate as a password login (issue 17): a user who
 * enrolled TOTP or a passkey here gets no session from a provider's login alone. Rules:
 * - JSON clients (the callback asked for JSON, the native code exchange) get the login's
 *   `mfa_required` answer, and finish with POST /api/v1/auth/mfa/verify;
 * - browsers cannot carry the mfa_token in a URL (secrets never travel in URLs): the callback
 *   sets it in an HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth/mfa and sends the
 *   browser to the console's second-factor page, which takes it once with
 *   POST /api/v1/auth/mfa/pending (Origin-checked) and finishes as a password login does;
 * - the session keeps `method: oauth:<provider>`; its `amr` holds only the second factor.
 */
import { secondStepOf, type MfaChallenge } from '../mfa/login-gate';
import type { IdentityDeps } from '../identity/service';

/** The challenge a social sign-in must pass first, or undefined when the session may start now. */
export function socialSecondStep(deps: IdentityDeps, user: { userId: string; roles: readonly string[] }, provider: string, deviceName?: string): Promise<MfaChallenge | undefined> {
  return secondStepOf(deps, user, { amr: [], method: `oauth:${provider}`, deviceName });
}

/** The body of an `mfa_required` answer (the same as POST /api/v1/auth/login's). */
export const mfaRequiredBody = (c: MfaChallenge) => ({
  mfa_required: true as const, mfa_token: c.mfaToken, expires_in: c.expiresIn, methods: c.methods, mfa_enrolment_required: c.enrolmentRequired,
});

/** Where the console finishes a pending second factor, coming back to `redirectTo` when it is the console's own page. */
export function consoleSecondFactorUrl(publicUrl: string, redirectTo: string): string {
  const to = new URL(`${publicUrl}/console/mfa/sign-in`);
  to.searchParams.set('pending', '1');
  const back = new URL(redirectTo);
  if (back.origin === new URL(publicUrl).origin && back.pathname.startsWith('/console/')) {
    to.searchParams.set('next', `${back.pathname}${back.search}`);
  }
  return to.href;
}
