#!/usr/bin/env node
// An installed package (under node_modules, where Node does not strip types) runs the compiled CLI
// in dist/; a source checkout runs the TypeScript sources directly (Node >= 22.15 type stripping),
// so a stale dist/ never shadows the code being edited. In a checkout, the workspace packages
// (@otel-audit/core, /schema, /sdk) must resolve to their sources too: their `exports` offer them
// under the "@otel-audit/source" condition, added here with a resolve hook unless the process was
// already started with `--conditions=@otel-audit/source`.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SOURCE_CONDITION = '@otel-audit/source';
const here = fileURLToPath(import.meta.url);
const sources = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const installed = here.split(/[\\/]/).includes('node_modules');
const fromSources = !installed && existsSync(sources);
if (fromSources) {
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      const conditions = context.conditions.includes(SOURCE_CONDITION) ? context.conditions : [SOURCE_CONDITION, ...context.conditions];
      return nextResolve(specifier, { ...context, conditions });
    },
  });
}
const { main } = await import(pathToFileURL(fromSources ? sources : built).href);
process.exitCode = await main(process.argv.slice(2));
