/**
 * Browser tests (test/browser/*.e2e.test.ts, vitest project `browser`): Debian's Chromium
 * (/usr/bin/chromium, never a downloaded browser) driven by playwright-core against the real
 * server on a free port, on a private database and Redis prefix (testServices).
 *
 *   const b = useBrowser('console');           // beforeAll/afterAll/afterEach hooks of the file
 *   it('…', async () => { const page = await b.page(); await page.goto(b.url('/console/')); … });
 *
 * Rules kept here:
 * - headless, with the flags of RULES.md, and a fresh profile per launch (playwright-core gives
 *   every launch its own temporary --user-data-dir and removes it on close);
 * - a failing test saves a full-page screenshot of every open page to .ci/out/<file>-<test>.png;
 * - `expectAccessible(page)` injects axe-core and fails on any serious or critical violation;
 * - mail: the server writes .eml files to a temporary outbox; `b.mail(to, subject)` waits for one
 *   and `linkIn(mail, path)` finds the link in it;
 * - the console is built first when its sources are newer than the build (scripts/build-console.mjs).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { testServices, type TestServices } from '../helpers/app';
import { buildApp, roles } from '../../src/compose';
import { freePort, until, ROOT } from '../server/helpers';
import { ensureConsoleBuilt } from '../../scripts/build-console.mjs';

// Code passed to page.evaluate runs in the page; the server's typecheck has no DOM library.
declare const document: any, window: any;

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];
export const OUT_DIR = path.join(ROOT, '.ci', 'out');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

export interface ConsoleServer {
  base: string;
  port: number;
  app: FastifyInstance;
  services: TestServices;
  outbox: string;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Extra config (env names → values). */
  env?: Record<string, string>;
  /** Run the realtime hub too (on a free port, REALTIME_PORT). */
  realtime?: boolean;
}

/** The API (serving the console), the projector and the workers, as `npm start` runs them. */
export async function startConsoleServer(label: string, opts: ServerOptions = {}): Promise<ConsoleServer> {
  await ensureConsoleBuilt();
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const outbox = fs.mkdtempSync(path.join(os.tmpdir(), `al-${label}-outbox-`));
  const env: Record<string, string> = { PUBLIC_URL: base, MAIL_OUTBOX_DIR: outbox, CLEANUP_INTERVAL: '3600', ...opts.env };
  if (opts.realtime && !env.REALTIME_PORT) env.REALTIME_PORT = String(await freePort());
  const services = await testServices(label, env);
  const app = await buildApp(services);
  await app.listen({ host: '127.0.0.1', port });
  const projector = roles.startProjector(services);
  const workers = await roles.startWorkers(services, { consumer: { idleWaitMs: 100 } } as never);
  const hub = opts.realtime ? await roles.startRealtime(services) : undefined;
  return {
    base, port, app, services, outbox,
    async close() {
      await hub?.stop().catch(() => undefined);
      await workers.stop().catch(() => undefined);
      await projector.stop().catch(() => undefined);
      await app.close().catch(() => undefined);
      await services.close();
      fs.rmSync(outbox, { recursive: true, force: true });
    },
  };
}

export interface Mail {
  file: string;
  to: string;
  subject: string;
  /** The whole message with quoted-printable soft breaks and escapes undone (for finding links). */
  text: string;
}

const decodeQp = (s: string) => s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
const header = (raw: string, name: string) => {
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(raw);
  return m ? m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim() : '';
};

/** Every mail in the outbox so far. */
export function readOutbox(outbox: string): Mail[] {
  return fs.readdirSync(outbox).filter((f) => f.endsWith('.eml')).sort().map((f) => {
    const raw = fs.readFileSync(path.join(outbox, f), 'utf8');
    return { file: f, to: header(raw, 'To'), subject: header(raw, 'Subject'), text: decodeQp(raw) };
  });
}

/** The first link in a mail whose path contains `pathPart` (the fragment kept). */
export function linkIn(mail: Mail, pathPart: string): URL {
  const m = new RegExp(`https?://[^\\s"<>]*${pathPart.replace(/[/.]/g, '\\$&')}[^\\s"<>]*`).exec(mail.text);
  if (!m) throw new Error(`no ${pathPart} link in mail "${mail.subject}"`);
  return new URL(m[0].replace(/&amp;/g, '&'));
}

/** Fails on any axe-core violation of impact serious or critical on the page as it is now. */
export async function expectAccessible(page: Page, what = page.url()): Promise<void> {
  const source = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // evaluate, not a <script> tag: the page's CSP does not apply to what the test injects.
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: object): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `axe-core on ${what}: ${JSON.stringify(bad, null, 2)}`).toEqual([]);
}

export interface BrowserHarness {
  server(): ConsoleServer;
  browser(): Browser;
  /** `base + path`. */
  url(path: string): string;
  /** A new isolated context (its own cookies), remembered for failure screenshots. */
  context(options?: Parameters<Browser['newContext']>[0]): Promise<BrowserContext>;
  /** A page in the file's default context (one cookie jar for the whole file unless you make more). */
  page(): Promise<Page>;
  /** Waits for a mail to `to` whose subject contains `subject`. */
  mail(to: string, subject: string, timeoutMs?: number): Promise<Mail>;
  /** Saves a screenshot of `page` to `file` (docs screenshots: small PNGs). */
  shot(page: Page, file: string): Promise<void>;
}

/** Registers the file's hooks: one server and one browser for the file, closed after it. */
export function useBrowser(label: string, opts: ServerOptions = {}): BrowserHarness {
  let server: ConsoleServer | undefined;
  let browser: Browser | undefined;
  let defaultContext: BrowserContext | undefined;
  let defaultPage: Page | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [server, browser] = await Promise.all([startConsoleServer(label, opts), launchBrowser()]);
  }, 180_000);

  afterEach(async (ctx) => {
    const state = ctx.task.result?.state;
    if (state !== 'fail') return;
    fs.mkdirSync(OUT_DIR, { recursive: true });
    const name = `${label}-${ctx.task.name}`.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 120);
    let i = 0;
    for (const c of contexts) {
      for (const p of c.pages()) {
        const file = path.join(OUT_DIR, `${name}${i ? `-${i}` : ''}.png`);
        i++;
        await p.screenshot({ path: file, fullPage: true }).then(() => console.error(`screenshot of the failure: ${file}`), () => undefined);
      }
    }
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.close();
  }, 60_000);

  const harness: BrowserHarness = {
    server: () => server!,
    browser: () => browser!,
    url: (p) => `${server!.base}${p}`,
    async context(options) {
      const c = await browser!.newContext({ viewport: { width: 1280, height: 860 }, ...options });
      c.setDefaultTimeout(15_000);
      contexts.push(c);
      return c;
    },
    async page() {
      if (defaultPage && !defaultPage.isClosed()) return defaultPage;
      defaultContext ??= await harness.context();
      defaultPage = await defaultContext.newPage();
      return defaultPage;
    },
    mail: (to, subject, timeoutMs = 20_000) =>
      until(`a mail to ${to} about "${subject}"`, () => readOutbox(server!.outbox).find((m) => m.to.includes(to) && m.subject.includes(subject)), timeoutMs),
    async shot(page, file) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await page.screenshot({ path: file });
    },
  };
  return harness;
}

/** A fresh e-mail address for this run. */
export const uniqueEmail = (prefix = 'user') => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.test`;
