/**
 * The web console (issue 16) and the offline ReDoc page's script, served by the API:
 * - `/console/assets/*`: the built, content-hashed files (dist/console/assets), cached a year,
 *   brotli or gzip when the browser accepts it (compressed once at build time);
 * - `/console/` and every other `/console/...` path: the SPA's index.html (its router picks the
 *   screen), never cached, so a rebuild is picked up on the next load;
 * - `/redoc/redoc.standalone.js`: the `redoc` package's own bundle (no CDN: /redoc works offline);
 * - no build yet: `/console/` answers 503 `console_not_built` naming the command to run.
 * The console calls the public REST API only; nothing here is an API route.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { domainError } from '../errors';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Where the built console is: dist/console beside the sources (`npm start`), or console/ beside
 * the compiled server (`npm run build` puts both in dist/). The one with a build stamp wins.
 */
export function consoleDir(): string {
  const root = path.resolve(here, '../..');
  const candidates = [path.join(root, 'dist', 'console'), path.join(root, 'console')];
  return candidates.find((d) => fs.existsSync(path.join(d, '.build-stamp'))) ?? candidates[0]!;
}

const redocBundle = () => path.join(path.dirname(createRequire(import.meta.url).resolve('redoc/package.json')), 'bundles');

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  const dir = consoleDir();
  const assets = path.join(dir, 'assets');
  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/console/assets/',
    decorateReply: false,
    index: false,
    // Names carry a content hash: a changed file is a new name.
    immutable: true,
    // .br / .gz written by the build (scripts/build-console.mjs), sent when the browser accepts them.
    preCompressed: true,
    maxAge: '365d',
    schemaHide: true,
  } as never);
  await app.register(fastifyStatic, {
    root: redocBundle(),
    prefix: '/redoc/',
    decorateReply: false,
    index: false,
    allowedPath: (p: string) => p === '/redoc.standalone.js',
    maxAge: '1d',
    schemaHide: true,
  } as never);

  const index = path.join(dir, 'index.html');
  const page = async (_request: unknown, reply: import('fastify').FastifyReply) => {
    const html = await fs.promises.readFile(index, 'utf8').catch(() => undefined);
    if (html === undefined) throw domainError('console_not_built', 'The console is not built: run `npm run build:console` (npm start does it when needed).');
    reply.header('cache-control', 'no-cache');
    reply.type('text/html; charset=utf-8');
    return html;
  };
  app.get('/console', { schema: { hide: true }, config: { rateLimit: false, consistency: 'none' } }, page);
  app.get('/console/*', { schema: { hide: true }, config: { rateLimit: false, consistency: 'none' } }, page);
}
