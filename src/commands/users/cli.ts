/**
 * `npm run cli -- create-admin`: create an admin account (never a default password).
 * `npm run cli -- grant-admin <email>`: promote an existing account — the one explicit operator
 * action that does it, audited (RoleGranted with actor `operator:<name>`; issue 20 §1).
 */
import { userInfo } from 'node:os';
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
    .description('create an admin account (an existing account is left alone: promote it with grant-admin)')
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
        const r = await ensureAdmin(services, { email: opts.email, password, name: opts.name }, { actorUserId: `operator:${operatorName()}` });
        if (r.disabled) console.warn(`warning: ${opts.email} is disabled; an admin must enable it (POST /api/v1/users/${r.userId}/enable)`);
        if (!r.created && !r.admin) {
          console.error(`${opts.email} (${r.userId}) exists and is not an admin; it was not changed. To promote it: npm run cli -- grant-admin ${opts.email}`);
          process.exitCode = 1;
          return;
        }
        console.log(r.created ? `created admin ${opts.email} (${r.userId})` : `${opts.email} (${r.userId}) is already an admin`);
      } finally {
        await services.close();
      }
    });

  program
    .command('grant-admin <email>')
    .description('grant the admin role to the existing account with that e-mail (audited: the operator is the actor)')
    .option('--operator <name>', 'who does it, recorded as the actor `operator:<name>` (default: the OS user)')
    .action(async (email: string, opts: { operator?: string }) => {
      const { loadConfig } = await import('../../config');
      const { createServices } = await import('../../services');
      const { grantAdminByEmail } = await import('./bootstrap');
      const config = loadConfig({ ...process.env, ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined });
      const services = await createServices(config);
      try {
        await runStartup(services);
        const r = await grantAdminByEmail(services, email, operatorName(opts.operator));
        if (r.disabled) console.warn(`warning: ${email} is disabled; an admin must enable it (POST /api/v1/users/${r.userId}/enable)`);
        console.log(r.granted ? `granted admin to ${email} (${r.userId})` : `${email} (${r.userId}) is already an admin`);
      } finally {
        await services.close();
      }
    });
}

/** The operator recorded as actor: `--operator`, else the OS user; limited to a safe alphabet. */
function operatorName(given?: string): string {
  let name = given;
  if (!name) {
    try {
      name = userInfo().username;
    } catch {
      name = 'unknown';
    }
  }
  return name.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 64) || 'unknown';
}
