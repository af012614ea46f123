/**
 * The page the password-reset mail links to (GET /api/v1/auth/password-reset redirects here with
 * the #token fragment). Setting a new password signs out every session, this one included.
 */
import { useState } from 'preact/hooks';
import { ApiError, post } from '../api';
import { to } from '../routes';
import { sessionEnded } from '../session';
import { ErrorNotice, Field, Notice, Page, useAction } from '../ui';
import { takeMailToken } from '../mail-token';

export default function ResetPassword() {
  const [token] = useState(takeMailToken);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const mismatch = confirm !== '' && confirm !== password ? 'The two passwords differ.' : undefined;
  const action = useAction(async () => {
    if (password !== confirm) throw new Error('The two passwords differ.');
    await post('/api/v1/auth/password-reset/confirm', { token, new_password: password }, { auth: false });
    sessionEnded('Your password is changed and every session was signed out. Sign in with the new password.');
    setDone(true);
  });
  const policy = action.error instanceof ApiError ? action.error.problem.errors?.find((e) => e.field === 'new_password')?.message : undefined;
  return (
    <Page title="Choose a new password">
      <div class="narrow stack">
        {done ? (
          <>
            <Notice kind="ok">Your password is changed and every session was signed out.</Notice>
            <p><a class="button" href={to('/sign-in')}>Sign in</a></p>
          </>
        ) : !token ? (
          <Notice kind="error">This link is incomplete. Open the link from the mail again, or <a href={to('/forgot-password')}>ask for a new one</a>.</Notice>
        ) : (
          <form
            class="stack"
            onSubmit={(e) => {
              e.preventDefault();
              void action.run();
            }}
          >
            <Field label="New password" type="password" autoComplete="new-password" required value={password} onValue={setPassword} error={policy} />
            <Field label="Repeat the new password" type="password" autoComplete="new-password" required value={confirm} onValue={setConfirm} error={mismatch} />
            <ErrorNotice error={action.error} />
            <button type="submit" disabled={action.busy}>Set the new password</button>
          </form>
        )}
      </div>
    </Page>
  );
}
