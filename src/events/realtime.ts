/**
 * Realtime access events (issue 20 §8): who may be in a group, and which user a client id belongs
 * to. Chat messages and presence never enter the log; these rules do, so they survive a Redis loss
 * and are audited like every other permission.
 * - stream `rtgroup-<group>`: a group created explicitly is `open` (anyone may join, as groups made
 *   by joining are) or `private` (its creator, invited users and holders of one of its roles);
 * - stream `rtclient-<client id>`: a client id is bound to the user who first claimed it until
 *   that user releases it (or no longer exists).
 */
import { z } from 'zod';
import { defineEvent, type EventOf } from './registry';
import { role } from './common';

export const realtimeName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 characters of A-Z a-z 0-9 _ . -');

export const RealtimeGroupCreated = defineEvent('RealtimeGroupCreated', z.object({
  group: realtimeName,
  visibility: z.enum(['open', 'private']),
  roles: z.array(role).max(10),
  createdBy: z.string(),
}));
export const RealtimeGroupMemberInvited = defineEvent('RealtimeGroupMemberInvited', z.object({ group: realtimeName, userId: z.string(), invitedBy: z.string() }));
export const RealtimeClientIdClaimed = defineEvent('RealtimeClientIdClaimed', z.object({ clientId: realtimeName, userId: z.string() }));
export const RealtimeClientIdReleased = defineEvent('RealtimeClientIdReleased', z.object({ clientId: realtimeName, userId: z.string() }));
export const realtimeEvents = [RealtimeGroupCreated, RealtimeGroupMemberInvited, RealtimeClientIdClaimed, RealtimeClientIdReleased];

export type RealtimeGroupEvent = EventOf<typeof RealtimeGroupCreated> | EventOf<typeof RealtimeGroupMemberInvited>;
export type RealtimeClientEvent = EventOf<typeof RealtimeClientIdClaimed> | EventOf<typeof RealtimeClientIdReleased>;

export interface RealtimeGroupState {
  /** `none`: never created explicitly, so open (as every group made by joining). */
  visibility: 'none' | 'open' | 'private';
  createdBy?: string;
  roles: string[];
  invited: string[];
}

export const initialRealtimeGroup = (): RealtimeGroupState => ({ visibility: 'none', roles: [], invited: [] });

export function evolveRealtimeGroup(state: RealtimeGroupState, event: RealtimeGroupEvent): RealtimeGroupState {
  switch (event.type) {
    case 'RealtimeGroupCreated':
      return { visibility: event.data.visibility, createdBy: event.data.createdBy, roles: event.data.roles, invited: [] };
    case 'RealtimeGroupMemberInvited':
      return state.invited.includes(event.data.userId) ? state : { ...state, invited: [...state.invited, event.data.userId] };
    default:
      return state;
  }
}

/** May this user be in the group? */
export function mayJoin(state: RealtimeGroupState, user: { userId: string; roles: readonly string[] }): boolean {
  if (state.visibility !== 'private') return true;
  return state.createdBy === user.userId || state.invited.includes(user.userId) || state.roles.some((r) => user.roles.includes(r));
}

export interface RealtimeClientState {
  userId: string | null;
}

export const initialRealtimeClient = (): RealtimeClientState => ({ userId: null });

export function evolveRealtimeClient(state: RealtimeClientState, event: RealtimeClientEvent): RealtimeClientState {
  switch (event.type) {
    case 'RealtimeClientIdClaimed':
      return { userId: event.data.userId };
    case 'RealtimeClientIdReleased':
      return { userId: null };
    default:
      return state;
  }
}
