/**
 * Features: the registered features, and an access tester that asks the real access check
 * (POST /api/v1/features/{name}/access with my access token and an API key) and shows its answer
 * and reason. A key made in this page's lifetime can be picked without pasting it (its secret is
 * kept in memory only); any other key is pasted into a password field and sent in X-API-Key.
 */
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, get, post } from '../api';
import { issuedKeys } from '../issued-keys';
import { ErrorNotice, Field, Page, Select, Spinner, useAction, useLoad } from '../ui';

interface Feature { name: string; description: string; enabled: boolean; created_at: string }
interface Verdict { granted: boolean; status: number; code?: string; detail?: string; feature: string; at: string }

const REASONS: Record<string, string> = {
  feature_not_in_key_scope: 'The key does not cover this feature.',
  feature_disabled: 'The feature is disabled.',
  feature_not_found: 'No such feature.',
  api_key_revoked: 'The key has been revoked.',
  api_key_expired: 'The key has expired.',
  api_key_invalid: 'The key is not valid.',
  key_owner_mismatch: 'The key belongs to another user.',
  rate_limited: 'The key’s rate limit is spent; retry later.',
};

function AccessTester({ features }: { features: Feature[] }) {
  const { query } = useLocation();
  const remembered = issuedKeys();
  const [keyChoice, setKeyChoice] = useState<string>(remembered.find((k) => k.id === query.key)?.id ?? remembered.at(-1)?.id ?? 'paste');
  const [pasted, setPasted] = useState('');
  const [feature, setFeature] = useState(query.feature ?? features[0]?.name ?? '');
  const [verdicts, setVerdicts] = useState<Verdict[]>([]);
  const action = useAction(async () => {
    const key = keyChoice === 'paste' ? pasted.trim() : remembered.find((k) => k.id === keyChoice)?.secret ?? '';
    if (!key) throw new Error('Paste an API key, or create one on the API keys page.');
    if (!feature) throw new Error('Choose a feature.');
    const at = new Date().toISOString();
    let v: Verdict;
    try {
      await post(`/api/v1/features/${encodeURIComponent(feature)}/access`, {}, { headers: { 'x-api-key': key }, sessionOn401: false });
      v = { granted: true, status: 200, feature, at };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // A refusal (403 access_denied) names its reason; other failures their own code.
      const reason = typeof err.problem.reason === 'string' ? err.problem.reason : err.code;
      v = { granted: false, status: err.status, code: reason, detail: err.message, feature, at };
    }
    setVerdicts([v, ...verdicts].slice(0, 10));
  });
  const latest = verdicts[0];
  return (
    <form
      class="panel stack"
      aria-labelledby="tester-title"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      <h2 id="tester-title">Access tester</h2>
      <p class="muted">Asks the access check exactly as your programs do: your access token plus the key, for one feature.</p>
      <div class="row">
        <Select label="API key" value={keyChoice} onValue={setKeyChoice}>
          {remembered.map((k) => <option key={k.id} value={k.id}>{k.name} (made in this tab)</option>)}
          <option value="paste">Paste a key…</option>
        </Select>
        {keyChoice === 'paste' && <Field label="Key" type="password" autoComplete="off" value={pasted} onValue={setPasted} placeholder="ak_…" />}
        <Select label="Feature" value={feature} onValue={setFeature}>
          {features.map((f) => <option key={f.name} value={f.name}>{f.name}{f.enabled ? '' : ' (disabled)'}</option>)}
        </Select>
      </div>
      <div><button type="submit" disabled={action.busy || !features.length}>Check access</button></div>
      <ErrorNotice error={action.error} />
      <div aria-live="polite">
        {latest && (
          <div class={`verdict ${latest.granted ? 'ok' : 'bad'}`} data-testid="verdict">
            <strong>{latest.granted ? 'Granted' : 'Refused'}</strong> — <code>{latest.feature}</code>
            {!latest.granted && <> · HTTP {latest.status} · <code>{latest.code}</code>: {REASONS[latest.code ?? ''] ?? latest.detail}</>}
          </div>
        )}
      </div>
      {verdicts.length > 1 && (
        <details>
          <summary>Earlier answers</summary>
          <ul>{verdicts.slice(1).map((v) => <li key={v.at}>{new Date(v.at).toLocaleTimeString()} — {v.feature}: {v.granted ? 'granted' : `refused (${v.code})`}</li>)}</ul>
        </details>
      )}
    </form>
  );
}

export default function Features() {
  const list = useLoad(() => get<{ items: Feature[] }>('/api/v1/features'));
  const items = list.data?.items ?? [];
  return (
    <Page title="Features">
      <ErrorNotice error={list.error} />
      {list.loading && !list.data ? <Spinner /> : (
        <>
          <AccessTester features={items} />
          <h2>Registered features</h2>
          {!items.length ? <p class="muted">No features are registered yet (an administrator registers them).</p> : (
            <div class="table-wrap">
              <table>
                <thead><tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">State</th></tr></thead>
                <tbody>
                  {items.map((f) => (
                    <tr key={f.name}><td><code>{f.name}</code></td><td>{f.description || <span class="muted">—</span>}</td><td><span class={`badge ${f.enabled ? 'ok' : 'warn'}`}>{f.enabled ? 'enabled' : 'disabled'}</span></td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Page>
  );
}
