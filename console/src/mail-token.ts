/**
 * The token of a mailed link: it travels in the URL fragment (#token=…), which browsers never
 * send to a server, and is removed from the address bar (and history) as soon as it is read.
 */
let taken: string | null = null;

export function takeMailToken(): string {
  if (taken === null) {
    taken = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
    if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  }
  return taken;
}
