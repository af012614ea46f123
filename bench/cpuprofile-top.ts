/**
 * Reads a V8 .cpuprofile (node --cpu-prof, or the inspector's Profiler.stop) and prints where the
 * time went by *self* time: the top functions, and the same time grouped by package or by our
 * own file (samples counted, each worth the median sampling interval; PROFILE_WEIGH_BY_DELTA=1
 * weighs each by its time delta as DevTools does). `(idle)` is excluded from the percentages (the process waiting for I/O is not cost).
 * Usage: tsx bench/cpuprofile-top.ts <file.cpuprofile> [top=20]
 */
import fs from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** node_modules/<pkg>, src/<file>, node:<internal>, or V8's pseudo frames. */
export function groupOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const ours = /\/((src|workers|bench|dist)\/.*)$/.exec(url);
  if (ours) return ours[1]!.replace(/\?.*$/, '');
  return url;
}

export function summarise(profile: CpuProfile, top = 20, weighByDelta = false): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // Each sample weighs the median interval, not its own time delta: on a busy machine the process
  // is descheduled between samples, and a long delta would charge that wait to whatever function
  // happened to be on the stack (syscall returns, mostly).
  const deltas = [...profile.timeDeltas].sort((a, b) => a - b);
  const tick = deltas[Math.floor(deltas.length / 2)] ?? 1;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (weighByDelta ? (profile.timeDeltas[i] ?? 0) : tick));
  }
  const fns = new Map<string, { us: number; group: string }>();
  const groups = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const group = groupOf(url, functionName);
    const key = `${functionName || '(anonymous)'}  ${group}${url ? `:${lineNumber + 1}` : ''}`;
    const f = fns.get(key) ?? { us: 0, group };
    f.us += us;
    fns.set(key, f);
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const out: string[] = [];
  out.push(`busy ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms, ${profile.samples.length} samples`);
  out.push('', `top ${top} functions by self time:`);
  for (const [k, f] of [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, top)) out.push(`  ${pct(f.us)}  ${k}`);
  out.push('', `by package / file (top ${top}):`);
  for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(us)}  ${g}`);
  return out.join('\n');
}

if (process.argv[1] && /cpuprofile-top\.ts$/.test(process.argv[1])) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/cpuprofile-top.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(summarise(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, Number(top ?? 20), process.env.PROFILE_WEIGH_BY_DELTA === '1'));
}
