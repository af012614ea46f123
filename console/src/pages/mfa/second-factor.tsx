/**
 * The one second-factor form of the console (issue 17), used by both sign-in pages and by the
 * step-up prompt: a TOTP or recovery code, or a passkey (WebAuthn assertion through
 * @simplewebauthn/browser). The caller says where the answer goes:
 * - sign-in: `SecondFactorSignIn` posts to /api/v1/auth/mfa/verify with the mfa_token (or, when the
 *   role policy asks for enrolment first, shows the enrolment screen with that token);
 * - step-up: `useStepUp()` catches step_up_required, shows `StepUpPrompt` (POST /auth/mfa/step-up)
 *   and runs the refused action again once the factor is proved.
 */
import { useId, useState } from 'preact/hooks';
import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { ApiError, post } from '../../api';
import type { LoginAnswer } from '../../session';
import { ErrorNotice, Field, useAction } from '../../ui';
import { EnrolOnSignIn } from './enrol';

export type FactorInput = { method: 'totp' | 'recovery_code'; code: string } | { method: 'passkey'; assertion: unknown };
export type Method = 'totp' | 'passkey' | 'recovery_code';

/** What the password step (or a social sign-in) answered instead of a session. */
export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
  methods: Method[];
  mfa_enrolment_required?: boolean;
}

export const isChallenge = (a: unknown): a is MfaChallenge => !!a && (a as MfaChallenge).mfa_required === true;

export function SecondFactorForm({ methods, passkeyOptions, onVerify, submitLabel = 'Verify', autoFocus }: {
  methods: readonly string[];
  passkeyOptions: () => Promise<PublicKeyCredentialRequestOptionsJSON>;
  onVerify: (input: FactorInput) => Promise<void>;
  submitLabel?: string;
  autoFocus?: boolean;
}) {
  const [code, setCode] = useState('');
  const totp = methods.includes('totp');
  const recovery = methods.includes('recovery_code');
  const label = totp && recovery ? 'Code from your authenticator app, or a recovery code' : totp ? 'Code from your authenticator app' : 'A recovery code';
  const withCode = useAction(async () => {
    const c = code.trim();
    await onVerify({ method: totp && (/^\d{6}$/.test(c) || !recovery) ? 'totp' : 'recovery_code', code: c });
    setCode('');
  });
  const withPasskey = useAction(async () => {
    const assertion = await startAuthentication({ optionsJSON: await passkeyOptions() });
    await onVerify({ method: 'passkey', assertion });
  });
  return (
    <div class="stack second-factor">
      {(totp || recovery) && (
        <form class="stack" onSubmit={(e) => { e.preventDefault(); void withCode.run(); }}>
          <Field label={label} autoComplete="one-time-code" required autoFocus={autoFocus} value={code} onValue={setCode} />
          <ErrorNotice error={withCode.error} />
          <div><button type="submit" disabled={withCode.busy}>{submitLabel}</button></div>
        </form>
      )}
      {methods.includes('passkey') && (
        <div class="stack">
          <ErrorNotice error={withPasskey.error} />
          <div><button type="button" class="secondary" disabled={withPasskey.busy} onClick={() => void withPasskey.run()}>Use a passkey</button></div>
        </div>
      )}
    </div>
  );
}

/** The second step of a sign-in: the factor check, or the enrolment the role policy asks for. */
export function SecondFactorSignIn({ challenge, onDone }: { challenge: MfaChallenge; onDone: (answer: LoginAnswer) => Promise<void> }) {
  const mfaToken = challenge.mfa_token;
  if (challenge.mfa_enrolment_required) return <EnrolOnSignIn mfaToken={mfaToken} onDone={onDone} />;
  return (
    <div class="stack">
      <p>Your account has a second factor: prove it to finish signing in.</p>
      <SecondFactorForm
        methods={challenge.methods}
        autoFocus
        passkeyOptions={() => post('/api/v1/auth/mfa/passkey-options', { mfa_token: mfaToken }, { auth: false })}
        onVerify={async (input) => onDone(await post<LoginAnswer>('/api/v1/auth/mfa/verify', { mfa_token: mfaToken, ...input }, { auth: false }))}
      />
    </div>
  );
}

/** Asks for a second factor again on this session, then calls onDone (the caller retries). */
export function StepUpPrompt({ methods, onDone, onCancel }: { methods: readonly string[]; onDone: () => void; onCancel: () => void }) {
  const id = useId();
  return (
    <section class="panel stack step-up" aria-labelledby={id}>
      <h2 id={id}>Confirm it is you</h2>
      <p>This change needs a second factor again.</p>
      <SecondFactorForm
        methods={methods}
        autoFocus
        submitLabel="Confirm"
        passkeyOptions={() => post('/api/v1/auth/mfa/passkey-options', {})}
        onVerify={async (input) => {
          await post('/api/v1/auth/mfa/step-up', input);
          onDone();
        }}
      />
      <div><button type="button" class="secondary" onClick={onCancel}>Cancel</button></div>
    </section>
  );
}

/**
 * Step-up for a screen: `guard(fn, retry)` runs fn; a step_up_required answer shows the prompt
 * (render `prompt` outside any form) instead of an error, and `retry` runs once the factor is proved.
 */
export function useStepUp() {
  const [pending, setPending] = useState<{ methods: string[]; retry: () => unknown } | null>(null);
  const guard = async <T,>(fn: () => Promise<T>, retry: () => unknown): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'step_up_required') throw err;
      const methods = Array.isArray(err.problem.methods) ? (err.problem.methods as string[]) : ['totp', 'recovery_code'];
      setPending({ methods, retry });
      return undefined;
    }
  };
  const prompt = pending && (
    <StepUpPrompt
      methods={pending.methods}
      onDone={() => {
        setPending(null);
        void pending.retry();
      }}
      onCancel={() => setPending(null)}
    />
  );
  return { guard, prompt };
}
