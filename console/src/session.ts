/**
 * Who is signed in, for every screen: the user from GET /api/v1/auth/me, kept in memory.
 * `useSession()` re-renders on change. Signing in stores the access token in the api module
 * (memory only); a reload restores the session from the refresh cookie (`restore()`).
 */
import { useEffect, useState } from 'preact/hooks';
import { clearAccessToken, get, onSignedOut, post, refreshAccessToken, setAccessToken } from './api';

export interface Me {
  id: string;
  email: string;
  name: string;
  roles: string[];
  email_verified: boolean;
  created_at: string;
}

export interface SessionState {
  /** 'loading' until the first restore attempt answered. */
  status: 'loading' | 'signed-in' | 'signed-out';
  user: Me | null;
  /** Why we are signed out when it was not the user's choice (shown on the sign-in page). */
  notice?: string;
}

let current: SessionState = { status: 'loading', user: null };
const subscribers = new Set<(s: SessionState) => void>();

function set(next: SessionState) {
  current = next;
  for (const fn of subscribers) fn(current);
}

export const session = () => current;

export function useSession(): SessionState {
  const [s, setS] = useState(current);
  useEffect(() => {
    subscribers.add(setS);
    setS(current);
    return () => void subscribers.delete(setS);
  }, []);
  return s;
}

export const isAdmin = (u: Me | null) => !!u && u.roles.includes('admin');

/** Reloads the user (after a profile change). */
export async function reloadMe(): Promise<Me> {
  const user = await get<Me>('/api/v1/auth/me');
  set({ status: 'signed-in', user });
  return user;
}

/** On start: a refresh cookie that still works signs us back in. */
export async function restore(): Promise<void> {
  if (await refreshAccessToken()) {
    try {
      await reloadMe();
      return;
    } catch {
      clearAccessToken();
    }
  }
  set({ status: 'signed-out', user: null });
}

export interface LoginAnswer {
  access_token: string;
  expires_in: number;
  session_id: string;
  user: Omit<Me, 'created_at'>;
}

/** After a successful login (password, or a step such as MFA that ends with tokens). */
export async function signedIn(answer: Pick<LoginAnswer, 'access_token' | 'expires_in' | 'session_id'>): Promise<Me> {
  setAccessToken(answer.access_token, answer.expires_in, answer.session_id);
  return reloadMe();
}

/** POST /api/v1/auth/login with a password. Returns the raw answer so callers can branch (MFA). */
export async function signInWithPassword(email: string, password: string): Promise<LoginAnswer> {
  return post<LoginAnswer>('/api/v1/auth/login', { email, password, device_name: deviceName() }, { auth: false });
}

export async function signOut(notice?: string): Promise<void> {
  await post('/api/v1/auth/logout', {}).catch(() => undefined);
  clearAccessToken();
  set({ status: 'signed-out', user: null, notice });
}

/** The session ended elsewhere (revoked, password reset, disabled): back to sign-in with a notice. */
export function sessionEnded(notice = 'Your session has ended. Please sign in again.'): void {
  clearAccessToken();
  if (current.status !== 'signed-out') set({ status: 'signed-out', user: null, notice });
}

onSignedOut(() => sessionEnded());

function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return `${browser}${os ? ` on ${os}` : ''} (console)`;
}
