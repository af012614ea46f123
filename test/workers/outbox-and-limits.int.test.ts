/**
 * Without SMTP_URL mail goes to MAIL_OUTBOX_DIR as .eml files (the development default); the
 * e-mail commands carry the per-IP auth rate limit.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { signup } from '../helpers/auth';
import { startWorkers, type WorkersHandle } from '../../workers/index';

let app: FastifyInstance;
let close: () => Promise<void>;
let workers: WorkersHandle;
let outbox: string;

beforeAll(async () => {
  outbox = await fs.mkdtemp(path.join(os.tmpdir(), 'al-outbox-'));
  const t = await testApp('woutbox', { MAIL_OUTBOX_DIR: outbox, RATE_LIMIT_AUTH_PER_MINUTE: '3', CLEANUP_INTERVAL: '3600' });
  app = t.app;
  close = t.close;
  workers = await startWorkers(t.services, { consumer: { idleWaitMs: 100 } });
});
afterAll(async () => {
  await workers?.stop();
  await close?.();
  await fs.rm(outbox, { recursive: true, force: true });
});

describe('outbox', () => {
  it('writes each mail as an .eml file when SMTP_URL is not set', async () => {
    expect(workers.mailer.kind).toBe('outbox');
    const u = await signup(app);
    const deadline = Date.now() + 20_000;
    let files: string[] = [];
    while (Date.now() < deadline) {
      files = (await fs.readdir(outbox)).filter((f) => f.endsWith('.eml'));
      if (files.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(files).toHaveLength(1);
    const eml = await fs.readFile(path.join(outbox, files[0]!), 'utf8');
    expect(eml).toContain(`To: ${u.email}`);
    expect(eml).toContain('Subject: Confirm your e-mail address');
    expect(eml).toMatch(/Message-ID: <verification-[0-9a-f-]{36}@authledger>/);
  });
});

describe('rate limits', () => {
  it('RATE_LIMIT_AUTH_PER_MINUTE applies per IP to the e-mail commands', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: 'x@example.test' }, remoteAddress: '10.9.8.7' });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([202, 202, 202, 429]);
    const other = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: 'x@example.test' }, remoteAddress: '10.9.8.6' });
    expect(other.statusCode).toBe(202);
  });
});
