/**
 * Development-only generated secrets, persisted under DATA_DIR so restarts (and several local
 * processes) share them. Rules:
 * - created once, atomically (write to a temp file, then `link`: the first writer wins and every
 *   process reads the winner's file), with mode 0600;
 * - the caller warns loudly; `unsafeDefaults()` refuses them in production.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export async function loadOrCreateSecretFile(dataDir: string, name: string, create: () => Promise<string>): Promise<{ value: string; created: boolean }> {
  const file = path.resolve(dataDir, name);
  try {
    return { value: await fs.readFile(file, 'utf8'), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = await create();
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, value, { mode: 0o600 });
  try {
    await fs.link(tmp, file);
    return { value, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { value: await fs.readFile(file, 'utf8'), created: false };
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}
