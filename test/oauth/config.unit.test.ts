/** Provider configuration (OAUTH_* keys), the provider list, and the redirect allow-list. */
import { describe, expect, it } from 'vitest';
import { OAuthConfigError, callbackUrl, configuredProviders, namedOidcKeyDocs, oauthConfigShape, publicProviderList } from '../../src/commands/oauth/providers';
import { checkRedirect, redirectAllowlist } from '../../src/commands/oauth/redirects';

const issues = (env: Record<string, string>) => {
  try {
    configuredProviders(env);
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthConfigError);
    return (err as OAuthConfigError).issues.join('\n');
  }
  return '';
};

describe('provider configuration', () => {
  it('every key is described (it joins the generated config table)', () => {
    for (const [k, s] of Object.entries(oauthConfigShape)) expect((s as { description?: string }).description, k).toBeTruthy();
    for (const d of namedOidcKeyDocs) expect(d.description, d.name).toBeTruthy();
    expect(Object.keys(oauthConfigShape)).toEqual(expect.arrayContaining([
      'OAUTH_GOOGLE_CLIENT_ID', 'OAUTH_GOOGLE_ISSUER', 'OAUTH_KAKAO_ISSUER', 'OAUTH_KAKAO_USERINFO_URL', 'OAUTH_GITHUB_EMAILS_URL',
      'OAUTH_FACEBOOK_TOKEN_URL', 'OAUTH_NAVER_AUTHORIZATION_URL', 'OAUTH_OIDC_ISSUER', 'OAUTH_REDIRECT_ALLOWLIST', 'OAUTH_ERROR_REDIRECT',
    ]));
  });

  it('nothing configured: no providers; a provider is on when its client id is set, with the real endpoints by default', () => {
    expect(configuredProviders({})).toEqual([]);
    const [gh] = configuredProviders({ OAUTH_GITHUB_CLIENT_ID: 'id', OAUTH_GITHUB_CLIENT_SECRET: 's' });
    expect(gh).toMatchObject({ name: 'github', kind: 'oauth2', tokenUrl: 'https://github.com/login/oauth/access_token', emailsUrl: 'https://api.github.com/user/emails', scopes: ['read:user', 'user:email'], pkce: true });
    const [g] = configuredProviders({ OAUTH_GOOGLE_CLIENT_ID: 'id', OAUTH_GOOGLE_CLIENT_SECRET: 's' });
    expect(g).toMatchObject({ name: 'google', kind: 'oidc', issuer: 'https://accounts.google.com' });
    const [n] = configuredProviders({ OAUTH_NAVER_CLIENT_ID: 'id', OAUTH_NAVER_CLIENT_SECRET: 's' });
    expect(n).toMatchObject({ pkce: false, scopes: [] });
  });

  it('kakao turns OIDC when its scopes include openid', () => {
    const base = { OAUTH_KAKAO_CLIENT_ID: 'id', OAUTH_KAKAO_CLIENT_SECRET: 's' };
    expect(configuredProviders(base)[0]!.kind).toBe('oauth2');
    expect(configuredProviders({ ...base, OAUTH_KAKAO_SCOPES: 'openid account_email' })[0]).toMatchObject({ kind: 'oidc', issuer: 'https://kauth.kakao.com' });
  });

  it('lists providers for GET /oauth/providers', () => {
    const env = { OAUTH_KAKAO_CLIENT_ID: 'k', OAUTH_KAKAO_CLIENT_SECRET: 's', OAUTH_OIDC_CLIENT_ID: 'o', OAUTH_OIDC_ISSUER: 'https://idp.example.test', OAUTH_OIDC_DISPLAY_NAME: 'Company SSO' };
    expect(publicProviderList(configuredProviders(env))).toEqual([
      { name: 'kakao', display_name: 'Kakao', kind: 'oauth2' },
      { name: 'oidc', display_name: 'Company SSO', kind: 'oidc' },
    ]);
  });

  it('refuses half or unsafe configurations, naming each key', () => {
    expect(issues({ OAUTH_GITHUB_CLIENT_ID: 'id' })).toContain('OAUTH_GITHUB_CLIENT_SECRET');
    expect(issues({ OAUTH_OIDC_CLIENT_ID: 'id' })).toContain('OAUTH_OIDC_ISSUER');
    expect(issues({ OAUTH_GITHUB_CLIENT_ID: 'id', OAUTH_GITHUB_CLIENT_SECRET: 's', OAUTH_GITHUB_TOKEN_URL: 'http://github.example.test/token' })).toContain('OAUTH_GITHUB_TOKEN_URL: must be https');
    expect(issues({ OAUTH_GITHUB_CLIENT_ID: 'id', OAUTH_GITHUB_CLIENT_SECRET: 's', OAUTH_GITHUB_TOKEN_URL: 'https://u:p@github.example.test/token' })).toContain('credentials');
    expect(issues({ OAUTH_GITHUB_CLIENT_ID: 'id', OAUTH_GITHUB_CLIENT_SECRET: 's', OAUTH_GITHUB_TOKEN_URL: 'not a url' })).toContain('OAUTH_GITHUB_TOKEN_URL');
    expect(issues({ OAUTH_OIDC_ACME_ISSUER: 'https://acme.example.test' })).toContain('OAUTH_OIDC_ACME_CLIENT_ID');
    expect(issues({ OAUTH_OIDC_ACME_ISSUER: 'http://acme.example.test', OAUTH_OIDC_ACME_CLIENT_ID: 'x' })).toContain('must be https');
    expect(issues({ OAUTH_OIDC_TRUST_EMAIL: 'maybe' })).toContain('OAUTH_OIDC_TRUST_EMAIL');
    // Loopback http is fine (development, tests).
    expect(issues({ OAUTH_GITHUB_CLIENT_ID: 'id', OAUTH_GITHUB_CLIENT_SECRET: 's', OAUTH_GITHUB_TOKEN_URL: 'http://127.0.0.1:9/token' })).toBe('');
  });

  it('callback URLs are {PUBLIC_URL}/api/v1/auth/oauth/{provider}/callback', () => {
    expect(callbackUrl('https://auth.example.com/', 'oidc-acme')).toBe('https://auth.example.com/api/v1/auth/oauth/oidc-acme/callback');
  });
});

