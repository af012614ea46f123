/**
 * Test event types for the event-store and projection tests (not the app's events):
 * `Versioned` exists in v1 (old registry) and v2 (current, with an upcaster), `Checked` has a
 * stricter schema in the strict registry, so validation on read can be shown.
 */
import { z } from 'zod';
import { EventRegistry, defineEvent } from '../../src/events/registry';
import type { RecordedEvent, Subscription } from '../../src/events/store';

export const ThingHappened = defineEvent('ThingHappened', z.object({ n: z.number().int() }));
export const ThingRenamed = defineEvent('ThingRenamed', z.object({ name: z.string().min(1) }));

const versionedV1 = z.object({ first: z.string() });
export const VersionedV1Only = defineEvent('Versioned', versionedV1);
export const Versioned = defineEvent(
  'Versioned',
  z.object({ first: z.string(), last: z.string() }),
  [{ schema: versionedV1 }],
  (v1) => ({ ...(v1 as { first: string }), last: '(unknown)' }),
);
export const CheckedLoose = defineEvent('Checked', z.object({ n: z.number() }));
export const CheckedStrict = defineEvent('Checked', z.object({ n: z.number().max(10) }));

/** Current registry (what the app would run). */
export const testRegistry = () => new EventRegistry([ThingHappened, ThingRenamed, Versioned, CheckedLoose]);
/** An older build: Versioned only in v1. */
export const oldRegistry = () => new EventRegistry([ThingHappened, ThingRenamed, VersionedV1Only, CheckedLoose]);
/** A build whose Checked schema became stricter: old stored events no longer validate. */
export const strictRegistry = () => new EventRegistry([ThingHappened, ThingRenamed, Versioned, CheckedStrict]);

/** Pulls `n` events from a subscription or fails after `timeoutMs`. */
export async function take(sub: Subscription, n: number, timeoutMs = 10_000): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  if (n === 0) return out;
  const it = sub[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${out.length}/${n} events`)), timeoutMs);
  });
  try {
    while (out.length < n) {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) throw new Error(`subscription ended after ${out.length}/${n} events`);
      out.push(r.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
