/** `npm run cli -- <command>`: operational commands. Each has --help. */
import { Command } from 'commander';
import { loadConfig } from './config';
import { ensureDatabase, migrate } from './infra/db';

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

export { program };

const isMain = process.argv[1] && /cli\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  program.parseAsync(process.argv).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
