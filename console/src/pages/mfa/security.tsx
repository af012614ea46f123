/**
 * Second factors (issue 17): enrol an authenticator app (QR code made by the server), register
 * passkeys, see and regenerate recovery codes (shown once), remove factors. Removing and
 * regenerating may answer step_up_required: the user proves a factor again here, then retries.
 * API: /api/v1/auth/mfa/* (docs/identity.md "Multi-factor").
 */
import { useState } from 'preact/hooks';
import { startRegistration } from '@simplewebauthn/browser';
import { ApiError, del, get, post } from '../../api';
import { ErrorNotice, Field, Notice, Page, Spinner, fmtDate, useAction, useLoad } from '../../ui';

interface Factor { id: string; method: 'totp' | 'passkey' | 'recovery_code'; name: string; created_at: string; last_used_at: string | null; remaining?: number }
interface Factors { methods: string[]; factors: Factor[] }

export default function Security() {
  const list = useLoad(() => get<Factors>('/api/v1/auth/mfa/factors'));
  const [totp, setTotp] = useState<{ factor_id: string; secret: string; qr_svg: string } | null>(null);
  const [code, setCode] = useState('');
  const [stepCode, setStepCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [needStepUp, setNeedStepUp] = useState(false);
  const guard = async <T,>(fn: () => Promise<T>) => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'step_up_required') setNeedStepUp(true);
      throw err;
    }
  };
  const startTotp = useAction(async () => setTotp(await post('/api/v1/auth/mfa/totp', { name: 'Authenticator app' })));
  const confirmTotp = useAction(async () => {
    const r = await post<{ recovery_codes?: string[] }>('/api/v1/auth/mfa/totp/confirm', { factor_id: totp!.factor_id, code: code.trim() });
    setTotp(null);
    setCode('');
    if (r.recovery_codes) setCodes(r.recovery_codes);
    await list.reload();
  });
  const addPasskey = useAction(async () => {
    const options = await post<never>('/api/v1/auth/mfa/passkeys/registration-options', {});
    const response = await startRegistration({ optionsJSON: options });
    const r = await post<{ recovery_codes?: string[] }>('/api/v1/auth/mfa/passkeys', { name: 'Passkey', response });
    if (r.recovery_codes) setCodes(r.recovery_codes);
    await list.reload();
  });
  const remove = useAction((f: Factor) => guard(async () => {
    await del(`/api/v1/auth/mfa/factors/${f.id}`);
    await list.reload();
  }));
  const regenerate = useAction(() => guard(async () => {
    setCodes((await post<{ recovery_codes: string[] }>('/api/v1/auth/mfa/recovery-codes', {})).recovery_codes);
    await list.reload();
  }));
  const stepUp = useAction(async () => {
    await post('/api/v1/auth/mfa/step-up', { method: 'totp', code: stepCode.trim() });
    setNeedStepUp(false);
    setStepCode('');
  });
  const factors = list.data?.factors ?? [];
  return (
    <Page title="Second factors">
      <ErrorNotice error={list.error ?? startTotp.error ?? confirmTotp.error ?? addPasskey.error ?? remove.error ?? regenerate.error ?? stepUp.error} />
      {codes && (
        <Notice kind="warn">
          <p>Your recovery codes — shown only now. Each works once.</p>
          <ul class="recovery-codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
        </Notice>
      )}
      {needStepUp && (
        <form class="stack" onSubmit={(e) => { e.preventDefault(); void stepUp.run(); }}>
          <Notice kind="info">Confirm with a code from your authenticator app, then try again.</Notice>
          <Field label="Code for confirmation" inputMode="numeric" autoComplete="one-time-code" value={stepCode} onValue={setStepCode} />
          <button type="submit" disabled={stepUp.busy}>Confirm</button>
        </form>
      )}
      {list.loading && !list.data ? <Spinner /> : (
        <ul class="factors">
          {factors.map((f) => (
            <li key={f.id} data-method={f.method}>
              <strong>{f.name}</strong> <span class="hint">({f.method}{f.remaining !== undefined ? `, ${f.remaining} left` : ''}) added {fmtDate(f.created_at)}, last used {fmtDate(f.last_used_at)}</span>{' '}
              <button type="button" class="danger small" disabled={remove.busy} onClick={() => void remove.run(f)}>Remove<span class="sr-only"> {f.name}</span></button>
            </li>
          ))}
          {!factors.length && <li>No second factor yet.</li>}
        </ul>
      )}
      {totp ? (
        <form class="stack" onSubmit={(e) => { e.preventDefault(); void confirmTotp.run(); }}>
          <p>Scan this code with your authenticator app, or type the key <code>{totp.secret}</code>.</p>
          <div class="qr" role="img" aria-label="QR code of the authenticator key" dangerouslySetInnerHTML={{ __html: totp.qr_svg }} />
          <Field label="Code from the app" inputMode="numeric" autoComplete="one-time-code" required value={code} onValue={setCode} />
          <button type="submit" disabled={confirmTotp.busy}>Confirm</button>
        </form>
      ) : (
        <p class="actions">
          {!factors.some((f) => f.method === 'totp') && <button type="button" onClick={() => void startTotp.run()} disabled={startTotp.busy}>Set up an authenticator app</button>}{' '}
          <button type="button" onClick={() => void addPasskey.run()} disabled={addPasskey.busy}>Add a passkey</button>{' '}
          {factors.length > 0 && <button type="button" class="secondary" onClick={() => void regenerate.run()} disabled={regenerate.busy}>New recovery codes</button>}
        </p>
      )}
    </Page>
  );
}
