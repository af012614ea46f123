/**
 * CPU profiles of the hot routes under wrk load (issue 12): `tsx bench/profile.ts [outDir]`.
 * For each logging setting (PROFILE_LOGS, default "info,silent") one server is started the way
 * `npm start` starts it (node --import tsx src/main.ts, default configuration, the bench's common
 * settings) with the inspector on 127.0.0.1; for each route the V8 sampling profiler (the same one
 * as `node --cpu-prof`) runs only while wrk drives that route, so startup and the other routes stay
 * out of each profile. Writes <outDir>/<logs>-<route>.cpuprofile and prints each profile's top by
 * self time (cpuprofile-top.ts). PROFILE_SECONDS (default 8), PROFILE_ROUTES (verify,me,access).
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { summarise, type CpuProfile } from './cpuprofile-top';
import { COMMON, prepare, ROUTES } from './http-setup';
import { load, sleep, startServer, stopAll, uptimeLine } from './outside';

const outDir = path.resolve(process.argv[2] ?? 'profiles');
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const LOGS = (process.env.PROFILE_LOGS ?? 'info,silent').split(',');
const routes = ROUTES.filter((r) => (process.env.PROFILE_ROUTES ?? 'verify,me,access').split(',').includes(r.id));

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
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

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  console.log(`profiles into ${outDir}; ${uptimeLine()}`);
  for (const logs of LOGS) {
    const server = await startServer({
      label: `profile-${logs}`,
      env: { ...COMMON, LOG_LEVEL: logs },
      command: ['node', '--inspect=127.0.0.1:0', '--import', 'tsx', 'src/main.ts'],
    });
    const stderr = fs.readFileSync(path.join(server.dir, 'stderr.log'), 'utf8');
    const wsUrl = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(stderr)?.[0];
    if (!wsUrl) throw new Error(`no inspector URL in stderr:\n${stderr}`);
    const cdp = await inspector(wsUrl);
    try {
      const row = await prepare({ id: logs, title: logs, server, companions: [] });
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      for (const route of routes) {
        const spec = route.spec(row);
        await load({ ...spec, seconds: 2 }); // warm-up
        await cdp.send('Profiler.start');
        const r = await load({ ...spec, seconds: SECONDS, pid: server.pid, server });
        const { profile } = (await cdp.send('Profiler.stop')) as { profile: CpuProfile };
        const file = path.join(outDir, `${logs}-${route.id}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(profile));
        console.log(`\n### LOG_LEVEL=${logs} ${route.title}: ${Math.round(r.rps)} req/s, ${Math.round(r.cpuUsPerReq)} µs CPU/req, ${r.logLinesPerReq.toFixed(2)} log lines/req, non-2xx ${r.bad}; ${uptimeLine()}`);
        console.log(`(${path.basename(file)})\n${summarise(profile, 20)}`);
        await sleep(500);
      }
    } finally {
      cdp.close();
      await server.stop();
    }
  }
}

main().then(() => process.exit(0), async (err) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
