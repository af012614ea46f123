/** Schemas shared by route modules. */
import { z } from 'zod';

/** RFC 9457 problem details as authledger sends them. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('Stable machine-readable error code'),
    instance: z.string(),
    request_id: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .catchall(z.unknown())
  .describe('application/problem+json');

/**
 * Route option for hot routes whose handler builds its 200 body from checked values: plain
 * JSON.stringify instead of a zod parse of every response (fastify-type-provider-zod's serializer).
 * The zod response schema still documents the route in OpenAPI; problem bodies keep the error
 * handler's own serializer.
 */
export const plainJsonSerializer = () => (data: unknown): string => JSON.stringify(data);

/** `{ 400: problemSchema, 401: problemSchema, … }` for a route's response map. */
export function problems(...statuses: number[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]));
}

/** Paged routes' query (kept here for existing imports; defined with the other input types). */
export { cursorQuery } from './input';

export const encodeCursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  return undefined;
}
