/**
 * The console's one way to call the API (same origin, public REST routes only). Rules:
 * - the access token lives in this module's memory only: never localStorage, sessionStorage,
 *   a cookie we can read, or a URL. A reload starts without it and asks the refresh cookie;
 * - the refresh token is the HttpOnly cookie the API sets (path /api/v1/auth); we only ever
 *   POST /api/v1/auth/refresh and let the browser attach it (the API checks our Origin);
 * - one refresh at a time, across tabs too (Web Locks), because a rotated refresh token
 *   presented twice revokes the whole session (reuse detection);
 * - a 401 about our token (invalid_token, session_ended) refreshes once and retries once; a
 *   second one signs out; other 401s (reauth_required, a bad API key) are plain answers;
 * - errors are the API's problem+json, thrown as ApiError with its stable `code`.
 */

export interface Problem {
  status: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: Array<{ field?: string; message?: string }>;
  [k: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.status = problem.status;
    this.code = problem.code ?? `http_${problem.status}`;
    this.problem = problem;
  }
}

interface TokenState {
  token: string | null;
  expiresAt: number;
  sessionId: string | null;
}

const state: TokenState = { token: null, expiresAt: 0, sessionId: null };
const listeners = new Set<() => void>();
let refreshing: Promise<boolean> | null = null;

/** Called when the session is gone for good (refresh refused): the app shows sign-in. */
export function onSignedOut(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setAccessToken(token: string, expiresInSeconds: number, sessionId?: string): void {
  state.token = token;
  state.expiresAt = Date.now() + expiresInSeconds * 1000;
  if (sessionId) state.sessionId = sessionId;
}

export function clearAccessToken(): void {
  state.token = null;
  state.expiresAt = 0;
  state.sessionId = null;
}

export const hasAccessToken = () => state.token !== null;
export const currentSessionId = () => state.sessionId;

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Problem;
    return { ...body, status: res.status };
  } catch {
    return { status: res.status, title: res.statusText || 'Request failed', detail: text.slice(0, 200) || undefined };
  }
}

async function doRefresh(): Promise<boolean> {
  const res = await fetch('/api/v1/auth/refresh', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: '{}',
  }).catch(() => undefined);
  if (!res || !res.ok) {
    clearAccessToken();
    return false;
  }
  const body = (await res.json()) as { access_token: string; expires_in: number; session_id: string };
  setAccessToken(body.access_token, body.expires_in, body.session_id);
  return true;
}

/**
 * Renews the access token with the refresh cookie. Concurrent callers share one request; other
 * tabs wait for ours (navigator.locks), so the rotating cookie is never presented twice.
 */
export function refreshAccessToken(): Promise<boolean> {
  if (!refreshing) {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    const run: Promise<boolean> = locks ? (locks.request('authledger-refresh', () => doRefresh()) as unknown as Promise<boolean>) : doRefresh();
    refreshing = run.finally(() => {
      refreshing = null;
    });
  }
  return refreshing!;
}

export interface CallOptions {
  /** Send the access token (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /**
   * Whether a 401 means "our access token": refresh once, retry, and sign out if it stays 401
   * (default true). False where a 401 is about another credential the call carries (the access
   * tester's API key): that 401 is the answer, not a reason to sign out.
   */
  sessionOn401?: boolean;
}

async function send(method: string, path: string, body: unknown, opts: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.auth !== false && state.token) headers.authorization = `Bearer ${state.token}`;
  return fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: opts.signal,
  });
}

/**
 * The 401 codes that mean our access token or its session (src/http/auth.ts); other 401s are
 * answers about something else (reauth_required: confirm the password; api_key_*: the key sent).
 */
const TOKEN_401 = new Set(['invalid_token', 'session_ended', 'unauthorized']);

async function isAboutOurToken(res: Response): Promise<boolean> {
  const body = (await res.clone().json().catch(() => ({}))) as { code?: string };
  return body.code === undefined || TOKEN_401.has(body.code);
}

/** Calls the API and returns its JSON (undefined for 204). Throws ApiError on a problem answer. */
export async function api<T = unknown>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const authed = opts.auth !== false;
  // An expired token is refreshed before the call instead of after a 401 (one round trip less).
  if (authed && (!state.token || state.expiresAt - Date.now() < 5_000)) await refreshAccessToken();
  let res = await send(method, path, body, opts);
  if (res.status === 401 && authed && opts.sessionOn401 !== false && (await isAboutOurToken(res))) {
    if (await refreshAccessToken()) res = await send(method, path, body, opts);
    if (res.status === 401 && (await isAboutOurToken(res))) {
      clearAccessToken();
      for (const fn of listeners) fn();
    }
  }
  if (!res.ok) throw new ApiError(await problemOf(res));
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export const get = <T>(path: string, opts?: CallOptions) => api<T>('GET', path, undefined, opts);
export const post = <T>(path: string, body?: unknown, opts?: CallOptions) => api<T>('POST', path, body ?? {}, opts);
export const patch = <T>(path: string, body: unknown, opts?: CallOptions) => api<T>('PATCH', path, body, opts);
export const del = <T>(path: string, opts?: CallOptions) => api<T>('DELETE', path, undefined, opts);

/** A query string from defined values only. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** The message to show for a failure (the problem's detail, or a field error). */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) {
    const field = err.problem.errors?.[0];
    if (field?.message) return field.field ? `${field.field}: ${field.message}` : field.message;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
