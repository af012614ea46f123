import { z } from 'zod';

export const id = z.string().min(1).max(100);
export const isoTime = z.iso.datetime({ offset: true });
export const role = z.enum(['admin', 'user']);
export type Role = z.infer<typeof role>;
/** Who/where a security-relevant action came from (also in metadata; kept in data where decisions use it). */
export const client = z.object({ ip: z.string().max(100).optional(), userAgent: z.string().max(512).optional() });
