/**
 * API key decisions. Rules enforced here:
 * - a key id is issued once (its stream must be new);
 * - only the owner or an admin may revoke a key; anyone else is told it does not exist, so key
 *   ids cannot be probed;
 * - revoking or expiring a key that is no longer active changes nothing (idempotent);
 * - a key expires only once its expiry has passed.
 */
import { errors } from '../../errors';
import { evolveApiKey, initialApiKeyState, type ApiKeyEvent, type ApiKeyState } from '../../events/api-key';

export type ApiKeyCommand =
  | {
      type: 'IssueApiKey';
      keyId: string;
      userId: string;
      name: string;
      prefix: string;
      secretHash: string;
      features: '*' | string[];
      expiresAt: string | null;
    }
  | { type: 'RevokeApiKey'; actorUserId: string; actorIsAdmin: boolean; reason?: string }
  | { type: 'ExpireApiKey'; now: Date };

export function decideApiKey(command: ApiKeyCommand, state: ApiKeyState): ApiKeyEvent[] {
  switch (command.type) {
    case 'IssueApiKey': {
      if (state.exists) throw errors.conflict('This API key id is taken.', 'api_key_exists');
      const { type: _t, ...data } = command;
      const features = data.features === '*' ? '*' : [...new Set(data.features)];
      return [{ type: 'ApiKeyIssued', data: { ...data, features } }];
    }
    case 'RevokeApiKey': {
      if (!state.exists || (state.userId !== command.actorUserId && !command.actorIsAdmin)) {
        throw errors.notFound('No such API key.', 'api_key_not_found');
      }
      if (state.status !== 'active') return [];
      return [{ type: 'ApiKeyRevoked', data: { keyId: state.keyId!, userId: state.userId!, ...(command.reason ? { reason: command.reason } : {}) } }];
    }
    case 'ExpireApiKey': {
      if (state.status !== 'active' || !state.expiresAt) return [];
      if (Date.parse(state.expiresAt) > command.now.getTime()) return [];
      return [{ type: 'ApiKeyExpired', data: { keyId: state.keyId!, userId: state.userId! } }];
    }
  }
}

export const apiKeyDecider = { initialState: initialApiKeyState, evolve: evolveApiKey, decide: decideApiKey };
