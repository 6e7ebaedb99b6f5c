#!/usr/bin/env node
// The installed package runs the compiled CLI; a source checkout (Node >= 22.15, type stripping) runs the sources.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const entry = existsSync(built) ? pathToFileURL(built).href : new URL('../cli/main.ts', import.meta.url).href;
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
