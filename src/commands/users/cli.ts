/** `npm run cli -- create-admin`: create (or promote) an admin account. Never a default password. */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Services } from '../../services';

async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  // Interactive: prompt without echo.
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const out = rl as unknown as { _writeToOutput?: (s: string) => void; output: NodeJS.WriteStream };
  const ask = (q: string) => new Promise<string>((resolve) => {
    let muted = false;
    out._writeToOutput = (s: string) => {
      if (!muted) process.stdout.write(s);
    };
    rl.question(q, (answer) => {
      process.stdout.write('\n');
      resolve(answer);
    });
    muted = true;
  });
  try {
    const a = await ask('Admin password: ');
    const b = await ask('Repeat it: ');
    if (a !== b) throw new Error('the passwords differ');
    return a;
  } finally {
    rl.close();
  }
}

/** `runStartup` comes from the composition root (a role never imports it). */
export function addUserCommands(program: Command, runStartup: (services: Services) => Promise<void>): void {
  program
    .command('create-admin')
    .description('create an admin account, or grant the admin role to the account with that e-mail (idempotent)')
    .requiredOption('--email <email>', 'e-mail of the admin')
    .option('--name <name>', 'display name', 'Administrator')
    .option('--password-stdin', 'read the password from standard input (else ADMIN_PASSWORD, else a prompt)')
    .action(async (opts: { email: string; name: string; passwordStdin?: boolean }) => {
      const { loadConfig } = await import('../../config');
      const { createServices } = await import('../../services');
      const { ensureAdmin } = await import('./bootstrap');
      const config = loadConfig({ ...process.env, ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined });
      const password = !opts.passwordStdin && process.env.ADMIN_PASSWORD ? process.env.ADMIN_PASSWORD : await readPassword(!!opts.passwordStdin);
      if (!password) throw new Error('no password given');
      const services = await createServices(config);
      try {
        await runStartup(services);
        const r = await ensureAdmin(services, { email: opts.email, password, name: opts.name }, { actorUserId: 'cli' });
        if (r.disabled) console.warn(`warning: ${opts.email} is disabled; an admin must enable it (POST /api/v1/users/${r.userId}/enable)`);
        console.log(r.created ? `created admin ${opts.email} (${r.userId})` : r.granted ? `granted admin to ${opts.email} (${r.userId})` : `${opts.email} (${r.userId}) is already an admin`);
      } finally {
        await services.close();
      }
    });
}
