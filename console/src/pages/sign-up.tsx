/** Create an account (POST /api/v1/auth/signup); the API mails a confirmation link. */
import { useState } from 'preact/hooks';
import { ApiError, post } from '../api';
import { to } from '../routes';
import { ErrorNotice, Field, Notice, Page, useAction } from '../ui';
import { ProviderButtons } from './sign-in';

export default function SignUp() {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const mismatch = confirm !== '' && confirm !== password ? 'The two passwords differ.' : undefined;
  const action = useAction(async () => {
    if (password !== confirm) throw new Error('The two passwords differ.');
    await post('/api/v1/auth/signup', { email: email.trim(), password, ...(name.trim() ? { name: name.trim() } : {}) }, { auth: false });
    setDone(email.trim());
  });
  const fieldError = (f: string) => (action.error instanceof ApiError ? action.error.problem.errors?.find((e) => e.field === f)?.message : undefined);
  if (done) {
    return (
      <Page title="Check your mail">
        <div class="narrow">
          <Notice kind="ok">Your account is created. We sent a confirmation link to <strong>{done}</strong>; open it to confirm the address.</Notice>
          <p><a class="button" href={to('/sign-in')}>Sign in</a></p>
        </div>
      </Page>
    );
  }
  return (
    <Page title="Create an account">
      <div class="narrow">
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run();
          }}
        >
          <Field label="Name" autoComplete="name" value={name} onValue={setName} hint="Optional: how the console greets you." />
          <Field label="E-mail" type="email" autoComplete="email" required value={email} onValue={setEmail} error={fieldError('email')} />
          <Field label="Password" type="password" autoComplete="new-password" required value={password} onValue={setPassword} error={fieldError('password')} hint="A long passphrase is best; the server checks it against its policy." />
          <Field label="Repeat the password" type="password" autoComplete="new-password" required value={confirm} onValue={setConfirm} error={mismatch} />
          <ErrorNotice error={action.error} />
          <button type="submit" disabled={action.busy}>{action.busy ? 'Creating…' : 'Create account'}</button>
        </form>
        <ProviderButtons next={to('/')} />
        <p class="links">Already have an account? <a href={to('/sign-in')}>Sign in</a></p>
      </div>
    </Page>
  );
}
