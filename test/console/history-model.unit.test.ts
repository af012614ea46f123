/** The pure part of "My history" (console/src/history-model.ts): buckets, stepping, compare. */
import { describe, expect, it } from 'vitest';
import { bucketSize, bucketize, categoryOf, describe as sentence, diffStates, eventsUpTo, type AuditEvent, type StateAt } from '../../console/src/history-model';

const ev = (type: string, time: string, data: Record<string, unknown> = {}): AuditEvent => ({
  id: `${type}-${time}`, position: '1:1', stream: 'user-x', revision: 0, type, time, data,
  metadata: { ip: '10.0.0.1', user_agent: null, request_id: null, actor_user_id: null },
});

const state = (over: Partial<StateAt> = {}): StateAt => ({
  user_id: 'u', at: '2026-01-01T00:00:00.000Z',
  profile: { email: 'a@example.test', name: 'A', email_verified: false, status: 'active', source: 'signup', registered_at: '2026-01-01T00:00:00.000Z', locked_until: null },
  roles: ['user'], sessions: [], api_keys: [], features: [], events_applied: 1, last_event_at: null, ...over,
});

describe('history model', () => {
  it('puts every event type in a category (second factors are security)', () => {
    expect(categoryOf('SessionStarted')).toBe('sessions');
    expect(categoryOf('ApiKeyRevoked')).toBe('keys');
    expect(categoryOf('TotpEnrolled')).toBe('security');
    expect(categoryOf('SomethingNew')).toBe('other');
  });

  it('describes events in plain words', () => {
    expect(sentence(ev('ApiKeyIssued', '2026-01-01T00:00:00Z', { name: 'ci', features: ['reports'] }))).toBe('API key “ci” created for reports');
    expect(sentence(ev('SessionStarted', '2026-01-01T00:00:00Z', { deviceName: 'Laptop', ip: '1.2.3.4' }))).toBe('Signed in on Laptop from 1.2.3.4');
    expect(sentence(ev('SessionRevoked', '2026-01-01T00:00:00Z', { reason: 'reuse_detected' }))).toContain('stolen refresh token');
    expect(sentence(ev('SomeNewEvent', '2026-01-01T00:00:00Z'))).toBe('Some New Event');
  });

  it('picks a bucket size giving at most 48 bars', () => {
    expect(bucketSize(0, 600)).toBe(60);
    expect(bucketSize(0, 86_400)).toBe(3600);
    expect(bucketSize(0, 30 * 86_400)).toBe(86_400);
  });

  it('counts events per category per bucket, at least 24 bars ending now', () => {
    const now = Date.parse('2026-01-01T01:00:00Z');
    const events = [ev('UserRegistered', '2026-01-01T00:58:10Z'), ev('SessionStarted', '2026-01-01T00:58:20Z'), ev('ApiKeyIssued', '2026-01-01T00:59:30Z')];
    const b = bucketize(events, now);
    expect(b.size).toBe(60);
    expect(b.x.length).toBeGreaterThanOrEqual(24);
    const total = Object.values(b.counts).flat().reduce((s, n) => s + n, 0);
    expect(total).toBe(3);
    const last = b.x.length - 1;
    expect(b.counts.keys![last - 1]).toBe(1);
    expect(b.counts.account![last - 2]).toBe(1);
  });

  it('counts the events at or before an instant (the slider position)', () => {
    const events = [ev('A', '2026-01-01T00:00:01.000Z'), ev('B', '2026-01-01T00:00:02.000Z'), ev('C', '2026-01-01T00:00:03.000Z')];
    expect(eventsUpTo(events, Date.parse('2026-01-01T00:00:00Z'))).toBe(0);
    expect(eventsUpTo(events, Date.parse('2026-01-01T00:00:02.000Z'))).toBe(2);
    expect(eventsUpTo(events, Date.parse('2026-01-02T00:00:00Z'))).toBe(3);
  });

  it('names what changed between two states', () => {
    const key = { id: 'k1', name: 'ci', prefix: 'alk_1', features: ['reports'] as string[], issued_at: '', expires_at: null };
    const a = state();
    const b = state({ profile: { ...a.profile, email_verified: true }, roles: ['user', 'admin'], api_keys: [key], features: ['reports'] });
    const labels = diffStates(a, b).map((c) => `${c.kind} ${c.label}`);
    expect(labels).toEqual(expect.arrayContaining([
      'changed E-mail confirmed: no → yes', 'added Role granted: admin', 'added API key created: “ci” (alk_1…)', 'added Feature reachable: reports',
    ]));
    expect(diffStates(b, a).map((c) => c.kind)).toContain('removed');
    expect(diffStates(null, a)[0]!.label).toContain('Account created');
    expect(diffStates(a, a)).toEqual([]);
  });
});
