/**
 * Moving an e-mail's uniqueness reservation (stream `email-<normalised>`, see src/events/user.ts).
 * Rules: a reservation held by another user is a 409; one already held by this user is kept;
 * a released reservation may be taken again (appended at its current revision, so two takers
 * race on optimistic concurrency and exactly one wins).
 */
import { errors } from '../../errors';
import { normaliseEmail } from '../../events/user';
import { streams } from '../../events/streams';
import { WrongExpectedVersionError, type EventMetadata, type EventStore } from '../../events/store';

const taken = () => errors.conflict('This e-mail is already in use.', 'email_taken');

export async function reserveEmail(store: EventStore, email: string, userId: string, metadata: EventMetadata): Promise<void> {
  const normalised = normaliseEmail(email);
  const stream = streams.emailReservation(normalised);
  const events = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  const last = events[0];
  if (last?.type === 'EmailReserved') {
    if ((last.data as { userId: string }).userId === userId) return;
    throw taken();
  }
  try {
    await store.appendToStream(stream, [{ type: 'EmailReserved', data: { email: normalised, userId }, metadata }], {
      expectedRevision: last ? last.revision : 'no_stream',
    });
  } catch (err) {
    if (err instanceof WrongExpectedVersionError) throw taken();
    throw err;
  }
}

/** Releases the reservation when (and only when) this user holds it. */
export async function releaseEmail(store: EventStore, email: string, userId: string, metadata: EventMetadata): Promise<void> {
  const normalised = normaliseEmail(email);
  const stream = streams.emailReservation(normalised);
  const events = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  const last = events[0];
  if (last?.type !== 'EmailReserved' || (last.data as { userId: string }).userId !== userId) return;
  await store.appendToStream(stream, [{ type: 'EmailReleased', data: { email: normalised, userId }, metadata }], { expectedRevision: last.revision })
    .catch((err) => {
      if (!(err instanceof WrongExpectedVersionError)) throw err;
    });
}
