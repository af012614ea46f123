/**
 * Realtime access decisions (issue 20 §8). Rules enforced here:
 * - a group is created explicitly once, `open` or `private` (with the roles whose holders may join);
 *   a group that already has members cannot be created (it is open already; making it private
 *   would take it from its members) — the caller says whether it has members;
 * - only someone who may be in a private group invites to it; inviting to an open group is pointless
 *   and refused; inviting someone invited already changes nothing;
 * - a client id belongs to the first user who claims it until that user releases it; a claim by
 *   another user is refused unless the owner no longer exists (the caller says);
 * - only the owner releases (an admin may release any, e.g. for a deleted user's id).
 */
import { domainError } from '../../errors';
import type { Role } from '../../events/common';
import {
  evolveRealtimeClient, evolveRealtimeGroup, initialRealtimeClient, initialRealtimeGroup, mayJoin,
  type RealtimeClientEvent, type RealtimeClientState, type RealtimeGroupEvent, type RealtimeGroupState,
} from '../../events/realtime';

export interface Actor {
  userId: string;
  roles: readonly string[];
}

export type GroupCommand =
  | { type: 'CreateGroup'; group: string; visibility: 'open' | 'private'; roles: Role[]; actor: Actor; hasMembers: boolean }
  | { type: 'InviteToGroup'; group: string; userId: string; actor: Actor };

export function decideGroup(command: GroupCommand, state: RealtimeGroupState): RealtimeGroupEvent[] {
  switch (command.type) {
    case 'CreateGroup':
      if (state.visibility !== 'none' || command.hasMembers) throw domainError('group_exists', `Group ${command.group} exists already.`);
      return [{ type: 'RealtimeGroupCreated', data: { group: command.group, visibility: command.visibility, roles: [...new Set(command.roles)], createdBy: command.actor.userId } }];
    case 'InviteToGroup':
      if (state.visibility !== 'private') throw domainError('bad_group', `Group ${command.group} is open to everyone; invitations are for private groups.`);
      if (!mayJoin(state, command.actor)) throw domainError('group_private', `Only members of ${command.group} invite to it.`);
      if (state.invited.includes(command.userId) || state.createdBy === command.userId) return [];
      return [{ type: 'RealtimeGroupMemberInvited', data: { group: command.group, userId: command.userId, invitedBy: command.actor.userId } }];
  }
}

export const groupDecider = { initialState: initialRealtimeGroup, evolve: evolveRealtimeGroup, decide: decideGroup };

export type ClientCommand =
  | { type: 'ClaimClientId'; clientId: string; userId: string; ownerExists: boolean }
  | { type: 'ReleaseClientId'; clientId: string; actor: Actor };

export function decideClient(command: ClientCommand, state: RealtimeClientState): RealtimeClientEvent[] {
  switch (command.type) {
    case 'ClaimClientId':
      if (state.userId === command.userId) return [];
      if (state.userId && command.ownerExists) throw domainError('client_id_taken', 'This client id belongs to another user.');
      return [{ type: 'RealtimeClientIdClaimed', data: { clientId: command.clientId, userId: command.userId } }];
    case 'ReleaseClientId':
      if (!state.userId) throw domainError('client_id_not_claimed', `Client id ${command.clientId} is not bound to anyone.`);
      if (state.userId !== command.actor.userId && !command.actor.roles.includes('admin')) throw domainError('client_id_not_yours', 'Only its owner releases a client id.');
      return [{ type: 'RealtimeClientIdReleased', data: { clientId: command.clientId, userId: state.userId } }];
  }
}

export const clientDecider = { initialState: initialRealtimeClient, evolve: evolveRealtimeClient, decide: decideClient };
