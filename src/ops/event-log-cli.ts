/**
 * Event-log operations for the CLI: rebuild, export, import, verify, replay.
 * Each command is a thin shell over the store's capabilities and modules that tests call directly
 * (the `log-archive` capability, src/events/archive.ts, src/projections/rebuild.ts, src/queries/audit/*).
 * Rules:
 * - long work shows a progress bar on stderr (stdout stays clean for `export --out -`);
 * - `import` asks for confirmation unless --yes, and refuses instead of waiting when stdin is
 *   not a terminal; --dry-run does the whole import in a transaction and rolls it back;
 * - failures set a non-zero exit code (verify: 1 when the chain is broken).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import type pg from 'pg';
import { loadConfig } from '../config';
import { backupFileName, exportToFile, importFromFile, latestBackup, parseSince, ImportError, type LogArchive, type VerifyReport } from '../events/archive';
import { hasLogArchive, hasPagedLog, type EventStore } from '../events/store';
import { createPool, ensureDatabase, migrate } from '../infra/db';
import { createEventStore } from '../infra/event-store';
import { pgProjections } from '../projections/index';
import { rebuildProjections, type RebuildReport } from '../projections/rebuild';
import { ensureProjections } from '../projections/tables';
import { readUserEvents, resolveUser } from '../queries/audit/log';
import { checkAnchor, writeAnchor } from './anchors';
import { formatTimeline } from '../queries/audit/timeline';

export const DEFAULT_BACKUP_DIR = './backups';

interface Ctx {
  pool: pg.Pool;
  store: EventStore & LogArchive;
}

/**
 * Opens the configured event store (either adapter) and PostgreSQL for the read models (no Redis
 * needed for log operations); migrates first when asked.
 */
