#!/usr/bin/env node
// An installed package (under node_modules, where Node does not strip types) runs the compiled CLI
// in dist/; a source checkout runs the TypeScript sources directly (Node >= 22.15 type stripping),
// so a stale dist/ never shadows the code being edited.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(import.meta.url);
const sources = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const installed = here.split(/[\\/]/).includes('node_modules');
const entry = !installed && existsSync(sources) ? sources : built;
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