describe('redirect_to allow-list (open redirect)', () => {
  const pub = 'https://auth.example.com';
  const def = redirectAllowlist(pub);
  const custom = redirectAllowlist(pub, 'https://app.example.com/after-login, https://admin.example.com/');

  it('allows the console and PUBLIC_URL by default, and relative paths on them', () => {
    expect(checkRedirect('https://auth.example.com/console/users', pub, def)).toBe('https://auth.example.com/console/users');
    expect(checkRedirect('/console/', pub, def)).toBe('https://auth.example.com/console/');
    expect(checkRedirect('https://auth.example.com/', pub, def)).toBe('https://auth.example.com/');
  });

  it('matches exact origin and path prefix at a segment boundary', () => {
    expect(checkRedirect('https://app.example.com/after-login/x?y=1', pub, custom)).toBe('https://app.example.com/after-login/x?y=1');
    expect(checkRedirect('https://app.example.com/after-login', pub, custom)).toBe('https://app.example.com/after-login');
    expect(checkRedirect('https://app.example.com/after-login-evil', pub, custom)).toBeUndefined();
    expect(checkRedirect('https://app.example.com/', pub, custom)).toBeUndefined();
  });

  it('refuses the open-redirect family', () => {
    const hostile = [
      'https://evil.example', '//evil.example/console/', '/\\evil.example', '\\\\evil.example', 'https://auth.example.com@evil.example/console/',
      'https://evil.example@auth.example.com/console/', 'http://auth.example.com/console/', 'https://auth.example.com:8443/console/',
      'https://auth.example.com.evil.example/console/', 'javascript:alert(1)', 'data:text/html,x', 'https://AUTH.example.com\u0000.evil/',
      'https://auth.example.com/console/\r\nSet-Cookie: x', `https://auth.example.com/console/${'a'.repeat(3000)}`, '/%2F%2Fevil.example',
    ];
    for (const h of hostile) {
      const r = checkRedirect(h, pub, custom);
      if (r !== undefined) expect(new URL(r).origin, h).toBe('https://app.example.com');
      expect(checkRedirect(h, pub, redirectAllowlist(pub, 'https://app.example.com/after-login'))?.startsWith('https://app.example.com/after-login') ?? true, h).toBe(true);
    }
    for (const h of hostile.slice(0, 14)) expect(checkRedirect(h, pub, def), h).toBeUndefined();
  });
});
