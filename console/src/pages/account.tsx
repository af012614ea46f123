/**
 * Account: profile (name, e-mail — changing one's own e-mail needs the current password unless
 * the sign-in was recent), verification status with a resend button, password change, linked
 * sign-in identities (link one more, unlink). API: GET/PATCH /api/v1/users/{id} (ETag / If-Match),
 * POST /api/v1/auth/verify-email/resend, POST /api/v1/auth/password, GET/DELETE /api/v1/auth/identities, POST /api/v1/auth/identities/{provider}/link.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, del, get, post } from '../api';
import { reloadMe, useSession } from '../session';
import { ErrorNotice, Field, Notice, Page, Spinner, Time, useAction, useLoad } from '../ui';
import { useStepUp } from './mfa/second-factor';

interface UserView { id: string; email: string; name: string; roles: string[]; email_verified: boolean; source: string; revision: number; pending_email?: string }
interface Identity { id: string; provider: string; subject: string; email?: string; linked_at: string }

function Profile({ user, onSaved }: { user: UserView; onSaved: () => Promise<void> }) {
  const [name, setName] = useState(user.name);
  const [email, setEmail] = useState(user.email);
  const [password, setPassword] = useState('');
  const [needPassword, setNeedPassword] = useState(false);
  const [saved, setSaved] = useState('');
  useEffect(() => {
    setName(user.name);
    setEmail(user.email);
  }, [user.revision]);
  const emailChanged = email.trim().toLowerCase() !== user.email.toLowerCase();
  const stepUp = useStepUp();
  const action = useAction(() => stepUp.guard(async () => {
    setSaved('');
    const body: Record<string, string> = {};
    if (name.trim() !== user.name) body.name = name.trim();
    if (emailChanged) body.email = email.trim();
    if (password) body.current_password = password;
    if (!Object.keys(body).length) return;
    try {
      await api('PATCH', `/api/v1/users/${user.id}`, body, { headers: { 'if-match': `"${user.revision}"` } });
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'reauth_required' || err.code === 'wrong_password')) setNeedPassword(true);
      throw err;
    }
    setPassword('');
    setNeedPassword(false);
    setSaved(emailChanged ? 'Saved. The new address takes effect once you open the link we mailed to it.' : 'Saved.');
    await onSaved();
  }, (): void => void action.run()));
  return (
    <>
    {stepUp.prompt}
    <form
      class="panel stack"
      aria-labelledby="profile-title"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      <h2 id="profile-title">Profile</h2>
      <div class="row">
        <Field label="Name" autoComplete="name" required value={name} onValue={setName} />
        <Field label="E-mail" type="email" autoComplete="email" required value={email} onValue={setEmail} />
      </div>
      {user.pending_email && <Notice kind="info">Changing to <strong>{user.pending_email}</strong>: open the link we mailed to that address to finish. Until then you sign in with {user.email}.</Notice>}
      {(emailChanged || needPassword) && (
        <Field label="Current password" type="password" autoComplete="current-password" value={password} onValue={setPassword}
          hint="Changing your e-mail address needs your password unless you signed in a few minutes ago." />
      )}
      <ErrorNotice error={action.error} />
      {saved && <Notice kind="ok">{saved}</Notice>}
      <div><button type="submit" disabled={action.busy}>Save profile</button></div>
    </form>
    </>
  );
}

function Verification({ verified }: { verified: boolean }) {
  const [sent, setSent] = useState(false);
  const action = useAction(async () => {
    await post('/api/v1/auth/verify-email/resend');
    setSent(true);
  });
  return (
    <section class="panel" aria-labelledby="verify-title">
      <h2 id="verify-title">E-mail verification</h2>
      {verified ? <p><span class="badge ok">confirmed</span> Your e-mail address is confirmed.</p> : (
        <div class="stack">
          <p><span class="badge warn">not confirmed</span> Open the link we mailed you to confirm your address.</p>
          {sent ? <Notice kind="ok">A new link is on its way.</Notice> : <div><button type="button" class="secondary" disabled={action.busy} onClick={() => void action.run()}>Mail me a new link</button></div>}
          <ErrorNotice error={action.error} />
        </div>
      )}
    </section>
  );
}

function PasswordChange() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const mismatch = confirm !== '' && confirm !== next ? 'The two passwords differ.' : undefined;
  // A user with a second factor proves it again (step-up) unless this session did so recently.
  const stepUp = useStepUp();
  const action = useAction(() => stepUp.guard(async () => {
    setDone(false);
    if (next !== confirm) throw new Error('The two passwords differ.');
    await post('/api/v1/auth/password', { current_password: current, new_password: next });
    setCurrent('');
    setNext('');
    setConfirm('');
    setDone(true);
  }, (): void => void action.run()));
  return (
    <>
    {stepUp.prompt}
    <form
      class="panel stack"
      aria-labelledby="password-title"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      <h2 id="password-title">Change password</h2>
      <Field label="Current password" type="password" autoComplete="current-password" required value={current} onValue={setCurrent} />
      <div class="row">
        <Field label="New password" type="password" autoComplete="new-password" required value={next} onValue={setNext} />
        <Field label="Repeat the new password" type="password" autoComplete="new-password" required value={confirm} onValue={setConfirm} error={mismatch} />
      </div>
      <ErrorNotice error={action.error} />
      {done && <Notice kind="ok">Password changed. Every other session was signed out; this one stays.</Notice>}
      <div><button type="submit" disabled={action.busy}>Change password</button></div>
    </form>
    </>
  );
}

interface Provider { name: string; display_name: string }

/**
 * Link a provider: POST /api/v1/auth/identities/{provider}/link (re-auth like an e-mail change)
 * answers the provider's authorize URL; the browser goes there and comes back to this page.
 */
