/** `npm run cli -- <command>`: operational commands. Each has --help. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { loadConfig } from './config';
import { ensureDatabase, migrate } from './infra/db';
import { addEventLogCommands } from './ops/event-log-cli';
import { addUserCommands } from './commands/users/cli';

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

addEventLogCommands(program);
addUserCommands(program);

export { program };

const isMain = process.argv[1] && /cli\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  program.parseAsync(process.argv).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
