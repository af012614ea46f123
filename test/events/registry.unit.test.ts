import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventRegistry, defineEvent } from '../../src/events/registry';
import { EventValidationError } from '../../src/events/store';
import { createRegistry, allEvents } from '../../src/events';
import { streams, parseStream } from '../../src/events/streams';
import { CheckedLoose, ThingHappened, Versioned } from './fixtures';

describe('event registry', () => {
  const registry = new EventRegistry([ThingHappened, Versioned]);

  it('encode validates against the current schema and returns the version to store', () => {
    expect(registry.encode('ThingHappened', { n: 1 })).toEqual({ data: { n: 1 }, version: 1 });
    expect(registry.encode('Versioned', { first: 'a', last: 'b' })).toEqual({ data: { first: 'a', last: 'b' }, version: 2 });
    expect(() => registry.encode('ThingHappened', { n: 1.5 })).toThrow(EventValidationError);
    expect(() => registry.encode('Versioned', { first: 'a' })).toThrow(/Versioned/);
    expect(() => registry.encode('Nope', {})).toThrow(/unknown event type/);
  });

  it('encode strips unknown keys (zod objects), so stored data is exactly the schema', () => {
    expect(registry.encode('ThingHappened', { n: 1, extra: true }).data).toEqual({ n: 1 });
  });

  it('decode upcasts step by step and validates the result', () => {
    expect(registry.decode('Versioned', 1, { first: 'Ada' })).toEqual({ first: 'Ada', last: '(unknown)' });
    expect(registry.decode('Versioned', 2, { first: 'Ada', last: 'L' })).toEqual({ first: 'Ada', last: 'L' });
    expect(() => registry.decode('Versioned', 2, { first: 'Ada' })).toThrow(EventValidationError);
    expect(() => registry.decode('Versioned', 3, {})).toThrow(/unknown schema version 3/);
    expect(() => registry.decode('Versioned', 0, {})).toThrow(/unknown schema version 0/);
  });

  it('chains several upcasters (v1 → v2 → v3) without touching the input', () => {
    const v1 = z.object({ name: z.string() });
    const v2 = z.object({ first: z.string(), last: z.string() });
    const v3 = z.object({ first: z.string(), last: z.string(), display: z.string() });
    const def = defineEvent('PersonNamed', v3, [
      { schema: v1 },
      { schema: v2, upcast: (d) => { const [first = '', last = ''] = (d as { name: string }).name.split(' '); return { first, last }; } },
    ], (d) => ({ ...(d as object), display: `${(d as { first: string }).first} ${(d as { last: string }).last}` }));
    expect(def.version).toBe(3);
    const r = new EventRegistry([def]);
    const stored = Object.freeze({ name: 'Grace Hopper' });
    expect(r.decode('PersonNamed', 1, stored)).toEqual({ first: 'Grace', last: 'Hopper', display: 'Grace Hopper' });
    expect(stored).toEqual({ name: 'Grace Hopper' });
  });

  it('refuses two different definitions of one type, accepts the same one twice', () => {
    const r = new EventRegistry([ThingHappened]);
    expect(() => r.register(ThingHappened)).not.toThrow();
    expect(() => r.register(CheckedLoose)).not.toThrow();
    expect(() => r.register(defineEvent('ThingHappened', z.object({})))).toThrow(/registered twice/);
    expect(r.has('Checked')).toBe(true);
    expect(r.types()).toEqual(['ThingHappened', 'Checked']);
    expect(r.currentVersion('ThingHappened')).toBe(1);
  });

  it('the app registry registers every event once', () => {
    const r = createRegistry();
    expect(r.types()).toHaveLength(allEvents.length);
    // The app's own upcaster: early UserRegistered events were self sign-ups.
    expect(r.decode('UserRegistered', 1, { userId: 'u1', email: 'a@b.c', name: 'A', passwordHash: 'h' })).toMatchObject({ source: 'signup' });
  });

  it('stream names come from one helper and parse back', () => {
    expect(streams.user('42')).toBe('user-42');
    expect(parseStream(streams.session('abc-def'))).toEqual({ category: 'session', id: 'abc-def' });
    expect(parseStream('loose')).toEqual({ category: 'loose', id: '' });
  });
});
