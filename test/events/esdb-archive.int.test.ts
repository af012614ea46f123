/**
 * The hash chain, export/import and verify on the EventStoreDB adapter (capability `log-archive`),
 * against a real server, and across adapters:
 * - concurrent `any` appends to one stream all land, and the chain still holds (an append that
 *   lost the race re-chains on the new head);
 * - a PostgreSQL export imports into EventStoreDB, verifies there, and EventStoreDB's export of
 *   those streams carries the very same hashes (one canonical encoding); importing it again skips
 *   everything;
 * - an altered file is refused whole: nothing is written;
 * - an event appended around the adapter is a broken link.
 * Needs a server: set EVENTSTORE_URL. Without it the suite is skipped, with the reason in its name.
 */
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { EventStoreDBEventStore } from '../../src/events/esdb/store';
import { ImportError } from '../../src/events/archive';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { migrate } from '../../src/infra/db';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { testRegistry } from './fixtures';

const url = process.env.EVENTSTORE_URL;

function sink(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({ write(chunk, _enc, cb) { text += chunk; cb(); } });
  return { out, text: () => text };
}
const lines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown> & { stream: string; hash: string; position?: string });
const file = (ls: object[]) => Readable.from([ls.map((l) => JSON.stringify(l)).join('\n') + '\n']);

describe.skipIf(!url)(
  `EventStoreDB hash chain, export/import, verify${url ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
  () => {
    const run = randomUUID().slice(0, 8);
    const mine = (s: string) => s.startsWith(`arch${run}`);
    let store: EventStoreDBEventStore;
    let db: TestDatabase;
    let pool: pg.Pool;
    let pgStore: PostgresEventStore;

    beforeAll(async () => {
      store = await EventStoreDBEventStore.connect(url!, testRegistry());
      db = await createTestDatabase('esdbarchive');
      await migrate(db.url);
      pool = new pg.Pool({ connectionString: db.url, max: 3 });
      pgStore = new PostgresEventStore(pool, testRegistry());
    });
    afterAll(async () => {
      await store?.close();
      await pgStore?.close();
      await pool?.end();
      await db?.drop();
    });

    it('concurrent `any` appends to one stream all land, and the chain holds', async () => {
      const s = `arch${run}-race`;
      await Promise.all(Array.from({ length: 8 }, (_, n) => store.appendToStream(s, [{ type: 'ThingHappened', data: { n } }, { type: 'ThingRenamed', data: { name: `x${n}` } }])));
      expect(await store.readStream(s)).toHaveLength(16);
      const r = await store.verifyLog({ streams: (x) => x === s });
      expect(r, JSON.stringify(r.firstBroken)).toMatchObject({ ok: true, events: 16, streams: 1, brokenCount: 0 });
    });

    it('a PostgreSQL export imports into EventStoreDB with the same hashes, verifies, and a second import skips it all', async () => {
      const a = `arch${run}-pg-a`;
      const b = `arch${run}-pg-b`;
      await pgStore.appendToStream(a, [{ type: 'ThingHappened', data: { n: 1 }, metadata: { requestId: 'r-1', actorUserId: 'u-1' } }, { type: 'ThingRenamed', data: { name: 'é "quoted"\n' } }]);
      await pgStore.appendToStream(b, [{ type: 'ThingHappened', data: { n: 2 }, metadata: { correlationId: 'c-1', causationId: 'k-1' } }]);
      await pgStore.appendToStream(a, [{ type: 'ThingHappened', data: { n: 3 } }], { expectedRevision: 1n });
      const fromPg = sink();
      await pgStore.exportLog(fromPg.out);
      const pgLines = lines(fromPg.text());
      expect(pgLines).toHaveLength(4);

      const imported = await store.importLog(file(pgLines));
      expect(imported).toMatchObject({ read: 4, imported: 4, skipped: 0, streams: 2 });
      const v = await store.verifyLog({ streams: (x) => x === a || x === b });
      expect(v, JSON.stringify(v.firstBroken)).toMatchObject({ ok: true, events: 4, streams: 2 });
      expect((await store.readStream(a)).map((e) => e.data)).toEqual([{ n: 1 }, { name: 'é "quoted"\n' }, { n: 3 }]);
      expect((await store.readStream(b))[0]!.metadata).toEqual({ correlationId: 'c-1', causationId: 'k-1' });

      const fromEsdb = sink();
      await store.exportLog(fromEsdb.out);
      const esdbLines = lines(fromEsdb.text()).filter((l) => l.stream === a || l.stream === b);
      // Same lines but the adapter's own positions; an import writes stream by stream, so compare per stream.
      const strip = ({ position: _p, ...rest }: Record<string, unknown>) => rest;
      const byStream = (ls: typeof pgLines) => [...ls].sort((x, y) => x.stream.localeCompare(y.stream) || Number(x.revision) - Number(y.revision)).map(strip);
      expect(byStream(esdbLines)).toEqual(byStream(pgLines));

      expect(await store.importLog(file(pgLines))).toMatchObject({ imported: 0, skipped: 4 });
      // An appended event continues the imported chain.
      await store.appendToStream(a, [{ type: 'ThingHappened', data: { n: 4 } }], { expectedRevision: 2n });
      expect((await store.verifyLog({ streams: (x) => x === a })).ok).toBe(true);
    });

    it('an altered file is refused whole: nothing is written', async () => {
      const s = `arch${run}-altered`;
      const t = `arch${run}-altered-other`;
      await pgStore.appendToStream(t, [{ type: 'ThingHappened', data: { n: 1 } }]);
      await pgStore.appendToStream(s, [{ type: 'ThingHappened', data: { n: 1 } }, { type: 'ThingHappened', data: { n: 2 } }]);
      const out = sink();
      await pgStore.exportLog(out.out);
      const ls = lines(out.text()).filter((l) => l.stream === s || l.stream === t);
      const altered = ls.map((l) => (l.stream === s && (l as unknown as { revision: number }).revision === 1 ? { ...l, data: { n: 20 } } : l));
      const err = await store.importLog(file(altered)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImportError);
      expect(String((err as Error).message)).toMatch(/hash chain broken at .*-altered revision 1/);
      expect(await store.readStream(s)).toEqual([]);
      expect(await store.readStream(t)).toEqual([]);
      const gap = ls.filter((l) => !(l.stream === s && (l as unknown as { revision: number }).revision === 0));
      await expect(store.importLog(file(gap))).rejects.toThrow(/does not continue the stream/);
    });

    it('an event appended around the adapter is a broken link; a dry run writes nothing', async () => {
      const s = `arch${run}-forged`;
      await store.appendToStream(s, [{ type: 'ThingHappened', data: { n: 1 } }]);
      const client = EventStoreDBClient.connectionString(url!);
      try {
        await client.appendToStream(s, [jsonEvent({ type: 'ThingHappened', data: { n: 2 }, metadata: { schemaVersion: 1 } })]);
      } finally {
        await client.dispose();
      }
      const r = await store.verifyLog({ streams: mine });
      expect(r.ok).toBe(false);
      expect(r.firstBroken).toMatchObject({ stream: s, revision: '1', reason: 'hash_missing' });
      const dry = `arch${run}-dry`;
      await pgStore.appendToStream(dry, [{ type: 'ThingHappened', data: { n: 1 } }]);
      const out = sink();
      await pgStore.exportLog(out.out);
      const report = await store.importLog(file(lines(out.text()).filter((l) => l.stream === dry)), { dryRun: true });
      expect(report).toMatchObject({ read: 1, imported: 0, dryRun: true });
      expect(await store.readStream(dry)).toEqual([]);
    });
  },
);
