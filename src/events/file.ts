/**
 * File events (issue 15). Two kinds of stream:
 * - `files-<userId>` (streams.userFiles): one owner's files — FileUploaded, FileDeleted. Quota
 *   (the owner's total bytes) and per-owner dedupe are decided on this one stream, so two
 *   concurrent uploads cannot both pass the quota;
 * - `filelink-<linkId>` (streams.fileLink): one share link — FileShared, FileLinkUsed (single-use
 *   links only; a download of a reusable link appends nothing: hot facts stay off the log).
 * Every event carries `userId` (the owner) so the audit trail and `state?at=` show it.
 * `storageKey` names the blob (`<category>/<stored name>`); the blob is written before the event.
 */
import { z } from 'zod';
import { defineEvent, type EventOf } from './registry';
import { id, isoTime } from './common';

/** Raster image types: the only content ever served inline (SVG is not one: it is a document). */
export const RASTER_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/bmp', 'image/webp', 'image/tiff']);

export const FILE_CATEGORIES = ['images', 'documents', 'files'] as const;
export const fileCategory = z.enum(FILE_CATEGORIES);
export type FileCategory = z.infer<typeof fileCategory>;

/** `<category>/<stored name>`: the stored name is a uuid and a lower-case extension. */
export const storageKey = z.string().max(200).regex(/^(images|documents|files)\/[A-Za-z0-9-]{1,100}(\.[a-z0-9]{1,10})?$/);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const FileUploaded = defineEvent('FileUploaded', z.object({
  fileId: id,
  userId: id,
  /** The original name, sanitised (no path, no control characters). */
  name: z.string().min(1).max(255),
  category: fileCategory,
  /** The sniffed type (magic bytes), not the client's claim. */
  contentType: z.string().max(200),
  size: z.number().int().min(0),
  sha256,
  storageKey,
}));
export const FileDeleted = defineEvent('FileDeleted', z.object({
  fileId: id,
  userId: id,
  reason: z.enum(['owner', 'admin', 'user_deleted']).optional(),
}));
export const FileShared = defineEvent('FileShared', z.object({
  linkId: id,
  fileId: id,
  userId: id,
  expiresAt: isoTime,
  singleUse: z.boolean(),
}));
export const FileLinkUsed = defineEvent('FileLinkUsed', z.object({ linkId: id, fileId: id, userId: id }));
export const fileEvents = [FileUploaded, FileDeleted, FileShared, FileLinkUsed];

export type FileUploadedEvent = EventOf<typeof FileUploaded>;
export type FilesEvent = FileUploadedEvent | EventOf<typeof FileDeleted>;
export type FileLinkEvent = EventOf<typeof FileShared> | EventOf<typeof FileLinkUsed>;

export interface StoredFile {
  fileId: string;
  userId: string;
  name: string;
  category: FileCategory;
  contentType: string;
  size: number;
  sha256: string;
  storageKey: string;
}

/** One owner's live files (deleted ones are dropped) and their total size. */
export interface FilesState {
  files: Map<string, StoredFile>;
  totalBytes: number;
}

export const initialFilesState = (): FilesState => ({ files: new Map(), totalBytes: 0 });

export function evolveFiles(state: FilesState, event: FilesEvent): FilesState {
  switch (event.type) {
    case 'FileUploaded': {
      if (state.files.has(event.data.fileId)) return state;
      const files = new Map(state.files);
      files.set(event.data.fileId, { ...event.data });
      return { files, totalBytes: state.totalBytes + event.data.size };
    }
    case 'FileDeleted': {
      const f = state.files.get(event.data.fileId);
      if (!f) return state;
      const files = new Map(state.files);
      files.delete(event.data.fileId);
      return { files, totalBytes: state.totalBytes - f.size };
    }
    default:
      return state;
  }
}

export interface FileLinkState {
  exists: boolean;
  fileId?: string;
  userId?: string;
  expiresAt?: string;
  singleUse: boolean;
  used: boolean;
}

export const initialFileLinkState = (): FileLinkState => ({ exists: false, singleUse: false, used: false });

export function evolveFileLink(state: FileLinkState, event: FileLinkEvent): FileLinkState {
  switch (event.type) {
    case 'FileShared':
      return { exists: true, fileId: event.data.fileId, userId: event.data.userId, expiresAt: event.data.expiresAt, singleUse: event.data.singleUse, used: false };
    case 'FileLinkUsed':
      return { ...state, used: true };
    default:
      return state;
  }
}
