/** One contract for every BlobStore adapter (disk, S3): run by blob-stores.int.test.ts against each. */
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/infra/blobs/store';

export async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A source of `size` bytes made as it is read, that fails after `failAfter` bytes when given. */
export function generated(size: number, opts: { failAfter?: number; chunk?: number } = {}): Readable {
  let sent = 0;
  const chunk = opts.chunk ?? 64 * 1024;
  return new Readable({
    read() {
      if (opts.failAfter !== undefined && sent >= opts.failAfter) return this.destroy(new Error('source failed'));
      if (sent >= size) return this.push(null);
      const n = Math.min(chunk, size - sent);
      sent += n;
      this.push(Buffer.alloc(n, sent % 251));
    },
  });
}

const key = (category = 'files', ext = 'bin') => `${category}/${randomUUID()}.${ext}`;

export function blobStoreContract(name: string, make: () => BlobStore) {
  describe(`BlobStore contract: ${name}`, () => {
    it('puts, stats, gets (whole and a range), lists and deletes', async () => {
      const store = make();
      const k = key('images', 'png');
      const data = randomBytes(100_000);
      await store.put(k, Readable.from([data.subarray(0, 40_000), data.subarray(40_000)]));
      expect((await store.stat(k))?.size).toBe(data.length);
      expect((await readAll((await store.get(k))!)).equals(data)).toBe(true);
      expect((await readAll((await store.get(k, { start: 10, end: 19 }))!)).equals(data.subarray(10, 20))).toBe(true);
      const listed: string[] = [];
      for await (const b of store.list()) listed.push(b.key);
      expect(listed).toContain(k);
      await store.delete(k);
      await store.delete(k); // idempotent
      expect(await store.get(k)).toBeUndefined();
      expect(await store.stat(k)).toBeUndefined();
    });

    it('a missing key reads as undefined', async () => {
      const store = make();
      expect(await store.get(key())).toBeUndefined();
    });

    it('a source that fails mid-way leaves nothing behind (also past one multipart part)', async () => {
      const store = make();
      for (const [size, failAfter] of [[50_000, 20_000], [12 * 1024 * 1024, 7 * 1024 * 1024]] as const) {
        const k = key();
        await expect(store.put(k, generated(size, { failAfter }))).rejects.toThrow();
        expect(await store.stat(k)).toBeUndefined();
        for await (const b of store.list()) expect(b.key).not.toBe(k);
      }
    });

    it('streams a blob larger than one multipart part (12 MB)', async () => {
      const store = make();
      const k = key('documents', 'pdf');
      await store.put(k, generated(12 * 1024 * 1024));
      expect((await store.stat(k))?.size).toBe(12 * 1024 * 1024);
      const tail = await readAll((await store.get(k, { start: 12 * 1024 * 1024 - 5, end: 12 * 1024 * 1024 - 1 }))!);
      expect(tail.length).toBe(5);
      await store.delete(k);
    });

    it('refuses keys outside the layout (no traversal)', async () => {
      const store = make();
      for (const bad of ['../etc/passwd', 'images/../../x', 'other/abc', 'images/a/b', '/abs']) {
        await expect(store.put(bad, Readable.from([Buffer.from('x')]))).rejects.toThrow(/not a blob key/);
      }
    });
  });
}
