/**
 * How a stored file is served, on every path (GET /api/v1/files/{id}/content, GET /uploads/…, share
 * links). Rules (issue 15: serving can never become a stored-XSS hole):
 * - Content-Type is the sniffed type recorded at upload, never the client's claim;
 * - `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox; default-src 'none'`
 *   on every file response (also 206 and 304), so even a document opened directly runs nothing;
 * - `Content-Disposition: inline` only for raster images in the images category; everything
 *   else (SVG included) is `attachment`, with the sanitised original name (RFC 6266 filename*);
 * - `ETag` is the sha256 (strong); If-None-Match → 304; a single `Range: bytes=…` → 206 with
 *   Content-Range (If-Range honoured), an unsatisfiable one → 416; several ranges → the whole file;
 * - `Cache-Control: private, no-cache`: browsers may keep it and revalidate, shared caches never.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { FILE_CATEGORIES, RASTER_IMAGE_TYPES, type FileCategory } from '../events/file';
import type { BlobStore, ByteRange } from '../infra/blobs/store';
import { errors } from '../errors';

export const FILE_CSP = "sandbox; default-src 'none'";

export interface ServedFile {
  name: string;
  category: FileCategory;
  contentType: string;
  size: number;
  sha256: string;
  storageKey: string;
}

export function contentDisposition(f: Pick<ServedFile, 'name' | 'category' | 'contentType'>): string {
  const inline = f.category === 'images' && RASTER_IMAGE_TYPES.has(f.contentType);
  const ascii = f.name.replace(/[^A-Za-z0-9._ -]/g, '_');
  return `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(f.name)}`;
}

export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Sends a stored file with the serving rules above. */
export async function sendStoredFile(request: FastifyRequest, reply: FastifyReply, blobs: BlobStore, f: ServedFile): Promise<FastifyReply> {
  const etag = `"${f.sha256}"`;
  const headers = () => reply.headers({
    'content-security-policy': FILE_CSP,
    'x-content-type-options': 'nosniff',
    'content-disposition': contentDisposition(f),
    etag,
    'accept-ranges': 'bytes',
    'cache-control': 'private, no-cache',
  });
  const inm = request.headers['if-none-match'];
  if (typeof inm === 'string' && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) {
    headers();
    return reply.code(304).send();
  }
  const ifRange = request.headers['if-range'];
  let range = parseRange(request.headers.range, f.size);
  if (range && typeof ifRange === 'string' && ifRange.trim() !== etag) range = undefined;
  if (range === 'unsatisfiable') {
    // 416 carries no representation: the Content-Range says what the client may ask for.
    headers();
    return reply.code(416).header('content-range', `bytes */${f.size}`).type(f.contentType).send('');
  }
  const body = await blobs.get(f.storageKey, range);
  if (!body) {
    request.log.warn({ storage_key: f.storageKey }, 'file blob missing');
    throw errors.notFound('No such file.', 'file_not_found');
  }
  headers();
  reply.type(f.contentType);
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${f.size}`).header('content-length', range.end - range.start + 1);
  } else {
    reply.header('content-length', f.size);
  }
  return reply.send(body);
}

/** A file as every route answers it (issue 15 contract). */
export const fileView = z.object({
  id: z.string(),
  name: z.string(),
  category: z.enum(FILE_CATEGORIES),
  content_type: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  url: z.string().describe('Seed 004\'s static path /uploads/{category}/{stored-name} (same access rules)'),
  content_url: z.string().describe('GET /api/v1/files/{id}/content'),
  owner_id: z.string(),
  created_at: z.string(),
});
export type FileView = z.infer<typeof fileView>;

export const toFileView = (f: { fileId: string; userId: string; name: string; category: FileCategory; contentType: string; size: number; sha256: string; storageKey: string; createdAt: Date }): FileView => ({
  id: f.fileId,
  name: f.name,
  category: f.category,
  content_type: f.contentType,
  size: f.size,
  sha256: f.sha256,
  url: `/uploads/${f.storageKey}`,
  content_url: `/api/v1/files/${f.fileId}/content`,
  owner_id: f.userId,
  created_at: f.createdAt.toISOString(),
});
