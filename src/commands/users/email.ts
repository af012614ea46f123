/**
 * The e-mail uniqueness reservation (stream `email-<normalised>`, see src/events/user.ts): one
 * decider, one release rule. Rules:
 * - a free address (no stream, or released) is reserved at the stream's revision, so two takers
 *   race on optimistic concurrency and exactly one wins (the other: 409 `email_taken`);
 * - a reservation already held by the same user is kept (no event);
 * - a reservation is released by its holder only — or, when its user was never written (a crash
 *   between the two appends of a signup) for ORPHAN_RESERVATION_MS, by the next taker;
 * - an address left by a confirmed e-mail change is *held* (`EmailHeld`) for its former holder
 *   until the change's cancel link expires, so a revert can always take it back: nobody else may
 *   reserve it meanwhile, and nobody logs in or resets with it (`findUserIdByEmail` sees no holder);
 *   after `until` the next taker releases it.
 */
import { errors } from '../../errors';
import { normaliseEmail } from '../../events/user';
import { streams } from '../../events/streams';
import { WrongExpectedVersionError, type EventMetadata, type EventStore } from '../../events/store';
import { runCommand, type CommandDeps, type Decider } from '../decider';

/** How long a reservation may point at a user that was never written before it counts as abandoned. */
export const ORPHAN_RESERVATION_MS = 60_000;

interface ReservationState {
  holder?: string;
  heldSince?: Date;
  /** Set while the address is only held for a revert (EmailHeld). */
  heldUntil?: string;
}
type ReservationEvent =
  | { type: 'EmailReserved' | 'EmailReleased'; data: { email: string; userId: string }; createdAt?: Date }
  | { type: 'EmailHeld'; data: { email: string; userId: string; until: string }; createdAt?: Date };
type ReservationCommand =
  | { type: 'Reserve'; email: string; userId: string; now: Date; holderWritten: (holder: string) => boolean }
  | { type: 'Release'; email: string; userId: string }
  | { type: 'Hold'; email: string; userId: string; until: string };

const taken = () => errors.conflict('An account with this e-mail already exists.', 'email_taken');

export const reservationDecider: Decider<ReservationState, ReservationCommand, ReservationEvent> = {
  initialState: () => ({}),
  evolve: (s, e) => {
    if (e.type === 'EmailReserved') return { holder: e.data.userId, heldSince: e.createdAt };
    if (e.type === 'EmailHeld') return { ...s, holder: e.data.userId, heldUntil: e.data.until };
    return {};
  },
  decide(c, s) {
    if (c.type === 'Release') return s.holder === c.userId ? [{ type: 'EmailReleased', data: { email: c.email, userId: c.userId } }] : [];
    if (c.type === 'Hold') return s.holder === c.userId && !s.heldUntil ? [{ type: 'EmailHeld', data: { email: c.email, userId: c.userId, until: c.until } }] : [];
    const reserve: ReservationEvent = { type: 'EmailReserved', data: { email: c.email, userId: c.userId } };
    if (!s.holder) return [reserve];
    if (s.heldUntil) {
      // Held for a revert: its holder takes it back; others only once the hold is over.
      if (s.holder === c.userId) return [reserve];
      if (Date.parse(s.heldUntil) > c.now.getTime()) throw taken();
      return [{ type: 'EmailReleased', data: { email: c.email, userId: s.holder } }, reserve];
    }
    if (s.holder === c.userId) return [];
    const orphan = !!s.heldSince && c.now.getTime() - s.heldSince.getTime() >= ORPHAN_RESERVATION_MS && !c.holderWritten(s.holder);
    if (!orphan) throw taken();
    return [{ type: 'EmailReleased', data: { email: c.email, userId: s.holder } }, reserve];
  },
};

/** Reserves `email` for `userId` (409 `email_taken` when someone else holds it). */
export async function reserveEmail(deps: CommandDeps, email: string, userId: string, metadata: EventMetadata): Promise<void> {
  const normalised = normaliseEmail(email);
  const stream = streams.emailReservation(normalised);
  // Whether an orphan's user stream exists is looked up before deciding (the decider stays pure).
  const written = new Map<string, boolean>();
  const [last] = await deps.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  const holder = last?.type === 'EmailReserved' ? (last.data as { userId: string }).userId : undefined;
  if (holder && holder !== userId) written.set(holder, (await deps.store.readStream(streams.user(holder), { maxCount: 1 })).length > 0);
  try {
    await runCommand(deps, {
      stream, decider: reservationDecider, metadata, attempts: 1,
      command: { type: 'Reserve', email: normalised, userId, now: new Date(), holderWritten: (h) => written.get(h) ?? true },
    });
  } catch (err) {
    if (err instanceof WrongExpectedVersionError) throw taken();
    throw err;
  }
}

/** Releases the reservation when (and only when) this user holds it. */
export async function releaseEmail(deps: CommandDeps, email: string, userId: string, metadata: EventMetadata): Promise<void> {
  const normalised = normaliseEmail(email);
  await runCommand(deps, { stream: streams.emailReservation(normalised), decider: reservationDecider, metadata, command: { type: 'Release', email: normalised, userId } });
}

/** Keeps `email` for its holder (no longer its address) until `until`: see the rules above. */
export async function holdEmail(deps: CommandDeps, email: string, userId: string, until: string, metadata: EventMetadata): Promise<void> {
  const normalised = normaliseEmail(email);
  await runCommand(deps, { stream: streams.emailReservation(normalised), decider: reservationDecider, metadata, command: { type: 'Hold', email: normalised, userId, until } });
}

/** The user id whose address a normalised e-mail is, if any (an address only held for a revert has none). */
export async function findUserIdByEmail(store: EventStore, normalisedEmail: string): Promise<string | undefined> {
  const [last] = await store.readStream(streams.emailReservation(normalisedEmail), { direction: 'backwards', maxCount: 1 });
  return last?.type === 'EmailReserved' ? (last.data as { userId: string }).userId : undefined;
}
