/**
 * The console is served by the API (issue 16): index fallback under /console/, hashed assets with
 * long caching, GET / redirects browsers only, /redoc loads its script from here (no CDN), and the
 * mailed links' old URLs lead to the console's landing pages with the fragment kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { consoleDir } from '../../src/http/console';
import { ensureConsoleBuilt } from '../../scripts/build-console.mjs';

let t: Awaited<ReturnType<typeof testApp>>;

beforeAll(async () => {
  await ensureConsoleBuilt();
  t = await testApp('console');
}, 120_000);
afterAll(async () => t?.close());

describe('console serving', () => {
  it('serves index.html at /console/ and at any deeper path (the SPA router picks the screen)', async () => {
    for (const url of ['/console/', '/console', '/console/sign-in', '/console/history?at=2026-01-01T00:00:00Z']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toContain('<div id="app">');
      expect(res.body).not.toMatch(/https?:\/\/(?!localhost)/); // no CDN
    }
  });

  it('serves the hashed assets the index names, cached for a year', async () => {
    const html = (await t.app.inject({ method: 'GET', url: '/console/' })).body;
    const srcs = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBeGreaterThan(0);
    for (const src of srcs) {
      const res = await t.app.inject({ method: 'GET', url: src });
      expect(res.statusCode, src).toBe(200);
      expect(res.headers['cache-control']).toContain('immutable');
    }
    const missing = await t.app.inject({ method: 'GET', url: '/console/assets/nope-123.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
  });

  it('the first load (entry script, its static imports, the stylesheet) is under 200 KB gzipped, and sent compressed', async () => {
    const html = (await t.app.inject({ method: 'GET', url: '/console/' })).body;
    // What the browser fetches before the first screen: the module entry, its modulepreloads, the CSS.
    const initial = [...html.matchAll(/<(?:script[^>]*src|link[^>]*href)="(\/console\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(initial.some((u) => u.endsWith('.js'))).toBe(true);
    let gz = 0;
    let raw = 0;
    for (const url of initial) {
      const res = await t.app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
      expect(res.headers['content-encoding'], url).toBe('gzip');
      gz += res.rawPayload.length;
      raw += fs.statSync(path.join(consoleDir(), url.replace('/console/', ''))).size;
    }
    console.log(`console first load: ${initial.length} files, ${(raw / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped`);
    expect(gz).toBeLessThan(200 * 1024);
    const br = await t.app.inject({ method: 'GET', url: initial[0]!, headers: { 'accept-encoding': 'br, gzip' } });
    expect(br.headers['content-encoding']).toBe('br');
  });

  it('GET / redirects a browser to /console/ and keeps the JSON answer for API clients', async () => {
    const browser = await t.app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(browser.statusCode).toBe(302);
    expect(browser.headers.location).toBe('/console/');
    for (const accept of [undefined, 'application/json', '*/*', 'application/json, text/html']) {
      const res = await t.app.inject({ method: 'GET', url: '/', headers: accept ? { accept } : {} });
      expect(res.statusCode, String(accept)).toBe(200);
      expect(res.json().status).toBe('ready');
    }
  });

  it('/redoc uses the redoc package bundle served here', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/redoc' });
    expect(page.body).toContain('<script src="/redoc/redoc.standalone.js">');
    expect(page.body).not.toContain('cdn.');
    const js = await t.app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' });
    expect(js.statusCode).toBe(200);
    expect(js.body.length).toBeGreaterThan(100_000);
    const other = await t.app.inject({ method: 'GET', url: '/redoc/redoc.lib.js' });
    expect(other.statusCode).toBe(404);
  });

  it('finds the build in dist/console', () => {
    expect(fs.existsSync(path.join(consoleDir(), '.build-stamp'))).toBe(true);
  });
});
