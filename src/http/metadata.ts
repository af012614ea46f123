import type { FastifyRequest } from 'fastify';
import type { EventMetadata } from '../events/store';

/** Event metadata for events caused by this request. */
export function metadataFrom(request: FastifyRequest, extra: Partial<EventMetadata> = {}): EventMetadata {
  const ua = request.headers['user-agent'];
  const correlation = request.headers['x-correlation-id'];
  return {
    requestId: String(request.id),
    correlationId: typeof correlation === 'string' && correlation.length <= 128 ? correlation : String(request.id),
    ip: request.ip,
    userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined,
    actorUserId: request.auth?.userId,
    ...extra,
  };
}
