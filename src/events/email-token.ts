/**
 * Single-use e-mail tokens: verification (`verification-<id>`) and password reset
 * (`passwordreset-<id>`). Only the token's hash is stored; the mail job gets the raw token from
 * an encrypted field that the worker decrypts (see workers/), never in clear in the log.
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { id, isoTime } from './common';

const requested = z.object({
  tokenId: id,
  userId: id,
  email: z.string(),
  tokenHash: z.string(),
  /** The raw token sealed with the server's mail key (AES-256-GCM), so only the mail worker can read it. */
  sealedToken: z.string(),
  expiresAt: isoTime,
});
export const EmailVerificationRequested = defineEvent('EmailVerificationRequested', requested);
export const PasswordResetRequested = defineEvent('PasswordResetRequested', requested);
export const EmailTokenConsumed = defineEvent('EmailTokenConsumed', z.object({ tokenId: id, userId: id }));
export const emailTokenEvents = [EmailVerificationRequested, PasswordResetRequested, EmailTokenConsumed];
