/** Realtime access deciders, given events / when command / then events or error (issue 20 §8). */
import { describe, expect, it } from 'vitest';
import { clientDecider, groupDecider, type ClientCommand, type GroupCommand } from '../../src/commands/realtime/decide';
import type { RealtimeClientEvent, RealtimeGroupEvent } from '../../src/events/realtime';

const owner = { userId: 'u-owner', roles: ['user'] as const };
const stranger = { userId: 'u-stranger', roles: ['user'] as const };
const admin = { userId: 'u-admin', roles: ['admin', 'user'] as const };

function givenGroup(events: RealtimeGroupEvent[], when: GroupCommand) {
  return groupDecider.decide(when, events.reduce(groupDecider.evolve, groupDecider.initialState()));
}
function givenClient(events: RealtimeClientEvent[], when: ClientCommand) {
  return clientDecider.decide(when, events.reduce(clientDecider.evolve, clientDecider.initialState()));
}
const created = (visibility: 'open' | 'private', roles: ('admin' | 'user')[] = []): RealtimeGroupEvent =>
  ({ type: 'RealtimeGroupCreated', data: { group: 'g', visibility, roles, createdBy: owner.userId } });
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'no error';
};

describe('groups', () => {
  it('created once, not over a group that has members', () => {
    expect(givenGroup([], { type: 'CreateGroup', group: 'g', visibility: 'private', roles: ['admin', 'admin'], actor: owner, hasMembers: false }))
      .toEqual([{ type: 'RealtimeGroupCreated', data: { group: 'g', visibility: 'private', roles: ['admin'], createdBy: owner.userId } }]);
    expect(code(() => givenGroup([created('open')], { type: 'CreateGroup', group: 'g', visibility: 'private', roles: [], actor: stranger, hasMembers: false }))).toBe('group_exists');
    expect(code(() => givenGroup([], { type: 'CreateGroup', group: 'g', visibility: 'private', roles: [], actor: stranger, hasMembers: true }))).toBe('group_exists');
  });
  it('invitations: by members of private groups only; once', () => {
    expect(givenGroup([created('private')], { type: 'InviteToGroup', group: 'g', userId: 'u-new', actor: owner }))
      .toEqual([{ type: 'RealtimeGroupMemberInvited', data: { group: 'g', userId: 'u-new', invitedBy: owner.userId } }]);
    expect(code(() => givenGroup([created('private')], { type: 'InviteToGroup', group: 'g', userId: stranger.userId, actor: stranger }))).toBe('group_private');
    expect(givenGroup([created('private', ['admin'])], { type: 'InviteToGroup', group: 'g', userId: 'u-x', actor: admin })).toHaveLength(1);
    const invited: RealtimeGroupEvent = { type: 'RealtimeGroupMemberInvited', data: { group: 'g', userId: 'u-x', invitedBy: owner.userId } };
    expect(givenGroup([created('private'), invited], { type: 'InviteToGroup', group: 'g', userId: 'u-x', actor: owner })).toEqual([]);
    expect(code(() => givenGroup([created('open')], { type: 'InviteToGroup', group: 'g', userId: 'u-x', actor: owner }))).toBe('bad_group');
    expect(code(() => givenGroup([], { type: 'InviteToGroup', group: 'g', userId: 'u-x', actor: owner }))).toBe('bad_group');
  });
});

describe('client ids', () => {
  const claimed: RealtimeClientEvent = { type: 'RealtimeClientIdClaimed', data: { clientId: 'c', userId: owner.userId } };
  it('first claim wins; renewing changes nothing; another user is refused unless the owner is gone', () => {
    expect(givenClient([], { type: 'ClaimClientId', clientId: 'c', userId: owner.userId, ownerExists: true })).toEqual([claimed]);
    expect(givenClient([claimed], { type: 'ClaimClientId', clientId: 'c', userId: owner.userId, ownerExists: true })).toEqual([]);
    expect(code(() => givenClient([claimed], { type: 'ClaimClientId', clientId: 'c', userId: stranger.userId, ownerExists: true }))).toBe('client_id_taken');
    expect(givenClient([claimed], { type: 'ClaimClientId', clientId: 'c', userId: stranger.userId, ownerExists: false })[0]!.data.userId).toBe(stranger.userId);
  });
  it('released by its owner or an admin only, and only when bound', () => {
    expect(givenClient([claimed], { type: 'ReleaseClientId', clientId: 'c', actor: owner })).toEqual([{ type: 'RealtimeClientIdReleased', data: { clientId: 'c', userId: owner.userId } }]);
    expect(givenClient([claimed], { type: 'ReleaseClientId', clientId: 'c', actor: admin })).toHaveLength(1);
    expect(code(() => givenClient([claimed], { type: 'ReleaseClientId', clientId: 'c', actor: stranger }))).toBe('client_id_not_yours');
    expect(code(() => givenClient([], { type: 'ReleaseClientId', clientId: 'c', actor: owner }))).toBe('client_id_not_claimed');
  });
});
