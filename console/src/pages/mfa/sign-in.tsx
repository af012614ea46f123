/**
 * Sign in with a second factor (issue 17): the password, then — when the answer is
 * `mfa_required` — a TOTP or recovery code or a passkey (SecondFactorSignIn → POST /api/v1/auth/mfa/verify),
 * or the enrolment MFA_REQUIRED_FOR_ROLES asks for; or a passkey alone
 * (POST /api/v1/auth/passkeys/options → navigator.credentials.get → /passkeys/verify).
 */
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { startAuthentication } from '@simplewebauthn/browser';
import { post } from '../../api';
import { safeNext } from '../../app';
import { signedIn, signInWithPassword, type LoginAnswer } from '../../session';
import { ErrorNotice, Field, Page, useAction } from '../../ui';
import { isChallenge, SecondFactorSignIn, type MfaChallenge } from './second-factor';

export default function MfaSignIn() {
  const { query, route } = useLocation();
  const next = safeNext(query.next);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const finish = async (answer: LoginAnswer) => {
    await signedIn(answer);
    route(next, true);
  };
  const password1 = useAction(async () => {
    const answer = await signInWithPassword(email.trim(), password);
    if (isChallenge(answer)) setChallenge(answer);
    else await finish(answer);
  });
  // A social sign-in waiting for its second factor: its mfa_token is in an HttpOnly cookie, taken once.
  const pending = useAction(async () => {
    setChallenge(await post<MfaChallenge>('/api/v1/auth/mfa/pending', {}, { auth: false }));
  });
  useEffect(() => {
    if (query.pending) void pending.run();
  }, []);
  const passkey = useAction(async () => {
    const options = await post<never>('/api/v1/auth/passkeys/options', {}, { auth: false });
    const assertion = await startAuthentication({ optionsJSON: options });
    await finish(await post<LoginAnswer>('/api/v1/auth/passkeys/verify', { assertion }, { auth: false }));
  });
  return (
    <Page title="Sign in with a second factor">
      <div class="narrow">
        <ErrorNotice error={pending.error} />
        {challenge ? (
          <SecondFactorSignIn challenge={challenge} onDone={finish} />
        ) : (
          <form class="stack" onSubmit={(e) => { e.preventDefault(); void password1.run(); }}>
            <Field label="E-mail" type="email" autoComplete="username webauthn" required value={email} onValue={setEmail} />
            <Field label="Password" type="password" autoComplete="current-password" required value={password} onValue={setPassword} />
            <ErrorNotice error={password1.error} />
            <button type="submit" disabled={password1.busy}>Sign in</button>
          </form>
        )}
        <p class="or"><span>or</span></p>
        <ErrorNotice error={passkey.error} />
        <button type="button" class="secondary" disabled={passkey.busy} onClick={() => void passkey.run()}>Sign in with a passkey</button>
      </div>
    </Page>
  );
}
