/**
 * Private PostgreSQL and Redis servers for outage tests: started on free ports in a temp dir,
 * stopped and restarted at will, so the shared servers on 5432/6379 are never touched.
 * initdb refuses to run as root, so as root the PostgreSQL tools run as the `postgres` user.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, until } from './helpers';
import net from 'node:net';

function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin/initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin');
  return path.join(base, versions[0]!, 'bin');
}

const isRoot = () => process.getuid?.() === 0;

function asPostgres(bin: string, args: string[], timeoutMs = 60_000): string {
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return execFileSync(cmd as string, argv as string[], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export interface PrivatePostgres {
  port: number;
  url(db: string): string;
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBinDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-pg-'));
  fs.chmodSync(dir, 0o777);
  const data = path.join(dir, 'data');
  if (isRoot()) execFileSync('chown', ['postgres', dir]);
  asPostgres(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50`;
  const pgctl = (args: string[]) => asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, ...args]);
  const server: PrivatePostgres = {
    port,
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async start() {
      pgctl(['-o', opts, '-l', path.join(dir, 'server.log'), '-w', '-t', '30', 'start']);
      await until('private PostgreSQL accepting', () => portOpen(port), 15_000);
    },
    async stop(mode = 'immediate') {
      pgctl(['-m', mode, '-w', '-t', '30', 'stop']);
      await until('private PostgreSQL closed', async () => !(await portOpen(port)), 15_000);
    },
    async destroy() {
      try {
        pgctl(['-m', 'immediate', '-w', '-t', '10', 'stop']);
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface PrivateRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const server: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
      await until('private Redis accepting', () => portOpen(port), 10_000);
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL'); // an abrupt outage, not a polite shutdown
      await exited;
      await until('private Redis closed', async () => !(await portOpen(port)), 10_000);
    },
    async destroy() {
      await server.stop().catch(() => undefined);
    },
  };
  await server.start();
  return server;
}
