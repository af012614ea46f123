/**
 * An unreachable dependency answers 503 problem+json with Retry-After, never a 500: the errors of
 * @eventstore/db-client that mean "the node or the connection" (real instances of its classes), and
 * the adapter's own failure to reach a port where nothing listens (a real gRPC connection attempt).
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, DeadlineExceededError, NotFoundError, TimeoutError, UnavailableError, UnknownError } from '@eventstore/db-client';
import { createRegistry } from '../../src/events';
import { EventStoreDBEventStore } from '../../src/events/esdb/store';
import { isDependencyDown, toDomainError } from '../../src/http/problem';

describe('EventStoreDB connectivity errors are a dependency down', () => {
  it('unavailable, deadline exceeded and timeout → service_unavailable; others are not', () => {
    for (const E of [UnavailableError, DeadlineExceededError, TimeoutError]) {
      const err = new E(undefined, 'node down');
      expect(isDependencyDown(err), E.name).toBe(true);
      expect(toDomainError(err).code, E.name).toBe('service_unavailable');
    }
    // A refusal of the request itself is not a dependency outage.
    expect(isDependencyDown(new NotFoundError(undefined, 'no stream'))).toBe(false);
    expect(isDependencyDown(new CancelledError(undefined, 'cancelled'))).toBe(false);
    expect(isDependencyDown({ type: 'unavailable' })).toBe(false); // not an Error: no match by shape alone
    expect(toDomainError(new Error('boom')).code).toBe('internal_error');
  });

  it('a gRPC stream reset with its connection (UnknownError 13 RST_STREAM) → service_unavailable; another code 13 is not', () => {
    const reset = new UnknownError({ code: 13, message: '13 INTERNAL: Received RST_STREAM with code 2 triggered by internal client error: Session closed with error code 2' } as never);
    expect(toDomainError(reset).code).toBe('service_unavailable');
    expect(toDomainError(new UnknownError({ code: 13, message: '13 INTERNAL: bad frame' } as never)).code).toBe('internal_error');
  });
});

describe('the EventStoreDB adapter with nothing listening', () => {
  it('its real connection failure is a dependency down: 503 service_unavailable with Retry-After', async () => {
    const err = await EventStoreDBEventStore.connect('esdb://127.0.0.1:1?tls=false', createRegistry()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isDependencyDown(err)).toBe(true);
    const d = toDomainError(err);
    expect(d.code).toBe('service_unavailable');
    expect(d.retryAfterSeconds).toBeGreaterThan(0);
  }, 60_000);
});
