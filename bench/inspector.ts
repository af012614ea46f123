/**
 * A server started as `npm start` starts it, but under `node --inspect` on 127.0.0.1, with a minimal
 * Chrome DevTools Protocol client on its inspector: the V8 sampling profiler (the one behind
 * `node --cpu-prof`) runs only while `profile()` drives load, so startup stays out of the profile.
 * Used by bench/profile.ts and bench/profile-gateway.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { CpuProfile } from './cpuprofile-top';
import { startServer, type Server, type StartOptions } from './outside';

async function inspector(url: string) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map<number, (v: any) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? msg.error);
  });
  return {
    send(method: string, params: object = {}): Promise<any> {
      return new Promise((resolve) => {
        pending.set(++id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => ws.close(),
  };
}

export interface ProfiledServer {
  server: Server;
  /** Samples (every 200 µs) while `run` runs; returns its result and the profile. */
  profile<T>(run: () => Promise<T>): Promise<{ result: T; profile: CpuProfile }>;
  close(): void;
}

export async function startProfiledServer(opts: Omit<StartOptions, 'command'>): Promise<ProfiledServer> {
  const server = await startServer({ ...opts, command: ['node', '--inspect=127.0.0.1:0', '--import', 'tsx', 'src/main.ts'] });
  const stderr = fs.readFileSync(path.join(server.dir, 'stderr.log'), 'utf8');
  const wsUrl = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(stderr)?.[0];
  if (!wsUrl) throw new Error(`no inspector URL in stderr:\n${stderr}`);
  const cdp = await inspector(wsUrl);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  return {
    server,
    async profile(run) {
      await cdp.send('Profiler.start');
      const result = await run();
      const { profile } = (await cdp.send('Profiler.stop')) as { profile: CpuProfile };
      return { result, profile };
    },
    close: () => cdp.close(),
  };
}
