/** `npm run cli -- <command>`: operational commands. Each has --help. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { loadConfig } from './config';
import { ensureDatabase, migrate } from './infra/db';
import { addRoleCommands } from './compose';

const program = new Command().name('authledger').description('authledger operations').showHelpAfterError();

program
  .command('migrate')
  .description('create the database if missing and apply pending migrations')
  .option('--down', 'revert the last migration')
  .action(async (opts: { down?: boolean }) => {
    const config = loadConfig();
    await ensureDatabase(config.DATABASE_URL);
    const applied = await migrate(config.DATABASE_URL, () => undefined, opts.down ? 'down' : 'up');
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'nothing to migrate');
  });

program
  .command('config-doc')
  .description('regenerate .env.example and the README configuration table from the config schema')
  .option('--check', 'only check; exit 1 when either file is stale')
  .action(async (opts: { check?: boolean }) => {
    const { staleConfigDocs, writeConfigDocs } = await import('./config-doc');
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    if (opts.check) {
      const stale = staleConfigDocs(root);
      if (stale.length) {
        console.error(`stale: ${stale.join(', ')} — run \`npm run cli -- config-doc\``);
        process.exitCode = 1;
      } else console.log('configuration docs are up to date');
      return;
    }
    const written = writeConfigDocs(root);
    console.log(written.length ? `wrote ${written.join(', ')}` : 'configuration docs already up to date');
  });

addRoleCommands(program);

program
  .command('health')
  .description('check that PostgreSQL and Redis answer (exit 0) or not (exit 1); used by container health checks')
  .option('--timeout <ms>', 'give up after this many milliseconds', '3000')
  .action(async (opts: { timeout: string }) => {
    const config = loadConfig();
    const { default: pg } = await import('pg');
    const { createRedis } = await import('./infra/redis');
    const ms = Number(opts.timeout) || 3000;
    const client = new pg.Client({ connectionString: config.DATABASE_URL, connectionTimeoutMillis: ms });
    client.on('error', () => undefined);
    const redis = createRedis(config.REDIS_URL, { connectTimeout: ms, retryStrategy: () => null });
    const check = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        return `${name}: ok`;
      } catch (err) {
        process.exitCode = 1;
        return `${name}: ${(err as Error).message}`;
      }
    };
    const results = await Promise.all([
      check('postgres', async () => {
        await client.connect();
        await client.query('SELECT 1');
      }),
      check('redis', async () => {
        await redis.connect();
        await redis.ping();
      }),
    ]);
    await client.end().catch(() => undefined);
    redis.disconnect();
    console.log(results.join('\n'));
  });

export { program };

const isMain = process.argv[1] && /cli\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  program.parseAsync(process.argv).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
