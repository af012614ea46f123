/** The file deciders (issue 15), given / when / then. */
import { randomUUID } from 'node:crypto';
import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { fileLinkDecider, filesDecider, type NewFile } from '../../src/commands/files/decide';
import type { FileLinkEvent, FilesEvent } from '../../src/events/file';

const userId = randomUUID();
const sha = (c: string) => c.repeat(64);
const newFile = (over: Partial<NewFile> = {}): NewFile => ({
  fileId: randomUUID(), name: 'a.png', category: 'images', contentType: 'image/png', size: 100, sha256: sha('a'), candidateKey: `images/${randomUUID()}.png`, ...over,
});
const uploaded = (f: NewFile, storageKey = f.candidateKey): FilesEvent => ({
  type: 'FileUploaded',
  data: { fileId: f.fileId, userId, name: f.name, category: f.category, contentType: f.contentType, size: f.size, sha256: f.sha256, storageKey },
});
const deleted = (fileId: string, reason: 'owner' | 'admin' | 'user_deleted' = 'owner'): FilesEvent => ({ type: 'FileDeleted', data: { fileId, userId, reason } });
const files = spec(filesDecider);
const links = spec(fileLinkDecider);

describe('files decider', () => {
  it('uploads a batch as one list of FileUploaded, each with its own blob', () => {
    const a = newFile();
    const b = newFile({ name: 'b.pdf', category: 'documents', contentType: 'application/pdf', sha256: sha('b'), candidateKey: `documents/${randomUUID()}.pdf` });
    files.given([]).when({ type: 'UploadFiles', userId, files: [a, b], quotaBytes: 0 }).then([uploaded(a), uploaded(b)]);
  });
  it('refuses an empty upload (upload_empty)', () => {
    files.given([]).when({ type: 'UploadFiles', userId, files: [], quotaBytes: 0 }).thenThrows('upload_empty');
  });
  it('quota: live bytes plus the new ones may reach the quota, not pass it; deleted files free their bytes', () => {
    const old = newFile({ size: 600 });
    const fits = newFile({ size: 400, sha256: sha('c') });
    files.given([uploaded(old)]).when({ type: 'UploadFiles', userId, files: [fits], quotaBytes: 1000 }).then([uploaded(fits)]);
    files.given([uploaded(old)]).when({ type: 'UploadFiles', userId, files: [{ ...fits, size: 401 }], quotaBytes: 1000 }).thenThrows('quota_exceeded');
    files.given([uploaded(old), deleted(old.fileId)]).when({ type: 'UploadFiles', userId, files: [{ ...fits, size: 1000 }], quotaBytes: 1000 })
      .then([uploaded({ ...fits, size: 1000 })]);
    files.given([uploaded(old)]).when({ type: 'UploadFiles', userId, files: [{ ...fits, size: 10_000 }], quotaBytes: 0 }).then([uploaded({ ...fits, size: 10_000 })]);
  });
  it('dedupe: same sha256 and category as a live file (or an earlier one of the batch) points at that blob', () => {
    const live = newFile();
    const twin = newFile({ name: 'copy.png' });
    files.given([uploaded(live)]).when({ type: 'UploadFiles', userId, files: [twin], quotaBytes: 0 }).then([uploaded(twin, live.candidateKey)]);
    const first = newFile({ sha256: sha('d') });
    const second = newFile({ sha256: sha('d'), name: 'again.png' });
    files.given([]).when({ type: 'UploadFiles', userId, files: [first, second], quotaBytes: 0 }).then([uploaded(first), uploaded(second, first.candidateKey)]);
    // a deleted file's blob is never reused; another category is another file
    files.given([uploaded(live), deleted(live.fileId)]).when({ type: 'UploadFiles', userId, files: [twin], quotaBytes: 0 }).then([uploaded(twin)]);
    const otherCategory = newFile({ category: 'files', candidateKey: `files/${randomUUID()}.bin` });
    files.given([uploaded(live)]).when({ type: 'UploadFiles', userId, files: [otherCategory], quotaBytes: 0 }).then([uploaded(otherCategory)]);
  });
  it('deletes a live file; an unknown or already deleted one is 404 file_not_found', () => {
    const f = newFile();
    files.given([uploaded(f)]).when({ type: 'DeleteFile', userId, fileId: f.fileId, reason: 'admin' }).then([deleted(f.fileId, 'admin')]);
    files.given([uploaded(f), deleted(f.fileId)]).when({ type: 'DeleteFile', userId, fileId: f.fileId, reason: 'owner' }).thenThrows('file_not_found');
    files.given([]).when({ type: 'DeleteFile', userId, fileId: randomUUID(), reason: 'owner' }).thenThrows('file_not_found');
  });
  it('deleting a user deletes every live file (user_deleted), nothing when none are left', () => {
    const a = newFile();
    const b = newFile({ sha256: sha('e') });
    const gone = newFile({ sha256: sha('f') });
    files.given([uploaded(a), uploaded(b), uploaded(gone), deleted(gone.fileId)]).when({ type: 'DeleteAllFiles', userId })
      .then([deleted(a.fileId, 'user_deleted'), deleted(b.fileId, 'user_deleted')]);
    files.given([]).when({ type: 'DeleteAllFiles', userId }).then([]);
  });
});

describe('file link decider', () => {
  const linkId = randomUUID();
  const fileId = randomUUID();
  const expiresAt = '2030-01-01T00:00:00.000Z';
  const shared = (singleUse: boolean): FileLinkEvent => ({ type: 'FileShared', data: { linkId, fileId, userId, expiresAt, singleUse } });
  const used: FileLinkEvent = { type: 'FileLinkUsed', data: { linkId, fileId, userId } };
  const before = new Date('2029-12-31T23:59:59.000Z');
  const atExpiry = new Date(expiresAt);

  it('shares once per link id', () => {
    links.given([]).when({ type: 'ShareFile', linkId, fileId, userId, expiresAt, singleUse: true }).then([shared(true)]);
    links.given([shared(true)]).when({ type: 'ShareFile', linkId, fileId, userId, expiresAt, singleUse: true }).thenThrows('already_exists');
  });
  it('a reusable link is used without an event until it expires', () => {
    links.given([shared(false)]).when({ type: 'UseLink', linkId, now: before }).then([]);
    links.given([shared(false)]).when({ type: 'UseLink', linkId, now: atExpiry }).thenThrows('file_link_invalid');
  });
  it('a single-use link is used once (FileLinkUsed), then refused; expired or unknown links are refused', () => {
    links.given([shared(true)]).when({ type: 'UseLink', linkId, now: before }).then([used]);
    links.given([shared(true), used]).when({ type: 'UseLink', linkId, now: before }).thenThrows('file_link_invalid');
    links.given([shared(true)]).when({ type: 'UseLink', linkId, now: atExpiry }).thenThrows('file_link_invalid');
    links.given([]).when({ type: 'UseLink', linkId, now: before }).thenThrows('file_link_invalid');
  });
});
