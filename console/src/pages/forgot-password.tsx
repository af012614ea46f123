/** Ask for a password-reset mail (always 202: the answer reveals nothing about the address). */
import { useState } from 'preact/hooks';
import { post } from '../api';
import { to } from '../routes';
import { ErrorNotice, Field, Notice, Page, useAction } from '../ui';

export default function ForgotPassword() {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const action = useAction(async () => {
    await post('/api/v1/auth/password-reset/request', { email: email.trim() }, { auth: false });
    setSent(true);
  });
  return (
    <Page title="Forgot password">
      <div class="narrow">
        {sent ? (
          <Notice kind="ok">If an account uses {email.trim()}, a link to choose a new password is on its way. It works once and expires soon.</Notice>
        ) : (
          <form
            class="stack"
            onSubmit={(e) => {
              e.preventDefault();
              void action.run();
            }}
          >
            <p>Enter the e-mail address of your account; we mail you a link to choose a new password.</p>
            <Field label="E-mail" type="email" autoComplete="email" required value={email} onValue={setEmail} />
            <ErrorNotice error={action.error} />
            <button type="submit" disabled={action.busy}>Send the link</button>
          </form>
        )}
        <p class="links"><a href={to('/sign-in')}>Back to sign in</a></p>
      </div>
    </Page>
  );
}
