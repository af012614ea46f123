/**
 * File query routes (issue 15): the list (own; admins anyone's, by owner and category; cursor
 * pages; seed 004's GET /api/files), one file's metadata, its bytes, and seed 004's static path
 * GET /uploads/{category}/{stored-name}. Rules:
 * - only the owner and admins see a file; anyone else gets 404 file_not_found (never 403: that
 *   would confirm the id exists);
 * - bytes are served by src/http/file-response.ts on every path (nosniff, sandbox CSP,
 *   attachment unless a raster image, ETag, ranges);
 * - every route reads the `files` read model and declares it (read-your-writes: an upload is
 *   visible to the uploader's next request).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { FILE_CATEGORIES } from '../../events/file';
import { cursorInstant, cursorQuery, id } from '../../http/input';
import { decodeCursor, encodeCursor, problems } from '../../http/schemas';
import { fileView, sendStoredFile, toFileView, type ServedFile } from '../../http/file-response';
import type { AuthContext } from '../../http/auth-types';
import { blobStoreFor } from '../../infra/blobs/store';
import { fileById, filesByStorageKey, listFiles, type FileRow } from '../../projections/files';

const cursorShape = z.object({ t: cursorInstant, id });
const listQuery = cursorQuery.extend({
  owner: id.optional().describe('Admins: only this user\'s files (others may only name themselves)'),
  category: z.enum(FILE_CATEGORIES).optional(),
});
const page = z.object({ items: z.array(fileView), next_cursor: z.string().nullable() });

const view = (r: FileRow) => toFileView({
  fileId: r.file_id, userId: r.user_id, name: r.name, category: r.category, contentType: r.content_type, size: r.size,
  sha256: r.sha256, storageKey: r.storage_key, createdAt: r.created_at,
});
const served = (r: FileRow): ServedFile => ({ name: r.name, category: r.category, contentType: r.content_type, size: r.size, sha256: r.sha256, storageKey: r.storage_key });
const mayRead = (auth: AuthContext, r: FileRow) => r.user_id === auth.userId || auth.roles.includes('admin');
const notFound = () => errors.notFound('No such file.', 'file_not_found');

export async function fileQueryRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const blobs = blobStoreFor(services.config);

  async function list(request: FastifyRequest, q: z.infer<typeof listQuery>) {
    const auth = request.auth!;
    const admin = auth.roles.includes('admin');
    if (q.owner && q.owner !== auth.userId && !admin) throw errors.forbidden('Only admins list other users\' files.');
    const after = q.cursor ? decodeCursor(q.cursor, cursorShape) : undefined;
    if (q.cursor && !after) throw errors.badRequest('The cursor is not valid.', 'invalid_cursor');
    const rows = await listFiles(services.pool, {
      userId: admin ? q.owner : auth.userId, category: q.category, after: after && { createdAt: after.t, fileId: after.id }, limit: q.limit + 1,
    });
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return { items: items.map(view), next_cursor: more && last ? encodeCursor({ t: last.created_at.toISOString(), id: last.file_id }) : null };
  }

  const listSchema = (summary: string, tags: string[]) => ({
    tags, summary, security: [{ bearer: [] as string[] }], querystring: listQuery, response: { 200: page, ...problems(400, 401, 403) },
  });
  r.get('/api/v1/files', { config: { readModels: ['files'] }, preHandler: app.authenticate, schema: listSchema('List files: your own; admins anyone\'s (filter by owner, category)', ['files']) },
    async (request) => list(request, request.query));
  r.get('/api/files', { config: { readModels: ['files'] }, preHandler: app.authenticate, schema: listSchema('List files (seed 004 path; same as GET /api/v1/files)', ['files', 'seed-004']) },
    async (request) => list(request, request.query));

  async function readable(request: FastifyRequest, fileId: string): Promise<FileRow> {
    const row = await fileById(services.pool, fileId);
    if (!row || !mayRead(request.auth!, row)) throw notFound();
    return row;
  }

  r.get('/api/v1/files/:id', {
    config: { readModels: ['files'] },
    preHandler: app.authenticate,
    schema: { tags: ['files'], summary: 'One file\'s metadata (owner or admin)', security: [{ bearer: [] }], params: z.object({ id }), response: { 200: fileView, ...problems(400, 401, 404) } },
  }, async (request) => view(await readable(request, request.params.id)));

  const bytesResponses = { 200: z.any().describe('The file'), 206: z.any().describe('A byte range'), 304: z.null(), 416: z.any(), ...problems(400, 401, 404) };
  r.get('/api/v1/files/:id/content', {
    config: { readModels: ['files'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['files'], summary: 'A file\'s bytes (owner or admin; Range and If-None-Match supported)', security: [{ bearer: [] }],
      params: z.object({ id }), response: bytesResponses,
    },
  }, async (request, reply): Promise<FastifyReply> => sendStoredFile(request, reply, blobs, served(await readable(request, request.params.id))));

  r.get('/uploads/:category/:storedName', {
    config: { readModels: ['files'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['files', 'seed-004'], summary: 'A file by its seed-004 static path (owner or admin only; never public)', security: [{ bearer: [] }],
      params: z.object({ category: z.enum(FILE_CATEGORIES), storedName: z.string().min(1).max(120).regex(/^[A-Za-z0-9-]+(\.[a-z0-9]{1,10})?$/) }),
      response: bytesResponses,
    },
  }, async (request, reply): Promise<FastifyReply> => {
    const rows = await filesByStorageKey(services.pool, `${request.params.category}/${request.params.storedName}`);
    const row = rows.find((x) => mayRead(request.auth!, x));
    if (!row) throw notFound();
    return sendStoredFile(request, reply, blobs, served(row));
  });
}
