/**
 * A real OpenID provider (`oidc-provider` from npm) on a free 127.0.0.1 port, used as the Google
 * issuer and as generic `oidc` issuers, and a browser stand-in that drives its development
 * login/consent forms over HTTP with a cookie jar (authorize → login → consent → our callback).
 *
 *   const op = await startOidcIssuer({ clients: [{ clientId, clientSecret, redirectUris }], accounts: { alice: {...} } });
 *   const callback = await new Browser().signIn(authorizeUrl, { login: 'alice', redirectUri });
 *
 * Logins are the account ids (the dev form accepts any password); an unknown login gets an
 * account with no e-mail.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';


export interface IssuerAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
  picture?: string;
}

export interface IssuerClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  authMethod?: 'client_secret_basic' | 'client_secret_post';
}

export interface OidcIssuer {
  url: string;
  provider: Provider;
  accounts: Record<string, IssuerAccount>;
  /** OAUTH_<prefix>_* for this issuer and one of its clients. */
  env(prefix: string, client: IssuerClient, extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** `server`: one already listening on 127.0.0.1 (when the issuer's URL must be known before its clients are). */
export async function startOidcIssuer(options: { clients: IssuerClient[]; accounts: Record<string, IssuerAccount>; idTokenTtlSeconds?: number; accessTokenTtlSeconds?: number; server?: http.Server }): Promise<OidcIssuer> {
  const server = options.server ?? http.createServer();
  if (!options.server) await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = options.accounts;
  const provider = new Provider(url, {
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.authMethod ?? 'client_secret_basic',
    })),
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...(accounts[id] ?? {}) };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['oidc-issuer-test-cookie-key'] },
    ttl: { IdToken: options.idTokenTtlSeconds ?? 3600, AccessToken: options.accessTokenTtlSeconds ?? 3600, AuthorizationCode: 60, RefreshToken: 86400, Interaction: 600, Session: 3600, Grant: 86400 },
    // Rotate refresh tokens on use (RFC 9700 §4.14.2), so a replayed one is refused.
    rotateRefreshToken: true,
  });
  // Its own logger chatters about the development defaults; the tests know.
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err));
  server.on('request', provider.callback());

  return {
    url,
    provider,
    accounts,
    env(prefix, client, extra = {}) {
      return { [`OAUTH_${prefix}_ISSUER`]: url, [`OAUTH_${prefix}_CLIENT_ID`]: client.clientId, [`OAUTH_${prefix}_CLIENT_SECRET`]: client.clientSecret, ...extra };
    },
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };
}

/** A cookie jar per origin, enough for the provider's interaction and session cookies. */
export class Browser {
  private readonly jar = new Map<string, Map<string, string>>();

  private cookieHeader(u: URL): string {
    const c = this.jar.get(u.origin);
    return c ? [...c.entries()].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  private store(u: URL, res: Response) {
    const c = this.jar.get(u.origin) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || attrs.some((a) => /^\s*max-age=0/i.test(a));
      if (expired || value === '') c.delete(name);
      else c.set(name, value);
    }
    this.jar.set(u.origin, c);
  }

  async request(url: URL, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { cookie: this.cookieHeader(url), 'user-agent': 'authledger-test-browser' };
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? 'GET', headers, body, redirect: 'manual' });
    this.store(url, res);
    return res;
  }

  /**
   * Follows the provider's redirects and fills its dev forms until it redirects to `redirectUri`;
   * returns that callback URL (not fetched). `deny` aborts at the first form (consent refused).
   */
  async signIn(authorizeUrl: string, opts: { login: string; redirectUri: string; deny?: boolean }): Promise<URL> {
    let url = new URL(authorizeUrl);
    let res = await this.request(url);
    for (let step = 0; step < 20; step++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location')!, url);
        if (`${next.origin}${next.pathname}` === opts.redirectUri) return next;
        url = next;
        res = await this.request(url);
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`provider answered ${res.status}: ${html.slice(0, 300)}`);
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`no interaction form: ${html.slice(0, 300)}`);
      const target = new URL(action, url);
      if (opts.deny) {
        const abort = /href="([^"]+\/abort)"/.exec(html)?.[1];
        if (!abort) throw new Error('no abort link on the interaction page');
        url = new URL(abort.replace(/&amp;/g, '&'), url);
        res = await this.request(url);
        continue;
      }
      url = target;
      res = await this.request(target, { method: 'POST', form: prompt === 'login' ? { prompt, login: opts.login, password: 'any' } : { prompt } });
    }
    throw new Error('too many redirects');
  }
}
