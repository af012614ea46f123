/**
 * File command handlers (issue 15). Rules enforced here:
 * - blob before event: the upload's blobs are written (streamed, hashed) first, then one batch of
 *   FileUploaded is appended on the owner's stream; if the append fails the blobs are removed; a
 *   crash in between leaves blobs no event claims, for the sweeper;
 * - after a deduped upload the request's own copy is removed (the file points at the older blob);
 * - after a deletion the blob is removed at once unless another live file of the owner claims it
 *   (dedupe is per owner, so no one else can); the sweeper is the backstop for a crash here;
 * - an admin acting on another user's file finds its owner through the `files` read model (a
 *   lookup only: the decision is made on the owner's stream);
 * - a share link is checked signature first (constant time), then decided on its own stream
 *   (single-use: FileLinkUsed at the revision read, so two downloads cannot both use it), then the
 *   file must still be live on its owner's stream.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { streams } from '../../events/streams';
import type { EventMetadata, Position } from '../../events/store';
import type { FileUploadedEvent, StoredFile } from '../../events/file';
import type { AuthContext } from '../../http/auth-types';
import type { BlobStore } from '../../infra/blobs/store';
import { fileById } from '../../projections/files';
import { fileLinkKey, fileLinkPath, fileLinkSignatureValid, signFileLink } from '../../credentials/file-links';
import { loadStream, runCommand } from '../decider';
import { fileLinkDecider, filesDecider } from './decide';
import { receiveFiles, removeAll } from './intake';
import { metadataFrom } from '../../http/metadata';

export interface Uploaded {
  files: (FileUploadedEvent['data'] & { createdAt: Date })[];
  position?: Position;
}

export async function uploadFiles(services: Services, blobs: BlobStore, request: FastifyRequest, userId: string, maxFiles: number): Promise<Uploaded> {
  const { config } = services;
  const stream = streams.userFiles(userId);
  const loaded = await loadStream(services.store, stream, filesDecider);
  const { files, written } = await receiveFiles(request, blobs, {
    maxBytes: config.UPLOAD_MAX_BYTES, maxFiles, quotaBytes: config.UPLOAD_QUOTA_BYTES, usedBytes: loaded.state.totalBytes,
  });
  let result;
  try {
    result = await runCommand(services, {
      stream, decider: filesDecider, command: { type: 'UploadFiles', userId, files, quotaBytes: config.UPLOAD_QUOTA_BYTES }, metadata: metadataFrom(request),
    });
  } catch (err) {
    await removeAll(blobs, written);
    throw err;
  }
  const claimed = new Set(result.appended.map((e) => (e.data as FileUploadedEvent['data']).storageKey));
  await removeAll(blobs, written.filter((k) => !claimed.has(k)));
  const createdAt = new Date();
  return { files: result.appended.map((e) => ({ ...(e.data as FileUploadedEvent['data']), createdAt })), position: result.position };
}

/** The owner of a file the caller may act on: the caller's own, or (admins) anyone's. 404 otherwise. */
async function ownerOf(services: Services, auth: AuthContext, fileId: string): Promise<{ userId: string; file: StoredFile }> {
  const own = await loadStream(services.store, streams.userFiles(auth.userId), filesDecider);
  const mine = own.state.files.get(fileId);
  if (mine) return { userId: auth.userId, file: mine };
  if (auth.roles.includes('admin')) {
    const row = await fileById(services.pool, fileId);
    if (row) {
      const theirs = (await loadStream(services.store, streams.userFiles(row.user_id), filesDecider)).state.files.get(fileId);
      if (theirs) return { userId: row.user_id, file: theirs };
    }
  }
  throw errors.notFound('No such file.', 'file_not_found');
}

