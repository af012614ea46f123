/**
 * The process entry. `ROLES` (default: all) picks what runs here: api, projector, worker, realtime.
 * Rules: unsafe defaults warn (and are refused with NODE_ENV=production); SIGTERM/SIGINT stop
 * accepting, finish in-flight work, stop projections at a batch boundary, and exit within 10 s.
 */
import { loadConfig, unsafeDefaults } from './config';
import { createServices } from './services';
import { createLogger } from './infra/logger';
import { runStartup } from './startup';
import { buildApp } from './http/app';
import { startProjector } from './projections/runtime';
import { startWorkers } from '../workers/index';
import { startRealtime } from './realtime/index';

type Stoppable = { name: string; stop(): Promise<void> };

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
      for (const u of unsafe) console.error(`  - ${u}`);
      process.exit(2);
    }
    for (const u of unsafe) log.warn(`UNSAFE DEFAULT (development only): ${u}`);
  }

  const services = await createServices(config, { log });
  await runStartup(services);
  const parts: Stoppable[] = [];
  const roles = config.ROLES;
  const urls: string[] = [];

  if (roles.has('projector')) {
    const projector = startProjector(services);
    parts.push({ name: 'projector', stop: () => projector.stop() });
  }
  if (roles.has('worker')) {
    const workers = await startWorkers(services);
    parts.push({ name: 'worker', stop: () => workers.stop() });
  }
  if (roles.has('realtime')) {
    const hub = await startRealtime(services);
    parts.push({ name: 'realtime', stop: () => hub.stop() });
    urls.push(`realtime hub:  ws://localhost:${hub.port}/ws`);
  }
  if (roles.has('api')) {
    const app = await buildApp(services);
    await app.listen({ host: config.HOST, port: config.PORT });
    parts.unshift({ name: 'api', stop: () => app.close() });
    const base = `http://localhost:${config.PORT}`;
    urls.unshift(`API:           ${base}/`, `Swagger UI:    ${base}/docs`, `ReDoc:         ${base}/redoc`, `Health:        ${base}/ready`);
  }
  log.info({ roles: [...roles] }, 'authledger started');
  if (urls.length) console.log(`\nauthledger is running (roles: ${[...roles].join(', ')})\n  ${urls.join('\n  ')}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    for (const p of parts) await p.stop().catch((err) => log.error({ err, part: p.name }, 'stop failed'));
    await services.close();
    clearTimeout(force);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection', err);
});

main().catch((err) => {
  console.error('authledger failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
