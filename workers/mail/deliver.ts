/**
 * Sends each logical mail at most once per idempotency key, on top of at-least-once jobs.
 * Protocol (Redis key `<prefix>mail:sent:<key>`):
 * 1. SET key "sending:<owner>" NX PX <claim ttl>: claim the mail; if the key says "sent", the
 *    mail went out already (an earlier attempt or a duplicate job): done; if another live attempt
 *    holds the claim, throw (the job retries later);
 * 2. send over SMTP (or to the outbox);
 * 3. SET key "sent" EX 30 days.
 * On a send error the claim is released (compare-and-delete) and the job retries with backoff.
 * The window: a process killed after the SMTP server answered 250 but before step 3 (one Redis
 * round trip) sends the mail again on retry. SMTP offers no way to close it; the Message-ID is
 * derived from the key, so receivers that dedupe by Message-ID see one mail even then.
 * A claim left by a killed process expires after the claim TTL (the job lock duration), which is
 * also when BullMQ hands the stalled job to another worker.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Mailer, OutgoingMail } from './mailer';

export const SENT_TTL_SECONDS = 30 * 24 * 3600;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class MailInProgressError extends Error {
  constructor(key: string) {
    super(`mail ${key} is being sent by another attempt`);
    this.name = 'MailInProgressError';
  }
}

export const sentKey = (prefix: string, key: string) => `${prefix}mail:sent:${key}`;

export async function deliverOnce(
  deps: { redis: Redis; prefix: string; mailer: Mailer; claimTtlMs: number },
  key: string,
  mail: Omit<OutgoingMail, 'messageId'>,
): Promise<'sent' | 'already_sent'> {
  const k = sentKey(deps.prefix, key);
  const claim = `sending:${randomUUID()}`;
  const ok = await deps.redis.set(k, claim, 'PX', deps.claimTtlMs, 'NX');
  if (ok !== 'OK') {
    const current = await deps.redis.get(k);
    if (current === 'sent') return 'already_sent';
    throw new MailInProgressError(key);
  }
  try {
    await deps.mailer.send({ ...mail, messageId: `<${key}@authledger>` });
  } catch (err) {
    await deps.redis.eval(RELEASE, 1, k, claim).catch(() => undefined);
    throw err;
  }
  await deps.redis.set(k, 'sent', 'EX', SENT_TTL_SECONDS);
  return 'sent';
}
