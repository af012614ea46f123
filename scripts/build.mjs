// `npm run build`: compiles the server to dist/ with esbuild (the compiler tsx already runs at
// start, so the compiled program behaves as `npm start` does, minus the compile on every start).
// Rules:
// - one ESM bundle per entry (dist/main.js, dist/cli.js) of our own code; every package stays an
//   import from node_modules (native addons, pino's worker transports, migrations' runner);
// - dist/ mirrors the source layout for everything read from disk: each module's
//   `import.meta.url` is rewritten to where that module would sit in dist/ (dist/src/infra/db.js…),
//   so paths computed from it (migrations, the realtime page, createRequire) resolve inside dist/;
// - non-TypeScript files those paths reach are copied: migrations/ and every asset under src/ and
//   workers/ (HTML pages; READMEs are not assets);
// - no type checking here: `npm run typecheck` (tsc) does that, CI runs it.
// Why not tsc: our imports are extensionless ("moduleResolution": "Bundler"), which tsc emits as
// written and Node's ESM loader cannot resolve.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { buildConsole } from './build-console.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist');
const ENTRIES = { main: 'src/main.ts', cli: 'src/cli.ts' };
const SOURCE_DIRS = ['src', 'workers'];

/** `import.meta.url` of each of our modules → the URL it would have at its mirrored place in dist/. */
const importMetaUrlPlugin = {
  name: 'mirrored-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const rel = path.relative(root, args.path);
      if (rel.startsWith('..') || rel.startsWith('node_modules')) return undefined;
      const source = await fs.promises.readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return { contents: source, loader: 'ts' };
      const mirrored = `./${rel.split(path.sep).join('/').replace(/\.ts$/, '.js')}`;
      return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(mirrored)}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

function copyAssets() {
  const copied = [];
  const copy = (from) => {
    const to = path.join(outdir, path.relative(root, from));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    copied.push(path.relative(root, to));
  };
  const walk = (dir, keep) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, keep);
      else if (keep(e.name)) copy(p);
    }
  };
  walk(path.join(root, 'migrations'), () => true);
  for (const d of SOURCE_DIRS) walk(path.join(root, d), (name) => !/\.(ts|mts|cts)$/.test(name) && name !== 'README.md');
  return copied;
}

const t0 = performance.now();
fs.rmSync(outdir, { recursive: true, force: true });
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: ENTRIES,
  outdir,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // Stack traces and pino's err serializer keep our function and class names.
  keepNames: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [importMetaUrlPlugin],
});
const assets = copyAssets();
// The web console (issue 16) into dist/console, beside the server that serves it.
await buildConsole();
const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));
for (const [f, o] of outputs) console.log(`${f}  ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(`${assets.length} assets copied; built in ${Math.round(performance.now() - t0)} ms`);
