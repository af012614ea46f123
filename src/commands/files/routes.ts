/**
 * File command routes (issue 15): upload (POST /api/v1/files and seed 004's POST /api/upload,
 * /api/upload/multiple), delete (DELETE /api/v1/files/{id}, seed DELETE /api/files/{filename}),
 * share links (POST /api/v1/files/{id}/links) and the share-link download
 * (GET /api/v1/file-links/{linkId}: it may consume a single-use link, so it is a command).
 * `@fastify/multipart` is registered in this module's own encapsulated scope: its content-type
 * parser and decorators stay out of sibling plugins (the gateway's reply-from).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import type { Services } from '../../services';
import { domainError } from '../../errors';
import { id } from '../../http/input';
import { problems } from '../../http/schemas';
import { metadataFrom } from '../../http/metadata';
import { fileView, sendStoredFile, toFileView } from '../../http/file-response';
import { blobStoreFor } from '../../infra/blobs/store';
import { createShareLink, deleteFile, deleteOwnFileByStoredName, openShareLink, uploadFiles } from './handlers';

const UPLOAD_DOC = 'multipart/form-data with one or more file parts (any field name). Each file is sorted into images / documents / files by '
  + 'its extension (seed 004\'s lists; SVG is a document), and its sniffed type (magic bytes) must agree with that category, else 415 content_mismatch. '
  + 'Limits: UPLOAD_MAX_BYTES per file, UPLOAD_MAX_FILES per request, UPLOAD_QUOTA_BYTES per user → 413. All files of a request are stored, or none.';

export async function fileCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const blobs = blobStoreFor(services.config);
  const { config } = services;

  await app.register(async (scope) => {
    await scope.register(multipart, { throwFileSizeLimit: true });
    const r = scope.withTypeProvider<ZodTypeProvider>();

    const upload = async (request: FastifyRequest, maxFiles: number) => {
      if (!request.isMultipart()) throw domainError('unsupported_media_type', 'Send the files as multipart/form-data.');
      return uploadFiles(services, blobs, request, request.auth!.userId, maxFiles);
    };
    const uploadSchema = (summary: string, tags: string[], response: z.ZodType) => ({
      tags, summary, description: UPLOAD_DOC, consumes: ['multipart/form-data'], security: [{ bearer: [] as string[] }, { accessTokenHeader: [] as string[] }] as { [k: string]: string[] }[],
      response: { 201: response, ...problems(400, 401, 413, 415) },
    });
    const items = z.object({ items: z.array(fileView) });

    r.post('/api/v1/files', { preHandler: app.authenticate, schema: uploadSchema('Upload one or more files', ['files'], items) }, async (request, reply) => {
      const up = await upload(request, config.UPLOAD_MAX_FILES);
      return reply.code(201).send({ items: up.files.map(toFileView) });
    });
    r.post('/api/upload/multiple', { preHandler: app.authenticate, schema: uploadSchema('Upload several files (seed 004 path)', ['files', 'seed-004'], items) }, async (request, reply) => {
      const up = await upload(request, config.UPLOAD_MAX_FILES);
      return reply.code(201).send({ items: up.files.map(toFileView) });
    });
    r.post('/api/upload', { preHandler: app.authenticate, schema: uploadSchema('Upload one file (seed 004 path)', ['files', 'seed-004'], fileView) }, async (request, reply) => {
      const up = await upload(request, 1);
      return reply.code(201).send(toFileView(up.files[0]!));
    });

    r.delete('/api/v1/files/:id', {
      preHandler: app.authenticate,
      schema: {
        tags: ['files'], summary: 'Delete a file (owner or admin); its blob goes with it', security: [{ bearer: [] }],
        params: z.object({ id }), response: { 204: z.null().describe('Deleted'), ...problems(400, 401, 404) },
      },
    }, async (request, reply) => {
      await deleteFile(services, blobs, request.auth!, request.params.id, metadataFrom(request));
      return reply.code(204).send(null);
    });

    r.delete('/api/files/:filename', {
      preHandler: app.authenticate,
      schema: {
        tags: ['files', 'seed-004'], summary: 'Delete one of your files by its stored name (seed 004 path)', security: [{ bearer: [] }],
        params: z.object({ filename: z.string().min(1).max(120).regex(/^[A-Za-z0-9-]+(\.[a-z0-9]{1,10})?$/, 'a stored file name') }),
        response: { 204: z.null().describe('Deleted'), ...problems(400, 401, 404) },
      },
    }, async (request, reply) => {
      await deleteOwnFileByStoredName(services, blobs, request.auth!, request.params.filename, metadataFrom(request));
      return reply.code(204).send(null);
    });

    const publicUrl = (config.PUBLIC_URL ?? `http://127.0.0.1:${config.PORT}`).replace(/\/+$/, '');
    r.post('/api/v1/files/:id/links', {
      preHandler: app.authenticate,
      schema: {
        tags: ['files'], summary: 'Make a signed, expiring share URL for a file (owner or admin)', security: [{ bearer: [] }],
        description: 'Anyone holding the URL may download the file until it expires (or once, with single_use). Deleting the file ends every link.',
        params: z.object({ id }),
        body: z.object({
          expires_in: z.number().int().min(1).max(config.UPLOAD_LINK_MAX_SECONDS).default(3600).describe('Seconds until the link expires'),
          single_use: z.boolean().default(false),
        }).strict().default({ expires_in: 3600, single_use: false }),
        response: {
          201: z.object({ link_id: z.string(), url: z.string(), expires_at: z.string(), single_use: z.boolean() }),
          ...problems(400, 401, 404),
        },
      },
    }, async (request, reply) => {
      const body = request.body ?? { expires_in: 3600, single_use: false };
      const link = await createShareLink(services, request.auth!, request.params.id, body.expires_in, body.single_use, metadataFrom(request));
      return reply.code(201).send({ link_id: link.linkId, url: `${publicUrl}${link.path}`, expires_at: link.expiresAt.toISOString(), single_use: link.singleUse });
    });

    r.get('/api/v1/file-links/:linkId', {
      config: { consistency: 'command' }, // a single-use link is consumed (an append)
      schema: {
        tags: ['files'], summary: 'Download a file through a share link (no account needed)',
        description: 'Served with the same headers as every file response (nosniff, sandbox CSP, attachment unless a raster image). '
          + 'Unknown, tampered, expired or used links: 404 file_link_invalid.',
        params: z.object({ linkId: id }),
        querystring: z.object({ expires: z.coerce.number().int().min(0).max(253402300799), signature: z.string().max(100).regex(/^[A-Za-z0-9_-]+$/) }),
        response: { 200: z.any().describe('The file'), 206: z.any().describe('A byte range'), 304: z.null(), 416: z.any(), ...problems(400, 404) },
      },
    }, async (request, reply): Promise<FastifyReply> => {
      const file = await openShareLink(services, request.params.linkId, request.query.expires, request.query.signature, metadataFrom(request));
      return sendStoredFile(request, reply, blobs, file);
    });
  });
}
