/** The audit API's view of one event: metadata spelled out, secret fields redacted. */
import { z } from 'zod';
import type { RecordedEvent } from '../../events/store';
import { redact } from './redact';

export const auditEventSchema = z.object({
  id: z.string(),
  position: z.string().describe('Global log position `<commit>:<prepare>`'),
  stream: z.string(),
  revision: z.number().int(),
  type: z.string(),
  schema_version: z.number().int().describe('Version the event was stored with; `data` is in the current shape'),
  time: z.string(),
  data: z.record(z.string(), z.unknown()),
  metadata: z.object({
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    request_id: z.string().nullable(),
    actor_user_id: z.string().nullable(),
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
  }),
});
export type AuditEvent = z.infer<typeof auditEventSchema>;

export function toAuditEvent(e: RecordedEvent): AuditEvent {
  const m = e.metadata;
  return {
    id: e.id,
    position: `${e.position.commit}:${e.position.prepare}`,
    stream: e.streamName,
    revision: Number(e.revision),
    type: e.type,
    schema_version: e.schemaVersion,
    time: e.createdAt.toISOString(),
    data: redact(e.data) as Record<string, unknown>,
    metadata: {
      ip: m.ip ?? null,
      user_agent: m.userAgent ?? null,
      request_id: m.requestId ?? null,
      actor_user_id: m.actorUserId ?? null,
      correlation_id: m.correlationId ?? null,
      causation_id: m.causationId ?? null,
    },
  };
}

