/**
 * Small shared pieces of every screen: the page frame (title, focus on arrival), labelled form
 * fields, notices, a data loader hook, copy button and formatting. Accessibility rules kept here:
 * every control has a label; errors are announced (role=alert) and tied to their field
 * (aria-describedby); a new page moves focus to its heading so screen readers hear it.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './api';

export function Page({ title, children, actions, wide }: { title: string; children: ComponentChildren; actions?: ComponentChildren; wide?: boolean }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => {
    document.title = `${title} — authledger`;
    // Focus the heading on arrival, unless a control of the page (autofocus) already has it.
    if (!document.activeElement || document.activeElement === document.body) h1.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <section class={wide ? 'page wide' : 'page'} aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={h1}>{title}</h1>
        {actions && <div class="page-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

/** The input attributes screens use (Preact's own attribute types are a union too strict to spread). */
interface InputAttrs {
  type?: string; name?: string; autoComplete?: string; required?: boolean; placeholder?: string; minLength?: number; maxLength?: number;
  autoFocus?: boolean; disabled?: boolean; readOnly?: boolean; inputMode?: string; min?: string; max?: string; step?: string; list?: string; pattern?: string;
}

type InputProps = InputAttrs & {
  label: string;
  hint?: ComponentChildren;
  error?: string;
  value: string;
  onValue: (v: string) => void;
};

export function Field({ label, hint, error, value, onValue, ...rest }: InputProps) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} value={value} onInput={(e) => onValue((e.target as HTMLInputElement).value)} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...(rest as Record<string, unknown>)} />
      {hint && <div class="hint" id={`${id}-hint`}>{hint}</div>}
      {error && <div class="field-error" id={`${id}-err`}>{error}</div>}
    </div>
  );
}

export function Select({ label, value, onValue, children, disabled }: { label: string; value: string; onValue: (v: string) => void; children: ComponentChildren; disabled?: boolean }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} disabled={disabled} onChange={(e) => onValue((e.target as HTMLSelectElement).value)}>{children}</select>
    </div>
  );
}

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'ok' | 'error' | 'warn'; children: ComponentChildren }) {
  if (!children) return null;
  return <div class={`notice ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</div>;
}

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  return <Notice kind="error">{messageOf(error)}</Notice>;
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return <p class="muted" role="status" aria-live="polite">{label}</p>;
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
}

/** Loads `fn()` on mount and whenever `deps` change; `reload()` loads again. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const d = await fn();
      if (mine === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (err) {
      if (mine === seq.current) setError(err);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, deps);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload };
}

/** Runs an action with busy/error state (for buttons and forms). */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...args: A): Promise<R | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await fn(...args);
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, setError };
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission (plain http, old browser): select the text for Ctrl+C instead.
      const el = document.querySelector<HTMLElement>('[data-copy-source]');
      if (el) window.getSelection()?.selectAllChildren(el);
    }
    setDone(true);
    setTimeout(() => setDone(false), 2000);
  };
  return <button type="button" class="secondary" onClick={copy}>{done ? 'Copied' : label}</button>;
}

export const fmtDate = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '—');

export function fmtAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (Math.abs(s) < 45) return 'just now';
  const units: Array<[number, Intl.RelativeTimeFormatUnit]> = [[60, 'minute'], [3600, 'hour'], [86400, 'day'], [2592000, 'month'], [31536000, 'year']];
  let unit: Intl.RelativeTimeFormatUnit = 'minute';
  let value = s / 60;
  for (const [secs, u] of units) if (Math.abs(s) >= secs) {
    unit = u;
    value = s / secs;
  }
  return new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(-Math.round(value), unit);
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  return <time dateTime={iso} title={fmtDate(iso)}>{fmtAgo(iso)}</time>;
}
