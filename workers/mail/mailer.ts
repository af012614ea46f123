/**
 * Outgoing mail: nodemailer over SMTP_URL, or (no SMTP configured: the development default)
 * `.eml` files in MAIL_OUTBOX_DIR plus a log line.
 * Rules: the log line names the recipient, subject and file, never the body (it holds tokens);
 * SMTP timeouts stay well under the job lock, so a hung server fails the attempt instead of
 * stalling the job.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { Config } from '../../src/config';
import type { RenderedMail } from './templates';

export interface OutgoingMail extends RenderedMail {
  to: string;
  /** Stable per logical mail (derived from the idempotency key), so receivers can dedupe. */
  messageId: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(mail: OutgoingMail): Promise<{ response: string }>;
  close(): void;
}

export function createMailer(config: Pick<Config, 'SMTP_URL' | 'MAIL_FROM' | 'MAIL_OUTBOX_DIR' | 'WORKER_LOCK_DURATION_MS'>, log: Logger): Mailer {
  const from = config.MAIL_FROM;
  if (config.SMTP_URL) {
    const timeout = Math.max(2000, Math.floor(config.WORKER_LOCK_DURATION_MS / 2));
    const transport = nodemailer.createTransport({
      url: config.SMTP_URL,
      pool: true,
      maxConnections: 5,
      connectionTimeout: Math.min(10_000, timeout),
      greetingTimeout: Math.min(10_000, timeout),
      socketTimeout: timeout,
    });
    return {
      kind: 'smtp',
      async send(mail) {
        const info = await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId });
        return { response: String(info.response ?? '') };
      },
      close: () => transport.close(),
    };
  }
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  // The directory is made when a write finds it missing (the first mail, or after it was removed),
  // not before every mail.
  const writeNew = async (file: string, data: Buffer) => {
    try {
      await fs.writeFile(file, data, { mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(config.MAIL_OUTBOX_DIR, { recursive: true });
      await fs.writeFile(file, data, { mode: 0o600 });
    }
  };
  return {
    kind: 'outbox',
    async send(mail) {
      const info = await builder.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId });
      const safeId = mail.messageId.replace(/[^A-Za-z0-9._-]/g, '_');
      const file = path.join(config.MAIL_OUTBOX_DIR, `${new Date().toISOString().replace(/[:.]/g, '-')}_${safeId}.eml`);
      // Written under a temporary name and renamed, so a reader never sees half a file.
      await writeNew(`${file}.tmp`, info.message as Buffer);
      await fs.rename(`${file}.tmp`, file);
      log.info({ to: mail.to, subject: mail.subject, file }, 'mail written to outbox (SMTP_URL not set)');
      return { response: `outbox ${file}` };
    },
    close: () => undefined,
  };
}
