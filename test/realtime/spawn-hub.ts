/** Starts test/realtime/fixtures/hub-process.ts as a child process; resolves when it listens. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hub-process.ts');

export interface ChildHub {
  port: number;
  hub: string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnHub(env: Record<string, string>, opts: { ipc?: boolean } = {}): Promise<ChildHub> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: opts.ipc ? ['pipe', 'pipe', 'inherit', 'ipc'] : ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('child hub did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`child hub exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(t);
      const { port, hub } = JSON.parse(line) as { port: number; hub: string };
      resolve({
        port,
        hub,
        child,
        async stop(signal: NodeJS.Signals = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
  });
}
