/** A user's events as a readable terminal timeline (`cli replay`). Secrets are redacted. */
import type { RecordedEvent } from '../../events/store';
import { redact } from './redact';
import { toAuditEvent } from './dto';

const COLORS: Record<string, string> = { red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m', dim: '\x1b[2m', reset: '\x1b[0m' };

function tone(type: string): string {
  if (/Failed|Locked|Reuse|Revoked|Disabled|Deleted|Expired/.test(type)) return 'red';
  if (/Registered|Started|Issued|Granted|Enabled|Verified/.test(type)) return 'green';
  if (/Rotated|Changed|Updated|Reset/.test(type)) return 'yellow';
  return 'cyan';
}

function fields(data: unknown): string {
  const d = redact(data) as Record<string, unknown>;
  return Object.entries(d)
    .filter(([k, v]) => k !== 'userId' && v !== undefined && v !== '[redacted]')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function formatTimeline(userId: string, events: RecordedEvent[], opts: { json?: boolean; color?: boolean } = {}): string {
  if (opts.json) return events.map((e) => JSON.stringify(toAuditEvent(e))).join('\n') + (events.length ? '\n' : '');
  const c = (name: string, s: string) => (opts.color ? `${COLORS[name]}${s}${COLORS.reset}` : s);
  const lines = [`timeline of user ${userId}: ${events.length} event(s)`];
  for (const e of events) {
    const t = e.createdAt.toISOString().replace('T', ' ');
    const m = e.metadata;
    const where = [m.ip && `ip ${m.ip}`, m.userAgent && `ua ${m.userAgent}`, m.requestId && `req ${m.requestId}`, m.actorUserId && m.actorUserId !== userId && `by ${m.actorUserId}`]
      .filter(Boolean)
      .join(' · ');
    lines.push(`${c('dim', t)}  ${c(tone(e.type), e.type.padEnd(26))} ${fields(e.data)}${where ? c('dim', `  [${where}]`) : ''}`);
  }
  return lines.join('\n') + '\n';
}
