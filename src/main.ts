/**
 * The process entry (`npm start`). `ROLES` (default: all) picks what runs here: api, projector,
 * worker, realtime.
 * Rules: unsafe defaults warn loudly (and are refused with NODE_ENV=production, exit code 2,
 * naming what to set); the database is created when missing and migrated under a lock;
 * SIGTERM/SIGINT stop accepting, finish in-flight work, stop projections at a batch boundary,
 * close pools, and exit 0 — or exit 1 if that takes more than 10 s. A dependency outage never
 * crashes the process: failures surface as 503s and /ready, and clients reconnect by themselves.
 */
import { loadConfig, unsafeDefaults } from './config';
import { createLogger } from './infra/logger';
import { startAuthledger, type Running } from './server';

const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const log = createLogger(config);
  const unsafe = unsafeDefaults(config);
  if (unsafe.length) {
    if (config.NODE_ENV === 'production') {
      log.fatal({ unsafe }, 'refusing to start in production with unsafe defaults');
      log.flush?.();
      console.error('authledger refuses to start with NODE_ENV=production and unsafe defaults. Set:');
      for (const u of unsafe) console.error(`  - ${u}`);
      process.exit(2);
    }
    const bar = '!'.repeat(78);
    console.warn(`\n${bar}\n  UNSAFE DEFAULTS — fine for development, refused with NODE_ENV=production:`);
    for (const u of unsafe) console.warn(`  - ${u}`);
    console.warn(`${bar}\n`);
    for (const u of unsafe) log.warn({ unsafe: u }, 'unsafe default in use');
  }

  // Crash-safety nets: log and keep serving. Dependency errors are handled where they happen;
  // anything reaching here is a bug worth an error line, not a dead process.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  const state: { running?: Running } = {};
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    const clean = (await state.running?.stop()) ?? true;
    log.info({ clean }, 'stopped');
    log.flush?.();
    clearTimeout(force);
    process.exit(clean ? 0 : 1);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  const running = await startAuthledger(config, log);
  state.running = running;
  const roles = [...config.ROLES];
  log.info({ roles, parts: running.parts.map((p) => p.name), api: running.apiAddress }, 'authledger started');
  console.log(`\nauthledger is running (roles: ${roles.join(', ')})${running.urls.length ? `\n  ${running.urls.join('\n  ')}` : ''}\n`);
}

main().catch((err) => {
  console.error('authledger failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
