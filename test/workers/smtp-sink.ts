/**
 * A real SMTP server for tests (the `smtp-server` package) that records what it accepts.
 * A message counts as delivered only when the server answered 250 to its DATA, as a real MTA
 * commits it. `holdNext()` makes the server sit on the next message before answering, so a test
 * can kill the sender mid-delivery; a held message whose connection closes is dropped.
 */
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  subject: string;
  messageId: string;
  raw: string;
  /** Body with quoted-printable soft breaks and escapes undone (for finding links). */
  text: string;
}

function decodeQp(s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function header(raw: string, name: string): string {
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(raw);
  return m ? m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim() : '';
}

export interface SmtpSink {
  url: string;
  port: number;
  mails: ReceivedMail[];
  /** Messages dropped because their sender vanished before the 250. */
  aborted: number;
  holdNext(): Promise<void>;
  release(): void;
  waitFor(pred: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export async function startSmtpSink(listenPort = 0): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const waiters: { pred: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }[] = [];
  let holdRequested: (() => void) | undefined;
  let held: { sessionId: string; finish: (ok: boolean) => void } | undefined;
  const sink = { aborted: 0 } as SmtpSink;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const accept = () => {
          const mail: ReceivedMail = {
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: header(raw, 'Subject'),
            messageId: header(raw, 'Message-ID'),
            raw,
            text: decodeQp(raw),
          };
          mails.push(mail);
          for (const w of [...waiters]) {
            if (w.pred(mail)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(mail);
            }
          }
          callback();
        };
        if (holdRequested) {
          const notify = holdRequested;
          holdRequested = undefined;
          held = {
            sessionId: session.id,
            finish: (ok) => {
              held = undefined;
              if (ok) accept();
              else sink.aborted++;
            },
          };
          notify();
          return;
        }
        accept();
      });
    },
    onClose(session) {
      if (held && held.sessionId === session.id) held.finish(false);
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;

  return Object.assign(sink, {
    url: `smtp://127.0.0.1:${port}`,
    port,
    mails,
    holdNext: () => new Promise<void>((resolve) => (holdRequested = resolve)),
    release: () => held?.finish(true),
    waitFor(pred: (m: ReceivedMail) => boolean, timeoutMs = 20_000) {
      const found = mails.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const w = { pred, resolve: (m: ReceivedMail) => { clearTimeout(t); resolve(m); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching mail within ${timeoutMs} ms (got ${mails.length}: ${mails.map((m) => m.subject).join(', ')})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** The link in a mail's text part that starts with `base`. */
export function linkIn(mail: ReceivedMail, pathPart: string): URL {
  const m = new RegExp(`https?://[^\\s"<>]*${pathPart.replace(/[/.]/g, '\\$&')}[^\\s"<>]*`).exec(mail.text);
  if (!m) throw new Error(`no ${pathPart} link in mail "${mail.subject}"`);
  return new URL(m[0]);
}
