/**
 * Limits (413) on both stores (describe.each, one body): nothing half-written stays behind after a
 * refused upload — the store's own listing (disk: also its .tmp/ temp files) is unchanged. The
 * 30 MB streaming test (memory of a real server process) is streaming.e2e.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newUser, type TestUser } from '../helpers/users';
import { blobStoreFor } from '../../src/infra/blobs/store';
import { multipart, png, html, text, type Part } from './helpers';
import { STORES, useStore } from './stores';

describe.each(STORES)('limits on the %s store', (kind) => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let user: TestUser;
  const store = useStore(kind);
  beforeAll(async () => {
    t = await testApp(`file_limits_${kind}`, { UPLOAD_MAX_BYTES: '1000', UPLOAD_MAX_FILES: '2', UPLOAD_QUOTA_BYTES: '2500', ...store.env() });
    user = await newUser(t.app, 'limits');
  });
  /** Every blob the store holds (disk: temp files too). */
  async function filesIn(): Promise<string[]> {
    const blobs = blobStoreFor(t.services.config);
    expect(blobs.kind).toBe(kind);
    const out: string[] = [];
    for await (const b of blobs.list()) out.push(b.key);
    return out.sort();
  }
  afterAll(async () => t?.close());

  const upload = (parts: Part[]) => {
    const m = multipart(parts);
    return t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(user.token) } });
  };

  it('413 file_too_large, too_many_files, quota_exceeded; 415 for a later part; nothing left behind', async () => {
    const ok = await upload([{ name: 'a.txt', content: text('x'.repeat(900)) }]);
    expect(ok.statusCode).toBe(201);
    const kept = await filesIn();
    expect(kept).toHaveLength(1);

    const big = await upload([{ name: 'small.txt', content: text('y'.repeat(10)) }, { name: 'big.txt', content: text('z'.repeat(1001)) }]);
    expect(big.statusCode).toBe(413);
    expect(big.headers['content-type']).toContain('application/problem+json');
    expect(big.json().code).toBe('file_too_large');
    expect(await filesIn()).toEqual(kept);

    const many = await upload([1, 2, 3].map((i) => ({ name: `m${i}.txt`, content: text(`m${i}`) })));
    expect(many.statusCode).toBe(413);
    expect(many.json().code).toBe('too_many_files');
    expect(await filesIn()).toEqual(kept);

    const mixed = await upload([{ name: 'fine.png', content: png() }, { name: 'evil.png', content: html() }]);
    expect(mixed.statusCode).toBe(415);
    expect(await filesIn()).toEqual(kept);

    const second = await upload([{ name: 'b.txt', content: text('b'.repeat(900)) }]);
    expect(second.statusCode).toBe(201);
    const quota = await upload([{ name: 'c.txt', content: text('c'.repeat(600)) }, { name: 'd.txt', content: text('d'.repeat(101)) }]);
    expect(quota.statusCode).toBe(413);
    expect(quota.json().code).toBe('quota_exceeded');
    expect(await filesIn()).toHaveLength(2);

    // Deleting frees quota.
    const id = ok.json().items[0].id;
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/files/${id}`, headers: bearer(user.token) })).statusCode).toBe(204);
    expect((await upload([{ name: 'c.txt', content: text('c'.repeat(600)) }])).statusCode).toBe(201);
  });

  it('refuses a body that is not multipart (415) and one with no file (400 upload_empty)', async () => {
    const json = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: { a: 1 }, headers: bearer(user.token) });
    expect(json.statusCode).toBe(415);
    const m = multipart([], { note: 'no file' });
    const empty = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(user.token) } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe('upload_empty');
  });
});
