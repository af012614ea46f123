/**
 * Where social sign-in may send a browser back to. Rules enforced here (open-redirect defence):
 * - `redirect_to` is parsed as a URL (relative ones against PUBLIC_URL) and must match an
 *   allow-list entry by exact origin (scheme, host, port) and path prefix at a `/` boundary;
 * - no userinfo (`https://good@evil`), no backslashes or control characters, no protocol-relative
 *   tricks (`//evil`, `/\evil`), at most 2,000 characters;
 * - the allow-list defaults to PUBLIC_URL/console/ and PUBLIC_URL/.
 */
export const MAX_REDIRECT_LENGTH = 2000;

interface AllowEntry {
  origin: string;
  path: string;
}

function parseEntry(entry: string): AllowEntry {
  const u = new URL(entry);
  const path = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
  return { origin: u.origin, path };
}

export function redirectAllowlist(publicUrl: string, configured?: string): AllowEntry[] {
  const base = publicUrl.replace(/\/+$/, '');
  const entries = configured?.trim()
    ? configured.split(',').map((s) => s.trim()).filter(Boolean)
    : [`${base}/console/`, `${base}/`];
  return entries.map(parseEntry);
}

/** The normalised absolute URL when allowed, otherwise undefined. */
export function checkRedirect(redirectTo: string | undefined, publicUrl: string, allowlist: AllowEntry[]): string | undefined {
  if (redirectTo === undefined || redirectTo === '') return undefined;
  // eslint-disable-next-line no-control-regex
  if (redirectTo.length > MAX_REDIRECT_LENGTH || /[\\\u0000-\u001f\u007f]/.test(redirectTo)) return undefined;
  if (redirectTo.startsWith('//')) return undefined;
  let u: URL;
  try {
    u = new URL(redirectTo, `${publicUrl.replace(/\/+$/, '')}/`);
  } catch {
    return undefined;
  }
  if (u.username || u.password) return undefined;
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  const path = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
  const ok = allowlist.some((e) => e.origin === u.origin && path.startsWith(e.path));
  return ok ? u.href : undefined;
}