function LinkProvider({ providers, linked }: { providers: Provider[]; linked: Set<string> }) {
  const [password, setPassword] = useState('');
  const [needPassword, setNeedPassword] = useState(false);
  const action = useAction(async (p: Provider) => {
    try {
      const r = await post<{ authorize_url: string }>(`/api/v1/auth/identities/${encodeURIComponent(p.name)}/link`, {
        redirect_to: `${location.origin}/console/account`, ...(password ? { current_password: password } : {}),
      });
      location.assign(r.authorize_url);
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'reauth_required' || err.code === 'wrong_password')) setNeedPassword(true);
      throw err;
    }
  });
  const open = providers.filter((p) => !linked.has(p.name));
  if (!open.length) return null;
  return (
    <div class="stack">
      {needPassword && <Field label="Current password (to link a sign-in)" type="password" autoComplete="current-password" value={password} onValue={setPassword} />}
      <div class="row">
        {open.map((p) => <button key={p.name} type="button" class="secondary" disabled={action.busy} onClick={() => void action.run(p)}>Link {p.display_name}</button>)}
      </div>
      <ErrorNotice error={action.error} />
    </div>
  );
}

function Identities() {
  const providers = useLoad(() => get<{ providers: Provider[] }>('/api/v1/auth/oauth/providers', { auth: false }).catch(() => ({ providers: [] })));
  const list = useLoad(() => get<{ identities: Identity[] }>('/api/v1/auth/identities'));
  const unlink = useAction(async (i: Identity) => {
    if (!confirm(`Unlink your ${i.provider} sign-in?`)) return;
    await del(`/api/v1/auth/identities/${encodeURIComponent(i.id)}`);
    await list.reload();
  });
  const items = list.data?.identities ?? [];
  return (
    <section class="panel" aria-labelledby="identities-title">
      <h2 id="identities-title">Linked sign-ins</h2>
      <ErrorNotice error={list.error ?? unlink.error} />
      {list.loading && !list.data ? <Spinner /> : !items.length ? <p class="muted">No social sign-in is linked. Signing in with a provider whose verified e-mail is yours links it.</p> : (
        <ul class="plain">
          {items.map((i) => (
            <li key={i.id} class="row">
              <span><strong>{i.provider}</strong> {i.email && <span class="muted">{i.email}</span>} · linked <Time iso={i.linked_at} /></span>
              <button type="button" class="danger small" disabled={unlink.busy} onClick={() => void unlink.run(i)}>Unlink<span class="sr-only"> {i.provider}</span></button>
            </li>
          ))}
        </ul>
      )}
      {list.data && <LinkProvider providers={providers.data?.providers ?? []} linked={new Set(items.map((i) => i.provider))} />}
    </section>
  );
}

export default function Account() {
  const s = useSession();
  const me = useLoad(() => get<UserView>(`/api/v1/users/${s.user!.id}`), [s.user?.id]);
  return (
    <Page title="Account">
      <ErrorNotice error={me.error} />
      {!me.data ? <Spinner /> : (
        <>
          <p class="muted">Roles: {me.data.roles.join(', ')} · account from {me.data.source} · member since <Time iso={s.user?.created_at} /></p>
          <Profile user={me.data} onSaved={async () => { await me.reload(); await reloadMe(); }} />
          <Verification verified={s.user?.email_verified ?? me.data.email_verified} />
          <PasswordChange />
          <Identities />
        </>
      )}
    </Page>
  );
}
