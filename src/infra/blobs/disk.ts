/** The disk blob store: UPLOAD_DIR/{images,documents,files}/<stored name>; writes go through UPLOAD_DIR/.tmp. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { assertKey, type BlobInfo, type BlobStore, type ByteRange } from './types';

const DIRS = ['images', 'documents', 'files'];
const TEMP = /^\.tmp\/[A-Za-z0-9-]+\.part$/;

export class DiskBlobStore implements BlobStore {
  readonly kind = 'disk' as const;
  private ready?: Promise<void>;
  constructor(readonly root: string) {}

  private ensure(): Promise<void> {
    this.ready ??= Promise.all([...DIRS, '.tmp'].map((d) => fsp.mkdir(path.join(this.root, d), { recursive: true }))).then(() => undefined);
    return this.ready;
  }

  private file(key: string): string {
    assertKey(key);
    return path.join(this.root, key);
  }

  async put(key: string, body: Readable): Promise<void> {
    const target = this.file(key);
    await this.ensure();
    const tmp = path.join(this.root, '.tmp', `${randomUUID()}.part`);
    try {
      await pipeline(body, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      await fsp.rename(tmp, target);
    } catch (err) {
      body.destroy();
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | undefined> {
    const file = this.file(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const s = await fsp.stat(this.file(key));
      return { key, size: s.size, modifiedAt: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Also removes a temp file (`.tmp/<name>.part`) a killed writer left behind. */
  async delete(key: string): Promise<void> {
    const file = TEMP.test(key) ? path.join(this.root, key) : this.file(key);
    await fsp.rm(file, { force: true });
  }

  /** Every blob, and the temp files a killed writer left behind (as `.tmp/<name>`, never a valid key). */
  async *list(): AsyncIterable<BlobInfo> {
    await this.ensure();
    for (const dir of [...DIRS, '.tmp']) {
      const entries = await fsp.readdir(path.join(this.root, dir), { withFileTypes: true });
      for (const e of entries) {
        if (!e.isFile()) continue;
        const key = `${dir}/${e.name}`;
        const s = await fsp.stat(path.join(this.root, key)).catch(() => undefined);
        if (s) yield { key, size: s.size, modifiedAt: s.mtime };
      }
    }
  }

  async close(): Promise<void> {}
}

