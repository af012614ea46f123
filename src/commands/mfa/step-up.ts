/**
 * Step-up (issue 17): a user with a second factor may do a sensitive operation (change e-mail or
 * password, remove a factor, new recovery codes, an API key with `*` features, admin role changes,
 * an admin's factor reset) only when this session proved a second factor within
 * STEP_UP_MAX_AGE_SECONDS: at its login (SessionStarted's `amr` and start time) or by a step-up on
 * this session (POST /api/v1/auth/mfa/step-up, recorded on the user's MFA stream). Otherwise 401
 * `step_up_required` with the methods to use. Users without a second factor pass: the operation's
 * own re-authentication rules apply to them.
 * The session is read from its first and last event only (start and status), never the whole stream.
 */
import type { Config } from '../../config';
import { domainError } from '../../errors';
import { evolveSession, initialSessionState } from '../../events/session';
import type { EventStore } from '../../events/store';
import { streams } from '../../events/streams';
import { hasSecondFactor, mfaMethods, type MfaMethod, type MfaState } from '../../events/mfa';
import type { Loaded } from '../decider';
import { SECOND_FACTOR_AMR } from '../../credentials/access-tokens';
import { loadMfa } from './stream';

export const stepUpRequired = (methods: MfaMethod[]) =>
  domainError('step_up_required', 'Verify a second factor again (POST /api/v1/auth/mfa/step-up) to do this.', { extra: { methods } });

async function sessionStart(store: EventStore, sessionId: string) {
  const name = streams.session(sessionId);
  const [first] = await store.readStream(name, { maxCount: 1 });
  const [last] = await store.readStream(name, { direction: 'backwards', maxCount: 1 });
  let state = initialSessionState();
  if (first) state = evolveSession(state, { type: first.type, data: { startedAt: first.createdAt.toISOString(), ...(first.data as object) } });
  if (last && last.revision !== first?.revision) state = evolveSession(state, last);
  return state;
}

/** `mfa`: the caller's MFA stream when the command read it already (with its other streams, in one read). */
export async function requireStepUp(
  deps: { store: EventStore; config: Pick<Config, 'STEP_UP_MAX_AGE_SECONDS'> },
  caller: { userId: string; sessionId: string },
  now = new Date(),
  mfa?: Loaded<MfaState>,
): Promise<void> {
  const { state } = mfa ?? await loadMfa(deps.store, caller.userId);
  if (!hasSecondFactor(state)) return;
  const maxAge = deps.config.STEP_UP_MAX_AGE_SECONDS * 1000;
  const fresh = (at: string | undefined) => !!at && now.getTime() - Date.parse(at) <= maxAge;
  if (fresh(state.stepUps[caller.sessionId])) return;
  const session = await sessionStart(deps.store, caller.sessionId);
  const proved = (session.amr ?? []).some((a) => (SECOND_FACTOR_AMR as readonly string[]).includes(a));
  if (session.status === 'active' && session.userId === caller.userId && proved && fresh(session.startedAt)) return;
  throw stepUpRequired(mfaMethods(state));
}