async function withLog<T>(fn: (ctx: Ctx) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  const config = loadConfig();
  if (opts.migrate) {
    await ensureDatabase(config.DATABASE_URL);
    await migrate(config.DATABASE_URL);
  }
  const pool = createPool(config.DATABASE_URL, 4);
  let store: EventStore;
  try {
    store = await createEventStore(config, pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  if (!hasLogArchive(store)) {
    await store.close();
    await pool.end();
    throw new Error(`the ${store.kind} event store has no log-archive capability`);
  }
  try {
    return await fn({ pool, store });
  } finally {
    await store.close();
    await pool.end();
  }
}

function bar(label: string) {
  return new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} events | {eta_formatted} left | {rate} ev/s`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
}

/** A bar that also shows a rate (events/s). */
function progress(label: string) {
  const b = bar(label);
  const started = Date.now();
  let begun = false;
  return {
    update(done: number, total: number) {
      const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
      if (!begun) {
        b.start(Math.max(total, done), done, { rate });
        begun = true;
      } else {
        b.setTotal(Math.max(total, done));
        b.update(done, { rate });
      }
    },
    stop() {
      if (begun) b.stop();
    },
  };
}

/** Rebuilds the named (or all) PostgreSQL projections blue/green in one pass over the log, with progress. */
export async function rebuildAll(pool: pg.Pool, store: EventStore, names: string[], opts: { dryRun?: boolean; quiet?: boolean } = {}): Promise<RebuildReport[]> {
  const all = pgProjections();
  const unknown = names.filter((n) => !all.some((p) => p.name === n));
  if (unknown.length) throw new Error(`unknown projection(s): ${unknown.join(', ')} (known: ${all.map((p) => p.name).join(', ')})`);
  const chosen = names.length ? all.filter((p) => names.includes(p.name)) : all;
  await ensureProjections(pool, all);
  // A total for the bar where the store can count cheaply (PostgreSQL); else the bar grows.
  const total = hasPagedLog(store) ? await store.countAll() : 0;
  // One pass over the log for all of them (each still locks and switches on its own).
  const label = chosen.length === 1 ? chosen[0]!.name : `${chosen.length} projections`;
  const pr = opts.quiet ? undefined : progress(label.padEnd(16));
  try {
    return await rebuildProjections(pool, store, chosen, { dryRun: opts.dryRun, onProgress: (n) => pr?.update(n, total) });
  } finally {
    pr?.stop();
  }
}

function printRebuild(reports: RebuildReport[], dryRun: boolean) {
  for (const r of reports) {
    const verb = dryRun ? 'would switch' : r.switched ? 'switched' : 'did not switch';
    console.log(`${r.projection}: ${r.events} events read in ${r.seconds.toFixed(1)} s; ${verb} generation ${r.fromGeneration} → ${r.toGeneration}`);
    for (const [table, t] of Object.entries(r.tables)) {
      if (dryRun) console.log(`  ${table}: live ${t.live} rows, rebuilt ${t.rebuilt} rows, ${t.differing} differing${t.differing ? ' (would change)' : ''}`);
      else console.log(`  ${table}: ${t.rebuilt} rows`);
    }
  }
}

export function printVerify(r: VerifyReport): void {
  if (r.ok) {
    console.log(`verified: ${r.events} events in ${r.streams} streams; every hash link holds`);
    return;
  }
  const b = r.firstBroken!;
  console.error(`BROKEN: ${r.brokenCount} broken link(s); first at stream ${b.stream} revision ${b.revision}` +
    `${b.position ? ` position ${b.position}` : ''} (${b.reason}): ${b.detail}`);
}

async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function addEventLogCommands(program: Command): void {
  program
    .command('rebuild')
    .description('rebuild projections blue/green: fill new versioned tables while the old ones keep serving, then switch atomically')
    .argument('[projection...]', 'projection names (default: all PostgreSQL projections)')
    .option('--dry-run', 'build the new generation, report how it differs from the live one, then drop it')
    .action(async (names: string[], opts: { dryRun?: boolean }) => {
      await withLog(async ({ pool, store }) => {
        const reports = await rebuildAll(pool, store, names, { dryRun: opts.dryRun });
        printRebuild(reports, !!opts.dryRun);
      });
    });

  program
    .command('export')
    .description('write the event log as NDJSON, in log order, exactly as stored (a backup; see `import`)')
    .option('--since <position|time>', 'only events after this log position (digits) or at/after this ISO-8601 time')
    .option('--out <file>', `output file, or - for stdout (default: a timestamped file in ${DEFAULT_BACKUP_DIR}/)`)
    .action(async (opts: { since?: string; out?: string }) => {
      const since = opts.since ? parseSince(opts.since) : undefined;
      await withLog(async ({ store }) => {
        if (opts.out === '-') {
          const r = await store.exportLog(process.stdout, { since });
          console.error(`exported ${r.events} events (last position ${r.lastPosition ?? '-'})`);
          return;
        }
        const file = opts.out ?? backupFileName(DEFAULT_BACKUP_DIR);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const pr = progress('export');
        let r;
        try {
          r = await exportToFile(store, file, { since, onProgress: (d, t) => pr.update(d, t) });
        } finally {
          pr.stop();
        }
        console.log(`exported ${r.events} events to ${file} (last position ${r.lastPosition ?? '-'}; next incremental: --since ${r.lastPosition ?? 0})`);
      });
    });

  program
    .command('import')
    .description('restore an NDJSON export into an empty store (or continue one): idempotent by event id, verifies the hash chain, then rebuilds projections')
    .argument('[file]', `NDJSON file (default: the newest *.ndjson in --dir)`)
    .option('--dir <dir>', 'where to look for the newest backup when no file is given', DEFAULT_BACKUP_DIR)
    .option('--dry-run', 'do the whole import in a transaction, report, and roll back')
    .option('-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .option('--no-rebuild', 'do not rebuild projections afterwards')
    .action(async (fileArg: string | undefined, opts: { dir: string; dryRun?: boolean; yes?: boolean; rebuild: boolean }) => {
      const file = fileArg ?? latestBackup(opts.dir);
      if (!file) throw new Error(`no file given and no *.ndjson backup found in ${opts.dir}`);
      if (!fs.existsSync(file)) throw new Error(`no such file: ${file}`);
      const size = fs.statSync(file).size;
      console.error(`${opts.dryRun ? 'DRY RUN: ' : ''}import ${file} (${(size / 1024 / 1024).toFixed(2)} MiB)${fileArg ? '' : ' — the newest backup found'}`);
      if (!opts.dryRun && !opts.yes) {
        if (!process.stdin.isTTY) throw new Error('refusing to import without confirmation: stdin is not a terminal; pass --yes');
        if (!(await confirm(`Import ${file} into ${new URL(loadConfig().DATABASE_URL).pathname.slice(1)}?`))) {
          console.error('aborted; nothing imported');
          process.exitCode = 1;
          return;
        }
      }
      await withLog(async ({ pool, store }) => {
        const pr = progress(opts.dryRun ? 'dry run' : 'import');
        let r;
        try {
          r = await importFromFile(store, file, { dryRun: opts.dryRun, onProgress: (n) => pr.update(n, n) });
        } catch (err) {
          pr.stop();
          if (err instanceof ImportError) {
            console.error(`import failed, nothing stored: ${err.message}`);
            process.exitCode = 1;
            return;
          }
          throw err;
        }
        pr.stop();
        const verb = opts.dryRun ? 'would import' : 'imported';
        console.log(`${verb} ${r.imported} events (${r.skipped} already present, ${r.read} read, ${r.streams} streams; store had ${r.storeEventsBefore} events); hash chain verified`);
        if (opts.dryRun) {
          if (r.storeEventsBefore > 0 && r.imported > 0) console.log('note: the store is not empty; the file continues it');
          return;
        }
        if (opts.rebuild && r.imported) printRebuild(await rebuildAll(pool, store, []), false);
      }, { migrate: !opts.dryRun });
    });

  program
    .command('verify')
    .description('walk the event log, recompute every hash and the log checkpoints, and report the first broken link (exit 1 if any)')
    .option('--anchor <file>', 'then write a signed checkpoint of the log head to <file> (keep it outside the database)')
    .option('--against <file>', 'also check the log against an anchor written earlier by --anchor')
    .action(async (opts: { anchor?: string; against?: string }) => {
      await withLog(async ({ pool, store }) => {
        if ((opts.anchor || opts.against) && store.kind !== 'postgres') {
          console.error(`anchors cover the PostgreSQL log; the ${store.kind} store keeps its chain in event metadata (verify without --anchor/--against)`);
          process.exitCode = 2;
          return;
        }
        const config = loadConfig();
        const pr = progress('verify');
        let r;
        try {
          r = await store.verifyLog({ onProgress: (d, t) => pr.update(d, t) });
        } finally {
          pr.stop();
        }
        printVerify(r);
        if (!r.ok) process.exitCode = 1;
        if (opts.against) {
          const a = await checkAnchor(pool, config, opts.against);
          if (a.ok) console.log(`anchor holds: ${a.anchor.events} events up to ${a.anchor.uptoTxid}.${a.anchor.uptoPosition}, signed ${a.anchor.anchoredAt}`);
          else {
            console.error(`ANCHOR BROKEN (${a.reason}): ${a.detail}`);
            process.exitCode = 1;
          }
        }
        if (opts.anchor) {
          if (!r.ok) {
            console.error('not anchoring a log that fails verification');
            return;
          }
          const w = await writeAnchor(pool, config, opts.anchor);
          console.log(`anchor written to ${opts.anchor}: ${w.anchor.events} events up to ${w.anchor.uptoTxid}.${w.anchor.uptoPosition}, digest ${w.anchor.digest}`);
        }
      });
    });

  program
    .command('replay')
    .description("print a user's auth history as a readable timeline")
    .addOption(new Option('--user <id|email>', 'user id or e-mail').makeOptionMandatory())
    .option('--type <types>', 'only these event types (comma-separated)')
    .option('--json', 'one JSON object per line instead of text')
    .action(async (opts: { user: string; type?: string; json?: boolean }) => {
      await withLog(async ({ pool, store }) => {
        const userId = await resolveUser(store, opts.user);
        if (!userId) {
          console.error(`no user ${opts.user} in the log`);
          process.exitCode = 1;
          return;
        }
        const types = opts.type?.split(',').map((t) => t.trim()).filter(Boolean);
        const events = await readUserEvents(pool, store, userId, { types });
        process.stdout.write(formatTimeline(userId, events, { json: opts.json, color: !!process.stdout.isTTY }));
      });
    });
}