export async function deleteFile(services: Services, blobs: BlobStore, auth: AuthContext, fileId: string, metadata: EventMetadata): Promise<void> {
  const { userId, file } = await ownerOf(services, auth, fileId);
  const reason = userId === auth.userId ? 'owner' : 'admin';
  const result = await runCommand(services, { stream: streams.userFiles(userId), decider: filesDecider, command: { type: 'DeleteFile', userId, fileId, reason }, metadata });
  if (![...result.state.files.values()].some((f) => f.storageKey === file.storageKey)) await removeAll(blobs, [file.storageKey]);
}

/** Seed 004's DELETE /api/files/{filename}: the caller's own file by its stored name. */
export async function deleteOwnFileByStoredName(services: Services, blobs: BlobStore, auth: AuthContext, storedName: string, metadata: EventMetadata): Promise<void> {
  const own = await loadStream(services.store, streams.userFiles(auth.userId), filesDecider);
  const file = [...own.state.files.values()].find((f) => f.storageKey.split('/')[1] === storedName);
  if (!file) throw errors.notFound('No such file.', 'file_not_found');
  await deleteFile(services, blobs, auth, file.fileId, metadata);
}

/** At user deletion: every live file of the user is deleted, and its blob removed. */
export async function deleteAllFilesOfUser(services: Services, blobs: BlobStore, userId: string, metadata: EventMetadata): Promise<number> {
  const before = await loadStream(services.store, streams.userFiles(userId), filesDecider);
  const keys = new Set([...before.state.files.values()].map((f) => f.storageKey));
  const result = await runCommand(services, { stream: streams.userFiles(userId), decider: filesDecider, command: { type: 'DeleteAllFiles', userId }, metadata });
  const stillClaimed = new Set([...result.state.files.values()].map((f) => f.storageKey));
  await removeAll(blobs, [...keys].filter((k) => !stillClaimed.has(k)));
  return result.appended.length;
}

export interface CreatedLink {
  linkId: string;
  path: string;
  expiresAt: Date;
  singleUse: boolean;
  position?: Position;
}

export async function createShareLink(services: Services, auth: AuthContext, fileId: string, expiresInSeconds: number, singleUse: boolean, metadata: EventMetadata): Promise<CreatedLink> {
  const { userId } = await ownerOf(services, auth, fileId);
  const linkId = randomUUID();
  // Whole seconds: the URL carries them and the signature covers them.
  const expiresUnix = Math.floor(Date.now() / 1000) + expiresInSeconds;
  const expiresAt = new Date(expiresUnix * 1000);
  const result = await runCommand(services, {
    stream: streams.fileLink(linkId), decider: fileLinkDecider,
    command: { type: 'ShareFile', linkId, fileId, userId, expiresAt: expiresAt.toISOString(), singleUse }, metadata,
  });
  const signature = signFileLink(fileLinkKey(services.config), linkId, expiresUnix);
  return { linkId, path: fileLinkPath(linkId, expiresUnix, signature), expiresAt, singleUse, position: result.position };
}

/** The file a share link opens (consuming a single-use link), or 404 file_link_invalid. */
export async function openShareLink(services: Services, linkId: string, expiresUnix: number, signature: string, metadata: EventMetadata): Promise<StoredFile> {
  const invalid = () => errors.notFound('This link is not valid (unknown, expired or already used).', 'file_link_invalid');
  if (!fileLinkSignatureValid(fileLinkKey(services.config), linkId, expiresUnix, signature)) throw invalid();
  if (expiresUnix * 1000 <= Date.now()) throw invalid();
  const link = await loadStream(services.store, streams.fileLink(linkId), fileLinkDecider);
  if (!link.state.exists || Date.parse(link.state.expiresAt!) !== expiresUnix * 1000) throw invalid();
  const owner = await loadStream(services.store, streams.userFiles(link.state.userId!), filesDecider);
  const file = owner.state.files.get(link.state.fileId!);
  if (!file) throw invalid();
  await runCommand(services, { stream: streams.fileLink(linkId), decider: fileLinkDecider, command: { type: 'UseLink', linkId, now: new Date() }, metadata });
  return file;
}
