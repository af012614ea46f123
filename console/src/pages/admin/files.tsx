/**
 * Admin: uploaded files (issue 15). Everyone's files from GET /api/v1/files (admins may filter by
 * owner and category), cursor pages, delete (DELETE /api/v1/files/{id}: the blob goes with it).
 */
import { useState } from 'preact/hooks';
import { del, get, qs } from '../../api';
import { ErrorNotice, Field, Notice, Page, Select, Spinner, Time, useAction, useLoad } from '../../ui';

interface FileItem { id: string; name: string; category: string; content_type: string; size: number; sha256: string; owner_id: string; created_at: string }

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

export default function AdminFiles() {
  const [owner, setOwner] = useState('');
  const [category, setCategory] = useState('');
  const [applied, setApplied] = useState({ owner: '', category: '' });
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | null>(null);
  const list = useLoad(() => get<{ items: FileItem[]; next_cursor: string | null }>(`/api/v1/files${qs({
    owner: applied.owner || undefined, category: applied.category || undefined, cursor, limit: 50,
  })}`), [applied, cursor]);
  const remove = useAction(async (f: FileItem) => {
    await del(`/api/v1/files/${encodeURIComponent(f.id)}`);
    setDone(`${f.name} deleted.`);
    await list.reload();
  });
  return (
    <Page title="Uploaded files" wide>
      <form class="panel row" role="search" onSubmit={(e) => { e.preventDefault(); setCursor(undefined); setApplied({ owner: owner.trim(), category }); }}>
        <Field label="Owner user id" value={owner} onValue={setOwner} maxLength={100} />
        <Select label="Category" value={category} onValue={setCategory}>
          <option value="">All</option><option value="images">Images</option><option value="documents">Documents</option><option value="files">Other files</option>
        </Select>
        <button type="submit">Filter</button>
      </form>
      <ErrorNotice error={list.error || remove.error} />
      {done && <Notice kind="ok">{done}</Notice>}
      {list.loading && !list.data ? <Spinner /> : (
        <div class="table-wrap">
          <table>
            <caption class="muted" style={{ textAlign: 'left' }}>{list.data?.items.length ?? 0} files</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Category</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Owner</th><th scope="col">Uploaded</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              {list.data?.items.map((f) => (
                <tr key={f.id} data-file={f.name}>
                  <th scope="row">{f.name}<br /><span class="muted mono" title="SHA-256">{f.sha256.slice(0, 16)}…</span></th>
                  <td>{f.category}</td>
                  <td class="mono">{f.content_type}</td>
                  <td>{size(f.size)}</td>
                  <td class="mono">{f.owner_id}</td>
                  <td><Time iso={f.created_at} /></td>
                  <td>
                    <button type="button" class="danger small" disabled={remove.busy} aria-label={`Delete ${f.name}`}
                      onClick={() => { if (confirm(`Delete ${f.name}? The stored bytes go with it.`)) void remove.run(f); }}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data?.items.length === 0 && <p class="muted">No files.</p>}
        </div>
      )}
      <div class="row" style={{ marginTop: '12px' }}>
        {cursor && <button type="button" class="secondary" onClick={() => setCursor(undefined)}>First page</button>}
        {list.data?.next_cursor && <button type="button" class="secondary" onClick={() => setCursor(list.data!.next_cursor!)}>Next page</button>}
      </div>
    </Page>
  );
}
