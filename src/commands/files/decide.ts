/**
 * File decisions (issue 15). Rules enforced here:
 * - an upload (one or many files, one request) is all or nothing: one batch of FileUploaded;
 * - quota: the owner's live bytes plus the new ones may not pass `quotaBytes` (0 = none) → 413
 *   quota_exceeded; decided on the owner's stream at the revision it was loaded at, so two
 *   concurrent uploads cannot both pass it;
 * - dedupe per owner: a file whose sha256 and category equal a live file's of the same owner
 *   points at that file's blob (its own freshly written blob is then removed by the caller);
 * - deleting needs a live file (404 file_not_found); deleting a user deletes every live file;
 * - a share link is created once per link id, for a live file; using a link needs it to exist,
 *   be unexpired and, when single-use, unused (else 404 file_link_invalid, which says no more).
 */
import { domainError, errors } from '../../errors';
import {
  evolveFileLink, evolveFiles, initialFileLinkState, initialFilesState,
  type FileCategory, type FileLinkEvent, type FileLinkState, type FilesEvent, type FilesState,
} from '../../events/file';

export interface NewFile {
  fileId: string;
  name: string;
  category: FileCategory;
  contentType: string;
  size: number;
  sha256: string;
  /** The key its blob was written under (used unless an identical live file exists). */
  candidateKey: string;
}

export type FilesCommand =
  | { type: 'UploadFiles'; userId: string; files: NewFile[]; quotaBytes: number }
  | { type: 'DeleteFile'; userId: string; fileId: string; reason: 'owner' | 'admin' }
  | { type: 'DeleteAllFiles'; userId: string };

export const quotaExceeded = (quotaBytes: number, usedBytes: number) =>
  domainError('quota_exceeded', `This upload would pass your storage quota of ${quotaBytes} bytes.`, { extra: { quota_bytes: quotaBytes, used_bytes: usedBytes } });

export function decideFiles(command: FilesCommand, state: FilesState): FilesEvent[] {
  switch (command.type) {
    case 'UploadFiles': {
      if (!command.files.length) throw errors.badRequest('No file in the request.', 'upload_empty');
      const adding = command.files.reduce((n, f) => n + f.size, 0);
      if (command.quotaBytes > 0 && state.totalBytes + adding > command.quotaBytes) throw quotaExceeded(command.quotaBytes, state.totalBytes);
      const live = [...state.files.values()];
      const chosen: FilesEvent[] = [];
      for (const f of command.files) {
        const same = live.find((l) => l.sha256 === f.sha256 && l.category === f.category)
          ?? chosen.map((c) => c.data as { sha256: string; category: string; storageKey: string }).find((c) => c.sha256 === f.sha256 && c.category === f.category);
        chosen.push({
          type: 'FileUploaded',
          data: {
            fileId: f.fileId, userId: command.userId, name: f.name, category: f.category, contentType: f.contentType,
            size: f.size, sha256: f.sha256, storageKey: same ? same.storageKey : f.candidateKey,
          },
        });
      }
      return chosen;
    }
    case 'DeleteFile':
      if (!state.files.has(command.fileId)) throw errors.notFound('No such file.', 'file_not_found');
      return [{ type: 'FileDeleted', data: { fileId: command.fileId, userId: command.userId, reason: command.reason } }];
    case 'DeleteAllFiles':
      return [...state.files.keys()].map((fileId) => ({ type: 'FileDeleted' as const, data: { fileId, userId: command.userId, reason: 'user_deleted' as const } }));
  }
}

export const filesDecider = { initialState: initialFilesState, evolve: evolveFiles, decide: decideFiles };

export type FileLinkCommand =
  | { type: 'ShareFile'; linkId: string; fileId: string; userId: string; expiresAt: string; singleUse: boolean }
  | { type: 'UseLink'; linkId: string; now: Date };

const linkInvalid = () => errors.notFound('This link is not valid (unknown, expired or already used).', 'file_link_invalid');

export function decideFileLink(command: FileLinkCommand, state: FileLinkState): FileLinkEvent[] {
  switch (command.type) {
    case 'ShareFile':
      if (state.exists) throw errors.conflict('This link exists already.', 'already_exists');
      return [{ type: 'FileShared', data: { linkId: command.linkId, fileId: command.fileId, userId: command.userId, expiresAt: command.expiresAt, singleUse: command.singleUse } }];
    case 'UseLink':
      if (!state.exists || Date.parse(state.expiresAt!) <= command.now.getTime()) throw linkInvalid();
      if (!state.singleUse) return [];
      if (state.used) throw linkInvalid();
      return [{ type: 'FileLinkUsed', data: { linkId: command.linkId, fileId: state.fileId!, userId: state.userId! } }];
  }
}

export const fileLinkDecider = { initialState: initialFileLinkState, evolve: evolveFileLink, decide: decideFileLink };
