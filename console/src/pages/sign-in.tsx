/**
 * Sign in with a password, or with a configured social provider (one button per provider from
 * GET /api/v1/auth/oauth/providers; the button is a plain link to the provider's authorize
 * route, which answers a browser with a 302 and comes back to the console with the cookie set).
 */
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { get, qs } from '../api';
import { safeNext } from '../app';
import { to } from '../routes';
import { signedIn, signInWithPassword, useSession, type LoginAnswer } from '../session';
import { isChallenge, SecondFactorSignIn, type MfaChallenge } from './mfa/second-factor';
import { ErrorNotice, Field, Notice, Page, useAction, useLoad } from '../ui';

interface Provider { name: string; display_name: string; kind: string }

/** Messages for the codes a failed social sign-in comes back with (?error=). */
const SOCIAL_ERRORS: Record<string, string> = {
  oauth_denied: 'The provider did not let you in (you may have cancelled).',
  oauth_account_unavailable: 'That account is disabled or deleted.',
};

export function ProviderButtons({ next }: { next: string }) {
  const providers = useLoad(() => get<{ providers: Provider[] }>('/api/v1/auth/oauth/providers', { auth: false }).catch(() => ({ providers: [] })));
  const list = providers.data?.providers ?? [];
  if (!list.length) return null;
  const back = `${location.origin}${next}`;
  return (
    <div class="providers" aria-label="Sign in with another account">
      <p class="or"><span>or</span></p>
      {list.map((p) => (
        <a key={p.name} class="button secondary provider" data-provider={p.name} href={`/api/v1/auth/oauth/${encodeURIComponent(p.name)}/authorize${qs({ redirect_to: back })}`}>
          Continue with {p.display_name}
        </a>
      ))}
    </div>
  );
}

export default function SignIn() {
  const { query, route } = useLocation();
  const s = useSession();
  const next = safeNext(query.next);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const nextError = new URLSearchParams(next.split('?')[1] ?? '').get('error') ?? query.error;
  // A second factor (or its enrolment) is due (issue 17): the password answered with an mfa_token, not a session.
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const finish = async (answer: LoginAnswer) => {
    await signedIn(answer);
    route(next, true);
  };
  const action = useAction(async () => {
    const answer = await signInWithPassword(email.trim(), password);
    if (isChallenge(answer)) setChallenge(answer);
    else await finish(answer);
  });
  return (
    <Page title="Sign in">
      <div class="narrow">
        {s.notice && <Notice kind="info">{s.notice}</Notice>}
        {nextError && <Notice kind="error">{SOCIAL_ERRORS[nextError] ?? `Sign-in with the provider failed (${nextError}).`}</Notice>}
        {challenge ? <SecondFactorSignIn challenge={challenge} onDone={finish} /> : <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run();
          }}
        >
          <Field label="E-mail" type="email" autoComplete="username" required value={email} onValue={setEmail} />
          <Field label="Password" type="password" autoComplete="current-password" required value={password} onValue={setPassword} />
          <ErrorNotice error={action.error} />
          <button type="submit" disabled={action.busy}>{action.busy ? 'Signing in…' : 'Sign in'}</button>
        </form>}
        <ProviderButtons next={next} />
        <p class="links">
          <a href={to('/forgot-password')}>Forgot your password?</a>
          <span aria-hidden="true"> · </span>
          <a href={to('/sign-up')}>Create an account</a>
        </p>
      </div>
    </Page>
  );
}
