/** API key events (stream `apikey-<id>`). The secret appears only as a hash. */
import { z } from 'zod';
import { defineEvent, type EventOf } from './registry';
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

export type ApiKeyEvent =
  | EventOf<typeof ApiKeyIssued>
  | EventOf<typeof ApiKeyRevoked>
  | EventOf<typeof ApiKeyExpired>;

/** What the write side knows about one key (folded from its stream). */
export interface ApiKeyState {
  exists: boolean;
  keyId?: string;
  userId?: string;
  features?: '*' | string[];
  expiresAt?: string | null;
  status: 'none' | 'active' | 'revoked' | 'expired';
}

export const initialApiKeyState = (): ApiKeyState => ({ exists: false, status: 'none' });

export function evolveApiKey(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyIssued':
      return {
        exists: true,
        keyId: event.data.keyId,
        userId: event.data.userId,
        features: event.data.features,
        expiresAt: event.data.expiresAt,
        status: 'active',
      };
    case 'ApiKeyRevoked':
      return { ...state, status: 'revoked' };
    case 'ApiKeyExpired':
      return state.status === 'revoked' ? state : { ...state, status: 'expired' };
    default:
      return state;
  }
}
