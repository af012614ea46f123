/** The one way to load the user stream and run a command on it (through the command runner). */
import type { EventMetadata, EventStore } from '../../events/store';
import { streams } from '../../events/streams';
import type { UserEvent, UserState } from '../../events/user';
import { loadStream, runCommand, type CommandDeps, type CommandResult, type Loaded } from '../decider';
import { userDecider, type UserCommand } from './decide';

export function loadUser(store: EventStore, userId: string): Promise<Loaded<UserState>> {
  return loadStream(store, streams.user(userId), userDecider);
}

export function runUserCommand(
  deps: CommandDeps,
  userId: string,
  command: UserCommand,
  metadata: EventMetadata = {},
  opts: { attempts?: number; expectedRevision?: bigint } = {},
): Promise<CommandResult<UserState, UserEvent>> {
  return runCommand(deps, { stream: streams.user(userId), decider: userDecider, command, metadata, attempts: opts.attempts ?? 5, expectedRevision: opts.expectedRevision });
}
