/**
 * The `otel-audit` package entry point: the producer SDK plus the proof-bundle verifier (which needs
 * this package's integrity module). The SDK itself lives in `@otel-audit/sdk`; a service that only
 * records events installs that package instead (no chDB, AWS SDK or Postgres driver).
 *
 * A facade of another package's public API is the one place `export *` is used: listing the names
 * here again would drift from `sdk/index.ts`, which already lists them one by one.
 */
export * from '@otel-audit/sdk';
export { type ProofBundle, type ProofBundleResult, type ProofProblem, verifyProofBundle } from './integrity/proof-bundle.ts';
