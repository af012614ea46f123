/**
 * The upload contract on both stores (describe.each: one body, run on disk and on S3 via s3rver):
 * every category, mismatch refusals, the seed aliases, access rules, cursor pages, and every
 * serving path (content, seed static path, share link) with its safe headers, Range, ETag, 304.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { blobStoreFor } from '../../src/infra/blobs/store';
import { multipart, png, jpeg, gif, pdf, text, svg, html, pe, cfb, rtf, binary, type Part } from './helpers';
import { expectServedSafely, expectSafeHeaders } from './serving';
import { STORES, useStore } from './stores';

describe.each(STORES)('uploads on the %s store', (kind) => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let projector: ProjectorHandle;
  let alice: TestUser;
  let bob: TestUser;
  let admin: TestUser;
  const store = useStore(kind);

  beforeAll(async () => {
    t = await testApp(`files_${kind}`, store.env());
    projector = runProjections(t.services);
    alice = await newUser(t.app, 'alice');
    bob = await newUser(t.app, 'bob');
    admin = await newAdmin(t.app, t.services);
  });
  afterAll(async () => {
    await projector?.stop();
    await t?.close();
  });

  async function upload(user: TestUser, parts: Part[], url = '/api/v1/files') {
    const m = multipart(parts);
    return t.app.inject({ method: 'POST', url, payload: m.payload, headers: { ...m.headers, ...bearer(user.token) } });
  }

  const FILE_HEADERS = (res: { headers: Record<string, unknown> }) => {
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBe("sandbox; default-src 'none'");
  };

  it('sorts every category and serves it with the safe headers', async () => {
    const cases: [Part, string, string, 'inline' | 'attachment'][] = [
      [{ name: 'a.png', content: png() }, 'images', 'image/png', 'inline'],
      [{ name: 'b.JPG', content: jpeg() }, 'images', 'image/jpeg', 'inline'],
      [{ name: 'c.gif', content: gif() }, 'images', 'image/gif', 'inline'],
      [{ name: 'd.pdf', content: pdf() }, 'documents', 'application/pdf', 'attachment'],
      [{ name: 'e.txt', content: text() }, 'documents', 'text/plain', 'attachment'],
      [{ name: 'f.doc', content: cfb() }, 'documents', 'application/x-cfb', 'attachment'],
      [{ name: 'g.rtf', content: rtf() }, 'documents', 'application/rtf', 'attachment'],
      [{ name: 'h.svg', content: svg() }, 'documents', 'image/svg+xml', 'attachment'],
      [{ name: 'i.bin', content: binary() }, 'files', 'application/octet-stream', 'attachment'],
      [{ name: 'page.html', content: html() }, 'files', 'text/plain', 'attachment'],
    ];
    for (const [part, category, type, disposition] of cases) {
      const res = await upload(alice, [part]);
      expect(res.statusCode, `${part.name}: ${res.body}`).toBe(201);
      const [f] = res.json().items;
      expect(f).toMatchObject({ name: part.name, category, content_type: type, size: part.content.length });
      expect(f.url).toMatch(new RegExp(`^/uploads/${category}/[0-9a-f-]{36}\\.[a-z]+$`));
      for (const url of [f.content_url, f.url]) {
        const got = await t.app.inject({ method: 'GET', url, headers: bearer(alice.token) });
        expect(got.statusCode, url).toBe(200);
        expect(got.rawPayload.equals(part.content)).toBe(true);
        expect(got.headers['content-type']).toContain(type);
        expect(String(got.headers['content-disposition'])).toMatch(new RegExp(`^${disposition};`));
        expect(got.headers.etag).toBe(`"${f.sha256}"`);
        FILE_HEADERS(got);
      }
    }
  });

  it('refuses content that does not match its extension (415 content_mismatch)', async () => {
    for (const part of [{ name: 'evil.png', content: html() }, { name: 'setup.pdf', content: pe() }, { name: 'x.jpg', content: pdf() }, { name: 'y.svg', content: text('no svg here') }]) {
      const res = await upload(alice, [part]);
      expect(res.statusCode, part.name).toBe(415);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('content_mismatch');
    }
  });

  it('seed 004 aliases: POST /api/upload, /api/upload/multiple, GET /api/files, DELETE /api/files/{filename}', async () => {
    const one = await upload(bob, [{ name: 'one.png', content: png() }], '/api/upload');
    expect(one.statusCode).toBe(201);
    expect(one.json()).toMatchObject({ name: 'one.png', category: 'images' });
    const many = await upload(bob, [{ name: 'two.txt', content: text() }, { name: 'three.pdf', content: pdf() }], '/api/upload/multiple');
    expect(many.statusCode).toBe(201);
    expect(many.json().items.map((f: { name: string }) => f.name)).toEqual(['two.txt', 'three.pdf']);
    const list = await t.app.inject({ method: 'GET', url: '/api/files', headers: bearer(bob.token) });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((f: { name: string }) => f.name).sort()).toEqual(['one.png', 'three.pdf', 'two.txt']);
    const stored = one.json().url.split('/').pop();
    const del = await t.app.inject({ method: 'DELETE', url: `/api/files/${stored}`, headers: bearer(bob.token) });
    expect(del.statusCode).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: one.json().url, headers: bearer(bob.token) });
    expect(after.statusCode).toBe(404);
  });

  it('another user\'s file is 404 on every path; admins may read it', async () => {
    const res = await upload(alice, [{ name: 'private.pdf', content: pdf() }]);
    const f = res.json().items[0];
    // Other sessions read the upload once the read model has it (read-your-writes across sessions).
    const after = { 'x-consistent-after': String(res.headers['x-log-position']) };
    for (const url of [`/api/v1/files/${f.id}`, f.content_url, f.url]) {
      const other = await t.app.inject({ method: 'GET', url, headers: { ...bearer(bob.token), ...after } });
      expect(other.statusCode, url).toBe(404);
      expect(other.json().code).toBe('file_not_found');
      const anon = await t.app.inject({ method: 'GET', url });
      expect(anon.statusCode).toBe(401);
      const adm = await t.app.inject({ method: 'GET', url, headers: { ...bearer(admin.token), ...after } });
      expect(adm.statusCode, url).toBe(200);
    }
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/files/${f.id}`, headers: bearer(bob.token) });
    expect(del.statusCode).toBe(404);
    const links = await t.app.inject({ method: 'POST', url: `/api/v1/files/${f.id}/links`, headers: bearer(bob.token), payload: {} });
    expect(links.statusCode).toBe(404);
  });

  it('lists own files in cursor pages; admins filter by owner and category', async () => {
    const carol = await newUser(t.app, 'carol');
    for (let i = 0; i < 5; i++) await upload(carol, [{ name: `n${i}.txt`, content: text() }]);
    await upload(carol, [{ name: 'pic.png', content: png() }]);
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<typeof t.app.inject>> = await t.app.inject({ method: 'GET', url: `/api/v1/files?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer(carol.token) });
      expect(res.statusCode).toBe(200);
      names.push(...res.json().items.map((f: { name: string }) => f.name));
      cursor = res.json().next_cursor;
    } while (cursor);
    expect(names).toEqual(['pic.png', 'n4.txt', 'n3.txt', 'n2.txt', 'n1.txt', 'n0.txt']);
    const forbidden = await t.app.inject({ method: 'GET', url: `/api/v1/files?owner=${alice.id}`, headers: bearer(carol.token) });
    expect(forbidden.statusCode).toBe(403);
    const adm = await t.app.inject({ method: 'GET', url: `/api/v1/files?owner=${carol.id}&category=images`, headers: bearer(admin.token) });
    expect(adm.json().items.map((f: { name: string }) => f.name)).toEqual(['pic.png']);
  });

  it('ranges, ETag and If-None-Match', async () => {
    const content = Buffer.from('0123456789abcdefghij');
    const f = (await upload(alice, [{ name: 'r.txt', content }])).json().items[0];
    const part = await t.app.inject({ method: 'GET', url: f.content_url, headers: { ...bearer(alice.token), range: 'bytes=5-9' } });
    expect(part.statusCode).toBe(206);
    expect(part.body).toBe('56789');
    expect(part.headers['content-range']).toBe(`bytes 5-9/${content.length}`);
    FILE_HEADERS(part);
    const suffix = await t.app.inject({ method: 'GET', url: f.content_url, headers: { ...bearer(alice.token), range: 'bytes=-3' } });
    expect(suffix.body).toBe('hij');
    const bad = await t.app.inject({ method: 'GET', url: f.content_url, headers: { ...bearer(alice.token), range: 'bytes=100-' } });
    expect(bad.statusCode).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${content.length}`);
    const cached = await t.app.inject({ method: 'GET', url: f.content_url, headers: { ...bearer(alice.token), 'if-none-match': `"${f.sha256}"` } });
    expect(cached.statusCode).toBe(304);
    FILE_HEADERS(cached);
  });

  it('keeps the bytes in the configured store', async () => {
    const f = (await upload(alice, [{ name: 'where.pdf', content: pdf() }])).json().items[0];
    const blobs = blobStoreFor(t.services.config);
    expect(blobs.kind).toBe(kind);
    expect((await blobs.stat(f.url.replace(/^\/uploads\//, '')))?.size).toBe(f.size);
  });

  it('every serving path (content, seed static path, share link) keeps the serving rules', async () => {
    const cases: [Part, string, 'inline' | 'attachment'][] = [
      [{ name: 'pic.png', content: png() }, 'image/png', 'inline'],
      [{ name: 'drawing.svg', content: svg() }, 'image/svg+xml', 'attachment'],
      [{ name: 'page.html', content: html() }, 'text/plain', 'attachment'],
      [{ name: 'paper.pdf', content: pdf() }, 'application/pdf', 'attachment'],
    ];
    for (const [part, contentType, disposition] of cases) {
      const res = await upload(alice, [part]);
      expect(res.statusCode, res.body).toBe(201);
      const f = res.json().items[0];
      const link = await t.app.inject({ method: 'POST', url: `/api/v1/files/${f.id}/links`, headers: bearer(alice.token), payload: { expires_in: 600 } });
      expect(link.statusCode, link.body).toBe(201);
      const u = new URL(link.json().url);
      const paths: [string, string, Record<string, string>][] = [
        ['content', f.content_url, bearer(alice.token)],
        ['seed static path', f.url, bearer(alice.token)],
        ['share link (anonymous)', `${u.pathname}${u.search}`, {}],
      ];
      for (const [label, url, auth] of paths) {
        await expectServedSafely(`${kind} ${part.name} ${label}`, (headers) => t.app.inject({ method: 'GET', url, headers: { ...auth, ...headers } }), {
          content: part.content, contentType, disposition, sha256: f.sha256,
        });
      }
    }
  });

  it('a HEAD of a file keeps the safe headers', async () => {
    const f = (await upload(alice, [{ name: 'h.svg', content: svg() }])).json().items[0];
    for (const url of [f.content_url, f.url]) {
      const head = await t.app.inject({ method: 'HEAD', url, headers: bearer(alice.token) });
      expect(head.statusCode, url).toBe(200);
      expectSafeHeaders(head, url);
      expect(String(head.headers['content-disposition'])).toMatch(/^attachment;/);
    }
  });
});
