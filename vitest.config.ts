import { defineConfig } from 'vitest/config';

/**
 * The workspace packages (`@otel-audit/core`, `/schema`, `/sdk`) export their TypeScript sources
 * under this condition and their compiled `dist/` otherwise (docs/decisions.md, "npm workspaces").
 */
const SOURCE_CONDITION = '@otel-audit/source';

// Child processes the tests spawn (`node cli/main.ts …`, crash children, worker threads) resolve
// workspace imports with Node's own resolver: give them the condition through NODE_OPTIONS, which
// the forked test workers and their children inherit.
if (!(process.env.NODE_OPTIONS ?? '').includes(`--conditions=${SOURCE_CONDITION}`)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --conditions=${SOURCE_CONDITION}`.trim();
}

export default defineConfig({
  // Only the source condition is added: Vite's `module` condition would pick packages' untranspiled
  // ESM builds (e.g. the AWS SDK's dist-es, extensionless imports Node cannot load).
  resolve: { conditions: [SOURCE_CONDITION, 'node', 'development|production'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real processes and engines; two cores is the machine's size.
    maxWorkers: 2,
    pool: 'forks',
  },
});
