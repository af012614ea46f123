/**
 * The page the verification mail links to (GET /api/v1/auth/verify-email redirects here, keeping
 * the #token fragment). Opening it spends nothing: the button does (mail scanners that prefetch
 * links do no harm).
 */
import { useState } from 'preact/hooks';
import { post } from '../api';
import { to } from '../routes';
import { reloadMe, useSession } from '../session';
import { ErrorNotice, Notice, Page, useAction } from '../ui';
import { takeMailToken } from '../mail-token';

export default function VerifyEmail() {
  const [token] = useState(takeMailToken);
  const s = useSession();
  const [done, setDone] = useState<string | null>(null);
  const action = useAction(async () => {
    const r = await post<{ email: string }>('/api/v1/auth/verify-email', { token }, { auth: false });
    setDone(r.email);
    if (s.status === 'signed-in') await reloadMe().catch(() => undefined);
  });
  return (
    <Page title="Confirm your e-mail address">
      <div class="narrow stack">
        {done ? (
          <>
            <Notice kind="ok">Thank you: {done} is confirmed.</Notice>
            <p><a class="button" href={s.status === 'signed-in' ? to('/account') : to('/sign-in')}>{s.status === 'signed-in' ? 'Go to your account' : 'Sign in'}</a></p>
          </>
        ) : !token ? (
          <Notice kind="error">This link is incomplete. Open the link from the mail again.</Notice>
        ) : (
          <>
            <p>Confirm that this address is yours.</p>
            <ErrorNotice error={action.error} />
            <button type="button" onClick={() => void action.run()} disabled={action.busy}>Confirm my e-mail address</button>
          </>
        )}
      </div>
    </Page>
  );
}
