/** Files in time travel (issue 15): `state?at=` lists what the user owned then; uploads are in the audit trail. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, eventually, newUser, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { multipart, pdf, png } from './helpers';

let t: Awaited<ReturnType<typeof testApp>>;
let projector: ProjectorHandle;
let ann: TestUser;
beforeAll(async () => {
  t = await testApp('files_time_travel');
  projector = runProjections(t.services);
  ann = await newUser(t.app, 'ann');
});
afterAll(async () => {
  await projector?.stop();
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const upload = async (name: string, content: Buffer) => {
  const m = multipart([{ name, content }]);
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(ann.token) } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().items[0] as { id: string; name: string; sha256: string; size: number };
};
const state = async (at?: Date) => {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/audit/users/${ann.id}/state${at ? `?at=${encodeURIComponent(at.toISOString())}` : ''}`, headers: bearer(ann.token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { files: { id: string; name: string; category: string; content_type: string; size: number; sha256: string; uploaded_at: string }[] };
};

it('state?at= lists the files uploaded and not yet deleted at that instant', async () => {
  const beforeAny = new Date();
  await sleep(10);
  const pic = await upload('pic.png', png());
  const doc = await upload('doc.pdf', pdf());
  await sleep(10);
  const bothThere = new Date();
  await sleep(10);
  const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/files/${pic.id}`, headers: bearer(ann.token) });
  expect(del.statusCode).toBe(204);
  await sleep(10);
  const afterDelete = new Date();

  expect((await state(beforeAny)).files).toEqual([]);
  const then = (await state(bothThere)).files;
  expect(then.map((f) => f.id).sort()).toEqual([pic.id, doc.id].sort());
  expect(then.find((f) => f.id === pic.id)).toMatchObject({ name: 'pic.png', category: 'images', content_type: 'image/png', size: pic.size, sha256: pic.sha256 });
  expect(Date.parse(then.find((f) => f.id === pic.id)!.uploaded_at)).toBeGreaterThan(beforeAny.getTime());
  expect((await state(afterDelete)).files.map((f) => f.id)).toEqual([doc.id]);
  expect((await state()).files.map((f) => f.id)).toEqual([doc.id]);
});

it('uploads and deletions appear in the user\'s audit trail', async () => {
  const f = await upload('trail.pdf', pdf());
  await t.app.inject({ method: 'DELETE', url: `/api/v1/files/${f.id}`, headers: bearer(ann.token) });
  const items = await eventually(async () => {
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/audit/users/${ann.id}/events?limit=200`, headers: bearer(ann.token) });
    const list = r.statusCode === 200 ? (r.json().items ?? r.json().events ?? []) as { type: string; data: Record<string, unknown> }[] : [];
    return list.some((e) => e.type === 'FileDeleted' && e.data?.fileId === f.id) ? list : undefined;
  });
  const uploaded = items.find((e) => e.type === 'FileUploaded' && e.data?.fileId === f.id);
  expect(uploaded?.data).toMatchObject({ fileId: f.id, userId: ann.id, name: 'trail.pdf', category: 'documents' });
});
