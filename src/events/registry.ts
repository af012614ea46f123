/**
 * Event types, their schemas per version, and upcasters.
 * Rules:
 * - event names are past tense and never change; a new shape is a new version;
 * - stored events are never rewritten: old versions are upcast step by step (v1 → v2 → …) when read;
 * - data is validated against the current schema on append and after upcasting on read.
 */
import { z } from 'zod';
import { EventValidationError } from './errors';

export interface EventVersion {
  schema: z.ZodType;
  /** Turns data of the previous version into this version's shape. Absent on version 1. */
  upcast?: (previous: unknown) => unknown;
}

export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  type: T;
  /** Current schema (the last version). */
  schema: S;
  version: number;
  versions: EventVersion[];
}

/** One version: `defineEvent('UserLoggedOut', z.object({...}))`. Several: pass `[v1, v2, …]`. */
export function defineEvent<T extends string, S extends z.ZodType>(
  type: T,
  schema: S,
  older: EventVersion[] = [],
  upcastToCurrent?: (previous: unknown) => unknown,
): EventDefinition<T, S> {
  const versions: EventVersion[] = [...older, { schema, upcast: upcastToCurrent }];
  return { type, schema, version: versions.length, versions };
}

export type EventOf<D extends EventDefinition> = { type: D['type']; data: z.infer<D['schema']> };

export class EventRegistry {
  private readonly defs = new Map<string, EventDefinition>();

  constructor(definitions: Iterable<EventDefinition> = []) {
    for (const d of definitions) this.register(d);
  }

  register(def: EventDefinition): this {
    const existing = this.defs.get(def.type);
    if (existing && existing !== def) throw new Error(`event type ${def.type} registered twice`);
    this.defs.set(def.type, def);
    return this;
  }

  has(type: string): boolean {
    return this.defs.has(type);
  }

  types(): string[] {
    return [...this.defs.keys()];
  }

  currentVersion(type: string): number {
    return this.get(type).version;
  }

  /** Validates data for appending; returns the parsed (normalised) data and the version to store. */
  encode(type: string, data: unknown): { data: unknown; version: number } {
    const def = this.get(type);
    const parsed = def.schema.safeParse(data);
    if (!parsed.success) throw new EventValidationError(type, z.prettifyError(parsed.error));
    return { data: parsed.data, version: def.version };
  }

  /** Upcasts stored data of `version` to the current shape and validates it. */
  decode(type: string, version: number, data: unknown): unknown {
    const def = this.get(type);
    if (version < 1 || version > def.version) throw new EventValidationError(type, `unknown schema version ${version}`);
    let current = data;
    for (let v = version + 1; v <= def.version; v++) {
      const step = def.versions[v - 1]!;
      current = step.upcast ? step.upcast(current) : current;
    }
    const parsed = def.schema.safeParse(current);
    if (!parsed.success) throw new EventValidationError(type, z.prettifyError(parsed.error));
    return parsed.data;
  }

  private get(type: string): EventDefinition {
    const def = this.defs.get(type);
    if (!def) throw new EventValidationError(type, 'unknown event type');
    return def;
  }
}
