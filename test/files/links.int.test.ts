/** Share links (issue 15): before and after expiry, single use, tampered signature or expiry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newUser, runProjections, type TestUser } from '../helpers/users';
import { streams } from '../../src/events/streams';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { multipart, pdf } from './helpers';

let t: Awaited<ReturnType<typeof testApp>>;
let projector: ProjectorHandle;
let owner: TestUser;
beforeAll(async () => {
  t = await testApp('files_links');
  projector = runProjections(t.services);
  owner = await newUser(t.app, 'sharer');
});
afterAll(async () => {
  await projector?.stop();
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function uploadPdf() {
  const content = pdf();
  const m = multipart([{ name: 'report.pdf', content }]);
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(owner.token) } });
  expect(res.statusCode, res.body).toBe(201);
  return { file: res.json().items[0] as { id: string }, content };
}
async function share(fileId: string, body: Record<string, unknown>) {
  const res = await t.app.inject({ method: 'POST', url: `/api/v1/files/${fileId}/links`, headers: bearer(owner.token), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  const link = res.json() as { link_id: string; url: string; expires_at: string; single_use: boolean };
  const u = new URL(link.url);
  return { ...link, path: `${u.pathname}${u.search}`, params: u.searchParams };
}
/** Anonymous: a link needs no account. */
const open = (path: string) => t.app.inject({ method: 'GET', url: path });
const refused = (res: Awaited<ReturnType<typeof open>>) => {
  expect(res.statusCode, res.body).toBe(404);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.json().code).toBe('file_link_invalid');
};

describe('share links', () => {
  it('opens the file before expiry (reusable: many times), refuses it after', async () => {
    const { file, content } = await uploadPdf();
    const link = await share(file.id, { expires_in: 2 });
    expect(link.single_use).toBe(false);
    expect(link.url).not.toContain(owner.token);
    for (let i = 0; i < 2; i++) {
      const res = await open(link.path);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.rawPayload.equals(content)).toBe(true);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(String(res.headers['content-disposition'])).toMatch(/^attachment;/);
    }
    await sleep(Math.max(0, Date.parse(link.expires_at) - Date.now()) + 50);
    refused(await open(link.path));
  });

  it('a single-use link opens once; the second use is refused', async () => {
    const { file, content } = await uploadPdf();
    const link = await share(file.id, { expires_in: 600, single_use: true });
    const first = await open(link.path);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.rawPayload.equals(content)).toBe(true);
    refused(await open(link.path));
    const events = await t.services.store.readStream(streams.fileLink(link.link_id));
    expect(events.map((e) => e.type)).toEqual(['FileShared', 'FileLinkUsed']);
  });

  it('two downloads of a single-use link at once: exactly one gets the file', async () => {
    const { file } = await uploadPdf();
    const link = await share(file.id, { expires_in: 600, single_use: true });
    const codes = (await Promise.all([open(link.path), open(link.path), open(link.path)])).map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 404, 404]);
  });

  it('a tampered signature, a stretched expiry or another link id is refused', async () => {
    const { file } = await uploadPdf();
    const link = await share(file.id, { expires_in: 600 });
    const other = await share(file.id, { expires_in: 600 });
    const sig = link.params.get('signature')!;
    const expires = Number(link.params.get('expires'));
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`;
    const base = `/api/v1/file-links/${link.link_id}`;
    refused(await open(`${base}?expires=${expires}&signature=${flipped}`));
    refused(await open(`${base}?expires=${expires}&signature=${sig.slice(0, -2)}`));
    refused(await open(`${base}?expires=${expires + 3600}&signature=${sig}`));
    refused(await open(`/api/v1/file-links/${other.link_id}?expires=${expires}&signature=${sig}`));
    // The untouched link still works: the refusals consumed nothing.
    expect((await open(link.path)).statusCode).toBe(200);
  });

  it('deleting the file ends its links', async () => {
    const { file } = await uploadPdf();
    const link = await share(file.id, { expires_in: 600 });
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/files/${file.id}`, headers: bearer(owner.token) })).statusCode).toBe(204);
    refused(await open(link.path));
  });
});
