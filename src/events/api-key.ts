/** API key events (stream `apikey-<id>`). The secret appears only as a hash. */
import { z } from 'zod';
import { defineEvent } from './registry';
import { id, isoTime } from './common';

export const ApiKeyIssued = defineEvent(
  'ApiKeyIssued',
  z.object({
    keyId: id,
    userId: id,
    name: z.string().max(100),
    /** The public, non-secret start of the key shown in listings (e.g. `alk_<id>_ab12`). */
    prefix: z.string(),
    secretHash: z.string(),
    features: z.union([z.literal('*'), z.array(z.string()).max(100)]),
    expiresAt: isoTime.nullable(),
  }),
);
export const ApiKeyRevoked = defineEvent('ApiKeyRevoked', z.object({ keyId: id, userId: id, reason: z.string().max(100).optional() }));
export const ApiKeyExpired = defineEvent('ApiKeyExpired', z.object({ keyId: id, userId: id }));
export const apiKeyEvents = [ApiKeyIssued, ApiKeyRevoked, ApiKeyExpired];
