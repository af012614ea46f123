/**
 * A TEST SHIM, not a real S3 server: s3rver 3.7 answers NotImplemented to ListMultipartUploads and
 * has no AbortMultipartUpload, so this HTTP front answers those two calls itself from s3rver's own
 * on-disk state (`<dir>/<bucket>/._S3rver_uploads/<uploadId>/key`; Initiated = the directory's
 * mtime) and forwards every other request to s3rver. Pages hold 2 uploads, so the client's paging
 * is exercised. Used only to test the sweeper's abort path (sweep-s3.int.test.ts).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

const PAGE = 2;
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface Shim {
  endpoint: string;
  uploadsDir: string;
  close(): Promise<void>;
}

export async function startMultipartShim(s3: { endpoint: string; directory: string }, bucket: string): Promise<Shim> {
  const uploadsDir = path.join(s3.directory, bucket, '._S3rver_uploads');
  const target = new URL(s3.endpoint);

  async function list(url: URL): Promise<string> {
    const prefix = url.searchParams.get('prefix') ?? '';
    const keyMarker = url.searchParams.get('key-marker') ?? '';
    const idMarker = url.searchParams.get('upload-id-marker') ?? '';
    const ids = await fs.readdir(uploadsDir).catch(() => [] as string[]);
    const all: { key: string; id: string; initiated: Date }[] = [];
    for (const id of ids) {
      const key = await fs.readFile(path.join(uploadsDir, id, 'key'), 'utf8').catch(() => undefined);
      if (key === undefined || !key.startsWith(prefix)) continue;
      all.push({ key, id, initiated: (await fs.stat(path.join(uploadsDir, id))).mtime });
    }
    all.sort((a, b) => (a.key === b.key ? a.id.localeCompare(b.id) : a.key.localeCompare(b.key)));
    const after = all.filter((u) => !keyMarker || u.key > keyMarker || (u.key === keyMarker && idMarker !== '' && u.id > idMarker));
    const page = after.slice(0, PAGE);
    const truncated = after.length > PAGE;
    const last = page[page.length - 1];
    return `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`
      + `<Bucket>${xml(bucket)}</Bucket><KeyMarker>${xml(keyMarker)}</KeyMarker><UploadIdMarker>${xml(idMarker)}</UploadIdMarker>`
      + (truncated && last ? `<NextKeyMarker>${xml(last.key)}</NextKeyMarker><NextUploadIdMarker>${last.id}</NextUploadIdMarker>` : '')
      + `<Prefix>${xml(prefix)}</Prefix><MaxUploads>${PAGE}</MaxUploads><IsTruncated>${truncated}</IsTruncated>`
      + page.map((u) => `<Upload><Key>${xml(u.key)}</Key><UploadId>${u.id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`).join('')
      + '</ListMultipartUploadsResult>';
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://shim');
    const [b, ...rest] = url.pathname.split('/').filter(Boolean);
    if (b === bucket && rest.length === 0 && req.method === 'GET' && url.searchParams.has('uploads')) {
      list(url).then((body) => res.writeHead(200, { 'content-type': 'application/xml' }).end(body), (err) => res.writeHead(500).end(String(err)));
      return;
    }
    const uploadId = url.searchParams.get('uploadId');
    if (b === bucket && rest.length > 0 && req.method === 'DELETE' && uploadId && /^[0-9a-f]+$/.test(uploadId)) {
      fs.rm(path.join(uploadsDir, uploadId), { recursive: true, force: true }).then(() => res.writeHead(204).end(), (err) => res.writeHead(500).end(String(err)));
      return;
    }
    const fwd = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', (err) => res.writeHead(502).end(String(err)));
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, uploadsDir, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
