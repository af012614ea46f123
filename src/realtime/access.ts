/**
 * Realtime access rules read from and written to the event log (issue 20 §8): group membership
 * rules (src/events/realtime.ts) and client-id ownership, through the one command runner. Used by
 * the hub (upgrade, /join, group listing) and by the API's realtime routes.
 */
import { clientDecider, groupDecider, type Actor } from '../commands/realtime/decide';
import { loadStream, runCommand, type CommandDeps, type Loaded } from '../commands/decider';
import { loadUser } from '../commands/users/stream';
import { mayJoin, type RealtimeClientState, type RealtimeGroupState } from '../events/realtime';
import type { EventMetadata } from '../events/store';
import type { Role } from '../events/common';
import { streams } from '../events/streams';

export async function groupRules(deps: Pick<CommandDeps, 'store'>, group: string): Promise<RealtimeGroupState> {
  return (await loadStream(deps.store, streams.realtimeGroup(group), groupDecider)).state;
}

export async function mayBeInGroup(deps: Pick<CommandDeps, 'store'>, group: string, user: Actor): Promise<boolean> {
  return mayJoin(await groupRules(deps, group), user);
}

export function createGroup(deps: CommandDeps, a: { group: string; visibility: 'open' | 'private'; roles: Role[]; actor: Actor; hasMembers: boolean }) {
  return runCommand(deps, {
    stream: streams.realtimeGroup(a.group),
    decider: groupDecider,
    command: { type: 'CreateGroup', ...a },
    metadata: { actorUserId: a.actor.userId },
  });
}

export function inviteToGroup(deps: CommandDeps, a: { group: string; userId: string; actor: Actor }) {
  return runCommand(deps, {
    stream: streams.realtimeGroup(a.group),
    decider: groupDecider,
    command: { type: 'InviteToGroup', ...a },
    metadata: { actorUserId: a.actor.userId },
  });
}

/** Does this user still exist? Only a recorded deletion frees what was theirs (fail closed). */
async function userExists(deps: Pick<CommandDeps, 'store'>, userId: string): Promise<boolean> {
  return !(await loadUser(deps.store, userId)).state.deleted;
}

/**
 * Binds the client id to the user (first claim wins; an id whose owner was deleted may be taken).
 * Throws `client_id_taken` when it belongs to another user.
 */
export async function claimClientId(deps: CommandDeps, clientId: string, userId: string, metadata: EventMetadata = {}): Promise<void> {
  const stream = streams.realtimeClient(clientId);
  // Loaded once: the owner check needs the state before deciding, and the runner's first attempt
  // decides on this same read (a retry after a conflict reads again).
  let first: Loaded<RealtimeClientState> | undefined = await loadStream(deps.store, stream, clientDecider);
  const current = first.state.userId;
  const ownerExists = current !== null && current !== userId ? await userExists(deps, current) : true;
  await runCommand(deps, {
    stream,
    decider: clientDecider,
    command: { type: 'ClaimClientId', clientId, userId, ownerExists },
    metadata: { actorUserId: userId, ...metadata },
    load: async (store, s) => {
      const loaded = first ?? (await loadStream(store, s, clientDecider));
      first = undefined;
      return loaded;
    },
  });
}

export async function releaseClientId(deps: CommandDeps, clientId: string, actor: Actor): Promise<{ userId: string }> {
  const r = await runCommand(deps, { stream: streams.realtimeClient(clientId), decider: clientDecider, command: { type: 'ReleaseClientId', clientId, actor }, metadata: { actorUserId: actor.userId } });
  return { userId: r.appended[0]?.data.userId ?? actor.userId };
}

export async function clientOwner(deps: Pick<CommandDeps, 'store'>, clientId: string): Promise<string | null> {
  return (await loadStream(deps.store, streams.realtimeClient(clientId), clientDecider)).state.userId;
}
