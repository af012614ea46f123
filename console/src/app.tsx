/**
 * The router and the access guard. Routes come from routes.tsx; a guarded screen waits for the
 * session restore, sends a signed-out visitor to sign-in (with ?next= to come back) and a
 * signed-in one away from guest-only screens.
 */
import { ErrorBoundary, LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { useEffect } from 'preact/hooks';
import { Layout } from './layout';
import { routes, to, type RouteDef, BASE } from './routes';
import { isAdmin, useSession } from './session';
import { Page, Spinner } from './ui';

/** A same-console path from ?next= (never another origin: an open redirect otherwise). */
export function safeNext(next: string | undefined): string {
  return next && next.startsWith(`${BASE}/`) && !next.startsWith('//') && !next.includes('\\') ? next : to('/');
}

function Guarded({ def, ...props }: { def: RouteDef } & Record<string, unknown>) {
  const s = useSession();
  const loc = useLocation();
  const signedIn = s.status === 'signed-in';
  const needsUser = def.access === 'user' || def.access === 'admin';
  const redirect = s.status === 'loading' ? null
    : needsUser && !signedIn ? `${to('/sign-in')}?next=${encodeURIComponent(loc.url)}`
      : def.access === 'guest' && signedIn ? safeNext(loc.query.next)
        : null;
  useEffect(() => {
    if (redirect) loc.route(redirect, true);
  }, [redirect]);
  if (s.status === 'loading' && def.access !== 'public') return <Spinner />;
  if (redirect) return null;
  if (def.access === 'admin' && !isAdmin(s.user)) {
    return <Page title="Not allowed"><p>This screen is for administrators.</p></Page>;
  }
  const C = def.component;
  return <C {...props} />;
}

function NotFound() {
  return (
    <Page title="Page not found">
      <p>There is no console page here. <a href={to('/')}>Go to the start page</a>.</p>
    </Page>
  );
}

export function App() {
  return (
    <LocationProvider scope={BASE}>
      <Layout>
        <ErrorBoundary>
          <Router>
            {[
              ...routes.map((r) => <Route key={r.path} path={to(r.path)} component={Guarded} def={r} />),
              <Route key="index" path={BASE} component={Guarded} def={routes.find((r) => r.path === '/')!} />,
              <Route key="404" default component={NotFound} />,
            ]}
          </Router>
        </ErrorBoundary>
      </Layout>
    </LocationProvider>
  );
}
