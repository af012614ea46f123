/**
 * API keys: create one (its secret is shown once, with a copy button), list mine with status,
 * calls today and last use, a 30-day usage chart per key, and revoke.
 * API: POST/GET /api/v1/api-keys, GET /api/v1/api-keys/{id}?days=30, DELETE /api/v1/api-keys/{id}.
 */
import { Fragment } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { del, get, post } from '../api';
import { Chart, bars, PALETTE } from '../chart';
import { rememberIssuedKey } from '../issued-keys';
import { to } from '../routes';
import { CopyButton, ErrorNotice, Field, Notice, Page, Spinner, Time, fmtDate, useAction, useLoad } from '../ui';
import { useStepUp } from './mfa/second-factor';

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  features: '*' | string[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  status: 'active' | 'revoked' | 'expired';
  calls_today: number;
}
interface Issued { id: string; name: string; prefix: string; api_key: string; features: '*' | string[] }
interface Feature { name: string; description: string; enabled: boolean }

const STATUS_BADGE = { active: 'ok', revoked: 'bad', expired: 'warn' } as const;

export const featureList = (f: '*' | string[]) => (f === '*' ? 'all features' : f.join(', '));

/** The last `days` UTC days, oldest first, with 0 where a day had no calls. */
export function fillDays(usage: Array<{ day: string; count: number }>, days: number): { x: number[]; y: number[] } {
  const counts = new Map(usage.map((u) => [u.day, u.count]));
  const x: number[] = [];
  const y: number[] = [];
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  for (let i = days - 1; i >= 0; i--) {
    const t = today - i * 86_400_000;
    x.push(t / 1000);
    y.push(counts.get(new Date(t).toISOString().slice(0, 10)) ?? 0);
  }
  return { x, y };
}

function UsageChart({ keyId, name }: { keyId: string; name: string }) {
  const days = 30;
  const usage = useLoad(() => get<{ usage: Array<{ day: string; count: number }> }>(`/api/v1/api-keys/${keyId}?days=${days}`), [keyId]);
  const series = useMemo(() => fillDays(usage.data?.usage ?? [], days), [usage.data]);
  const options = useMemo(() => ({
    scales: { x: { time: true }, y: { range: (_u: unknown, _min: number, max: number): [number, number] => [0, Math.max(5, max)] } },
    axes: [{ stroke: 'currentColor', grid: { show: false } }, { stroke: 'currentColor', size: 40 }],
    legend: { show: false },
    series: [{}, { label: 'calls', stroke: PALETTE[0], fill: `${PALETTE[0]}99`, paths: bars(), points: { show: false } }],
  }), []);
  if (usage.loading && !usage.data) return <Spinner label="Loading usage…" />;
  if (usage.error) return <ErrorNotice error={usage.error} />;
  const total = series.y.reduce((a, b) => a + b, 0);
  return (
    <div>
      <Chart options={options} data={[series.x, series.y]} height={160} label={`Calls per day of key ${name} over the last ${days} days: ${total} in total`} />
      <p class="muted">{total} calls in the last {days} days (UTC days).</p>
    </div>
  );
}

