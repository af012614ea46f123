/**
 * Enrolling an authenticator app (issue 17), one component for both places it happens:
 * - /console/mfa, signed in (the access token);
 * - at sign-in, when MFA_REQUIRED_FOR_ROLES asks a user to enrol before a full session: the
 *   `enrol` mfa_token goes in the body, and the confirm answer carries the session.
 * The first factor comes with recovery codes, shown once (`RecoveryCodes`). At sign-in a passkey
 * may be the first factor instead (`registerPasskey` with the same token).
 */
import { useState } from 'preact/hooks';
import { startRegistration } from '@simplewebauthn/browser';
import { post } from '../../api';
import type { LoginAnswer } from '../../session';
import { ErrorNotice, Field, Notice, useAction } from '../../ui';

interface Started { factor_id: string; secret: string; otpauth_uri: string; qr_svg: string }
export interface Enrolled { factor_id: string; recovery_codes?: string[]; session?: LoginAnswer }

export function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <Notice kind="warn">
      <p>Your recovery codes — shown only now. Each works once. Keep them somewhere safe.</p>
      <ul class="recovery-codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
    </Notice>
  );
}

export function TotpEnrolment({ mfaToken, onEnrolled }: { mfaToken?: string; onEnrolled: (r: Enrolled) => Promise<void> | void }) {
  const [totp, setTotp] = useState<Started | null>(null);
  const [code, setCode] = useState('');
  const token = mfaToken ? { mfa_token: mfaToken } : {};
  const opts = mfaToken ? { auth: false } : undefined;
  const start = useAction(async () => setTotp(await post<Started>('/api/v1/auth/mfa/totp', { name: 'Authenticator app', ...token }, opts)));
  const confirm = useAction(async () => {
    const r = await post<Enrolled>('/api/v1/auth/mfa/totp/confirm', { factor_id: totp!.factor_id, code: code.trim(), ...token }, opts);
    setTotp(null);
    setCode('');
    await onEnrolled(r);
  });
  if (!totp) {
    return (
      <div class="stack">
        <ErrorNotice error={start.error} />
        <div><button type="button" onClick={() => void start.run()} disabled={start.busy}>Set up an authenticator app</button></div>
      </div>
    );
  }
  return (
    <form class="stack totp-enrolment" onSubmit={(e) => { e.preventDefault(); void confirm.run(); }}>
      <p>Scan this code with your authenticator app, or type the key <code data-testid="totp-secret">{totp.secret}</code>.</p>
      <div class="qr" role="img" aria-label="QR code of the authenticator key" dangerouslySetInnerHTML={{ __html: totp.qr_svg }} />
      <p><a href={totp.otpauth_uri} data-testid="otpauth-uri">Open in an authenticator app on this device</a></p>
      <Field label="Code from the app" inputMode="numeric" autoComplete="one-time-code" required autoFocus value={code} onValue={setCode} />
      <ErrorNotice error={confirm.error} />
      <div><button type="submit" disabled={confirm.busy}>Confirm</button></div>
    </form>
  );
}

/** Registers a passkey (navigator.credentials.create); with an `enrol` mfa_token at sign-in. */
export async function registerPasskey(mfaToken?: string): Promise<Enrolled> {
  const token = mfaToken ? { mfa_token: mfaToken } : {};
  const opts = mfaToken ? { auth: false } : undefined;
  const options = await post<never>('/api/v1/auth/mfa/passkeys/registration-options', token, opts);
  const response = await startRegistration({ optionsJSON: options });
  return post<Enrolled>('/api/v1/auth/mfa/passkeys', { name: 'Passkey', response, ...token }, opts);
}

/** MFA_REQUIRED_FOR_ROLES: enrol with the sign-in's mfa_token, see the recovery codes, then the session. */
export function EnrolOnSignIn({ mfaToken, onDone }: { mfaToken: string; onDone: (answer: LoginAnswer) => Promise<void> }) {
  const [done, setDone] = useState<Enrolled | null>(null);
  const finish = useAction(async () => onDone(done!.session!));
  const enrolled = (r: Enrolled) => {
    if (!r.session) throw new Error('The enrolment did not start a session; sign in again.');
    setDone(r);
  };
  const passkey = useAction(async () => enrolled(await registerPasskey(mfaToken)));
  if (done) {
    return (
      <div class="stack">
        {done.recovery_codes && <RecoveryCodes codes={done.recovery_codes} />}
        <ErrorNotice error={finish.error} />
        <div><button type="button" disabled={finish.busy} onClick={() => void finish.run()}>Continue</button></div>
      </div>
    );
  }
  return (
    <div class="stack">
      <Notice kind="info">Your account needs a second factor. Set up an authenticator app or add a passkey to finish signing in.</Notice>
      <TotpEnrolment mfaToken={mfaToken} onEnrolled={enrolled} />
      <ErrorNotice error={passkey.error} />
      <div><button type="button" class="secondary" disabled={passkey.busy} onClick={() => void passkey.run()}>Add a passkey</button></div>
    </div>
  );
}
