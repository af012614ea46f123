/**
 * The serving rules (src/http/file-response.ts), asserted on one path: the safe headers on 200,
 * 206, 304 and 416; ETag = sha256; Range, If-Range, If-None-Match. Used for every serving path
 * (GET /api/v1/files/{id}/content, GET /uploads/{category}/{name}, a share link) on every store.
 */
import { expect } from 'vitest';

interface Res {
  statusCode: number;
  headers: Record<string, unknown>;
  rawPayload: Buffer;
}
export type Get = (headers: Record<string, string>) => Promise<Res>;

export interface Expected {
  content: Buffer;
  contentType: string;
  disposition: 'inline' | 'attachment';
  sha256: string;
}

export function expectSafeHeaders(res: Res, what: string): void {
  expect(res.headers['x-content-type-options'], what).toBe('nosniff');
  expect(res.headers['content-security-policy'], what).toBe("sandbox; default-src 'none'");
  expect(String(res.headers['content-disposition']), what).toMatch(/^(inline|attachment); filename="/);
}

/** Every serving rule, on the path `get` reads (`label` names it in failures). */
export async function expectServedSafely(label: string, get: Get, f: Expected): Promise<void> {
  const etag = `"${f.sha256}"`;
  const size = f.content.length;
  const common = (res: Res, what: string) => {
    expectSafeHeaders(res, what);
    expect(String(res.headers['content-disposition']), what).toMatch(new RegExp(`^${f.disposition};`));
    expect(res.headers.etag, what).toBe(etag);
    expect(res.headers['cache-control'], what).toBe('private, no-cache');
  };

  const whole = await get({});
  expect(whole.statusCode, `${label} 200`).toBe(200);
  common(whole, `${label} 200`);
  expect(String(whole.headers['content-type']), label).toContain(f.contentType);
  expect(whole.headers['accept-ranges'], label).toBe('bytes');
  expect(Number(whole.headers['content-length']), label).toBe(size);
  expect(whole.rawPayload.equals(f.content), `${label}: the bytes`).toBe(true);

  const part = await get({ range: 'bytes=2-9' });
  expect(part.statusCode, `${label} 206`).toBe(206);
  common(part, `${label} 206`);
  expect(part.headers['content-range'], label).toBe(`bytes 2-9/${size}`);
  expect(part.rawPayload.equals(f.content.subarray(2, 10)), `${label}: the range`).toBe(true);

  const suffix = await get({ range: 'bytes=-4' });
  expect(suffix.statusCode, `${label} suffix`).toBe(206);
  expect(suffix.rawPayload.equals(f.content.subarray(size - 4)), `${label}: the suffix`).toBe(true);

  // If-Range with another validator: the whole file, not the range.
  const stale = await get({ range: 'bytes=2-9', 'if-range': '"not-this-one"' });
  expect(stale.statusCode, `${label} if-range`).toBe(200);
  expect(stale.rawPayload.equals(f.content), `${label}: if-range whole`).toBe(true);
  common(stale, `${label} if-range`);

  const beyond = await get({ range: `bytes=${size + 10}-` });
  expect(beyond.statusCode, `${label} 416`).toBe(416);
  expect(beyond.headers['content-range'], label).toBe(`bytes */${size}`);
  common(beyond, `${label} 416`);

  const cached = await get({ 'if-none-match': etag });
  expect(cached.statusCode, `${label} 304`).toBe(304);
  expect(cached.rawPayload.length, `${label} 304 body`).toBe(0);
  common(cached, `${label} 304`);

  const changed = await get({ 'if-none-match': '"something-else"' });
  expect(changed.statusCode, `${label} other etag`).toBe(200);
}
