/** The one way to load the MFA stream and run a command on it (through the command runner). */
import type { EventMetadata, EventStore } from '../../events/store';
import { streams } from '../../events/streams';
import type { MfaEvent, MfaState } from '../../events/mfa';
import { loadStream, runCommand, type CommandDeps, type CommandResult, type Loaded } from '../decider';
import { mfaDecider, type MfaCommand } from './decide';

export function loadMfa(store: EventStore, userId: string): Promise<Loaded<MfaState>> {
  return loadStream(store, streams.mfa(userId), mfaDecider);
}

export function runMfaCommand(
  deps: CommandDeps, userId: string, command: MfaCommand, metadata: EventMetadata = {}, opts: { attempts?: number } = {},
): Promise<CommandResult<MfaState, MfaEvent>> {
  return runCommand(deps, { stream: streams.mfa(userId), decider: mfaDecider, command, metadata, attempts: opts.attempts ?? 5 });
}
