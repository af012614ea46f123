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
import { summarise } from './cpuprofile-top';
import { COMMON, prepare, ROUTES } from './http-setup';
import { startProfiledServer } from './inspector';
import { load, sleep, stopAll, uptimeLine } from './outside';

const outDir = path.resolve(process.argv[2] ?? 'profiles');
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const LOGS = (process.env.PROFILE_LOGS ?? 'info,silent').split(',');
const routes = ROUTES.filter((r) => (process.env.PROFILE_ROUTES ?? 'verify,me,access').split(',').includes(r.id));

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  console.log(`profiles into ${outDir}; ${uptimeLine()}`);
  for (const logs of LOGS) {
    const { server, profile: sample, close } = await startProfiledServer({ label: `profile-${logs}`, env: { ...COMMON, LOG_LEVEL: logs } });
    try {
      const row = await prepare({ id: logs, title: logs, server, companions: [] });
      for (const route of routes) {
        const spec = route.spec(row);
        await load({ ...spec, seconds: 2 }); // warm-up
        const { result: r, profile } = await sample(() => load({ ...spec, seconds: SECONDS, pid: server.pid, server }));
        const file = path.join(outDir, `${logs}-${route.id}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(profile));
        console.log(`\n### LOG_LEVEL=${logs} ${route.title}: ${Math.round(r.rps)} req/s, ${Math.round(r.cpuUsPerReq)} µs CPU/req, ${r.logLinesPerReq.toFixed(2)} log lines/req, non-2xx ${r.bad}; ${uptimeLine()}`);
        console.log(`(${path.basename(file)})\n${summarise(profile, 20)}`);
        await sleep(500);
      }
    } finally {
      close();
      await server.stop();
    }
  }
}

main().then(() => process.exit(0), async (err) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
