/**
 * Every screen of the console, in one table: its path (under /console), title, who may see it,
 * its component (lazy: each screen is its own chunk, so the first load stays small) and its nav
 * entry. To add a screen, add one line to `routes` (admin screens: pages/admin/*, realtime:
 * pages/realtime/*, MFA: pages/mfa/*). The router, the access guard and the nav read this table.
 *
 * access: 'public' anyone; 'guest' only signed out (sign-in, sign-up: a signed-in user is sent
 * on); 'user' signed in; 'admin' signed in with the admin role (the API checks it again).
 */
import type { AnyComponent } from 'preact';
import { lazy } from 'preact-iso';

export const BASE = '/console';

export type Access = 'public' | 'guest' | 'user' | 'admin';
export type NavSection = 'me' | 'admin';

export interface RouteDef {
  path: string;
  title: string;
  access: Access;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  component: AnyComponent<any>;
  nav?: { label: string; section: NavSection };
}

/** `/console` + a route path (`to('/sign-in')`). */
export const to = (path: string) => `${BASE}${path === '/' ? '/' : path}`;

export const routes: RouteDef[] = [
  // Signed out
  { path: '/sign-in', title: 'Sign in', access: 'guest', component: lazy(() => import('./pages/sign-in')) },
  { path: '/sign-up', title: 'Create an account', access: 'guest', component: lazy(() => import('./pages/sign-up')) },
  { path: '/forgot-password', title: 'Forgot password', access: 'public', component: lazy(() => import('./pages/forgot-password')) },
  { path: '/verify-email', title: 'Confirm your e-mail address', access: 'public', component: lazy(() => import('./pages/verify-email')) },
  { path: '/reset-password', title: 'Choose a new password', access: 'public', component: lazy(() => import('./pages/reset-password')) },
  // Me
  { path: '/', title: 'Home', access: 'user', component: lazy(() => import('./pages/home')) },
  { path: '/account', title: 'Account', access: 'user', component: lazy(() => import('./pages/account')), nav: { label: 'Account', section: 'me' } },
  { path: '/sessions', title: 'Sessions', access: 'user', component: lazy(() => import('./pages/sessions')), nav: { label: 'Sessions', section: 'me' } },
  { path: '/api-keys', title: 'API keys', access: 'user', component: lazy(() => import('./pages/api-keys')), nav: { label: 'API keys', section: 'me' } },
  { path: '/features', title: 'Features', access: 'user', component: lazy(() => import('./pages/features')), nav: { label: 'Features', section: 'me' } },
  { path: '/history', title: 'My history', access: 'user', component: lazy(() => import('./pages/history')), nav: { label: 'My history', section: 'me' } },
  // MFA (pages/mfa/*)
  { path: '/mfa/sign-in', title: 'Sign in with a second factor', access: 'guest', component: lazy(() => import('./pages/mfa/sign-in')) },
  { path: '/mfa', title: 'Second factors', access: 'user', component: lazy(() => import('./pages/mfa/security')), nav: { label: 'Second factors', section: 'me' } },
  // Admin (pages/admin/*, pages/realtime/*)
  { path: '/realtime', title: 'Realtime', access: 'user', component: lazy(() => import('./pages/realtime/index')), nav: { label: 'Realtime', section: 'me' } },
  { path: '/admin/users', title: 'Users', access: 'admin', component: lazy(() => import('./pages/admin/users')), nav: { label: 'Users', section: 'admin' } },
  { path: '/admin/features', title: 'Manage features', access: 'admin', component: lazy(() => import('./pages/admin/features')), nav: { label: 'Features', section: 'admin' } },
  { path: '/admin/events', title: 'Event search', access: 'admin', component: lazy(() => import('./pages/admin/events')), nav: { label: 'Event search', section: 'admin' } },
  { path: '/admin/live', title: 'Live audit feed', access: 'admin', component: lazy(() => import('./pages/admin/live')), nav: { label: 'Live audit feed', section: 'admin' } },
  { path: '/admin/projections', title: 'Projections and queues', access: 'admin', component: lazy(() => import('./pages/admin/projections')), nav: { label: 'Projections and queues', section: 'admin' } },
  { path: '/admin/services', title: 'Gateway services', access: 'admin', component: lazy(() => import('./pages/admin/services')), nav: { label: 'Gateway services', section: 'admin' } },
  { path: '/admin/files', title: 'Uploaded files', access: 'admin', component: lazy(() => import('./pages/admin/files')), nav: { label: 'Uploaded files', section: 'admin' } },
  { path: '/admin/read-models', title: 'Read-model browser', access: 'admin', component: lazy(() => import('./pages/admin/read-models')), nav: { label: 'Read-model browser', section: 'admin' } },
];
