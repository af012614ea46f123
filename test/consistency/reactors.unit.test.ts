/**
 * Workers and the realtime hub react to events; a reaction that then read a PostgreSQL read model
 * could see a state from before the event (the projector trails the log). Rule (issue 11): such a
 * reader waits with the checkpoint feed (src/projections/checkpoint-feed.ts) for the position it
 * must see, or it reads the log instead. This test reads every source file of workers/ and
 * src/realtime/ and fails on SQL over a read-model table outside the files listed here with the
 * reason they are safe. The Redis read models need no wait: commands apply them inline.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectionsFor } from '../../src/projections/index';

const ROOT = path.resolve(__dirname, '../..');

const allowed: Record<string, string> = {
  'workers/blob-sweep.ts': 'waits with the checkpoint feed for the files read model to pass the log head it starts from (tested in reactors.int)',
  'workers/cleanup.ts': 'scheduled, not a reaction: read models only name candidates, each decided again from its own stream before anything is appended',
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|mjs|js)$/.test(name)) out.push(rel);
  }
  return out;
}

describe('reactions read read models only after waiting for them', () => {
  const tables = projectionsFor({ ACCESS_TOKEN_TTL: 900 }).filter((p) => p.kind === 'postgres').flatMap((p) => Object.keys(p.tables).map((t) => [p.name, t] as const));

  it('no worker or realtime module queries a read-model table, except those that wait (or are not reactions)', () => {
    const files = [...sources('workers'), ...sources('src/realtime')];
    expect(files.length).toBeGreaterThan(15);
    const found: string[] = [];
    for (const f of files) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      for (const [projection, table] of tables) {
        if (new RegExp(`\\b(from|join)\\s+"?${table}(_v\\d+)?"?(\\s|$|\\)|,|;|\`)`, 'i').test(text) && !allowed[f]) found.push(`${f} reads ${table} (${projection})`);
      }
    }
    expect(found).toEqual([]);
  });

  it('nor imports the readers of a PostgreSQL projection module, except those that wait', () => {
    const pgModules = readdirSync(path.join(ROOT, 'src/projections'))
      .filter((n) => n.endsWith('.ts') && n !== 'types.ts' && readFileSync(path.join(ROOT, 'src/projections', n), 'utf8').includes("kind: 'postgres'"))
      .map((n) => n.replace(/\.ts$/, ''));
    expect(pgModules).toContain('files');
    const found: string[] = [];
    for (const f of [...sources('workers'), ...sources('src/realtime')]) {
      if (allowed[f]) continue;
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      for (const m of pgModules) if (new RegExp(`from '(\\.\\./)+(src/)?projections/${m}'`).test(text)) found.push(`${f} imports src/projections/${m}`);
    }
    expect(found).toEqual([]);
  });

  it('the listed files still exist and the sweep uses the checkpoint feed', () => {
    for (const f of Object.keys(allowed)) expect(statSync(path.join(ROOT, f)).isFile()).toBe(true);
    expect(readFileSync(path.join(ROOT, 'workers/blob-sweep.ts'), 'utf8')).toContain('new CheckpointFeed(');
  });
});
