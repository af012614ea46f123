// `npm run build:console`: builds the console (console/, Vite + Preact) into dist/console and
// writes dist/console/.build-stamp. With --if-stale (what `npm start` runs) it builds only when
// dist/console is missing or a file under console/ is newer than the stamp: a cheap mtime walk,
// so a start without changes costs a few milliseconds.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'console');
const out = path.join(root, 'dist', 'console');
const stamp = path.join(out, '.build-stamp');

function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * .gz and .br beside every script and stylesheet: the API serves them to browsers that accept
 * them (@fastify/static preCompressed), so nothing is compressed per request.
 */
function precompress(dir) {
  for (const f of fs.readdirSync(dir)) {
    if (!/\.(js|css|svg)$/.test(f)) continue;
    const body = fs.readFileSync(path.join(dir, f));
    fs.writeFileSync(path.join(dir, `${f}.gz`), zlib.gzipSync(body, { level: 9 }));
    fs.writeFileSync(path.join(dir, `${f}.br`), zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
  }
}

export function consoleIsStale() {
  if (!fs.existsSync(stamp) || !fs.existsSync(path.join(out, 'index.html'))) return true;
  return newestMtime(src) > fs.statSync(stamp).mtimeMs;
}

const lockDir = path.join(root, 'dist', '.console-build.lock');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One build at a time on this checkout (test files and `npm start` may ask at once). */
async function withBuildLock(fn) {
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // A lock left by a killed build is stale after 3 minutes.
      const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 180_000) fs.rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('console build: timed out waiting for another build');
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

/** Builds the console unless dist/console is already up to date (checked under the build lock). */
export async function ensureConsoleBuilt() {
  if (!consoleIsStale()) return false;
  return withBuildLock(async () => {
    if (!consoleIsStale()) return false;
    await viteBuild();
    return true;
  });
}

export async function buildConsole() {
  return withBuildLock(viteBuild);
}

async function viteBuild() {
  const t0 = performance.now();
  const { build } = await import('vite');
  await build({ configFile: path.join(src, 'vite.config.ts'), logLevel: 'warn' });
  precompress(path.join(out, 'assets'));
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
  console.log(`console built into dist/console in ${Math.round(performance.now() - t0)} ms`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  if (ifStale && !consoleIsStale()) process.exit(0);
  if (ifStale) console.log('console: sources changed since the last build (or no build yet); building…');
  try {
    await (ifStale ? ensureConsoleBuilt() : buildConsole());
  } catch (err) {
    console.error(`console build failed: ${err instanceof Error ? err.message : err}`);
    // npm start still starts the API; /console/ then says the build is missing.
    process.exit(ifStale ? 0 : 1);
  }
}
