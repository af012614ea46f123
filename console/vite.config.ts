// The console's build (`npm run build:console` → dist/console). Served by the API at /console/
// (src/http/console.ts), so every asset URL starts with /console/ and nothing comes from a CDN.
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/console/',
  plugins: [preact()],
  // The API serves this folder; Vite's dev server is optional (`npx vite console`) and proxies the API.
  server: { proxy: { '/api': 'http://localhost:8000', '/redoc': 'http://localhost:8000' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Small files, no source maps in the served folder (they would double the download for nothing).
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 200,
  },
});
