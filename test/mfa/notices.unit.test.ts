/** Security notices of issue 17: which MFA events mail the user, and what the mail says. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/events/store';
import { routeEvent } from '../../workers/jobs';
import { templates } from '../../workers/mail/templates';

const userId = randomUUID();
const ev = (type: string, data: Record<string, unknown>): RecordedEvent => ({
  type, data: { userId, ...data }, id: randomUUID(), position: { commit: 1n, prepare: 1n }, streamName: `mfa-${userId}`, revision: 0n, schemaVersion: 1,
  metadata: { ip: '198.51.100.7' }, createdAt: new Date(),
} as RecordedEvent);

describe('MFA notices', () => {
  it('factor added / removed, admin reset and a used recovery code mail the user (high priority); other uses do not', () => {
    const cases: [RecordedEvent, string | undefined][] = [
      [ev('TotpEnrolled', { name: 'phone' }), 'added'],
      [ev('PasskeyRegistered', { name: 'key' }), 'added'],
      [ev('SecondFactorRemoved', { method: 'passkey' }), 'removed'],
      [ev('SecondFactorRemoved', { method: 'recovery_code' }), undefined],
      [ev('SecondFactorsReset', { by: randomUUID() }), 'reset'],
      [ev('SecondFactorVerified', { method: 'recovery_code', remainingRecoveryCodes: 8 }), 'recovery-used'],
      [ev('SecondFactorVerified', { method: 'totp' }), undefined],
    ];
    for (const [e, change] of cases) {
      const jobs = routeEvent(e);
      if (!change) {
        expect(jobs, e.type).toEqual([]);
        continue;
      }
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ queue: 'high', name: 'mail', jobId: `mail-mfa-changed-${e.id}`, data: { kind: 'mfa-changed', userId, mfaChange: change } });
    }
  });

  it('the mail names the factor (escaped) and the remaining recovery codes', () => {
    const added = templates.mfaChanged({ baseUrl: 'x', name: 'Ann' }, { when: 'now', change: 'added', factorKind: 'passkey', factorName: '<b>key</b>' });
    expect(added.subject).toBe('A passkey was added to your account');
    expect(added.html).not.toContain('<b>key');
    const used = templates.mfaChanged({ baseUrl: 'x' }, { when: 'now', change: 'recovery-used', remaining: 8 });
    expect(used.text).toContain('8 unused codes remain');
  });
});