function CreateKey({ onCreated }: { onCreated: (k: Issued) => void }) {
  const features = useLoad(() => get<{ items: Feature[] }>('/api/v1/features'));
  const [name, setName] = useState('');
  const [all, setAll] = useState(false);
  const [chosen, setChosen] = useState<string[]>([]);
  const [days, setDays] = useState('');
  // A key with `*` features needs a recent second factor (step-up) when the user has one.
  const stepUp = useStepUp();
  const action = useAction(() => stepUp.guard(async () => {
    if (!all && !chosen.length) throw new Error('Choose at least one feature, or all features.');
    const body = { name: name.trim(), features: all ? '*' : chosen, ...(days ? { expires_in_days: Number(days) } : {}) };
    const k = await post<Issued>('/api/v1/api-keys', body);
    rememberIssuedKey(k.id, k.name, k.api_key);
    setName('');
    setChosen([]);
    onCreated(k);
  }, (): void => void action.run()));
  const toggle = (f: string) => setChosen(chosen.includes(f) ? chosen.filter((c) => c !== f) : [...chosen, f]);
  return (
    <>
    {stepUp.prompt}
    <form
      class="panel stack"
      aria-labelledby="create-key"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      <h2 id="create-key">Create a key</h2>
      <div class="row">
        <Field label="Name" required maxLength={100} value={name} onValue={setName} hint="What uses it, e.g. “nightly export”." />
        <Field label="Expires after (days)" type="number" min="1" max="3650" value={days} onValue={setDays} hint="Empty: never expires." />
      </div>
      <fieldset class="features-pick">
        <legend>Features this key may use</legend>
        <label class="check"><input type="checkbox" checked={all} onChange={() => setAll(!all)} /> All features, present and future (*)</label>
        {features.data?.items.map((f) => (
          <label class="check" key={f.name}>
            <input type="checkbox" disabled={all} checked={all || chosen.includes(f.name)} onChange={() => toggle(f.name)} />
            <span><code>{f.name}</code>{f.description && <span class="muted"> — {f.description}</span>}{!f.enabled && <span class="badge warn">disabled</span>}</span>
          </label>
        ))}
        {features.data && !features.data.items.length && <p class="muted">No features are registered yet (an administrator registers them).</p>}
      </fieldset>
      <ErrorNotice error={action.error} />
      <div><button type="submit" disabled={action.busy}>Create key</button></div>
    </form>
    </>
  );
}

export default function ApiKeys() {
  const keys = useLoad(() => get<{ items: ApiKey[] }>('/api/v1/api-keys?limit=200'));
  const [issued, setIssued] = useState<Issued | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const revoke = useAction(async (k: ApiKey) => {
    if (!confirm(`Revoke the key “${k.name}” (${k.prefix}…)? Programs using it stop working at once.`)) return;
    await del(`/api/v1/api-keys/${k.id}`);
    if (issued?.id === k.id) setIssued(null);
    await keys.reload();
  });
  const items = keys.data?.items ?? [];
  return (
    <Page title="API keys" wide>
      {issued && (
        <div class="panel issued" role="region" aria-labelledby="issued-title">
          <h2 id="issued-title">Your new key “{issued.name}”</h2>
          <Notice kind="warn">Copy it now: it is shown only this once. authledger keeps only a hash.</Notice>
          <p class="secret" data-copy-source data-testid="new-key">{issued.api_key}</p>
          <div class="row">
            <CopyButton text={issued.api_key} label="Copy key" />
            <a class="button secondary" href={`${to('/features')}?key=${issued.id}`}>Try it in the access tester</a>
            <button type="button" class="secondary" onClick={() => setIssued(null)}>I have stored it</button>
          </div>
        </div>
      )}
      <CreateKey onCreated={(k) => { setIssued(k); void keys.reload(); }} />
      <h2>My keys</h2>
      <ErrorNotice error={keys.error ?? revoke.error} />
      {keys.loading && !keys.data ? <Spinner /> : !items.length ? <p class="muted">No keys yet.</p> : (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">My API keys</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Features</th><th scope="col">Status</th><th scope="col">Calls today</th><th scope="col">Last used</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {items.map((k) => (
                <Fragment key={k.id}>
                  <tr data-key-id={k.id}>
                    <td>{k.name}</td>
                    <td><code>{k.prefix}…</code></td>
                    <td>{featureList(k.features)}</td>
                    <td><span class={`badge ${STATUS_BADGE[k.status]}`}>{k.status}</span>{k.expires_at && k.status === 'active' && <div class="hint">until {fmtDate(k.expires_at)}</div>}</td>
                    <td>{k.calls_today}</td>
                    <td><Time iso={k.last_used_at} /></td>
                    <td><Time iso={k.created_at} /></td>
                    <td class="actions">
                      <button type="button" class="secondary small" aria-expanded={open === k.id} onClick={() => setOpen(open === k.id ? null : k.id)}>Usage<span class="sr-only"> of {k.name}</span></button>
                      {k.status === 'active' && <button type="button" class="danger small" disabled={revoke.busy} onClick={() => void revoke.run(k)}>Revoke<span class="sr-only"> {k.name}</span></button>}
                    </td>
                  </tr>
                  {open === k.id && (
                    <tr><td colSpan={8}><UsageChart keyId={k.id} name={k.name} /></td></tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
