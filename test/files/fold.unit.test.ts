/** The audit fold's files (issue 15): pure, and kept through a snapshot (serialize/deserialize). */
import { describe, expect, it } from 'vitest';
import { applyEvent, deserialize, foldUser, serialize, viewAt, type UserAt } from '../../src/queries/audit/fold';
import type { RecordedEvent } from '../../src/events/store';

let n = 0;
const ev = (type: string, data: Record<string, unknown>, minute: number): RecordedEvent => ({
  position: { commit: 1n, prepare: BigInt(++n) }, streamName: 's', revision: 0n, id: String(n), type, schemaVersion: 1, data, metadata: {},
  createdAt: new Date(Date.UTC(2030, 0, 1, 10, minute)),
});
const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 10, minute, 30));
const u = 'u1';
const file = (fileId: string) => ({ fileId, userId: u, name: `${fileId}.png`, category: 'images', contentType: 'image/png', size: 10, sha256: 'a'.repeat(64), storageKey: `images/${fileId}.png` });
const events = [
  ev('UserRegistered', { userId: u, email: 'a@x', name: 'A', passwordHash: 'h', source: 'signup' }, 1),
  ev('FileUploaded', file('f1'), 2),
  ev('FileUploaded', file('f2'), 3),
  ev('FileDeleted', { fileId: 'f1', userId: u, reason: 'owner' }, 4),
];
const ids = (x: UserAt | undefined) => [...(x?.files.keys() ?? [])].sort();

describe('files in the audit fold', () => {
  it('lists uploaded, not yet deleted files at each instant; no storage key in the state', () => {
    expect(ids(foldUser(events, at(1)))).toEqual([]);
    expect(ids(foldUser(events, at(2)))).toEqual(['f1']);
    expect(ids(foldUser(events, at(3)))).toEqual(['f1', 'f2']);
    expect(ids(foldUser(events, at(4)))).toEqual(['f2']);
    const f2 = foldUser(events, at(4))!.files.get('f2')!;
    expect(f2).toEqual({ id: 'f2', name: 'f2.png', category: 'images', contentType: 'image/png', size: 10, sha256: 'a'.repeat(64), uploadedAt: '2030-01-01T10:03:00.000Z' });
    expect(JSON.stringify(serialize(foldUser(events, at(4))!))).not.toContain('storageKey');
  });
  it('a snapshot cut in the middle continues to the same answer', () => {
    let acc: UserAt | undefined;
    for (const e of events.slice(0, 2)) acc = applyEvent(acc, e);
    let resumed: UserAt | undefined = deserialize(JSON.parse(JSON.stringify(serialize(acc!))));
    expect(ids(resumed)).toEqual(['f1']);
    for (const e of events.slice(2)) resumed = applyEvent(resumed, e);
    expect(viewAt(resumed!, at(4))).toEqual(foldUser(events, at(4)));
  });
  it('an older snapshot without files reads as none', () => {
    const old = serialize(foldUser(events.slice(0, 1), at(1))!) as Record<string, unknown>;
    delete old.files;
    expect(deserialize(old).files.size).toBe(0);
  });
});
