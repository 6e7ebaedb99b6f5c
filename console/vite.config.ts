/**
 * Vite build of the operator console (docs/console.md): `console/` → `dist/console`, served by the
 * receiver under `/ui/`. No CDN, no external font: everything the page loads is in the build.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/ui/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // The receiver recognises a console build by .vite/manifest.json (the sources have none).
    manifest: true,
    target: 'es2022',
    // No inline polyfill script: the page's Content-Security-Policy allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
