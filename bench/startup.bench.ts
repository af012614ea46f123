/**
 * `npm run bench startup`: start time and memory of `npm start` (tsx compiles TypeScript on every
 * start) against the compiled output (`npm run build`, then `node dist/main.js` as the Docker image
 * runs it, and `npm run start:prod`) — issue 12.
 * - Each start: a fresh process on a database that is already migrated (a restart, the common
 *   case), default configuration, all roles; time from spawn to the first 200 from /health.
 *   Interleaved rounds, median. The first start on a new database (create + migrate) is shown apart.
 *   Also the CPU time the whole process tree had used when ready: steadier than wall time on a
 *   shared machine.
 * - Memory: RSS of the serving node process once started and after a short wrk load
 *   (/api/v1/auth/verify is not needed: /health), plus the RSS of the whole process tree (npm and
 *   tsx's wrapper process are memory a deployment pays too).
 * The build runs first when dist/ is missing or older than the sources (BENCH_NO_BUILD=1 skips).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { QUICK } from './lib';
import { dropBenchState, fmt, load, median, processTree, ROOT, rssMiB, sleep, startServer, stopAll, uptimeLine, WORK_DIR, type Server } from './outside';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));

interface Mode { id: string; title: string; command: string[] }
const MODES: Mode[] = [
  { id: 'tsx', title: 'npm start (tsx src/main.ts)', command: ['npm', 'start'] },
  { id: 'node', title: 'node --enable-source-maps dist/main.js (Docker CMD)', command: ['node', '--enable-source-maps', 'dist/main.js'] },
  { id: 'npm-prod', title: 'npm run start:prod', command: ['npm', 'run', 'start:prod'] },
];

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

function ensureBuilt() {
  const out = path.join(ROOT, 'dist', 'main.js');
  const stale = !fs.existsSync(out) || fs.statSync(out).mtimeMs < Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'workers')));
  if (stale && process.env.BENCH_NO_BUILD !== '1') {
    console.log('[bench] dist/ missing or older than the sources: npm run build');
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run build failed');
  }
}

const treeRss = (s: Server) => processTree(s.rootPid).reduce((n, p) => n + (Number.isFinite(rssMiB(p)) ? rssMiB(p) : 0), 0);

async function main() {
  ensureBuilt();
  console.log(`[bench] ${new Date().toISOString()}; ${uptimeLine()}; ${ROUNDS} interleaved round(s), median`);
  // The first start creates and migrates the database; the measured starts reuse it.
  const first = await startServer({ label: 'startup-first', keepDatabase: true, command: MODES[1]!.command });
  const shared = { DATABASE_URL: first.env.DATABASE_URL!, REDIS_PREFIX: first.env.REDIS_PREFIX!, DATA_DIR: first.env.DATA_DIR!, MAIL_OUTBOX_DIR: first.env.MAIL_OUTBOX_DIR! };
  console.log(`[bench] first start on a new database (create + migrate), compiled: ${fmt(first.startMs)} ms`);
  await first.stop();
  const results = new Map<string, { startMs: number[]; cpu: number[]; rssIdle: number[]; rssLoaded: number[]; tree: number[] }>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const s = await startServer({ label: `startup-${mode.id}`, env: shared, command: mode.command, keepDatabase: true });
        await sleep(1000); // let startup tasks settle before reading memory
        const rssIdle = rssMiB(s.pid);
        const tree = treeRss(s);
        await load({ url: `${s.base}/health`, seconds: QUICK ? 1 : 3, connections: 64 });
        const rssLoaded = rssMiB(s.pid);
        await s.stop();
        const r = results.get(mode.id) ?? { startMs: [], cpu: [], rssIdle: [], rssLoaded: [], tree: [] };
        r.startMs.push(s.startMs);
        r.cpu.push(s.startCpuSeconds);
        r.rssIdle.push(rssIdle);
        r.rssLoaded.push(rssLoaded);
        r.tree.push(tree);
        results.set(mode.id, r);
      }
    }
  } finally {
    await dropBenchState(shared.DATABASE_URL, shared.REDIS_PREFIX).catch(() => undefined);
  }
  const base = median(results.get('tsx')!.startMs);
  const lines = [
    '| how it starts | start to first /health, ms (rounds) | vs npm start | CPU used to start, s (whole tree) | RSS after start, MiB | RSS after 3 s of load, MiB | RSS of the process tree, MiB |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const mode of MODES) {
    const r = results.get(mode.id)!;
    lines.push(`| ${mode.title} | ${fmt(median(r.startMs))} (${r.startMs.map((x) => fmt(x)).join(' / ')}) | ${fmt(median(r.startMs) / base, 2)} | ${fmt(median(r.cpu), 2)} | ${fmt(median(r.rssIdle))} | ${fmt(median(r.rssLoaded))} | ${fmt(median(r.tree))} |`);
  }
  console.log(`\n${lines.join('\n')}\n`);
  console.log(`[bench] finished; ${uptimeLine()}`);
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
}

main().then(() => process.exit(0), async (err) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
