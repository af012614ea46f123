/**
 * Second factors (issue 17): enrol an authenticator app (QR code made by the server), register
 * passkeys, see and regenerate recovery codes (shown once), remove factors. Removing and
 * regenerating may answer step_up_required: the shared step-up prompt asks for a factor (code or
 * passkey), then the action runs again. API: /api/v1/auth/mfa/* (docs/identity.md "Multi-factor").
 */
import { useState } from 'preact/hooks';
import { del, get, post } from '../../api';
import { ErrorNotice, Page, Spinner, fmtDate, useAction, useLoad } from '../../ui';
import { RecoveryCodes, registerPasskey, TotpEnrolment } from './enrol';
import { useStepUp } from './second-factor';

interface Factor { id: string; method: 'totp' | 'passkey' | 'recovery_code'; name: string; created_at: string; last_used_at: string | null; remaining?: number }
interface Factors { methods: string[]; factors: Factor[] }

export default function Security() {
  const list = useLoad(() => get<Factors>('/api/v1/auth/mfa/factors'));
  const [codes, setCodes] = useState<string[] | null>(null);
  const stepUp = useStepUp();
  const addPasskey = useAction(async () => {
    const r = await registerPasskey();
    if (r.recovery_codes) setCodes(r.recovery_codes);
    await list.reload();
  });
  const remove = useAction((f: Factor) => stepUp.guard(async () => {
    await del(`/api/v1/auth/mfa/factors/${f.id}`);
    await list.reload();
  }, (): void => void remove.run(f)));
  const regenerate = useAction(() => stepUp.guard(async () => {
    setCodes((await post<{ recovery_codes: string[] }>('/api/v1/auth/mfa/recovery-codes', {})).recovery_codes);
    await list.reload();
  }, (): void => void regenerate.run()));
  const factors = list.data?.factors ?? [];
  return (
    <Page title="Second factors">
      <ErrorNotice error={list.error ?? addPasskey.error ?? remove.error ?? regenerate.error} />
      {codes && <RecoveryCodes codes={codes} />}
      {stepUp.prompt}
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
      {list.data && !factors.some((f) => f.method === 'totp') && (
        <TotpEnrolment onEnrolled={async (r) => {
          if (r.recovery_codes) setCodes(r.recovery_codes);
          await list.reload();
        }} />
      )}
      <p class="actions">
        <button type="button" onClick={() => void addPasskey.run()} disabled={addPasskey.busy}>Add a passkey</button>{' '}
        {factors.length > 0 && <button type="button" class="secondary" onClick={() => void regenerate.run()} disabled={regenerate.busy}>New recovery codes</button>}
      </p>
    </Page>
  );
}
