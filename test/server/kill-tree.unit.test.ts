/** Proc.kill('SIGKILL') reaches the server under tsx's wrapper (no orphaned servers after a test). */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, run, sleep, until } from './helpers';

describe('run().kill', () => {
  it("SIGKILL kills the wrapper's children too", async () => {
    // sh → sleep: sh cannot relay SIGKILL, as tsx's wrapper cannot.
    const p = run('sh', ['-c', 'sleep 30 & wait'], {}, { cwd: ROOT });
    const kids = await until('a child', () => {
      const k = fs.readFileSync(`/proc/${p.child.pid}/task/${p.child.pid}/children`, 'utf8').trim();
      return k ? k.split(/\s+/).map(Number) : undefined;
    }, 5000);
    p.kill('SIGKILL');
    await p.exited;
    await sleep(100);
    for (const k of kids) expect(fs.existsSync(path.join('/proc', String(k), 'cmdline')) && fs.readFileSync(`/proc/${k}/stat`, 'utf8').split(' ')[2] !== 'Z').toBe(false);
  });
});
