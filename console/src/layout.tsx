/**
 * The frame around every screen: a skip link, the header (brand, the signed-in user, sign out),
 * the nav built from routes.tsx (entries the user may see), and the main region. On a phone the
 * nav folds behind a Menu button (aria-expanded); it closes after a choice.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { routes, to, type NavSection } from './routes';
import { isAdmin, signOut, useSession } from './session';

const SECTIONS: Array<{ id: NavSection; label: string }> = [
  { id: 'me', label: 'My account' },
  { id: 'admin', label: 'Administration' },
];

export function Layout({ children }: { children: ComponentChildren }) {
  const s = useSession();
  const { path, route } = useLocation();
  const [open, setOpen] = useState(false);
  const signedIn = s.status === 'signed-in';
  const admin = isAdmin(s.user);
  const visible = routes.filter((r) => r.nav && (r.access === 'admin' ? admin : r.access === 'user' ? signedIn : true));

  const doSignOut = async () => {
    await signOut('You are signed out.');
    route(to('/sign-in'));
  };

  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      <header class="topbar">
        <a class="brand" href={to('/')}>authledger</a>
        {signedIn && (
          <button type="button" class="menu-toggle secondary" aria-expanded={open} aria-controls="nav" onClick={() => setOpen(!open)}>
            Menu
          </button>
        )}
        <div class="topbar-right">
          <a href="/redoc" class="quiet">API docs</a>
          {signedIn && s.user && (
            <>
              <span class="who" title={s.user.email}>{s.user.name || s.user.email}</span>
              <button type="button" class="secondary" onClick={doSignOut}>Sign out</button>
            </>
          )}
        </div>
      </header>
      <div class="body">
        {signedIn && (
          <nav id="nav" class={open ? 'nav open' : 'nav'} aria-label="Console">
            {SECTIONS.map((sec) => {
              const items = visible.filter((r) => r.nav!.section === sec.id);
              if (!items.length) return null;
              return (
                <div class="nav-section" key={sec.id}>
                  <h2 class="nav-title">{sec.label}</h2>
                  <ul>
                    {items.map((r) => {
                      const href = to(r.path);
                      const here = path === href || path.startsWith(`${href}/`);
                      return (
                        <li key={r.path}>
                          <a href={href} aria-current={here ? 'page' : undefined} onClick={() => setOpen(false)}>{r.nav!.label}</a>
                        </li>
                      );
                    })}
                  </ul>
                </div>
              );
            })}
          </nav>
        )}
        <main id="main" tabIndex={-1}>{children}</main>
      </div>
    </div>
  );
}
