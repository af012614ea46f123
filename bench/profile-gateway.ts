/**
 * CPU profile of the gateway under wrk load (issue 14; not a benchmark):
 * `npx tsx bench/profile-gateway.ts [outDir]`. Starts the hello-world upstream (its own process)
 * and one authledger server the way `npm start` starts it (node --import tsx src/main.ts, default
 * configuration plus the gateway role, the bench's common settings) with the inspector on
 * 127.0.0.1, registers the `hello` service (token policy) by REST, and records the V8 sampling
 * profile only while wrk drives /api/hello/. Writes <outDir>/gateway-<logs>.cpuprofile and prints
 * the top by self time and our own functions by inclusive time. PROFILE_SECONDS (default 8),
 * PROFILE_LOGS (LOG_REQUESTS values, default "all"), PROFILE_OWN_PORT=1 (the gateway on its own port,
 * GATEWAY_PORT: the lean app, src/gateway/app.ts; default: on the API port, as `npm start`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { summarise, type CpuProfile } from './cpuprofile-top';
import { COMMON, prepare } from './http-setup';
import { startProfiledServer } from './inspector';
import { api, freePort, load, sleep, startScript, stopAll, uptimeLine } from './outside';

const outDir = path.resolve(process.argv[2] ?? 'profiles');
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const LOGS = (process.env.PROFILE_LOGS ?? 'all').split(',');
const OWN_PORT = process.env.PROFILE_OWN_PORT === '1';

/** Inclusive time of our own (src/) and a few framework functions, as a share of busy time. */
export function inclusive(profile: CpuProfile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let busy = 0;
  for (const [id, count] of self) {
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === '(idle)') continue;
    busy += count;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { functionName, url, lineNumber } = byId.get(cur)!.callFrame;
      const m = /\/(src\/.*|node_modules\/(?:@[^/]+\/)?[^/]+\/.*)$/.exec(url);
      if (!m) continue;
      const key = `${functionName || '(anonymous)'}  ${m[1]!.replace(/^node_modules\//, '')}:${lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      totals.set(key, (totals.get(key) ?? 0) + count);
    }
  }
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`inclusive (share of busy samples), top ${top}:`, ...rows.map(([k, n]) => `  ${((100 * n) / busy).toFixed(1).padStart(5)}%  ${k}`)].join('\n');
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  console.log(`profiles into ${outDir}; ${uptimeLine()}`);
  const upstream = await startScript('hello-world.mjs');
  try {
    for (const logs of LOGS) {
      const gatewayPort = OWN_PORT ? await freePort() : undefined;
      const { server, profile: sample, close } = await startProfiledServer({
        label: `gwprofile-${logs}`,
        env: { ...COMMON, ROLES: 'api,projector,worker,realtime,gateway', LOG_REQUESTS: logs, ...(gatewayPort ? { GATEWAY_PORT: String(gatewayPort) } : {}) },
      });
      try {
        const row = await prepare({ id: logs, title: logs, server, companions: [] });
        const admin = (await api(server.base, 'POST', '/api/v1/auth/login', { email: COMMON.ADMIN_EMAIL, password: COMMON.ADMIN_PASSWORD })).access_token as string;
        await api(server.base, 'POST', '/api/v1/services', { name: 'hello', upstreams: [upstream.url], auth: 'token' }, { authorization: `Bearer ${admin}` });
        const spec = { url: `${gatewayPort ? `http://127.0.0.1:${gatewayPort}` : server.base}/api/hello/`, headers: { authorization: `Bearer ${row.token}` } };
        for (const deadline = Date.now() + 15_000; ;) {
          const res = await fetch(spec.url, { headers: spec.headers });
          if (res.status === 200) break;
          if (Date.now() > deadline) throw new Error(`gateway: ${res.status} ${await res.text()}`);
          await sleep(200);
        }
        await load({ ...spec, seconds: 2 }); // warm-up
        const { result: r, profile } = await sample(() => load({ ...spec, seconds: SECONDS, pid: server.pid, server }));
        const file = path.join(outDir, `gateway-${OWN_PORT ? 'own-port-' : ''}${logs}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(profile));
        console.log(`\n### ${OWN_PORT ? 'own port (lean app), ' : ''}LOG_REQUESTS=${logs} GET /api/hello/: ${Math.round(r.rps)} req/s, ${Math.round(r.cpuUsPerReq)} µs CPU/req (profiler on), ${r.logLinesPerReq.toFixed(2)} log lines/req, non-2xx ${r.bad}; ${uptimeLine()}`);
        console.log(`(${path.basename(file)})\n${summarise(profile, 25)}\n\n${inclusive(profile, 40)}`);
      } finally {
        close();
        await server.stop();
      }
    }
  } finally {
    await upstream.stop();
  }
}

main().then(() => process.exit(0), async (err) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
