/** The outbox mailer (no SMTP_URL): its directory is made once, and again when it has gone. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../workers/mail/mailer';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'al-outbox-mailer-'));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

const mail = (n: number) => ({ to: `u${n}@example.com`, subject: `Mail ${n}`, text: `text ${n}`, html: `<p>html ${n}</p>`, messageId: `<m-${n}@authledger>` });
const emls = async (dir: string) => (await fs.readdir(dir)).filter((f) => f.endsWith('.eml')).sort();

describe('outbox mailer', () => {
  it('makes a missing directory (nested), makes it again after it was removed, and leaves no temporary file', async () => {
    const dir = path.join(root, 'a', 'b', 'outbox');
    const mailer = createMailer({ SMTP_URL: undefined, MAIL_FROM: 'authledger <no-reply@example.com>', MAIL_OUTBOX_DIR: dir, WORKER_LOCK_DURATION_MS: 30_000 } as never, pino({ level: 'silent' }));
    expect(mailer.kind).toBe('outbox');
    await mailer.send(mail(1));
    await mailer.send(mail(2));
    expect(await emls(dir)).toHaveLength(2);
    await fs.rm(path.join(root, 'a'), { recursive: true });
    const out = await mailer.send(mail(3));
    const files = await fs.readdir(dir);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(files).toHaveLength(1);
    expect(out.response).toBe(`outbox ${path.join(dir, files[0]!)}`);
    const eml = await fs.readFile(path.join(dir, files[0]!), 'utf8');
    expect(eml).toContain('To: u3@example.com');
    expect(eml).toContain('Subject: Mail 3');
    expect((await fs.stat(path.join(dir, files[0]!))).mode & 0o777).toBe(0o600);
  });
});
